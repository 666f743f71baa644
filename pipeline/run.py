"""Run the batch pipeline once: lock, plan from the output's memory, execute, commit, record.

Order of a run (every step through Beam's FileSystems, so local and object-store outputs
behave alike):
1. take ``DIR/_lock.json`` (or fail with LockHeld), clean up after runs that died;
2. plan: which feeds (back-off), with which validators (conditional GET), which earlier
   partitions form the memory;
3. run the graph, writing into ``DIR/_staging/<run_id>/``;
4. commit: swap the date's partitions in, move feed bodies to the cache, save the feed state;
5. write the run manifest ``DIR/_runs/date=…/<run_id>.json``; release the lock.

The summary comes from Beam's counters, which every stage keeps under its own namespace, and
checks the accounting: every feed entry ends as written, duplicate, filtered or dead letter.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import dataclasses
import datetime as dt
import errno
import hashlib
import logging
import re
import signal
import threading
import time
from collections import Counter
from importlib import metadata
from typing import Any

import apache_beam as beam
import pyarrow as pa
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions, WorkerOptions

from pipeline import output, state
from pipeline.config import RunConfig
from pipeline.graph import ArchivePlan, RunPlan, build
from transforms.enrichment import language, topic
from transforms.text import clean
from transforms.text.extract import EXTRACT_MODULES
from transforms.fetching.inflight import start_forkserver
from transforms.storage.memory import apply_duplicates
from transforms.records import FeedStatus

# Dead letters of these stages are about a whole feed, not an entry of one.
FEED_STAGES = frozenset({"fetch_feed", "parse_feed"})
FEED_CACHE = "feed_cache"


@dataclasses.dataclass(frozen=True)
class RunSummary:
    run_id: str
    date: str
    output: str
    started_at: dt.datetime
    finished_at: dt.datetime
    seconds: float
    feeds: int
    feeds_ok: int
    feeds_failed: list[str]
    feeds_skipped: dict[str, str]
    entries: int
    written: int
    duplicate: int
    filtered: dict[str, int]
    dead_letter: dict[str, int]
    counters: dict[str, int]
    files: dict[str, list[str]]
    config_hash: str
    feed_errors: dict[str, str] = dataclasses.field(default_factory=dict)  # failed feed → why
    duplicate_of: int = 0  # rows written with duplicate_of set (the same text at another URL)

    @property
    def entry_dead_letters(self) -> int:
        return sum(n for stage, n in self.dead_letter.items() if stage not in FEED_STAGES)

    @property
    def balanced(self) -> bool:
        accounted = self.written + self.duplicate + sum(self.filtered.values()) + self.entry_dead_letters
        return accounted == self.entries

    @property
    def feed_failure_rate(self) -> float:
        attempted = self.feeds - len(self.feeds_skipped)
        return len(self.feeds_failed) / attempted if attempted else 0.0

    @property
    def entry_failure_rate(self) -> float:
        return self.entry_dead_letters / self.entries if self.entries else 0.0

    def lines(self) -> list[str]:
        dead = ", ".join(f"{s} {n}" for s, n in sorted(self.dead_letter.items())) or "none"
        filtered = ", ".join(f"{r} {n}" for r, n in sorted(self.filtered.items())) or "none"
        skipped = f" ({len(self.feeds_skipped)} held back after repeated failures)" if self.feeds_skipped else ""
        failed = [f"    failed       {url}: {self.feed_errors.get(url, 'failed')}" for url in sorted(self.feeds_failed)]
        held = [f"    held back    {url}: {why}; --retry-held-feeds fetches it now"
                for url, why in sorted(self.feeds_skipped.items())]
        return [
            f"newsbeam run {self.run_id} for {self.date} finished in {self.seconds:.1f}s",
            f"  feeds read     {self.feeds_ok}/{self.feeds}{skipped}",
            *failed,
            *held,
            f"  entries        {self.entries}",
            f"  written        {self.written}",
            f"  duplicates     {self.duplicate} not written again (already in the output), "
            f"{self.duplicate_of} written with duplicate_of (same text at another URL)",
            f"  filtered       {filtered}",
            f"  dead letters   {dead}",
            f"  output         {self.output}",
        ]

    def manifest(self, version: str) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "date": self.date,
            "newsbeam_version": version,
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat(),
            "seconds": round(self.seconds, 3),
            "config_hash": self.config_hash,
            "feeds": {"total": self.feeds, "ok": self.feeds_ok, "failed": sorted(self.feeds_failed),
                      "failed_reasons": self.feed_errors, "skipped": self.feeds_skipped},
            "counters": {
                "entries": self.entries,
                "written": self.written,
                "duplicate": self.duplicate,
                "duplicate_of": self.duplicate_of,
                "filtered": sum(self.filtered.values()),
                "filtered_reasons": self.filtered,
                "dead_letter": self.entry_dead_letters,
                "dead_letter_stages": self.dead_letter,
            },
            "balanced": self.balanced,
            "files": self.files,
            "beam_counters": self.counters,
        }


def counters_of(result: Any) -> dict[str, int]:
    """All committed counters as ``namespace/name`` → value, summed over steps."""
    totals: Counter[str] = Counter()
    for metric in result.metrics().query(MetricsFilter())["counters"]:
        key = f"{metric.key.metric.namespace}/{metric.key.metric.name}"
        value = metric.committed if metric.committed is not None else metric.attempted
        totals[key] += int(value or 0)
    return dict(totals)


def config_hash(cfg: RunConfig) -> str:
    return hashlib.sha256(cfg.model_dump_json().encode("utf-8")).hexdigest()[:16]


def newsbeam_version() -> str:
    try:
        return metadata.version("newsbeam")
    except metadata.PackageNotFoundError:
        return "unknown"


_M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter number
_MMAP_THRESHOLD = 128 * 1024


def limit_heap_growth() -> bool:
    """Serve every allocation of 128 KiB or more from its own mapping (glibc only; True if set),
    and let pyarrow allocate through the same malloc.

    glibc raises its mmap threshold each time a large block is freed, so after the first pages
    the 100-300 KB page bodies, which fetch threads allocate and other threads free, land in the
    threads' heaps and leave holes the heaps rarely give back. A fixed threshold returns each
    body to the system when it is freed (setting it also turns the raising off). pyarrow's own
    pool (mimalloc) keeps the Parquet writer's freed buffers; through malloc, those of 128 KiB
    and more go back too. Peak RSS of the pipeline's process at N = 2,000-3,000, side by side:
    ~475 -> ~400 MB for the threshold, ~420 -> ~370 MB for the pool (BENCHMARKS.md).
    """
    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        libc = ctypes.CDLL(name)
        if not libc.mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD):
            return False
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to tune
        return False
    pa.set_memory_pool(pa.system_memory_pool())
    return True


def pipeline_options(beam_args: list[str]) -> PipelineOptions:
    options = PipelineOptions(beam_args)
    standard = options.view_as(StandardOptions)
    if not standard.runner:
        # DirectRunner would try Prism first for some graphs; ours uses exception handling,
        # which routes it straight to the in-process Python runner (no download, offline-safe).
        standard.runner = "DirectRunner"
    harness = options.view_as(WorkerOptions)
    if harness.default_sdk_harness_log_level is None:
        # SDK worker processes (multi-processing mode, remote runners) log every HTTP request at
        # INFO otherwise: thousands of lines, and measurable CPU, per run.
        harness.default_sdk_harness_log_level = "WARNING"
    return options


def _mark_duplicates(plan: RunPlan) -> int:
    """Set duplicate_of in the staged article files, before they are published; the number of
    rows set (every pair names an article this run wrote)."""
    duplicates = {
        row["id"]: row["duplicate_of"] for row in output.json_lines(f"{plan.duplicates_prefix}*.jsonl")
    }
    if duplicates:
        for path in output.match(f"{plan.articles_prefix}*.parquet"):
            apply_duplicates(path, duplicates)
    return len(duplicates)


# XML parsers say where as "<unknown>:LINE:COLUMN: what"; people read "what at line LINE".
_EXPAT_WHERE = re.compile(r"^<unknown>:(\d+):(\d+): (.*)$")


def feed_errors(dead_files: list[str]) -> dict[str, str]:
    """Failed feed → its reason (``http_error 404``, ``not_a_feed: …``), from the dead letters of
    the feed stages a run wrote."""
    import pyarrow.parquet as pq

    reasons: dict[str, str] = {}
    for path in dead_files:
        with FileSystems.open(path) as handle:
            table = pq.read_table(handle, columns=["stage", "feed_url", "error_type", "error_message", "http_status"])
        for row in table.to_pylist():
            if row["stage"] not in FEED_STAGES or row["feed_url"] in reasons:
                continue
            if row["error_type"] == "http_error" and row["http_status"] is not None:
                reasons[row["feed_url"]] = f"http_error {row['http_status']}"
            else:
                message = " ".join(str(row["error_message"] or "").split())
                message = message.removeprefix(row["error_type"].replace("_", " ") + ": ")
                message = _EXPAT_WHERE.sub(r"\3 at line \1", message)
                reasons[row["feed_url"]] = f"{row['error_type']}: {message}" if message else row["error_type"]
    return reasons


def _read_statuses(prefix: str) -> list[FeedStatus]:
    return [FeedStatus(**row) for row in output.json_lines(f"{prefix}*.jsonl")]


def _publish_feed_cache(out: str, run_id: str) -> None:
    staged = output.join(output.staging_dir(out, run_id), FEED_CACHE)
    target = output.join(out, output.STATE, FEED_CACHE)
    files = [m.path for m in FileSystems.match([output.join(staged, "*.body")])[0].metadata_list]
    if not files:
        return
    if not FileSystems.exists(target):
        FileSystems.mkdirs(target)
    names = [output.join(target, f.rsplit("/", 1)[-1]) for f in files]
    existing = [n for n in names if FileSystems.exists(n)]
    if existing:
        FileSystems.delete(existing)
    FileSystems.rename(files, names)


def summarize(
    counters: dict[str, int], run_id: str, date: str, out: str, started: dt.datetime,
    seconds: float, files: dict[str, list[str]], feeds: int, statuses: list[FeedStatus],
    skipped: dict[str, str], cfg_hash: str, errors: dict[str, str] | None = None, duplicate_of: int = 0,
) -> RunSummary:
    filtered: Counter[str] = Counter()
    dead: Counter[str] = Counter()
    for key, value in counters.items():
        namespace, name = key.split("/", 1)
        if name.startswith("filtered:") and value:
            filtered[name.removeprefix("filtered:")] += value
        if namespace == "write" and name.startswith("dead_letter:") and value:
            dead[name.removeprefix("dead_letter:")] += value
    return RunSummary(
        run_id=run_id, date=date, output=out, started_at=started,
        finished_at=dt.datetime.now(dt.timezone.utc), seconds=seconds, feeds=feeds,
        feeds_ok=sum(1 for s in statuses if s.outcome != "failed"),
        feeds_failed=[s.feed_url for s in statuses if s.outcome == "failed"],
        feeds_skipped=skipped,
        entries=counters.get("feeds/entries", 0),
        written=counters.get("write/articles", 0),
        duplicate=counters.get("canonicalize/duplicate", 0) + counters.get("memory/seen_earlier", 0),
        filtered=dict(filtered), dead_letter=dict(dead), counters=counters, files=files,
        config_hash=cfg_hash, feed_errors=errors or {}, duplicate_of=duplicate_of,
    )


# errno values that say the file system refused, not that the code is wrong.
_FILE_SYSTEM_ERRORS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM,
                                 errno.EIO, errno.ENOTDIR, errno.EISDIR, errno.ENAMETOOLONG})


def file_system_error(exc: BaseException) -> OSError | None:
    """The file-system OSError behind ``exc``, if any: Beam re-raises what a step raised as a
    RuntimeError naming the step, chained to the original."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno in _FILE_SYSTEM_ERRORS:
            return exc
        exc = exc.__cause__ or exc.__context__
    return None


