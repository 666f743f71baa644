"""Soak of `newsbeam stream`: memory over thousands of polls of a feed that gains one item per poll.

A loopback site is served from this process: its feed lists the newest ``--listed`` items and
gains one each time it is fetched (so every poll brings exactly one new article and repeats the
others); every item's page is unique. `newsbeam stream` runs as a subprocess for ``--duration``
seconds; the stream's RSS is sampled every ``--every`` polls (at the feed request that starts the
poll). At the end the script checks that the stream exited 0, that every item the feed listed
was written and none twice, and prints the RSS slope in MB per 100 polls, by least squares over
the last two thirds of the samples (the first third holds the warm-up: model loading, first
bundles, allocator pools), with the first third's slope and the CPU seconds beside it.

Usage:
  python bench/stream_soak.py                                   # --poll-interval 1, 10 minutes
  python bench/stream_soak.py --poll-interval 0.25 --duration 900 --every 50   # 3,600 polls
  python bench/stream_soak.py --workers 2
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
WORDS = ("council harbour budget energy school museum railway river clinic league market research "
         "court weather festival union bridge election ferry library hospital farmers station "
         "mayor orchestra reservoir police teachers exhibition engineers").split()


def page(i: int) -> bytes:
    rng = random.Random(i)
    paragraphs = "".join(
        "<p>" + " ".join(rng.choice(WORDS) for _ in range(70)).capitalize() + ".</p>"
        for _ in range(8)
    )
    chrome = "<nav>" + "".join(f"<a href='/s/{k}'>Section {k}</a>" for k in range(40)) + "</nav>"
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>Story {i}</title>"
            f"</head><body>{chrome}<article><h1>Story {i}</h1>{paragraphs}</article></body></html>"
            ).encode()


class GrowingSite:
    """A feed that gains one item per request; ``on_poll(polls)`` is called at each one."""

    def __init__(self, listed: int, on_poll) -> None:
        self.polls = 0
        self._listed = listed
        self._on_poll = on_poll
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def base(self) -> str:
        return "http://127.0.0.1:%d" % self.server.server_address[1]

    def feed(self) -> bytes:
        with self._lock:
            self.polls += 1
            polls = self.polls
        self._on_poll(polls)
        first = max(1, polls - self._listed + 1)
        items = "".join(
            f"<item><title>Story {i}</title><link>{self.base}/news/{i}.html</link><guid>{i}</guid>"
            f"<pubDate>Tue, 01 Dec 2026 12:00:00 GMT</pubDate></item>"
            for i in range(polls, first - 1, -1)
        )
        return (f'<?xml version="1.0"?><rss version="2.0"><channel><title>Soak</title>{items}'
                "</channel></rss>").encode()

    def _handler(self):
        site = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                if self.path == "/feed.xml":
                    self._send(200, site.feed(), "application/rss+xml")
                elif self.path.startswith("/news/") and self.path.endswith(".html"):
                    self._send(200, page(int(self.path[6:-5])), "text/html; charset=utf-8")
                else:
                    self._send(404, b"not found", "text/plain")

            def _send(self, status: int, body: bytes, ctype: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        return Handler


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError):
        pass
    return 0.0


def slope_per_100(points: list[tuple[int, float]]) -> float:
    """Least-squares slope of (polls, MB), in MB per 100 polls."""
    if len(points) < 2:
        return 0.0
    n = len(points)
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    sxy = sum((x - mx) * (y - my) for x, y in points)
    return 100 * sxy / sxx if sxx else 0.0


def written_items(out: Path) -> list[int]:
    import pyarrow.parquet as pq

    urls = [u for f in sorted((out / "articles").glob("date=*/*.parquet"))
            for u in pq.read_table(f, columns=["url"]).column("url").to_pylist()]
    return [int(u.rsplit("/", 1)[-1].removesuffix(".html")) for u in urls]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--poll-interval", type=float, default=1.0)
    parser.add_argument("--window", type=float, default=5.0)
    parser.add_argument("--duration", type=float, default=600.0)
    parser.add_argument("--every", type=int, default=10, help="sample RSS every N polls")
    parser.add_argument("--listed", type=int, default=30, help="items the feed lists at a time")
    parser.add_argument("--workers", default="1")
    parser.add_argument("--output", help="output directory (default: a temporary one)")
    args = parser.parse_args()

    samples: list[tuple[int, float]] = []
    child: dict[str, int] = {}

    def on_poll(polls: int) -> None:
        if polls % args.every == 0 and "pid" in child:
            samples.append((polls, rss_mb(child["pid"])))

    site = GrowingSite(args.listed, on_poll)
    out = Path(args.output or tempfile.mkdtemp(prefix="newsbeam-soak-"))
    exe = Path(sys.executable).with_name("newsbeam")
    command = [str(exe), "stream", "--feed", f"{site.base}/feed.xml", "--output", str(out),
               "--poll-interval", f"{args.poll_interval:g}", "--window", f"{args.window:g}",
               "--duration", f"{args.duration:g}", "--workers", args.workers,
               "--allow-private-hosts", "--quiet"]
    print("running:", " ".join(command), flush=True)
    started = time.monotonic()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    child["pid"] = proc.pid
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.monotonic() - started
    code = os.waitstatus_to_exitcode(status)
    proc.returncode = code
    stderr = proc.stderr.read().decode("utf-8", "replace")

    samples.sort()
    written = written_items(out)
    expected = set(range(1, site.polls + 1))
    tail = samples[len(samples) // 3:]
    head = samples[: len(samples) // 3 + 1]
    result = {
        "exit": code,
        "seconds": round(seconds, 1),
        "polls": site.polls,
        "written": len(written),
        "written_twice": len(written) - len(set(written)),
        "missing": len(expected - set(written)),
        "rss_first_mb": samples[0][1] if samples else None,
        "rss_last_mb": samples[-1][1] if samples else None,
        "rss_max_mb": max((mb for _, mb in samples), default=None),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
        "slope_mb_per_100_polls_last_two_thirds": round(slope_per_100(tail), 3),
        "slope_mb_per_100_polls_first_third": round(slope_per_100(head), 3),
        "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 1),
        "samples": samples,
    }
    print(json.dumps(result))
    print(f"exit {code} after {seconds:.0f}s, {site.polls} polls; {len(written)} articles written "
          f"({result['written_twice']} twice, {result['missing']} of {len(expected)} listed "
          "missing)")
    print(f"RSS {result['rss_first_mb']:.1f} -> {result['rss_last_mb']:.1f} MB (max "
          f"{result['rss_max_mb']:.1f}); slope over the last two thirds "
          f"{result['slope_mb_per_100_polls_last_two_thirds']:+.3f} MB per 100 polls (first third "
          f"{result['slope_mb_per_100_polls_first_third']:+.3f}); CPU {result['cpu_seconds']}s")
    if code != 0:
        print(stderr[-3000:], file=sys.stderr)
    site.server.shutdown()
    ok = code == 0 and not result["written_twice"] and not result["missing"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
