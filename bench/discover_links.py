"""Feed candidates that discovery would take from real news pages (no network).

Usage: ``python bench/discover_links.py [-v]`` (``-v``: list every candidate per page).
Data: the article pages under ``extraction/`` of ``../shared/data`` (fundus, aeb, newspaper4k),
or of the directory in ``NEWSBEAM_SHARED_DATA``; exits 0 with a message when it is absent.

Each page goes through :func:`transforms.sources.discover.feed_links` exactly as a homepage would (an
article page carries the same ``<head>`` and footer as the homepage on most sites). Printed: pages,
pages with at least one ``<link rel="alternate">`` feed, pages with at least one ``<a>`` feed-like
link, the candidates in total, how many of them are comments feeds by URL or title, and the time.
It measures what the cheap first step offers; whether a candidate is a feed needs the fetch.
"""

from __future__ import annotations

import gzip
import json
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from transforms.sources.discover import comments_reason, feed_links


def _data_dir() -> Path:
    return Path(os.environ.get("NEWSBEAM_SHARED_DATA", REPO.parent / "shared" / "data"))


def _pages(root: Path) -> list[tuple[str, str, bytes]]:
    """(collection, url, html) of every page; the url is the page's own where known."""
    pages = []
    fundus = root / "extraction" / "fundus"
    if (fundus / "index.json").exists():
        for row in json.loads((fundus / "index.json").read_text("utf-8")):
            pages.append(
                ("fundus", row["url"], gzip.decompress((fundus / row["html"]).read_bytes()))
            )
    aeb = root / "extraction" / "aeb"
    if (aeb / "ground-truth.json").exists():
        truth = json.loads((aeb / "ground-truth.json").read_text("utf-8"))
        for key, row in truth.items():
            path = aeb / "html" / f"{key}.html.gz"
            if path.exists():
                url = row.get("url") or "https://example.org/"
                pages.append(("aeb", url, gzip.decompress(path.read_bytes())))
    for path in sorted((root / "extraction" / "newspaper4k" / "html").glob("*.html.gz")):
        pages.append(("newspaper4k", "https://example.org/", gzip.decompress(path.read_bytes())))
    return pages


def main(argv: list[str]) -> int:
    root = _data_dir()
    pages = _pages(root)
    if not pages:
        print(f"no article pages under {root}/extraction; nothing to measure")
        return 0
    verbose = "-v" in argv
    started = time.perf_counter()
    with_tags = with_anchors = tags_total = anchors_total = comments = 0
    per_collection: dict[str, list[int]] = {}
    for collection, url, html in pages:
        tags, anchors = feed_links(html, url)
        with_tags += bool(tags)
        with_anchors += bool(anchors)
        tags_total += len(tags)
        anchors_total += len(anchors)
        comments += sum(1 for c in tags + anchors if comments_reason(c.url, c.hint, "", []))
        row = per_collection.setdefault(collection, [0, 0, 0])
        row[0] += 1
        row[1] += bool(tags)
        row[2] += bool(tags or anchors)
        if verbose:
            print(url)
            for c in tags + anchors:
                print(f"    {c.source:4} {c.url}  {c.hint!r}")
    elapsed = time.perf_counter() - started
    n = len(pages)
    print(f"pages                      {n}")
    print(f"with a <link> feed         {with_tags} ({with_tags / n:.0%})")
    print(f"with an <a> feed link      {with_anchors} ({with_anchors / n:.0%})")
    print(f"candidates                 {tags_total} <link>, {anchors_total} <a>")
    print(f"comments feeds among them  {comments} (by URL or title)")
    for collection, (count, tagged, any_link) in per_collection.items():
        print(
            f"  {collection:12} {count:4} pages, {tagged / count:.0%} with <link>, "
            f"{any_link / count:.0%} with any candidate"
        )
    print(f"time                       {elapsed:.2f}s ({elapsed / n * 1000:.1f} ms/page)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
