"""Live progress counts for a person watching a terminal.

Beam's counters are the record of a run, but a local runner reports them only at the end. Stages
therefore also tick these in-process counts, which the CLI shows while the run is going. They are
a display side channel only — nothing reads them to decide anything — and they stay empty when
the work runs in other processes (multi-process mode, remote runners), where the CLI then shows
just the final summary.
"""

from __future__ import annotations

import threading
from collections import Counter

_lock = threading.Lock()
_counts: Counter[str] = Counter()


def tick(name: str, n: int = 1) -> None:
    with _lock:
        _counts[name] += n


def snapshot() -> dict[str, int]:
    with _lock:
        return dict(_counts)


def reset() -> None:
    with _lock:
        _counts.clear()
