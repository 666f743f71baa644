"""Canonical URLs, ids, and in-run deduplication."""

from __future__ import annotations

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from transforms.sources.canonicalize import (
    BadLinkError,
    CanonicalizeEntries,
    article_id,
    canonical_url,
    pick_first,
    remove_dot_segments,
)
from transforms.records import FeedEntry


@pytest.mark.parametrize(
    ("link", "expected"),
    [
        ("HTTPS://WWW.Example.COM/a/b.html?utm_source=rss&utm_medium=feed#top",
         "https://www.example.com/a/b.html"),
        ("http://example.com:80/x", "http://example.com/x"),
        ("https://example.com:443/x", "https://example.com/x"),
        ("https://example.com:8443/x", "https://example.com:8443/x"),
        ("https://example.com", "https://example.com/"),
        ("https://example.com/a?b=2&a=1&fbclid=zzz", "https://example.com/a?a=1&b=2"),
        ("https://example.com/a?id=7&gclid=1&mc_cid=2&wt_mc=3", "https://example.com/a?id=7"),
        ("https://bücher.example/straße", "https://xn--bcher-kva.example/stra%C3%9Fe"),
        ("https://example.com/a?cid=42", "https://example.com/a?cid=42"),
    ],
)
def test_canonical_url(link: str, expected: str) -> None:
    assert canonical_url(link) == expected


def test_relative_links_resolve_against_the_feed() -> None:
    assert canonical_url("/p/1.html", "https://news.example/feed.xml") == "https://news.example/p/1.html"


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/a/../b", "/b"),
        ("/a/./b", "/a/b"),
        ("/a/b/..", "/a/"),  # the directory, with its slash
        ("/a/b/.", "/a/b/"),
        ("/..", "/"),  # above the root stays at the root
        ("/a/b/../../../c", "/c"),
        ("/a/%2E%2e/b", "/b"),  # percent-encoded dots, as browsers read them
        ("/a/.%2e/b", "/b"),
        ("/a/%2e/b", "/a/b"),
        # Counter-examples: dots inside a segment are a name, not a step.
        ("/a.b/c..d/.e/...", "/a.b/c..d/.e/..."),
        ("/2024/12/story.html", "/2024/12/story.html"),
        ("/", "/"),
    ],
)
def test_remove_dot_segments(path: str, expected: str) -> None:
    assert remove_dot_segments(path) == expected


def test_a_link_with_dot_segments_is_the_link_without_them() -> None:
    # Written out by one feed, relative in another: the same page, so the same id.
    absolute = canonical_url("https://news.example/politik/../wirtschaft/./story.html?id=1")
    relative = canonical_url("../wirtschaft/story.html?id=1", "https://news.example/politik/feed.xml")
    assert absolute == relative == "https://news.example/wirtschaft/story.html?id=1"
    assert article_id(absolute) == article_id(relative)
    # The query is not a path: its dots stay.
    assert canonical_url("https://news.example/s?next=../a") == "https://news.example/s?next=..%2Fa"


@pytest.mark.parametrize("link", ["mailto:a@b.c", "javascript:void(0)", "ftp://x/y", "https:///nohost"])
def test_bad_links(link: str) -> None:
    with pytest.raises(BadLinkError):
        canonical_url(link)


def test_canonical_url_is_idempotent() -> None:
    once = canonical_url("HTTP://Example.org:80/A?z=1&utm_term=x&a=2#f")
    assert canonical_url(once) == once


def test_id_ignores_scheme_and_www_but_not_path() -> None:
    assert article_id("https://www.example.com/a") == article_id("http://example.com/a")
    assert article_id("https://example.com/a") != article_id("https://example.com/b")
    assert len(article_id("https://example.com/a")) == 32


def _entry(link: str, feed: str = "https://f.example/feed", guid: str = "") -> FeedEntry:
    return FeedEntry(feed_url=feed, feed_name="F", link=link, guid=guid)


def test_pick_first_is_order_independent() -> None:
    a = _entry("https://x.example/a", "https://f1")
    b = _entry("https://x.example/a?utm_x=1", "https://f2")
    assert pick_first([a, b]) == (a, 1)
    assert pick_first([b, a]) == (a, 1)


def test_canonicalize_entries_dedupes_and_dead_letters_bad_links() -> None:
    entries = [
        _entry("https://x.example/a?utm_source=1"),
        _entry("https://www.x.example/a"),
        _entry("https://x.example/b"),
        _entry("mailto:desk@x.example"),
    ]
    with TestPipeline() as p:
        ok, dead = p | beam.Create(entries) | CanonicalizeEntries()
        assert_that(
            ok | "Urls" >> beam.Map(lambda e: (e.url, e.id)),
            equal_to([
                ("https://www.x.example/a", article_id("https://x.example/a")),
                ("https://x.example/b", article_id("https://x.example/b")),
            ]),
            label="Distinct",
        )
        assert_that(
            dead | "Dead" >> beam.Map(lambda d: (d.stage, d.url, d.error_type)),
            equal_to([("canonicalize", "mailto:desk@x.example", "bad_link")]),
            label="DeadLetters",
        )
