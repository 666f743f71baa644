"""warcio against FastWARC on this machine: records/s and peak memory reading one WARC.gz file.

    python bench/warc_libraries.py [--records 4000] [--page-kb 80]

Writes one gzip-per-record WARC (a response and a request record per page, like a crawl) of
synthetic news pages with warcio, then reads it back in a fresh process per library, each
doing what newsbeam's reader does with a record: WARC type, target URI, date, HTTP status and
Content-Type, the whole body. Peak RSS is the reading process's maximum resident set, beside
what it had right after importing the library: their difference is what reading costs (zero
when no record needs more than the import's own peak). Also reports how each library reacts to a file whose last gzip member is cut.
"""

from __future__ import annotations

import argparse
import io
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WORDS = ("harbour council bridge repairs ferry schedule library district study erosion club "
         "signing energy prices margins hospital beds police witnesses exhibition museum").split()

READERS = {
    "warcio": """
from warcio.archiveiterator import ArchiveIterator
def read(path):
    n = size = 0
    with open(path, "rb") as handle:
        for record in ArchiveIterator(handle):
            kind = record.rec_type
            uri = record.rec_headers.get_header("WARC-Target-URI")
            date = record.rec_headers.get_header("WARC-Date")
            if kind == "response":
                status = record.http_headers.get_statuscode()
                ctype = record.http_headers.get_header("Content-Type")
            size += len(record.content_stream().read())
            n += 1
    return n, size
""",
    "fastwarc": """
from fastwarc.warc import ArchiveIterator, WarcRecordType
def read(path):
    n = size = 0
    with open(path, "rb") as handle:
        for record in ArchiveIterator(handle, parse_http=True, auto_decode="none"):
            kind = record.record_type
            uri = record.headers.get("WARC-Target-URI")
            date = record.headers.get("WARC-Date")
            if kind == WarcRecordType.response:
                status = record.http_headers.status_code
                ctype = record.http_headers.get("Content-Type")
            size += len(record.reader.read())
            n += 1
    return n, size
""",
}

_RUN = """
import json, resource, sys, time
{reader}
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
best = None
for _ in range({repeats}):
    start = time.perf_counter()
    n, size = read(sys.argv[1])
    seconds = time.perf_counter() - start
    best = seconds if best is None else min(best, seconds)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({{"records": n, "bytes": size, "seconds": best, "peak_kb": peak, "base_kb": base}}))
"""

_TRUNCATED = """
import json, sys
{reader}
try:
    n, size = read(sys.argv[1])
    print(json.dumps({{"records": n, "raised": None}}))
except Exception as exc:
    print(json.dumps({{"records": None, "raised": type(exc).__name__ + ": " + str(exc)[:120]}}))
"""


def page(rng: random.Random, kb: int) -> bytes:
    paragraphs = []
    while sum(len(p) for p in paragraphs) < kb * 1024:
        paragraphs.append("<p>" + " ".join(rng.choices(WORDS, k=60)) + ".</p>")
    return ("<!DOCTYPE html><html><head><title>Story</title></head><body><article>"
            + "".join(paragraphs) + "</article></body></html>").encode()


def write_warc(path: Path, records: int, kb: int) -> None:
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    rng = random.Random(7)
    with open(path, "wb") as handle:
        writer = WARCWriter(handle, gzip=True)
        for i in range(records):
            url = f"https://news{i % 50}.example/story/{i}.html"
            body = page(rng, kb)
            http = StatusAndHeaders("200 OK", [("Content-Type", "text/html; charset=utf-8"),
                                               ("Content-Length", str(len(body)))], protocol="HTTP/1.1")
            writer.write_record(writer.create_warc_record(url, "response", payload=io.BytesIO(body),
                                                          http_headers=http))
            request = StatusAndHeaders("GET /story HTTP/1.1", [("Host", "news.example")], is_http_request=True)
            writer.write_record(writer.create_warc_record(url, "request", payload=io.BytesIO(b""),
                                                          http_headers=request))


def measure(name: str, path: Path, repeats: int) -> dict:
    code = _RUN.format(reader=READERS[name], repeats=repeats)
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def truncated(name: str, path: Path) -> dict:
    out = subprocess.run([sys.executable, "-c", _TRUNCATED.format(reader=READERS[name]), str(path)],
                         capture_output=True, text=True)
    lines = out.stdout.strip().splitlines()
    return json.loads(lines[-1]) if lines else {"records": None, "raised": out.stderr.strip()[-120:]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=4000, help="pages (each a response and a request)")
    parser.add_argument("--page-kb", type=int, default=80)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.warc.gz"
        write_warc(path, args.records, args.page_kb)
        cut = Path(tmp) / "cut.warc.gz"
        data = path.read_bytes()
        cut.write_bytes(data[: len(data) - 2000])
        print(f"file: {args.records * 2} records, {path.stat().st_size / 1e6:.1f} MB gzipped, "
              f"pages of {args.page_kb} KB; best of {args.repeats}")
        results = {name: measure(name, path, args.repeats) for name in READERS}
        for name, r in results.items():
            print(f"  {name:9s} {r['records'] / r['seconds']:9.0f} records/s  "
                  f"{r['bytes'] / r['seconds'] / 1e6:7.1f} MB/s uncompressed  "
                  f"peak RSS {r['peak_kb'] / 1024:.0f} MB (after import {r['base_kb'] / 1024:.0f} MB)")
        fast, slow = results["fastwarc"], results["warcio"]
        print(f"  fastwarc/warcio speed ratio: {slow['seconds'] / fast['seconds']:.2f}x")
        for name in READERS:
            print(f"  last member cut, {name}: {truncated(name, cut)}")


if __name__ == "__main__":
    main()
