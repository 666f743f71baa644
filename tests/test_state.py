"""The lock, the feed plan (validators, back-off) and the feed state, as pure functions."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from pipeline import state
from transforms.records import FeedSpec, FeedStatus

NOW = dt.datetime(2026, 11, 24, 6, 0, tzinfo=dt.timezone.utc)


def _lock(path: Path, **fields) -> None:
    path.mkdir(parents=True, exist_ok=True)
    (path / "_lock.json").write_text(json.dumps(fields))


def test_lock_is_exclusive_and_released(tmp_path: Path) -> None:
    state.acquire_lock(str(tmp_path), "a", NOW)
    with pytest.raises(state.LockHeld, match="run a"):
        state.acquire_lock(str(tmp_path), "b", NOW)
    state.release_lock(str(tmp_path), "b")  # not b's lock: stays
    assert (tmp_path / "_lock.json").exists()
    state.release_lock(str(tmp_path), "a")
    assert not (tmp_path / "_lock.json").exists()


def test_lock_of_a_dead_run_elsewhere_is_taken_over_after_its_heartbeat_stops(tmp_path: Path) -> None:
    recent = (NOW - dt.timedelta(minutes=5)).isoformat()
    _lock(tmp_path, run_id="pod-1", pid=1, host="other-pod", started_at=recent, heartbeat=recent)
    with pytest.raises(state.LockHeld):
        state.acquire_lock(str(tmp_path), "b", NOW)
    old = (NOW - state.STALE_AFTER - dt.timedelta(minutes=1)).isoformat()
    _lock(tmp_path, run_id="pod-1", pid=1, host="other-pod", started_at=old, heartbeat=old)
    assert state.acquire_lock(str(tmp_path), "b", NOW)["run_id"] == "b"


def test_heartbeat_rewrites_only_its_own_lock(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(state, "HEARTBEAT_SECONDS", 0.01)
    info = state.acquire_lock(str(tmp_path), "a", NOW)
    with state.Heartbeat(str(tmp_path), info):
        # Wait on the file itself rather than a clock: the beat shows up as a new heartbeat value.
        for _ in range(200_000):
            if json.loads((tmp_path / "_lock.json").read_text())["heartbeat"] != NOW.isoformat():
                break
    assert json.loads((tmp_path / "_lock.json").read_text())["heartbeat"] > NOW.isoformat()


def test_backoff_doubles_and_caps() -> None:
    failed = NOW - dt.timedelta(hours=2)
    assert state.backoff_until(2, failed, 3, 7) is None
    assert state.backoff_until(3, failed, 3, 7) == failed + dt.timedelta(days=1, hours=-1)
    assert state.backoff_until(5, failed, 3, 7) == failed + dt.timedelta(days=4, hours=-1)
    assert state.backoff_until(12, failed, 3, 7) == failed + dt.timedelta(days=7, hours=-1)
    assert state.backoff_until(12, failed, 0, 7) is None  # back-off switched off


def test_plan_sends_validators_only_while_fresh_and_cached() -> None:
    specs = [FeedSpec(url="https://a/f"), FeedSpec(url="https://b/f"), FeedSpec(url="https://c/f")]
    feed_state = {
        "https://a/f": {"etag": '"1"', "cache": "a.body", "last_full_fetch": (NOW - dt.timedelta(hours=3)).isoformat()},
        "https://b/f": {"etag": '"2"', "cache": "b.body", "last_full_fetch": (NOW - dt.timedelta(hours=30)).isoformat()},
        "https://c/f": {"failures": 4, "last_failure": (NOW - dt.timedelta(hours=1)).isoformat()},
    }
    plan = state.plan_feeds(specs, feed_state, NOW, 24, 3, 7, "/out/_state/feed_cache")
    assert [(s.url, s.etag, s.cache_path) for s in plan.specs] == [
        ("https://a/f", '"1"', "/out/_state/feed_cache/a.body"),
        ("https://b/f", None, None),  # last full fetch over a day ago: ask unconditionally
    ]
    assert "backoff after 4 failed runs" in plan.skipped["https://c/f"]


def test_update_state_counts_failures_and_resets_on_success() -> None:
    before = {"https://a/f": {"failures": 2}}
    after = state.update_feed_state(before, [FeedStatus("https://a/f", "failed", error_type="timeout")], NOW)
    assert after["https://a/f"]["failures"] == 3 and after["https://a/f"]["last_error"] == "timeout"
    ok = FeedStatus("https://a/f", "ok", 5, 200, etag='"x"', last_modified=None,
                    cached_body="/out/_staging/r/feed_cache/abc.body")
    after = state.update_feed_state(after, [ok], NOW)
    assert after["https://a/f"]["failures"] == 0
    assert after["https://a/f"]["cache"] == "abc.body"
    assert before == {"https://a/f": {"failures": 2}}  # the input is not changed
