"""Detect the language of each article's text.

Input: ``Article`` (cleaned). Output: ``Article`` with ``language`` (ISO 639-1) and
``language_score`` (``ok``); no dead letters expected (``dead``).
Counters (namespace ``language``): ``in``, ``lang:<code>``, ``from_hint``.

py3langid ships its model (numpy arrays, no pickle) inside the package, so detection works
offline. On very short texts
the detector guesses; there the feed's declared language, when it has one, is more trustworthy.

``Identifier`` answers as py3langid's ``LanguageIdentifier.classify`` does, bit for bit, with
the byte-by-byte DFA walk that takes most of its time compiled (``language_kernel.py``); the
steps after it are py3langid's own numpy calls. py3langid's identifier stays the reference
(``Identifier.reference``, ``tests/test_language_kernel.py``).
"""

from __future__ import annotations

import dataclasses
import functools
import math
import threading
from collections.abc import Iterator
from typing import Any

import apache_beam as beam
import numpy as np

from transforms import progress
from transforms.enrichment.kernels import import_kernel
from transforms.storage.deadletter import ParDoWithDeadLetters
from transforms.records import Article

# Below this many characters of text+title a detector's guess is worse than the feed's hint.
MIN_CHARS_FOR_DETECTION = 40
# Detection reads a prefix. On the 301 shared extraction pages (17 languages) the first 600,
# 800, 1,000 or 1,500 characters gave the same language as the first 4,000 on every page; 1,000
# costs 0.36x the time of 4,000 (0.6 ms a page, py3langid's own walk) and leaves a margin over
# the shortest that agreed.
MAX_CHARS = 1000


# A text with features, so that both compiled functions run once when an identifier is made.
_WARM_UP = "Ein kurzer Text, a short text."


def load_reference_identifier() -> Any:
    """py3langid's own identifier (its pure-Python walk): the reference ``Identifier`` matches."""
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def load_identifier() -> Identifier:
    return Identifier(load_reference_identifier())


@functools.lru_cache(maxsize=1)
def _kernel() -> Any:
    return import_kernel("transforms.enrichment.language_kernel")


def _raw_floor() -> float:
    from py3langid.langid import RAW_FLOOR

    return RAW_FLOOR


class Identifier:
    """py3langid's ``LanguageIdentifier.classify`` with the DFA walk compiled.

    Everything but the walk is py3langid's, step for step (``_encode``, ``_sparse_score``,
    ``_decide``, ``classify`` in ``py3langid/langid.py``), on the reference's model, classes
    and settings as they are at the call (``set_languages`` on the reference still applies).
    """

    def __init__(self, reference: Any) -> None:
        self.reference = reference
        # Views of the reference's tables in the types the kernel reads (the 39 MB transition
        # table is shared, not copied).
        self._nextmove = np.asarray(reference.tk_nextmove)
        self._row = np.asarray(reference.tk_row)
        self._output = np.asarray(reference.tk_output, dtype=np.int32)
        self._kernel = _kernel()
        self._raw_floor = _raw_floor()
        # The float32 bits numpy's (exact) conversion gives every float16 bit pattern.
        halves = np.arange(1 << 16, dtype=np.uint16).view(np.float16)
        self._half_to_float = halves.astype(np.float32).view(np.uint32)
        # The first call loads the compiled functions from numba's cache (~0.3 s, or compiles
        # them): here, with the model's loading (which ``preload`` does in the background),
        # rather than with the first article.
        self._scores(_WARM_UP)

    def _rows(self, table: np.ndarray, ids: np.ndarray) -> np.ndarray:
        """``table[ids]``, as float32 when the table is float16 (the shipped model's)."""
        if table.dtype == np.float16 and table.flags.c_contiguous:
            return self._kernel.gather_rows(table.view(np.uint16), ids, self._half_to_float)
        return table[ids]

    def _scores(self, text: str | bytes) -> np.ndarray:
        """py3langid's ``_decide``: a score per class, normalised when ``norm_probs``."""
        ref = self.reference
        data = ref._encode(text)
        ids, counts = self._kernel.feature_counts(
            np.frombuffer(data, dtype=np.uint8), self._nextmove, self._row, self._output
        )
        norm = ref._norm_probs
        if ids.size:
            scores = np.log1p(counts) @ self._rows(ref.nb_ptc, ids) + ref.nb_pc
        else:
            fill = 0.0 if norm else self._raw_floor
            scores = np.full(len(ref.nb_classes), fill, dtype=np.float32)
        if norm:
            scores *= 1.0 / math.sqrt(len(data) or 1)
            np.exp(scores - scores.max(), out=scores)
            scores /= scores.sum()
        for i, j in ref._alias_pairs:
            if norm:
                scores[i] += scores[j]
                scores[j] = 0.0
            else:
                scores[i] = max(scores[i], scores[j])
                scores[j] = self._raw_floor
        return scores

    def classify(self, text: str | bytes) -> tuple[str, float]:
        """*(language, confidence)*, as ``LanguageIdentifier.classify``."""
        scores = self._scores(text)
        i = int(scores.argmax())
        conf = float(scores[i])
        min_confidence = self.reference.min_confidence
        if min_confidence is not None and conf < min_confidence:
            return "und", conf
        return self.reference.nb_classes[i], conf


_SHARED: list[Identifier] = []
_SHARED_LOCK = threading.Lock()


def shared_identifier() -> Identifier:
    """One identifier per process. Loading it decompresses the model (~0.7 s); the stage's setup
    would otherwise do that while the fetched pages wait. Classifying only reads the model."""
    with _SHARED_LOCK:
        if not _SHARED:
            _SHARED.append(load_identifier())
        return _SHARED[0]


def preload() -> threading.Thread:
    """Load the shared identifier on a background thread (call before the pipeline starts)."""
    thread = threading.Thread(target=shared_identifier, name="newsbeam-preload", daemon=True)
    thread.start()
    return thread


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
