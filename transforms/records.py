"""Every record that crosses a stage boundary, and the Parquet schemas of the sinks.

Records are frozen dataclasses and change only through ``dataclasses.replace``.
The sink schemas sit next to the records they are written from; ``tests/test_records.py``
checks that both agree, so a new column cannot be added to one side only.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any, NamedTuple

import pyarrow as pa

# Bumped when a column is removed or changes type, or when new columns change what a row means
# (2: ``images``, ``modified_at``, ``canonical_url``; ``image_credits``/``image_captions`` are
# now derived from ``images`` plus the credits found in the text; docs/SCHEMA.md).
SCHEMA_VERSION = "2"
SCHEMA_METADATA = {b"newsbeam.schema_version": SCHEMA_VERSION.encode()}

UTC = dt.timezone.utc


@dataclasses.dataclass(frozen=True)
class FeedSpec:
    """One feed to read: where it is and what we may assume about it."""

    url: str
    name: str = ""
    language: str | None = None  # hint only: the text decides the language column
    topic: str | None = None  # IPTC code declared for the whole feed, or None
    # Validators from the last full fetch, sent as If-None-Match / If-Modified-Since; set by the
    # run from its feed state, never by users.
    etag: str | None = None
    last_modified: str | None = None
    cache_path: str | None = None  # where the body of the last full fetch is kept


@dataclasses.dataclass(frozen=True)
class FeedStatus:
    """What happened to one feed in a run; feeds the run manifest and the feed state."""

    feed_url: str
    outcome: str  # "ok", "not_modified" (served from cache) or "failed"
    entries: int = 0
    http_status: int | None = None
    etag: str | None = None
    last_modified: str | None = None
    error_type: str | None = None
    cached_body: str | None = None  # path of the body written aside for the next run


@dataclasses.dataclass(frozen=True)
class FeedEntry:
    """One item of a parsed feed; ``url`` and ``id`` are set by the canonicalize stage."""

    feed_url: str
    feed_name: str
    link: str
    guid: str = ""
    title: str = ""
    summary: str = ""
    content: str = ""
    published: dt.datetime | None = None
    # Atom <updated>, JSON Feed date_modified, sitemap <lastmod>: feeds ``Article.modified_at``.
    updated: dt.datetime | None = None
    authors: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    feed_language: str | None = None
    feed_topic: str | None = None
    url: str = ""
    id: str = ""


@dataclasses.dataclass(frozen=True)
class FetchedPage:
    """The raw answer for one article URL, bytes untouched so the extractor sees the charset."""

    entry: FeedEntry
    final_url: str
    http_status: int
    content_type: str
    charset: str | None
    body: bytes
    fetched_at: dt.datetime
    # What the archive (transforms/storage/archive.py) keeps besides the body: the answer's
    # status line and headers as the server sent them, and the URLs redirected from, in order.
    headers: tuple[tuple[str, str], ...] = ()
    reason: str = ""
    http_version: str = "HTTP/1.1"
    redirects: tuple[str, ...] = ()


class Image(NamedTuple):
    """One picture of an article, from the page's markup (:mod:`transforms.text.images`)."""

    url: str
    caption: str = ""
    credit: str = ""
    alt: str = ""
    is_lead: bool = False


@dataclasses.dataclass(frozen=True)
class Article:
    """One output row. Fields not in ARTICLE_SCHEMA (the ``feed_*`` hints) are never written."""

    id: str
    url: str
    final_url: str
    feed_url: str
    source: str
    title: str
    summary: str
    text: str
    text_source: str  # "page" or "feed"
    fetched_at: dt.datetime
    authors: tuple[str, ...] = ()
    agencies: tuple[str, ...] = ()  # news agencies credited in the byline (dpa, AFP, Reuters …)
    published_at: dt.datetime | None = None
    is_paywalled: bool | None = None  # None: the page does not say
    language: str | None = None
    language_score: float | None = None
    topic: str | None = None
    topic_label: str | None = None
    topic_score: float | None = None
    topics: tuple[str, ...] = ()
    topic_scores: tuple[float, ...] = ()
    topic_source: str | None = None
    image_credits: tuple[str, ...] = ()
    image_captions: tuple[str, ...] = ()
    images: tuple[Image, ...] = ()  # page order; the lead image has is_lead
    modified_at: dt.datetime | None = None  # last modification the page/feed states; None: silent
    canonical_url: str | None = None  # the page's canonical URL on the same registrable domain
    removed_lines: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    sections: tuple[str, ...] = ()  # the page's own sections (articleSection, breadcrumbs …)
    word_count: int = 0
    content_hash: str | None = None  # 64-bit simhash of the text, hex; near-equal texts are close
    duplicate_of: str | None = None  # id of the first article with (nearly) the same text
    feed_language: str | None = None
    feed_topic: str | None = None
    page_keywords: tuple[str, ...] = ()  # the page's keyword tags: topic evidence, not written


