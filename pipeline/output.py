"""Where a run's files go, and how they replace a date's earlier files.

Layout (hive partitions, so pyarrow/duckdb/polars/Spark read ``date`` as a column)::

    DIR/articles/date=YYYY-MM-DD/part-<run_id>-00000-of-00001.parquet
    DIR/dead_letter/date=YYYY-MM-DD/part-<run_id>-00000-of-00001.parquet
    DIR/_staging/<run_id>/...          (only while a run is writing)

A run writes into its own staging folder; only after the pipeline succeeded are the files moved
into the partition and the partition's older files removed. A run that dies leaves the published
partitions as they were. All file operations go through Beam's FileSystems so the same code
works for local paths and object stores.
"""

from __future__ import annotations

import datetime as dt
import secrets

from apache_beam.io.filesystem import BeamIOError
from apache_beam.io.filesystems import FileSystems

SINKS = ("articles", "dead_letter")
STAGING = "_staging"


def new_run_id(now: dt.datetime | None = None) -> str:
    now = now or dt.datetime.now(dt.timezone.utc)
    return f"{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def partition_dir(output: str, sink: str, date: str) -> str:
    return FileSystems.join(output, sink, f"date={date}")


def staging_prefix(output: str, run_id: str, sink: str, date: str) -> str:
    """File prefix handed to the Parquet sink for one sink of one run."""
    return FileSystems.join(output, STAGING, run_id, sink, f"date={date}", f"part-{run_id}")


def _match(pattern: str) -> list[str]:
    try:
        return [m.path for m in FileSystems.match([pattern])[0].metadata_list]
    except BeamIOError:
        return []


def commit(output: str, run_id: str, date: str) -> dict[str, list[str]]:
    """Publish a finished run's staged files; drop what earlier runs wrote for the same date."""
    published: dict[str, list[str]] = {}
    for sink in SINKS:
        target = partition_dir(output, sink, date)
        staged_dir = FileSystems.join(output, STAGING, run_id, sink, f"date={date}")
        staged = sorted(_match(FileSystems.join(staged_dir, "*.parquet")))
        old = [p for p in _match(FileSystems.join(target, "*.parquet")) if run_id not in p]
        if not FileSystems.exists(target):
            FileSystems.mkdirs(target)
        names = [FileSystems.join(target, path.rsplit("/", 1)[-1]) for path in staged]
        if staged:
            FileSystems.rename(staged, names)
        if old:
            FileSystems.delete(old)
        published[sink] = names
    discard(output, run_id)
    return published


def discard(output: str, run_id: str) -> None:
    """Remove a run's staging folder (after commit, or after a failed run)."""
    staged = FileSystems.join(output, STAGING, run_id)
    if FileSystems.exists(staged):
        FileSystems.delete([staged])
