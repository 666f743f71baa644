"""What runs remember and record beside the data: the lock, the feed state, run manifests.

All of it lives in the output directory and is read and written through Beam's FileSystems, so a
run on Dataflow with ``gs://`` output keeps the same memory as one on a laptop.

- ``DIR/_lock.json``: one run at a time per output. Created exclusively on local disks; on object
  stores, which have no exclusive create, it is checked then written (best effort — schedule
  with ``concurrencyPolicy: Forbid`` or equivalent there).
- ``DIR/_state/feeds.json``: per feed the validators of the last full fetch (ETag,
  Last-Modified) and where its body is cached, consecutive failures and when to try again.
- ``DIR/_runs/date=YYYY-MM-DD/<run_id>.json``: one manifest per run.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import socket
import threading
from collections.abc import Iterable
from typing import Any

from apache_beam.io.filesystem import BeamIOError
from apache_beam.io.filesystems import FileSystems

from pipeline.output import RUNS, STATE, is_local, join
from transforms.records import FeedSpec, FeedStatus

LOCK = "_lock.json"
# A live run rewrites its lock this often; a lock not rewritten for STALE_AFTER is a dead run's,
# wherever that run was (another pod, another host), and the next run takes it over.
HEARTBEAT_SECONDS = 60
STALE_AFTER = dt.timedelta(minutes=15)


class LockHeld(Exception):
    """Another run holds the output's lock."""


def _read_json(path: str) -> Any:
    try:
        with FileSystems.open(path) as handle:
            return json.loads(handle.read().decode("utf-8"))
    except (BeamIOError, OSError, FileNotFoundError):
        return None


def _write_json(path: str, data: Any) -> None:
    """Write aside, then rename over the old file: a reader sees the old or the new JSON, never
    half of one and never none (a delete first would let another run take the lock meanwhile)."""
    tmp = f"{path}.tmp-{os.getpid()}"
    parent = path.rsplit("/", 1)[0]
    if not FileSystems.exists(parent):
        FileSystems.mkdirs(parent)
    with FileSystems.create(tmp) as handle:
        handle.write(json.dumps(data, indent=1, sort_keys=True, default=str).encode("utf-8"))
    # Local rename replaces the target atomically; object stores copy over it.
    FileSystems.rename([tmp], [path])


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _is_stale(holder: dict[str, Any], host: str, now: dt.datetime) -> bool:
    if holder.get("host") == host and isinstance(holder.get("pid"), int):
        return not _pid_alive(holder["pid"])
    beat = _parse_time(holder.get("heartbeat") or holder.get("started_at"))
    return beat is None or now - beat > STALE_AFTER


def acquire_lock(output: str, run_id: str, now: dt.datetime) -> dict[str, Any]:
    """Take the output's lock or raise LockHeld naming the holder.

    A killed run must not block the next day's run forever: a lock left by a dead process on
    this host, or one whose heartbeat stopped more than STALE_AFTER ago (a run on another host
    or pod that died), is taken over.
    """
    path = join(output, LOCK)
    info = {"run_id": run_id, "pid": os.getpid(), "host": socket.gethostname(),
            "started_at": now.isoformat(), "heartbeat": now.isoformat()}
    for _attempt in range(2):
        if is_local(output):
            os.makedirs(output, exist_ok=True)
            try:
                fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                pass
            else:
                with os.fdopen(fd, "w") as handle:
                    json.dump(info, handle)
                return info
        elif not FileSystems.exists(path):
            _write_json(path, info)
            return info
        holder = _read_json(path) or {}
        if not _is_stale(holder, info["host"], now):
            raise LockHeld(
                f"another run holds {path} (run {holder.get('run_id', '?')}, pid "
                f"{holder.get('pid', '?')} on {holder.get('host', '?')} since "
                f"{holder.get('started_at', '?')}); if no run is active, delete that file"
            )
        FileSystems.delete([path])
    raise LockHeld(f"could not take {path}")


