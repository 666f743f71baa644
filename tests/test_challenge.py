"""Challenge, consent-wall and app-shell pages become dead letters; real articles never do."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from trafilatura.utils import load_html

from transforms.records import UTC, Article, DeadLetter, FeedEntry, FetchedPage
from transforms.text.challenge import shell_kind
from transforms.text.extract import ExtractConfig, extract_outcome

SHELL = Path(__file__).parent / "fixtures" / "shell"
URL = "https://news.example.com/story/1234"


def fetched(name: str, summary: str = "") -> FetchedPage:
    entry = FeedEntry(
        feed_url="https://news.example.com/feed",
        feed_name="",
        link=URL,
        url=URL,
        id="x",
        summary=summary,
    )
    return FetchedPage(
        entry,
        URL,
        200,
        "text/html",
        None,
        (SHELL / name).read_bytes(),
        dt.datetime(2026, 12, 1, tzinfo=UTC),
    )


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("cloudflare.html", "bot_challenge"),
        ("captcha.html", "bot_challenge"),
        ("consent_wall.html", "consent_wall"),
        ("app_shell.html", "js_required"),
        ("js_notice.html", "js_required"),
    ],
)
def test_shell_pages_become_dead_letters(name: str, kind: str) -> None:
    # Even with a feed summary to fall back on: the page's title, dates and images would be
    # the interstitial's.
    outcome = extract_outcome(
        fetched(name, summary="Ein kurzer Teaser aus dem Feed."), ExtractConfig()
    )
    assert isinstance(outcome, DeadLetter)
    assert (outcome.stage, outcome.error_type, outcome.url, outcome.http_status) == (
        "extract",
        kind,
        URL,
        200,
    )


@pytest.mark.parametrize(
    "name",
    ["article_mentions_javascript.html", "article_with_consent_banner.html", "short_brief.html"],
)
def test_articles_that_look_like_shells_pass(name: str) -> None:
    outcome = extract_outcome(fetched(name), ExtractConfig())
    assert not isinstance(outcome, DeadLetter), outcome
    article, _ = outcome
    assert isinstance(article, Article) and article.text


def test_long_text_is_never_a_shell() -> None:
    tree = load_html((SHELL / "cloudflare.html").read_text("utf-8"))
    assert shell_kind(tree, "Ein echter Artikel. " * 40) is None


def test_dead_letters_are_counted_by_kind() -> None:
    import apache_beam as beam
    from apache_beam.testing.test_pipeline import TestPipeline

    from transforms.text.extract import ExtractArticles

    p = TestPipeline()
    pages = p | beam.Create(
        [
            fetched("consent_wall.html"),
            fetched("cloudflare.html"),
            fetched("captcha.html"),
            fetched("article_with_consent_banner.html"),
        ]
    )
    _ok, _dead = pages | ExtractArticles(ExtractConfig())
    result = p.run()
    result.wait_until_finish()
    counters = {
        c.key.metric.name: c.committed
        for c in result.metrics().query(beam.metrics.MetricsFilter().with_namespace("extract"))[
            "counters"
        ]
    }
    assert counters["in"] == 4
    assert counters["out"] == 1
    assert counters["dead:consent_wall"] == 1
    assert counters["dead:bot_challenge"] == 2


def test_the_error_crosses_process_boundaries() -> None:
    """Bench scripts and pools re-raise it in the parent: it must pickle, and it is a
    NoTextError for callers that only expect that."""
    import pickle

    from transforms.text.extract import NoTextError, ShellPageError

    again = pickle.loads(pickle.dumps(ShellPageError("consent_wall")))
    assert isinstance(again, NoTextError)
    assert (again.kind, str(again)) == (
        "consent_wall",
        "the page is a consent wall page, not an article",
    )
