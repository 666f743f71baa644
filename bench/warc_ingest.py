"""``newsbeam run --warc`` against the extraction limit, and the archive's size per 1,000 pages.

    python bench/warc_ingest.py [--pages 300] [--workers 1]

In one run, side by side on this machine:
1. a crawl-like WARC.gz (a response and a request record per page, gzip per record, written by
   warcio) of real news pages (../shared/data/extraction when present, else synthetic ones),
   under distinct URLs on 40 hosts;
2. reading it alone (transforms.sources.warc.read_records): records/s, the reader's ceiling;
3. ``newsbeam run --warc FILE`` as a user runs it (a fresh process, Beam's DirectRunner, every
   article stage and both sinks): pages/s from start to exit;
4. bare ``trafilatura.extract`` over the same pages in one process: the extraction limit is
   that rate times the processes the run may use (``--workers``, at most the cores);
5. newsbeam's own archive (run --archive's writer) of the same pages: bytes per 1,000 pages,
   beside the Parquet the run wrote for them.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.throughput import _bare_rate, load_pages  # noqa: E402


def crawl_warc(path: Path, pages: list[bytes], count: int) -> None:
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    with path.open("wb") as handle:
        writer = WARCWriter(handle, gzip=True)
        for i in range(count):
            url = f"https://news{i % 40}.example/story/{i}.html"
            body = pages[i % len(pages)]
            http = StatusAndHeaders("200 OK", [("Content-Type", "text/html; charset=utf-8")], protocol="HTTP/1.1")
            writer.write_record(writer.create_warc_record(
                url, "response", payload=io.BytesIO(body), http_headers=http,
                warc_headers_dict={"WARC-Date": "2026-11-24T09:00:00Z"}))
            request = StatusAndHeaders("GET / HTTP/1.1", [("Host", "news.example")], is_http_request=True)
            writer.write_record(writer.create_warc_record(url, "request", payload=io.BytesIO(b""),
                                                          http_headers=request))


def read_rate(path: Path) -> tuple[float, int]:
    from transforms.sources.warc import WarcConfig, read_records

    start = time.perf_counter()
    with path.open("rb") as stream:
        n = sum(1 for _ in read_records(stream, str(path), WarcConfig()))
    return n / (time.perf_counter() - start), n


def ingest(path: Path, out: Path, workers: int) -> tuple[float, float, dict]:
    """Wall seconds, CPU seconds (the run's processes, extraction workers included), manifest."""
    import resource

    exe = Path(sys.executable).with_name("newsbeam")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run([str(exe), "run", "--warc", str(path), "--output", str(out), "-q",
                    "--workers", str(workers)], check=True)
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    (manifest,) = [json.loads(p.read_text()) for p in out.glob("_runs/date=*/*.json")]
    return seconds, cpu, manifest


def bare_cpu(pages: list[bytes], count: int) -> float:
    """CPU seconds per page of bare trafilatura.extract (less sensitive to a busy machine than
    a rate: other jobs take wall time, not this process's CPU time)."""
    import trafilatura

    start = time.process_time()
    for i in range(count):
        trafilatura.extract(pages[i % len(pages)].decode("utf-8", "replace"))
    return (time.process_time() - start) / count


def archive_bytes(path: Path, pages: list[bytes], count: int) -> int:
    import datetime as dt

    from warcio.warcwriter import WARCWriter

    from transforms.records import UTC, FeedEntry, FetchedPage
    from transforms.storage.archive import write_page

    fetched = dt.datetime(2026, 11, 24, 9, tzinfo=UTC)
    with path.open("wb") as handle:
        writer = WARCWriter(handle, gzip=True, warc_version="1.1")
        for i in range(count):
            url = f"https://news{i % 40}.example/story/{i}.html"
            entry = FeedEntry(f"https://news{i % 40}.example/feed.xml", "News", url, title=f"Story {i}",
                              url=url, id=f"{i:032x}")
            headers = (("Content-Type", "text/html; charset=utf-8"), ("Server", "nginx"),
                       ("Date", "Tue, 24 Nov 2026 09:00:00 GMT"), ("Content-Encoding", "gzip"),
                       ("Cache-Control", "max-age=60"))
            write_page(writer, FetchedPage(entry, url, 200, "text/html", "utf-8", pages[i % len(pages)],
                                           fetched, headers=headers, reason="OK"))
    return path.stat().st_size


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pages", type=int, default=300)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    pages = load_pages()
    with tempfile.TemporaryDirectory() as tmp:
        warc = Path(tmp) / "crawl.warc.gz"
        crawl_warc(warc, pages, args.pages)
        warc_size = warc.stat().st_size
        reading, records = read_rate(warc)
        seconds, cpu, manifest = ingest(warc, Path(tmp) / "out", args.workers)
        counters = manifest["beam_counters"]
        written = manifest["counters"]["written"]
        _bare_rate(pages, 20)  # warm up
        bare = _bare_rate(pages, min(args.pages, len(pages) * 2))
        bare_ms = bare_cpu(pages, min(args.pages, len(pages) * 2)) * 1000
        raw = archive_bytes(Path(tmp) / "own.warc.gz", pages, args.pages)
        parquet = sum(p.stat().st_size for p in (Path(tmp) / "out" / "articles").rglob("*.parquet"))
        html = sum(len(pages[i % len(pages)]) for i in range(args.pages))
    print(f"{args.pages} pages ({len(pages)} distinct), {warc_size / 1e6:.1f} MB WARC.gz, "
          f"--workers {args.workers}")
    print(f"  reading alone        {reading:8.0f} records/s ({records} records)")
    print(f"  run --warc           {counters.get('warc/pages', 0) / seconds:8.1f} pages/s "
          f"({seconds:.1f}s wall, {written} written, start-up included)")
    cores = min(args.workers, os.cpu_count() or 1)
    print(f"  bare trafilatura     {bare:8.1f} pages/s (one process); limit x {cores} = {bare * cores:.1f}")
    print(f"  ingest / extraction  {counters.get('warc/pages', 0) / seconds / (bare * cores):8.2f}")
    run_ms = cpu / max(counters.get("warc/pages", 0), 1) * 1000
    print(f"  CPU per page         run --warc {run_ms:.1f} ms (start-up included) / bare trafilatura "
          f"{bare_ms:.1f} ms = {run_ms / bare_ms:.2f}: on idle cores the run reaches at most "
          f"{bare_ms / run_ms:.2f} x the limit")
    print(f"  archive per 1,000    {raw / args.pages * 1000 / 1e6:8.1f} MB WARC.gz "
          f"(HTML {html / args.pages * 1000 / 1e6:.1f} MB; the articles' Parquet "
          f"{parquet / max(written, 1) * 1000 / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
