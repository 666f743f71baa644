"""`newsbeam stream` over a loopback feed that gains items between polls and repeats old ones.

Faults while streaming: the feed's host down for several polls, a page that times out, SIGTERM
while a window's file is being written, ``kill -9`` then a restart; the lock shared with ``run``;
``--workers``. Each stream is a real ``newsbeam`` process; waits are bounded by DEADLINE and end
on a condition (a request served, a file written), never on a fixed sleep.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from pipeline.cli import EXIT_LOCKED, EXIT_OK, main
from pipeline.demo_server import SiteServer
from tests.test_daily import Site
from transforms.stream import remember

DEADLINE = 120  # seconds; generous bounds on waits for a condition, never a timing assertion


def _stream(site: Site, out: Path, *extra: str, prelude: str = "") -> subprocess.Popen:
    """``newsbeam stream`` on ``site``'s feed; ``prelude`` is Python run in the process first
    (fault injection), then the CLI."""
    args = ["stream", "--feed", site.feed_url, "--output", str(out), "--poll-interval", "1",
            "--window", "1", "--allow-private-hosts", *extra]
    if prelude:
        command = [sys.executable, "-c", f"{prelude}\nimport sys\nfrom pipeline.cli import main\n"
                   "sys.exit(main(sys.argv[1:]))", *args]
    else:
        command = [str(Path(sys.executable).with_name("newsbeam")), *args]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _finish(proc: subprocess.Popen) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=DEADLINE)
    return proc.returncode, out, err


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


WEEK = 7 * 24 * 3600


@pytest.mark.parametrize(
    ("known", "entry_id", "now", "new", "after"),
    [
        ({}, "a", 100, True, {"a": 100}),
        ({"a": 100}, "a", 100 + WEEK - 1, False, {"a": 100}),  # a repeat within the week
        ({"a": 100}, "a", 100 + WEEK, True, {"a": 100 + WEEK}),  # expired: new again
        # Touching a bucket drops its expired ids: the state holds about a week of ids.
        ({"a": 100, "b": 5000}, "c", 100 + WEEK, True, {"b": 5000, "c": 100 + WEEK}),
        ({"a": 100, "b": 5000}, "b", 100 + WEEK, False, {"b": 5000}),
    ],
)
def test_remember_expires_ids_after_the_ttl(known, entry_id, now, new, after) -> None:
    assert remember(known, entry_id, now, WEEK) == (new, after)


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
    (manifest,) = _manifests(out)
    assert manifest["stopped_by"] == "SIGTERM"
    assert (manifest["counters"]["written"], manifest["counters"]["files"]) == (4, len(_files(out)))


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


def _manifests(out: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((out / "_runs").glob("date=*/*.json"))]


def _dead_letters(out: Path) -> list[dict]:
    return [r for f in _files(out, "dead_letter") for r in pq.read_table(f).to_pylist()]


def _assert_clean_stop(out: Path) -> None:
    assert not (out / "_lock.json").exists()
    assert not (out / "_staging").exists() or not any((out / "_staging").iterdir())
    for path in _files(out) + _files(out, "dead_letter"):
        assert pq.read_table(path).num_rows > 0  # every visible file is complete


def test_stream_ended_by_duration_exits_0_with_manifest_and_summary(
    site: Site, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    site.feed([1, 2, 3])
    code, stdout, stderr = _finish(_stream(site, out, "--duration", "4"))
    assert code == EXIT_OK, stderr
    assert "RecursionError" not in stderr
    assert "3 articles in" in stdout
    (manifest,) = _manifests(out)
    assert manifest["mode"] == "stream" and manifest["stopped_by"] == "duration"
    assert manifest["counters"]["written"] == 3
    assert manifest["beam_counters"]["stream/new"] == 3
    beam_counters = manifest["beam_counters"]
    assert manifest["counters"]["duplicate"] == beam_counters.get("stream/duplicate", 0)
    _assert_clean_stop(out)


def test_feed_host_down_for_several_polls_then_back(site: Site, tmp_path: Path) -> None:
    out = tmp_path / "out"
    site.feed([1, 2])
    # A second site, always up, whose feed requests count the polls while the first is down.
    witness = Site(tmp_path / "witness")
    witness.feed([8])
    port = int(site.server.base.rsplit(":", 1)[1])
    with witness.server:
        proc = _stream(site, out, "--feed", witness.feed_url)
        try:
            first = ["1", "2", "8"]
            assert _wait_until(lambda: _written_stories(out) == first or proc.poll() is not None)
            site.server.close()  # connections to the feed's host are refused from now on
            polls = witness.server.served("/feed.xml")
            assert witness.server.wait_for("/feed.xml", polls + 3, DEADLINE), "no polls while down"
            site.feed([1, 2, 3, 4])
            site.server = SiteServer(site.root, port=port)  # back, on the same address
            with site.server:
                every = ["1", "2", "3", "4", "8"]
                assert _wait_until(lambda: _written_stories(out) == every or proc.poll() is not None)
                assert proc.poll() is None, proc.stderr.read()
                proc.send_signal(signal.SIGTERM)
                code, _, stderr = _finish(proc)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert code == EXIT_OK, stderr
    assert _written_stories(out) == ["1", "2", "3", "4", "8"]
    _assert_clean_stop(out)


def test_page_that_times_out_is_a_dead_letter_and_the_stream_goes_on(
    site: Site, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    config = tmp_path / "fast.yaml"
    config.write_text("fetch:\n  http: {read_timeout: 0.3, total_timeout: 1, retries: 0}\n")
    site.server.routes["/news/2.html"] = {"hang": True}  # answers only after the test ends
    site.feed([1, 2, 3])
    proc = _stream(site, out, "--config", str(config), "--duration", "12")
    try:
        assert site.server.hanging.wait(DEADLINE), "the slow page was never requested"
        site.feed([1, 2, 3, 4])
        code, stdout, stderr = _finish(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert code == EXIT_OK, stderr
    assert _written_stories(out) == ["1", "3", "4"]
    (dead,) = [d for d in _dead_letters(out) if d["url"].endswith("/news/2.html")]
    assert (dead["stage"], dead["error_type"]) == ("fetch_article", "timeout")
    assert _manifests(out)[0]["counters"]["dead_letter"] == 1
    _assert_clean_stop(out)


# In the stream's process: the first Parquet file starts to be written, then SIGTERM arrives.
SIGTERM_WHILE_WRITING = """
import os, signal, threading
import pyarrow.parquet as pq

