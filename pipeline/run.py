"""Run the batch pipeline once: build, execute, publish the files, summarize.

The summary comes from Beam's counters, which every stage keeps under its own namespace. It
checks the accounting: every feed entry ends as written, duplicate, filtered or dead letter.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections import Counter
from typing import Any

import apache_beam as beam
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

from pipeline import output
from pipeline.config import RunConfig
from pipeline.graph import build

# Dead letters of these stages are about a whole feed, not an entry of one.
FEED_STAGES = frozenset({"fetch_feed", "parse_feed"})


@dataclasses.dataclass(frozen=True)
class RunSummary:
    run_id: str
    date: str
    output: str
    seconds: float
    feeds: int
    feeds_ok: int
    entries: int
    written: int
    duplicate: int
    filtered: dict[str, int]
    dead_letter: dict[str, int]
    counters: dict[str, int]
    files: dict[str, list[str]]

    @property
    def entry_dead_letters(self) -> int:
        return sum(n for stage, n in self.dead_letter.items() if stage not in FEED_STAGES)

    @property
    def balanced(self) -> bool:
        accounted = self.written + self.duplicate + sum(self.filtered.values()) + self.entry_dead_letters
        return accounted == self.entries

    def lines(self) -> list[str]:
        dead = ", ".join(f"{s} {n}" for s, n in sorted(self.dead_letter.items())) or "none"
        filtered = ", ".join(f"{r} {n}" for r, n in sorted(self.filtered.items())) or "none"
        return [
            f"newsbeam run {self.run_id} for {self.date} finished in {self.seconds:.1f}s",
            f"  feeds read     {self.feeds_ok}/{self.feeds}",
            f"  entries        {self.entries}",
            f"  written        {self.written}",
            f"  duplicates     {self.duplicate}",
            f"  filtered       {filtered}",
            f"  dead letters   {dead}",
            f"  output         {self.output}",
        ]


def counters_of(result: Any) -> dict[str, int]:
    """All committed counters as ``namespace/name`` → value, summed over steps."""
    totals: Counter[str] = Counter()
    for metric in result.metrics().query(MetricsFilter())["counters"]:
        key = f"{metric.key.metric.namespace}/{metric.key.metric.name}"
        value = metric.committed if metric.committed is not None else metric.attempted
        totals[key] += int(value or 0)
    return dict(totals)


def summarize(
    counters: dict[str, int], run_id: str, date: str, out: str, seconds: float,
    files: dict[str, list[str]], feeds: int,
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
        run_id=run_id,
        date=date,
        output=out,
        seconds=seconds,
        feeds=feeds,
        feeds_ok=counters.get("feeds/ok", 0),
        entries=counters.get("feeds/entries", 0),
        written=counters.get("write/articles", 0),
        duplicate=counters.get("canonicalize/duplicate", 0),
        filtered=dict(filtered),
        dead_letter=dict(dead),
        counters=counters,
        files=files,
    )


def pipeline_options(beam_args: list[str]) -> PipelineOptions:
    options = PipelineOptions(beam_args)
    standard = options.view_as(StandardOptions)
    if not standard.runner:
        # DirectRunner would try Prism first for some graphs; ours uses exception handling,
        # which routes it straight to the in-process Python runner (no download, offline-safe).
        standard.runner = "DirectRunner"
    return options


def run(cfg: RunConfig, out: str, date: str, beam_args: list[str]) -> RunSummary:
    """Execute one batch run for ``date`` and publish its files under ``out``."""
    run_id = output.new_run_id()
    started = time.monotonic()
    options = pipeline_options(beam_args)
    p = beam.Pipeline(options=options)
    build(
        p, cfg,
        output.staging_prefix(out, run_id, "articles", date),
        output.staging_prefix(out, run_id, "dead_letter", date),
    )
    try:
        result = p.run()
        result.wait_until_finish()
    except BaseException:
        output.discard(out, run_id)
        raise
    files = output.commit(out, run_id, date)
    summary = summarize(
        counters_of(result), run_id, date, out, time.monotonic() - started, files, len(cfg.feeds)
    )
    if not summary.balanced:
        logging.getLogger(__name__).warning("entry accounting does not add up: %s", summary)
    return summary
