"""Extract article text and metadata from fetched pages with trafilatura.

Input: ``FetchedPage``. Output: ``Article`` with text, title, authors, dates (``ok``);
``DeadLetter`` (``dead``, stage ``extract``) when neither the page nor the feed has usable text.
Counters (namespace ``extract``): ``in``, ``out``, ``text_source:page``, ``text_source:feed``.

The bytes are decoded here with the HTTP charset first, then the page's own declaration, then
UTF-8 — the order browsers use — so a mislabeled page still comes out readable. When the page's
text is too short (a paywall stub, a video page, a JS-only site) the feed's content or summary is
used instead and ``text_source`` says so.
"""

from __future__ import annotations

import codecs
import datetime as dt
import json
import re
import urllib.parse
from collections.abc import Iterator

import apache_beam as beam
import htmldate
import trafilatura
from trafilatura.utils import load_html
from lxml import html as lxml_html
from pydantic import BaseModel, ConfigDict, Field

from transforms.deadletter import DEAD, ParDoWithDeadLetters, dead_letter
from transforms.dom_clean import strip_credit_nodes
from transforms.records import UTC, Article, FetchedPage

_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.I)
_BOMS = ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
_TITLE_SEPARATORS = re.compile(r"\s+[|–—·:-]\s+")
_AUTHOR_SPLIT = re.compile(r"\s*(?:;|,|\s+und\s+|\s+and\s+|&)\s*")
_AUTHOR_PREFIX = re.compile(r"^\s*(?:von|by)\s+", re.I)
_DATE_META = (
    "//meta[@property='article:published_time']/@content",
    "//meta[@name='article:published_time']/@content",
    "//meta[@itemprop='datePublished']/@content",
    "//meta[@name='date']/@content",
    "//meta[@name='pubdate']/@content",
    "//time[@itemprop='datePublished']/@datetime",
)


class ExtractConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    # Below this many characters a page's text is taken to be a stub, and the feed's text wins
    # when it is longer.
    min_chars: int = Field(default=250, gt=0)
    include_tables: bool = True
    favor_precision: bool = False


class NoTextError(Exception):
    """Neither the page nor the feed entry had any text."""


def decode_html(body: bytes, charset: str | None) -> str:
    """Bytes → text: BOM, then HTTP charset, then ``<meta charset>``, then UTF-8, then cp1252."""
    for bom, name in _BOMS:
        if body.startswith(bom):
            return body.decode(name, errors="replace")
    candidates = [charset]
    match = _META_CHARSET.search(body[:4096])
    if match:
        candidates.append(match.group(1).decode("ascii", "ignore"))
    candidates += ["utf-8"]
    for name in candidates:
        if not name:
            continue
        try:
            codec = codecs.lookup(name).name
        except LookupError:
            continue
        # Publishers label windows-1252 as latin-1; browsers decode it as cp1252 and so do we.
        codec = "cp1252" if codec in ("latin-1", "iso8859-1", "ascii") else codec
        try:
            return body.decode(codec)
        except UnicodeDecodeError:
            continue
    return body.decode("cp1252", errors="replace")


def parse_datetime(value: str) -> dt.datetime | None:
    """ISO-8601 (with or without zone; a date alone is midnight UTC) → aware UTC datetime."""
    value = value.strip()
    if not value:
        return None
    try:
        when = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC)


def _json_ld_dates(tree: lxml_html.HtmlElement) -> Iterator[str]:
    for script in tree.xpath("//script[@type='application/ld+json']/text()"):
        try:
            data = json.loads(script)
        except ValueError:
            continue
        stack = [data]
        while stack:
            item = stack.pop()
            if isinstance(item, list):
                stack.extend(item)
            elif isinstance(item, dict):
                if isinstance(item.get("datePublished"), str):
                    yield item["datePublished"]
                stack.extend(v for v in item.values() if isinstance(v, (list, dict)))


def page_published_at(tree: lxml_html.HtmlElement, url: str) -> dt.datetime | None:
    """Publication time from the page's metadata, falling back to htmldate's date."""
    for value in [*(v for path in _DATE_META for v in tree.xpath(path)), *_json_ld_dates(tree)]:
        when = parse_datetime(str(value))
        if when is not None:
            return when
    found = htmldate.find_date(tree, extensive_search=False, original_date=True, url=url)
    return parse_datetime(found) if found else None


