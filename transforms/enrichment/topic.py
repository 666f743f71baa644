"""Topic stage: one IPTC Media Topic (top level) per article, with the evidence that decided it.

Input: ``PCollection[Article]``. Output: ``(ok, dead)`` where ``ok`` are the same articles with
``topic``, ``topic_label``, ``topic_score``, ``topics``, ``topic_scores`` and ``topic_source``
filled in, and ``dead`` are ``DeadLetter`` records of stage ``topic``.

Counters (namespace ``topic``): ``in``, ``out``, ``source:<kind>`` where kind is ``feed``,
``model``, ``url``, ``tags``, their ``+model`` combinations, or ``none``.

Dead letters: only :class:`TopicError`, raised for a declared feed topic that is neither an IPTC
top-level code nor a class of the model. Anything else is a bug and fails the bundle.

The model is a linear classifier over hashed word and character n-grams. Its weights are a
``.npz`` of plain arrays plus a JSON config, loaded with ``allow_pickle=False``.
``transforms/enrichment/topic_train.py`` writes such models. Inference runs the compiled kernel
of ``topic_kernel.py`` (numba); the numpy functions here are its reference and what training
uses (``TopicModel.compiled``).
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.resources
import io
import json
import re
import threading
import urllib.parse
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import apache_beam as beam
import numpy as np
import yaml

from transforms.enrichment.kernels import import_kernel
from transforms.warm import in_background, once_per_process
from transforms.storage.deadletter import ToDeadLetter
from transforms.records import Article
from transforms.enrichment.topic_seeds import Seeds, letter_table, seed_scores, seed_words

# --- features --------------------------------------------------------------------------------

# Polynomial rolling hash base and its inverse modulo 2**64: odd, so the inverse exists, which
# lets every substring hash come from one prefix sum (see feature_buckets).
_BASE = 0x100000001B3
_BASE_INV = pow(_BASE, -1, 2**64)
# Code points above the Basic Multilingual Plane (emoji, rare scripts) carry no topic signal.
_BMP = 0x10000
_SPACE = 32
_ZERO = ord("0")
# Added to the n-gram order to salt a bucket, so "ab" as a word and as characters differ.
_WORD_SALT, _CHAR_SALT = 0, 100


@dataclasses.dataclass(frozen=True)
class FeatureSpec:
    """How a text becomes a sparse vector; stored in the model's config so training and
    inference cannot disagree."""

    buckets_log2: int = 19
    word_ngrams: tuple[int, ...] = (1, 2)
    char_ngrams: tuple[int, ...] = (3, 4, 5)
    # Only the title and the first part of a long text are read: the topic is set early, and
    # it keeps feed summaries (short) and full pages (long) alike for the model.
    max_chars: int = 2000
    word_weight: float = 1.0
    char_weight: float = 1.0
    # How many times the title is read: a headline names the topic more densely than body text.
    # 1 (a model file that does not name it) reads it once.
    title_repeat: int = 1

    def __post_init__(self) -> None:
        if not 4 <= self.buckets_log2 <= 30:
            raise ValueError(f"buckets_log2 must be in [4, 30], got {self.buckets_log2}")
        if self.max_chars <= 0:
            raise ValueError(f"max_chars must be > 0, got {self.max_chars}")
        if not 1 <= self.title_repeat <= 10:
            raise ValueError(f"title_repeat must be in [1, 10], got {self.title_repeat}")
        if any(n < 1 for n in (*self.word_ngrams, *self.char_ngrams)):
            raise ValueError(
                f"n-gram orders must be >= 1, got {self.word_ngrams} {self.char_ngrams}"
            )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FeatureSpec:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown feature settings {unknown}")
        values = dict(data)
        for name in ("word_ngrams", "char_ngrams"):
            if name in values:
                values[name] = tuple(int(n) for n in values[name])
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        return {
            k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()
        }


@functools.lru_cache(maxsize=1)
def _fold_table() -> np.ndarray:
    """Code point -> folded code point: letters stay, every digit becomes 0, the rest a space.

    Covers the Basic Multilingual Plane; lookups clip above it onto U+FFFF (a non-character,
    folded to a space), so emoji and rare scripts act as separators.
    """
    table = np.full(_BMP, _SPACE, dtype=np.uint32)
    for cp in range(_BMP - 1):
        ch = chr(cp)
        if ch.isdigit():
            table[cp] = _ZERO
        elif ch.isalpha():
            table[cp] = cp
    table.setflags(write=False)
    return table


@functools.lru_cache(maxsize=4)
def _powers(length: int) -> tuple[np.ndarray, np.ndarray]:
    """BASE**i and BASE_INV**i modulo 2**64 for i < length."""
    pw = np.full(length, _BASE, dtype=np.uint64)
    inv = np.full(length, _BASE_INV, dtype=np.uint64)
    pw[0] = inv[0] = 1
    np.cumprod(pw, out=pw)  # wraps modulo 2**64, which is the ring we hash in
    np.cumprod(inv, out=inv)
    pw.setflags(write=False)
    inv.setflags(write=False)
    return pw, inv


def _raw_codepoints(title: str, text: str, max_chars: int, title_repeat: int) -> np.ndarray:
    """The lower-cased code points that normalization folds: " title\n(…) text ", cut."""
    head = (title + "\n") * title_repeat
    joined = f" {head}{text} " if title else f" {text} "
    return np.frombuffer(joined[: max_chars + 1].lower().encode("utf-32-le"), dtype=np.uint32)


def normalize_codepoints(
    title: str, text: str, max_chars: int, title_repeat: int = 1
) -> np.ndarray:
    """Lower-cased letters, digits as 0, one space between words and at both ends; the title
    ``title_repeat`` times before the text, all within the first ``max_chars`` characters."""
    raw = _raw_codepoints(title, text, max_chars, title_repeat)
    folded = np.take(_fold_table(), raw, mode="clip")
    folded[-1] = _SPACE
    space = folded == _SPACE
    keep = np.empty(len(folded), dtype=bool)
    keep[0] = True
    np.logical_not(space[1:] & space[:-1], out=keep[1:])
    return folded[keep]


def _salt(salt: int) -> np.uint64:
    return np.uint64(salt * 0x2545F4914F6CDD1D % 2**64)


def _bucket(hashes: np.ndarray, salt: int, shift: np.uint64) -> np.ndarray:
    """Bucket of each hash: multiplicative (Fibonacci) hashing keeps the well-mixed top bits;
    the salt keeps word and character features of the same string apart."""
    mixed = (hashes + _salt(salt)) * np.uint64(0x9E3779B97F4A7C15)
    # int32: buckets_log2 <= 30 leaves room for the offset in vectorize, and sorts 2x faster.
    return (mixed >> shift).astype(np.int32)


def feature_buckets(cps: np.ndarray, spec: FeatureSpec) -> tuple[np.ndarray, np.ndarray]:
    """Hash buckets of the (word n-grams, char n-grams) of normalized code points.

    Every n-gram hash comes from one prefix sum: with prefix[i] = sum_{j<i} cps[j] * BASE_INV**j,
    the polynomial hash of cps[a:b] is (prefix[b] - prefix[a]) * BASE**(b-1), all modulo 2**64.
    """
    n = len(cps)
    shift = np.uint64(64 - spec.buckets_log2)
    pw, inv = _powers(max(n, spec.max_chars + 2))  # one size per spec, so the cache hits
    prefix = np.zeros(n + 1, dtype=np.uint64)
    np.cumsum(cps * inv[:n], out=prefix[1:])
    space = np.flatnonzero(cps == _SPACE)
    starts, ends = space[:-1] + 1, space[1:]
    words = []
    for order in spec.word_ngrams:
        if len(starts) >= order:
            # A word n-gram spans its first word's start to its last word's end.
            a, b = starts[: len(starts) - order + 1], ends[order - 1 :]
            words.append(_bucket((prefix[b] - prefix[a]) * pw[b - 1], _WORD_SALT + order, shift))
    chars = []
    for order in spec.char_ngrams:
        if n >= order:
            h = (prefix[order:] - prefix[: n + 1 - order]) * pw[order - 1 : n]
            chars.append(_bucket(h, _CHAR_SALT + order, shift))
    empty = np.zeros(0, dtype=np.int32)
    return (
        np.concatenate(words) if words else empty,
        np.concatenate(chars) if chars else empty,
    )


def _unique_counts(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted distinct values and how often each occurs (np.unique, minus its overhead)."""
    ordered = np.sort(values)
    first = np.empty(len(ordered), dtype=bool)
    first[:1] = True
    np.not_equal(ordered[1:], ordered[:-1], out=first[1:])
    at = np.flatnonzero(first)
    counts = np.empty(len(at), dtype=np.int64)
    np.subtract(at[1:], at[:-1], out=counts[:-1])
    counts[-1:] = len(ordered) - at[-1:]
    return ordered[at], counts


