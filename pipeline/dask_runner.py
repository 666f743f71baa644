"""A Beam runner that executes batch pipelines on a Dask cluster, with Beam's semantics.

Use it as ``--runner=pipeline.dask_runner.DaskRunner --dask_scheduler=tcp://HOST:8786`` (or
``newsbeam run --runner dask --dask-scheduler tcp://HOST:8786``); ``--dask_scheduler=local[:N]``
starts a ``LocalCluster`` of N worker processes (default: one per usable core, as for
``--workers auto``) for the run. Every Dask worker needs the code the pipeline's DoFns live
in importable (for newsbeam: ``pip install newsbeam`` on every worker, same version as the
driver), because DoFns travel pickled by reference to their modules, as on every Beam runner. Each run first asks every connected worker for its
newsbeam version and names the workers that lack it or have another one.

How a pipeline becomes a Dask graph
-----------------------------------
The runner walks the pipeline's PTransform tree (after Beam's own round trip through the runner
API proto) and translates its *primitives*. The tree rather than the proto, because there the
DoFns, side-input views and windowing are Python objects that Beam's own ``DoFnRunner`` executes
as the DirectRunner does; running the proto would mean an SDK harness (Fn API bundle processor)
on every worker, which is what Beam's portable runners do. Composites (Create, Reshuffle,
WriteToParquet, CombinePerKey, CoGroupByKey, with_exception_handling …) are never special-cased,
so every composite Beam expands into these primitives runs exactly as Beam defines it:

- ``Impulse``: one partition holding the empty-bytes element in the global window.
- ``ParDo`` (Map, FlatMap, WindowInto … are ParDos): one Dask task per input partition runs one
  Beam bundle through Beam's own ``DoFnRunner`` (so DoFn parameters, ``TaggedOutput``, windowed
  outputs and ``finish_bundle`` outputs behave as on the DirectRunner). A ParDo that is the only
  reader of its input is *fused* into its producer's task: each element goes on as it is emitted
  (newsbeam's pages are extracted while the rest are still being fetched), and ``finish_bundle``
  runs producer first. A task returns the elements of every output that something else reads,
  after ``finish_bundle``; a small task per such output picks it out, so each consumer depends on
  its own tag only.
- ``GroupByKey``: a hash shuffle. Each input partition is split into P buckets by a deterministic
  hash of the key's encoding (never Python's per-process ``hash``), and P grouping tasks each
  gather their bucket from every input. P is ``--dask_partitions``, default the cluster's worker
  threads; it is also the parallelism of everything downstream.
- ``Flatten``: the partition lists of its inputs, concatenated (no task).
- Side inputs: one task per side-input PCollection gathers its partitions; every bundle that reads
  it depends on that task, so it is computed once and shipped once per worker.

All ParDo bundles of the pipeline (every sink included) are submitted as one graph and awaited
together. Each step of a bundle runs under its own ``MetricsContainer``; their cumulative updates
come back with the task and are committed into ``result.metrics()`` (committed = attempted: only
successful bundles count). DoFn instances are cached per worker process and step and reused
across bundles (``setup`` once per instance, ``teardown`` when the run ends), at most one
instance per worker thread, as Beam's SDK harness does.

Bounded sources (``ReadFromText``, ``ReadFromParquet`` …) read through a splittable DoFn: it gets
each element's whole initial restriction in one bundle (no splitting, so one file is one task's
work; a reader that defers part of its restriction fails the run rather than lose data).

What it refuses (``UnsupportedPipeline``, raised before anything runs): unbounded PCollections,
windowing other than the global window, stateful DoFns and timers, and any primitive other than
the four above (TestStream, cross-language transforms …).

What differs from Beam 2.77's ``apache_beam.runners.dask.DaskRunner``
---------------------------------------------------------------------
Beam's runner maps transforms onto ``dask.bag`` operations. Measured against it (each point has a
test in ``tests/test_dask_runner.py`` that fails on Beam's runner):

- outputs of ``finish_bundle`` are kept (Beam's drops them: its file sinks finalize empty files);
- every leaf is computed (Beam's computes only the last transform it visited);
- each output tag goes to its consumers only (Beam's hands every consumer all tags' elements);
- a side input is computed once per run (Beam's recomputes it inside every task that reads it);
- ``result.metrics()`` returns the counters (Beam's raises ``NotImplementedError``);
- ``Impulse`` and ``WindowInto`` run (Beam's leaves them untranslated), and what it cannot run is
  refused by name (Beam's fails an assertion on stateful DoFns, or silently runs a wrong graph).

Also: ``setup``/``teardown`` run once per cached instance rather than per bundle; ``--runner
dask`` (and ``DaskRunner``) name this runner in newsbeam's CLI, where Beam knows no such name.

Neither runner streams. This one fuses chains only (a PCollection read twice, or a shuffle, ends
a task; outputs between tasks are lists kept in the worker's memory until their readers ran),
does no combiner lifting (CombinePerKey groups, then combines) and no dynamic splitting.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import logging
import os
import threading
import uuid
import zlib
from collections import Counter, defaultdict
from collections.abc import Iterator
from importlib import metadata
from typing import Any

from apache_beam import pvalue
from apache_beam.coders import coders, typecoders
from apache_beam.internal import pickler
from apache_beam.metrics.execution import MetricsContainer
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.pipeline import PipelineVisitor
from apache_beam.runners.common import DoFnRunner, DoFnSignature, Receiver
from apache_beam.runners.direct.direct_metrics import DirectMetrics
from apache_beam.runners.runner import PipelineResult, PipelineRunner, PipelineState
from apache_beam.runners.worker import statesampler
from apache_beam.transforms import core, sideinputs
from apache_beam.transforms.window import GlobalWindow, GlobalWindows, TimestampCombiner
from apache_beam.utils import counters
from apache_beam.utils.windowed_value import WindowedValue

from pipeline.cores import usable_cores

_LOG = logging.getLogger(__name__)

# "local" or "local:N" starts a LocalCluster; anything else is a scheduler address.
LOCAL = "local"
# Dask's default port, for addresses given without one.
DEFAULT_PORT = 8786
# The distribution that ships this module: every worker needs it, in the driver's version.
DISTRIBUTION = "newsbeam"


class UnsupportedPipeline(ValueError):
    """The pipeline uses something this runner cannot execute correctly; nothing was run."""


class DaskRunnerOptions(PipelineOptions):
    @classmethod
    def _add_argparse_args(cls, parser) -> None:
        parser.add_argument(
            "--dask_scheduler",
            default=LOCAL,
            help="tcp://HOST:PORT of a running Dask scheduler, or local[:N] for a LocalCluster "
            "of N worker processes started for the run (default: local, one per usable core)",
        )
        parser.add_argument(
            "--dask_partitions",
            type=int,
            default=0,
            help="partitions after each GroupByKey (default: the cluster's worker threads)",
        )


def parse_scheduler(value: str) -> tuple[str | None, int | None]:
    """``local[:N]`` → (None, N or None); an address → (address, None). Raises ValueError."""
    if value == LOCAL or value.startswith(LOCAL + ":"):
        count = value[len(LOCAL) + 1 :]
        if not count:
            return None, None
        if not count.isdigit() or int(count) < 1:
            raise ValueError(f"expected local or local:N with N >= 1, got {value!r}")
        return None, int(count)
    scheme, sep, rest = value.partition("://")
    if not sep:
        scheme, rest = "tcp", value
    if scheme not in ("tcp", "tls", "ws", "wss") or not rest or rest.startswith(":"):
        raise ValueError(f"expected tcp://HOST:PORT or local[:N], got {value!r}")
    _host, colon, port = rest.rpartition(":")
    if not colon or not port.isdigit():
        rest = f"{rest}:{DEFAULT_PORT}"
    return f"{scheme}://{rest}", None


# --- the plan: what runs where, decided on the driver -------------------------------------------


@dataclasses.dataclass(frozen=True)
class _ParDoStep:
    """A ParDo as shipped to workers: the pickled DoFn and its arguments, built once."""

    label: str
    payload: bytes  # pickler.dumps((dofn, args, kwargs, side input views, windowing))


@dataclasses.dataclass(frozen=True)
class _StageSpec:
    """A stage as shipped to workers: its ParDos in order, and which output feeds which."""

    name: str
    steps: tuple[_ParDoStep, ...]
    parents: tuple[tuple[int, Any] | None, ...]  # (step, tag) whose elements step k reads


@dataclasses.dataclass(frozen=True)
class _GroupStep:
    label: str
    key_coder: coders.Coder
    partitions: int
    timestamp_combiner: str


@dataclasses.dataclass
class _BundleResult:
    outputs: dict[tuple[int, Any], list[WindowedValue]]  # (step, tag) → elements
    metrics: list[Any]  # MetricUpdates of each step
    worker: str


class _Translator(PipelineVisitor):
    """Walks the primitives in topological order, building a Dask task graph."""

    def __init__(self, run_id: str, partitions: int, consumers: Counter) -> None:
        self.run_id = run_id
        self.partitions = partitions
        self.graph: dict[Any, Any] = {}
        self.metrics_keys: list[Any] = []
        self._consumers = consumers
        self._parts: dict[pvalue.PCollection, list[Any]] = {}
        self._side: dict[pvalue.PCollection, Any] = {}
        self._stages: list[_Stage] = []
        self._stage_of: dict[pvalue.PCollection, tuple[_Stage, int, Any]] = {}
        self._names = itertools.count()

    def _name(self, kind: str, label: str) -> str:
        return f"{kind}-{next(self._names):04d}-{label}"

    def visit_transform(self, applied) -> None:
        transform = applied.transform
        label = applied.full_label
        for out in applied.outputs.values():
            _check_collection(out, label)
        if isinstance(transform, core.Impulse):
            self._impulse(applied, label)
        elif isinstance(transform, core.ParDo):
            self._pardo(applied, label)
        elif isinstance(transform, core.GroupByKey):
            self._group(applied, label)
        elif isinstance(transform, core.Flatten):
            self._flatten(applied, label)
        else:
            raise UnsupportedPipeline(
                f"the Dask runner cannot run step {label!r} ({type(transform).__name__}); it "
                "runs batch graphs of Impulse, ParDo, GroupByKey and Flatten (and their composites)"
            )

    def _inputs(self, applied, label: str) -> list[Any]:
        main = [i for i in applied.inputs if not isinstance(i, pvalue.PBegin)]
        try:
            return [key for pcoll in main for key in self._parts[pcoll]]
        except KeyError:
            raise UnsupportedPipeline(
                f"step {label!r} reads a PCollection produced after it"
            ) from None

    def _impulse(self, applied, label: str) -> None:
        key = (self._name("impulse", label), 0)
        self.graph[key] = (_impulse,)
        self._parts[applied.outputs[None]] = [key]

    def _flatten(self, applied, label: str) -> None:
        keys = self._inputs(applied, label)
        if not keys:
            keys = [(self._name("empty", label), 0)]
            self.graph[keys[0]] = (list,)
        self._parts[applied.outputs[None]] = keys

    def _group(self, applied, label: str) -> None:
        main = applied.inputs[0]
        windowing = main.windowing
        step = _GroupStep(
            label, _key_coder(main, label), self.partitions, windowing.timestamp_combiner
        )
        name = self._name("shuffle", label)
        sources = self._inputs(applied, label)
        for i, source in enumerate(sources):
            self.graph[(name + "-split", i)] = (_split, step, source)
            for j in range(step.partitions):
                self.graph[(name + "-bucket", i, j)] = (_item, (name + "-split", i), j)
        keys = []
        for j in range(step.partitions):
            buckets = [(name + "-bucket", i, j) for i in range(len(sources))]
            keys.append((name + "-group", j))
            self.graph[keys[-1]] = (_group, step, buckets)
        self._parts[applied.outputs[None]] = keys

    def _side_input(self, side: pvalue.AsSideInput, label: str) -> Any:
        pcoll = side.pvalue
        if pcoll not in self._side:
            key = self._name("side", pcoll.producer.full_label if pcoll.producer else label)
            self.graph[key] = (_concat, list(self._parts[pcoll]))
            self._side[pcoll] = key
        return self._side[pcoll]

    def _pardo(self, applied, label: str) -> None:
        transform = applied.transform
        fn = transform.fn
        signature = DoFnSignature(fn)
        if signature.is_stateful_dofn():
            raise UnsupportedPipeline(
                f"step {label!r} uses state or timers, which the Dask runner does not support"
            )
        main = applied.inputs[0]
        views = [(type(si), si._view_options()) for si in applied.side_inputs]
        side_keys = [self._side_input(si, label) for si in applied.side_inputs]
        payload = pickler.dumps((fn, transform.args, transform.kwargs, views, main.windowing))
        step = _ParDoStep(label, payload)
        producer = self._stage_of.get(main)
        if producer is not None and self._consumers[main] == 1:
            # Fused: this ParDo reads each element its producer emits, in the same task.
            stage, parent, tag = producer
            stage.parents.append((parent, tag))
        else:
            stage = _Stage(self._name("stage", label), self._inputs(applied, label))
            self._stages.append(stage)
            stage.parents.append(None)
        index = len(stage.steps)
        stage.steps.append(step)
        stage.side_keys.append(side_keys)
        stage.outputs.append(dict(applied.outputs))
        for tag, pcoll in applied.outputs.items():
            self._stage_of[pcoll] = (stage, index, tag)
            self._parts[pcoll] = [
                stage.output_key(index, tag, i) for i in range(len(stage.sources))
            ]

    def finish(self) -> None:
        """Emit the tasks of every stage (a stage grows while later ParDos are visited)."""
        for stage in self._stages:
            forwarded = {parent for parent in stage.parents if parent is not None}
            kept = [
                (k, tag)
                for k, outputs in enumerate(stage.outputs)
                for tag, pcoll in outputs.items()
                if (k, tag) not in forwarded and self._consumers[pcoll]
            ]
            spec = _StageSpec(stage.name, tuple(stage.steps), tuple(stage.parents))
            for i, source in enumerate(stage.sources):
                bundle = (stage.name, i)
                self.graph[bundle] = (_run_stage, self.run_id, spec, source, stage.side_keys)
                self.graph[(stage.name + "-metrics", i)] = (_metrics_of, bundle)
                self.metrics_keys.append((stage.name + "-metrics", i))
                for k, tag in kept:
                    self.graph[stage.output_key(k, tag, i)] = (_output_of, bundle, k, tag)


@dataclasses.dataclass
class _Stage:
    """ParDos run one after the other over one partition in one task, on the driver's side."""

    name: str
    sources: list[Any]  # the partition keys the first step reads
    steps: list[_ParDoStep] = dataclasses.field(default_factory=list)
    parents: list[tuple[int, Any] | None] = dataclasses.field(default_factory=list)
    side_keys: list[list[Any]] = dataclasses.field(default_factory=list)
    outputs: list[dict[Any, pvalue.PCollection]] = dataclasses.field(default_factory=list)

    def output_key(self, step: int, tag: Any, partition: int) -> tuple[str, int]:
        return (f"{self.name}-out-{step}-{tag}", partition)


