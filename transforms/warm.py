"""Loading what stages need once per process, and ahead of time on a thread.

The language model, the topic model and the cleaning rules each take a fraction of a second to
a second and a half to load. A run starts loading them on threads before its first article
(:func:`in_background`); the stages' setups then get the same objects (:func:`once_per_process`)
instead of loading them again, waiting for the load in flight if it has not finished.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


def once_per_process(load: Callable[..., T]) -> Callable[..., T]:
    """``load`` memoised by its (hashable) arguments. Callers asking while a load runs wait
    for it instead of loading too (``functools.lru_cache`` would let both run); a load that
    raises is not kept, so the next caller tries again and sees the error itself. The results
    are shared between threads: only for what its users only read."""
    done: dict[Any, T] = {}
    lock = threading.Lock()

    @functools.wraps(load)
    def shared(*args: Any) -> T:
        with lock:
            if args not in done:
                done[args] = load(*args)
            return done[args]

    return shared


def in_background(name: str, load: Callable[..., object], *args: object) -> threading.Thread:
    """Run ``load(*args)`` on a daemon thread, ignoring what it raises: it only warms up, and
    the stage that needs the result loads it again and reports the error there."""

    def quietly() -> None:
        try:
            load(*args)
        except Exception:  # noqa: BLE001, S110 - see above
            pass

    thread = threading.Thread(target=quietly, name=name, daemon=True)
    thread.start()
    return thread
