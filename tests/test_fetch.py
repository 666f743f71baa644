"""Article fetching: which responses become pages, which become dead letters."""

from __future__ import annotations

import datetime as dt

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from transforms.sources.canonicalize import article_id, canonical_url
from transforms.fetching.fetch import FetchArticles, FetchConfig, check_page, looks_like_html
from transforms.fetching.http import HttpConfig, Response
from transforms.records import FeedEntry


def _response(status=200, ctype="text/html", body=b"<html><body>x</body></html>") -> Response:
    return Response("http://x/a", "http://x/a", status, ctype, None, {}, body)


@pytest.mark.parametrize(
    ("response", "error_type"),
    [
        (_response(), None),
        (_response(ctype="application/xhtml+xml"), None),
        (_response(ctype=""), None),  # sniffed
        (_response(ctype="text/plain", body=b"plain words"), "unsupported_content_type"),
        (_response(ctype="application/pdf", body=b"%PDF-1.4"), "unsupported_content_type"),
        (_response(ctype="image/jpeg", body=b"\xff\xd8\xff"), "unsupported_content_type"),
        (_response(status=404), "http_error"),
        (_response(status=500), "http_error"),
        (_response(body=b"   "), "empty_body"),
    ],
)
def test_check_page(response: Response, error_type: str | None) -> None:
    problem = check_page(response)
    assert (problem.error_type if problem else None) == error_type


def test_looks_like_html() -> None:
    assert looks_like_html(b"\n  <!DOCTYPE html><html>")
    assert not looks_like_html(b'{"a": 1}')


def _entry(url: str) -> FeedEntry:
    canonical = canonical_url(url)
    return FeedEntry(feed_url="http://feed", feed_name="F", link=url, url=canonical, id=article_id(canonical))


def test_fetch_articles_over_loopback(fixture_server) -> None:
    # No back-off or per-host delay on loopback: the 503 is still retried, just without waiting.
    cfg = FetchConfig(http=HttpConfig(allow_private_hosts=True, backoff=0), concurrency=4, per_host=2,
                      per_host_delay=0)
    good = fixture_server.url("/pages/a.html")
    entries = [_entry(good), _entry(fixture_server.url("/pages/data.json")),
               _entry(fixture_server.url("/unavailable")), _entry(fixture_server.url("/nope.html"))]
    with TestPipeline() as p:
        pages, dead = p | beam.Create(entries) | FetchArticles(cfg)
        assert_that(
            pages | "Pages" >> beam.Map(lambda pg: (pg.final_url, pg.http_status, pg.content_type,
                                                    b"Reservoirs" in pg.body,
                                                    pg.fetched_at.tzinfo is dt.timezone.utc)),
            equal_to([(good, 200, "text/html", True, True)]), label="Pages")
        assert_that(
            dead | "Dead" >> beam.Map(lambda d: (d.stage, d.url.rsplit("/", 1)[-1], d.error_type, d.http_status)),
            equal_to([
                ("fetch_article", "data.json", "unsupported_content_type", 200),
                ("fetch_article", "unavailable", "http_error", 503),
                ("fetch_article", "nope.html", "http_error", 404),
            ]),
            label="DeadLetters")
