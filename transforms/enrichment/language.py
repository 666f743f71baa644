"""Detect the language of each article's text.

Input: ``Article`` (cleaned). Output: ``Article`` with ``language`` (ISO 639-1) and
``language_score`` (``ok``); no dead letters expected (``dead``).
Counters (namespace ``language``): ``in``, ``lang:<code>``, ``from_hint``.

py3langid ships its model (numpy arrays, no pickle) inside the package, so detection works
offline. On very short texts
the detector guesses; there the feed's declared language, when it has one, is more trustworthy.

The identifier itself (py3langid's model with its walk compiled, one per process) lives in
``language_model.py``, which imports without Beam.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import apache_beam as beam

from transforms import progress
from transforms.enrichment.language_model import (  # noqa: F401 - the stage's model, re-exported
    Identifier,
    load_identifier,
    load_reference_identifier,
    preload,
    shared_identifier,
)
from transforms.storage.deadletter import ParDoWithDeadLetters
from transforms.records import Article

# Below this many characters of text+title a detector's guess is worse than the feed's hint.
MIN_CHARS_FOR_DETECTION = 40
# Detection reads a prefix. On the 301 shared extraction pages (17 languages) the first 600,
# 800, 1,000 or 1,500 characters gave the same language as the first 4,000 on every page; 1,000
# costs 0.36x the time of 4,000 (0.6 ms a page, py3langid's own walk) and leaves a margin over
# the shortest that agreed.
MAX_CHARS = 1000


def detect_language(
    identifier: Any, title: str, text: str, hint: str | None
) -> tuple[str | None, float | None, bool]:
    """(code, probability, used_hint)."""
    sample = f"{title}\n{text}".strip()[:MAX_CHARS]
    if len(sample) < MIN_CHARS_FOR_DETECTION:
        return (hint, None, True) if hint else (None, None, False)
    code, prob = identifier.classify(sample)
    return code, round(float(prob), 4), False


class _LanguageFn(beam.DoFn):
    def setup(self) -> None:
        self._identifier = shared_identifier()
        self._in = beam.metrics.Metrics.counter("language", "in")
        self._hint = beam.metrics.Metrics.counter("language", "from_hint")

    def process(self, article: Article) -> Iterator[Article]:
        self._in.inc()
        progress.tick("extracted")
        code, score, used_hint = detect_language(
            self._identifier, article.title, article.text, article.feed_language
        )
        self._hint.inc(int(used_hint))
        beam.metrics.Metrics.counter("language", f"lang:{code}").inc()
        yield dataclasses.replace(article, language=code, language_score=score)


class DetectLanguage(beam.PTransform):
    """``Article`` → (``Article`` with language, ``DeadLetter``)."""

    def expand(self, articles):
        return articles | "Detect" >> ParDoWithDeadLetters(_LanguageFn(), "language")
