"""The accounting invariant after the real CLI ran over the hostile fault server.

Every feed entry ends as written, duplicate, filtered (with a reason) or dead letter, and the
Parquet files agree with the run summary. The run uses --allow-private-hosts (the server is on
loopback); the redirect to the metadata address is refused anyway, and the loopback guard fails
the module if anything tried to connect outside 127.0.0.0/8.
"""

from __future__ import annotations

import json
import urllib.parse
from collections import Counter
from pathlib import Path

import pyarrow.dataset as ds
import pytest

from tests.faultserver import FaultServer, loopback_connections_only

DATE = "2026-11-24"
FEED_STAGES = frozenset({"fetch_feed", "parse_feed"})
HOSTILE_FEEDS = ("billion-laughs", "xxe-file", "xxe-http")
# Their one article each: written while feeds.py does not run check_feed yet, absent after.
HOSTILE_ARTICLES = {"/article/laughs", "/article/xxe-file", "/article/xxe-http"}
FEED_NAMES = ("faults", "duplicates", "html", "external-dtd", *HOSTILE_FEEDS)

# Small timeouts keep the server's delays small; no per-host delay on loopback. They still leave
# room for a loaded 2-core machine, where the in-process server shares the GIL with the pipeline:
# /slow (1 s) must exceed read_timeout, /drip (3 s) total_timeout, and nothing else either.
CONFIG = {
    "feed_fetch": {"read_timeout": 2, "total_timeout": 5, "retries": 0},
    "fetch": {
        "per_host_delay": 0,
        "concurrency": 16,
        "per_host": 16,
        "robots_timeout": 2,
        "http": {
            "connect_timeout": 2,
            "read_timeout": 0.6,
            "total_timeout": 2,
            "max_bytes": 500_000,
            "retries": 1,
            "backoff": 0,
            "max_retry_wait": 1,
        },
    },
}

# Entries of the fault-suite feed that end as dead letters: path → (stage, error_type, status).
DEAD = {
    "mailto:desk@example.org": ("canonicalize", "bad_link", None),
    "/status/404": ("fetch_article", "http_error", 404),
    "/status/503?retry_after=0": ("fetch_article", "http_error", 503),
    "/status/429?retry_after=86400": ("fetch_article", "retry_after_too_long", 429),
    "/slow?delay=1": ("fetch_article", "timeout", None),
    "/drip?chunks=60&interval=0.05": ("fetch_article", "timeout", 200),
    "/redirect/loop": ("fetch_article", "too_many_redirects", None),
    "/redirect/to?url=http%3A%2F%2F169.254.169.254%2Flatest%2Fmeta-data": (
        "fetch_article",
        "blocked_host",
        None,
    ),
    "/redirect/to?url=file%3A%2F%2F%2Fetc%2Fpasswd": ("fetch_article", "bad_scheme", None),
    "/huge?size=2000000": ("fetch_article", "too_large", 200),
    "/huge?length=0&size=2000000": ("fetch_article", "too_large", 200),
    "/bomb/gzip?size=5000000": ("fetch_article", "too_large", 200),
    "/bomb/deflate?size=5000000": ("fetch_article", "too_large", 200),
    "/type/pdf": ("fetch_article", "unsupported_content_type", 200),
    "/type/image": ("fetch_article", "unsupported_content_type", 200),
    "/empty": ("fetch_article", "empty_body", 200),
}
WRITTEN = {
    "/article/plain",
    "/gzip/zipped",
    "/article/relative",
    "/article/future",
    "/article/past",
    "/article/other",
    "/flap/1?key=e2e",
    "/redirect/chain/2",
    "/type/none",
    "/type/octet",
    "/charset/mislabeled",
    "/charset/unknown",
    "/charset/mixed",
    "/article/dup",
    "/article/dtd",  # from the duplicates and external-dtd feeds
}


def _rows(out: Path, table: str) -> list[dict]:
    return ds.dataset(out / table, format="parquet", partitioning="hive").to_table().to_pylist()