def _consumers(pipeline) -> Counter:
    """How many times each PCollection is read, as a main or a side input."""
    counts: Counter = Counter()

    class Visitor(PipelineVisitor):
        def visit_transform(self, applied) -> None:
            for pcoll in applied.inputs:
                counts[pcoll] += 1
            for side in applied.side_inputs:
                counts[side.pvalue] += 1

    pipeline.visit(Visitor())
    return counts


def translate(pipeline, run_id: str, partitions: int) -> _Translator:
    """The pipeline as a Dask graph: ``.graph``, and ``.metrics_keys`` to compute all of it."""
    translator = _Translator(run_id, partitions, _consumers(pipeline))
    pipeline.visit(translator)
    translator.finish()
    return translator


def _check_collection(pcoll: Any, label: str) -> None:
    if not isinstance(pcoll, pvalue.PCollection):
        return
    if not pcoll.is_bounded:
        raise UnsupportedPipeline(
            f"step {label!r} produces an unbounded PCollection; the Dask runner runs batch "
            "pipelines only"
        )
    windowfn = pcoll.windowing.windowfn
    if not isinstance(windowfn, GlobalWindows):
        raise UnsupportedPipeline(
            f"step {label!r} windows into {type(windowfn).__name__}; the Dask runner supports "
            "the global window only"
        )


