"""Pieces of the streaming pipeline: the poll clock, dedupe across polls, windowed file writing.

``PollTicks``: the poll clock for Beam's local runner, a ``PeriodicImpulse`` that waits for its
next tick instead of asking the runner to call back later (see the class for why).

``DedupeUnseen``: ``(id, FeedEntry)`` → entries whose id has not been seen in this stream nor
written by an earlier run (the ``memory`` side input: id → date). Ids are spread over
``DEDUPE_BUCKETS`` keys; the state of a bucket maps each id to when it was first seen, and an id
older than ``ttl_seconds`` counts as new again and is dropped from the state the next time its
bucket is touched (feeds drop items within days, so a week is plenty): the state of a stream
that runs for months holds about a week of ids, not every id it ever saw. Counters
``stream/duplicate``, ``stream/new``.

``WriteWindows``: rows → Parquet files, one per date and window (on the DirectRunner: per bundle,
see below). A stateful writer buffers rows
and, when a row or a poll's heartbeat arrives after the current window (``window_seconds`` of
wall-clock time) is over, writes the buffered rows to a temporary file and renames it into place,
so readers only ever see complete files. The date partition of a row is the UTC date of its
``date_column`` (``fetched_at``, ``failed_at``). At the end of a bounded stream (``--duration``)
a timer flushes the rest. Windows follow the wall clock, not element timestamps: batching steps
give their output the end-of-window timestamp, which says nothing about when a row arrived. Buffering in state rather than in a windowed GroupByKey keeps files flowing on runners
whose watermark does not advance while a PeriodicImpulse runs (Beam's Python DirectRunner holds
it until the source ends); on Dataflow and Flink it behaves the same.

A retried flush writes the same file name again (the sequence number lives in state), so a
retry replaces a file instead of adding a second copy.
"""

from __future__ import annotations

import datetime as dt
import os
import time
import uuid
import zlib
from collections.abc import Iterator
from typing import Any

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.coders import PickleCoder, VarIntCoder
from apache_beam.io.filesystems import FileSystems
from apache_beam.io.watermark_estimators import ManualWatermarkEstimator
from apache_beam.transforms.periodicsequence import (
    ImpulseSeqGenDoFn,
    ImpulseSeqGenRestrictionProvider,
)
from apache_beam.transforms.timeutil import TimeDomain
from apache_beam.transforms.userstate import (
    BagStateSpec,
    ReadModifyWriteStateSpec,
    TimerSpec,
    on_timer,
)
from apache_beam.utils.timestamp import MAX_TIMESTAMP, Timestamp

from transforms.records import FeedEntry

HEARTBEAT = "__heartbeat__"


# Keys the dedupe state is spread over: enough for a distributed runner to share the work,
# few enough that each bucket's expired ids are found again and dropped.
DEDUPE_BUCKETS = 256


class _WaitingTicksFn(ImpulseSeqGenDoFn):
    """``PeriodicImpulse``'s generator, sleeping until its next tick is due.

    ``PeriodicImpulse`` defers the rest of its range to the next tick and expects the runner to
    call back then. Beam's local runner (FnApiRunner, which the DirectRunner picks for this graph)
    ignores the requested delay and calls back at once: it spins through ~150 empty bundles a
    second, ~40 % of a core, and its per-bundle bookkeeping grows with wall time instead of
    polls (see ``pipeline/local_runner.py``). Sleeping here, at the start of the bundle after a
    poll's bundle, costs nothing: that poll's work has already run downstream (the runner
    queues bundles in order) and there is nothing else to do until the next tick.

    A poll that took longer than the interval leaves several ticks due at once; they become one
    poll, not a burst of polls of the same feeds (counter ``stream/polls_skipped``).
    """

    @beam.DoFn.unbounded_per_element()
    def process(
        self,
        element: tuple[float, float, float],
        restriction_tracker=beam.DoFn.RestrictionParam(ImpulseSeqGenRestrictionProvider()),
        watermark_estimator=beam.DoFn.WatermarkEstimatorParam(
            ManualWatermarkEstimator.default_provider()
        ),
    ) -> Iterator[Any]:
        start, _, interval = element
        if isinstance(start, Timestamp):
            start = start.micros / 1e6
        due = start + interval * restriction_tracker.current_restriction().start
        wait = due - time.time()
        if wait > 0:
            time.sleep(wait)
        due_ticks = list(super().process(element, restriction_tracker, watermark_estimator))
        if len(due_ticks) > 1:
            beam.metrics.Metrics.counter("stream", "polls_skipped").inc(len(due_ticks) - 1)
        yield from due_ticks[-1:]


