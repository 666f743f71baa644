"""py3langid's feature extraction as one compiled pass (numba): UTF-8 bytes -> feature counts.

py3langid finds its features with a DFA walk over the bytes of a text (``visit_counts`` in
``py3langid/langid.py``): one table look-up per byte, in a Python loop, collected into a
``Counter``. That loop is most of the time ``classify`` takes on a 1,000-character sample;
:func:`feature_counts` does the same walk compiled and returns the ids and counts the
``Counter`` holds, in its order (first occurrence). The order matters: py3langid's score is the
float32 product ``log1p(counts) @ table[ids]``, whose rounding depends on the order of the terms.
``transforms/enrichment/language.py`` does the rest (the scoring, normalisation and choice)
with py3langid's own numpy steps, and keeps py3langid as the reference;
``tests/test_language_kernel.py`` holds the two to each other.

Compiled on first use and cached on disk (``cache=True``), as ``topic_kernel.py`` is: next to
this file in ``__pycache__`` when that is writable, else in numba's per-user cache directory,
or in ``NUMBA_CACHE_DIR`` when set. Importing this module imports numba (~0.5 s), so
``language.py`` imports it only when an identifier is first loaded.
"""

from __future__ import annotations

import numpy as np
from numba import njit

# The id of an empty slot of the counting table (feature ids are >= 0).
_FREE = -1
# float16 magnitudes (bits without the sign): the smallest normal number, and infinity (above it
# NaNs); between them, the exponent field (10 bits up) moves from bias 15 to float32's 127.
_MIN_NORMAL = 0x0400
_INF = 0x7C00
_REBASE = (127 - 15) << 10
# Fibonacci hashing constant (2**32 / golden ratio) for the table's slot of a feature id.
_GOLDEN = 2654435769


@njit(cache=True, nogil=True)
def feature_counts(
    data: np.ndarray, nextmove: np.ndarray, row: np.ndarray, output: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(feature ids in order of first occurrence, their counts as float32) of the bytes ``data``.

    The walk of ``visit_counts``: from state 0, each byte moves to
    ``nextmove[row[state] * 256 + byte]``, and a state whose ``output`` is >= 0 counts that
    feature. ``row`` is the model's ``tk_row`` (py3langid's ``_rowbase`` is it times 256; the
    uint16 rows take a quarter of the cache its Python ints would as int64).
    No feature: two empty arrays (py3langid's ``None``).
    """
    n = data.size
    # Open addressing with linear probing in a table at least twice the most distinct ids
    # possible (one per byte): a few cache hits per byte, allocated per call so that threads
    # share nothing.
    size = 16
    while size < 2 * n:
        size <<= 1
    mask = size - 1
    keys = np.full(size, _FREE, np.int64)
    slots = np.empty(size, np.int64)
    ids = np.empty(n, np.intp)
    counts = np.empty(n, np.int64)
    m = 0
    state = 0
    for i in range(n):
        state = nextmove[(np.int64(row[state]) << 8) + data[i]]
        f = output[state]
        if f < 0:
            continue
        h = (np.int64(f) * _GOLDEN) & mask
        while True:
            key = keys[h]
            if key == f:
                counts[slots[h]] += 1
                break
            if key == _FREE:
                keys[h] = f
                slots[h] = m
                ids[m] = f
                counts[m] = 1
                m += 1
                break
            h = (h + 1) & mask
    # py3langid turns the Counter's int counts into float32 (np.fromiter): the same values.
    return ids[:m], counts[:m].astype(np.float32)


@njit(cache=True, nogil=True)
def gather_rows(table: np.ndarray, ids: np.ndarray, half_to_float: np.ndarray) -> np.ndarray:
    """``table[ids].astype(np.float32)`` for a float16 ``table`` given as its uint16 bits.

    numpy's ``log1p(counts) @ table[ids]`` converts the gathered float16 rows to float32
    before multiplying, at a few ns a number; here the conversion is part of the gather, and
    the product then sees the same float32 numbers (the conversion is exact).

    A normal float16 becomes a float32 by moving its exponent and fraction into place and
    rebasing the exponent (15 -> 127), which the compiler vectorizes. Zeros, subnormals,
    infinities and NaNs do not follow that rule; when the rows hold any, they are converted
    again through ``half_to_float``: the float32 bits numpy gives for every float16 bit pattern.
    """
    n = ids.size
    width = table.shape[1]
    out = np.empty((n, width), np.uint32)
    # The smallest and largest magnitude (bits without the sign): all normal when both are.
    low = np.uint32(0x7FFF)
    high = np.uint32(0)
    for r in range(n):
        source = table[ids[r]]
        target = out[r]
        for c in range(width):
            h = np.uint32(source[c])
            magnitude = h & np.uint32(0x7FFF)
            low = min(low, magnitude)
            high = max(high, magnitude)
            target[c] = ((magnitude + np.uint32(_REBASE)) << np.uint32(13)) | (
                (h & np.uint32(0x8000)) << np.uint32(16)
            )
    if low < _MIN_NORMAL or high >= _INF:
        for r in range(n):
            source = table[ids[r]]
            target = out[r]
            for c in range(width):
                target[c] = half_to_float[source[c]]
    return out.view(np.float32)
