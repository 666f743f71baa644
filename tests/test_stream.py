"""`newsbeam stream` over a loopback feed that gains items between polls and repeats old ones."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from pipeline.cli import EXIT_OK
from tests.test_daily import Site

DEADLINE = 120  # seconds; generous bounds on waits for a condition, never a timing assertion


def _stream(site: Site, out: Path, *extra: str) -> subprocess.Popen:
    exe = Path(sys.executable).with_name("newsbeam")
    return subprocess.Popen(
        [str(exe), "stream", "--feed", site.feed_url, "--output", str(out), "--poll-interval", "1",
         "--window", "1", "--allow-private-hosts", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def _files(out: Path, sink: str = "articles") -> list[Path]:
    return sorted((out / sink).glob("date=*/*.parquet")) if (out / sink).exists() else []


def _written_stories(out: Path) -> list[str]:
    urls = [u for f in _files(out) for u in pq.read_table(f, columns=["url"]).column("url").to_pylist()]
    return sorted(u.rsplit("/", 1)[-1].removesuffix(".html") for u in urls)


def _wait_until(predicate, timeout: float = DEADLINE) -> bool:
    ticker = threading.Event()
    waited = 0.0
    while not predicate():
        if waited >= timeout:
            return False
        ticker.wait(0.1)
        waited += 0.1
    return True


@pytest.fixture()
def site(tmp_path: Path):
    s = Site(tmp_path / "site")
    with s.server:
        yield s


def test_stream_writes_each_article_once_and_stops_cleanly(site: Site, tmp_path: Path) -> None:
    out = tmp_path / "out"
    site.feed([1, 2])
    proc = _stream(site, out, "--duration", "600")
    try:
        assert site.server.wait_for("/feed.xml", 2, DEADLINE), "no second poll"
        site.feed([1, 2, 3, 4])  # two new items; the old ones keep repeating
        assert _wait_until(lambda: _written_stories(out) == ["1", "2", "3", "4"] or proc.poll() is not None)
        assert proc.poll() is None, "the new items must be written while the stream runs"
        polls = site.server.served("/feed.xml")
        assert site.server.wait_for("/feed.xml", polls + 2, DEADLINE)  # repeats keep coming
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=DEADLINE) == EXIT_OK, proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
    assert _written_stories(out) == ["1", "2", "3", "4"]  # each once, repeats not rewritten
    for path in _files(out):
        assert pq.read_table(path).num_rows > 0  # every visible file is complete
    assert not list(out.glob("articles/**/*.tmp*"))
    assert not (out / "_staging").exists() or not any((out / "_staging").iterdir())
    assert not (out / "_lock.json").exists()
    (manifest,) = list((out / "_runs").glob("date=*/*.json"))
    assert '"stopped_by": "SIGTERM"' in manifest.read_text()


def test_restart_is_seeded_from_the_output(site: Site, tmp_path: Path) -> None:
    out = tmp_path / "out"
    site.feed([1, 2])
    first = _stream(site, out, "--duration", "3")
    assert first.wait(timeout=DEADLINE) == EXIT_OK, first.stderr.read()
    assert _written_stories(out) == ["1", "2"]
    site.feed([2, 3])
    second = _stream(site, out, "--duration", "3")
    assert second.wait(timeout=DEADLINE) == EXIT_OK, second.stderr.read()
    assert _written_stories(out) == ["1", "2", "3"]
    assert "1 articles in" in second.stdout.read()
