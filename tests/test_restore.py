"""The "page" recall pass (transforms.text.restore) and the tree trafilatura is given
(transforms.text.extract.extractor_tree)."""

from __future__ import annotations

import pytest
from lxml import etree
from lxml import html as lxml_html

from transforms.text.extract import ExtractConfig, extract_text, extractor_tree
from transforms.text.restore import (
    _upward,
    discarded_nodes,
    is_discarded,
    page_blocks,
    restore_from_page,
    restore_siblings,
)

BODY = """
<html><body>
<header><p>Startseite</p></header>
<article>
  <h1>Der Radweg kommt</h1>
  <div class="body">
    <p>Der Stadtrat hat am Dienstag den Bau des Radwegs beschlossen.</p>
    <p>Die Fraktionen stritten zuvor zwei Stunden lang über die Kosten.</p>
    <h2>Was die Anwohner sagen</h2>
    <p>Die Anwohner begrüßen den Beschluss mehrheitlich.</p>
    <div class="teaser"><p>Lesen Sie auch: Wie andere Städte Radwege bauen</p></div>
    <p>Der Bau beginnt im Frühjahr.</p>
  </div>
</article>
<footer><p>Impressum</p></footer>
</body></html>
"""


def tree():
    return lxml_html.fromstring(BODY)


def test_a_dropped_paragraph_between_two_kept_siblings_comes_back() -> None:
    precise = (
        "Der Stadtrat hat am Dienstag den Bau des Radwegs beschlossen.\n"
        "Die Anwohner begrüßen den Beschluss mehrheitlich."
    )
    # The paragraph and the heading between them are children of the same <div>.
    assert restore_from_page(precise, tree()) == (
        "Der Stadtrat hat am Dienstag den Bau des Radwegs beschlossen.\n"
        "Die Fraktionen stritten zuvor zwei Stunden lang über die Kosten.\n"
        "Was die Anwohner sagen\n"
        "Die Anwohner begrüßen den Beschluss mehrheitlich."
    )


def test_a_block_in_a_container_of_its_own_stays_out() -> None:
    # The teaser between the last two paragraphs sits in its own <div>: not a dropped paragraph.
    precise = "Die Anwohner begrüßen den Beschluss mehrheitlich.\nDer Bau beginnt im Frühjahr."
    assert restore_from_page(precise, tree()) == precise


def test_nothing_is_taken_before_the_first_or_after_the_last_line() -> None:
    precise = (
        "Die Fraktionen stritten zuvor zwei Stunden lang über die Kosten.\n"
        "Was die Anwohner sagen"
    )
    # The headline and first paragraph before, the paragraphs after: not between two lines.
    assert restore_from_page(precise, tree()) == precise


def test_lines_that_are_not_neighbours_in_the_precise_text_are_no_anchors() -> None:
    # The page's first and last paragraphs are lines 0 and 2 of the text: the blocks between
    # them on the page are not "between two consecutive lines", whatever the text's line 1 is.
    precise = (
        "Der Stadtrat hat am Dienstag den Bau des Radwegs beschlossen.\n"
        "Eine Zeile, die auf der Seite nicht steht.\n"
        "Der Bau beginnt im Frühjahr."
    )
    assert restore_from_page(precise, tree()) == precise


def test_text_without_a_line_on_the_page_is_returned_as_it_was() -> None:
    assert restore_from_page("Ganz anderer Text.", tree()) == "Ganz anderer Text."
    assert restore_siblings("", page_blocks(tree())) == ""


def test_page_blocks_read_nested_blocks_through_the_inner_ones_and_collapse_space() -> None:
    page = lxml_html.fromstring(
        "<html><body><ul><li><p>Erster   Punkt</p></li><li>Zweiter\n Punkt</li></ul>"
        "<blockquote><p>Ein Zitat.</p></blockquote><p>  </p></body></html>"
    )
    assert [text for _node, text in page_blocks(page)] == [
        "Erster Punkt", "Zweiter Punkt", "Ein Zitat."
    ]


