"""transforms/text/extract.py: decoding, text and metadata extraction, DoFn and transform."""

from __future__ import annotations

import dataclasses
import datetime as dt

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to
from trafilatura.utils import INVALID_XML_CHARS as TRAFILATURA_INVALID_XML_CHARS
from trafilatura.utils import load_html, repair_faulty_html

from transforms.text.extract import (
    INVALID_XML_CHARS,
    ExtractArticles,
    ExtractConfig,
    NoTextError,
    _ExtractFn,
    decode_html,
    extract_article,
    extract_text,
    repair_html,
)
from transforms.records import UTC, Article, DeadLetter, FeedEntry, FetchedPage

FETCHED = dt.datetime(2026, 7, 1, tzinfo=UTC)
PARAGRAPHS = [
    (
        "Der Stadtrat hat am Dienstagabend nach langer Debatte einen neuen Radweg entlang des "
        "Flussufers beschlossen, der die Innenstadt mit den östlichen Stadtteilen verbinden soll."
    ),
    (
        "Die Kosten von rund zwei Millionen Euro trägt zu einem großen Teil das Land. Der Bau soll im "
        "Frühjahr beginnen und nach Angaben der Verwaltung etwa ein Jahr dauern."
    ),
    (
        "Anwohner hatten sich seit Jahren für die Verbindung eingesetzt. Die Opposition stimmte "
        "dagegen, weil sie den Wegfall von Parkplätzen am Ufer kritisierte."
    ),
]
ARTICLE_HTML = f"""<!DOCTYPE html><html lang="de"><head><meta charset="utf-8">
<title>Stadtrat beschließt Radweg | Stadtanzeiger</title>
<meta property="og:site_name" content="Stadtanzeiger">
<meta property="article:published_time" content="2026-06-30T19:00:00+02:00">
</head><body><article><h1>Stadtrat beschließt Radweg</h1>
<p class="byline">Von Mia Beispiel, dpa</p>
<figure><img src="r.jpg"><figcaption>Das Flussufer. <span class="credit">Foto: Max Muster/dpa</span>
</figcaption></figure>
{"".join(f"<p>{p}</p>" for p in PARAGRAPHS)}
</article></body></html>"""


def fetched(
    body: bytes, *, status: int = 200, charset: str | None = "utf-8", **entry
) -> FetchedPage:
    fields = {
        "feed_url": "https://example.test/feed.xml",
        "feed_name": "",
        "link": "https://example.test/a",
        "url": "https://example.test/a",
        "id": "id-1",
        **entry,
    }
    return FetchedPage(
        FeedEntry(**fields), "https://example.test/a", status, "text/html", charset, body, FETCHED
    )


# --- decoding --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body, charset, expected",
    [
        ("Grüße".encode(), None, "Grüße"),
        ("Grüße".encode("cp1252"), "iso-8859-1", "Grüße"),
        (
            b'<meta charset="windows-1252">' + "Grüße".encode("cp1252"),
            None,
            '<meta charset="windows-1252">Grüße',
        ),
        ("\ufeffGrüße".encode("utf-8"), "latin-1", "Grüße"),
        ("Grüße €".encode("cp1252"), None, "Grüße €"),
    ],
)
def test_decode_html(body: bytes, charset: str | None, expected: str) -> None:
    assert decode_html(body, charset) == expected


# --- extraction ------------------------------------------------------------------------------


def test_extract_article_text_and_metadata() -> None:
    article = extract_article(fetched(ARTICLE_HTML.encode()), ExtractConfig())
    assert article.text.splitlines()[-3:] == PARAGRAPHS
    assert article.text_source == "page"
    assert article.title == "Stadtrat beschließt Radweg"
    assert article.authors == ("Mia Beispiel",)
    assert article.agencies == ("dpa",)
    assert article.published_at == dt.datetime(2026, 6, 30, 17, 0, tzinfo=UTC)
    assert article.image_credits == ("Max Muster/dpa",)
    assert article.image_captions == ("Das Flussufer.",)
    assert article.source == "Stadtanzeiger"
    assert article.is_paywalled is None
    assert "Foto" not in article.text


