"""Article images from markup: which pictures, which URL, which caption and credit, which lead."""

from __future__ import annotations

import pytest
from trafilatura.utils import load_html

from transforms.records import Image
from transforms.text.dom_clean import strip_credit_nodes, trailing_credit
from transforms.text.images import (
    article_images,
    clean_image_url,
    image_key,
    largest_candidate,
    scan_images,
    with_image_texts,
)

URL = "https://news.example.com/politik/2026/rathaus-streit-12345.html"


def images_of(html: str, url: str = URL) -> tuple[Image, ...]:
    """The pipeline's order: scan, then the DOM credit pass, then attach."""
    tree = load_html(html)
    scan = scan_images(tree, url)
    strip = strip_credit_nodes(tree, scan.owner_of)
    return article_images(scan, strip.placed)


def page(body: str, head: str = "") -> str:
    return f"<html><head>{head}</head><body>{body}</body></html>"


ARTICLE = "<p>" + "Der Stadtrat stritt lange über den Haushalt. " * 8 + "</p>"


def test_figures_with_captions_and_credits_in_page_order() -> None:
    html = page(
        "<header><img class='site-logo' src='/logo.png'></header><article><h1>Streit</h1>"
        "<figure><img src='/img/a-1001.jpg' alt='Rathaus'>"
        "<figcaption>Das Rathaus am Abend. <span class='credit'>Foto: Anna Beispiel</span>"
        "</figcaption></figure>"
        + ARTICLE
        + "<figure><img src='/img/b-1002.jpg'><figcaption>Die Sitzung. (Foto: dpa)</figcaption>"
        "</figure></article>"
    )
    assert images_of(html) == (
        Image(
            "https://news.example.com/img/a-1001.jpg",
            "Das Rathaus am Abend.",
            "Anna Beispiel",
            "Rathaus",
            True,
        ),
        Image("https://news.example.com/img/b-1002.jpg", "Die Sitzung.", "dpa", "", False),
    )


def test_srcset_lazy_and_noscript_give_one_record_at_the_largest_size() -> None:
    html = page(
        "<article><h1>T</h1><figure><picture>"
        "<source media='(max-width: 600px)' srcset='/img/p-2001-small.jpg 600w'>"
        "<source srcset='/img/p-2001-800.jpg 800w, /img/p-2001-1600.jpg 1600w'>"
        "<img src='data:image/gif;base64,R0lGOD' data-src='/img/p-2001-400.jpg'></picture>"
        "<noscript><img src='/img/p-2001-400.jpg'></noscript>"
        "<figcaption>Ein Bild. <cite>Reuters</cite></figcaption></figure>" + ARTICLE + "</article>"
    )
    assert images_of(html) == (
        Image("https://news.example.com/img/p-2001-1600.jpg", "Ein Bild.", "Reuters", "", True),
    )


def test_base_href_and_tracking_parameters() -> None:
    html = page(
        "<article><h1>T</h1><img src='pics/x-3003.jpg?w=800&utm_source=feed&fbclid=1'>"
        + ARTICLE
        + "</article>",
        head="<base href='https://cdn.example.net/media/'>",
    )
    assert [i.url for i in images_of(html)] == [
        "https://cdn.example.net/media/pics/x-3003.jpg?w=800"
    ]


@pytest.mark.parametrize(
    "chrome",
    [
        "<img class='author-avatar' src='/people/anna-5005.jpg'>",
        "<div class='byline'><img src='/people/anna-5005.jpg'></div>",
        "<img src='/static/icons/print-5005.png' width='16' height='16'>",
        "<img src='https://sb.scorecardresearch.com/p?c1=2&c2=5005'>",
        "<img src='/img/spacer-5005.gif' width='1' height='1'>",
        "<div class='share-bar'><img src='/share/facebook-5005.png'></div>",
        "<div class='ad-slot'><img src='/ads/banner-5005.jpg'></div>",
        "<aside><img src='/img/other-5005.jpg'></aside>",
        (
            "<div class='teaser'><a href='/sport/other-story-77777.html'>"
            "<img src='/img/other-5005.jpg'>Andere Geschichte</a></div>"
        ),
        "<a href='/kultur/another-article.html'><img src='/img/other-5005.jpg'></a>",
        "<div class='video-player'><img src='/img/poster-5005.jpg'></div>",
        "<img src='/assets/site_printlogo.gif'>",
    ],
)
def test_chrome_is_not_an_article_image(chrome: str) -> None:
    html = page(f"<article><h1>T</h1>{chrome}{ARTICLE}</article>")
    assert images_of(html) == ()


