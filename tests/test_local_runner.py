"""Beam's local runner in a long stream: counters after many bundles read in a flat stack
(pipeline/local_runner.py), and a poll clock that does not spin (transforms/stream.py).

Beam nests one generator per bundle when it keeps a stage's counters; a stream that ran more
bundles than the recursion limit died reading them. Running 1,000+ real bundles takes seconds,
so these tests run a few hundred one-element bundles and read the counters under a stack budget
far below that: the same failure, cheaply, and exact counts when it is fixed.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Iterator

import apache_beam as beam
import pytest
from apache_beam.io.restriction_trackers import OffsetRange, OffsetRestrictionTracker
from apache_beam.runners.portability.fn_api_runner import FnApiRunner, fn_runner
from apache_beam.transforms.core import RestrictionProvider

from pipeline.local_runner import flat_bundle_metrics
from pipeline.run import counters_of
from transforms.stream import PollTicks

BUNDLES = 150
# Frames reading the counters may use above the caller's: plenty for a flat read, far fewer
# than BUNDLES nested generators.
STACK_BUDGET = 80


class _Offsets(RestrictionProvider):
    def initial_restriction(self, n: int) -> OffsetRange:
        return OffsetRange(0, n)

    def create_tracker(self, restriction: OffsetRange) -> OffsetRestrictionTracker:
        return OffsetRestrictionTracker(restriction)

    def restriction_size(self, n: int, restriction: OffsetRange) -> int:
        return restriction.size()


class _OnePerBundleFn(beam.DoFn):
    """Emits one number, then hands the rest of its range back: one bundle per element."""

    def process(self, n: int, tracker=beam.DoFn.RestrictionParam(_Offsets())) -> Iterator[int]:
        i = tracker.current_restriction().start
        if tracker.try_claim(i):
            beam.metrics.Metrics.counter("test", "elements").inc()
            yield i
            tracker.defer_remainder()


def _many_bundles(bundles: int):
    p = beam.Pipeline(runner=FnApiRunner())
    _ = (
        p
        | "One" >> beam.Create([bundles])
        | "OnePerBundle" >> beam.ParDo(_OnePerBundleFn())
        | "Count" >> beam.Map(lambda i: beam.metrics.Metrics.counter("test", "after").inc())
    )
    result = p.run()
    result.wait_until_finish()
    return result


def _depth() -> int:
    frame, depth = sys._getframe(), 0
    while frame is not None:
        frame, depth = frame.f_back, depth + 1
    return depth


@contextlib.contextmanager
def _stack_budget(frames: int) -> Iterator[None]:
    """Lower the recursion limit to ``frames`` above the current depth (restored after)."""
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(_depth() + frames)
    try:
        yield
    finally:
        sys.setrecursionlimit(limit)


def test_counters_of_many_bundles_are_exact_and_read_in_a_flat_stack() -> None:
    with flat_bundle_metrics():
        result = _many_bundles(BUNDLES)
    with _stack_budget(STACK_BUDGET):
        counters = counters_of(result)
    assert counters["test/elements"] == BUNDLES
    assert counters["test/after"] == BUNDLES


def test_beam_still_nests_counters_per_bundle() -> None:
    """Beam's own behaviour, kept as a test: when this fails, Beam fixed its runner and
    ``flat_bundle_metrics`` can go."""
    result = _many_bundles(BUNDLES)
    with _stack_budget(STACK_BUDGET), pytest.raises(RecursionError):
        counters_of(result)


def test_poll_ticks_wait_for_each_tick_instead_of_spinning(monkeypatch) -> None:
    """PeriodicImpulse runs ~150 empty bundles a second on this runner; PollTicks one per tick."""
    bundles = []
    lazy = fn_runner.consolidate_monitoring_infos

    def counting(metrics, *args):
        bundles.append(1)
        return lazy(metrics, *args)

    monkeypatch.setattr(fn_runner, "consolidate_monitoring_infos", counting)
    start = time.time()
    p = beam.Pipeline(runner=FnApiRunner())
    ticks = p | "Poll" >> PollTicks(start, start + 1.0, 0.25)
    _ = ticks | "Count" >> beam.Map(lambda t: beam.metrics.Metrics.counter("test", "ticks").inc())
    result = p.run()
    result.wait_until_finish()
    counters = counters_of(result)
    # Ticks due before the runner started (it takes a moment) come out as one.
    assert counters["test/ticks"] + counters.get("stream/polls_skipped", 0) == 4
    # Two consolidations per bundle; a tick's bundle, its downstream bundle, and a few at start.
    assert len(bundles) / 2 <= 2 * 4 + 4


def test_poll_ticks_due_at_once_become_one_poll() -> None:
    """A poll slower than the interval (here: a start in the past) does not cause a burst."""
    now = time.time()
    p = beam.Pipeline(runner=FnApiRunner())
    ticks = p | "Poll" >> PollTicks(now - 1.0, now + 0.5, 0.25)  # ticks 0-3 are due already
    _ = ticks | "Count" >> beam.Map(lambda t: beam.metrics.Metrics.counter("test", "ticks").inc())
    result = p.run()
    result.wait_until_finish()
    counters = counters_of(result)
    assert counters["test/ticks"] <= 3
    assert counters["test/ticks"] + counters["stream/polls_skipped"] == 6
