"""Golden pages through the real extract + clean path.

Each ``tests/golden/<family>/<slug>.html`` is a small synthetic page for one pattern family
(credits in the DOM, credits in the text, page chrome, metadata), German and English, written
for these tests. Its ``<slug>.json`` says what the cleaned text must and must not contain and,
where given, the exact ``image_credits`` (as a set), ``image_captions``, title, people, agencies,
paywall flag and publication time. Review a failing diff before changing an expectation.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from transforms.text.clean import apply_cleaning, clean_text, load_rules
from transforms.text.extract import ExtractConfig, extract_article
from transforms.records import UTC, Article, FeedEntry, FetchedPage

GOLDEN = Path(__file__).parent / "golden"
CASES = sorted(GOLDEN.glob("*/*.html"))
DEMO_PAGE = (
    Path(__file__).resolve().parents[1] / "pipeline/demo_site/tagesblick/politik/putin-china.html"
)


@pytest.fixture(scope="module")
def rules():
    return load_rules()


def run_page(html: bytes, url: str, rules, feed_name: str = "") -> Article:
    entry = FeedEntry(
        feed_url="https://example.test/feed.xml",
        feed_name=feed_name,
        link=url,
        url=url,
        id="golden",
    )
    page = FetchedPage(
        entry, url, 200, "text/html", None, html, dt.datetime(2026, 7, 1, tzinfo=UTC)
    )
    article = extract_article(page, ExtractConfig())
    return apply_cleaning(article, clean_text(article.text, rules, article.title))


def test_there_is_a_golden_page_per_family_and_language() -> None:
    families = {p.parent.name for p in CASES}
    assert {"dom_credits", "text_credits", "chrome", "metadata"} <= families
    for family in ("dom_credits", "text_credits", "chrome"):
        langs = {p.name.split("-")[0] for p in CASES if p.parent.name == family}
        assert {"de", "en"} <= langs, family


@pytest.mark.parametrize("path", CASES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_golden_page(path: Path, rules) -> None:
    expected = json.loads(path.with_suffix(".json").read_text("utf-8"))
    article = run_page(path.read_bytes(), expected["url"], rules)
    for snippet in expected["must_contain"]:
        assert snippet in article.text, snippet
    for snippet in expected["must_not_contain"]:
        assert snippet not in article.text, snippet
    assert set(article.image_credits) == set(expected["image_credits"])
    if "image_captions" in expected:
        assert set(article.image_captions) == set(expected["image_captions"])
    if "title" in expected:
        assert article.title == expected["title"]
    if "authors" in expected:
        assert list(article.authors) == expected["authors"]
    if "agencies" in expected:
        assert list(article.agencies) == expected["agencies"]
    if "is_paywalled" in expected:
        assert article.is_paywalled is expected["is_paywalled"]
    if "published_at" in expected:
        assert article.published_at == dt.datetime.fromisoformat(expected["published_at"])
    # Every removal is kept for audit: nothing leaves the text without a trace.
    for line in article.removed_lines:
        assert line not in article.text.splitlines()


def test_demo_seed_page(rules) -> None:
    article = run_page(
        DEMO_PAGE.read_bytes(),
        "http://127.0.0.1/tagesblick/politik/putin-china.html",
        rules,
        feed_name="Tagesblick",
    )
    assert "(Foto: picture alliance / ASSOCIATED PRESS)" not in article.text
    assert "picture alliance / ASSOCIATED PRESS" in article.image_credits
    assert "Quelle: tagesblick.de, dpa" not in article.text
    assert "Quelle: tagesblick.de, dpa" in article.removed_lines
    assert article.text.startswith("Die NATO befürchtet eine militärische Eskalation")
    assert article.authors == ("Anna Beispiel", "Tom Muster")
    assert article.agencies == ("dpa",)
    assert article.title == "Putin sucht die Nähe zu China"
    assert article.published_at == dt.datetime(2026, 11, 24, 8, 15, tzinfo=UTC)
    assert article.is_paywalled is False
