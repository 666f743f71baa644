"""transforms/text/clean.py and configs/clean_rules.yaml: rules, pure cleaning, DoFn, transform."""

from __future__ import annotations

import dataclasses
import datetime as dt

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from transforms.text.clean import (
    TITLE_RULE,
    CleanArticles,
    CleanResult,
    Removal,
    RuleError,
    _CleanFn,
    apply_cleaning,
    clean_text,
    compile_rules,
    load_rules,
    repeats_title,
)
from transforms.records import UTC, Article

RULES = load_rules()
RULE_NAMES = {r.name for r in RULES} | {TITLE_RULE}
BODY = (
    "Die Regierung hat am Montag ein neues Gesetz beschlossen, das im Herbst in Kraft treten soll."
)


def article(text: str, title: str = "Ein Titel für die Tests") -> Article:
    return Article(
        id="a1",
        url="https://example.test/a",
        final_url="https://example.test/a",
        feed_url="https://example.test/feed",
        source="Example",
        title=title,
        summary="",
        text=text,
        text_source="page",
        fetched_at=dt.datetime(2026, 1, 1, tzinfo=UTC),
    )


# --- the rule file ---------------------------------------------------------------------------


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.name)
def test_rule_examples(rule) -> None:
    assert rule.examples, f"{rule.name} has no examples"
    for example in rule.examples:
        removed = clean_text(example, RULES).removed
        assert removed and removed[0].rule == rule.name, (example, removed)
    for counter in rule.counter_examples:
        assert rule.name not in {r.rule for r in clean_text(counter, RULES).removed}, counter


def test_rule_names_are_unique_and_counted_per_rule() -> None:
    assert len({r.name for r in RULES}) == len(RULES)


@pytest.mark.parametrize(
    "spec, message",
    [
        ({"rules": []}, "no rules"),
        ({"rules": [{"name": "x", "kind": "nope", "pattern": "a"}]}, "kind"),
        ({"rules": [{"name": "x", "kind": "drop", "pattern": "("}]}, "bad pattern"),
        ({"rules": [{"name": "x", "kind": "credit", "pattern": "a"}]}, "credit"),
        ({"rules": [{"name": "x", "kind": "caption", "pattern": "(?P<credit>a)"}]}, "caption"),
        ({"rules": [{"name": "x", "kind": "drop", "pattern": "<<missing>>"}]}, "missing"),
        (
            {"defs": {"a": "<<a>>"}, "rules": [{"name": "x", "kind": "drop", "pattern": "<<a>>"}]},
            "cycle",
        ),
        ({"rules": [{"name": "x", "kind": "drop", "pattern": "a"}] * 2}, "twice"),
        ({"rules": [{"name": "x", "kind": "drop", "pattern": "a", "max_chars": -3}]}, "-3"),
    ],
)
def test_bad_rule_files_fail_at_load_with_the_value(spec, message) -> None:
    with pytest.raises(RuleError, match=message):
        compile_rules(spec)