def _scale_to(values: np.ndarray, length: float) -> None:
    norm = float(np.sqrt(np.dot(values, values)))
    if norm > 0:
        values *= length / norm


def vectorize(
    title: str, text: str, spec: FeatureSpec, idf: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Sparse feature vector (bucket indices, values) of one document.

    The title counts ``spec.title_repeat`` times. Values are sublinear tf (1 + log count) times
    idf, L2-normalized separately for word and character n-grams and scaled by their weights.
    Word entries come first, then character entries, each sorted; a bucket may appear in both.
    """
    cps = normalize_codepoints(title, text, spec.max_chars, spec.title_repeat)
    words, chars = feature_buckets(cps, spec)
    buckets = 1 << spec.buckets_log2
    # One sort for both groups: character buckets are offset past the word buckets.
    unique, counts = _unique_counts(np.concatenate((words, chars + np.int32(buckets))))
    split = int(np.searchsorted(unique, buckets))
    idx = unique & np.int32(buckets - 1)
    values = 1.0 + np.log(counts.astype(np.float32))  # sublinear tf: repeats say less
    if idf is not None:
        values *= idf[idx]
    _scale_to(values[:split], spec.word_weight)
    _scale_to(values[split:], spec.char_weight)
    return idx, values


# --- model -----------------------------------------------------------------------------------


# Larger bucket spaces run the numpy reference: the kernel's counters would pass 16 MB a thread.
_KERNEL_MAX_BUCKETS_LOG2 = 22


@functools.lru_cache(maxsize=1)
def _kernel() -> Any:
    return import_kernel("transforms.enrichment.topic_kernel")


WEIGHTS_FILE = "weights.npz"
CONFIG_FILE = "config.json"
# The seed words a stacked model reads (a copy of configs/topic_seeds.yaml at training time).
SEEDS_FILE = "seeds.yaml"
# Version of the weights.npz + config.json layout; bumped when load() must change.
FORMAT_VERSION = 1


class TopicError(ValueError):
    """Input the topic stage refuses: it goes to the dead-letter sink for inspection."""


# Models shipped inside the ``transforms`` package, by the name ``--model`` accepts.
# "commercial" learnt from data whose licences allow commercial use only; "research" adds
# non-commercial and research-use sets (docs/MODEL_CARD.md). The default is "research": the
# commercial model scored more than 0.03 below it on full articles through the pipeline
# (outlet-held-out, BENCHMARKS.md), and the rule for the default is "within 0.03".
SHIPPED_MODELS = {"default": "topic-research", "research": "topic-research", "commercial": "topic-commercial"}


def default_model_dir(name: str = "default") -> Any:
    """A model shipped inside the ``transforms`` package (``default`` unless named)."""
    return importlib.resources.files("transforms").joinpath("models").joinpath(SHIPPED_MODELS[name])


def _as_dir(path: Any) -> Any:
    return Path(path) if isinstance(path, str) else path


@dataclasses.dataclass(frozen=True, eq=False)
class TopicModel:
    """A linear classifier over :func:`vectorize` features; scores are a softmax."""

    spec: FeatureSpec
    classes: tuple[str, ...]
    labels: tuple[str, ...]
    # The int8 weights of one bucket (times a scale per class). Inference is bound by reading
    # one scattered weight row per feature: up to 8 classes are packed into one int64 per bucket
    # (a 1-D take of 8-byte items is ~15x faster than fancy indexing 7-byte rows), shape
    # (buckets, 1); more classes stay int8 rows, shape (buckets, classes), which a take reads
    # 2x faster than three packed int64 (17 classes: 0.066 against 0.13 ms a document).
    weight_rows: np.ndarray
    scales: np.ndarray  # (classes,) float32
    bias: np.ndarray  # (classes,) float32
    idf: np.ndarray  # (buckets,) float32
    meta: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    # Optional second layer (see stacked_features): a multinomial logistic regression over the
    # linear model's decision values and the seed-word hits per class, fitted on real news of
    # other outlets than the training data's; it also calibrates the scores.
    stack_weights: np.ndarray | None = None  # (classes, 2 * classes) float32
    stack_bias: np.ndarray | None = None  # (classes,) float32
    seeds: Any = None  # transforms.enrichment.topic_seeds.Seeds, when the model has a stack
    # Languages the model was trained and evaluated on; others get no text-based topic.
    languages: tuple[str, ...] = ()
    # Inference through the compiled kernel (topic_kernel.py: the same numbers, faster) or,
    # when False, through the numpy reference that training uses.
    compiled: bool = True

    def __getstate__(self) -> dict[str, Any]:
        # The kernel's inputs and per-thread counters are rebuilt where the model is unpickled
        # (they hold a module and a threading.local, which do not pickle).
        state = dict(self.__dict__)
        state.pop("_kernel_inputs", None)
        state.pop("_kernel_local", None)
        return state

    @classmethod
    def load(cls, path: Any = None) -> TopicModel:
        """Read ``config.json`` and ``weights.npz`` from a directory (a path or an
        ``importlib.resources`` traversable); None means the shipped default model, and a
        name of :data:`SHIPPED_MODELS` ("research") another shipped one.

        Only plain arrays are accepted (``allow_pickle=False``): a model file cannot run code.
        """
        if path is None or (isinstance(path, str) and path in SHIPPED_MODELS):
            folder = default_model_dir(path or "default")
        else:
            folder = _as_dir(path)
        config = json.loads(folder.joinpath(CONFIG_FILE).read_text(encoding="utf-8"))
        data = io.BytesIO(folder.joinpath(WEIGHTS_FILE).read_bytes())
        with np.load(data, allow_pickle=False) as npz:
            model = cls.from_arrays(config, {name: npz[name] for name in npz.files})
        if model.stack_weights is not None:
            seeds_text = folder.joinpath(SEEDS_FILE).read_text(encoding="utf-8")
            model = dataclasses.replace(model, seeds=Seeds.from_data(yaml.safe_load(seeds_text)))
        return model

    @classmethod
    def from_arrays(cls, config: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> TopicModel:
        """The model from a parsed ``config.json`` and the arrays of ``weights.npz``."""
        if config.get("format") != FORMAT_VERSION:
            raise ValueError(f"unsupported topic model format {config.get('format')!r}")
        spec = FeatureSpec.from_dict(config["features"])
        classes, labels = tuple(config["classes"]), tuple(config["labels"])
        weights, scales = arrays["weights"], arrays["scales"].astype(np.float32)
        bias, idf = arrays["bias"].astype(np.float32), arrays["idf"].astype(np.float32)
        if weights.dtype != np.int8 or scales.shape != (len(classes),):
            raise ValueError("topic model weights must be int8 with one scale per class")
        buckets = 1 << spec.buckets_log2
        if weights.shape != (buckets, len(classes)) or idf.shape != (buckets,):
            raise ValueError("topic model weights do not match its feature settings")
        if len(labels) != len(classes) or bias.shape != (len(classes),):
            raise ValueError("topic model classes, labels and bias disagree")
        if len(classes) <= 8:
            packed = np.zeros((buckets, 8), dtype=np.int8)
            packed[:, : len(classes)] = weights
            rows = packed.view(np.int64)
        else:
            rows = np.ascontiguousarray(weights)
        meta = config.get("training", {})
        stack_w = arrays.get("stack_weights")
        stack_b = arrays.get("stack_bias")
        if (stack_w is None) != (stack_b is None):
            raise ValueError("topic model has only one of stack_weights and stack_bias")
        if stack_w is not None:
            n = len(classes)
            if stack_w.shape != (n, 2 * n) or stack_b.shape != (n,):
                raise ValueError("topic model stack does not match its classes")
            stack_w, stack_b = stack_w.astype(np.float32), stack_b.astype(np.float32)
        languages = tuple(config.get("languages") or ())
        return cls(
            spec, classes, labels, rows, scales, bias, idf, meta,
            stack_w, stack_b, None, languages,
        )

    @functools.cached_property
    def _kernel_inputs(self) -> tuple[Any, tuple[Any, ...], tuple[Any, ...]]:
        """(kernel module, arguments before the text, arguments after it), built once."""
        kernel = _kernel()
        spec = self.spec
        n = len(self.classes)
        pw, _ = _powers(spec.max_chars + 2)
        features = (
            _fold_table(),
            pw,
            np.array(spec.word_ngrams, np.int64),
            np.array([_salt(_WORD_SALT + k) for k in spec.word_ngrams], np.uint64),
            np.array(spec.char_ngrams, np.int64),
            np.array([_salt(_CHAR_SALT + k) for k in spec.char_ngrams], np.uint64),
            spec.buckets_log2,
            self.idf,
            float(spec.word_weight),
            float(spec.char_weight),
            self.weight_rows.view(np.int8),
            self.scales,
            self.bias,
        )
        if self.stack_weights is None:
            stack = (np.zeros((0, 2 * n), np.float32), np.zeros(n, np.float32))
        else:
            stack = (self.stack_weights, self.stack_bias)
        return kernel, features, stack

    def _scratch(self) -> np.ndarray:
        """This thread's zeroed counter per bucket key (word and character) for the kernel."""
        local = self._kernel_local
        scratch = getattr(local, "scratch", None)
        if scratch is None:
            scratch = local.scratch = np.zeros(2 << self.spec.buckets_log2, np.uint16)
        return scratch

    @functools.cached_property
    def _kernel_local(self) -> threading.local:
        return threading.local()

    @property
    def uses_kernel(self) -> bool:
        """Whether inference runs the compiled kernel: asked for (``compiled``), and the model's
        counters fit it (2**(buckets_log2 + 1) uint16 counters per thread, 2 MB for the shipped
        models' 2**19 buckets; no bucket can be met 65,536 times)."""
        spec = self.spec
        orders = len(spec.word_ngrams) + len(spec.char_ngrams)
        return (
            self.compiled
            and spec.buckets_log2 <= _KERNEL_MAX_BUCKETS_LOG2
            and orders * (spec.max_chars + 2) < 2**16
        )

    def _compiled(
        self, title: str, text: str, seed_hits: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        kernel, features, stack = self._kernel_inputs
        raw = _raw_codepoints(title, text, self.spec.max_chars, self.spec.title_repeat)
        return kernel.probabilities(raw, *features, self._scratch(), seed_hits, *stack)

    def logits(self, title: str, text: str) -> np.ndarray:
        """The linear model's decision values (divided by its temperature), one per class."""
        if self.uses_kernel:
            decision, _ = self._compiled(title, text, np.zeros(len(self.classes)))
            return decision.astype(np.float32)
        return self.reference_logits(title, text)

    def reference_logits(self, title: str, text: str) -> np.ndarray:
        """:meth:`logits` through numpy: :func:`vectorize`, a take of the weight rows, a product."""
        idx, val = vectorize(title, text, self.spec, self.idf)
        # All 8 int8 columns of a row go through the product (slicing first is 2x slower).
        rows = np.take(self.weight_rows, idx, axis=0).view(np.int8).astype(np.float32)
        # Packed rows carry padding columns up to 8, dropped here.
        return (val @ rows)[: len(self.classes)] * self.scales + self.bias

    def _seed_words(self, lowered: str) -> list[str]:
        """``topic_seeds._WORDS.findall`` through the kernel (3x faster on a lead)."""
        raw = np.frombuffer(lowered.encode("utf-32-le"), dtype=np.uint32)
        bounds = _kernel().word_bounds(raw, letter_table()).tolist()
        if bounds[:1] == [-1]:  # beyond the BMP: the regex knows every plane
            return seed_words(lowered)
        return [lowered[a:b] for a, b in zip(bounds[::2], bounds[1::2])]

    def _seed_hits(self, title: str, text: str) -> np.ndarray:
        if self.uses_kernel:
            hits = seed_scores(self.seeds, title, text, self._seed_words)
        else:
            hits = seed_scores(self.seeds, title, text)
        return np.array([hits.get(c, 0.0) for c in self.classes])

    def stacked_features(self, title: str, text: str) -> np.ndarray:
        """[decision values, log(1 + seed hits) per class]: the stack's input."""
        seed_part = np.log1p(self._seed_hits(title, text).astype(np.float32))
        return np.concatenate((self.logits(title, text), seed_part))

    def predict_proba(self, title: str, text: str) -> np.ndarray:
        """Probability of each class (order of ``classes``) for one document."""
        if self.uses_kernel:
            stacked = self.stack_weights is not None
            hits = self._seed_hits(title, text) if stacked else np.zeros(len(self.classes))
            return self._compiled(title, text, hits)[1]
        if self.stack_weights is not None:
            logits = self.stack_weights @ self.stacked_features(title, text) + self.stack_bias
        else:
            logits = self.logits(title, text)
        logits -= logits.max()
        exp = np.exp(logits)
        return exp / exp.sum()


# --- evidence from feed, URL and categories --------------------------------------------------

HINTS_FILE = "topic_hints.yaml"
TAXONOMY_FILE = "iptc_topics.json"
# German spellings without umlauts are common in URLs (/boerse/), so terms are compared folded.
_TERM_FOLD = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "_": "-"})
_WORD_SPLIT = re.compile(r"[^\w-]+")
# Scores are reported rounded: more digits only add noise to the output files.
_SCORE_DIGITS = 4
# How many (topic, score) pairs `topics`/`topic_scores` carry.
_TOP_K = 3


