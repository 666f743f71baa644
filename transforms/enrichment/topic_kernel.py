"""The topic model's inference as one compiled pass (numba): text code points -> probabilities.

``transforms/enrichment/topic.py`` holds the reference in numpy (``normalize_codepoints``,
``feature_buckets``, ``vectorize``, ``TopicModel.reference_logits``), which training uses; this
module computes the same numbers without materializing the intermediate arrays, and without the
few dozen numpy calls a document costs there (each ~1-5 us, which is most of the time spent on a
3,000-character article). ``tests/test_topic_kernel.py`` holds the two to each other.

Steps, per document, all in one function call:

1. fold the code points (letters stay, digits become 0, the rest a space) and collapse spaces;
2. hash every word 1-2-gram and character 3-4-5-gram with the same polynomial hash and the same
   multiplicative bucketing as ``feature_buckets``;
3. count the buckets in a zeroed counter per possible bucket, kept per thread and zeroed
   again on the way out (instead of a sort);
4. sublinear tf x idf, the L2 norm of the word and of the character group, and the int8 weight
   rows summed per group, which are scaled by their norms at the end (one pass);
5. the optional second layer over [decision values, log(1 + seed hits)] and the softmax.

Compiled on first use and cached on disk (``cache=True``): next to this file in
``__pycache__`` when that is writable, else in numba's per-user cache directory, or in
``NUMBA_CACHE_DIR`` when set (docs/MODEL_CARD.md, "Speed", has the first-call costs).
Importing this module imports numba (~0.5 s), so ``topic.py`` imports it only when a model is
first used.
"""

from __future__ import annotations

import numpy as np
from numba import njit

# The key of an empty slot of the counting table (keys are bucket numbers, >= 0).
_FREE = -1
_SPACE = 32
_HYPHEN = 45
# Fibonacci hashing constant of ``topic._bucket``.
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


@njit(cache=True, nogil=True)
def normalize(raw: np.ndarray, fold: np.ndarray) -> np.ndarray:
    """``topic.normalize_codepoints`` after its string steps: fold, last one a space, collapse."""
    n = raw.size
    out = np.empty(n, np.uint32)
    last = fold.size - 1
    m = 0
    previous_space = False
    for i in range(n):
        c = np.int64(raw[i])
        f = np.uint32(_SPACE) if i == n - 1 else fold[min(c, last)]
        space = f == _SPACE
        if i == 0 or not (space and previous_space):
            out[m] = f
            m += 1
        previous_space = space
    return out[:m]


@njit(cache=True, nogil=True)
def bucket_keys(
    cps: np.ndarray,
    pw: np.ndarray,
    word_orders: np.ndarray,
    word_salts: np.ndarray,
    char_orders: np.ndarray,
    char_salts: np.ndarray,
    buckets_log2: int,
) -> tuple[np.ndarray, int]:
    """(key of every n-gram, number of word n-grams) of normalized code points.

    A key is a word bucket, or a character bucket plus 2**buckets_log2 (as in ``vectorize``);
    word keys come first. ``pw`` are BASE**i modulo 2**64 (``topic._powers``); the salts are
    ``topic._bucket``'s added constants, one per order.
    """
    n = cps.size
    shift = np.uint64(64 - buckets_log2)
    offset = np.int32(1 << buckets_log2)
    # prefix[i]: polynomial hash of cps[:i]; cps[a:b] hashes to prefix[b] - prefix[a] * BASE**(b-a)
    # (equal to feature_buckets' prefix-sum form, without the inverse powers).
    base = pw[1]
    prefix = np.empty(n + 1, np.uint64)
    prefix[0] = np.uint64(0)
    n_spaces = 0
    for i in range(n):
        prefix[i + 1] = prefix[i] * base + np.uint64(cps[i])
        if cps[i] == _SPACE:
            n_spaces += 1
    spaces = np.empty(n_spaces, np.int64)
    j = 0
    for i in range(n):
        if cps[i] == _SPACE:
            spaces[j] = i
            j += 1
    n_words = max(n_spaces - 1, 0)
    total = 0
    for order in word_orders:
        total += max(n_words - order + 1, 0)
    n_word_keys = total
    for order in char_orders:
        total += max(n - order + 1, 0)
    keys = np.empty(total, np.int32)
    t = 0
    for g in range(word_orders.size):
        order = word_orders[g]
        salt = word_salts[g]
        for w in range(n_words - order + 1):
            # A word n-gram spans its first word's start to its last word's end.
            a = spaces[w] + 1
            b = spaces[w + order]
            h = prefix[b] - prefix[a] * pw[b - a]
            keys[t] = np.int32(((h + salt) * _GOLDEN) >> shift)
            t += 1
    for g in range(char_orders.size):
        order = char_orders[g]
        salt = char_salts[g]
        p = pw[order]
        for a in range(n - order + 1):
            h = prefix[a + order] - prefix[a] * p
            keys[t] = np.int32(((h + salt) * _GOLDEN) >> shift) + offset
            t += 1
    return keys, n_word_keys


