"""Every feed of the shared corpus through the real parse stage: no crash, and what comes out.

Usage: ``python bench/feed_corpus.py [-v]`` (``-v``: list the not-a-feed and unsafe files).
Data: ``feeds/`` under ``../shared/data`` from the repo root, or under the directory in
``NEWSBEAM_SHARED_DATA``; exits 0 with a message when it is absent.

Each file is what the feed stage would hold after fetching: bytes that start with the gzip magic
are inflated first (with the same cap as the fetch stage: the corpus has a few gzipped bodies
saved as served), then :func:`transforms.sources.feed_safety.check_feed` and
:func:`transforms.sources.feeds.parse_feed` run exactly as in ``_FetchFeedFn``. No HTTP headers are
passed: a guessed Content-Type would override the XML declaration's encoding (``text/xml``
defaults to US-ASCII), which says more about the guess than about the parser.

Printed: files, entries (with a link; and without one, which the stage counts as
``filtered:no_link``), bozo feeds (feedparser recovered from malformed XML), the dead letters the
stage would write (``not_a_feed``, ``unsafe_feed``), crashes (any other exception: must be 0;
the exit status is 1 otherwise) and the time, with the slowest files.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

from transforms.sources.feed_safety import UnsafeFeedError, check_feed
from transforms.sources.feeds import NotAFeedError, parse_feed
from transforms.records import UTC, FeedSpec

REPO = Path(__file__).resolve().parents[1]
# The feed stage's default cap (RunConfig.feed_fetch.max_bytes): bigger bodies never get here.
MAX_BYTES = 20 * 1024 * 1024
# Licence texts, READMEs and the expected outputs of the parser test suites are not feeds.
_NOT_FEEDS = ("LICENSE", "README")


class Outcome(NamedTuple):
    path: Path
    kind: str  # "ok", "not_a_feed", "unsafe_feed", "too_large", "crash"
    entries: int
    no_link: int
    bozo: bool
    seconds: float
    detail: str


def data_root() -> Path:
    return Path(os.environ.get("NEWSBEAM_SHARED_DATA") or REPO.parent / "shared" / "data")


def feed_files(root: Path) -> Iterator[Path]:
    for path in sorted(root.rglob("*")):
        if not path.is_file() or path.name.startswith(_NOT_FEEDS) or path.suffix == ".md":
            continue
        if "expected_output" in path.parts:
            continue
        yield path


def inflate(body: bytes) -> bytes:
    """A gzip body as the fetch stage would hand it on (capped), anything else unchanged."""
    if not body.startswith(b"\x1f\x8b"):
        return body
    inflater = zlib.decompressobj(zlib.MAX_WBITS | 16)
    out = inflater.decompress(body, MAX_BYTES + 1)
    if len(out) > MAX_BYTES:
        raise OverflowError(f"inflates beyond {MAX_BYTES} bytes")
    return out


def run_one(path: Path, now: dt.datetime) -> Outcome:
    started = time.perf_counter()
    kind, entries, no_link, bozo, detail = "ok", 0, 0, False, ""
    try:
        body = inflate(path.read_bytes())
        check_feed(body)
        parsed, no_link, bozo = parse_feed(body, {}, FeedSpec(url=path.as_uri()), now)
        entries = len(parsed)
    except UnsafeFeedError as exc:
        kind, detail = "unsafe_feed", str(exc)
    except NotAFeedError as exc:
        kind, detail = "not_a_feed", str(exc)
    except OverflowError as exc:
        kind, detail = "too_large", str(exc)
    except Exception as exc:  # noqa: BLE001 - counting crashes is the point of this bench
        kind, detail = "crash", f"{type(exc).__name__}: {exc}"
    return Outcome(path, kind, entries, no_link, bozo, time.perf_counter() - started, detail)


def main() -> int:
    verbose = "-v" in sys.argv[1:]
    root = data_root() / "feeds"
    if not root.is_dir():
        print(f"feed_corpus: no feeds under {root} (set NEWSBEAM_SHARED_DATA); skipped.")
        return 0
    now = dt.datetime.now(UTC)
    started = time.perf_counter()
    outcomes = [run_one(path, now) for path in feed_files(root)]
    seconds = time.perf_counter() - started

    def count(kind: str) -> int:
        return sum(1 for o in outcomes if o.kind == kind)

    parsed = [o for o in outcomes if o.kind == "ok"]
    print(f"feed corpus: {root}")
    print(f"  files                {len(outcomes)}")
    print(f"  parsed               {len(parsed)}")
    print(
        f"  entries              {sum(o.entries for o in parsed)} with a link, "
        f"{sum(o.no_link for o in parsed)} without (filtered:no_link)"
    )
    print(f"  bozo feeds           {sum(1 for o in parsed if o.bozo)} (malformed, recovered)")
    print(f"  dead: not_a_feed     {count('not_a_feed')}")
    print(f"  dead: unsafe_feed    {count('unsafe_feed')}")
    print(f"  too large            {count('too_large')}")
    print(f"  crashes              {count('crash')}")
    print(
        f"  time                 {seconds:.1f}s "
        f"({1000 * seconds / max(1, len(outcomes)):.1f} ms/file)"
    )
    print("  slowest:")
    for o in sorted(outcomes, key=lambda o: o.seconds, reverse=True)[:5]:
        print(f"    {o.seconds * 1000:7.1f} ms  {o.path.relative_to(root)}")
    shown = ("crash",) if not verbose else ("crash", "unsafe_feed", "not_a_feed", "too_large")
    for o in outcomes:
        if o.kind in shown:
            print(f"  {o.kind:12} {o.path.relative_to(root)}: {o.detail[:160]}")
    return 1 if count("crash") else 0


if __name__ == "__main__":
    sys.exit(main())
