"""Give freed heap memory back to the operating system every so often.

Why: the fetch threads each allocate page bodies (a few hundred KB) in their own glibc malloc
arena, and the bundle's thread frees them later. The freed space stays mapped inside the arenas,
so a long run's RSS creeps up by tens of KB per page although nothing is alive
(measured in BENCHMARKS.md). ``malloc_trim(0)`` hands the free pages of every arena back; it
costs about a millisecond, so it runs once per ``every`` pages, not per page.
On a C library without ``malloc_trim`` (musl, macOS) this does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools


@functools.cache
def _malloc_trim():
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        return libc.malloc_trim
    except (OSError, AttributeError, TypeError):
        return None


def trim() -> bool:
    """Return free heap pages to the OS now; False where the C library cannot."""
    fn = _malloc_trim()
    if fn is None:
        return False
    fn(0)
    return True


class Trimmer:
    """Counts pages and trims the heap after every ``every`` of them (0: never)."""

    def __init__(self, every: int) -> None:
        self._every = every
        self._count = 0

    def tick(self) -> bool:
        """Count one page; True when this call trimmed."""
        if self._every <= 0:
            return False
        self._count += 1
        if self._count < self._every:
            return False
        self._count = 0
        return trim()
