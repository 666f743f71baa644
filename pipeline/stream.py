"""``newsbeam stream``: poll feeds continuously and write each new article exactly once.

The graph reuses every stage of ``run``; only the ends differ. A PeriodicImpulse drives the
polls, a stateful dedupe (seeded with the ids already in the output) replaces the batch
GroupByKey, and a stateful writer turns each window's rows into complete Parquet files in the
same ``articles/date=…`` and ``dead_letter/date=…`` partitions ``run`` uses.

On Beam's local runner the poll clock is ``PollTicks`` (it waits for the next poll instead of
spinning) and the runner consolidates counters after every bundle (``local_runner``): a stream's
cost and memory follow its polls, not the wall clock or the number of bundles.

Stopping: ``--duration`` ends the impulse, the last window is flushed and the pipeline finishes.
SIGINT/SIGTERM stop at once: files already written stay (each is complete: written aside, then
renamed), the window being collected is dropped, and its articles, not being in the output, are
fetched again by the next start.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import sys
import time
from typing import NamedTuple

import apache_beam as beam
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import StandardOptions
from apache_beam.transforms.periodicsequence import PeriodicImpulse

from pipeline import output, state
from pipeline.config import RunConfig
from pipeline.graph import enrich
from pipeline.local_runner import flat_bundle_metrics
from pipeline.run import (
    config_hash,
    counters_of,
    limit_heap_growth,
    newsbeam_version,
    pipeline_options,
)
from transforms.sources.canonicalize import CanonicalizeLinks
from transforms.text.extract import EXTRACT_MODULES
from transforms.sources.feeds import FetchFeeds
from transforms.storage.archive import WriteArchiveBundles
from transforms.storage.memory import HashContent, ReadMemory
from transforms.records import ARTICLE_SCHEMA, DEAD_LETTER_SCHEMA, FeedSpec, to_row
from transforms.fetching.inflight import start_forkserver
from transforms.stream import DedupeUnseen, PollTicks, WriteWindows


class StreamPlan(NamedTuple):
    feeds: list[FeedSpec]
    memory: list[str]  # file patterns of every article partition
    start: float
    stop: float
    poll_seconds: float
    window_seconds: float
    articles_template: str
    dead_template: str
    tmp_dir: str
    # Reshuffles spread work over workers and heartbeats keep windows flowing, but on the Python
    # DirectRunner a streaming GroupByKey or Flatten holds everything until the source ends;
    # there both are left out (and dead letters, which are merged with a Flatten, arrive at the end).
    spread: bool
    raw_template: str | None = None  # WARC files of every answer (archive: true); None: none


def _memory_pair(item) -> tuple[str, str]:
    return item.id, item.date


def build_stream(p: beam.Pipeline, cfg: RunConfig, plan: StreamPlan) -> None:
    clock = PeriodicImpulse if plan.spread else PollTicks
    ticks = p | "Poll" >> clock(plan.start, plan.stop, plan.poll_seconds)
    specs = ticks | "FeedsPerPoll" >> beam.FlatMap(lambda _, feeds: feeds, plan.feeds)
    entries, dead_feeds, _statuses = specs | "FetchFeeds" >> FetchFeeds(cfg.feed_fetch, spread=plan.spread)
    keyed, dead_links = entries | "Canonicalize" >> CanonicalizeLinks()
    memory = p | "ReadMemory" >> ReadMemory(plan.memory) | "MemoryById" >> beam.Map(_memory_pair)
    unseen = (keyed, memory) | "DedupeUnseen" >> DedupeUnseen()
    archive = WriteArchiveBundles(plan.raw_template, plan.tmp_dir) if plan.raw_template else None
    classified, dead_stages = enrich(unseen, cfg, spread=plan.spread, archive=archive)
    articles = classified | "HashContent" >> HashContent()
    dead = (dead_feeds, dead_links, *dead_stages) | "MergeDeadLetters" >> beam.Flatten()
    rows = articles | "ArticleRows" >> beam.Map(to_row)
    dead_rows = dead | "DeadRows" >> beam.Map(to_row)
    beats = ticks if plan.spread else None
    rows | "WriteArticles" >> WriteWindows(
        ARTICLE_SCHEMA, plan.articles_template, plan.tmp_dir, plan.window_seconds, "articles",
        "fetched_at", beats)
    dead_rows | "WriteDeadLetters" >> WriteWindows(
        DEAD_LETTER_SCHEMA, plan.dead_template, plan.tmp_dir, plan.window_seconds, "dead_letter",
        "failed_at", beats)


def _template(out: str, sink: str, stream_id: str) -> str:
    return output.join(out, sink, "date={date}", f"part-stream-{stream_id}-{{seq:06d}}.parquet")


def _direct(beam_args: list[str]) -> bool:
    runner = pipeline_options(beam_args).view_as(StandardOptions).runner or "DirectRunner"
    return runner.rsplit(".", 1)[-1] in ("DirectRunner", "BundleBasedDirectRunner", "SwitchingDirectRunner")


def _manifest(cfg: RunConfig, stream_id: str, started: dt.datetime, stopped_by: str | None,
              counters: dict[str, int]) -> dict:
    return {
        "run_id": stream_id,
        "date": started.date().isoformat(),
        "mode": "stream",
        "newsbeam_version": newsbeam_version(),
        "started_at": started.isoformat(),
        "finished_at": dt.datetime.now(dt.timezone.utc).isoformat(),
        "config_hash": config_hash(cfg),
        "stopped_by": stopped_by,
        "feeds": {"total": len(cfg.feeds)},
        "counters": {
            "written": counters.get("stream/articles_rows", 0),
            "duplicate": counters.get("stream/duplicate", 0),
            "dead_letter": counters.get("stream/dead_letter_rows", 0),
            "files": counters.get("stream/articles_files", 0),
        },
        "beam_counters": counters,
    }


def _stop_handler(cfg: RunConfig, out: str, stream_id: str, started: dt.datetime):
    """A SIGINT/SIGTERM handler that ends the process cleanly from wherever it interrupts.

    The local runner executes the stream on the main thread and swallows exceptions raised
    inside it, so the handler does the shutdown itself: the files already published are complete
    (each one is written aside and renamed), so it records the manifest (its counts read from
    those files' footers: Beam's counters are out of reach here), drops this stream's staging
    folder (a half-written temporary file at most), releases the lock and exits 0.
    """

    def stop(signum, _frame) -> None:
        name = signal.Signals(signum).name
        try:
            articles = _published(out, "articles", stream_id)
            counts = {
                "stream/articles_files": len(articles),
                "stream/articles_rows": sum(_rows(path) for path in articles),
                "stream/dead_letter_rows": sum(
                    _rows(path) for path in _published(out, "dead_letter", stream_id)),
            }
            manifest = _manifest(cfg, stream_id, started, name, counts)
            state.write_manifest(out, started.date().isoformat(), stream_id, manifest)
            output.discard(out, stream_id)
            state.release_lock(out, stream_id)
            print(f"stream {stream_id} stopped by {name}: {counts['stream/articles_rows']} "
                  f"articles in {len(articles)} files", flush=True)
        finally:
            sys.stderr.flush()
            os._exit(0)

    return stop


def _published(out: str, sink: str, stream_id: str) -> list[str]:
    pattern = output.join(out, sink, "date=*", f"part-stream-{stream_id}-*.parquet")
    return [m.path for m in FileSystems.match([pattern])[0].metadata_list]


def _rows(path: str) -> int:
    with FileSystems.open(path) as handle:
        return pq.read_metadata(handle).num_rows


def stream(cfg: RunConfig, out: str, poll_seconds: float, window_seconds: float,
           duration: float | None, beam_args: list[str]) -> dict:
    """Run until ``duration`` seconds have passed (None: until stopped); return a manifest."""
    stream_id = output.new_run_id()
    started = dt.datetime.now(dt.timezone.utc)
    lock = state.acquire_lock(out, stream_id, started)
    try:
        output.recover_staging(out, keep=stream_id)
        now = time.time()
        plan = StreamPlan(
            feeds=[f.to_spec() for f in cfg.feeds],
            memory=output.article_files(out),
            start=now,
            # A far end stands in for "forever"; SIGINT/SIGTERM stop it.
            stop=now + (duration if duration is not None else 10 * 365 * 86400),
            poll_seconds=poll_seconds,
            window_seconds=window_seconds,
            articles_template=_template(out, "articles", stream_id),
            dead_template=_template(out, "dead_letter", stream_id),
            tmp_dir=output.staging_dir(out, stream_id),
            spread=not _direct(beam_args),
            raw_template=output.join(out, output.RAW, "date={date}", f"part-stream-{stream_id}-{{uid}}.warc.gz")
            if cfg.archive else None,
        )
        # A stream runs for days: the heap must not keep the holes of every page it fetched.
        limit_heap_growth()
        if cfg.extract.processes:
            start_forkserver(EXTRACT_MODULES)
        options = pipeline_options(beam_args)
        options.view_as(StandardOptions).streaming = True
        p = beam.Pipeline(options=options)
        build_stream(p, cfg, plan)
        handler = _stop_handler(cfg, out, stream_id, started)
        previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            with state.Heartbeat(out, lock), flat_bundle_metrics():
                result = p.run()
                result.wait_until_finish()
        finally:
            for sig, old in previous.items():
                signal.signal(sig, old)
        manifest = _manifest(cfg, stream_id, started, "duration" if duration is not None else None,
                             counters_of(result))
        state.write_manifest(out, started.date().isoformat(), stream_id, manifest)
        return manifest
    finally:
        output.discard(out, stream_id)
        state.release_lock(out, stream_id)