class Heartbeat:
    """Rewrites the lock's heartbeat while a run is alive (a context manager)."""

    def __init__(self, output: str, info: dict[str, Any]) -> None:
        self._path = join(output, LOCK)
        self._info = dict(info)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, daemon=True, name="newsbeam-lock")

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT_SECONDS):
            holder = _read_json(self._path) or {}
            if holder.get("run_id") != self._info["run_id"]:
                return  # taken over: not ours to write any more
            self._info["heartbeat"] = dt.datetime.now(dt.timezone.utc).isoformat()
            _write_json(self._path, self._info)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def release_lock(output: str, run_id: str) -> None:
    path = join(output, LOCK)
    holder = _read_json(path) or {}
    if holder.get("run_id") == run_id:
        FileSystems.delete([path])


@dataclasses.dataclass(frozen=True)
class FeedPlan:
    specs: list[FeedSpec]
    skipped: dict[str, str]  # feed url → why it is not fetched this run


def load_feed_state(output: str) -> dict[str, dict[str, Any]]:
    data = _read_json(join(output, STATE, "feeds.json"))
    return data if isinstance(data, dict) else {}


def _parse_time(value: Any) -> dt.datetime | None:
    try:
        return dt.datetime.fromisoformat(str(value))
    except ValueError:
        return None


def backoff_until(failures: int, last_failure: dt.datetime, after: int, max_days: int) -> dt.datetime | None:
    """When a feed that failed ``failures`` runs in a row may be tried again (None: now)."""
    if after <= 0 or failures < after:
        return None
    days = min(2 ** (failures - after), max_days)
    return last_failure + dt.timedelta(days=days) - dt.timedelta(hours=1)


def plan_feeds(
    specs: Iterable[FeedSpec], state: dict[str, dict[str, Any]], now: dt.datetime,
    full_fetch_hours: float, backoff_after: int, backoff_max_days: int, cache_dir: str,
) -> FeedPlan:
    """Add validators to the feeds that may be fetched conditionally; hold back failing ones.

    Validators are sent only while the last full fetch is younger than ``full_fetch_hours``:
    servers are known to answer 304 with stale validators, so a full fetch at least that often
    puts a bound on how long such a server can hide new items.
    """
    planned, skipped = [], {}
    for spec in specs:
        feed = state.get(spec.url, {})
        last_failure = _parse_time(feed.get("last_failure"))
        until = backoff_until(int(feed.get("failures", 0)), last_failure, backoff_after,
                              backoff_max_days) if last_failure else None
        if until and now < until:
            skipped[spec.url] = (f"backoff after {feed['failures']} failed runs "
                                 f"until {until.isoformat(timespec='minutes')}")
            continue
        last_full = _parse_time(feed.get("last_full_fetch"))
        fresh = last_full and now - last_full < dt.timedelta(hours=full_fetch_hours)
        if fresh and feed.get("cache") and (feed.get("etag") or feed.get("last_modified")):
            spec = dataclasses.replace(spec, etag=feed.get("etag"), last_modified=feed.get("last_modified"),
                                       cache_path=join(cache_dir, feed["cache"]))
        planned.append(spec)
    return FeedPlan(planned, skipped)


def update_feed_state(
    state: dict[str, dict[str, Any]], statuses: Iterable[FeedStatus], now: dt.datetime
) -> dict[str, dict[str, Any]]:
    """The feed state after a run, given each fetched feed's status."""
    new = {url: dict(feed) for url, feed in state.items()}
    for status in statuses:
        feed = new.setdefault(status.feed_url, {})
        if status.outcome == "failed":
            feed["failures"] = int(feed.get("failures", 0)) + 1
            feed["last_failure"] = now.isoformat()
            feed["last_error"] = status.error_type
            continue
        feed["failures"] = 0
        feed["last_ok"] = now.isoformat()
        if status.outcome == "ok":
            feed["etag"] = status.etag
            feed["last_modified"] = status.last_modified
            feed["last_full_fetch"] = now.isoformat()
            # Only the file name: the output directory may move or be mounted elsewhere.
            feed["cache"] = status.cached_body.rsplit("/", 1)[-1] if status.cached_body else None
    return new


def save_feed_state(output: str, state: dict[str, dict[str, Any]]) -> None:
    _write_json(join(output, STATE, "feeds.json"), state)


def manifest_path(output: str, date: str, run_id: str) -> str:
    return join(output, RUNS, f"date={date}", f"{run_id}.json")


def write_manifest(output: str, date: str, run_id: str, manifest: dict[str, Any]) -> str:
    path = manifest_path(output, date, run_id)
    _write_json(path, manifest)
    return path
