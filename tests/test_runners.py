"""Same rows whichever local runner executes the graph, and no Prism download attempt.

Beam 2.77's DirectRunner hands a graph to Prism (downloading its binary first) when every
transform is Prism-compatible, and falls back to the Python runners otherwise. Our graph routes
failures through ``with_exception_handling``, which makes the DirectRunner skip Prism, so an
offline run never waits on a download. These tests pin both facts down.
"""

from __future__ import annotations

import pyarrow.dataset as ds
import pytest
from apache_beam.runners.portability import prism_runner

from pipeline.cli import EXIT_OK, main

VOLATILE = {"fetched_at", "feed_url", "url", "final_url"}


def _rows(out) -> list[tuple]:
    table = ds.dataset(out / "articles", format="parquet", partitioning="hive").to_table()
    rows = []
    for row in table.to_pylist():
        rows.append(tuple((k, str(v)) for k, v in sorted(row.items()) if k not in VOLATILE))
    return sorted(rows)


def test_direct_runner_does_not_try_prism(fixture_server, tmp_path, monkeypatch) -> None:
    calls = []
    monkeypatch.setattr(prism_runner.PrismRunner, "run_pipeline",
                        lambda self, *a, **k: calls.append(1) or pytest.fail("Prism attempted"))
    args = ["run", "--feed", fixture_server.url("/feeds/latin1.xml"), "--output", str(tmp_path),
            "--date", "2026-11-24", "--allow-private-hosts"]
    assert main(args) == EXIT_OK
    assert calls == []


def test_runners_agree(fixture_server, tmp_path) -> None:
    outputs = {}
    for runner in ("DirectRunner", "BundleBasedDirectRunner"):
        out = tmp_path / runner
        code = main(["run", "--feed", fixture_server.url("/feeds/mixed.xml"),
                     "--feed", fixture_server.url("/feeds/latin1.xml"), "--output", str(out),
                     "--date", "2026-11-24", "--allow-private-hosts", f"--runner={runner}"])
        assert code == EXIT_OK
        outputs[runner] = _rows(out)
    assert outputs["DirectRunner"] == outputs["BundleBasedDirectRunner"]
    assert len(outputs["DirectRunner"]) == 4


def test_worker_processes_write_the_same_rows(fixture_server, tmp_path) -> None:
    # --workers 2: extraction runs in two worker processes beside the pipeline's own.
    outputs = {}
    for workers in ("1", "2"):
        out = tmp_path / f"w{workers}"
        code = main(["run", "--feed", fixture_server.url("/feeds/mixed.xml"),
                     "--feed", fixture_server.url("/feeds/latin1.xml"), "--output", str(out),
                     "--date", "2026-11-24", "--allow-private-hosts", "--workers", workers])
        assert code == EXIT_OK
        outputs[workers] = _rows(out)
    assert outputs["1"] == outputs["2"]
    assert len(outputs["1"]) == 4


@pytest.mark.parametrize("value", ["0", "-1", "many"])
def test_bad_worker_counts_are_refused(value: str, tmp_path, capsys) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["run", "--feed", "http://example.test/feed.xml", "--output", str(tmp_path), "--workers", value])
    assert stop.value.code == 2
    assert f"got {value!r}" in capsys.readouterr().err


def test_heap_threshold_is_set_where_glibc_is() -> None:
    import platform

    from pipeline.run import limit_heap_growth

    import pyarrow as pa

    expected = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"
    assert limit_heap_growth() is expected
    if expected:  # pyarrow then allocates through the same malloc
        assert pa.default_memory_pool().backend_name == "system"