def _key_coder(pcoll: pvalue.PCollection, label: str) -> coders.Coder:
    from apache_beam.typehints import typehints

    key_type = typehints.Any
    hint = pcoll.element_type
    if isinstance(hint, typehints.TupleHint.TupleConstraint) and len(hint.tuple_types) == 2:
        key_type = hint.tuple_types[0]
    coder = typecoders.registry.get_coder(key_type)
    try:
        return coder.as_deterministic_coder(label)
    except ValueError:
        return coders.FastPrimitivesCoder().as_deterministic_coder(label)


# --- what runs on the workers -----------------------------------------------------------------


def _impulse() -> list[WindowedValue]:
    return [GlobalWindows.windowed_value(b"")]


def _concat(parts: list[list[WindowedValue]]) -> list[WindowedValue]:
    return [value for part in parts for value in part]


def _item(values: list, index: int) -> Any:
    return values[index]


def _split(step: _GroupStep, elements: list[WindowedValue]) -> list[list[tuple]]:
    buckets: list[list[tuple]] = [[] for _ in range(step.partitions)]
    for wv in elements:
        key, value = wv.value
        encoded = step.key_coder.encode(key)
        buckets[zlib.crc32(encoded) % step.partitions].append((encoded, key, value, wv.timestamp))
    return buckets


