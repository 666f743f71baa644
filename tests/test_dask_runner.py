"""newsbeam's Dask runner on a real cluster: a ``dask scheduler`` and two ``dask worker``
processes on 127.0.0.1, started by this module and stopped by PID at its end.

Two parts:
- the runner on small pipelines, one test per way Beam 2.77's own DaskRunner goes wrong. Each
  such test runs on both runners: on ours it passes; on Beam's (``stock``) it is a strict xfail,
  so the test is shown to tell the two apart and starts failing if Beam fixes its runner;
- end to end: ``newsbeam run --runner dask`` over the demo site and the fault site gives the
  DirectRunner's rows, dead letters and counters, and both workers ran bundles.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import apache_beam as beam
import pyarrow.dataset as ds
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing import test_stream
from apache_beam.transforms.userstate import ReadModifyWriteStateSpec
from apache_beam.transforms.window import FixedWindows, GlobalWindow, GlobalWindows
from apache_beam.utils.windowed_value import WindowedValue

from pipeline import dask_runner
from pipeline.cli import EXIT_CONFIG, EXIT_OK, main
from pipeline.run import counters_of

distributed = pytest.importorskip("distributed")  # in the test extra: never skipped in CI

STOCK_RUNNER = "apache_beam.runners.dask.dask_runner.DaskRunner"
OURS = "pipeline.dask_runner.DaskRunner"
# How long the cluster may take to come up on a loaded 2-core machine (bounded waits, no sleeps).
START_TIMEOUT = 120
ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Cluster:
    """A scheduler and two workers, each its own process, on loopback."""

    def __init__(self, logs: Path) -> None:
        self.address = f"tcp://127.0.0.1:{_free_port()}"
        self.procs: list[subprocess.Popen] = []
        self.logs = logs
        self.client = None
        self.workers: list[str] = []

    def start(self) -> Cluster:
        dask = str(Path(sys.executable).with_name("dask"))
        logs = self.logs

        # The workers import this module's DoFns (by reference, as every Beam worker would).
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        }

        def start(name: str, *argv: str) -> None:
            with open(logs / f"{name}.log", "wb") as log:
                self.procs.append(
                    subprocess.Popen([dask, *argv], stdout=log, stderr=subprocess.STDOUT, env=env)
                )

        port = self.address.rsplit(":", 1)[1]
        start("scheduler", "scheduler", "--host", "127.0.0.1", "--port", port, "--no-dashboard")
        for i in range(2):
            start(
                f"worker{i}",
                "worker",
                self.address,
                "--host",
                "127.0.0.1",
                "--nthreads",
                "1",
                "--no-nanny",
                "--no-dashboard",
                "--memory-limit",
                "0",
                "--name",
                f"w{i}",
            )
        self.client = distributed.Client(self.address, timeout=START_TIMEOUT)
        self.client.wait_for_workers(2, timeout=START_TIMEOUT)
        self.workers = sorted(self.client.scheduler_info()["workers"])
        return self

    def bundles(self) -> dict[str, int]:
        return self.client.run(dask_runner.bundles_run)

    def stop(self) -> None:
        if self.client is not None:
            self.client.close()
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    started = Cluster(tmp_path_factory.mktemp("dask-logs"))
    try:
        yield started.start()
    finally:
        started.stop()  # by PID, whatever start() got to


def _options(runner: str, cluster: Cluster, *extra: str) -> PipelineOptions:
    if runner == "stock":
        return PipelineOptions(
            [f"--runner={STOCK_RUNNER}", f"--dask_client_address={cluster.address}", *extra]
        )
    return PipelineOptions([f"--runner={OURS}", f"--dask_scheduler={cluster.address}", *extra])


@contextlib.contextmanager
def _pipeline(runner: str, cluster: Cluster, *extra: str) -> Iterator[beam.Pipeline]:
    """``with beam.Pipeline(...)`` on either runner; Beam's leaves its Dask client open, so the
    clients it made are closed here, failed or not."""
    from distributed.client import _global_clients

    before = set(_global_clients)
    try:
        with beam.Pipeline(options=_options(runner, cluster, *extra)) as p:
            yield p
    finally:
        for key in set(_global_clients) - before:
            client = _global_clients.get(key)
            if client is not None:
                client.close()


def _stock_fails(reason: str):
    return pytest.param(
        "stock", marks=pytest.mark.xfail(strict=True, reason=f"Beam 2.77's DaskRunner: {reason}")
    )


def _lines(pattern: Path) -> list[str]:
    return sorted(
        line for f in pattern.parent.glob(pattern.name + "*") for line in f.read_text().splitlines()
    )


# --- the runner on small pipelines -------------------------------------------------------------


class _EmitAtFinish(beam.DoFn):
    """Buffers its input and emits it in finish_bundle, as newsbeam's fetch stages and Beam's
    file sinks do."""

    def start_bundle(self) -> None:
        self._held = []

    def process(self, element):
        self._held.append(element)

    def finish_bundle(self):
        for element in self._held:
            yield WindowedValue(element, 0, (GlobalWindow(),))


@pytest.mark.parametrize("runner", ["ours", _stock_fails("finish_bundle outputs are dropped")])
def test_outputs_of_finish_bundle_reach_the_sink(runner, cluster, tmp_path) -> None:
    with _pipeline(runner, cluster) as p:
        (
            p
            | beam.Create([f"e{i}" for i in range(6)])
            | beam.ParDo(_EmitAtFinish())
            | beam.io.WriteToText(str(tmp_path / "out"))
        )
    assert _lines(tmp_path / "out") == [f"e{i}" for i in range(6)]
    assert not list(tmp_path.glob("beam-temp-*"))


@pytest.mark.parametrize("runner", ["ours", _stock_fails("only the last leaf is computed")])
def test_every_sink_is_written(runner, cluster, tmp_path) -> None:
    with _pipeline(runner, cluster) as p:
        words = p | beam.Create(["a", "bb", "ccc"])
        (
            words
            | "Short" >> beam.Filter(lambda w: len(w) < 3)
            | "WriteShort" >> beam.io.WriteToText(str(tmp_path / "short"))
        )
        (
            words
            | "Long" >> beam.Filter(lambda w: len(w) >= 3)
            | "WriteLong" >> beam.io.WriteToText(str(tmp_path / "long"))
        )
    assert _lines(tmp_path / "short") == ["a", "bb"]
    assert _lines(tmp_path / "long") == ["ccc"]


class _Split(beam.DoFn):
    def process(self, n: int):
        yield beam.pvalue.TaggedOutput("odd", n) if n % 2 else n


def _fails_on_three(n: int) -> int:
    if n == 3:
        raise ValueError("three")
    return n * 10


@pytest.mark.parametrize("runner", ["ours", _stock_fails("every consumer gets every tag")])
def test_each_tag_reaches_its_consumers_only(runner, cluster, tmp_path) -> None:
    with _pipeline(runner, cluster) as p:
        numbers = p | beam.Create(list(range(6)))
        even, odd = numbers | beam.ParDo(_Split()).with_outputs("odd", main="even")
        (
            even
            | "ToStrEven" >> beam.Map(str)
            | "WriteEven" >> beam.io.WriteToText(str(tmp_path / "even"))
        )
        odd | "ToStrOdd" >> beam.Map(str) | "WriteOdd" >> beam.io.WriteToText(str(tmp_path / "odd"))
        good, bad = numbers | "MayFail" >> beam.Map(_fails_on_three).with_exception_handling()
        (
            good
            | "ToStrGood" >> beam.Map(str)
            | "WriteGood" >> beam.io.WriteToText(str(tmp_path / "good"))
        )
        (
            bad
            | "Reason" >> beam.MapTuple(lambda element, exc: f"{element} {exc[0].__name__}")
            | "WriteBad" >> beam.io.WriteToText(str(tmp_path / "bad"))
        )
    assert _lines(tmp_path / "even") == ["0", "2", "4"]
    assert _lines(tmp_path / "odd") == ["1", "3", "5"]
    assert _lines(tmp_path / "good") == ["0", "10", "20", "40", "50"]
    assert _lines(tmp_path / "bad") == ["3 ValueError"]


class _Once(beam.DoFn):
    """Leaves one marker file per execution: how often the side input was computed."""

    def __init__(self, markers: str) -> None:
        self._markers = markers

    def process(self, element):
        Path(self._markers, uuid.uuid4().hex).touch()
        yield element


@pytest.mark.parametrize(
    "runner", ["ours", _stock_fails("side inputs are recomputed in every task")]
)
def test_a_side_input_is_computed_once(runner, cluster, tmp_path) -> None:
    markers = tmp_path / "markers"
    markers.mkdir()
    with _pipeline(runner, cluster) as p:
        offset = p | "Offset" >> beam.Create([100]) | "Mark" >> beam.ParDo(_Once(str(markers)))
        (
            p
            | beam.Create(list(range(8)))
            | beam.Reshuffle()
            | beam.Map(lambda n, off: str(n + off), beam.pvalue.AsSingleton(offset))
            | beam.io.WriteToText(str(tmp_path / "out"))
        )
    assert _lines(tmp_path / "out") == sorted(str(n + 100) for n in range(8))
    assert len(list(markers.iterdir())) == 1


class _Counted(beam.DoFn):
    def process(self, element):
        beam.metrics.Metrics.counter("test", "seen").inc()
        if element % 3 == 0:
            beam.metrics.Metrics.counter("test", "threes").inc()
        yield element


@pytest.mark.parametrize("runner", ["ours", _stock_fails("metrics() raises NotImplementedError")])
def test_counters_of_every_bundle_are_merged(runner, cluster) -> None:
    with _pipeline(runner, cluster) as p:
        p | beam.Create(list(range(10))) | beam.Reshuffle() | beam.ParDo(_Counted())
    counters = counters_of(p.result)
    assert counters["test/seen"] == 10
    assert counters["test/threes"] == 4


@pytest.mark.parametrize(
    "runner", ["ours", _stock_fails("Impulse and WindowInto are not translated")]
)
def test_impulse_and_window_into_run(runner, cluster, tmp_path) -> None:
    with _pipeline(runner, cluster) as p:
        (
            p
            | beam.Impulse()
            | beam.FlatMap(lambda _: ["x", "y"])
            | beam.WindowInto(GlobalWindows())
            | beam.io.WriteToText(str(tmp_path / "out"))
        )
    assert _lines(tmp_path / "out") == ["x", "y"]


class _Lifecycle(beam.DoFn):
    def __init__(self, markers: str) -> None:
        self._markers = markers

    def setup(self) -> None:
        Path(self._markers, f"setup-{uuid.uuid4().hex}").touch()

    def process(self, element):
        yield element

    def teardown(self) -> None:
        Path(self._markers, f"teardown-{uuid.uuid4().hex}").touch()


def test_setup_once_per_worker_thread_and_teardown_at_the_end(cluster, tmp_path) -> None:
    markers = tmp_path / "markers"
    markers.mkdir()
    p = beam.Pipeline(options=_options("ours", cluster, "--dask_partitions=8"))
    p | beam.Create(list(range(40))) | beam.Reshuffle() | beam.ParDo(_Lifecycle(str(markers)))
    result = p.run()
    result.wait_until_finish()
    setups = len(list(markers.glob("setup-*")))
    # Two workers of one thread each: at most one instance each, reused by the eight bundles.
    assert 1 <= setups <= 2
    assert sum(result.bundles_per_worker.values()) >= 8
    assert len(list(markers.glob("teardown-*"))) == setups


def _many_shapes(p: beam.Pipeline, tmp: Path) -> None:
    """Shapes newsbeam does not use: a bounded source (a splittable DoFn), combiners with and
    without input, Partition, Distinct, CoGroupByKey, dict and singleton side inputs, shards."""
    (tmp / "in.txt").write_text("\n".join(f"w{i % 7} x{i % 11}" for i in range(60)))
    words = p | beam.io.ReadFromText(str(tmp / "in.txt")) | beam.FlatMap(str.split)
    counts = words | beam.combiners.Count.PerElement()
    total = words | "Total" >> beam.combiners.Count.Globally()
    distinct = words | beam.Distinct()
    lengths = beam.pvalue.AsDict(distinct | beam.Map(lambda w: (w, len(w))))
    (
        counts
        | "Format"
        >> beam.Map(
            lambda kv, lens, t: f"{kv[0]} {kv[1]} {lens[kv[0]]} {t}",
            lengths,
            beam.pvalue.AsSingleton(total),
        )
        | "WriteCounts" >> beam.io.WriteToText(str(tmp / "out" / "counts"), num_shards=3)
    )
    (
        p
        | "Nothing" >> beam.Create([])
        | "SumOfNothing" >> beam.CombineGlobally(sum)
        | "EmptyToStr" >> beam.Map(str)
        | "WriteEmpty" >> beam.io.WriteToText(str(tmp / "out" / "empty"))
    )
    (
        counts
        | beam.combiners.Top.Of(3, key=lambda kv: (kv[1], kv[0]))
        | "TopToStr" >> beam.Map(str)
        | "WriteTop" >> beam.io.WriteToText(str(tmp / "out" / "top"))
    )
    for i, part in enumerate(words | beam.Partition(lambda w, n: len(w) % n, 3)):
        part | f"WritePart{i}" >> beam.io.WriteToText(str(tmp / "out" / f"part{i}"))
    (
        {"n": counts, "one": distinct | "One" >> beam.Map(lambda w: (w, 1))}
        | beam.CoGroupByKey()
        | beam.MapTuple(lambda w, v: f"{w} {sorted(v['n'])} {sorted(v['one'])}")
        | "WriteJoined" >> beam.io.WriteToText(str(tmp / "out" / "joined"))
    )


def _outputs(folder: Path) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for path in folder.iterdir():
        found.setdefault(path.name.split("-")[0], []).extend(path.read_text().splitlines())
    return {name: sorted(lines) for name, lines in found.items()}


def test_many_shapes_give_the_direct_runners_output(cluster, tmp_path) -> None:
    outputs = {}
    for name, options in (
        ("direct", PipelineOptions(["--runner=DirectRunner"])),
        ("dask", _options("ours", cluster)),
    ):
        (tmp_path / name).mkdir()
        with beam.Pipeline(options=options) as p:
            _many_shapes(p, tmp_path / name)
        outputs[name] = _outputs(tmp_path / name / "out")
    assert outputs["dask"] == outputs["direct"]
    assert sorted(outputs["dask"]) == [
        "counts",
        "empty",
        "joined",
        "part0",
        "part1",
        "part2",
        "top",
    ]
    assert outputs["dask"]["empty"] == ["0"] and len(outputs["dask"]["counts"]) == 18
    assert not list(tmp_path.rglob("beam-temp-*"))


class _Stateful(beam.DoFn):
    SEEN = ReadModifyWriteStateSpec("seen", beam.coders.VarIntCoder())

    def process(self, element, seen=beam.DoFn.StateParam(SEEN)):  # noqa: B008 - Beam's idiom
        yield element


@pytest.mark.parametrize("runner", ["ours", _stock_fails("a stateful DoFn fails an assertion")])
def test_a_stateful_dofn_is_refused_by_name(runner, cluster) -> None:
    refused = pytest.raises(dask_runner.UnsupportedPipeline, match="state or timers")
    with refused, _pipeline(runner, cluster) as p:
        p | beam.Create([("k", 1), ("k", 2)]) | beam.ParDo(_Stateful())


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda p: p | beam.Create([("k", 1)]) | beam.ParDo(_Stateful()), "state or timers"),
        (lambda p: p | beam.Create([1]) | beam.WindowInto(FixedWindows(60)), "global window only"),
        (lambda p: p | test_stream.TestStream().add_elements([1]), "batch pipelines only"),
    ],
    ids=["stateful", "fixed-windows", "unbounded"],
)
def test_what_it_cannot_run_is_refused_by_name(build, message, tmp_path) -> None:
    # Refused before a cluster is started: the scheduler below does not exist.
    p = beam.Pipeline(
        options=PipelineOptions([f"--runner={OURS}", "--dask_scheduler=tcp://127.0.0.1:9"])
    )
    build(p)
    with pytest.raises(dask_runner.UnsupportedPipeline, match=message):
        p.run()


def test_a_worker_without_this_newsbeam_is_named_before_anything_runs(cluster) -> None:
    from importlib.metadata import PackageNotFoundError, version

    dask_runner.check_workers(cluster.client)  # the test cluster's workers: this very install

    class Client:
        def run(self, fn, *args, on_error):
            return {
                "tcp://a:1": version("newsbeam"),
                "tcp://b:1": PackageNotFoundError("newsbeam"),
                "tcp://c:1": "0.0.1",
            }

    with pytest.raises(RuntimeError) as err:
        dask_runner.check_workers(Client())
    assert "tcp://b:1 (not installed), tcp://c:1 (0.0.1)" in str(err.value)
    assert "tcp://a:1" not in str(err.value)


def test_beam_refuses_its_own_runner_by_name() -> None:
    # Beam 2.77 knows no runner called "DaskRunner"; newsbeam's --runner dask/DaskRunner is ours.
    from apache_beam.runners.runner import create_runner

    with pytest.raises(ValueError, match="Unexpected pipeline runner"):
        create_runner("DaskRunner")


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--runner", "dask"], [f"--runner={OURS}", "--dask_scheduler=local"]),
        (
            ["--runner=DaskRunner", "--dask-scheduler", "local:2"],
            [f"--runner={OURS}", "--dask_scheduler=local:2"],
        ),
        (
            ["--runner", "dask", "--dask-scheduler", "tcp://10.0.0.5:8786"],
            [f"--runner={OURS}", "--dask_scheduler=tcp://10.0.0.5:8786"],
        ),
        (["--runner=DirectRunner"], ["--runner=DirectRunner"]),
        ([], []),
    ],
)
def test_runner_options_become_beam_options(argv, expected) -> None:
    from pipeline.cli import build_parser
    from pipeline.commands import runner_args

    args, rest = build_parser().parse_known_args(["run", "--output", "x", *argv])
    assert runner_args(args, rest) == expected


@pytest.mark.parametrize("value", ["local:0", "local:two", "http://host:1", "tcp://"])
def test_bad_scheduler_addresses_are_refused(value, capsys) -> None:
    with pytest.raises(SystemExit) as stop:
        main(
            [
                "run",
                "--feed",
                "http://example.test/f.xml",
                "--output",
                "x",
                "--runner",
                "dask",
                "--dask-scheduler",
                value,
            ]
        )
    assert stop.value.code == 2
    assert value in capsys.readouterr().err


def test_stream_on_dask_is_a_one_line_error(tmp_path, capsys) -> None:
    code = main(
        [
            "stream",
            "--feed",
            "http://example.test/f.xml",
            "--output",
            str(tmp_path),
            "--runner",
            "dask",
        ]
    )
    assert code == EXIT_CONFIG
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "batch" in err


def test_dask_scheduler_without_the_dask_runner_is_refused(tmp_path, capsys) -> None:
    code = main(
        [
            "run",
            "--feed",
            "http://example.test/f.xml",
            "--output",
            str(tmp_path),
            "--dask-scheduler",
            "local",
        ]
    )
    assert code == EXIT_CONFIG
    assert "--runner dask" in capsys.readouterr().err


# --- end to end: the CLI on the cluster against the DirectRunner -------------------------------

DATE = "2026-11-24"
TIMES = {"fetched_at", "failed_at"}
# Counters of work each DoFn instance does once for itself (the DirectRunner has one instance).
PER_INSTANCE = {"fetch/robots:fetched"}


def _without(counters: dict[str, int], names: set[str]) -> dict[str, int]:
    return {k: v for k, v in counters.items() if k not in names}


def _table(out: Path, name: str) -> list[tuple]:
    rows = ds.dataset(out / name, format="parquet", partitioning="hive").to_table().to_pylist()
    return sorted(
        tuple((k, str(v)) for k, v in sorted(row.items()) if k not in TIMES) for row in rows
    )


def _manifest(out: Path) -> dict:
    (path,) = (out / "_runs" / f"date={DATE}").glob("*.json")
    return json.loads(path.read_text())


def _compare(run, cluster: Cluster) -> None:
    """``run(out, *runner_args)`` on the DirectRunner and on the cluster: the same output."""
    direct = run("direct")
    before = cluster.bundles()
    on_dask = run("dask", "--runner", "dask", "--dask-scheduler", cluster.address)
    after = cluster.bundles()
    assert _table(on_dask, "articles") == _table(direct, "articles")
    assert _table(on_dask, "dead_letter") == _table(direct, "dead_letter")
    dask_manifest, direct_manifest = _manifest(on_dask), _manifest(direct)
    assert dask_manifest["counters"] == direct_manifest["counters"]
    # robots.txt is loaded once per host by each fetching DoFn instance: once per worker here.
    dask_counters, direct_counters = (
        dask_manifest["beam_counters"],
        direct_manifest["beam_counters"],
    )
    for name in PER_INSTANCE:
        assert (
            direct_counters.get(name, 0)
            <= dask_counters.get(name, 0)
            <= 2 * direct_counters.get(name, 0)
        )
    assert _without(dask_counters, PER_INSTANCE) == _without(direct_counters, PER_INSTANCE)
    assert dask_manifest["balanced"]
    assert not list(on_dask.rglob("beam-temp-*"))
    assert sorted(after) == cluster.workers
    assert all(after[w] > before.get(w, 0) for w in cluster.workers), (before, after)


def test_demo_site_on_the_cluster(cluster, demo_server, tmp_path) -> None:
    from pipeline.demo import demo_site

    config = tmp_path / "feeds.yaml"
    config.write_text(
        (demo_site() / "feeds.yaml").read_text("utf-8").replace("{base}", demo_server.base)
    )

    def run(name: str, *runner: str) -> Path:
        out = tmp_path / name
        code = main(
            [
                "run",
                "--config",
                str(config),
                "--output",
                str(out),
                "--date",
                DATE,
                "--allow-private-hosts",
                "--quiet",
                *runner,
            ]
        )
        assert code == EXIT_OK
        return out

    _compare(run, cluster)
    assert len(_table(tmp_path / "dask", "articles")) > 0


def test_fault_site_on_the_cluster(cluster, tmp_path) -> None:
    from tests.faultserver import FaultServer
    from tests.test_accounting import CONFIG, FEED_NAMES

    config = tmp_path / "faults.yaml"
    config.write_text(json.dumps(CONFIG))
    server = FaultServer()
    server.robots = "User-agent: *\nDisallow: /private/\n"
    for encoding in ("gzip", "deflate"):
        server.bomb(encoding, 5_000_000)

    def run(name: str, *runner: str) -> Path:
        server.reset_flaps()  # the flapping endpoint fails first in both runs
        out = tmp_path / name
        argv = [
            "run",
            "--config",
            str(config),
            "--output",
            str(out),
            "--allow-private-hosts",
            "--date",
            DATE,
            "--max-failure-rate",
            "1",
            "--quiet",
            *runner,
        ]
        for feed in FEED_NAMES:
            argv += ["--feed", server.url(f"/feed/{feed}.xml")]
        assert main(argv) == EXIT_OK
        return out

    server.start()
    try:
        _compare(run, cluster)
    finally:
        server.close()
    assert len(_table(tmp_path / "dask", "dead_letter")) > 0