def test_feed_fields_win_for_authors_and_date() -> None:
    when = dt.datetime(2026, 6, 30, 12, 0, tzinfo=dt.timezone(dt.timedelta(hours=-4)))
    article = extract_article(
        fetched(ARTICLE_HTML.encode(), authors=("Ina Feedfrau, AFP",), published=when),
        ExtractConfig(),
    )
    assert article.authors == ("Ina Feedfrau",)
    assert article.agencies == ("AFP", "dpa")
    assert article.published_at == dt.datetime(2026, 6, 30, 16, 0, tzinfo=UTC)


def test_short_page_falls_back_to_feed_text() -> None:
    stub = b"<html><body><p>Nur mit Abo.</p></body></html>"
    article = extract_article(fetched(stub, content="Volltext aus dem Feed " * 20), ExtractConfig())
    assert article.text_source == "feed"
    assert article.text.startswith("Volltext aus dem Feed")


def test_no_text_anywhere_raises() -> None:
    with pytest.raises(NoTextError):
        extract_article(fetched(b""), ExtractConfig())


def test_default_pass_runs_when_precision_keeps_too_little() -> None:
    tree = load_html(ARTICLE_HTML)
    cfg = ExtractConfig(precision_min_chars=10_000)  # force the second pass
    text, used = extract_text(tree, "https://example.test/a", cfg)
    assert PARAGRAPHS[0] in text
    assert used in ("precision", "default", "precision+recall")
    text_p, used_p = extract_text(tree, "https://example.test/a", ExtractConfig())
    assert used_p == "precision" and PARAGRAPHS[-1] in text_p


def test_keep_teaser_puts_back_a_dropped_lead() -> None:
    lead = "Der Rat hat entschieden: Ein neuer Radweg soll die Innenstadt mit dem Osten der Stadt verbinden."
    html = ARTICLE_HTML.replace("</title>", f"</title><meta name='description' content='{lead}'>")
    html = html.replace(
        "<h1>Stadtrat beschließt Radweg</h1>",
        f"<h1>Stadtrat beschließt Radweg</h1><div class='teaser'><strong>{lead}</strong></div>",
    )
    on = extract_article(fetched(html.encode()), ExtractConfig(keep_teaser=True))
    assert on.text.splitlines()[0] == lead and on.text.count(lead) == 1
    assert PARAGRAPHS[0] in on.text


def test_strip_credits_can_be_switched_off() -> None:
    article = extract_article(fetched(ARTICLE_HTML.encode()), ExtractConfig(strip_credits=False))
    assert article.image_credits == ()


def test_config_rejects_bad_values() -> None:
    with pytest.raises(ValueError, match="min_chars"):
        ExtractConfig(min_chars=-3)
    with pytest.raises(ValueError):
        ExtractConfig(unknown=True)


# --- DoFn and transform ----------------------------------------------------------------------


def test_extract_fn_outputs_article_or_dead_letter() -> None:
    fn = _ExtractFn(ExtractConfig())
    fn.setup()
    [article] = list(fn.process(fetched(ARTICLE_HTML.encode())))
    assert isinstance(article, Article)
    [dead] = list(fn.process(fetched(b"", status=200)))
    assert isinstance(dead, beam.pvalue.TaggedOutput)
    assert dead.value.stage == "extract" and dead.value.error_type == "no_text"


def _strip_time(letter: DeadLetter) -> tuple[str, str, str]:
    return letter.stage, letter.url, letter.error_type


def test_extract_articles_transform() -> None:
    good = fetched(ARTICLE_HTML.encode())
    empty = dataclasses.replace(
        fetched(b""), entry=dataclasses.replace(good.entry, url="https://example.test/empty")
    )
    expected = extract_article(good, ExtractConfig())
    with TestPipeline() as p:
        ok, dead = p | beam.Create([good, empty]) | ExtractArticles(ExtractConfig())
        assert_that(ok, equal_to([expected]), label="CheckArticles")
        assert_that(
            dead | beam.Map(_strip_time),
            equal_to([("extract", "https://example.test/empty", "no_text")]),
            label="CheckDeadLetters",
        )