def _group(step: _GroupStep, buckets: list[list[tuple]]) -> list[WindowedValue]:
    groups: dict[bytes, tuple[Any, list, list]] = {}
    for bucket in buckets:
        for encoded, key, value, timestamp in bucket:
            group = groups.setdefault(encoded, (key, [], []))
            group[1].append(value)
            group[2].append(timestamp)
    end = GlobalWindow().max_timestamp()
    out = []
    for key, values, stamps in groups.values():
        if step.timestamp_combiner == TimestampCombiner.OUTPUT_AT_EARLIEST:
            timestamp = min(stamps)
        elif step.timestamp_combiner == TimestampCombiner.OUTPUT_AT_LATEST:
            timestamp = max(stamps)
        else:  # OUTPUT_AT_EOW, the default; the end of the global window
            timestamp = end
        out.append(WindowedValue((key, values), timestamp, (GlobalWindow(),)))
    return out


def _metrics_of(result: _BundleResult) -> tuple[Any, str]:
    return result.metrics, result.worker


def _output_of(result: _BundleResult, step: int, tag: Any) -> list[WindowedValue]:
    return result.outputs.get((step, tag), [])


class _Output(Receiver):
    """One output tag of a step in the current bundle: collected, or handed to the fused step
    that reads it."""

    def __init__(self) -> None:
        self.values: list[WindowedValue] = []
        self.target: Any = None  # a callable taking each WindowedValue

    def receive(self, windowed_value: WindowedValue) -> None:
        if self.target is None:
            self.values.append(windowed_value)
        else:
            self.target(windowed_value)


