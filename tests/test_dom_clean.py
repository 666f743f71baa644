"""transforms/text/dom_clean.py: credit and caption nodes out of the DOM, their text kept."""

from __future__ import annotations

import pytest
from lxml import html as lxml_html

from transforms.text.dom_clean import (
    CAPTION_WORDS,
    CREDIT_WORDS,
    UI_WORDS,
    _ANY_HINT,
    _PICTURE_WORDS,
    _UI_LAST_LETTER,
    DomStrip,
    _candidates,
    attr_words,
    credit_value,
    node_role,
    separated_credit,
    split_caption,
    strip_credit_nodes,
    strip_ui_words,
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
        # An image or caption word before an author word in one class token.
        ('<div class="image-box__author">x</div>', "credit"),
        ('<span class="voc-figcaption voc-figcaption--author">x</span>', "credit"),
        ('<span class="foto-autor">x</span>', "credit"),
        ('<img class="author-image">', None),  # the author's own photo, not a credit
        ('<div class="author-box image">x</div>', None),  # the words in different tokens
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


def test_the_cheap_hint_is_part_of_every_role_word() -> None:
    """_candidates rejects a node on _ANY_HINT alone: it must find every word the exact
    filters look for."""
    for word in CREDIT_WORDS | CAPTION_WORDS | _PICTURE_WORDS | {"source"}:
        assert _ANY_HINT.search(word), word


def test_candidates_are_every_node_with_a_role() -> None:
    page = tree(
        '<div class="x"><span class="x">a</span><span class="ArticleImage__Credit">b</span>'
        '<p class="photo-info">c</p><p id="Bildunterschrift">d</p><small>e</small>'
        '<span class="x" itemprop="caption">f</span><p class="Ärger x">g</p>'
        '<span class="x">h</span><p class="image" id="text">i</p></div>'
    )
    roles = [node for node in page.iter() if node_role(node)]
    found = _candidates(page)
    assert [n.text for n in found] == ["b", "c", "d", "e", "f", "i"]
    assert all(node in found for node in roles)


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
        ("(Jane Doe/AFP)", "Jane Doe/AFP"),  # brackets without a label
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
        # Japanese: "＝" and a source at the very end, or "（name撮影）" ("photographed by").
        ("大統領の発言を見る国民（ソウルで、３日）＝ＡＰ", ("大統領の発言を見る国民（ソウルで、３日）", "ＡＰ")),
        ("会見する首相＝ロイター", ("会見する首相", "ロイター")),
        ("警視庁を出る容疑者＝13日、東京で（山田太郎撮影）", ("警視庁を出る容疑者＝13日、東京で", "山田太郎")),
        # Counter-examples: a place and a date after "＝" are part of the caption.
        ("イスラエルの国旗＝同国で2019年5月", ("イスラエルの国旗＝同国で2019年5月", None)),
        ("記者会見する知事＝県庁で", ("記者会見する知事＝県庁で", None)),
        # Russian/Ukrainian "source" label.
        ("Павел Вовк. Источник: Фундация Пример", ("Павел Вовк.", "Фундация Пример")),
    ],
)
def test_split_caption(text: str, expected: tuple[str, str | None]) -> None:
    assert split_caption(text) == expected


