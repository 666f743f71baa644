"""Loading once per process, and warming up on a thread."""

from __future__ import annotations

import threading

import pytest

from transforms.warm import in_background, once_per_process


def test_callers_during_a_load_wait_for_it_instead_of_loading_too() -> None:
    started, release = threading.Event(), threading.Event()
    calls: list[str] = []

    @once_per_process
    def load(name: str) -> object:
        calls.append(name)
        started.set()
        release.wait(10)
        return object()

    first = in_background("test-load", load, "a")
    assert started.wait(10)
    got: list[object] = []
    second = threading.Thread(target=lambda: got.append(load("a")))
    second.start()
    release.set()
    first.join(10)
    second.join(10)
    assert calls == ["a"]  # the second caller got the first one's result
    assert got == [load("a")]
    assert load("b") is not load("a") and calls == ["a", "b"]


def test_a_load_that_fails_is_tried_again_and_the_warm_up_stays_quiet() -> None:
    attempts: list[int] = []

    @once_per_process
    def load() -> int:
        attempts.append(1)
        if len(attempts) == 1:
            raise OSError("model file missing")
        return 7

    in_background("test-fail", load).join(10)  # raises inside the thread, says nothing
    assert load() == 7 and load() == 7
    assert len(attempts) == 2


def test_the_stage_sees_the_error_the_warm_up_swallowed() -> None:
    @once_per_process
    def load() -> None:
        raise ValueError("bad rule file")

    in_background("test-error", load).join(10)
    with pytest.raises(ValueError, match="bad rule file"):
        load()
