"""Training signal for topics that no labelled data set has: seed words and IPTC definitions.

Pure functions, used by training (``transforms/enrichment/topic_train.py``) and by a stacked
model's second layer at inference (``TopicModel.stacked_features``).
``configs/topic_seeds.yaml`` lists words per IPTC top-level topic in German and English.

- :func:`seed_scores` counts a text's seed hits per topic (title hits count three times).
- :func:`weak_label` relabels a row filed under a broad desk when its title and lead are
  dominated by a topic its data set cannot express (a murder filed under "World" becomes crime):
  a desk is a filing decision, and foreign/domestic/"Panorama" desks hold every kind of story.
- :func:`seed_documents` makes short bags of seed words, so that every topic has examples.
- :func:`iptc_documents` turns the IPTC Media Topic names and definitions (CC BY 4.0) of each
  top-level topic's subtree into English examples.
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import importlib.resources
import json
import random
import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import yaml

SEEDS_FILE = "topic_seeds.yaml"
_FOLD = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss"})
_WORDS = re.compile(r"[^\W\d_]+(?:-[^\W\d_]+)*")
# Seeds this long also match inside a word (German compounds: "Doppelmord", "Großbrand").
INFIX_MIN = 5
# How much of a text the weak labeller reads: the title and the lead say what a story is about.
LEAD_CHARS = 600
TITLE_WEIGHT = 3
# Distinct words remembered by a SeedIndex (about 20 MB at most).
CACHE_WORDS = 200_000


@functools.lru_cache(maxsize=1)
def letter_table() -> np.ndarray:
    """Per code point of the Basic Multilingual Plane: whether ``_WORDS`` counts it a letter
    (asked of the regex itself, so the two cannot disagree)."""
    letter = re.compile(r"[^\W\d_]")
    table = np.array([letter.match(chr(cp)) is not None for cp in range(0x10000)], dtype=np.bool_)
    table.setflags(write=False)
    return table


def fold(text: str) -> str:
    return text.lower().translate(_FOLD)


@dataclasses.dataclass(frozen=True)
class Seeds:
    """The seed words as written (per topic and language) and the index that matches them."""

    words: Mapping[str, Mapping[str, tuple[str, ...]]]  # topic -> language -> seeds as written
    index: SeedIndex

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> Seeds:
        words: dict[str, dict[str, tuple[str, ...]]] = {}
        # Folded seed -> topics, for whole-word, prefix and infix seeds.
        tables: tuple[dict[str, set[str]], ...] = ({}, {}, {})
        for code, by_language in data["topics"].items():
            words[code] = {}
            for language, seeds in by_language.items():
                words[code][language] = tuple(str(s).rstrip("=") for s in seeds)
                for raw in seeds:
                    seed = fold(str(raw))
                    if seed.endswith("="):
                        table, seed = tables[0], seed[:-1]
                    else:
                        table = tables[2] if len(seed) >= INFIX_MIN else tables[1]
                    table.setdefault(seed, set()).add(code)
        exact, prefix, infix = ({k: frozenset(v) for k, v in t.items()} for t in tables)
        return cls(words, SeedIndex(exact, prefix, infix))

    @classmethod
    def load(cls, path: str | Path | None = None) -> Seeds:
        source = Path(path) if path else importlib.resources.files("configs").joinpath(SEEDS_FILE)
        return cls.from_data(yaml.safe_load(source.read_text(encoding="utf-8")))

    def hits(self, word: str) -> list[str]:
        """Topics whose seeds match one folded word."""
        return sorted(self.index.hits(word))


@dataclasses.dataclass(frozen=True)
class SeedIndex:
    """Seeds as hash tables: a word is looked up by itself, its prefixes and (for infix seeds)
    its substrings, which costs a few dozen dict lookups per word instead of a scan of every
    seed (the topic stage reads it for every article). Infix seeds also match at the start of
    a word, like prefix seeds."""

    exact: Mapping[str, frozenset[str]]
    prefix: Mapping[str, frozenset[str]]
    infix: Mapping[str, frozenset[str]]
    # Word -> topics, filled as words are met: news vocabulary repeats (Zipf), so most words
    # are found here after the first few hundred articles. Bounded by CACHE_WORDS.
    cache: dict[str, frozenset[str]] = dataclasses.field(default_factory=dict, compare=False)
    # The same for words lower-cased but not yet folded (what seed_scores finds in a text).
    lowered: dict[str, frozenset[str]] = dataclasses.field(default_factory=dict, compare=False)

    @functools.cached_property
    def max_prefix(self) -> int:
        return max((len(p) for p in self.prefix), default=0)

    @functools.cached_property
    def max_infix(self) -> int:
        return max((len(p) for p in self.infix), default=0)

    def hits(self, word: str) -> frozenset[str]:
        found = self.cache.get(word)
        if found is None:
            found = self._lookup(word)
            if len(self.cache) >= CACHE_WORDS:
                self.cache.clear()
            self.cache[word] = found
        return found

    def hits_of_lowered(self, word: str) -> frozenset[str]:
        """:meth:`hits` of a lower-cased word that is not folded yet."""
        found = self.lowered.get(word)
        if found is None:
            found = self.hits(word.translate(_FOLD))
            if len(self.lowered) >= CACHE_WORDS:
                self.lowered.clear()
            self.lowered[word] = found
        return found

    def _lookup(self, word: str) -> frozenset[str]:
        found: set[str] = set(self.exact.get(word, ()))
        for k in range(1, min(len(word), self.max_prefix) + 1):
            codes = self.prefix.get(word[:k])
            if codes:
                found |= codes
        n = len(word)
        if n >= INFIX_MIN:
            for start in range(n - INFIX_MIN + 1):
                for end in range(start + INFIX_MIN, min(n, start + self.max_infix) + 1):
                    codes = self.infix.get(word[start:end])
                    if codes:
                        found |= codes
        return frozenset(found)


def seed_words(lowered: str) -> list[str]:
    """The words of a lower-cased text that seeds are matched against."""
    return _WORDS.findall(lowered)


def seed_scores(
    seeds: Seeds, title: str, text: str, split: Callable[[str], list[str]] = seed_words
) -> dict[str, float]:
    """Topic -> seed hits in the title (x TITLE_WEIGHT) and the lead of the text.

    ``split`` cuts a lower-cased text into words as :func:`seed_words` does (the topic stage
    passes a compiled equivalent).
    """
    # Words are found before folding, which maps letters to letters and so cuts the same
    # words; each distinct word is then looked up once (the topic stage calls this for every
    # article: folding whole texts and a lookup per occurrence were most of its time).
    weights = collections.Counter(split(text[:LEAD_CHARS].lower()))
    for word in split(title.lower()):
        weights[word] += TITLE_WEIGHT
    index = seeds.index
    cached = index.lowered.get
    scores: dict[str, float] = {}
    for word, weight in weights.items():
        codes = cached(word)
        if codes is None:
            codes = index.hits_of_lowered(word)
        for code in codes:
            scores[code] = scores.get(code, 0.0) + weight
    return scores


def weak_label(
    seeds: Seeds,
    title: str,
    text: str,
    desk: str | None,
    expressible: Iterable[str],
    min_score: float = 4.0,
    margin: float = 1.5,
) -> str | None:
    """The topic a broad-desk row should train as, or None to drop it.

    ``desk`` is the row's mapped label (None for desks without an IPTC equivalent);
    ``expressible`` are the topics its data set can label. The row moves to the seeds' best
    topic only when that topic is not expressible by the data set, scores at least
    ``min_score`` and beats the desk's own seed score by ``margin`` times. A None desk keeps
    the seeds' best topic when it is strong, else the row is dropped.
    """
    scores = seed_scores(seeds, title, text)
    if not scores:
        return desk
    best, top = max(scores.items(), key=lambda kv: (kv[1], kv[0]))
    own = scores.get(desk, 0.0) if desk else 0.0
    strong = top >= min_score and top >= margin * own
    if desk is None:
        return best if strong else None
    if best != desk and best not in set(expressible) and strong:
        return best
    return desk


def seed_documents(
    seeds: Seeds, per_topic: int = 60, words: int = 12, seed: int = 0
) -> list[tuple[str, str, str]]:
    """(topic, language, text) bags of ``words`` seeds drawn at random, ``per_topic`` for each
    topic and language."""
    rng = random.Random(seed)
    out = []
    for code in sorted(seeds.words):
        for language, pool in sorted(seeds.words[code].items()):
            for _ in range(per_topic):
                out.append((code, language, " ".join(rng.choices(pool, k=words))))
    return out


def iptc_documents(mapping: Mapping[str, Mapping[str, Any]]) -> list[tuple[str, str]]:
    """(top-level code, "name. definition") for every current IPTC Media Topic."""
    out = []
    for code, row in mapping.items():
        top = row.get("Level1/NewsCode")
        retired = row.get("RetiredDate")
        name, definition = row.get("Name (en-GB)"), row.get("Definition (en-GB)")
        if not isinstance(top, str) or (isinstance(retired, str) and retired):
            continue
        text = ". ".join(s for s in (name, definition) if isinstance(s, str) and s)
        if text:
            out.append((top, text))
    return out


def load_iptc_mapping(path: str | Path) -> dict[str, Any]:
    """``iptc_mapping.json``; its missing values are written as NaN, which json accepts."""
    return json.loads(Path(path).read_text(encoding="utf-8"))