@njit(cache=True, nogil=True)
def count_keys(keys: np.ndarray, n_word_keys: int, scratch: np.ndarray):
    """(distinct keys in order of first occurrence, their counts, how many are word keys).

    ``scratch`` holds one zero counter per possible key and is left all zero again: counting
    into it is a few cache hits per key, where a sort or a hash table costs a mispredicted
    branch or several.
    """
    for i in range(keys.size):
        scratch[keys[i]] += 1
    distinct = np.empty(keys.size, np.int32)
    counts = np.empty(keys.size, np.int32)
    m = 0
    n_words = 0
    for start, stop in ((0, n_word_keys), (n_word_keys, keys.size)):
        for i in range(start, stop):
            # Without a branch: whether a key is new is a coin toss the processor would
            # mispredict; a repeat writes its slot again and does not advance.
            key = keys[i]
            c = scratch[key]
            distinct[m] = key
            counts[m] = c
            m += c != 0
            scratch[key] = 0
        if start == 0:
            n_words = m
    return distinct[:m], counts[:m], n_words


@njit(cache=True, nogil=True)
def sparse_vector(
    cps,
    pw,
    word_orders,
    word_salts,
    char_orders,
    char_salts,
    buckets_log2,
    idf,
    word_weight,
    char_weight,
    scratch,
):
    """``vectorize``'s (bucket indices, values), same order: word entries then character
    entries, each sorted by bucket. For tests; inference does not build it."""
    keys, n_word_keys = bucket_keys(
        cps, pw, word_orders, word_salts, char_orders, char_salts, buckets_log2
    )
    distinct, counts, n_words = count_keys(keys, n_word_keys, scratch)
    order = np.argsort(distinct)
    mask = (np.int32(1) << buckets_log2) - 1
    values = np.empty(order.size, np.float64)
    for i in range(order.size):
        j = order[i]
        values[i] = (1.0 + np.log(np.float64(counts[j]))) * idf[distinct[j] & mask]
    for start, stop, weight in ((0, n_words, word_weight), (n_words, order.size, char_weight)):
        squares = 0.0
        for i in range(start, stop):
            squares += values[i] * values[i]
        if squares > 0:
            for i in range(start, stop):
                values[i] *= weight / np.sqrt(squares)
    return distinct[order] & mask, values


@njit(cache=True, nogil=True)
def probabilities(
    raw,
    fold,
    pw,
    word_orders,
    word_salts,
    char_orders,
    char_salts,
    buckets_log2,
    idf,
    word_weight,
    char_weight,
    rows,
    scales,
    bias,
    scratch,
    seed_hits,
    stack_weights,
    stack_bias,
):
    """Class probabilities of one document from its raw code points (``topic._raw_codepoints``).

    ``rows`` are the int8 weights, one row per bucket (padding columns past the classes are
    ignored); ``scratch`` a zero counter per key (see :func:`count_keys`), one per thread;
    ``seed_hits`` the seed score per class, read only when ``stack_weights`` has rows.
    Returns (decision values of the linear model, probabilities).
    """
    cps = normalize(raw, fold)
    keys, n_word_keys = bucket_keys(
        cps, pw, word_orders, word_salts, char_orders, char_salts, buckets_log2
    )
    distinct, counts, n_words = count_keys(keys, n_word_keys, scratch)
    n_classes = scales.size
    mask = (np.int32(1) << buckets_log2) - 1
    decision = bias.astype(np.float64)
    # Per group (word, character n-grams): the sum of tf-idf x weight row, scaled at the end
    # by the group's L2 norm.
    for start, stop, weight in ((0, n_words, word_weight), (n_words, distinct.size, char_weight)):
        acc = np.zeros(n_classes)
        squares = 0.0
        for i in range(start, stop):
            bucket = distinct[i] & mask
            n = counts[i]
            v = idf[bucket] if n == 1 else (1.0 + np.log(np.float64(n))) * idf[bucket]
            squares += v * v
            for c in range(n_classes):
                acc[c] += v * rows[bucket, c]
        scale = weight / np.sqrt(squares) if squares > 0 else 1.0
        for c in range(n_classes):
            decision[c] += acc[c] * scale * scales[c]
    if stack_weights.shape[0]:
        logits = np.empty(n_classes)
        for k in range(n_classes):
            s = stack_bias[k]
            for c in range(n_classes):
                s += stack_weights[k, c] * decision[c]
                s += stack_weights[k, n_classes + c] * np.log1p(seed_hits[c])
            logits[k] = s
    else:
        logits = decision.copy()
    top = logits.max()
    total = 0.0
    for k in range(n_classes):
        logits[k] = np.exp(logits[k] - top)
        total += logits[k]
    return decision, logits / total


@njit(cache=True, nogil=True)
def word_bounds(cps: np.ndarray, letters: np.ndarray) -> np.ndarray:
    """[start, end, start, end, …] of the words ``topic_seeds`` reads in code points: runs of
    letters (``letters[cp]``) joined by single hyphens, as its regex finds them. ``[-1]`` when a
    code point lies beyond ``letters`` (the caller then uses the regex)."""
    n = cps.size
    out = np.empty(n + 1, np.int64)
    for j in range(n):
        if cps[j] >= letters.size:
            out[0] = -1
            return out[:1]
    m = 0
    i = 0
    while i < n:
        if not letters[cps[i]]:
            i += 1
            continue
        start = i
        while True:
            while i < n and letters[cps[i]]:
                i += 1
            if i + 1 < n and cps[i] == _HYPHEN and letters[cps[i + 1]]:
                i += 1
                continue
            break
        out[m] = start
        out[m + 1] = i
        m += 2
    return out[:m]