@pytest.mark.parametrize(
    "kept",
    [
        # A lightbox link to the picture itself, the article's own photo viewer, a shop.
        "<a href='/img/big-6006.jpg'><img src='/img/small-6006.jpg'></a>",
        "<a href='/politik/2026/rathaus-streit-12345.html/photo/2'><img src='/img/g-6006.jpg'></a>",
        "<a href='https://shop.example.org/p/123'><img src='/img/product-6006.jpg'></a>",
        # The article's own "teaser image" header, and a gallery whose items link elsewhere.
        "<section class='article-teaser-image'><img src='/img/hero-6006.jpg'></section>",
        (
            "<div class='gallery'><div class='teaser'><a href='/foo/bar.html'>mehr</a>"
            "<img src='/img/g-6006.jpg'></div></div>"
        ),
        # A caption may mention an icon; the image's alt text does not make it chrome.
        "<img src='/img/pic-6006.jpg' alt='Das Logo der Partei auf einer Fahne'>",
    ],
)
def test_counter_examples_stay(kept: str) -> None:
    html = page(f"<article><h1>T</h1>{kept}{ARTICLE}</article>")
    assert len(images_of(html)) == 1


def test_og_image_marks_the_matching_body_picture_in_another_rendition() -> None:
    html = page(
        "<article><h1>T</h1><img src='/img/first-7001_w640.jpg'>"
        + ARTICLE
        + "<img src='/bilder/7002/second_v-gseaclassicxl.jpg'></article>",
        head="<meta property='og:image' content='https://news.example.com/bilder/7002/"
        "second_v-fullhd.jpg'>",
    )
    assert [i.is_lead for i in images_of(html)] == [False, True]


def test_lead_from_metadata_when_the_body_has_no_picture() -> None:
    ld = (
        '{"@type": "NewsArticle", "image": {"@type": "ImageObject", "url": '
        '"https://news.example.com/img/lead-8001.jpg", "caption": "Der Saal", '
        '"creditText": "Max Muster"}}'
    )
    html = page(
        "<article><h1>T</h1>" + ARTICLE + "</article>",
        head=f"<script type='application/ld+json'>{ld}</script>",
    )
    assert images_of(html) == (
        Image("https://news.example.com/img/lead-8001.jpg", "Der Saal", "Max Muster", "", True),
    )


def test_social_crop_of_the_first_picture_is_not_listed_twice() -> None:
    html = page(
        "<article><h1>T</h1><img src='/img/first-9001.jpg'>" + ARTICLE + "</article>",
        head="<meta property='og:image' content='/social/share-card-9999.jpg'>",
    )
    assert [(i.url, i.is_lead) for i in images_of(html)] == [
        ("https://news.example.com/img/first-9001.jpg", True)
    ]


def test_hero_above_the_article_only_when_it_is_the_lead() -> None:
    html = page(
        "<div class='hero'><img src='/img/hero-1111.jpg'></div>"
        "<div class='promo-box'><img src='/img/promo-2222.jpg'></div>"
        "<article><h1>T</h1>" + ARTICLE + "</article><img src='/img/footer-3333.jpg'>",
        head="<meta property='og:image' content='/img/hero-1111.jpg'>",
    )
    assert [i.url for i in images_of(html)] == ["https://news.example.com/img/hero-1111.jpg"]


