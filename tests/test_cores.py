"""Usable cores (affinity, cgroup v1/v2 CPU quota) and the default number of extraction
processes, on cgroup files written for each case."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.cores import cgroup_cpu_limit, default_workers, usable_cores


def _tree(tmp_path: Path, files: dict[str, str], own: str) -> tuple[Path, Path]:
    root = tmp_path / "cgroup"
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    proc = tmp_path / "proc_self_cgroup"
    proc.write_text(own)
    return root, proc


@pytest.mark.parametrize(
    ("files", "own", "limit"),
    [
        # cgroup v2, the process's own group (a container's namespace shows it as the root).
        ({"cpu.max": "150000 100000\n"}, "0::/\n", 1.5),
        ({"cpu.max": "max 100000\n"}, "0::/\n", None),
        # v2 outside a namespace: the process's group is a subdirectory, the root says nothing.
        ({"cpu.max": "max 100000\n", "kubepods/pod1/cpu.max": "200000 100000\n"}, "0::/kubepods/pod1\n", 2.0),
        # cgroup v1, as docker --cpus=3 writes it, with cpu and cpuacct mounted together.
        ({"cpu,cpuacct/cpu.cfs_quota_us": "300000", "cpu,cpuacct/cpu.cfs_period_us": "100000"},
         "4:cpu,cpuacct:/\n", 3.0),
        ({"cpu/cpu.cfs_quota_us": "-1", "cpu/cpu.cfs_period_us": "100000"}, "1:cpu:/\n", None),
        ({"cpu/docker/abc/cpu.cfs_quota_us": "50000", "cpu/docker/abc/cpu.cfs_period_us": "100000"},
         "1:cpu:/docker/abc\n", 0.5),
        # Nothing readable, or garbage: no limit known.
        ({}, "", None),
        ({"cpu.max": "lots\n"}, "0::/\n", None),
    ],
)
def test_cgroup_cpu_limit_reads_v1_and_v2(tmp_path, files, own, limit) -> None:
    root, proc = _tree(tmp_path, files, own)
    assert cgroup_cpu_limit(root, proc) == limit


@pytest.mark.parametrize(
    ("affinity", "quota_file", "cores"),
    [
        (64, "200000 100000", 2),   # a 2-CPU container on a 64-core node
        (64, "150000 100000", 1),   # 1.5 CPUs: a second busy process would be throttled
        (64, "50000 100000", 1),    # half a core still runs one process
        (2, "max 100000", 2),
        (4, "800000 100000", 4),    # affinity is the smaller
    ],
)
def test_usable_cores_is_the_smallest_of_affinity_and_quota(tmp_path, affinity, quota_file, cores) -> None:
    root, proc = _tree(tmp_path, {"cpu.max": quota_file}, "0::/\n")
    assert usable_cores(affinity, root=root, proc_cgroup=proc) == cores


def test_usable_cores_of_this_process_fits_its_affinity() -> None:
    import os

    assert 1 <= usable_cores() <= len(os.sched_getaffinity(0))


@pytest.mark.parametrize(("cores", "workers"), [(1, 1), (2, 2), (8, 8)])
def test_default_workers_keep_one_core_inline(cores: int, workers: int) -> None:
    assert default_workers(cores) == workers


def test_run_defaults_to_the_usable_cores(monkeypatch) -> None:
    # --workers left out means 'auto': sized by usable_cores, with no pool on one core.
    from pipeline import cli, cores

    for count, expected in ((1, 1), (2, 2), (6, 6)):
        monkeypatch.setattr(cores, "usable_cores", lambda count=count: count)
        args = cli.build_parser().parse_args(["run", "--feed", "http://example.test/f.xml", "--output", "o"])
        assert args.workers == expected
        args = cli.build_parser().parse_args(["stream", "--feed", "http://example.test/f.xml", "--output", "o"])
        assert args.workers == expected
    args = cli.build_parser().parse_args(["run", "--feed", "http://x.test/f", "--output", "o", "--workers", "1"])
    assert args.workers == 1
