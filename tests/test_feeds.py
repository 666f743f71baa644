"""Feed fetching and parsing: bytes in, entries out, failures as dead letters."""

from __future__ import annotations

import datetime as dt
import threading

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from tests.conftest import FIXTURES, run_dofn
from transforms.storage.deadletter import DEAD
from transforms.sources.feeds import (
    STATUS,
    FetchFeeds,
    NotAFeedError,
    _FetchFeedFn,
    html_to_text,
    parse_feed,
)
from transforms.fetching.http import HttpConfig
from transforms.records import UTC, DeadLetter, FeedSpec

NOW = dt.datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
LOOPBACK = HttpConfig(allow_private_hosts=True)


def _bytes(name: str, base: str = "http://127.0.0.1:1") -> bytes:
    return (FIXTURES / "site" / "feeds" / name).read_bytes().replace(b"{base}", base.encode())


def test_latin1_feed_decodes_from_its_declaration() -> None:
    spec = FeedSpec(url="http://127.0.0.1:1/feeds/latin1.xml", name="", topic="medtop:11000000")
    entries, no_link, bozo = parse_feed(_bytes("latin1.xml"), {}, spec, NOW)
    assert not bozo and no_link == 0
    first = entries[0]
    assert first.title == "Talsperren füllen sich wieder"
    assert first.feed_name == "Fixture Nachrichten"
    assert first.feed_language == "de"
    assert first.feed_topic == "medtop:11000000"
    assert first.published == dt.datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
    assert first.tags == ("Panorama",)
    assert first.guid == "latin1-1"
    assert first.summary == "Größere Einschränkungen sind nicht zu erwarten."


def test_absurd_dates_become_unknown() -> None:
    spec = FeedSpec(url="http://127.0.0.1:1/feeds/latin1.xml")
    entries, _, _ = parse_feed(_bytes("latin1.xml"), {}, spec, NOW)
    assert entries[1].published is None  # 1970


def test_entries_without_link_are_counted_not_kept() -> None:
    spec = FeedSpec(url="http://127.0.0.1:1/feeds/mixed.xml", name="Mixed")
    entries, no_link, _ = parse_feed(_bytes("mixed.xml"), {}, spec, NOW)
    assert no_link == 1
    assert [e.title for e in entries][:2] == ["Reservoirs recover", "Reservoirs recover (again)"]
    assert entries[0].feed_name == "Mixed"


@pytest.mark.parametrize(
    "body",
    [b"", b"<html><body><h1>502 Bad Gateway</h1></body></html>", b"\x00\x01garbage", b"<rss><chan"],
)
def test_not_a_feed(body: bytes) -> None:
    with pytest.raises(NotAFeedError):
        parse_feed(body, {}, FeedSpec(url="http://x.example/f"), NOW)


def test_http_charset_is_used_when_the_xml_does_not_say() -> None:
    body = '<rss version="2.0"><channel><title>Ä</title><item><title>Grüße</title><link>http://x.example/a</link></item></channel></rss>'
    entries, _, _ = parse_feed(
        body.encode("iso-8859-1"), {"Content-Type": "application/rss+xml; charset=iso-8859-1"},
        FeedSpec(url="http://x.example/f"), NOW,
    )
    assert entries[0].title == "Grüße"


def test_html_to_text() -> None:
    assert html_to_text("<p>Tom &amp; Jerry</p>\n<b>x</b>") == "Tom & Jerry x"


def test_fetch_feed_dofn_over_loopback(fixture_server) -> None:
    out = run_dofn(_FetchFeedFn(LOOPBACK, None, 5, 4), [FeedSpec(url=fixture_server.url("/feeds/mixed.xml"))])
    entries = [e for tag, e in out if tag is None]
    assert [e.link for e in entries][:1] == ["/pages/a.html?utm_source=x&utm_medium=rss"]
    assert len(entries) == 6
    (status,) = [v for tag, v in out if tag == STATUS]
    assert (status.outcome, status.entries, status.http_status) == ("ok", 7, 200)


def test_feeds_are_downloaded_side_by_side(fixture_server) -> None:
    # Three feeds, three downloads at once: each waits at a barrier of three, which breaks
    # (and its feeds fail) if the stage fetched them one after another.
    barrier = threading.Barrier(3, timeout=30)
    fn = _FetchFeedFn(LOOPBACK, None, 5, 3)
    real = fn._fetch_body

    def together(spec: FeedSpec):
        barrier.wait()
        return real(spec)

    fn._fetch_body = together
    names = ("mixed.xml", "latin1.xml", "mixed.xml?again")
    out = run_dofn(fn, [FeedSpec(url=fixture_server.url(f"/feeds/{n}")) for n in names])
    statuses = [v for tag, v in out if tag == STATUS]
    assert [s.outcome for s in statuses] == ["ok", "ok", "ok"]
    assert not barrier.broken


def test_a_feed_that_breaks_the_parser_is_a_dead_letter_not_a_crash(fixture_server, monkeypatch) -> None:
    from transforms.sources import feeds

    def broken(*args, **kwargs):
        raise RecursionError("parser gave up")

    monkeypatch.setattr(feeds, "parse_feed", broken)
    out = run_dofn(_FetchFeedFn(LOOPBACK, None, 5, 2), [FeedSpec(url=fixture_server.url("/feeds/mixed.xml"))])
    (letter,) = [v for tag, v in out if tag == DEAD]
    (status,) = [v for tag, v in out if tag == STATUS]
    assert (letter.stage, letter.error_type, letter.feed_url) == ("fetch_feed", "RecursionError", letter.url)
    assert (status.outcome, status.error_type) == ("failed", "RecursionError")
    assert not [v for tag, v in out if tag is None]


def test_fetch_feeds_transform_with_failures(fixture_server, closed_port_url) -> None:
    specs = [
        FeedSpec(url=fixture_server.url("/feeds/latin1.xml")),
        FeedSpec(url=fixture_server.url("/feeds/empty.xml")),
        FeedSpec(url=fixture_server.url("/feeds/missing.xml")),
        FeedSpec(url=closed_port_url),
    ]
    with TestPipeline() as p:
        ok, dead, statuses = p | beam.Create(specs) | FetchFeeds(LOOPBACK)
        assert_that(statuses | "Outcomes" >> beam.Map(lambda s: s.outcome),
                    equal_to(["ok", "failed", "failed", "failed"]), label="Statuses")
        assert_that(ok | "Titles" >> beam.Map(lambda e: e.title),
                    equal_to(["Talsperren füllen sich wieder", "Preise stabil"]), label="Entries")
        assert_that(
            dead | "Reasons" >> beam.Map(lambda d: (d.stage, d.url, d.error_type, d.http_status)),
            equal_to([
                ("parse_feed", fixture_server.url("/feeds/empty.xml"), "not_a_feed", 200),
                ("fetch_feed", fixture_server.url("/feeds/missing.xml"), "http_error", 404),
                ("fetch_feed", closed_port_url, "connection_error", None),
            ]),
            label="DeadLetters",
        )


def test_refused_host_is_a_dead_letter_not_a_crash(fixture_server) -> None:
    fn = _FetchFeedFn(HttpConfig(), None, 5, 2)  # private hosts not allowed
    (_, letter), (_, status) = run_dofn(fn, [FeedSpec(url=fixture_server.url("/feeds/mixed.xml"))])
    assert status.outcome == "failed"
    assert isinstance(letter, DeadLetter)
    assert (letter.stage, letter.error_type) == ("fetch_feed", "blocked_host")
