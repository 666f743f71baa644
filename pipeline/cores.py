"""How many cores this process may use, and how many extraction processes the default gets.

``os.cpu_count()`` is the machine's (in a container: the node's) count. What a process may run
on is smaller when its affinity mask leaves cores out (``taskset``, ``docker --cpuset-cpus``)
or when its cgroup caps CPU time (``docker --cpus``, a Kubernetes CPU limit): a quota of 2 CPUs
on a 64-core node still gives two cores' worth of time, and 64 extraction processes would only
be throttled in turn. :func:`usable_cores` takes the smallest of the three.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
PROC_CGROUP = Path("/proc/self/cgroup")


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except (OSError, UnicodeDecodeError):
        return None


def _own_cgroups(proc_cgroup: Path) -> dict[str, str]:
    """Controller (``cpu``, ``""`` for cgroup v2) → this process's cgroup path, from
    ``/proc/self/cgroup`` (``0::/path`` for v2, ``N:cpu,cpuacct:/path`` for v1)."""
    found: dict[str, str] = {}
    for line in (_read(proc_cgroup) or "").splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        for controller in parts[1].split(","):
            found.setdefault(controller, parts[2])
    return found


def _candidates(root: Path, path: str | None) -> list[Path]:
    """The process's own cgroup directory first, then the mount's root (inside a container's
    cgroup namespace the two are the same; outside, the root says nothing about the process)."""
    dirs = []
    if path and path != "/":
        dirs.append(root / path.lstrip("/"))
    dirs.append(root)
    return dirs


def _quota_v2(text: str | None) -> float | None:
    # cpu.max: "QUOTA PERIOD", QUOTA "max" when unlimited.
    if not text:
        return None
    fields = text.split()
    if len(fields) != 2 or fields[0] == "max":
        return None
    try:
        quota, period = int(fields[0]), int(fields[1])
    except ValueError:
        return None
    return quota / period if quota > 0 and period > 0 else None


def _quota_v1(quota: str | None, period: str | None) -> float | None:
    # cpu.cfs_quota_us is -1 when unlimited.
    try:
        q, p = int(quota or ""), int(period or "")
    except ValueError:
        return None
    return q / p if q > 0 and p > 0 else None


def cgroup_cpu_limit(root: Path = CGROUP_ROOT, proc_cgroup: Path = PROC_CGROUP) -> float | None:
    """The CPU time this process's cgroup may use, in cores (``1.5``), or None when unlimited."""
    own = _own_cgroups(proc_cgroup)
    limits = []
    for directory in _candidates(root, own.get("")):
        limits.append(_quota_v2(_read(directory / "cpu.max")))
    for mount in ("cpu", "cpu,cpuacct", "cpuacct,cpu"):
        for directory in _candidates(root / mount, own.get("cpu")):
            limits.append(_quota_v1(_read(directory / "cpu.cfs_quota_us"),
                                    _read(directory / "cpu.cfs_period_us")))
    known = [limit for limit in limits if limit is not None]
    return min(known) if known else None


def affinity_cores() -> int:
    """Cores in this process's affinity mask (the machine's count where there is no mask)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def usable_cores(affinity: int | None = None, quota: float | None = None, *,
                 root: Path = CGROUP_ROOT, proc_cgroup: Path = PROC_CGROUP) -> int:
    """Whole cores this process may keep busy: the affinity mask, capped by the cgroup quota
    (a quota of 1.5 gives 1: a second process would be throttled for half of every period)."""
    cores = affinity if affinity is not None else affinity_cores()
    limit = quota if quota is not None else cgroup_cpu_limit(root, proc_cgroup)
    if limit is not None:
        cores = min(cores, max(1, math.floor(limit + 1e-9)))
    return max(1, cores)


def default_workers(cores: int) -> int:
    """Extraction processes for ``--workers auto`` (the default) on ``cores`` usable cores.

    One per core from two cores on. On one usable core, none: the children could only take
    turns with the pipeline's own process on that core, each page would cross a pipe twice, and
    under a CPU quota more processes get no more time. (On a core shared with other busy
    programs a pool does finish sooner, by taking a larger share of the scheduler from them:
    BENCHMARKS.md, "Default workers"; not a reason to make it the default.) Tiny runs need no
    rule here: the extraction stage starts its processes only after its first few pages
    (``transforms.text.extract.POOL_AFTER_PAGES``), so a run of a handful of pages never
    waits for them.
    """
    return cores if cores >= 2 else 1