@pytest.mark.parametrize(
    "body, expected",
    [
        # The inner block deep inside inline elements, and a leaf block after the outer one.
        ("<li><span><b><p>Innen</p></b></span> Rest</li><p>Danach</p>", ["Innen", "Danach"]),
        # A block with inline children only, then a sibling block: no inner block.
        ("<p><a>Eins</a> <b>zwei</b></p><p>Drei</p>", ["Eins zwei", "Drei"]),
        # The page's last block has children but no block below them.
        (
            "<p>Erst</p><blockquote><em>Zitat</em> \U0001F600</blockquote>",
            ["Erst", "Zitat \U0001F600"],
        ),
        # Blocks nested three deep: only the innermost one is read.
        ("<blockquote><ul><li><h3>Tief</h3></li></ul></blockquote><dd>Ende</dd>", ["Tief", "Ende"]),
        ("", []),
    ],
)
def test_page_blocks_only_leaf_blocks(body: str, expected: list[str]) -> None:
    page = lxml_html.fromstring(f"<html><body>{body}<div></div></body></html>")
    assert [text for _node, text in page_blocks(page)] == expected


def test_extractor_tree_drops_what_trafilatura_deletes_and_keeps_tails_and_json_ld() -> None:
    page = lxml_html.fromstring(
        "<html><head><script>var x = 1;</script>"
        "<script type='application/ld+json'>{\"@type\": \"NewsArticle\"}</script>"
        "<style>p {}</style></head><body>"
        "<p>Vorher <svg><path d='M0'/></svg>mitten <button>Teilen</button>danach.</p>"
        "<nav><a href='/'>Start</a></nav><p>Zweiter Absatz.</p></body></html>"
    )
    pruned = extractor_tree(page)
    assert [el.tag for el in pruned.iter("script", "style", "svg", "button", "nav")] == ["script"]
    assert pruned.find(".//script").get("type") == "application/ld+json"
    assert pruned.find(".//p").text_content() == "Vorher mitten danach."
    # A copy: the page itself is unchanged (the shell-page test reads its scripts).
    assert len(list(page.iter("script"))) == 2 and page.find(".//nav") is not None


@pytest.mark.parametrize(
    ("value", "mode"), [(True, "trafilatura"), (False, "off"), ("page", "page"), ("off", "off")]
)
def test_recall_pass_accepts_the_old_flag(value, mode) -> None:
    assert ExtractConfig(recall_pass=value).recall_pass == mode
    assert ExtractConfig().recall_pass == "page"


def test_recall_pass_rejects_an_unknown_mode() -> None:
    with pytest.raises(ValueError, match="recall_pass"):
        ExtractConfig(recall_pass="both")


LONG = (
    "Der Stadtrat hat am Dienstagabend nach langer Debatte den Bau eines neuen Radwegs zwischen "
    "der Innenstadt und dem Osten beschlossen.",
    "Die Fraktionen hatten zuvor mehr als zwei Stunden lang über die Kosten von rund vier "
    "Millionen Euro gestritten, die das Land zur Hälfte trägt.",
    "Die Anwohner begrüßen den Beschluss mehrheitlich, wie eine Umfrage des Bürgervereins im "
    "Frühjahr ergeben hatte.",
    "Der Bau soll im kommenden Frühjahr beginnen und nach Angaben der Verwaltung etwa achtzehn "
    "Monate dauern.",
)


def short_ok(mode: str) -> ExtractConfig:
    return ExtractConfig(recall_pass=mode, precision_min_chars=0)


def article_page(between: str) -> str:
    return (
        "<html><head><title>Radweg</title></head><body><article><h1>Der Radweg kommt</h1>"
        f"<div class='article-body'><p>{LONG[0]}</p><p>{LONG[1]}</p>{between}<p>{LONG[2]}</p>"
        f"<p>{LONG[3]}</p></div></article></body></html>"
    )