def fold_term(term: str) -> str:
    """The form in which lexicon terms, URL segments and categories are compared."""
    return term.strip().lower().translate(_TERM_FOLD)


@dataclasses.dataclass(frozen=True)
class Lexicon:
    """Desk/category words per topic, evidence weights, and the names of the IPTC codes."""

    terms: Mapping[str, str]  # folded term -> topic code
    labels: Mapping[str, str]  # IPTC code -> English name
    url_weight: float = 0.6
    tag_weight: float = 0.4
    section_weight: float = 0.6

    @classmethod
    def from_data(cls, hints: Mapping[str, Any], taxonomy: Mapping[str, Any]) -> Lexicon:
        """Validate the parsed ``topic_hints.yaml`` and ``iptc_topics.json``."""
        labels = {t["code"]: t["label"] for t in taxonomy["topics"]}
        unknown = sorted(set(hints) - {"url_weight", "tag_weight", "section_weight", "topics"})
        if unknown:
            raise ValueError(f"unknown keys in topic hints: {unknown}")
        terms: dict[str, str] = {}
        for code, words in hints["topics"].items():
            if code not in labels:
                raise ValueError(f"topic hints name {code!r}, which is not an IPTC top-level code")
            for word in words:
                term = fold_term(str(word))
                if not term:
                    raise ValueError(f"empty hint term under {code}")
                if terms.setdefault(term, code) != code:
                    raise ValueError(f"hint term {word!r} is listed under {terms[term]} and {code}")
        weights = {
            k: float(hints.get(k, 0.0)) for k in ("url_weight", "tag_weight", "section_weight")
        }
        for name, value in weights.items():
            if not 0.0 <= value <= 10.0:
                raise ValueError(f"{name} must be in [0, 10], got {value}")
        return cls(terms, labels, **weights)

    @classmethod
    def load(cls, hints_path: str | Path | None = None, taxonomy_path: str | Path | None = None):
        """The lexicon from files, by default the ones shipped in the ``configs`` package."""
        configs = importlib.resources.files("configs")
        hints = (Path(hints_path) if hints_path else configs.joinpath(HINTS_FILE)).read_text(
            encoding="utf-8"
        )
        taxonomy = (
            Path(taxonomy_path) if taxonomy_path else configs.joinpath(TAXONOMY_FILE)
        ).read_text(encoding="utf-8")
        return cls.from_data(yaml.safe_load(hints), json.loads(taxonomy))

    def code_of(self, name: str) -> str | None:
        """IPTC code for a code or an English IPTC name ("politics"), else None."""
        folded = name.strip().lower()
        for code, label in self.labels.items():
            if folded in (code, label.lower()):
                return code
        return None


