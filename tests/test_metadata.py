"""transforms/text/metadata.py: people and agencies, dates in UTC, titles, paywall flags."""

from __future__ import annotations

import datetime as dt

import pytest
from lxml import html as lxml_html

from transforms.text.metadata import (
    Byline,
    _json_ld,
    _site_keys,
    _top_level_json_ld,
    accessible_for_free,
    agency_name,
    clean_title,
    is_paywalled,
    modified_at,
    page_authors,
    page_published_at,
    page_title,
    parse_datetime,
    published_at,
    split_byline,
    visible_teaser,
)
from transforms.records import UTC


def page(head: str = "", body: str = "") -> lxml_html.HtmlElement:
    return lxml_html.fromstring(f"<html><head>{head}</head><body>{body}</body></html>")


def ld(obj: str) -> str:
    return f'<script type="application/ld+json">{obj}</script>'


@pytest.mark.parametrize(
    "raw, sites, expected",
    [
        (
            "Von Anna Beispiel und Tom Muster, dpa",
            (),
            Byline(("Anna Beispiel", "Tom Muster"), ("dpa",)),
        ),
        ("Ntv De; Mli; AFP", ("https://www.ntv.de/politik/x.html",), Byline((), ("AFP",))),
        ("ntv.de, mli/dpa/AFP", ("ntv.de",), Byline((), ("dpa", "AFP"))),
        (
            "By Jane Doe and John Roe | The Associated Press",
            (),
            Byline(("Jane Doe", "John Roe"), ("AP",)),
        ),
        ("Redaktion Politik", (), Byline((), ())),
        ("Maria Muster (Text), jane@example.com", (), Byline(("Maria Muster",), ())),
        ("Deutsche Presse-Agentur", (), Byline((), ("dpa",))),
        ("Guardian staff reporter", (), Byline((), ())),
        ("김철수", (), Byline(("김철수",), ())),
        ("", (), Byline((), ())),
    ],
)
def test_split_byline(raw: str, sites: tuple[str, ...], expected: Byline) -> None:
    assert split_byline(raw, sites) == expected


def test_agency_name() -> None:
    assert agency_name("Reuters") == "Reuters"
    assert agency_name("Agence France-Presse") == "AFP"
    assert agency_name("Anna Beispiel") is None


def test_page_authors_prefers_feed_then_json_ld_and_collects_agencies() -> None:
    tree = page(
        head=ld(
            '{"@type": "NewsArticle", "author": [{"@type": "Person", "name": "Anna Beispiel"},'
            ' {"@type": "Organization", "name": "Reuters"}]}'
        )
        + '<meta name="author" content="Someone Else">',
        body='<p class="byline">Von Anna Beispiel, dpa</p>',
    )
    assert page_authors(tree) == Byline(("Anna Beispiel",), ("dpa", "Reuters"))
    assert page_authors(tree, ["Lea Feedmann"]).people == ("Lea Feedmann",)
    assert page_authors(None, [], "Ntv De; Mli; AFP", ["ntv.de"]) == Byline((), ("AFP",))


@pytest.mark.parametrize(
    "value, expected",
    [
        ("2026-11-24T09:15:00+01:00", dt.datetime(2026, 11, 24, 8, 15, tzinfo=UTC)),
        ("2026-11-24T09:15:00Z", dt.datetime(2026, 11, 24, 9, 15, tzinfo=UTC)),
        ("2026-11-24", dt.datetime(2026, 11, 24, tzinfo=UTC)),
        ("Tue, 24 Nov 2026 09:15:00 +0100", dt.datetime(2026, 11, 24, 8, 15, tzinfo=UTC)),
        ("gestern", None),
        ("", None),
    ],
)
def test_parse_datetime(value: str, expected: dt.datetime | None) -> None:
    assert parse_datetime(value) == expected


