"""Feed bytes with XML bombs and external entities are refused before parsing; ordinary feeds,
old DOCTYPEs and harmless entities pass."""

from __future__ import annotations

import datetime as dt

import feedparser
import pytest

from tests.faultserver import FEEDS, billion_laughs, fault_server_fixture, loopback_only_fixture  # noqa: F401 - fixtures
from transforms.sources.feed_safety import (
    MAX_DOCTYPE_CHARS,
    UnsafeFeedError,
    check_feed,
    doctypes,
    markup_text,
)
from transforms.sources.feeds import NotAFeedError, parse_feed
from transforms.records import UTC, FeedSpec

RSS_TAIL = '<rss version="2.0"><channel><title>T</title><item><title>{t}</title><link>http://e.example/a</link></item></channel></rss>'


def rss(doctype: str = "", title: str = "x") -> bytes:
    return f'<?xml version="1.0" encoding="utf-8"?>\n{doctype}\n{RSS_TAIL.format(t=title)}'.encode()


SAFE = [
    pytest.param(rss(), id="plain"),
    pytest.param(
        rss(
            '<!DOCTYPE rss PUBLIC "-//Netscape Communications//DTD RSS 0.91//EN" '
            '"http://my.netscape.com/publish/formats/rss-0.91.dtd">'
        ),
        id="netscape-dtd",
    ),
    pytest.param(
        rss('<!DOCTYPE rss SYSTEM "http://127.0.0.1:9/rss.dtd">'), id="external-dtd-not-loaded"
    ),
    pytest.param(
        rss('<!DOCTYPE rss [<!ENTITY id "tag:example.com,">]>', "&id;2006"), id="simple-entity"
    ),
    pytest.param(
        rss(
            '<!DOCTYPE rss [<!ENTITY c "AT&amp;T &#169;"> <!-- <!ENTITY x SYSTEM "y"> -->]>', "&c;"
        ),
        id="entity-with-char-refs-and-a-comment",
    ),
    pytest.param(
        rss(
            "<!DOCTYPE rdf:RDF [\n<!ENTITY % HTMLlat1 PUBLIC "
            '"-//W3C//ENTITIES Latin 1 for XHTML//EN"'
            ' "http://www.w3.org/TR/xhtml1/DTD/xhtml-lat1.ent">\n%HTMLlat1;\n]>'
        ),
        id="w3c-entity-set",
    ),
    pytest.param(b"<!DOCTYPE html><html><body><p>&nbsp;</p></body></html>", id="html"),
    pytest.param(b'{"version": "https://jsonfeed.org/version/1", "items": []}', id="json-feed"),
    pytest.param(b"", id="empty"),
    pytest.param(b"\x00\xff\xfe garbage", id="garbage"),
    pytest.param(
        rss(title="<![CDATA[<!DOCTYPE x [<!ENTITY a SYSTEM 'file:///etc/passwd'>]>]]>"),
        id="doctype-text-inside-the-document",
    ),
    pytest.param(
        rss('<!DOCTYPE rss [<!ENTITY e "' + "e" * 1000 + '">]>', "&e;" * 100), id="modest-expansion"
    ),
    pytest.param(
        rss('<!DOCTYPE rss [<!ENTITY id "x">]>').decode().encode("utf-16"), id="utf16-safe"
    ),
]