def url_hint(url: str | None, lexicon: Lexicon) -> tuple[str, str] | None:
    """(topic code, desk) from the URL's deepest desk directory or its host's first label.

    The last path segment is the article's slug, whose words describe the story, not the desk;
    it is read only when the path ends with '/'.
    """
    if not url:
        return None
    parts = urllib.parse.urlsplit(url)
    segments = [urllib.parse.unquote(s) for s in parts.path.split("/")[:-1] if s]
    for segment in reversed(segments):
        code = lexicon.terms.get(fold_term(segment))
        if code:
            return code, f"/{segment}/"
    host = (parts.hostname or "").split(".")
    if len(host) > 2:
        code = lexicon.terms.get(fold_term(host[0]))
        if code:
            return code, parts.hostname
    return None


def label_codes(label: str, lexicon: Lexicon) -> list[str]:
    """Topic codes a category or section names: the whole label ("Wirtschaft"), else its
    words in order ("Politik & Gesellschaft" -> politics, society)."""
    folded = fold_term(label)
    code = lexicon.terms.get(folded)
    if code:
        return [code]
    return [c for c in (lexicon.terms.get(w) for w in _WORD_SPLIT.split(folded)) if c]


def tag_votes(tags: Iterable[str], lexicon: Lexicon) -> dict[str, int]:
    """Topic code -> number of categories that name it (a whole category, else its words)."""
    votes: dict[str, int] = {}
    for tag in tags:
        for c in set(label_codes(tag, lexicon)):
            votes[c] = votes.get(c, 0) + 1
    return votes


