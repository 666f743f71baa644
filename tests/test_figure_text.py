"""transforms/text/figure_text.py: captions and credits of image blocks that no class names.

Synthetic pages in the shapes of several kinds of outlet: CSS-in-JS hashed classes, utility
classes, a bare span after the caption in a paragraph, an image widget with a labelled credit,
WordPress, Arc XP-like and German/Scandinavian CMS markup; and counter-examples where a text
after a picture is the article, a caption that mentions an agency, or a site footer.
"""

from __future__ import annotations

import pytest
from trafilatura.utils import load_html

from transforms.records import Image
from transforms.text.dom_clean import strip_credit_nodes
from transforms.text.figure_text import as_credit, image_block, strip_image_texts
from transforms.text.images import article_images, scan_images

URL = "https://news.example.com/politik/2026/rathaus-streit-12345.html"
ARTICLE = "<p>" + "Der Stadtrat stritt lange über den Haushalt. " * 8 + "</p>"


def page(body: str) -> str:
    return (
        f"<html><head></head><body><article><h1>Streit</h1>{body}{ARTICLE}</article></body></html>"
    )


def run(html: str) -> tuple[tuple[Image, ...], str]:
    """The pipeline's order: scan, class-based DOM pass, image blocks, attach; and the text
    left in the page."""
    tree = load_html(html)
    scan = scan_images(tree, URL)
    first = strip_credit_nodes(tree, scan.owner_of)
    more = strip_image_texts(tree, scan.elements(), scan.owner_of)
    pictures = article_images(scan, (*first.placed, *more.placed))
    return pictures, " ".join(tree.find(".//article").text_content().split())


def texts(html: str) -> list[tuple[str, str]]:
    return [(p.caption, p.credit) for p in run(html)[0]]


@pytest.mark.parametrize(
    ("block", "expected"),
    [
        # CSS-in-JS hashed classes: caption div, then an agency.
        (
            "<div class='sc-a1 xYz'><div class='sc-b2 qQ'><picture><img src='/i/chelsea-1001.jpg'>"
            "</picture><div class='sc-c3 iD'>Chelsea beat Tottenham on Thursday night</div>"
            "<div class='sc-d4 uL'>Getty Images</div></div></div>",
            ("Chelsea beat Tottenham on Thursday night", "Getty Images"),
        ),
        # The same layout, the credit an outlet's own short name (no rule knows it).
        (
            "<div class='sc-x'><div class='sc-y'><picture><img src='/i/blair-1002.jpg'></picture>"
            "</div><div class='sc-e5'>Former Prime Minister Tony Blair</div><div class='sc-f6'>ES"
            "</div></div>",
            ("Former Prime Minister Tony Blair", "ES"),
        ),
        # A German sports site: a bare <span> after the caption, inside a <p>.
        (
            "<div class='kick__article__picture'><picture><img src='/i/trainer-1003.jpg' alt=''>"
            "</picture><p>Der Trainer will noch Punkte sammeln. <span>IMAGO/Nico Muster</span></p>"
            "</div>",
            ("Der Trainer will noch Punkte sammeln.", "IMAGO/Nico Muster"),
        ),
        # An image widget with utility classes and a labelled credit paragraph.
        (
            "<div class='image_widget__LY4'><span class='image__hf'><span><picture>"
            "<img src='/i/bookfair-1004.jpg'></picture></span></span><p><span>Pictured from left "
            "are the authors at the book fair.</span></p><p>Image: Fouzia Muster</p></div>",
            ("Pictured from left are the authors at the book fair.", "Fouzia Muster"),
        ),
        # A Tailwind overlay: only the agency stands on the picture.
        (
            "<div class='relative'><picture><img src='/i/police-1005.jpg'></picture>"
            "<div class='absolute bottom-2 right-2 text-white'>Anadolu Ajansı</div></div>",
            ("", "Anadolu Ajansı"),
        ),
        # An old-school box: the caption in a heading stays text, "Photo: AFP" is the credit.
        (
            "<div class='imgboxa'><div data-fancybox><img src='/i/exercise-1006.jpg'></div>"
            "<h3>Marines take part in the opening ceremony.</h3><p>Photo: AFP</p></div>",
            ("", "AFP"),
        ),
        # A Scandinavian CMS with a hashed figure: "Foto:" label in the second span.
        (
            "<div class='_wrap_1jx'><img src='/i/kiev-1007.jpg'><span>Rök över staden.</span>"
            "<span>Foto: Dan Muster/AP</span></div>",
            ("Rök över staden.", "Dan Muster/AP"),
        ),
    ],
)
def test_image_blocks_without_class_names(block: str, expected: tuple[str, str]) -> None:
    (picture,) = run(page(block))[0]
    assert (picture.caption, picture.credit) == expected


def test_read_texts_leave_the_page_and_headings_stay() -> None:
    pictures, text = run(
        page(
            "<div class='imgboxa'><div><img src='/i/exercise-1006.jpg'></div>"
            "<h3>Marines take part in the opening ceremony.</h3><p>Photo: AFP</p></div>"
            "<div class='sc-q'><img src='/i/b-1010.jpg'><div>A cyclist rides past the plant.</div>"
            "<div>Reuters / David Muster</div></div>"
        )
    )
    assert [(p.caption, p.credit) for p in pictures] == [
        ("", "AFP"),
        ("A cyclist rides past the plant.", "Reuters / David Muster"),
    ]
    assert "Marines take part" in text
    assert "AFP" not in text and "cyclist" not in text and "David Muster" not in text