def test_whitespace_only_lines_never_break_a_paragraph() -> None:
    from transforms.text.extract import join_blank_lines

    assert join_blank_lines("Startdatum für \n   \n    \n    Legos Star Wars Day.") == (
        "Startdatum für Legos Star Wars Day."
    )
    assert join_blank_lines("Erster Absatz.\nZweiter Absatz.") == "Erster Absatz.\nZweiter Absatz."


@pytest.mark.parametrize(
    "text, expected",
    [
        ("", ""),
        ("a\n\t\nb", "a b"),
        ("a\n\xa0\xa0\n\xa0b", "a b"),
        ("Grüße \U0001F600\n \nWelt", "Grüße \U0001F600 Welt"),
        # A line that starts with a space is no blank line, and a blank line needs a break after.
        ("Erster.\n Zweiter.\n\tDritter.", "Erster.\n Zweiter.\n\tDritter."),
        ("Ende.\n   ", "Ende.\n   "),
        ("a\n\u2003\nb", "a\n\u2003\nb"),  # an em space is not in the run's characters
    ],
)
def test_join_blank_lines_edges(text: str, expected: str) -> None:
    from transforms.text.extract import _BLANK_RUN, join_blank_lines

    assert join_blank_lines(text) == expected == _BLANK_RUN.sub(" ", text)


def test_restore_dropped_takes_back_inner_paragraphs_and_a_cut_off_start() -> None:
    from transforms.text.extract import restore_dropped

    precise = "Erster Absatz.\nDritter Absatz.\nLetzter Absatz."
    default = (
        "Menü\nVerwandte Artikel\nÜberschrift\nNullter Absatz.\nErster Absatz.\n"
        "Zweiter Absatz.\nDritter Absatz.\nLetzter Absatz.\nMehr aus dem Ressort\nImpressum"
    )
    assert restore_dropped(precise, default) == (
        "Überschrift\nNullter Absatz.\nErster Absatz.\nZweiter Absatz.\nDritter Absatz.\n"
        "Letzter Absatz."
    )
    # Nothing in common, or nothing dropped: the precise text as it was.
    assert restore_dropped(precise, "Ganz anderer Text.") == precise
    assert restore_dropped(precise, precise) == precise


def test_invalid_xml_chars_are_trafilaturas() -> None:
    every = "".join(map(chr, range(0x110000)))
    assert sorted(INVALID_XML_CHARS) == TRAFILATURA_INVALID_XML_CHARS.findall(every)


@pytest.mark.parametrize(
    "markup",
    [
        "",
        "<html><body><p>Grüße \U0001F600</p></body></html>",
        "<!DOCTYPE html>\n<html><body><p>x</p></body></html>",
        "<!DOCTYPE html PUBLIC \"-//W3C//DTD XHTML 1.0//EN\""
        " \"http://www.w3.org/TR/xhtml1/DTD/x.dtd\"/>\n<html>",
        "<!doctype html/>",
        "<?xml version='1.0'?>\n<html lang='de'/>\n<body>x</body>",
        "\n\n\n\n<html/>",
        "<html>\x00<body>\x0bEin\x1f Text\ufffe\uffff\x08</body></html>",
        "<!DOCTYPE html>\x0c\n<html/>",
        "<html><body>" + "<p>Absatz. \u00e9\u4e2d\U00010348</p>" * 20000 + "</body></html>",
        "\u0000",
        "\t\n\r plain text",
    ],
)
def test_repair_html_is_trafilaturas_repair(markup: str) -> None:
    beginning = markup[:50].lower()
    assert repair_html(markup, beginning) == repair_faulty_html(markup, beginning)