def test_json_ld_image_objects_describe_body_pictures() -> None:
    ld = (
        '{"@type": "NewsArticle", "image": [{"@type": "ImageObject", '
        '"url": "https://news.example.com/uploads/4441_1.jpg", "caption": "Ein Hafen", '
        '"creditText": "Lena Foto"}]}'
    )
    html = page(
        "<article><h1>T</h1><img src='/uploads/4441_1.jpg?w=300'>" + ARTICLE + "</article>",
        head=f"<script type='application/ld+json'>{ld}</script>",
    )
    (only,) = images_of(html)
    assert (only.caption, only.credit) == ("Ein Hafen", "Lena Foto")


def test_captions_go_to_the_picture_they_stand_under() -> None:
    html = page(
        "<article><h1>T</h1><div class='gallery'>"
        "<div class='item'><img src='/img/a-1.jpg?id=1' alt=''><p class='caption'>Erstes.</p></div>"
        "<div class='item'><img src='/img/b-2.jpg' alt=''><p class='caption'>Zweites.</p></div>"
        "</div>" + ARTICLE + "</article>"
    )
    assert [(i.url.rsplit("/", 1)[-1], i.caption) for i in images_of(html)] == [
        ("a-1.jpg?id=1", "Erstes."),
        ("b-2.jpg", "Zweites."),
    ]


def test_credit_glued_to_the_alt_text() -> None:
    html = page(
        "<article><h1>T</h1><img src='/img/meteorit142_v-contentgross.jpg' "
        "alt='Ein Meteorit liegt im Garten. Foto: Phil Beispiel'>" + ARTICLE + "</article>"
    )
    (only,) = images_of(html)
    assert only.credit == "Phil Beispiel"


def test_image_credits_and_captions_include_the_images() -> None:
    pictures = (Image("u", "Ein Satz.", "A / B", "", True), Image("v", "", "Lena Foto"))
    assert with_image_texts(("A", "B"), ("Ein Satz.",), pictures) == (
        ("A", "B", "Lena Foto"),
        ("Ein Satz.",),
    )


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        (
            "https://i.x/1dme=/500x0/https%3A%2F%2Fp.x%2Ffs%2F87760d8b-ece0-48fc-88ba-c2f7f637a9d9",
            "https://i.x/xB2=/1600x0/https%3A%2F%2Fp.x%2Ffs%2F87760d8b-ece0-48fc-88ba-c2f7f637a9d9",
            True,
        ),
        (
            "https://m.x/bilder/92243692/31438214-prinz-NAb9.jpg",
            "https://m.x/bilder/92243692/31438214-prinz-NAPH.jpg",
            True,
        ),
        (
            "https://img.x/news/2023-04/28/story-image-group/wide__1300x731",
            "https://img.x/news/2023-04/28/story-image-group/wide__1000x562",
            True,
        ),
        (
            "https://x/uploads/2025/05/20250429-196-19-scaled.jpg",
            "https://x/uploads/2025/05/20250429-196-20-scaled.jpg",
            False,
        ),
        (
            "https://x/bilder/92243692/31438214-prinz.jpg",
            "https://x/bilder/92243692/31555000-k.jpg",
            False,
        ),
    ],
)
def test_image_key_renditions(a: str, b: str, same: bool) -> None:
    assert (image_key(a) == image_key(b)) is same