@pytest.mark.parametrize(
    "block",
    [
        # The article's first paragraph after a picture, no credit: nothing is read.
        "<div class='entry'><img src='/i/a-2001.jpg'><p>Der Stadtrat tagte am Montag.</p></div>",
        # A caption sentence that mentions an agency or a photo is no credit.
        "<div class='m'><img src='/i/a-2002.jpg'><p>AP photographers covered the protest.</p>"
        "<p>The photo went around the world.</p></div>",
        # Two paragraphs of text, the second one not name-shaped.
        "<div class='m'><img src='/i/a-2003.jpg'><p>Der Rat tagte lange am Montag.</p>"
        "<p>Er beschloss den Haushalt.</p></div>",
        # A share button after the caption; a media-type label.
        "<div class='m'><img src='/i/a-2004.jpg'><p>Der Rat tagte lange am Montag.</p>"
        "<p>Teilen</p><p>Zoom</p></div>",
        "<div class='m'><img src='/i/a-2008.jpg'><p>Der Rat tagte lange am Montag.</p>"
        "<span>Video</span></div>",
        # The second block is a sentence's end, not a name ("was approved by the council.").
        "<div class='m'><img src='/i/a-2009.jpg'><p>The new budget for the town</p>"
        "<p>was approved by the council.</p></div>",
        # Text before the picture: a paragraph that holds an image, not an image block.
        "<p class='x'>Im Rathaus <img src='/i/a-2005.jpg'> stritten sie. <span>dpa</span></p>",
        # Two pictures in one container: whose text would it be?
        "<div class='m'><img src='/i/a-2006.jpg'><img src='/i/a-2007.jpg'><p>Zwei Bilder.</p>"
        "<p>Foto: Jens Muster</p></div>",
    ],
)
def test_counter_examples_read_nothing(block: str) -> None:
    pictures, text = run(page(block))
    assert all(not p.caption and not p.credit for p in pictures)
    tree = load_html(page(block))
    assert " ".join(tree.find(".//article").text_content().split()) == text


def test_footer_copyright_is_no_image_credit() -> None:
    html = (
        "<html><body><article><h1>T</h1>" + ARTICLE + "</article><footer><div class='f'>"
        "<img src='/i/site-logo.png'><p>© 2026 Beispiel Medien GmbH. Alle Rechte vorbehalten.</p>"
        "</div><div class='f2'><img src='/i/app-3001.jpg'><p>Unsere App</p><p>© Beispiel Verlag</p>"
        "</div></footer></body></html>"
    )
    tree = load_html(html)
    scan = scan_images(tree, URL)
    found = strip_image_texts(tree, (img for img in tree.iter("img")), scan.owner_of)
    assert (found.credits, found.captions, found.placed) == ((), (), ())
    assert "Alle Rechte vorbehalten" in tree.text_content()


def test_a_notice_under_a_picture_is_no_credit() -> None:
    assert as_credit("© 2026 Beispiel Medien GmbH. Alle Rechte vorbehalten.") is None
    assert as_credit("Photo: AFP") == "AFP"
    assert as_credit("IMAGO/Nico Muster") == "IMAGO/Nico Muster"
    assert as_credit("AP photographers covered the protest.") is None


@pytest.mark.parametrize(
    ("figure", "expected"),
    [
        # WordPress.
        (
            "<figure class='wp-caption'><img src='/i/a-4001.jpg'><figcaption class='wp-caption-"
            "text'>Das Rathaus am Abend. Foto: Anna Muster</figcaption></figure>",
            ("Das Rathaus am Abend.", "Anna Muster"),
        ),
        # Arc XP-like: caption and bracketed credit spans in the figcaption.
        (
            "<figure class='c-media-item'><img src='/i/a-4002.jpg'><figcaption class='c-media-"
            "item__fig-caption'><span>Rescue workers on Monday.</span> <span>(Jane Muster/AFP)"
            "</span></figcaption></figure>",
            ("Rescue workers on Monday.", "Jane Muster/AFP"),
        ),
    ],
)
def test_classed_captions_keep_priority(figure: str, expected: tuple[str, str]) -> None:
    """Figures the class-based pass reads; the block pass adds nothing to them."""
    html = page(figure)
    tree = load_html(html)
    scan = scan_images(tree, URL)
    strip_credit_nodes(tree, scan.owner_of)
    assert strip_image_texts(tree, scan.elements(), scan.owner_of).placed == ()
    assert texts(html) == [expected]


def test_block_is_never_the_article() -> None:
    tree = load_html(
        "<html><body><article><img src='/i/a-5001.jpg'><p>Kurz.</p><p>Foto: X</p></article>"
        "</body></html>"
    )
    assert image_block(next(tree.iter("img"))) is None


@pytest.mark.parametrize(
    "pad, is_block",
    [
        # Over MAX_BLOCK_CHARS with its whitespace, under it collapsed: still an image block.
        (" \n\t\u2003" * 300, True),
        # Over it collapsed too (words, non-ASCII and beyond-BMP letters): no block.
        ("Grüße \U00010348 " * 120, False),
    ],
)
def test_block_size_counts_collapsed_text(pad: str, is_block: bool) -> None:
    tree = load_html(
        f"<html><body><article><p>{ARTICLE}</p><div><img src='/i/a-5001.jpg'>"
        f"<span>Der Rathausplatz am Abend.{pad}</span><span>Foto: Anna Muster</span></div>"
        "</article></body></html>"
    )
    found = image_block(next(tree.iter("img")))
    assert (found is not None and found[0].tag == "div") is is_block