class _Receivers(dict):
    """Tag → output, made on first use: DoFns may emit to tags nobody consumes."""

    def __missing__(self, tag: Any) -> _Output:
        self[tag] = _Output()
        return self[tag]


@dataclasses.dataclass
class _Instance:
    runner: DoFnRunner
    receivers: _Receivers


# (run id, step label) → idle DoFn instances of this worker process, set up and reusable.
_IDLE: dict[tuple[str, str], list[_Instance]] = defaultdict(list)
_ALL: dict[str, list[_Instance]] = defaultdict(list)
_LOCK = threading.Lock()
# Stage tasks (bundles) this process has run, per run id (tests ask workers with client.run).
_BUNDLES: Counter[str] = Counter()


def _new_instance(step: _ParDoStep, side_values: list[list[WindowedValue]]) -> _Instance:
    fn, args, kwargs, views, windowing = pickler.loads(step.payload)
    side_maps = [
        sideinputs.SideInputMap(view_class, options, values)
        for (view_class, options), values in zip(views, side_values)
    ]
    receivers = _Receivers()
    receivers[None]  # DoFnRunner needs the main receiver up front
    runner = DoFnRunner(
        fn, args, kwargs, side_maps, windowing, tagged_receivers=receivers, step_name=step.label
    )
    runner.setup()
    return _Instance(runner, receivers)