class PollTicks(beam.PTransform):
    """One element per ``interval`` seconds from ``start`` until ``stop`` (epoch seconds), for
    the local runner; the same elements and timestamps as ``PeriodicImpulse``."""

    def __init__(self, start: float, stop: float, interval: float) -> None:
        super().__init__()
        self._range = (start, stop, interval)

    def expand(self, pbegin):
        return (
            pbegin
            | "TickRange" >> beam.Create([self._range])
            | "Tick" >> beam.ParDo(_WaitingTicksFn())
        )


def _bucket(keyed: tuple[str, FeedEntry]) -> tuple[int, tuple[str, FeedEntry]]:
    return zlib.crc32(keyed[0].encode("utf-8")) % DEDUPE_BUCKETS, keyed


def remember(
    known: dict[str, int], entry_id: str, now: int, ttl_seconds: int
) -> tuple[bool, dict[str, int]]:
    """Whether ``entry_id`` is new, and the bucket's ids after seeing it: ids first seen
    ``ttl_seconds`` or more before ``now`` are gone (and count as new again)."""
    live = {i: first for i, first in known.items() if now - first < ttl_seconds}
    if entry_id in live:
        return False, live
    live[entry_id] = now
    return True, live


class _DedupeFn(beam.DoFn):
    # id → when it was first seen (epoch seconds), for the ids of one bucket. Expiry is checked
    # on read, not by a timer: watermark timers fire early on the DirectRunner's streaming mode
    # and would let repeats in, and processing-time timers send the graph to a slower runner.
    SEEN = ReadModifyWriteStateSpec("seen", PickleCoder())

    def __init__(self, ttl_seconds: int) -> None:
        self._ttl = ttl_seconds

    def process(
        self,
        bucketed: tuple[int, tuple[str, FeedEntry]],
        memory: dict[str, str],
        seen=beam.DoFn.StateParam(SEEN),
    ) -> Iterator[FeedEntry]:
        _, (entry_id, entry) = bucketed
        known = seen.read() or {}
        new, live = remember(known, entry_id, int(time.time()), self._ttl)
        if new and entry_id in memory:  # written by an earlier run: never new
            new = False
            del live[entry_id]
        if live != known:
            seen.write(live)
        if not new:
            beam.metrics.Metrics.counter("stream", "duplicate").inc()
            return
        beam.metrics.Metrics.counter("stream", "new").inc()
        yield entry


class DedupeUnseen(beam.PTransform):
    def __init__(self, ttl_seconds: int = 7 * 24 * 3600) -> None:
        super().__init__()
        self._ttl = ttl_seconds

    def expand(self, keyed_and_memory):
        keyed, memory = keyed_and_memory
        return (
            keyed
            | "ByBucket" >> beam.Map(_bucket)
            | "DedupeById" >> beam.ParDo(_DedupeFn(self._ttl), beam.pvalue.AsDict(memory))
        )


def _date_of(value: dt.datetime) -> str:
    return value.astimezone(dt.timezone.utc).date().isoformat()


def write_parquet_atomically(
    rows: list[dict[str, Any]], schema: pa.Schema, final: str, tmp_dir: str
) -> None:
    """Write ``rows`` to ``tmp_dir`` and rename to ``final``: a reader sees all of it or nothing."""
    table = pa.Table.from_pylist(rows, schema=schema)
    tmp = FileSystems.join(tmp_dir, f"{uuid.uuid4().hex}.parquet")
    if "://" not in tmp:  # object stores have no folders to make
        os.makedirs(tmp_dir, exist_ok=True)
        os.makedirs(os.path.dirname(final), exist_ok=True)
    with FileSystems.create(tmp) as handle:
        pq.write_table(table, handle, compression="zstd")
    if FileSystems.exists(final):
        FileSystems.delete([final])
    FileSystems.rename([tmp], [final])


