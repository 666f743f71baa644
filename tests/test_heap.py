"""Heap trimming: how often it runs, and that the fetch stage's setting is checked."""

from __future__ import annotations

import platform

import pytest
from pydantic import ValidationError

from transforms import heap
from transforms.fetch import FetchConfig


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="malloc_trim is a glibc call")
def test_trim_calls_glibc():
    assert heap.trim() is True


def test_trimmer_trims_once_per_period(monkeypatch):
    calls = []
    monkeypatch.setattr(heap, "trim", lambda: calls.append(1) or True)
    trimmer = heap.Trimmer(3)
    assert [trimmer.tick() for _ in range(7)] == [False, False, True, False, False, True, False]
    assert len(calls) == 2


def test_trimmer_zero_never_trims(monkeypatch):
    monkeypatch.setattr(heap, "trim", lambda: pytest.fail("trim must not run"))
    trimmer = heap.Trimmer(0)
    assert not any(trimmer.tick() for _ in range(1000))


def test_without_malloc_trim_nothing_happens(monkeypatch):
    monkeypatch.setattr(heap, "_malloc_trim", lambda: None)
    assert heap.trim() is False
    assert heap.Trimmer(1).tick() is False


def test_fetch_config_trim_every():
    assert FetchConfig().trim_every == 200
    assert FetchConfig(trim_every=0).trim_every == 0
    with pytest.raises(ValidationError):
        FetchConfig(trim_every=-1)