def test_defs_and_multiline_patterns(tmp_path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(
        "defs:\n  agency: |-\n    dpa|\n    AFP\nrules:\n"
        "  - name: agency_line\n    kind: credit\n    pattern: '(?P<credit><<agency>>)'\n",
        "utf-8",
    )
    rules = load_rules(str(path))
    assert clean_text("AFP", rules).removed == (Removal("agency_line", "credit", "AFP", "AFP"),)
    assert clean_text("AFP und dpa", rules).removed == ()


# --- pure cleaning ---------------------------------------------------------------------------


def test_credit_line_is_removed_and_kept_as_credit() -> None:
    result = clean_text(f"(Foto: picture alliance / ASSOCIATED PRESS)\n{BODY}", RULES)
    assert result == CleanResult(
        BODY,
        (
            Removal(
                "credit_bracketed",
                "credit",
                "(Foto: picture alliance / ASSOCIATED PRESS)",
                "picture alliance / ASSOCIATED PRESS",
            ),
        ),
    )


@pytest.mark.parametrize(
    "line, rule, credit",
    [
        ("(Foto: REUTERS)", "credit_bracketed", "REUTERS"),
        ("Foto: Felix Zahn/imago", "credit_label", "Felix Zahn/imago"),
        ("© dpa/Zuma Wire/K.C. Alfred", "credit_copyright", "dpa/Zuma Wire/K.C. Alfred"),
        ("STR/AFP via Getty Images", "credit_agency", "STR/AFP via Getty Images"),
        ("Photo: AP Photo/Eric Gay", "credit_label", "AP Photo/Eric Gay"),
        ("Crédit photo : AFP", "credit_label", "AFP"),
        ("Foto di Mario Rossi", "credit_label", "Mario Rossi"),
        ("Graeme Sloan (Getty)", "credit_agency", "Graeme Sloan (Getty)"),
    ],
)
def test_credit_lines(line: str, rule: str, credit: str) -> None:
    result = clean_text(f"{BODY}\n{line}", RULES)
    assert result.text == BODY
    assert [(r.rule, r.credit) for r in result.removed] == [(rule, credit)]


@pytest.mark.parametrize(
    "line, rule",
    [
        ("Quelle: ntv.de, mli/dpa", "source_trailer"),
        ("© dpa-infocom, dpa:240422-99-123456/3", "wire_stamp"),
        ("SDA/sep", "wire_stamp"),
        ("Mehr zum Thema", "related_label"),
        ("Lesen Sie auch: Was die Reform für Mieter bedeutet", "related_link"),
        ("Read more", "related_label"),
        ("Auch interessant", "related_label"),
        ("Jetzt Newsletter abonnieren!", "newsletter"),
        ("Wir verwenden Cookies, um Inhalte zu personalisieren.", "consent"),
        ("Anzeige", "advertising"),
        ("Dieser Artikel ist nur für Abonnenten verfügbar.", "paywall_teaser"),
        ("Subscribe now!", "paywall_teaser"),
        ("Lesedauer: 4 Minuten", "reading_time"),
        ("Share this article", "share_label"),
    ],
)
def test_chrome_lines_are_dropped(line: str, rule: str) -> None:
    result = clean_text(f"{BODY}\n{line}", RULES)
    assert result == CleanResult(BODY, (Removal(rule, "drop", line, None),))


def test_caption_with_glued_credit() -> None:
    line = "Ehrenformation vor der Großen Halle des Volkes in Peking. Foto: picture alliance/dpa"
    result = clean_text(f"{BODY}\n{line}", RULES)
    assert result.text == BODY
    assert result.removed == (
        Removal(
            "caption_with_credit",
            "caption",
            line,
            "picture alliance/dpa",
            "Ehrenformation vor der Großen Halle des Volkes in Peking.",
        ),
    )


def test_credit_at_the_end_of_a_paragraph_is_cut_and_the_text_stays() -> None:
    paragraph = (
        "Bundesjustizminister Marco Beispiel verteidigte am Mittwoch im Bundestag die geplante "
        "Reform des Mietrechts, die Opposition warf ihm vor, die Interessen der Vermieter über "
        "die der Mieter zu stellen und die Koalition damit zu spalten."
    )
    result = clean_text(f"{paragraph} Foto: Felix Zahn/imago", RULES)
    assert result == CleanResult(
        paragraph,
        (Removal("credit_suffix_label", "suffix", "Foto: Felix Zahn/imago", "Felix Zahn/imago"),),
    )


@pytest.mark.parametrize(
    "line",
    [
        "Das Foto zeigt den Kanzler bei seiner Ankunft in Peking.",
        "Reuters berichtete am Montag, der Minister sei zurückgetreten.",
        "Die Quelle des Flusses liegt in den Alpen.",
        "Mehr zum Thema Steuern sagte er nichts, was wir nicht schon wussten.",
        "Read more about the study in the journal Nature.",
        "Sources:",
        "Werbung für Kinder soll verboten werden, sagte die Ministerin.",
        "(Reporting by Will Example; Editing by Tom Example)",
        "Adrienne Example and Matt Example contributed to this guide.",
        "Von Berlin aus fuhr er weiter nach Hamburg, wo er übernachtete.",
    ],
)
def test_text_lines_are_kept(line: str) -> None:
    assert clean_text(line, RULES) == CleanResult(line, ())


def test_repeated_title_is_dropped_with_its_rule() -> None:
    title = "Feuerwehrleute sollen später in Pension"
    text = f"{title} | Sender aktuell\n{BODY}\n{title}"
    result = clean_text(text, RULES, title)
    assert result.text == BODY
    assert [r.rule for r in result.removed] == [TITLE_RULE, TITLE_RULE]
    assert clean_text(text, RULES).text == text  # without a title, nothing to compare to


@pytest.mark.parametrize(
    "line, title, expected",
    [
        ("Sport", "Sport", False),  # too short to be sure
        ("Neue Brücke eröffnet", "Neue Brücke eröffnet", True),
        ("Neue Brücke eröffnet – Morgenkurier", "Neue Brücke eröffnet", True),
        (
            "Neue Brücke eröffnet, sagte der Bürgermeister am Montag vor vielen Gästen.",
            "Neue Brücke eröffnet",
            False,
        ),
        # Case folding and white space, at the start of the line too.
        ("ßig und fein, sagt er", "SSIG und fein, sagt er", True),
        ("SSIG und fein, sagt er", "ßig und fein, sagt er", True),
        ("ﬁnale Runde gestartet", "FINALE Runde gestartet", True),
        ("\u2003Neue   Brücke\u00a0eröffnet | Kurier", "Neue Brücke eröffnet", True),
        ("   ", "Neue Brücke eröffnet", False),
    ],
)
def test_repeats_title(line: str, title: str, expected: bool) -> None:
    assert repeats_title(line, title) is expected


def test_apply_cleaning_fills_credits_captions_removed_lines_and_word_count() -> None:
    base = dataclasses.replace(article("x"), image_credits=("dpa",), removed_lines=("early",))
    result = CleanResult(
        "zwei Wörter",
        (
            Removal("credit_label", "credit", "Foto: dpa", "dpa"),
            Removal("caption_with_credit", "caption", "Ein Bild. Foto: AFP", "AFP", "Ein Bild."),
            Removal("related_label", "drop", "Mehr zum Thema", None),
        ),
    )
    cleaned = apply_cleaning(base, result)
    assert cleaned.text == "zwei Wörter"
    assert cleaned.word_count == 2
    assert cleaned.image_credits == ("dpa", "AFP")
    assert cleaned.image_captions == ("Ein Bild.",)
    assert cleaned.removed_lines == ("early", "Foto: dpa", "Ein Bild. Foto: AFP", "Mehr zum Thema")


# --- properties ------------------------------------------------------------------------------

# Lines built from pieces the rules care about, so the properties exercise real removals.
PIECES = st.sampled_from(
    [
        "Foto:",
        "(Foto: REUTERS)",
        "picture alliance/dpa",
        "©",
        "Quelle:",
        "Mehr zum Thema",
        "Lesen Sie auch:",
        "Anzeige",
        "dpa",
        "AFP",
        "Getty Images",
        "Read more",
        "Photo by",
        "Der Minister sagte am Montag, die Reform komme.",
        "Newsletter",
        "Subscribe now!",
        "Kay Nietfeld/dpa",
        "Lesedauer: 3 Minuten",
        "Peking.",
        "(",
        ")",
        "|",
        "/",
        "–",
        "Berlin",
        "Tom Muster",
        "12.03.2024",
        "Von",
        "By",
        "und",
    ]
)
LINE = st.one_of(
    st.lists(PIECES, min_size=1, max_size=6).map(" ".join),
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=80),
)
TEXTS = st.lists(LINE, max_size=8).map("\n".join)
TITLES = st.sampled_from(["", "Der Minister sagte am Montag, die Reform komme.", "Berlin"])
PROPS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPS
@given(TEXTS, TITLES)
def test_cleaning_is_idempotent(text: str, title: str) -> None:
    once = clean_text(text, RULES, title)
    twice = clean_text(once.text, RULES, title)
    assert twice.text == once.text
    assert twice.removed == ()


