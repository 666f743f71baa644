"""The character pre-filter of the cleaning rules (``Rule.needs``, ``required_chars``): a line it
skips could not have matched, so cleaning gives the same result with and without it. And
``word_count``'s shortcut against the regex it stands for."""

from __future__ import annotations

import _sre
import csv
import dataclasses
import json
import re
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import SHARED_DATA
from tests.test_clean import LINE, PROPS, TEXTS, TITLES
from transforms.text.clean import clean_text, cut_suffix, load_rules, match_line, word_count
from transforms.text.required_chars import _every_character, required_chars

RULES = load_rules()
# The same rules without the pre-filter: every line is tried with every rule, as before it.
BARE = tuple(dataclasses.replace(rule, needs=None) for rule in RULES)
FILTERED = [rule for rule in RULES if rule.needs is not None]
EXAMPLES = [e for rule in RULES for e in (*rule.examples, *rule.counter_examples)]
PARAGRAPH = (
    "Bundesjustizminister Marco Buschmann verteidigte am Mittwoch im Bundestag die geplante "
    "Reform des Mietrechts."
)
# Any code point, lone surrogates too.
ANY_CHAR = st.one_of(st.characters(), st.characters(categories=["Cs"]))


def _shared_texts() -> list[str]:
    texts = []
    bbc = SHARED_DATA / "topics" / "bbc" / "bbc.jsonl"
    if bbc.is_file():
        with open(bbc, encoding="utf-8") as handle:
            texts += [json.loads(line)["text"] for line in handle][:300]
    gnad = SHARED_DATA / "topics" / "10kgnad" / "test.csv"
    if gnad.is_file():
        csv.field_size_limit(2**31 - 1)
        with open(gnad, encoding="utf-8", newline="") as handle:
            rows = list(csv.reader(handle, delimiter=";", quotechar="'"))
        texts += [row[1] for row in rows[:300] if len(row) > 1]
    return texts


def test_the_shipped_rules_that_get_a_filter() -> None:
    needs = {rule.name: rule.needs.pattern for rule in FILTERED}
    # The suffix rule is searched for at the end of every line: its filter matters most.
    assert set(needs["credit_suffix_label"][1:-1].replace("\\", "")) == set("([:©ⓒⒸ")
    assert set(needs["credit_bracketed"][1:-1].replace("\\", "")) == set("([")


def test_every_example_holds_a_character_its_rule_needs() -> None:
    for rule in FILTERED:
        for example in rule.examples:
            assert rule.needs.search(example), (rule.name, example)


def test_cleaning_is_the_same_without_the_filter_on_examples_and_news_texts() -> None:
    lines = [
        *EXAMPLES,
        *(f"{PARAGRAPH} {e}" for e in EXAMPLES),
        *(f"{e} {PARAGRAPH}" for e in EXAMPLES),
    ]
    texts = ["\n".join(lines), *lines, *_shared_texts()]
    for text in texts:
        for title in ("", "Ein Titel für die Tests", text.strip().split("\n")[0]):
            assert clean_text(text, RULES, title) == clean_text(text, BARE, title)


@PROPS
@given(TEXTS, TITLES)
def test_cleaning_is_the_same_without_the_filter(text: str, title: str) -> None:
    assert clean_text(text, RULES, title) == clean_text(text, BARE, title)


PIECE = st.one_of(LINE, st.sampled_from(EXAMPLES), st.text(ANY_CHAR, max_size=60))


@PROPS
@given(st.lists(PIECE, min_size=1, max_size=4).map(" ".join))
def test_match_line_and_cut_suffix_are_the_same_without_the_filter(line: str) -> None:
    assert match_line(line, RULES) == match_line(line, BARE)
    assert cut_suffix(line, RULES) == cut_suffix(line, BARE)
    # And, rule by rule: a match lies where the needed characters are.
    for rule in FILTERED:
        found = rule.pattern.search(line)
        if found:
            assert rule.needs.search(line, found.start(), found.end()), (rule.name, line)


def _needed(source: str, flags: int = re.IGNORECASE) -> set[str] | None:
    found = required_chars(re.compile(source, flags))
    return None if found is None else set(found)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (r"\(x\)", {"("}),  # the smallest class of those the sequence cannot skip
        (r"[(\[]\s*Foto", {"(", "["}),
        (r"a:|b;", {":", ";"}),  # one of the alternatives
        (r"a:|b", None),  # an alternative without one
        (r"x(?::)?y", None),  # optional
        (r"x:*y", None),  # none or more
        (r"x:+y", {":"}),
        (r"x(?::){2,3}y", {":"}),
        (r"x:+?y", {":"}),
        (r"(?>:)", {":"}),
        (r"(?<=:)x", None),  # a look-behind reads outside the match
        (r"(?=.*:)x", None),
        (r"(?!:)x", None),
        (r"(:)\1", {":"}),
        (r"[^:]", None),
        (r"[\w:]", None),
        (r"[0-5]", None),  # ranges are not read
        (r"[0-9a]", None),  # a letter: in nearly every line
        (r"Foto", None),  # letters only
        (r"[!-~]", None),  # a range wider than the limit
        (r"ⓒ", {"ⓒ", "Ⓒ"}),  # a non-letter with case: both cases under IGNORECASE
        (r"[©ⓒ]", {"©", "ⓒ", "Ⓒ"}),
        (r"(?-i:ⓒ)", {"ⓒ"}),
        (r"\d", None),
        (r".", None),
        (r"$", None),
        (r"", None),
    ],
)
def test_required_chars(source: str, expected: set[str] | None) -> None:
    assert _needed(source) == expected


def test_required_chars_without_ignorecase() -> None:
    assert _needed(r"ⓒ", 0) == {"ⓒ"}
    assert _needed(r"[ⓒ]", 0) == {"ⓒ"}
    assert _needed(r"(?i:ⓒ)", 0) == {"ⓒ", "Ⓒ"}


def test_no_character_lowers_to_one_without_case() -> None:
    # What keeps a class of characters without case exact under IGNORECASE: the engine compares
    # the text's characters lowered, and lowering only ever gives a character with case.
    for code in range(sys.maxunicode + 1):
        lower = _sre.unicode_tolower(code)
        assert lower == code or _sre.unicode_iscased(lower), hex(code)


def test_every_character_is_every_code_point_once_in_order() -> None:
    assert _every_character() == "".join(map(chr, range(sys.maxunicode + 1)))


# --- word_count --------------------------------------------------------------------------------


@PROPS
@given(st.text(ANY_CHAR, max_size=200))
def test_word_count_counts_the_runs_of_word_characters(text: str) -> None:
    assert word_count(text) == len(re.findall(r"\w+", text))


@pytest.mark.parametrize(
    "text",
    ["", " ", "a", "a_b", "_", "snake_case and x2 ½ ² ٣", "Wort, Wort. Wort—Wort", "中文新闻 日本語", "😀x😀"],
)
def test_word_count_examples(text: str) -> None:
    assert word_count(text) == len(re.findall(r"\w+", text))