class _WindowWriterFn(beam.DoFn):
    ROWS = BagStateSpec("rows", PickleCoder())
    WINDOW_END = ReadModifyWriteStateSpec("window_end", PickleCoder())
    SEQ = ReadModifyWriteStateSpec("seq", VarIntCoder())
    FINAL = TimerSpec("final", TimeDomain.WATERMARK)

    def __init__(
        self,
        schema: pa.Schema,
        path_template: str,
        tmp_dir: str,
        window_seconds: float,
        counter: str,
        date_column: str,
    ) -> None:
        self._date_column = date_column
        self._schema = schema
        self._path_template = path_template
        self._tmp_dir = tmp_dir
        self._window = window_seconds
        self._counter = counter

    def _flush(self, rows_state, seq_state) -> Iterator[str]:
        rows = list(rows_state.read())
        rows_state.clear()
        if not rows:
            return
        seq = seq_state.read() or 0
        by_date: dict[str, list[dict[str, Any]]] = {}
        for row in rows:
            by_date.setdefault(_date_of(row[self._date_column]), []).append(row)
        for date, date_rows in sorted(by_date.items()):
            final = self._path_template.format(date=date, seq=seq)
            write_parquet_atomically(date_rows, self._schema, final, self._tmp_dir)
            beam.metrics.Metrics.counter("stream", f"{self._counter}_rows").inc(len(date_rows))
            beam.metrics.Metrics.counter("stream", f"{self._counter}_files").inc()
            yield final
        seq_state.write(seq + 1)

    def process(
        self,
        keyed: tuple[str, Any],
        rows=beam.DoFn.StateParam(ROWS),
        window_end=beam.DoFn.StateParam(WINDOW_END),
        seq=beam.DoFn.StateParam(SEQ),
        final=beam.DoFn.TimerParam(FINAL),
    ) -> Iterator[str]:
        _, value = keyed
        now = time.time()
        end = window_end.read()
        # Flush whatever is left when a bounded stream ends. (The Python DirectRunner fires this
        # timer as soon as the bundle is done, so there every bundle becomes a file at once.)
        final.set(MAX_TIMESTAMP - 1)
        if end is None:
            end = (now // self._window + 1) * self._window
            window_end.write(end)
        if now >= end:
            yield from self._flush(rows, seq)
            window_end.write((now // self._window + 1) * self._window)
        if not (isinstance(value, str) and value == HEARTBEAT):
            rows.add(value)

    @on_timer(FINAL)
    def _final(
        self, rows=beam.DoFn.StateParam(ROWS), seq=beam.DoFn.StateParam(SEQ)
    ) -> Iterator[str]:
        yield from self._flush(rows, seq)


class WriteWindows(beam.PTransform):
    """rows → names of the files written; ``heartbeats`` (a PCollection, or None) flush windows.

    ``path_template`` names a file from ``{date}`` and ``{seq}``, e.g.
    ``out/articles/date={date}/part-stream-abc-{seq:06d}.parquet``.
    """

    def __init__(
        self,
        schema: pa.Schema,
        path_template: str,
        tmp_dir: str,
        window_seconds: float,
        name: str,
        date_column: str,
        heartbeats=None,
    ) -> None:
        super().__init__()
        self._args = (schema, path_template, tmp_dir, window_seconds, name, date_column)
        self._name = name
        self._heartbeats = heartbeats

    def expand(self, rows):
        keyed = rows | "KeyRows" >> beam.Map(lambda row, key: (key, row), self._name)
        if self._heartbeats is not None:
            # Heartbeats flush a window in quiet periods. Without them (the DirectRunner, where a
            # Flatten of unbounded inputs holds everything until the stream ends) the writer's
            # end-of-bundle timer does that job.
            beats = self._heartbeats | "KeyBeats" >> beam.Map(
                lambda _, key: (key, HEARTBEAT), self._name
            )
            keyed = (keyed, beats) | "Merge" >> beam.Flatten()
        return keyed | "Write" >> beam.ParDo(_WindowWriterFn(*self._args))