@dataclasses.dataclass(frozen=True)
class TopicResult:
    """The topic columns of one article; field names are those of ``Article``."""

    topic: str | None = None
    topic_label: str | None = None
    topic_score: float | None = None
    topics: tuple[str, ...] = ()
    topic_scores: tuple[float, ...] = ()
    topic_source: str | None = None

    @property
    def source_kind(self) -> str:
        """``topic_source`` without the desk, for counters: "url:/sport/+model" -> "url+model"."""
        if self.topic_source is None:
            return "none"
        return "+".join(part.split(":", 1)[0] for part in self.topic_source.split("+"))


def _label(code: str, model: TopicModel, lexicon: Lexicon) -> str:
    if code in model.classes:
        return model.labels[model.classes.index(code)]
    return lexicon.labels.get(code, code)


def _ranked(scores: Mapping[str, float]) -> list[tuple[str, float]]:
    # Ties go to the smaller code so that equal inputs give equal outputs on every worker.
    return sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))


def _result(
    ranked: list[tuple[str, float]], source: str, model: TopicModel, lexicon: Lexicon
) -> TopicResult:
    top = ranked[:_TOP_K]
    scores = tuple(round(float(s), _SCORE_DIGITS) for _, s in top)
    return TopicResult(
        topic=top[0][0],
        topic_label=_label(top[0][0], model, lexicon),
        topic_score=scores[0],
        topics=tuple(code for code, _ in top),
        topic_scores=scores,
        topic_source=source,
    )


