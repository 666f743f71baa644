"""``newsbeam stream``: poll feeds continuously and write each new article exactly once.

The graph reuses every stage of ``run``; only the ends differ. A PeriodicImpulse drives the
polls, a stateful dedupe (seeded with the ids already in the output) replaces the batch
GroupByKey, and a stateful writer turns each window's rows into complete Parquet files in the
same ``articles/date=…`` and ``dead_letter/date=…`` partitions ``run`` uses.

Stopping: ``--duration`` ends the impulse, the last window is flushed and the pipeline finishes.
SIGINT/SIGTERM stop at once: files already written stay (each is complete: written aside, then
renamed), the window being collected is dropped, and its articles, not being in the output, are
fetched again by the next start.
"""

from __future__ import annotations

import datetime as dt
import signal
import time
from typing import NamedTuple

import apache_beam as beam
from apache_beam.options.pipeline_options import StandardOptions
from apache_beam.transforms.periodicsequence import PeriodicImpulse

from pipeline import output, state
from pipeline.config import RunConfig
from pipeline.run import config_hash, counters_of, newsbeam_version, pipeline_options
from transforms.canonicalize import CanonicalizeLinks
from transforms.clean import CleanArticles
from transforms.extract import ExtractArticles
from transforms.feeds import FetchFeeds
from transforms.fetch import FetchArticles
from transforms.language import DetectLanguage
from transforms.memory import HashContent, ReadMemory
from transforms.records import ARTICLE_SCHEMA, DEAD_LETTER_SCHEMA, FeedSpec, to_row
from transforms.stream import DedupeUnseen, WriteWindows
from transforms.topic import ClassifyTopics


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


def _memory_pair(item) -> tuple[str, str]:
    return item.id, item.date


def build_stream(p: beam.Pipeline, cfg: RunConfig, plan: StreamPlan) -> None:
    ticks = p | "Poll" >> PeriodicImpulse(plan.start, plan.stop, plan.poll_seconds)
    specs = ticks | "FeedsPerPoll" >> beam.FlatMap(lambda _, feeds: feeds, plan.feeds)
    entries, dead_feeds, _statuses = specs | "FetchFeeds" >> FetchFeeds(cfg.feed_fetch)
    keyed, dead_links = entries | "Canonicalize" >> CanonicalizeLinks()
    memory = p | "ReadMemory" >> ReadMemory(plan.memory) | "MemoryById" >> beam.Map(_memory_pair)
    unseen = (keyed, memory) | "DedupeUnseen" >> DedupeUnseen()
    pages, dead_fetch = unseen | "FetchArticles" >> FetchArticles(cfg.fetch)
    extracted, dead_extract = pages | "Extract" >> ExtractArticles(cfg.extract)
    cleaned, dead_clean = extracted | "Clean" >> CleanArticles(cfg.clean.rules)
    languaged, dead_language = cleaned | "DetectLanguage" >> DetectLanguage()
    classified, dead_topic = languaged | "ClassifyTopics" >> ClassifyTopics(cfg.topic.model)
    articles = classified | "HashContent" >> HashContent()
    dead = (
        dead_feeds, dead_links, dead_fetch, dead_extract, dead_clean, dead_language, dead_topic
    ) | "MergeDeadLetters" >> beam.Flatten()
    rows = articles | "ArticleRows" >> beam.Map(to_row)
    dead_rows = dead | "DeadRows" >> beam.Map(to_row)
    (rows, ticks) | "WriteArticles" >> WriteWindows(
        ARTICLE_SCHEMA, plan.articles_template, plan.tmp_dir, plan.window_seconds, "articles", "fetched_at")
    (dead_rows, ticks) | "WriteDeadLetters" >> WriteWindows(
        DEAD_LETTER_SCHEMA, plan.dead_template, plan.tmp_dir, plan.window_seconds, "dead_letter", "failed_at")


def _template(out: str, sink: str, stream_id: str) -> str:
    return output.join(out, sink, "date={date}", f"part-stream-{stream_id}-{{seq:06d}}.parquet")


class _Stop(Exception):
    """SIGTERM, turned into an exception the main thread can catch."""


def _raise_stop(signum, frame) -> None:
    raise _Stop(signal.Signals(signum).name)


def stream(cfg: RunConfig, out: str, poll_seconds: float, window_seconds: float,
           duration: float | None, beam_args: list[str]) -> dict:
    """Run until ``duration`` seconds have passed (None: until stopped); return a manifest."""
    stream_id = output.new_run_id()
    started = dt.datetime.now(dt.timezone.utc)
    lock = state.acquire_lock(out, stream_id, started)
    stopped_by = None
    result = None
    try:
        output.recover_staging(out, keep=stream_id)
        now = time.time()
        plan = StreamPlan(
            feeds=[f.to_spec() for f in cfg.feeds],
            memory=[output.join(output.partition_dir(out, "articles", d), "*.parquet")
                    for d in output.partition_dates(out)],
            start=now,
            # A far end stands in for "forever"; SIGINT/SIGTERM stop it.
            stop=now + (duration if duration is not None else 10 * 365 * 86400),
            poll_seconds=poll_seconds,
            window_seconds=window_seconds,
            articles_template=_template(out, "articles", stream_id),
            dead_template=_template(out, "dead_letter", stream_id),
            tmp_dir=output.staging_dir(out, stream_id),
        )
        options = pipeline_options(beam_args)
        options.view_as(StandardOptions).streaming = True
        p = beam.Pipeline(options=options)
        build_stream(p, cfg, plan)
        previous = signal.signal(signal.SIGTERM, _raise_stop)
        try:
            with state.Heartbeat(out, lock):
                result = p.run()
                result.wait_until_finish()
        except (KeyboardInterrupt, _Stop) as exc:
            stopped_by = str(exc) or "SIGINT"
            if result is not None:
                try:
                    result.cancel()
                except Exception:  # noqa: BLE001 - best effort: we are stopping anyway
                    pass
        finally:
            signal.signal(signal.SIGTERM, previous)
        counters = counters_of(result) if result is not None and stopped_by is None else {}
        manifest = {
            "run_id": stream_id,
            "date": started.date().isoformat(),
            "mode": "stream",
            "newsbeam_version": newsbeam_version(),
            "started_at": started.isoformat(),
            "finished_at": dt.datetime.now(dt.timezone.utc).isoformat(),
            "config_hash": config_hash(cfg),
            "stopped_by": stopped_by or ("duration" if duration is not None else None),
            "feeds": {"total": len(cfg.feeds)},
            "counters": {
                "written": counters.get("stream/articles_rows", 0),
                "duplicate": counters.get("stream/duplicate", 0),
                "dead_letter": counters.get("stream/dead_letter_rows", 0),
                "files": counters.get("stream/articles_files", 0),
            },
            "beam_counters": counters,
        }
        state.write_manifest(out, started.date().isoformat(), stream_id, manifest)
        return manifest
    finally:
        output.discard(out, stream_id)
        state.release_lock(out, stream_id)