def _acquire(run_id: str, step: _ParDoStep, side_values: list[list]) -> _Instance:
    with _LOCK:
        idle = _IDLE[(run_id, step.label)]
        instance = idle.pop() if idle else None
    if instance is None:
        instance = _new_instance(step, side_values)
        with _LOCK:
            _ALL[run_id].append(instance)
    for output in instance.receivers.values():
        output.values, output.target = [], None
    return instance


def _worker_name() -> str:
    try:
        from distributed import get_worker

        return get_worker().address
    except (ImportError, ValueError):
        return f"pid:{os.getpid()}"


def _process(runner: DoFnRunner, label: str, wv: WindowedValue) -> None:
    # A splittable DoFn (a bounded source's reader) gets its whole initial restriction; one
    # that defers part of it would lose data, so it fails.
    if runner.process(wv):
        raise RuntimeError(
            f"step {label!r} deferred part of its work (a checkpointing splittable DoFn); "
            "the Dask runner cannot resume it"
        )


def _forward(runner: DoFnRunner, label: str, state: Any):
    def receive(wv: WindowedValue) -> None:
        with state:
            _process(runner, label, wv)

    return receive


def _run_stage(
    run_id: str, spec: _StageSpec, elements: list[WindowedValue], side_values: list[list[list]]
) -> _BundleResult:
    """One bundle through every ParDo of a stage: the first reads ``elements``, each other one
    what its parent emits, as it emits it; finish_bundle in the same order."""
    containers = [MetricsContainer(step.label) for step in spec.steps]
    sampler = statesampler.StateSampler(spec.name, counters.CounterFactory())
    states = [
        sampler.scoped_state(step.label, "process", metrics_container=container)
        for step, container in zip(spec.steps, containers)
    ]
    statesampler.set_current_tracker(sampler)
    instances: list[_Instance] = []
    try:
        for step, state, values in zip(spec.steps, states, side_values):
            with state:  # setup's counters, if any, are the step's
                instances.append(_acquire(run_id, step, values))
        for k, parent in enumerate(spec.parents):
            if parent is not None:
                output = instances[parent[0]].receivers[parent[1]]
                output.target = _forward(instances[k].runner, spec.steps[k].label, states[k])
        for instance, state in zip(instances, states):
            with state:
                instance.runner.start()
        with states[0]:
            for wv in elements:
                _process(instances[0].runner, spec.steps[0].label, wv)
        for instance, state in zip(instances, states):  # parents first: they feed children
            with state:
                instance.runner.finish()
        for instance, state in zip(instances, states):
            with state:
                instance.runner.finalize()
        outputs = {
            (k, tag): output.values
            for k, instance in enumerate(instances)
            for tag, output in instance.receivers.items()
            if output.target is None
        }
        for step, instance in zip(spec.steps, instances):
            for output in instance.receivers.values():
                output.values, output.target = [], None
            with _LOCK:
                _IDLE[(run_id, step.label)].append(instance)
        with _LOCK:
            _BUNDLES[run_id] += 1
    finally:
        statesampler.set_current_tracker(None)
    return _BundleResult(outputs, [c.get_cumulative() for c in containers], _worker_name())


def _teardown(run_id: str) -> int:
    """Tear down this process's DoFn instances of a run; returns how many there were."""
    with _LOCK:
        instances = _ALL.pop(run_id, [])
        for key in [k for k in _IDLE if k[0] == run_id]:
            del _IDLE[key]
    for instance in instances:
        try:
            instance.runner.teardown()
        except Exception:  # noqa: BLE001 - teardown is best effort, as in Beam
            _LOG.warning("teardown failed", exc_info=True)
    return len(instances)


def bundles_run(run_id: str | None = None) -> int:
    """Bundles this worker process has run (for one run, or in all): ask with ``client.run``."""
    return _BUNDLES[run_id] if run_id else sum(_BUNDLES.values())


# --- the runner and its result ----------------------------------------------------------------


