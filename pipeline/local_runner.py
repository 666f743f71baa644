"""Beam's local runner (FnApiRunner) made fit for a stream that runs for days.

Beam bug: the runner keeps the counters of each fused stage as a lazy generator over the
previous one. After every bundle it does
``infos[stage] = consolidate(chain(bundle_infos, infos[stage]))`` and the same for the
pipeline-wide entry ``''`` (``fn_runner.FnApiRunner.run_stages``, Beam 2.77; the pattern came
with the runner's work queues, apache/beam#16841). Nothing is consolidated until the result's
metrics are read, and then each bundle is one more nested generator frame. Two effects on a
stream: reading the counters at the end fails with RecursionError once a stage ran more bundles
than the recursion limit (~1,000), and every bundle's monitoring infos stay referenced until
then, so memory grows with the number of bundles. It bites streams in particular because the
same runner ignores the delay an SDF asks for when it defers its remainder and calls back at
once: ``PeriodicImpulse`` spins through ~150 bundles a second (``transforms.stream.PollTicks``
is newsbeam's poll clock on this runner for that reason). Smallest reproduction, plain Beam::

    import time, apache_beam as beam
    from apache_beam.metrics.metric import MetricsFilter
    from apache_beam.runners.portability.fn_api_runner import FnApiRunner
    from apache_beam.transforms.periodicsequence import PeriodicImpulse

    p = beam.Pipeline(runner=FnApiRunner())
    now = time.time()
    p | PeriodicImpulse(now, now + 10, 1.0) | beam.Map(lambda _: None)
    result = p.run()
    result.wait_until_finish()
    result.metrics().query(MetricsFilter())  # RecursionError: maximum recursion depth exceeded

Before either fix, a 3-minute stream polling once a second grew from 284 to 969 MB and died
that way at its stop (BENCHMARKS.md, "Streaming soak").

``flat_bundle_metrics`` has the runner consolidate after every bundle instead (a list, not a
generator): the same totals, with stack depth and memory independent of the number of bundles.
The recursion limit stays where it is. ``tests/test_local_runner.py`` fails when this is undone,
and tells when Beam no longer needs it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from apache_beam.metrics import monitoring_infos
from apache_beam.runners.portability.fn_api_runner import fn_runner


def _consolidate_now(metrics, key=monitoring_infos.to_key) -> list:
    return list(monitoring_infos.consolidate(metrics, key))


@contextlib.contextmanager
def flat_bundle_metrics() -> Iterator[None]:
    """While inside, the local runner consolidates each stage's counters after every bundle."""
    lazy = fn_runner.consolidate_monitoring_infos
    fn_runner.consolidate_monitoring_infos = _consolidate_now
    try:
        yield
    finally:
        fn_runner.consolidate_monitoring_infos = lazy
