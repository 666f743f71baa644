"""The output directory: where a run's files go and how they replace a date's earlier files.

Layout (hive partitions, so pyarrow/duckdb/polars/Spark read ``date`` as a column)::

    DIR/articles/date=YYYY-MM-DD/part-<run_id>-00000-of-00001.parquet
    DIR/dead_letter/date=YYYY-MM-DD/part-<run_id>-00000-of-00001.parquet
    DIR/raw/date=YYYY-MM-DD/part-<run_id>-00000-of-00001.warc.gz   with --archive (docs/SCHEMA.md)
    DIR/_runs/date=YYYY-MM-DD/<run_id>.json     run manifests (pipeline/state.py)
    DIR/_state/feeds.json, _state/feed_cache/    memory of feeds between runs
    DIR/_staging/<run_id>/...                    a run's files until it commits
    DIR/_lock.json                               held while a run is active

Names starting with ``_`` are skipped by hive-partitioned readers, so nothing outside
``articles/`` and ``dead_letter/`` shows up as data.

A run writes into its own staging folder. Only after the pipeline succeeded is each partition
swapped in: on local disks with one atomic ``renameat2(RENAME_EXCHANGE)`` of the two folders, so a
reader sees either all of the old files or all of the new ones, never both and never half. On
object stores (``gs://``, ``s3://``), which have no folder rename, the new files are copied in
before the old ones are deleted; a reader listing in between can see both sets for a moment.
"""

from __future__ import annotations

import ctypes
import datetime as dt
import json
import os
import re
import secrets
from collections.abc import Iterator
from typing import Any

from apache_beam.io.filesystem import BeamIOError
from apache_beam.io.filesystems import FileSystems

SINKS = ("articles", "dead_letter")
RAW = "raw"  # the WARC archive: published like a sink, but only by runs that archived
# What each published folder holds; anything else in it (Beam's temporary files) is not data.
FILE_PATTERNS = {"articles": "*.parquet", "dead_letter": "*.parquet", RAW: "*.warc.gz"}
STAGING = "_staging"
STATE = "_state"
RUNS = "_runs"
_DATE_DIR = re.compile(r"date=(\d{4}-\d{2}-\d{2})$")
_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def new_run_id(now: dt.datetime | None = None) -> str:
    now = now or dt.datetime.now(dt.timezone.utc)
    return f"{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def join(*parts: str) -> str:
    return FileSystems.join(*parts)


def is_local(path: str) -> bool:
    return "://" not in path


def partition_dir(output: str, sink: str, date: str) -> str:
    return join(output, sink, f"date={date}")


def staging_dir(output: str, run_id: str) -> str:
    return join(output, STAGING, run_id)


def staging_prefix(output: str, run_id: str, sink: str, date: str) -> str:
    """File prefix handed to the Parquet sink for one sink of one run."""
    return join(staging_dir(output, run_id), sink, f"date={date}", f"part-{run_id}")


def match(pattern: str) -> list[str]:
    try:
        return [m.path for m in FileSystems.match([pattern])[0].metadata_list]
    except BeamIOError:
        return []


def json_lines(pattern: str) -> Iterator[dict[str, Any]]:
    """The JSON objects, one per non-empty line, of the files matching ``pattern``."""
    for path in match(pattern):
        with FileSystems.open(path) as handle:
            for line in handle.read().decode("utf-8").splitlines():
                if line.strip():
                    yield json.loads(line)


def partition_dates(output: str, sink: str = "articles") -> list[str]:
    """Dates that have a partition of ``sink``, sorted."""
    dates = set()
    for path in match(join(output, sink, "date=*", "*.parquet")):
        found = _DATE_DIR.search(path.rsplit("/", 1)[0])
        if found:
            dates.add(found.group(1))
    return sorted(dates)


def article_files(output: str, before: str | None = None) -> list[str]:
    """File patterns of the article partitions (only those dated before ``before``, if given)."""
    return [join(partition_dir(output, "articles", d), "*.parquet")
            for d in partition_dates(output) if before is None or d < before]


def earlier_article_files(output: str, date: str) -> list[str]:
    """Article partitions of earlier dates only."""
    return article_files(output, before=date)


def other_article_files(output: str, date: str) -> list[str]:
    """The memory of a run for ``date``: the article partitions of every other date, earlier
    and later, so an id lives under one date only, the first it was written under (a backfill
    does not copy what a later date already has; re-running a date reproduces it)."""
    return [join(partition_dir(output, "articles", d), "*.parquet")
            for d in partition_dates(output) if d != date]


def _exchange(a: str, b: str) -> bool:
    """Atomically swap two local paths; False when the kernel or libc cannot."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    result = renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    return result == 0


def _swap_local(staged: str, target: str, aside: str) -> None:
    os.makedirs(os.path.dirname(target), exist_ok=True)
    if not os.path.exists(target):
        os.rename(staged, target)
        return
    if _exchange(staged, target):
        os.rename(staged, aside)  # ``staged`` now holds the old files
        return
    # No atomic exchange: move the old folder aside first; recover_staging() puts it back if
    # the process dies before the new one is in place.
    os.rename(target, aside)
    os.rename(staged, target)


def _swap_remote(staged: str, target: str, pattern: str = "*.parquet") -> None:
    new = sorted(match(join(staged, pattern)))
    old = match(join(target, pattern))
    names = [join(target, path.rsplit("/", 1)[-1]) for path in new]
    if new:
        FileSystems.rename(new, names)
    stale = [p for p in old if p not in names]
    if stale:
        FileSystems.delete(stale)


def commit(output: str, run_id: str, date: str, sinks: tuple[str, ...] = SINKS) -> dict[str, list[str]]:
    """Publish a finished run's partitions for ``date``; what earlier runs wrote there goes."""
    published: dict[str, list[str]] = {}
    for sink in sinks:
        staged = join(staging_dir(output, run_id), sink, f"date={date}")
        target = partition_dir(output, sink, date)
        if not FileSystems.exists(staged):
            FileSystems.mkdirs(staged)
        if is_local(output):
            _swap_local(staged, target, join(staging_dir(output, run_id), sink, f"old-date={date}"))
        else:
            _swap_remote(staged, target, FILE_PATTERNS[sink])
        published[sink] = sorted(match(join(target, FILE_PATTERNS[sink])))
    return published


def recover_staging(output: str, keep: str | None = None) -> list[str]:
    """Clean up after runs that died: restore partitions moved aside, delete their staging.

    Call only while holding the output's lock, so no live run's staging is touched.
    """
    removed = []
    root = join(output, STAGING)
    if not is_local(output):
        runs = {p.split(f"/{STAGING}/", 1)[1].split("/", 1)[0] for p in match(join(root, "*", "**"))}
    else:
        runs = set(os.listdir(root)) if os.path.isdir(root) else set()
    for run_id in sorted(runs - {keep}):
        run_dir = staging_dir(output, run_id)
        if is_local(output):
            for sink in (*SINKS, RAW):
                sink_dir = os.path.join(run_dir, sink)
                for name in os.listdir(sink_dir) if os.path.isdir(sink_dir) else []:
                    target = join(output, sink, name.removeprefix("old-"))
                    if name.startswith("old-date=") and not os.path.exists(target):
                        os.rename(os.path.join(sink_dir, name), target)
        FileSystems.delete([run_dir])
        removed.append(run_id)
    return removed


def discard(output: str, run_id: str) -> None:
    """Remove a run's staging folder (after commit, or after a failed run)."""
    staged = staging_dir(output, run_id)
    if FileSystems.exists(staged):
        FileSystems.delete([staged])