def test_strip_credit_nodes_keeps_text_and_tails() -> None:
    page = tree(
        "<article><figure><img src='a.jpg'><figcaption>Die Brücke am Morgen. "
        "<span class='credit'>Foto: Jens Beispiel/dpa</span></figcaption></figure>"
        "<p>Erster Absatz <span class='photo-credit'>(Foto: AFP)</span>geht weiter.</p>"
        "<div class='media'><img src='b.jpg'><div class='caption'>Nur ein Bildtext</div></div>"
        "</article>"
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


# Site footers and notices that carry credit/copyright class names: taken out of the page, not
# kept as photo credits (issue 18). Synthetic pages, one per shape seen on real sites.
@pytest.mark.parametrize(
    "html",
    [
        "<footer><p class='copyright'>© 2024 Reuters. All rights reserved</p></footer>",
        (
            "<div class='footer'><span class='copyright'>All site contents © Copyright 2023 The"
            " Washington Times, LLC</span><img src='logo.png'></div>"
        ),
        (
            "<footer><div class='copyright'>© 2023 Deutsche Welle | Datenschutz | Impressum |"
            " Kontakt</div></footer>"
        ),
        "<div class='fp-copyright'>Über uns Impressum Abo@MZ Werben@MZ Datenschutz</div>",
        "<div class='copyright'>© 2024 a Reach plc subsidiary</div>",
        "<p class='copyright'>Dieser Inhalt steht unter der Lizenz CC BY-SA 4.0</p>",
        "<span class='credit'>Copyright</span>",
    ],
)
def test_site_notices_are_not_credits(html: str) -> None:
    page = tree(f"<article><p>Text des Artikels.</p></article>{html}")
    assert strip_credit_nodes(page).credits == ()
    assert "Impressum" not in page.text_content() and "©" not in page.text_content()


def test_agency_copyright_with_its_photo_stays_a_credit() -> None:
    page = tree(
        "<article><figure><img src='a.jpg'><figcaption>Rescue workers on Monday."
        "<span class='credit'>Copyright 2024 The Associated Press. All rights reserved.</span>"
        "</figcaption></figure><p>Text.</p></article>"
    )
    assert strip_credit_nodes(page).credits == (
        "Copyright 2024 The Associated Press. All rights reserved.",
    )


def test_credit_line_standing_alone_stays_a_credit() -> None:
    page = tree("<article><p>Text.</p><p class='bildnachweis'>Foto: Jens B./dpa</p></article>")
    assert strip_credit_nodes(page).credits == ("Jens B./dpa",)


@pytest.mark.parametrize(
    "html",
    [
        # A typography class ("text-caption") on a date line, a sponsor line and a login box.
        "<div class='text-caption'>28.04.2024, 17:19 Uhr • Lesezeit: 8 Minuten</div>",
        "<header><a class='text-caption' href='/'>Ein Angebot von</a><img src='logo.png'></header>",
        "<div class='caption'>Sie sind angemeldet als: a@example.com</div>",
        "<figure><img src='a.jpg'><figcaption>15.05.2023</figcaption></figure>",
    ],
)
def test_dates_reading_times_and_ui_lines_are_not_captions(html: str) -> None:
    page = tree(f"<article><p>Text des Artikels.</p>{html}</article>")
    assert strip_credit_nodes(page).captions == ()


def test_an_outlet_credited_in_capitals_is_no_bare_label() -> None:
    page = tree(
        "<article><figure><img src='a.jpg'><figcaption>Der Trainer."
        "<span class='credits'>Quelle: BILD</span><span class='credit'>Copyright</span>"
        "</figcaption></figure><p>Text.</p></article>"
    )
    assert strip_credit_nodes(page).credits == ("BILD",)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Dan Muster/APVisa mer", "Dan Muster/AP"),  # Aftonbladet: the toggle glued on
        ("Die Brücke am Morgen. Foto: dpa Mehr anzeigen", "Die Brücke am Morgen. Foto: dpa"),
        ("Rescue workers on Monday. | Expand", "Rescue workers on Monday."),
        ("Vergrößern Die Brücke am Morgen.", "Die Brücke am Morgen."),
        ("Bildergalerie", ""),
        # Counter-examples: the words inside a sentence stay.
        ("Zoom-Konferenz der Minister am Montag", "Zoom-Konferenz der Minister am Montag"),
        ("Fans expand the banner before kick-off.", "Fans expand the banner before kick-off."),
        # Trailing whitespace, other cases and letters beyond ASCII at the end.
        ("Dan Muster/AP ZOOM \n", "Dan Muster/AP"),
        ("Foto: Anna Muster | Mostra di PIÙ\u00a0", "Foto: Anna Muster"),
        ("Zoom \U0001F600", "\U0001F600"),
        ("Foto: dpa \U0001F600", "Foto: dpa \U0001F600"),
        ("", ""),
        (" \n ", ""),
    ],
)
def test_strip_ui_words(text: str, expected: str) -> None:
    assert strip_ui_words(text) == expected


def test_every_ui_word_ends_in_a_letter_the_tail_check_knows() -> None:
    """strip_ui_words skips its tail regex on texts ending in none of these letters."""
    for word in UI_WORDS.split("|"):
        assert _UI_LAST_LETTER.match(word[-1]) and _UI_LAST_LETTER.match(word[-1].upper()), word
        spelled = word.replace(r"\s+", " ")
        assert strip_ui_words(f"Foto: dpa {spelled}") == "Foto: dpa", word
        assert strip_ui_words(f"Foto: dpa {spelled.lower()} ") == "Foto: dpa", word