@pytest.mark.parametrize("mode", ["page", "trafilatura"])
def test_a_linked_heading_that_precision_mode_drops_comes_back(mode) -> None:
    page = lxml_html.fromstring(article_page("<h3><a href='/x'>Was die Anwohner sagen</a></h3>"))
    # precision_min_chars 0: this short page must not make the default pass run anyway.
    off, used_off = extract_text(page, "https://example.test/a", short_ok("off"))
    assert "Was die Anwohner sagen" not in off and used_off == "precision"
    text, used = extract_text(page, "https://example.test/a", short_ok(mode))
    assert used == "precision+recall"
    assert text.splitlines()[1:4] == [LONG[1], "Was die Anwohner sagen", LONG[2]]


def test_a_link_box_of_its_own_between_paragraphs_stays_out_in_page_mode() -> None:
    box = (
        "<div class='related'><p><a href='/a'>Radwege in Münster</a></p>"
        "<p><a href='/b'>Radwege in Kopenhagen</a></p></div>"
    )
    page = lxml_html.fromstring(article_page(box))
    text, used = extract_text(page, "https://example.test/a", short_ok("page"))
    assert used == "precision"
    assert "Radwege in" not in text
    assert all(paragraph in text for paragraph in LONG)


def test_a_block_trafilatura_discards_by_its_class_stays_out() -> None:
    # Precision mode dropped the byline because of its class, as the default mode would: it is
    # not a paragraph that precision mode was too strict about.
    page = lxml_html.fromstring(article_page("<p class='byline'>Von Mia Beispiel, dpa</p>"))
    text, used = extract_text(page, "https://example.test/a", short_ok("page"))
    assert "Mia Beispiel" not in text and used == "precision"
    assert all(paragraph in text for paragraph in LONG)


def test_is_discarded_is_membership_in_discarded_nodes() -> None:
    """The upward test on one element agrees with trafilatura's expressions run on the whole
    page, for every element: nested discarded containers, a discarding class on the root
    itself (the expressions look below it), non-ASCII and beyond-BMP text."""
    page = lxml_html.fromstring(
        "<html class='sidebar'><body><div class='article'><p>Grüße \U0001F600</p>"
        "<div id='newsletter'><section><p>Abonnieren</p><span class='x'>a</span></section></div>"
        "<p class='byline'>Von Mia</p><div class='Teaser-box'><p>Mehr</p></div>"
        "<span style='display:none'><b>weg</b></span><p aria-hidden='true'>x</p>"
        "<div role='Navigation'><ul><li>Start</li></ul></div></div><p>Ende</p></body></html>"
    )
    discarded = discarded_nodes(page)
    elements = [el for el in page.iter() if isinstance(el.tag, str)]
    assert [is_discarded(el, page) for el in elements] == [el in discarded for el in elements]
    gone = {el.text for el in elements if is_discarded(el, page)}
    assert gone >= {"Abonnieren", "Von Mia", "Mehr", "weg"}
    assert not is_discarded(page, page)


def test_upward_only_turns_descendant_tests() -> None:
    assert _upward(etree.XPath(".//*[@class='x']")).path == "ancestor-or-self::*[@class='x']"
    assert _upward(etree.XPath(".//*/p")) is None
    assert _upward(etree.XPath("//p[@class='x']")) is None


def test_restore_siblings_keys_blocks_of_any_spacing() -> None:
    """Blocks not from page_blocks may carry their page's spacing and case; they still anchor."""
    parent = lxml_html.fromstring("<div><p>a</p><p>b</p><p>c</p></div>")
    first, gap, last = list(parent)
    blocks = [(first, "  Erster\n Absatz "), (gap, "Dazwischen"), (last, "LETZTER  Absatz")]
    assert restore_siblings("Erster Absatz\nletzter absatz", blocks) == (
        "Erster Absatz\nDazwischen\nletzter absatz"
    )