def test_published_at_feed_first_then_markup_then_hint() -> None:
    tree = page(head='<meta property="article:published_time" content="2026-03-02T07:30:00+01:00">')
    feed = dt.datetime(2026, 3, 2, 8, 0, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    assert published_at(feed, tree, "https://x.test/a") == dt.datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
    assert published_at(None, tree, "https://x.test/a") == dt.datetime(
        2026, 3, 2, 6, 30, tzinfo=UTC
    )
    assert page_published_at(page(), "https://x.test/a", "2026-01-05") == dt.datetime(
        2026, 1, 5, tzinfo=UTC
    )
    ld_tree = page(
        head=ld('{"@type": "NewsArticle", "datePublished": "2026-02-01T10:00:00+00:00"}')
    )
    assert page_published_at(ld_tree, "https://x.test/a") == dt.datetime(2026, 2, 1, 10, tzinfo=UTC)


@pytest.mark.parametrize(
    "title, sites, expected",
    [
        (
            "Putin sucht die Nähe zu China | Tagesblick",
            ("Tagesblick",),
            "Putin sucht die Nähe zu China",
        ),
        (
            "Feuerwehr: Neue Regeln | wdr aktuell",
            ("https://www1.wdr.de/x",),
            "Feuerwehr: Neue Regeln",
        ),
        ("SPIEGEL - Die Lage am Morgen", ("spiegel.de",), "Die Lage am Morgen"),
        ("Kanzler: Wir bleiben dabei", ("Tagesblick",), "Kanzler: Wir bleiben dabei"),
        ("Nur ein Titel", (), "Nur ein Titel"),
    ],
)
def test_clean_title(title: str, sites: tuple[str, ...], expected: str) -> None:
    assert clean_title(title, sites) == expected


def test_page_title_og_then_h1_then_fallback() -> None:
    og = page(
        head='<meta property="og:title" content="Aus og | Blatt"><title>Aus title</title>',
        body="<h1>Aus h1</h1>",
    )
    assert page_title(og, (), ("Blatt",)) == "Aus og"  # og:title first when nothing repairs it
    assert (
        page_title(
            page(head="<title>T | Blatt</title>", body="<article><h1>Aus h1</h1></article>"),
            (),
            ("Blatt",),
        )
        == "Aus h1"
    )
    assert page_title(page(), ("Feed-Titel",), ()) == "Feed-Titel"


@pytest.mark.parametrize(
    "head, body, status, expected",
    [
        (ld('{"@type": "NewsArticle", "isAccessibleForFree": false}'), "", 200, True),
        (
            ld(
                '{"@type": "NewsArticle", "isAccessibleForFree": "False", "hasPart": '
                '{"@type": "WebPageElement", "isAccessibleForFree": "False", "cssSelector": ".paid"}}'
            ),
            "",
            200,
            True,
        ),
        (ld('{"@type": "NewsArticle", "isAccessibleForFree": true}'), "", 200, False),
        ('<meta itemprop="isAccessibleForFree" content="false">', "", 200, True),
        ('<meta property="article:content_tier" content="locked">', "", 200, True),
        ("", "<p>Jetzt abonnieren und weiterlesen!</p>", 200, None),  # a phrase alone says nothing
        ("", "", 402, True),
        ("", '<div class="paywall-overlay">x</div>', 403, True),
        ("", "<p>Forbidden</p>", 403, None),
    ],
)
def test_is_paywalled(head: str, body: str, status: int, expected: bool | None) -> None:
    assert is_paywalled(page(head, body), status) is expected


def test_accessible_for_free_absent() -> None:
    assert accessible_for_free(page()) is None
    assert is_paywalled(None, 200) is None


def test_visible_teaser_is_the_description_shown_in_the_body() -> None:
    lead = "Nach vier Jahren Bauzeit ist die neue Brücke über die Elbe am Montag für den Verkehr freigegeben worden."
    tree = page(
        head=f'<meta property="og:description" content="{lead[:90]}…">',
        body=f"<header><p class='lead'>{lead}</p></header><p>Andere Zeile</p>",
    )
    assert visible_teaser(tree) == lead
    assert (
        visible_teaser(page(head='<meta name="description" content="Kurz">', body="<p>Kurz</p>"))
        == ""
    )
    assert (
        visible_teaser(page(head=f'<meta name="description" content="{lead}">', body="<p>x</p>"))
        == ""
    )


def test_a_list_of_a_dozen_names_is_no_byline() -> None:
    names = "".join(f'<a rel="author" href="/a{i}">Autor{i} Beispiel</a>' for i in range(12))
    tree = page(body=f"<h1>Titel</h1><div>{names}</div><p class='byline'>Von Lea Muster</p>")
    assert page_authors(tree).people == ("Lea Muster",)


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("Webedia Gaming GmbH", Byline((), ())),
        ("Deutsche Welle (www.dw.com)", Byline((), ())),
        ("Associated Press in Valencia", Byline((), ("AP",))),
        ("Emma Example, Lifestyle Writer", Byline(("Emma Example",), ())),
        (
            "Von Anna Beispiel, Tom Muster und Lea Probe",
            Byline(("Anna Beispiel", "Tom Muster", "Lea Probe"), ()),
        ),
    ],
)
def test_split_byline_organisations_and_roles(raw: str, expected: Byline) -> None:
    assert split_byline(raw) == expected


CUT = "Marathon 2026: Überlegener Sieger und"
WHOLE = "Marathon 2026: Überlegener Sieger und „royaler Besuch“"
DW = "Gegenoffensive: Ziele, Chancen, Risiken"