UNSAFE = [
    pytest.param(billion_laughs(), "nested_entity", id="billion-laughs"),
    pytest.param(
        rss('<!DOCTYPE rss [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>', "&xxe;"),
        "external_entity",
        id="xxe-file",
    ),
    pytest.param(
        rss('<!DOCTYPE rss [<!ENTITY xxe SYSTEM "http://127.0.0.1/admin">]>', "&xxe;"),
        "external_entity",
        id="xxe-loopback",
    ),
    pytest.param(
        rss("<!DOCTYPE rss [<!ENTITY xxe PUBLIC 'x' 'http://10.0.0.1/'>]>"),
        "external_entity",
        id="xxe-public",
    ),
    pytest.param(
        rss('<!DOCTYPE rss [<!ENTITY % p SYSTEM "http://127.0.0.1/evil.dtd"> %p;]>'),
        "external_entity",
        id="external-parameter-entity",
    ),
    pytest.param(
        rss('<!DOCTYPE rss [<!ENTITY % p "x">]>'), "parameter_entity", id="parameter-entity"
    ),
    pytest.param(
        rss('<!DOCTYPE rss [<!ENTITY img SYSTEM "x.gif" NDATA gif>]>'),
        "external_entity",
        id="unparsed-entity",
    ),
    pytest.param(
        rss('<!DOCTYPE rss [<!ENTITY e "' + "e" * 10_000 + '">]>', "&e;" * 200),
        "entity_expansion",
        id="quadratic-blowup",
    ),
    pytest.param(
        rss("<!DOCTYPE rss [" + "<!-- pad -->" * (MAX_DOCTYPE_CHARS // 10) + "]>"),
        "doctype_too_large",
        id="huge-doctype",
    ),
    pytest.param(
        rss("<!DOCTYPE rss [" + "".join(f'<!ENTITY e{i} "v">' for i in range(600)) + "]>"),
        "too_many_entities",
        id="too-many-entities",
    ),
    pytest.param(
        rss('<!doctype rss [<!entity xxe system "file:///etc/passwd">]>'),
        "external_entity",
        id="lower-case-keywords",
    ),
    pytest.param(
        rss('<!DOCTYPE rss [<!ENTITY broken "no end>]>'),
        "bad_entity_declaration",
        id="unreadable-declaration",
    ),
    pytest.param(
        b"junk before\n" + rss('<!DOCTYPE rss [<!ENTITY x SYSTEM "file:///etc/hosts">]>'),
        "external_entity",
        id="junk-before-doctype",
    ),
    pytest.param(
        rss('<!DOCTYPE rss [<!ENTITY x SYSTEM "file:///etc/passwd">]>').decode().encode("utf-16"),
        "external_entity",
        id="utf16-with-bom",
    ),
    pytest.param(
        rss('<!DOCTYPE rss [<!ENTITY x SYSTEM "file:///etc/passwd">]>')
        .decode()
        .encode("utf-16-le"),
        "external_entity",
        id="utf16-without-bom",
    ),
    pytest.param(
        b'<!-- c --><?pi x?>\n<!DOCTYPE rss [<!ENTITY x SYSTEM "file:///">]><rss/>',
        "external_entity",
        id="after-comment-and-pi",
    ),
    pytest.param(
        rss('<!DOCTYPE rss [<!ENTITY a "x"><!ENTITY b "&a;&a;">]>', "&b;"),
        "nested_entity",
        id="two-level-chain",
    ),
]


@pytest.mark.parametrize("body", SAFE)
def test_safe_feeds_pass(body: bytes) -> None:
    check_feed(body)


@pytest.mark.parametrize(("body", "reason"), UNSAFE)
def test_unsafe_feeds_are_refused(body: bytes, reason: str) -> None:
    with pytest.raises(UnsafeFeedError) as err:
        check_feed(body)
    assert err.value.reason == reason
    assert str(err.value).startswith(f"unsafe feed ({reason}): ")


def test_message_names_the_target() -> None:
    with pytest.raises(UnsafeFeedError, match="'xxe' points at 'file:///etc/passwd'"):
        check_feed(rss('<!DOCTYPE rss [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'))


def test_expansion_limit_is_a_parameter() -> None:
    body = rss('<!DOCTYPE rss [<!ENTITY e "0123456789">]>', "&e;" * 10)
    check_feed(body, max_expansion=100)
    with pytest.raises(UnsafeFeedError):
        check_feed(body, max_expansion=99)


def test_doctypes_stop_at_the_root_element() -> None:
    text = '<?xml version="1.0"?><!-- x --><!DOCTYPE a [<!ENTITY b "<c>">]><a><!DOCTYPE z></a>'
    (span,) = doctypes(text)
    assert text[span[0] : span[1]] == '<!DOCTYPE a [<!ENTITY b "<c>">]>'


def test_markup_text_reads_any_bytes() -> None:
    assert markup_text("<a>ü</a>".encode("utf-16")) == "<a>ü</a>"
    assert markup_text(b"<a>\xff</a>") == "<a>\xff</a>"


# --- the parser behind the check --------------------------------------------------------------


def _parse(server, name: str):
    return feedparser.parse(FEEDS[name].replace(b"{base}", server.base.encode()))


@pytest.mark.usefixtures("loopback_only")
@pytest.mark.parametrize("name", ["xxe-http", "external-dtd"])
def test_feedparser_fetches_no_entity_or_dtd(fault_server, name: str) -> None:
    """Second wall: even unchecked, the parser we use never dereferences an entity or a DTD."""
    _parse(fault_server, name)
    assert fault_server.hits("/canary/") == 0


@pytest.mark.usefixtures("loopback_only")
def test_feedparser_does_not_read_local_files(fault_server) -> None:
    parsed = _parse(fault_server, "xxe-file")
    assert all("root:" not in (e.get("title") or "") for e in parsed.entries)


def test_billion_laughs_stays_small_even_unchecked() -> None:
    parsed = feedparser.parse(billion_laughs())
    assert len(parsed.feed.get("title", "")) < 1000


def test_html_posing_as_a_feed_is_not_a_feed() -> None:
    spec = FeedSpec(url="http://127.0.0.1/feed/html.xml")
    with pytest.raises(NotAFeedError):
        parse_feed(
            FEEDS["html"], {"content-type": "application/rss+xml"}, spec, dt.datetime.now(UTC)
        )