@PROPS
@given(TEXTS, TITLES)
def test_cleaning_never_invents_text(text: str, title: str) -> None:
    inputs = text.splitlines()
    for line in clean_text(text, RULES, title).text.splitlines():
        assert any(line in original for original in inputs), line


@PROPS
@given(TEXTS, TITLES)
def test_every_removal_names_its_rule_and_accounts_for_the_text(text: str, title: str) -> None:
    result = clean_text(text, RULES, title)
    for removal in result.removed:
        assert removal.rule in RULE_NAMES
        assert any(removal.line in original for original in text.splitlines())

    # Nothing disappears without a removal: the input's characters (whitespace aside) are
    # exactly those of the output plus those of the removed lines and line ends.
    def chars(value: str) -> int:
        return len("".join(value.split()))

    assert chars(text) == chars(result.text) + sum(chars(r.line) for r in result.removed)


# --- DoFn and transform ----------------------------------------------------------------------


def test_clean_fn_counts_per_rule() -> None:
    fn = _CleanFn(None)
    fn.setup()
    [out] = list(fn.process(article(f"(Foto: REUTERS)\n{BODY}\nAnzeige")))
    assert out.text == BODY
    assert out.image_credits == ("REUTERS",)
    assert out.removed_lines == ("(Foto: REUTERS)", "Anzeige")
    assert out.word_count == len(BODY.split())


