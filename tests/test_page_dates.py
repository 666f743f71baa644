"""modified_at (kept apart from published_at) and canonical_url, from the page and the feed."""

from __future__ import annotations

import datetime as dt

import pytest
from lxml import html as lxml_html

from transforms.records import UTC, FeedSpec
from transforms.sources.feeds import parse_feed
from transforms.text.metadata import canonical_url, modified_at, same_site

NOW = dt.datetime(2026, 12, 1, tzinfo=UTC)
PAGE = "https://www.example.co.uk/news/2026/12/01/story"


def tree(head: str, body: str = "<p>x</p>"):
    return lxml_html.fromstring(f"<html><head>{head}</head><body>{body}</body></html>")


@pytest.mark.parametrize(
    ("head", "body", "feed", "expected"),
    [
        (
            (
                '<script type="application/ld+json">{"@type": "NewsArticle", "datePublished": '
                '"2026-11-30T08:00:00+01:00", "dateModified": "2026-11-30T10:15:00+01:00"}</script>'
            ),
            "",
            None,
            dt.datetime(2026, 11, 30, 9, 15, tzinfo=UTC),
        ),
        (
            (
                '<meta property="article:published_time" content="2026-11-29T06:00:00Z">'
                '<meta property="article:modified_time" content="2026-11-29T18:30:00Z">'
            ),
            "",
            None,
            dt.datetime(2026, 11, 29, 18, 30, tzinfo=UTC),
        ),
        (
            "",
            '<time itemprop="dateModified" datetime="2026-11-28T12:00:00Z">12:00</time>',
            None,
            dt.datetime(2026, 11, 28, 12, tzinfo=UTC),
        ),
        # The page says nothing: the feed's <updated>/<lastmod>, else None — never the
        # publication time, and never the dateModified of an image or a video.
        (
            '<meta property="article:published_time" content="2026-11-29T06:00:00Z">',
            "",
            dt.datetime(2026, 11, 29, 7, tzinfo=UTC),
            dt.datetime(2026, 11, 29, 7, tzinfo=UTC),
        ),
        (
            (
                '<meta property="article:published_time" content="2026-11-29T06:00:00Z">'
                '<script type="application/ld+json">{"@type": "ImageObject", "dateModified": '
                '"2026-01-01"}</script>'
            ),
            "",
            None,
            None,
        ),
        ('<meta property="article:modified_time" content="not a date">', "", None, None),
    ],
)
def test_modified_at(head: str, body: str, feed: dt.datetime | None, expected) -> None:
    assert modified_at(tree(head, body or "<p>x</p>"), feed) == expected


def test_modified_at_without_a_page() -> None:
    assert modified_at(None, None) is None


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        ('<link rel="canonical" href="/news/2026/12/01/story?utm_source=x">', PAGE),
        # An AMP or mobile copy points at the original on another host of the same site.
        (
            '<link rel="canonical" href="https://amp.example.co.uk/a/story">',
            "https://amp.example.co.uk/a/story",
        ),
        (
            '<meta property="og:url" content="https://m.example.co.uk/story">',
            "https://m.example.co.uk/story",
        ),
        # A syndicated copy naming another outlet is not this site's article.
        ('<link rel="canonical" href="https://www.other.co.uk/story">', None),
        (
            (
                '<link rel="canonical" href="https://www.other.co.uk/story">'
                '<meta property="og:url" content="https://www.example.co.uk/own">'
            ),
            "https://www.example.co.uk/own",
        ),
        ('<link rel="canonical" href="javascript:void(0)">', None),
        ("", None),
    ],
)
def test_canonical_url(head: str, expected: str | None) -> None:
    assert canonical_url(tree(head), PAGE) == expected


def test_same_site_uses_the_public_suffix_list() -> None:
    assert same_site("https://news.bbc.co.uk/a", "https://www.bbc.co.uk/b")
    assert not same_site("https://a.co.uk/x", "https://b.co.uk/x")
    assert not same_site("https://alice.github.io/x", "https://bob.github.io/x")


def _entries(body: bytes):
    entries, _, _ = parse_feed(body, {}, FeedSpec(url="https://example.co.uk/feed"), NOW)
    return entries


def test_feed_modification_times_are_kept_apart() -> None:
    atom = b"""<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title>
      <entry><title>a</title><link href="https://example.co.uk/a"/><id>a</id>
      <published>2026-11-30T08:00:00Z</published><updated>2026-11-30T11:00:00Z</updated></entry>
      </feed>"""
    rss = b"""<rss version="2.0"><channel><title>t</title><item><title>b</title>
      <link>https://example.co.uk/b</link><pubDate>Mon, 30 Nov 2026 08:00:00 GMT</pubDate>
      </item></channel></rss>"""
    sitemap = b"""<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"><url>
      <loc>https://example.co.uk/c</loc><lastmod>2026-11-30T12:00:00Z</lastmod></url></urlset>"""
    (a,) = _entries(atom)
    (b,) = _entries(rss)
    (c,) = _entries(sitemap)
    assert (a.published, a.updated) == (
        dt.datetime(2026, 11, 30, 8, tzinfo=UTC),
        dt.datetime(2026, 11, 30, 11, tzinfo=UTC),
    )
    # RSS has no modification time; feedparser's fallback to pubDate must not pass for one.
    assert b.updated is None
    assert c.updated == dt.datetime(2026, 11, 30, 12, tzinfo=UTC)