def test_srcset_and_url_helpers() -> None:
    assert largest_candidate("a.jpg 320w, b.jpg 1280w, c.jpg 640w") == "b.jpg"
    assert largest_candidate("a.jpg 1x, b.jpg 2x") == "b.jpg"
    assert (
        largest_candidate("https://x/i.jpg?op=crop,1,2 400w, https://x/j.jpg 800w")
        == "https://x/j.jpg"
    )
    assert clean_image_url("data:image/png;base64,AAA", URL) == ""
    assert clean_image_url("//cdn.example.net/i.jpg#frag", URL) == "https://cdn.example.net/i.jpg"


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        (
            (
                "<figcaption><span>Viel Ruhe hilft beim Gesundwerden.</span><span>Unsplash/Kelly Muster"
                "</span></figcaption>"
            ),
            ("Viel Ruhe hilft beim Gesundwerden.", "Unsplash/Kelly Muster"),
        ),
        (
            "<figcaption><p>Trump im Gericht. <cite>AP</cite></p></figcaption>",
            ("Trump im Gericht.", "AP"),
        ),
        (
            "<figcaption>Die Inseln vor der Küste. (Christie's)</figcaption>",
            ("Die Inseln vor der Küste.", "Christie's"),
        ),
        (
            "<figcaption>Sie spricht in Seoul. 연합뉴스</figcaption>",
            ("Sie spricht in Seoul.", "연합뉴스"),
        ),
        (
            "<figcaption>대표가 국회에서 인사하고 있다. 뉴스1</figcaption>",  # an agency named with a digit
            ("대표가 국회에서 인사하고 있다.", "뉴스1"),
        ),
        (
            "<figcaption>Die Mannschaft jubelt nach dem Tor. 2:1</figcaption>",  # a score, no name
            ("Die Mannschaft jubelt nach dem Tor. 2:1", None),
        ),
        # Counter-examples: a position, an initial, a caption ending in a bold name.
        (
            "<figcaption>Die Kanzlerin mit dem Präsidenten. (links)</figcaption>",
            ("Die Kanzlerin mit dem Präsidenten. (links)", None),
        ),
        (
            "<figcaption>Der Fotograf Edgar H. Clemente</figcaption>",
            ("Der Fotograf Edgar H. Clemente", None),
        ),
        (
            "<figcaption>Jubel beim Trainer <strong>Hansi Muster</strong></figcaption>",
            ("Jubel beim Trainer Hansi Muster", None),
        ),
    ],
)
def test_trailing_credit(html: str, expected: tuple[str, str | None]) -> None:
    node = load_html(page(html)).find(".//figcaption")
    text = " ".join(node.text_content().split())
    assert trailing_credit(node, text) == expected


def test_a_caption_with_two_credit_spans_stays_a_caption() -> None:
    """Dropping the credit spans leaves their separator behind: the caption is still a caption."""
    html = page(
        "<article><h1>T</h1><figure><img src='/img/d-4242.jpg'><figcaption class='image-caption'>"
        "<span class='caption'>Schüler üben den Ernstfall.</span> <span class='credit'>Photo by "
        "Anna Muster</span> /<span class='distributor'>AFP via Getty Images</span></figcaption>"
        "</figure>" + ARTICLE + "</article>"
    )
    tree = load_html(html)
    scan = scan_images(tree, URL)
    strip = strip_credit_nodes(tree, scan.owner_of)
    assert strip.captions == ("Schüler üben den Ernstfall.",)
    assert strip.credits == ("Anna Muster", "AFP via Getty Images")
    (only,) = article_images(scan, strip.placed)
    assert (only.caption, only.credit) == (
        "Schüler üben den Ernstfall.",
        "Anna Muster / AFP via Getty Images",
    )


def _header_with_credit(between: str) -> str:
    """A magazine header: the lead picture in one grid column, its caption and credit in a
    later column, further up than the owner reach."""
    return page(
        "<article><header class='SplitHeader'><div class='Grid'><div class='GridItem'>"
        "<div class='LedeBlock'><div class='LedeWrap'><span class='Resp'><picture>"
        "<img src='/photos/643d8573650fe81912f9/master/w_2240/ice-bubbles.jpg'></picture></span>"
        f"</div></div></div></div>{between}<div class='Grid'><div class='GridItem'>"
        "<div class='CaptionWrapper'><span class='BaseText caption__credit'>Arina Muster</span>"
        "</div></div></div></header>" + ARTICLE + "</article>"
    )


def test_credit_beyond_the_reach_goes_to_the_picture_before_it() -> None:
    (only,) = images_of(_header_with_credit("<h1>Thin Ice</h1>"))
    assert only.credit == "Arina Muster"


def test_credit_after_more_than_a_caption_of_text_is_nobodys() -> None:
    """Counter-example: body text between the picture and the credit line."""
    (only,) = images_of(_header_with_credit(ARTICLE))
    assert only.credit == ""