@dataclasses.dataclass(frozen=True)
class DeadLetter:
    """Why one input could not become an article; written to the dead_letter sink."""

    stage: str
    url: str
    error_type: str
    error_message: str
    failed_at: dt.datetime
    http_status: int | None = None
    feed_url: str | None = None
    # The refused answer (a 404, a PDF …) on its way to the archive; never written, and dropped
    # from the dead letter once the archive has it.
    page: FetchedPage | None = None


_TS = pa.timestamp("us", tz="UTC")
_STRINGS = pa.list_(pa.string())
IMAGE_TYPE = pa.struct(
    [
        pa.field("url", pa.string()),
        pa.field("caption", pa.string()),
        pa.field("credit", pa.string()),
        pa.field("alt", pa.string()),
        pa.field("is_lead", pa.bool_()),
    ]
)

ARTICLE_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("url", pa.string(), nullable=False),
        pa.field("final_url", pa.string(), nullable=False),
        pa.field("feed_url", pa.string(), nullable=False),
        pa.field("source", pa.string()),
        pa.field("title", pa.string()),
        pa.field("summary", pa.string()),
        pa.field("text", pa.string()),
        pa.field("text_source", pa.string(), nullable=False),
        pa.field("authors", _STRINGS),
        pa.field("agencies", _STRINGS),
        pa.field("published_at", _TS),
        pa.field("is_paywalled", pa.bool_()),
        pa.field("fetched_at", _TS, nullable=False),
        pa.field("language", pa.string()),
        pa.field("language_score", pa.float64()),
        pa.field("topic", pa.string()),
        pa.field("topic_label", pa.string()),
        pa.field("topic_score", pa.float64()),
        pa.field("topics", _STRINGS),
        pa.field("topic_scores", pa.list_(pa.float64())),
        pa.field("topic_source", pa.string()),
        pa.field("image_credits", _STRINGS),
        pa.field("image_captions", _STRINGS),
        pa.field("images", pa.list_(IMAGE_TYPE)),
        pa.field("modified_at", _TS),
        pa.field("canonical_url", pa.string()),
        pa.field("removed_lines", _STRINGS),
        pa.field("tags", _STRINGS),
        pa.field("sections", _STRINGS),
        pa.field("word_count", pa.int64(), nullable=False),
        pa.field("content_hash", pa.string()),
        pa.field("duplicate_of", pa.string()),
    ],
    metadata=SCHEMA_METADATA,
)

DEAD_LETTER_SCHEMA = pa.schema(
    [
        pa.field("stage", pa.string(), nullable=False),
        pa.field("url", pa.string(), nullable=False),
        pa.field("error_type", pa.string(), nullable=False),
        pa.field("error_message", pa.string(), nullable=False),
        pa.field("http_status", pa.int64()),
        pa.field("failed_at", _TS, nullable=False),
        pa.field("feed_url", pa.string()),
    ],
    metadata=SCHEMA_METADATA,
)


def _to_column(value: Any) -> Any:
    # pyarrow takes lists, not tuples, for list<...> columns, and dicts for structs.
    if isinstance(value, Image):
        return value._asdict()
    return [_to_column(v) for v in value] if isinstance(value, tuple) else value


def to_row(record: Article | DeadLetter) -> dict[str, Any]:
    """The sink row of a record: exactly the columns of its schema, in schema order."""
    schema = ARTICLE_SCHEMA if isinstance(record, Article) else DEAD_LETTER_SCHEMA
    return {name: _to_column(getattr(record, name)) for name in schema.names}


def utc_now() -> dt.datetime:
    """Current time in UTC truncated to microseconds, the resolution the sinks keep."""
    return dt.datetime.now(UTC)
