"""The language identifier: py3langid's model with its DFA walk compiled, one per process.

Kept apart from the Beam stage (``language.py``) so that it imports without Beam: the CLI
starts loading the model on a thread (:func:`preload`) before it imports the rest of the
pipeline. Loading decompresses py3langid's model (~1.4 s, mostly in lzma, which lets other
threads run) and loads the compiled kernel; started that early, it is done before the
pipeline's first article instead of holding up the stage that classifies it.

``Identifier`` answers as py3langid's ``LanguageIdentifier.classify`` does, bit for bit, with
the byte-by-byte DFA walk that takes most of its time compiled (``language_kernel.py``); the
steps after it are py3langid's own numpy calls. py3langid's identifier stays the reference
(``Identifier.reference``, ``tests/test_language_kernel.py``).
"""

from __future__ import annotations

import functools
import math
import threading
from typing import Any

import numpy as np

from transforms.enrichment.kernels import import_kernel
from transforms.warm import in_background, once_per_process

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


@once_per_process
def shared_identifier() -> Identifier:
    """One identifier per process, loaded once however many threads ask; classifying only
    reads the model."""
    return load_identifier()


def preload() -> threading.Thread:
    """Load the shared identifier on a background thread. The CLI calls this first thing and
    the batch run again before its graph is built; the second thread only waits for the first
    one's load."""
    return in_background("newsbeam-preload", shared_identifier)