def section_hint(sections: Iterable[str], lexicon: Lexicon) -> tuple[str, str] | None:
    """(topic code, section) of the first page section that names a desk of the lexicon,
    the whole section first ("Wirtschaft"), else its words ("Politik & Gesellschaft")."""
    for section in sections:
        codes = label_codes(section, lexicon)
        if codes:
            return codes[0], section
    return None


def combine_evidence(
    model_scores: Mapping[str, float],
    url: tuple[str, str] | None,
    votes: Mapping[str, int],
    feed_topic: str | None,
    model: TopicModel,
    lexicon: Lexicon,
    section: tuple[str, str] | None = None,
    keyword_votes: Mapping[str, int] | None = None,
) -> TopicResult:
    """Decide the topic from the model's probabilities and the hints, saying what decided it.

    A topic declared for the feed wins with score 1. Otherwise a URL desk adds ``url_weight``,
    the page's declared section ``section_weight``, and the feed's categories and the page's
    keywords add ``tag_weight`` each (split by their votes) to their topics' model
    probabilities; the sums are renormalized. ``topic_source`` names every piece of evidence
    that points at the winner: "url:/politik/+model", "section:Sport+model", "tags",
    "keywords", "model" …
    """
    if feed_topic:
        others = [(c, s) for c, s in _ranked(model_scores) if c != feed_topic]
        return _result([(feed_topic, 1.0), *others], "feed", model, lexicon)
    model_ranked = _ranked(model_scores)
    scores = dict(model_scores)
    total = sum(scores.values())
    for hint, weight in ((url, lexicon.url_weight), (section, lexicon.section_weight)):
        if hint:
            scores[hint[0]] = scores.get(hint[0], 0.0) + weight
            total += weight
    keyword_votes = keyword_votes or {}
    for group in (votes, keyword_votes):
        n_votes = sum(group.values())
        for code, count in group.items():
            scores[code] = scores.get(code, 0.0) + lexicon.tag_weight * count / n_votes
        if n_votes:
            total += lexicon.tag_weight
    if not scores or total <= 0:
        return TopicResult()
    hinted = url or section or votes or keyword_votes
    ranked = [(c, s / total) for c, s in (_ranked(scores) if hinted else model_ranked)]
    winner = ranked[0][0]
    parts = []
    if url and url[0] == winner:
        parts.append(f"url:{url[1]}")
    if section and section[0] == winner:
        parts.append(f"section:{section[1]}")
    if winner in votes:
        parts.append("tags")
    if winner in keyword_votes:
        parts.append("keywords")
    if model_ranked and winner == model_ranked[0][0]:
        parts.append("model")
    return _result(ranked, "+".join(parts) or "model", model, lexicon)


