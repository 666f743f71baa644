"""transforms/dom_clean.py: credit and caption nodes out of the DOM, their text kept."""

from __future__ import annotations

import pytest
from lxml import html as lxml_html

from transforms.dom_clean import (
    DomStrip,
    attr_words,
    credit_value,
    node_role,
    split_caption,
    strip_credit_nodes,
)


def tree(body: str) -> lxml_html.HtmlElement:
    return lxml_html.fromstring(f"<html><body>{body}</body></html>")


@pytest.mark.parametrize(
    "markup, role",
    [
        ('<span class="credit">x</span>', "credit"),
        ('<span class="ArticleImage__copyright">x</span>', "credit"),
        ('<div class="imageCredit">x</div>', "credit"),
        ('<span class="c-photo-credit">x</span>', "credit"),
        ('<p id="bildnachweis">x</p>', "credit"),
        ('<span class="image-source">x</span>', "credit"),
        ('<span itemprop="copyrightHolder">x</span>', "credit"),
        ("<figcaption>x</figcaption>", "caption"),
        ('<div class="bildunterschrift">x</div>', "caption"),
        ('<p class="media__caption">x</p>', "caption"),
        ('<div class="has-caption">x</div>', None),  # a container of a caption, not one
        ('<span class="source">x</span>', None),  # a bare "source" is as often a trailer
        ('<div class="article-body">x</div>', None),
    ],
)
def test_node_role(markup: str, role: str | None) -> None:
    node = lxml_html.fragment_fromstring(markup)
    assert node_role(node) == role


def test_attr_words_split_naming_conventions() -> None:
    assert {"article", "image", "copyright"} <= attr_words("ArticleImage__copyright")
    assert "caption" not in attr_words("has-caption")


@pytest.mark.parametrize(
    "text, credit",
    [
        ("(Foto: picture alliance/dpa)", "picture alliance/dpa"),
        ("Foto: Felix Zahn/imago", "Felix Zahn/imago"),
        ("© Getty Images", "Getty Images"),
        ("Photo by Jane Doe", "Jane Doe"),
        ("Jane Doe/Reuters", "Jane Doe/Reuters"),
    ],
)
def test_credit_value(text: str, credit: str) -> None:
    assert credit_value(text) == credit


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Peking am Montag. Foto: AFP", ("Peking am Montag.", "AFP")),
        (
            "Water levels rose. (Photo: Jane Doe/Reuters)",
            ("Water levels rose.", "Jane Doe/Reuters"),
        ),
        ("Ein Bild der Brücke © Stadt Beispiel", ("Ein Bild der Brücke", "Stadt Beispiel")),
        ("Eine Brücke ohne Angabe.", ("Eine Brücke ohne Angabe.", None)),
    ],
)
def test_split_caption(text: str, expected: tuple[str, str | None]) -> None:
    assert split_caption(text) == expected


def test_strip_credit_nodes_keeps_text_and_tails() -> None:
    page = tree(
        "<article><figure><img src='a.jpg'><figcaption>Die Brücke am Morgen. "
        "<span class='credit'>Foto: Jens Beispiel/dpa</span></figcaption></figure>"
        "<p>Erster Absatz <span class='photo-credit'>(Foto: AFP)</span>geht weiter.</p>"
        "<div class='caption'>Nur ein Bildtext</div></article>"
    )
    assert strip_credit_nodes(page) == DomStrip(
        ("Jens Beispiel/dpa", "AFP"), ("Die Brücke am Morgen.", "Nur ein Bildtext")
    )
    text = page.text_content()
    assert "Erster Absatz geht weiter." in text
    assert "Foto" not in text and "Bildtext" not in text


def test_large_or_structural_nodes_are_never_dropped() -> None:
    long_text = "Ein langer Absatz mit echtem Inhalt. " * 40
    page = lxml_html.fromstring(
        f"<html><body class='has-captions credit-layout'><main class='caption'><p>{long_text}</p>"
        f"</main><div class='credits'><h2>Mitwirkende</h2><p>Alle</p></div></body></html>"
    )
    assert strip_credit_nodes(page) == DomStrip((), ())
    assert "Ein langer Absatz" in page.text_content()
    assert "Mitwirkende" in page.text_content()