def test_show_more_toggle_is_cut_off_the_credit() -> None:
    """A Scandinavian CMS: the caption's toggle button sits in the <figcaption>."""
    page = tree(
        "<article><figure><img src='a.jpg'><figcaption><span><span>Rök över staden.<span> "
        "Foto: Dan Muster/AP</span></span></span><span class='_showMore_1x' hidden>Visa mer</span>"
        "</figcaption></figure><p>Text.</p></article>"
    )
    assert strip_credit_nodes(page) == DomStrip(("Dan Muster/AP",), ("Rök över staden.",))


def test_caption_then_separated_credit_span() -> None:
    """A Spanish CMS: "caption <span>/ Photographer</span>" without a full stop."""
    page = tree(
        "<article><figure><img src='a.jpg'><figcaption><p class='ft-helper'>Polizei-Razzia in "
        "La Soledat <span class='ft-helper-fontWeight-800'> / Lorenzo Muster</span></p>"
        "</figcaption></figure><p>Text.</p></article>"
    )
    assert strip_credit_nodes(page) == DomStrip(
        ("Lorenzo Muster",), ("Polizei-Razzia in La Soledat",)
    )


def test_a_caption_ending_in_a_name_without_separator_keeps_it() -> None:
    """Counter-example: a bold name at the end of a caption is part of it."""
    page = tree(
        "<article><figure><img src='a.jpg'><figcaption>Jubel beim Trainer <b>Hansi Muster</b>"
        "</figcaption></figure><p>Text.</p></article>"
    )
    assert strip_credit_nodes(page) == DomStrip((), ("Jubel beim Trainer Hansi Muster",))


def test_caption_and_author_spans_in_a_figcaption() -> None:
    """A Spanish CMS names the credit span "figcaption--author"; no full stop before it."""
    page = tree(
        "<article><figure><img src='a.jpg'></figure><figcaption class='voc-figcaption-container'>"
        "<span class='voc-figcaption voc-figcaption--text'>El policía junto a su familia</span> "
        "<span class='voc-figcaption voc-figcaption--author'>Pella Noticias</span></figcaption>"
        "<p>Texto.</p></article>"
    )
    assert strip_credit_nodes(page) == DomStrip(
        ("Pella Noticias",), ("El policía junto a su familia",)
    )


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Rettungskräfte am Montag in Kiew / AFP", ("Rettungskräfte am Montag in Kiew", "AFP")),
        ("Die Kanzlerin in Berlin / Kay Muster/dpa", ("Die Kanzlerin in Berlin", "Kay Muster/dpa")),
        (
            "Die Feuerwehr am Einsatzort | picture alliance / dpa",
            ("Die Feuerwehr am Einsatzort", "picture alliance / dpa"),
        ),
        # Counter-examples: places and a sentence after the separator; a short head.
        (
            "Berlin / Brandenburg: die Lage ist ruhig",
            ("Berlin / Brandenburg: die Lage ist ruhig", None),
        ),
        ("Blick auf Hamburg / Altona am Abend", ("Blick auf Hamburg / Altona am Abend", None)),
        (
            "Die Band auf der Bühne in München / Reuters reported the show",
            ("Die Band auf der Bühne in München / Reuters reported the show", None),
        ),
        ("Berlin / Mitte / dpa", ("Berlin / Mitte / dpa", None)),
    ],
)
def test_separated_credit(text: str, expected: tuple[str, str | None]) -> None:
    assert separated_credit(text) == expected


@pytest.mark.parametrize(
    "body, expected",
    [
        # A caption node inside a credit node leaves with it and is not read again; a credit
        # inside a caption leaves first.
        (
            "<figure><img src='a.jpg'><div class='credit'>Foto: dpa <span class='caption'>Innen"
            "</span></div><figcaption>Die Brücke. <span class='credit'>AP</span></figcaption>"
            "</figure><p>Text.</p>",
            DomStrip(("dpa Innen", "AP"), ("Die Brücke.",)),
        ),
        # A figure's <small> credit is asked about inside its caption, the <footer> beside it.
        (
            "<figure><img src='a.jpg'><figcaption>Der Platz <small>Foto: X</small></figcaption>"
            "<footer>Imago/Y</footer></figure>",
            DomStrip(("Imago/Y", "X"), ("Der Platz",)),
        ),
    ],
)
def test_nested_credit_and_caption_nodes(body: str, expected: DomStrip) -> None:
    assert strip_credit_nodes(tree(body)) == expected