def _feed_code(feed_topic: str | None, model: TopicModel, lexicon: Lexicon) -> str | None:
    if feed_topic is None or not feed_topic.strip():
        return None
    if feed_topic in model.classes:
        return feed_topic
    code = lexicon.code_of(feed_topic)
    if code is None:
        raise TopicError(
            f"feed topic {feed_topic!r} is neither an IPTC top-level code nor a model class"
        )
    return code


def reads_language(model: TopicModel, language: str | None) -> bool:
    """Whether the model's text reading applies: its language, or one nobody detected.

    A model that names no languages (older files, a user's own) reads every text.
    """
    return not model.languages or not language or language in model.languages


def classify_article(
    model: TopicModel,
    lexicon: Lexicon,
    *,
    title: str,
    text: str,
    language: str | None = None,
    url: str | None = None,
    tags: Iterable[str] = (),
    feed_topic: str | None = None,
    sections: Iterable[str] = (),
    keywords: Iterable[str] = (),
) -> TopicResult:
    """Topic of one article from its text and the hints around it.

    The text is read only in the model's languages (``TopicModel.languages``); in another
    language only the hints decide, and with none the result has no topic and
    ``topic_source`` ``unsupported_language:<code>`` rather than a confident guess from
    features the model never learnt. With neither text nor hints the result is empty (all
    None). Raises :class:`TopicError` for an unknown ``feed_topic``.
    """
    feed = _feed_code(feed_topic, model, lexicon)
    model_scores: dict[str, float] = {}
    readable = reads_language(model, language)
    if readable and (title.strip() or text.strip()):
        model_scores = dict(zip(model.classes, model.predict_proba(title, text).tolist()))
    result = combine_evidence(
        model_scores,
        url_hint(url, lexicon),
        tag_votes(tags, lexicon),
        feed,
        model,
        lexicon,
        section_hint(sections, lexicon),
        tag_votes(keywords, lexicon),
    )
    if not readable and result.topic is None:
        return TopicResult(topic_source=f"unsupported_language:{language}")
    return result


