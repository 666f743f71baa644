"""Strip boilerplate lines the extractor left in the text, keeping credits and captions as data.

Input: ``Article`` with raw extracted text. Output: ``Article`` with cleaned ``text``, the
credits found added to ``image_credits``, captions to ``image_captions``, every removed line (or
cut-off line end) in ``removed_lines`` and ``word_count`` set (``ok``); ``DeadLetter`` never
expected (``dead``: only a bug would put something there, and it should fail loudly in tests).
Counters (namespace ``clean``): ``in``, ``out``, ``removed:<rule>`` (one per removal).

Rules are data (``configs/clean_rules.yaml``, format in ``docs/CLEANING.md``), compiled once per
worker in ``setup()``. Whole-line rules (credit, caption, drop) must match a complete line, so a
sentence that merely mentions "Foto:" or "Quelle:" is never touched; suffix rules cut a credit
off the end of a line and leave the text before it. One rule lives in code because it needs
context, not a pattern: ``title_repeat`` drops a line that only repeats the article's title.

Guarantees (tested with hypothesis): cleaning is idempotent, every output line is an input line
or a part of one, and every removal names the rule that made it.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.resources
import re
import sys
import threading
from collections.abc import Iterator
from typing import Any, NamedTuple

import apache_beam as beam
import yaml

from transforms.storage.deadletter import ParDoWithDeadLetters
from transforms.text.required_chars import required_chars
from transforms.records import Article
from transforms.warm import in_background, once_per_process

KINDS = ("credit", "caption", "suffix", "drop")
TITLE_RULE = "title_repeat"
_WORD = re.compile(r"\w+")
_DEF_REF = re.compile(r"<<(\w+)>>")
_SPACES = re.compile(r"\s+")
# What may follow a repeated title on the same line: a site name after a separator, short.
_TITLE_TAIL = re.compile(r"\s*[|–—:·-]\s*\S.{0,40}")
# A definition may use others; deeper nesting than this is a cycle.
_MAX_DEF_DEPTH = 8


class RuleError(ValueError):
    """A cleaning rule file that cannot be used."""


@dataclasses.dataclass(frozen=True)
class Rule:
    name: str
    kind: str
    pattern: re.Pattern[str]
    max_chars: int | None = None
    examples: tuple[str, ...] = ()
    counter_examples: tuple[str, ...] = ()
    # A class of characters one of which every match of ``pattern`` contains (see
    # :func:`required_chars`): a line without any cannot match, and is not tried. None: no such
    # class is known, every line is tried.
    needs: re.Pattern[str] | None = dataclasses.field(default=None, compare=False)


class Removal(NamedTuple):
    rule: str
    kind: str
    line: str  # the removed text: a whole line, or the cut-off end of one
    credit: str | None
    caption: str | None = None


class CleanResult(NamedTuple):
    text: str
    removed: tuple[Removal, ...]


def _expand(pattern: str, defs: dict[str, str], name: str, depth: int = 0) -> str:
    if depth > _MAX_DEF_DEPTH:
        raise RuleError(f"rule {name!r}: definitions nest deeper than {_MAX_DEF_DEPTH} (a cycle?)")

    def substitute(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in defs:
            raise RuleError(f"rule {name!r} uses <<{key}>>, which defs does not define")
        return f"(?:{_expand(defs[key], defs, name, depth + 1)})"

    return _DEF_REF.sub(substitute, pattern)


def _join_lines(value: Any) -> str:
    # Long patterns are written over several lines; the breaks and indentation are not part of it.
    return "".join(part.strip() for part in str(value).splitlines())


def _needs(pattern: re.Pattern[str]) -> re.Pattern[str] | None:
    # The class as one character set: a line without any of them cannot match the rule, and
    # scanning for them is far cheaper than trying the pattern at every position.
    found = required_chars(pattern)
    if not found:
        return None
    return re.compile("[" + "".join(re.escape(c) for c in sorted(found)) + "]")


def compile_rules(spec: dict[str, Any]) -> tuple[Rule, ...]:
    """Validate and compile the ``rules`` list of a rule file (with its ``defs``)."""
    defs = {str(k): _join_lines(v) for k, v in (spec.get("defs") or {}).items()}
    rules: list[Rule] = []
    seen: set[str] = set()
    for i, raw in enumerate(spec.get("rules") or []):
        if not isinstance(raw, dict):
            raise RuleError(f"rule #{i} must be a mapping, got {raw!r}")
        name, kind, pattern = raw.get("name"), raw.get("kind"), raw.get("pattern")
        if not name or kind not in KINDS or not pattern:
            raise RuleError(f"rule #{i} needs name, kind in {KINDS} and pattern, got {raw!r}")
        if name in seen or name == TITLE_RULE:
            raise RuleError(f"rule name {name!r} is used twice")
        seen.add(name)
        max_chars = raw.get("max_chars")
        if max_chars is not None and (not isinstance(max_chars, int) or max_chars <= 0):
            raise RuleError(
                f"rule {name!r}: max_chars must be a positive integer, got {max_chars!r}"
            )
        source = _expand(_join_lines(pattern), defs, name)
        try:
            compiled = re.compile(rf"(?:{source})", re.IGNORECASE)
        except re.error as exc:
            raise RuleError(f"rule {name!r} has a bad pattern: {exc}") from exc
        groups = set(compiled.groupindex)
        if kind in ("credit", "suffix") and not any(g.startswith("credit") for g in groups):
            raise RuleError(f"{kind} rule {name!r} needs a (?P<credit>…) group")
        if kind == "caption" and "caption" not in groups:
            raise RuleError(f"caption rule {name!r} needs a (?P<caption>…) group")
        rules.append(
            Rule(
                name,
                kind,
                compiled,
                max_chars,
                tuple(raw.get("examples") or ()),
                tuple(raw.get("counter_examples") or ()),
                _needs(compiled),
            )
        )
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
    return _rules_of(text)


@once_per_process
def _rules_of(text: str) -> tuple[Rule, ...]:
    # Keyed by the file's text, so an edited file is compiled anew. Compiling the shipped
    # rules takes ~0.3 s (the character pre-filters), on the path of a run's first article
    # unless :func:`preload` did it meanwhile. Rules are immutable: sharing them is safe.
    return compile_rules(yaml.safe_load(text) or {})


def preload(path: str | None = None) -> threading.Thread:
    """Compile the rules on a background thread (call before the pipeline starts); a rule
    file that fails is left to the stage to report."""
    return in_background("newsbeam-rules", load_rules, path)


@functools.lru_cache(maxsize=1)
def credit_rules() -> tuple[Rule, ...]:
    """The shipped whole-line ``credit`` rules (labels, copyright signs, agency chains), for
    the DOM passes that recognise a credit by its words; loaded on first use, once per process."""
    return tuple(r for r in load_rules() if r.kind == "credit")


def _group(found: re.Match[str], prefix: str) -> str | None:
    # A rule may spell one value in several alternatives: credit, credit2, credit3 …
    for name, value in found.groupdict().items():
        if name.startswith(prefix) and value and value.strip():
            return value.strip()
    return None


def match_line(line: str, rules: tuple[Rule, ...]) -> Removal | None:
    """The removal of a whole (trimmed) line by the first whole-line rule matching it, or None."""
    return _match_line(line.strip(), _line_checks(rules))


# Per whole-line rule, what a line is checked with: (longest line it may match, the class of
# characters it needs or None, its pattern's fullmatch, the rule). Made once per text, not per
# line and rule.
_Check = tuple[int, Any, Any, Rule]
_NO_LIMIT = sys.maxsize


def _line_checks(rules: tuple[Rule, ...]) -> tuple[_Check, ...]:
    return tuple(
        (
            _NO_LIMIT if rule.max_chars is None else rule.max_chars,
            rule.needs.search if rule.needs is not None else None,
            rule.pattern.fullmatch,
            rule,
        )
        for rule in rules
        if rule.kind != "suffix"
    )


def _match_line(stripped: str, checks: tuple[_Check, ...]) -> Removal | None:
    size = len(stripped)
    for limit, needs, fullmatch, rule in checks:
        if size > limit or (needs is not None and needs(stripped) is None):
            continue
        found = fullmatch(stripped)
        if found:
            credit = _group(found, "credit") if rule.kind in ("credit", "caption") else None
            caption = _group(found, "caption") if rule.kind == "caption" else None
            return Removal(rule.name, rule.kind, stripped, credit, caption)
    return None


# Suffix rules end in ``$`` and their credits are bounded (at most 100 characters after a short
# label), so a match starts within this many characters of the line's end. Searching from there
# (look-behinds still see the text before) finds the same match without scanning a paragraph
# from its start for every rule.
SUFFIX_REACH = 400


def cut_suffix(line: str, rules: tuple[Rule, ...]) -> tuple[str, Removal] | None:
    """(text left, removal) when a suffix rule finds a credit at the end of ``line``."""
    stripped = line.strip()
    size = len(stripped)
    start = max(0, size - SUFFIX_REACH)
    for rule in rules:
        if rule.kind != "suffix" or (rule.max_chars is not None and size > rule.max_chars):
            continue
        # The match lies after ``start``: without a character it needs there, there is none.
        if rule.needs is not None and rule.needs.search(stripped, start) is None:
            continue
        found = rule.pattern.search(stripped, start)
        if found and found.end() == size and found.start() > 0:
            left = stripped[: found.start()].rstrip()
            if left:
                return left, Removal(
                    rule.name, rule.kind, stripped[found.start() :].strip(), _group(found, "credit")
                )
    return None


def _norm(text: str) -> str:
    return _SPACES.sub(" ", text).strip().casefold()


def repeats_title(line: str, title: str) -> bool:
    """``line`` is the title, or the title followed by a short ``| Site`` tail."""
    return _repeats_norm_title(line, _norm(title))


def _repeats_norm_title(line: str, title_n: str) -> bool:
    if not title_n or len(title_n) < 8:
        return False  # a one-word title ("Sport") is too likely to be a real line's text
    # Case folding goes character by character, so the normalised line starts with the folded
    # first character of the line: when the title does not, the line cannot repeat it, and
    # normalising the whole line (most of them are paragraphs) is not needed.
    first = line.lstrip()[:1]
    if not first or not title_n.startswith(first.casefold()):
        return False
    line_n = _norm(line)
    if line_n == title_n:
        return True
    return line_n.startswith(title_n) and bool(_TITLE_TAIL.fullmatch(line_n[len(title_n) :]))


def _clean_line(
    line: str, line_checks: tuple[_Check, ...], suffix_rules: tuple[Rule, ...], title: str
) -> tuple[str | None, list[Removal]]:
    """One line → (what stays or None, removals). Repeats until nothing applies: idempotent.
    ``title`` comes normalised (:func:`_norm`) and the rules split by kind (the whole-line ones
    as :func:`_line_checks`), once per text rather than once per line."""
    removed: list[Removal] = []
    current = line
    while True:
        whole = _match_line(current.strip(), line_checks)
        if whole is not None:
            return None, [*removed, whole]
        if title and _repeats_norm_title(current, title):
            return None, [*removed, Removal(TITLE_RULE, "drop", current.strip(), None)]
        cut = cut_suffix(current, suffix_rules)
        if cut is None:
            return current, removed
        current, removal = cut
        removed.append(removal)


def clean_text(text: str, rules: tuple[Rule, ...], title: str = "") -> CleanResult:
    """Remove every line a rule matches and every credit glued to a line's end.

    ``title``: the article's title; a line that only repeats it is dropped as ``title_repeat``.
    Returns the text left and what was removed, in order.
    """
    kept: list[str] = []
    removed: list[Removal] = []
    title = _norm(title)
    line_checks = _line_checks(rules)
    suffix_rules = tuple(rule for rule in rules if rule.kind == "suffix")
    for line in text.splitlines():
        if not line.strip():
            kept.append(line)
            continue
        left, removals = _clean_line(line, line_checks, suffix_rules, title)
        removed += removals
        if left is not None:
            kept.append(line if not removals else left)
    # Removing a line can leave blank lines at the edges; inner blank lines are the author's.
    return CleanResult("\n".join(kept).strip(), tuple(removed))


def word_count(text: str) -> int:
    """How many runs of word characters (``\\w+``) ``text`` holds."""
    # A run never spans whitespace, and a whitespace-separated token that is all letters and
    # digits (``isalnum``: the characters ``\w`` matches, but "_") is one run: only the other
    # tokens need the regex, which is most of the time when it reads all of the text.
    tokens = text.split()
    others = [token for token in tokens if not token.isalnum()]
    return len(tokens) - len(others) + len(_WORD.findall(" ".join(others)))


def apply_cleaning(article: Article, result: CleanResult) -> Article:
    """The article with the cleaned text, and the credits, captions and lines removed from it."""
    credits = [r.credit for r in result.removed if r.credit]
    captions = [r.caption or r.line for r in result.removed if r.kind == "caption"]
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
        result = clean_text(article.text, self._rules, article.title)
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
