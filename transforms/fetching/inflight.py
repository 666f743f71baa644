"""Work a DoFn has started but not yet emitted, and the process pool the CPU stages share.

Two stages hand work to a pool and emit each result in a later call than the element that asked
for it: fetching (threads waiting on the network) and extraction (processes, see
:class:`ProcessPool`). :class:`InFlight` keeps each future with the window and timestamp of its
element, so the result leaves with them, from ``process`` or from ``finish_bundle``.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any, NamedTuple

from apache_beam.pvalue import TaggedOutput
from apache_beam.utils.windowed_value import WindowedValue


class Pending(NamedTuple):
    future: Future
    timestamp: Any
    window: Any
    element: Any

    def windowed(self, output: Any) -> Any:
        """``output`` (a value, or a ``TaggedOutput``'s value) with this element's window."""
        if isinstance(output, TaggedOutput):
            return TaggedOutput(output.tag, self.windowed(output.value))
        return WindowedValue(output, self.timestamp, (self.window,))


class InFlight:
    """The futures of one bundle, oldest first."""

    def __init__(self) -> None:
        self._items: deque[Pending] = deque()

    def __len__(self) -> int:
        return len(self._items)

    def add(self, future: Future, timestamp: Any, window: Any, element: Any = None) -> None:
        self._items.append(Pending(future, timestamp, window, element))

    def next_done(self, block: bool) -> Pending | None:
        """A finished item (taken out), else None; with ``block``, wait for one if any is left."""
        for item in self._items:
            if item.future.done():
                self._items.remove(item)
                return item
        if not block or not self._items:
            return None
        wait([item.future for item in self._items], return_when=FIRST_COMPLETED)
        return self.next_done(block=False)

    def drain(self) -> Iterator[Pending]:
        """Every item left, each as soon as it is done (for ``finish_bundle``)."""
        while self._items:
            yield self.next_done(block=True)


def _start_method() -> str:
    # forkserver: children fork from a clean server that has the stage modules imported, so a
    # new child costs milliseconds and inherits no threads or locks of the pipeline process.
    return "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"


def _ready() -> int:
    return os.getpid()


def start_forkserver(preload: tuple[str, ...]) -> None:
    """Start the forkserver now, importing ``preload`` in it, so that it is ready by the time a
    pool asks for children (its imports take about a second). Does not wait for it."""
    context = multiprocessing.get_context(_start_method())
    if context.get_start_method() != "forkserver":
        return
    context.set_forkserver_preload(list(preload))
    from multiprocessing import forkserver

    forkserver.ensure_running()


MAIN_GUARD = (
    "newsbeam's extraction processes import the script that started them (Python's "
    "multiprocessing does that), and this script runs a pipeline when imported. Put the code "
    "that runs it under `if __name__ == '__main__':`, or extract in one process "
    "(ExtractConfig(processes=0), newsbeam run --workers 1)."
)


class MainGuardMissing(RuntimeError):
    """A pool was asked for while a child process imports the parent's script."""


class ProcessPool:
    """A process pool that comes back after a child dies (a crash in a C parser, the OOM killer).

    ``preload`` names modules the forkserver imports once, before forking children (see
    :func:`start_forkserver`).

    Every child imports the parent's main script (as ``__mp_main__``) before it works. A script
    without a main guard would run its pipeline again in each child, and that pipeline would ask
    for a pool again: that is refused here (:class:`MainGuardMissing`), the child dies, and the
    parent's :meth:`failed_to_start` says so, so the stage extracts inline and says why once.
    """

    def __init__(self, processes: int, preload: tuple[str, ...] = ()) -> None:
        if getattr(multiprocessing.current_process(), "_inheriting", False):
            raise MainGuardMissing(MAIN_GUARD)
        self.processes = processes
        self._context = multiprocessing.get_context(_start_method())
        if preload:
            start_forkserver(preload)  # a no-op when the run started it already
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()
        self.restarts = 0
        self._started: list[Future] = []  # warm_up's first task for each child
        self._starter: threading.Thread | None = None

    def _executor(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ProcessPoolExecutor(self.processes, mp_context=self._context)
            return self._pool

    def warm_up(self) -> threading.Thread:
        """Start every child now, on a background thread: starting them waits for the
        forkserver's imports, and the stage that owns the pool need not wait with it (the
        first pages are still on the wire)."""

        def start() -> None:
            pool = self._executor()
            self._started = [pool.submit(_ready) for _ in range(self.processes)]

        thread = threading.Thread(target=start, name="newsbeam-pool-start", daemon=True)
        thread.start()
        self._starter = thread
        return thread

    def failed_to_start(self) -> bool:
        """A child of :meth:`warm_up` died before it answered (see the class docstring)."""
        return any(f.done() and f.exception() is not None for f in self._started)

    def wait_ready(self, timeout: float | None = None) -> bool:
        """Block until every child of :meth:`warm_up` answered (or ``timeout``); :meth:`ready`."""
        if self._starter is not None:
            self._starter.join(timeout)
            wait(self._started, timeout)
        return self.ready() and not self.failed_to_start()

    def ready(self) -> bool:
        """Every child of :meth:`warm_up` has answered (False before warm_up, or while the
        forkserver still imports): until then the owner does the work itself, so a run of a
        few pages does not wait a second for processes it hardly needs."""
        started = self._started
        return len(started) == self.processes and all(f.done() for f in started)

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future:
        return self._executor().submit(fn, *args)

    @property
    def generation(self) -> int:
        """Which pool submits go to now; it changes when a broken pool is replaced."""
        return self.restarts

    def replace(self, generation: int) -> None:
        """Replace the pool of ``generation`` after it broke. Every future of a broken pool
        fails; only the first one looked at replaces it, later ones find it replaced already."""
        with self._lock:
            if generation == self.restarts and self._pool is not None:
                self._pool.shutdown(wait=False, cancel_futures=True)
                self._pool = None
                self.restarts += 1

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