def clean_title(title: str, site_names: tuple[str, ...]) -> str:
    """Drop a trailing or leading `` | Site`` part when it names the site."""
    parts = _TITLE_SEPARATORS.split(title.strip())
    names = {n.strip().lower() for n in site_names if n and n.strip()}
    if len(parts) > 1 and parts[-1].strip().lower() in names:
        parts = parts[:-1]
    elif len(parts) > 1 and parts[0].strip().lower() in names:
        parts = parts[1:]
    return " | ".join(parts).strip() if len(parts) > 1 else parts[0].strip()


def split_authors(raw: str | None) -> tuple[str, ...]:
    if not raw:
        return ()
    names = (_AUTHOR_PREFIX.sub("", n).strip() for n in _AUTHOR_SPLIT.split(raw))
    return tuple(dict.fromkeys(n for n in names if n))


def site_name(page: FetchedPage, sitename: str | None) -> str:
    return page.entry.feed_name or sitename or urllib.parse.urlsplit(page.final_url).hostname or ""


def extract_article(page: FetchedPage, cfg: ExtractConfig) -> Article:
    """One fetched page → an Article with raw (not yet cleaned) text and metadata."""
    entry = page.entry
    html_text = decode_html(page.body, page.charset)
    # load_html copes with XML declarations in str input, which lxml refuses.
    tree = load_html(html_text) if html_text.strip() else None
    doc = None
    credits: tuple[str, ...] = ()
    captions: tuple[str, ...] = ()
    page_date = None
    if tree is not None:
        page_date = page_published_at(tree, page.final_url)
        credits, captions = strip_credit_nodes(tree)
        doc = trafilatura.bare_extraction(
            tree,
            url=page.final_url,
            with_metadata=True,
            include_comments=False,
            include_tables=cfg.include_tables,
            favor_precision=cfg.favor_precision,
            deduplicate=False,
        )
    page_text = (doc.text or "").strip() if doc is not None else ""
    feed_text = entry.content if len(entry.content) >= len(entry.summary) else entry.summary
    if len(page_text) >= cfg.min_chars or (page_text and len(page_text) >= len(feed_text)):
        text, text_source = page_text, "page"
    elif feed_text:
        text, text_source = feed_text, "feed"
    else:
        raise NoTextError("no usable text in the page or in the feed entry")
    sitename = doc.sitename if doc is not None else None
    source = site_name(page, sitename)
    raw_title = (doc.title if doc is not None else None) or entry.title
    title = clean_title(raw_title, (source, sitename or "", entry.feed_name))
    # Feeds often pack several bylines into one author field ("A, B und C").
    authors = tuple(dict.fromkeys(n for raw in entry.authors for n in split_authors(raw)))
    authors = authors or split_authors(doc.author if doc is not None else None)
    return Article(
        id=entry.id,
        url=entry.url,
        final_url=page.final_url,
        feed_url=entry.feed_url,
        source=source,
        title=title,
        summary=entry.summary or ((doc.description or "") if doc is not None else ""),
        text=text,
        text_source=text_source,
        fetched_at=page.fetched_at,
        authors=authors,
        published_at=entry.published or page_date,
        image_credits=credits,
        image_captions=captions,
        tags=entry.tags,
        feed_language=entry.feed_language,
        feed_topic=entry.feed_topic,
    )


class _ExtractFn(beam.DoFn):
    def __init__(self, cfg: ExtractConfig) -> None:
        self._cfg = cfg

    def setup(self) -> None:
        self._in = beam.metrics.Metrics.counter("extract", "in")
        self._out = beam.metrics.Metrics.counter("extract", "out")

    def process(self, page: FetchedPage) -> Iterator[object]:
        self._in.inc()
        try:
            article = extract_article(page, self._cfg)
        except NoTextError as exc:
            yield beam.pvalue.TaggedOutput(
                DEAD,
                dead_letter("extract", page.entry.url, "no_text", str(exc), page.http_status,
                            page.entry.feed_url),
            )
            return
        self._out.inc()
        beam.metrics.Metrics.counter("extract", f"text_source:{article.text_source}").inc()
        yield article


class ExtractArticles(beam.PTransform):
    """``FetchedPage`` → (``Article``, ``DeadLetter``)."""

    def __init__(self, cfg: ExtractConfig) -> None:
        super().__init__()
        self._cfg = cfg

    def expand(self, pages):
        return pages | "Extract" >> ParDoWithDeadLetters(_ExtractFn(self._cfg), "extract")