def _path(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https"):
        return url
    return parts.path + (f"?{parts.query}" if parts.query else "")


@pytest.fixture(scope="module")
def fault_run(tmp_path_factory):
    """Run `newsbeam run` once over every fault; keep the summary it computed."""
    import pipeline.run
    from pipeline.cli import main

    summaries = []
    real_run = pipeline.run.run

    def recording_run(*args, **kwargs):
        summaries.append(real_run(*args, **kwargs))
        return summaries[-1]

    tmp = tmp_path_factory.mktemp("faults")
    config = tmp / "faults.yaml"
    config.write_text(json.dumps(CONFIG))  # JSON is YAML
    out = tmp / "out"
    with loopback_connections_only() as attempts, pytest.MonkeyPatch.context() as mp:
        mp.setattr(pipeline.run, "run", recording_run)
        server = FaultServer()
        server.robots = "User-agent: *\nDisallow: /private/\n"
        for encoding in ("gzip", "deflate"):
            server.bomb(encoding, 5_000_000)  # compressed up front: the 0.3 s read timeout is short
        server.start()
        try:
            argv = [
                "run",
                "--config",
                str(config),
                "--output",
                str(out),
                "--allow-private-hosts",
                "--date",
                DATE,
                "--max-failure-rate",
                "1",
            ]
            for name in FEED_NAMES:
                argv += ["--feed", server.url(f"/feed/{name}.xml")]
            code = main(argv)
        finally:
            server.close()
    assert attempts == [], f"connections outside 127.0.0.0/8 were attempted: {attempts}"
    (summary,) = summaries
    return code, summary, out, server


def test_the_run_completes(fault_run) -> None:
    code, summary, _out, _server = fault_run
    assert code == 0
    assert summary.feeds == len(FEED_NAMES)


def test_accounting_balances(fault_run) -> None:
    _code, summary, _out, _server = fault_run
    accounted = (
        summary.written
        + summary.duplicate
        + sum(summary.filtered.values())
        + summary.entry_dead_letters
    )
    assert (accounted, summary.balanced) == (summary.entries, True)


def test_parquet_agrees_with_the_summary(fault_run) -> None:
    _code, summary, out, _server = fault_run
    articles, dead = _rows(out, "articles"), _rows(out, "dead_letter")
    assert len(articles) == summary.written
    assert sum(1 for d in dead if d["stage"] not in FEED_STAGES) == summary.entry_dead_letters
    assert Counter(d["stage"] for d in dead) == Counter(summary.dead_letter)


def test_every_fault_ends_where_expected(fault_run) -> None:
    _code, summary, out, _server = fault_run
    dead = {
        _path(d["url"]): (d["stage"], d["error_type"], d["http_status"])
        for d in _rows(out, "dead_letter")
        if d["stage"] not in FEED_STAGES
    }
    articles = {_path(a["url"]) for a in _rows(out, "articles")}
    hostile_parsed = HOSTILE_ARTICLES & articles
    assert dead == DEAD
    assert articles - hostile_parsed == WRITTEN
    assert summary.filtered == {"no_link": 1, "robots": 1}
    assert summary.duplicate == 3  # utm variant, and two repeats in the duplicates feed


def test_feed_level_failures(fault_run) -> None:
    """HTML posing as a feed is not a feed; hostile feeds are refused once feeds.py runs
    check_feed (``unsafe_feed``), and until then parse harmlessly."""
    _code, _summary, out, _server = fault_run
    feed_dead = {
        _path(d["url"]): d["error_type"]
        for d in _rows(out, "dead_letter")
        if d["stage"] in FEED_STAGES
    }
    assert feed_dead.pop("/feed/html.xml") == "not_a_feed"
    assert set(feed_dead.values()) <= {"unsafe_feed"}
    assert set(feed_dead) <= {f"/feed/{n}.xml" for n in HOSTILE_FEEDS}


def test_no_dead_letter_lacks_its_reason(fault_run) -> None:
    _code, _summary, out, _server = fault_run
    for row in _rows(out, "dead_letter"):
        assert row["stage"] and row["url"] and row["error_type"] and row["error_message"], row


def test_nothing_hostile_was_followed(fault_run) -> None:
    _code, _summary, out, server = fault_run
    assert server.hits("/canary/") == 0  # no entity or DTD fetched
    assert server.hits("/private/") == 0  # robots.txt obeyed
    assert server.hits("/robots.txt") == 1  # once per origin per worker
    text = json.dumps([*_rows(out, "articles"), *_rows(out, "dead_letter")], default=str)
    assert "root:x:0:0" not in text