class Interrupted(Exception):
    """SIGINT or SIGTERM arrived; the run stopped and published nothing."""


@contextlib.contextmanager
def stop_on_sigterm():
    """Turn SIGINT (Ctrl-C) and SIGTERM (what schedulers and container runtimes send) into
    Interrupted, so both unwind the same way: staging discarded, lock released, no traceback.

    The signal interrupts whatever runs in the main thread, often a DoFn, and Beam wraps what a
    DoFn raises into its own error (and logs it); so the handler remembers the signal, silences
    Beam's logger, and whatever comes out of the block then becomes Interrupted. Signals after
    the first are ignored while the run unwinds."""
    stopped: list[str] = []

    def _raise(signum, _frame):
        if stopped:
            return
        stopped.append(signal.Signals(signum).name)
        logging.getLogger("apache_beam").setLevel(logging.CRITICAL + 1)
        raise Interrupted(stopped[0])

    main = threading.current_thread() is threading.main_thread()
    previous = {sig: signal.signal(sig, _raise) for sig in (signal.SIGINT, signal.SIGTERM)} if main else {}
    try:
        yield
    except BaseException as exc:
        if stopped or isinstance(exc, KeyboardInterrupt):
            raise Interrupted(stopped[0] if stopped else "SIGINT") from None
        raise
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextlib.contextmanager
def signals_deferred():
    """SIGINT and SIGTERM wait while a finished run publishes (a few renames): stopped half-way,
    some partitions would be new and others old. A signal then is ignored: the run completes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def prepare_process(cfg: RunConfig) -> None:
    """Before a batch graph is built: cap heap growth, and start loading the language model
    (if the CLI has not already) and the extraction processes' forkserver, which imports their
    modules in a process of its own, so that these happen while the graph is built."""
    limit_heap_growth()
    language.preload()
    if cfg.extract.processes:
        start_forkserver(("pipeline.worker_logging", *EXTRACT_MODULES))


def warm_stages(cfg: RunConfig) -> None:
    """Once the graph is built: load the topic model's compiled kernel and compile the
    cleaning rules on threads, while the runner plans the stages and reads the feeds. Both
    hold the interpreter most of the time; started before the graph, they made building it
    take 2.2 s instead of 0.5 (issue 23, BENCHMARKS.md)."""
    topic.preload(cfg.topic.model)
    clean.preload(cfg.clean.rules)


def run_staged(p: beam.Pipeline, out: str, lock: Any, run_id: str) -> Any:
    """Run the pipeline to the end under the output's lock heartbeat, SIGTERM stopping it; on
    any failure the run's staging area is discarded, and a file-system cause (full disk,
    read-only) is raised alone so that the CLI can say it in one line."""
    try:
        with state.Heartbeat(out, lock), stop_on_sigterm():
            result = p.run()
            result.wait_until_finish()
    except BaseException as exc:
        output.discard(out, run_id)
        cause = file_system_error(exc)
        if cause is not None:
            raise cause from None
        raise
    return result


def archive_plan(out: str, run_id: str, date: str) -> ArchivePlan:
    """The WARC files of a run: staged beside its Parquet, published with them."""
    staged = output.staging_dir(out, run_id)
    return ArchivePlan(
        directory=output.join(staged, output.RAW, f"date={date}"),
        prefix=f"part-{run_id}",
        temp_directory=output.join(staged, "_tmp_raw"),
    )


def run(cfg: RunConfig, out: str, date: str, beam_args: list[str]) -> RunSummary:
    """Execute one batch run for ``date`` and publish its files under ``out``.

    Raises state.LockHeld when another run is active on ``out``.
    """
    run_id = output.new_run_id()
    started = dt.datetime.now(dt.timezone.utc)
    clock = time.monotonic()
    lock = state.acquire_lock(out, run_id, started)
    try:
        output.recover_staging(out, keep=run_id)
        feed_state = state.load_feed_state(out)
        plan_feeds = state.plan_feeds(
            [f.to_spec() for f in cfg.feeds], feed_state, started, cfg.state.full_fetch_hours,
            cfg.state.backoff_after_failures, cfg.state.backoff_max_days,
            output.join(out, output.STATE, FEED_CACHE),
        )
        staged = output.staging_dir(out, run_id)
        plan = RunPlan(
            date=date,
            feeds=plan_feeds.specs,
            memory=output.other_article_files(out, date),
            articles_prefix=output.staging_prefix(out, run_id, "articles", date),
            dead_prefix=output.staging_prefix(out, run_id, "dead_letter", date),
            status_prefix=output.join(staged, "feed_status"),
            duplicates_prefix=output.join(staged, "duplicates"),
            feed_cache_dir=output.join(staged, FEED_CACHE),
            archive=archive_plan(out, run_id, date) if cfg.archive else None,
        )
        prepare_process(cfg)
        p = beam.Pipeline(options=pipeline_options(beam_args))
        build(p, cfg, plan)
        warm_stages(cfg)
        result = run_staged(p, out, lock, run_id)
        statuses = _read_statuses(plan.status_prefix)
        marked = _mark_duplicates(plan)
        with signals_deferred():  # publishing is not interrupted half-way
            sinks = (*output.SINKS, output.RAW) if cfg.archive else output.SINKS
            files = output.commit(out, run_id, date, sinks)
            _publish_feed_cache(out, run_id)
            state.save_feed_state(out, state.update_feed_state(feed_state, statuses, started))
            output.discard(out, run_id)
            summary = summarize(
                counters_of(result), run_id, date, out, started, time.monotonic() - clock, files,
                len(cfg.feeds), statuses, plan_feeds.skipped, config_hash(cfg),
                feed_errors(files.get("dead_letter", [])) if any(s.outcome == "failed" for s in statuses) else {},
                marked,
            )
            state.write_manifest(out, date, run_id, summary.manifest(newsbeam_version()))
    finally:
        state.release_lock(out, run_id)
    if not summary.balanced:
        logging.getLogger(__name__).warning("entry accounting does not add up: %s", summary.manifest(""))
    return summary
