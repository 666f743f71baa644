"""Strip boilerplate lines the extractor left in the text, keeping credits as data.

Input: ``Article`` with raw extracted text. Output: ``Article`` with cleaned ``text``, the
credits found added to ``image_credits``, captions to ``image_captions``, every removed line in
``removed_lines`` and ``word_count`` set (``ok``); ``DeadLetter`` never expected (``dead``).
Counters (namespace ``clean``): ``in``, ``out``, ``removed:<rule>``.

Rules are data (``configs/clean_rules.yaml``), compiled once per worker. A rule must match a
whole line, so a sentence that merely mentions "Foto:" or "Quelle:" is never touched.
"""

from __future__ import annotations

import dataclasses
import importlib.resources
import re
from collections.abc import Iterator
from typing import Any, NamedTuple

import apache_beam as beam
import yaml

from transforms.deadletter import ParDoWithDeadLetters
from transforms.records import Article

KINDS = ("credit", "caption", "drop")
_WORD = re.compile(r"\w+")


class RuleError(ValueError):
    """A cleaning rule file that cannot be used."""


@dataclasses.dataclass(frozen=True)
class Rule:
    name: str
    kind: str
    pattern: re.Pattern[str]


class Removal(NamedTuple):
    rule: str
    kind: str
    line: str
    credit: str | None


class CleanResult(NamedTuple):
    text: str
    removed: tuple[Removal, ...]


def compile_rules(spec: dict[str, Any]) -> tuple[Rule, ...]:
    """Validate and compile the ``rules`` list of a rule file."""
    rules = []
    for i, raw in enumerate(spec.get("rules") or []):
        name, kind, pattern = raw.get("name"), raw.get("kind"), raw.get("pattern")
        if not name or kind not in KINDS or not pattern:
            raise RuleError(f"rule #{i} needs name, kind in {KINDS} and pattern, got {raw!r}")
        try:
            compiled = re.compile(rf"(?:{pattern})", re.IGNORECASE)
        except re.error as exc:
            raise RuleError(f"rule {name!r} has a bad pattern: {exc}") from exc
        if kind == "credit" and "credit" not in compiled.groupindex:
            raise RuleError(f"credit rule {name!r} needs a (?P<credit>…) group")
        rules.append(Rule(name, kind, compiled))
    if not rules:
        raise RuleError("no rules defined")
    return tuple(rules)


def load_rules(path: str | None = None) -> tuple[Rule, ...]:
    """Rules from ``path``, or the shipped ``configs/clean_rules.yaml``."""
    if path is None:
        text = importlib.resources.files("configs").joinpath("clean_rules.yaml").read_text("utf-8")
    else:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    return compile_rules(yaml.safe_load(text) or {})


def match_line(line: str, rules: tuple[Rule, ...]) -> Removal | None:
    stripped = line.strip()
    for rule in rules:
        found = rule.pattern.fullmatch(stripped)
        if found:
            credit = found.group("credit").strip() if rule.kind == "credit" else None
            return Removal(rule.name, rule.kind, stripped, credit or None)
    return None


def clean_text(text: str, rules: tuple[Rule, ...]) -> CleanResult:
    """Remove every line a rule matches; return the rest and what was removed, in order."""
    kept: list[str] = []
    removed: list[Removal] = []
    for line in text.splitlines():
        removal = match_line(line, rules) if line.strip() else None
        if removal is None:
            kept.append(line)
        else:
            removed.append(removal)
    # Removing a line can leave blank lines at the edges; inner blank lines are the author's.
    return CleanResult("\n".join(kept).strip(), tuple(removed))


def word_count(text: str) -> int:
    return len(_WORD.findall(text))


def apply_cleaning(article: Article, result: CleanResult) -> Article:
    credits = [r.credit for r in result.removed if r.kind == "credit" and r.credit]
    captions = [r.line for r in result.removed if r.kind == "caption"]
    return dataclasses.replace(
        article,
        text=result.text,
        image_credits=tuple(dict.fromkeys([*article.image_credits, *credits])),
        image_captions=tuple(dict.fromkeys([*article.image_captions, *captions])),
        removed_lines=(*article.removed_lines, *(r.line for r in result.removed)),
        word_count=word_count(result.text),
    )


class _CleanFn(beam.DoFn):
    def __init__(self, rules_path: str | None) -> None:
        self._rules_path = rules_path

    def setup(self) -> None:
        self._rules = load_rules(self._rules_path)
        self._in = beam.metrics.Metrics.counter("clean", "in")
        self._out = beam.metrics.Metrics.counter("clean", "out")

    def process(self, article: Article) -> Iterator[Article]:
        self._in.inc()
        result = clean_text(article.text, self._rules)
        for removal in result.removed:
            beam.metrics.Metrics.counter("clean", f"removed:{removal.rule}").inc()
        self._out.inc()
        yield apply_cleaning(article, result)


class CleanArticles(beam.PTransform):
    """``Article`` → (cleaned ``Article``, ``DeadLetter``)."""

    def __init__(self, rules_path: str | None = None) -> None:
        super().__init__()
        self._rules_path = rules_path

    def expand(self, articles):
        return articles | "Clean" >> ParDoWithDeadLetters(_CleanFn(self._rules_path), "clean")