@once_per_process
def shared_model(model_dir: str | None) -> tuple[TopicModel, Lexicon]:
    """One (model, lexicon) per process and model directory: the warm-up thread loads them
    while the graph is built, and the stage's setup then finds them instead of reading the
    weights a second time. Classifying only reads both (the kernel's scratch is per thread)."""
    return TopicModel.load(model_dir), Lexicon.load()


def _warm_up(model_dir: str | None) -> None:
    model, _ = shared_model(model_dir)
    model.predict_proba("", "warm up")


def preload(model_dir: str | None = None) -> threading.Thread:
    """Import the compiled kernel and load its cached machine code on a background thread (call
    before the pipeline starts). The first classification costs about a second for that,
    numba's import most of it; in the stage it would stall every page behind the first one."""
    return in_background("newsbeam-topic-preload", _warm_up, model_dir)


# --- Beam ------------------------------------------------------------------------------------


class _ClassifyFn(beam.DoFn):
    def __init__(self, model_dir: str | None) -> None:
        self._model_dir = model_dir
        self._in = beam.metrics.Metrics.counter("topic", "in")
        self._out = beam.metrics.Metrics.counter("topic", "out")

    def setup(self) -> None:
        self._model, self._lexicon = shared_model(self._model_dir)

    def process(self, article: Article):
        self._in.inc()
        result = classify_article(
            self._model,
            self._lexicon,
            title=article.title,
            text=article.text or article.summary,
            language=article.language,
            url=article.url or article.final_url,
            tags=article.tags,
            feed_topic=article.feed_topic,
            sections=article.sections,
            keywords=article.page_keywords,
        )
        beam.metrics.Metrics.counter("topic", f"source:{result.source_kind}").inc()
        self._out.inc()
        yield dataclasses.replace(article, **dataclasses.asdict(result))


class ClassifyTopics(beam.PTransform):
    """Articles -> (articles with topic columns, dead letters of stage ``topic``)."""

    def __init__(self, model_dir: str | None = None) -> None:
        super().__init__()
        self._model_dir = model_dir

    def expand(self, articles):
        ok, bad = articles | "Classify" >> beam.ParDo(
            _ClassifyFn(self._model_dir)
        ).with_exception_handling(exc_class=TopicError)
        return ok, bad | "ToDeadLetter" >> ToDeadLetter(stage="topic")