def _write_then_sigterm(table, where, **kwargs):
    where.write(b"PAR1 the first bytes of a file")
    where.flush()
    os.kill(os.getpid(), signal.SIGTERM)
    threading.Event().wait(60)  # the handler ends the process while this waits
    raise AssertionError("SIGTERM did not stop the stream")

pq.write_table = _write_then_sigterm
"""


def test_sigterm_while_a_file_is_written_leaves_no_partial_file(site: Site, tmp_path: Path) -> None:
    out = tmp_path / "out"
    site.feed([1, 2])
    proc = _stream(site, out, "--duration", "600", prelude=SIGTERM_WHILE_WRITING)
    code, stdout, stderr = _finish(proc)
    assert code == EXIT_OK, stderr
    assert "stopped by SIGTERM: 0 articles in 0 files" in stdout
    assert _files(out) == [] and _files(out, "dead_letter") == []  # nothing half-written visible
    assert [p for p in out.glob("articles/**/*") if p.is_file()] == []
    _assert_clean_stop(out)
    (manifest,) = _manifests(out)
    assert manifest["stopped_by"] == "SIGTERM"
    fetched = site.server.served("/news/1.html"), site.server.served("/news/2.html")
    assert fetched == (1, 1)

    code, _, stderr = _finish(_stream(site, out, "--duration", "3"))
    assert code == EXIT_OK, stderr
    assert _written_stories(out) == ["1", "2"]  # the window's items, fetched again, once each
    assert (site.server.served("/news/1.html"), site.server.served("/news/2.html")) == (2, 2)


def test_kill_9_then_restart_writes_nothing_twice_and_loses_nothing(
    site: Site, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    site.feed([1, 2])
    proc = _stream(site, out, "--duration", "600")
    try:
        assert _wait_until(lambda: _written_stories(out) == ["1", "2"] or proc.poll() is not None)
        site.feed([1, 2, 3, 4])
        assert site.server.wait_for("/news/3.html", 1, DEADLINE)  # killed mid-way through a window
        proc.kill()
        proc.wait(timeout=DEADLINE)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert (out / "_lock.json").exists()  # a dead stream's lock, taken over by the restart
    site.feed([1, 2, 3, 4, 5])
    code, _, stderr = _finish(_stream(site, out, "--duration", "4"))
    assert code == EXIT_OK, stderr
    assert _written_stories(out) == ["1", "2", "3", "4", "5"]
    _assert_clean_stop(out)


def test_one_stream_or_run_per_output(site: Site, tmp_path: Path) -> None:
    out = tmp_path / "out"
    site.feed([1])
    proc = _stream(site, out, "--duration", "600")
    try:
        assert site.server.wait_for("/feed.xml", 1, DEADLINE)
        code, _, stderr = _finish(_stream(site, out, "--duration", "3"))
        assert code == EXIT_LOCKED, stderr
        assert "another run holds" in stderr
        assert main(["run", "--feed", site.feed_url, "--output", str(out),
                     "--allow-private-hosts"]) == EXIT_LOCKED
        assert proc.poll() is None
        proc.send_signal(signal.SIGTERM)
        code, _, stderr = _finish(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert code == EXIT_OK, stderr
    assert len(_manifests(out)) == 1  # the refused ones left none
    _assert_clean_stop(out)


def test_workers_write_the_same_rows(site: Site, tmp_path: Path) -> None:
    site.feed([1, 2, 3, 4])
    found = {}
    for workers in ("1", "2"):
        out = tmp_path / f"out-{workers}"
        code, stdout, stderr = _finish(_stream(site, out, "--duration", "4", "--workers", workers))
        assert code == EXIT_OK, stderr
        rows = [r for f in _files(out) for r in pq.read_table(f).to_pylist()]
        stable = ({k: v for k, v in r.items() if k != "fetched_at"} for r in rows)
        found[workers] = sorted(stable, key=lambda r: r["id"])
    assert len(found["1"]) == 4
    assert found["2"] == found["1"]