@pytest.mark.parametrize(
    "candidates, sites, expected",
    [
        # A cut-off og:title gives way to the whole h1.
        ([CUT, WHOLE], (), WHOLE),
        # A complete og:title that another candidate continues stays.
        (["Your bill is worth THOUSANDS", "Your bill is worth THOUSANDS if rare"], (),
         "Your bill is worth THOUSANDS"),
        # A section/site suffix the h1 lacks goes; so do a date part, a site part, a by part.
        (["Russia hits Kyiv - National | Globalnews.ca", "Russia hits Kyiv"], (), "Russia hits Kyiv"),
        ([f"{DW} | DW | 28.04.2026"], ("DW",), DW),
        (["Orden fürs Morden, Tageszeitung junge Welt, 26.04.2026"], ("junge Welt",),
         "Orden fürs Morden"),
        (["Plot twist | The Daily Example | by Jane Doe"], ("The Daily Example",), "Plot twist"),
        # og:title first when the others say something else; the spelling most candidates share.
        (["Lego feiert: Viele neue Sets", "Lego feiert: Alle Angebote"], (), "Lego feiert: Viele neue Sets"),
        (["Doing What's Right", "Doing What’s Right", "Doing What’s Right"], (), "Doing What’s Right"),
        ([], (), ""),
    ],
)
def test_choose_title(candidates: list[str], sites: tuple[str, ...], expected: str) -> None:
    from transforms.text.metadata import choose_title

    assert choose_title(candidates, sites) == expected


def test_json_ld_is_read_once_per_page_and_per_page() -> None:
    """The parsed scripts and the top-level objects are kept for the last tree only: a second
    page gets its own, and the first page read again gets its own back."""
    first = page(ld('{"@type": "NewsArticle", "headline": "Eins", "author": {"name": "Anna M"}}'))
    second = page(
        ld('{"@graph": [{"@type": "Article", "headline": "Zwei"}, {"@type": "Person"}]}')
        + ld("{not json")
    )
    assert [i["headline"] for i in _top_level_json_ld(first)] == ["Eins"]
    assert _top_level_json_ld(first) is _top_level_json_ld(first)
    assert [i.get("headline") for i in _top_level_json_ld(second)] == [None, "Zwei", None]
    assert [i.get("@type") for i in _json_ld(second)] == [None, "Article", "Person"]
    assert [i.get("name") for i in _json_ld(first)] == [None, "Anna M"]
    assert _top_level_json_ld(page()) == [] == _json_ld(page())


def test_json_ld_scripts_are_only_ld_json_ones_with_text() -> None:
    tree = page(
        '<script type="application/ld+json"></script>'
        '<script type="text/javascript">{"a": 1}</script>'
        '<script type="Application/LD+JSON">{"b": 1}</script>',
        '<script type="application/ld+json">{"name": "Straße \U0001F600", "x": "</p>"}</script>',
    )
    assert _json_ld(tree) == [{"name": "Straße \U0001F600", "x": "</p>"}]


def test_site_keys_from_any_iterable() -> None:
    """The site names may come as a generator; the cached keys are the same as for a tuple."""
    names = ("https://www.ntv.de/politik", "n-tv")
    assert _site_keys(n for n in names) == _site_keys(names)
    assert {"ntvde", "ntv"} <= _site_keys(names)
    assert split_byline("Anna Muster, ntv.de", (n for n in names)) == Byline(("Anna Muster",), ())
    assert _site_keys(["", None, "Ümlaut Zeitung \U0001F4F0"]) == {"ümlautzeitung"}


@pytest.mark.parametrize(
    "head, body, expected",
    [
        # A meta tag wins over microdata; microdata (a <time> first) over JSON-LD.
        (
            '<meta property="article:published_time" content="2024-05-01T10:00:00Z">',
            '<span itemprop="datePublished" datetime="2023-01-01T00:00:00Z">x</span>',
            dt.datetime(2024, 5, 1, 10, tzinfo=UTC),
        ),
        (
            '<meta property="article:published_time" content="kein Datum">'
            + ld('{"@type": "NewsArticle", "datePublished": "2022-02-02T00:00:00Z"}'),
            '<span itemprop="datePublished" datetime="2023-01-01T00:00:00Z">x</span>'
            '<time itemprop="datePublished" datetime="2023-03-03T00:00:00Z">Mär</time>',
            dt.datetime(2023, 3, 3, tzinfo=UTC),
        ),
        (
            ld('{"@type": "NewsArticle", "datePublished": "2022-02-02T00:00:00Z"}'),
            '<span itemprop="datePublished">ohne datetime</span>',
            dt.datetime(2022, 2, 2, tzinfo=UTC),
        ),
    ],
)
def test_published_at_sources_in_order(head: str, body: str, expected: dt.datetime) -> None:
    assert page_published_at(page(head, body), "https://example.test/a") == expected


def test_modified_at_microdata_only_after_meta() -> None:
    body = '<meta itemprop="dateModified" content="2023-01-01T00:00:00Z"><p>x</p>'
    assert modified_at(page("", body)) == dt.datetime(2023, 1, 1, tzinfo=UTC)
    head = '<meta property="article:modified_time" content="2024-01-01T00:00:00+01:00">'
    assert modified_at(page(head, body)) == dt.datetime(2023, 12, 31, 23, tzinfo=UTC)