def check_workers(client) -> None:
    """Fail with a clear message when a connected worker lacks this newsbeam (the same version):
    otherwise its first task would fail unpickling a DoFn, far from the cause."""
    try:
        expected = metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:  # running from a source tree: nothing to compare
        return
    found = client.run(metadata.version, DISTRIBUTION, on_error="return")
    wrong = {
        worker: "not installed" if isinstance(got, Exception) else got
        for worker, got in sorted(found.items())
        if got != expected
    }
    if wrong:
        listed = ", ".join(f"{worker} ({got})" for worker, got in wrong.items())
        raise RuntimeError(
            f"every Dask worker needs {DISTRIBUTION} {expected}, as on this machine; "
            f"these differ: {listed} (pip install '{DISTRIBUTION}[dask]=={expected}' there)"
        )


@contextlib.contextmanager
def _environ(**values: str) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


class DaskRunner(PipelineRunner):
    """Executes a batch pipeline on a Dask cluster (see the module's docstring)."""

    def run_pipeline(self, pipeline, options):
        import dask

        opts = options.view_as(DaskRunnerOptions)
        address, workers = parse_scheduler(opts.dask_scheduler)
        run_id = uuid.uuid4().hex
        # A first pass refuses an unsupported pipeline before any cluster is started or used.
        translate(pipeline, run_id, 1)
        # Dask logs every connection at INFO. Its loggers, and a LocalCluster's workers, log at
        # the level the application set for "distributed" (or the root's) before they start.
        level = logging.getLevelName(logging.getLogger("distributed").getEffectiveLevel())
        with dask.config.set({"logging.distributed": level.lower()}):
            from distributed import Client, LocalCluster

            cluster = None
            if address is None:
                with _environ(DASK_LOGGING__DISTRIBUTED=level.lower()):  # the spawned workers'
                    cluster = LocalCluster(
                        n_workers=workers or usable_cores(),
                        threads_per_worker=1,
                        processes=True,
                        dashboard_address=":0",
                        silence_logs=level,
                    )
                client = Client(cluster)
            else:
                client = Client(address)
        try:
            check_workers(client)
            partitions = opts.dask_partitions or max(1, sum(client.nthreads().values()))
            translator = translate(pipeline, run_id, partitions)
            futures = client.get(translator.graph, translator.metrics_keys, sync=False)
        except BaseException:
            client.close()
            if cluster is not None:
                cluster.close()
            raise
        _LOG.info(
            "submitted %d tasks (%d bundles) to %s",
            len(translator.graph),
            len(translator.metrics_keys),
            client.scheduler.address,
        )
        return DaskPipelineResult(client, cluster, futures, run_id)


class DaskPipelineResult(PipelineResult):
    """The running pipeline; ``wait_until_finish`` gathers the bundles' metrics and cleans up."""

    def __init__(self, client, cluster, futures, run_id: str) -> None:
        super().__init__(PipelineState.RUNNING)
        self._client = client
        self._cluster = cluster
        self._futures = futures
        self._run_id = run_id
        self._metrics = DirectMetrics()
        self.bundles_per_worker: Counter[str] = Counter()

    def wait_until_finish(self, duration=None):
        if self._state != PipelineState.RUNNING:
            return self._state
        if duration is not None:  # milliseconds, as everywhere in Beam
            from distributed import wait

            try:
                wait(self._futures, timeout=duration / 1000)
            except TimeoutError:
                return self._state
        try:
            results = self._client.gather(self._futures)
            bundle = itertools.count()
            for per_step, worker in results:
                for updates in per_step:
                    key = next(bundle)
                    self._metrics.commit_physical(key, updates)
                    self._metrics.commit_logical(key, updates)
                self.bundles_per_worker[worker] += 1
            self._state = PipelineState.DONE
        except BaseException:
            self._state = PipelineState.FAILED
            self._client.cancel(self._futures)
            raise
        finally:
            self._close()
        return self._state

    def _close(self) -> None:
        try:
            self._client.run(_teardown, self._run_id)
        except Exception:  # noqa: BLE001 - the workers are gone; nothing to tear down
            _LOG.debug("teardown on workers failed", exc_info=True)
        self._client.close()
        if self._cluster is not None:
            self._cluster.close()

    def cancel(self):
        if self._state == PipelineState.RUNNING:
            self._client.cancel(self._futures)
            self._state = PipelineState.CANCELLED
            self._close()
        return self._state

    def metrics(self) -> DirectMetrics:
        return self._metrics