def test_clean_articles_transform() -> None:
    inputs = [article(f"{BODY}\nMehr zum Thema"), article(BODY)]
    expected = [
        dataclasses.replace(
            inputs[0], text=BODY, removed_lines=("Mehr zum Thema",), word_count=len(BODY.split())
        ),
        dataclasses.replace(inputs[1], word_count=len(BODY.split())),
    ]
    with TestPipeline() as p:
        ok, dead = p | beam.Create(inputs) | CleanArticles()
        assert_that(ok, equal_to(expected), label="CheckCleaned")
        assert_that(dead, equal_to([]), label="CheckNoDeadLetters")


def test_clean_counters_in_a_pipeline() -> None:
    p = TestPipeline()
    _ = p | beam.Create([article(f"{BODY}\nAnzeige\nWerbung")]) | CleanArticles()
    result = p.run()
    result.wait_until_finish()
    counters = {
        c.key.metric.name: c.committed
        for c in result.metrics().query(beam.metrics.MetricsFilter().with_namespace("clean"))[
            "counters"
        ]
    }
    assert counters["removed:advertising"] == 2
    assert counters["in"] == counters["out"] == 1


def test_rules_of_the_same_text_are_compiled_once_and_an_edited_file_anew(tmp_path) -> None:
    from transforms.text.clean import load_rules

    shipped = load_rules()
    assert load_rules() is shipped  # the preload's work is what the stage gets
    path = tmp_path / "rules.yaml"
    path.write_text(
        "rules:\n  - name: promo\n    kind: drop\n    pattern: 'Jetzt abonnieren!?'\n", "utf-8"
    )
    first = load_rules(str(path))
    assert load_rules(str(path)) is first
    path.write_text(
        "rules:\n  - name: promo2\n    kind: drop\n    pattern: 'Mehr lesen'\n", "utf-8"
    )
    assert [r.name for r in load_rules(str(path))] == ["promo2"]
