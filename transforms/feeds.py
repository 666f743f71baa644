"""Fetch feeds and parse them into entries.

Input: ``FeedSpec``. Output: ``FeedEntry`` per feed item (``ok``) and ``DeadLetter`` (``dead``).
Counters (namespace ``feeds``): ``in``, ``ok``, ``entries``, ``bozo``, ``http:<status>``,
``filtered:no_link``.
Dead letters (stage ``fetch_feed``): transport failures, non-2xx statuses, oversize bodies;
(stage ``parse_feed``): bytes that are not a feed.

feedparser gets the raw bytes plus the HTTP headers, never decoded text: it must see the XML
declaration and the HTTP charset to pick the encoding the way the publisher meant it.
"""

from __future__ import annotations

import calendar
import datetime as dt
import html
import re
from collections.abc import Iterator, Mapping
from typing import Any

import apache_beam as beam
import feedparser

from transforms.deadletter import DEAD, ParDoWithDeadLetters, dead_letter
from transforms.http import FetchError, HttpConfig, fetch, make_client
from transforms.records import UTC, DeadLetter, FeedEntry, FeedSpec

_TAG_RE = re.compile(r"<[^>]+>")
_SPACE_RE = re.compile(r"\s+")
# Feed dates before this are typos or epoch defaults, not publication times.
_EARLIEST_PLAUSIBLE = dt.datetime(1995, 1, 1, tzinfo=UTC)


class NotAFeedError(Exception):
    """The bytes parsed to nothing feed-like (an HTML page, garbage, truncated XML)."""


def html_to_text(fragment: str) -> str:
    """Feed summaries are HTML fragments; tags out, entities decoded, whitespace folded."""
    return _SPACE_RE.sub(" ", html.unescape(_TAG_RE.sub(" ", fragment or ""))).strip()


def _entry_time(entry: Mapping[str, Any], now: dt.datetime) -> dt.datetime | None:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        parsed = entry.get(key)
        if parsed:
            # feedparser normalizes to UTC struct_time; timegm reads it as UTC.
            when = dt.datetime.fromtimestamp(calendar.timegm(parsed), tz=UTC)
            if _EARLIEST_PLAUSIBLE <= when <= now + dt.timedelta(days=2):
                return when
            return None
    return None


def _authors(entry: Mapping[str, Any]) -> tuple[str, ...]:
    names = [a.get("name", "").strip() for a in entry.get("authors") or [] if a.get("name")]
    if not names and entry.get("author"):
        names = [entry["author"].strip()]
    return tuple(dict.fromkeys(n for n in names if n))


def _content(entry: Mapping[str, Any]) -> str:
    parts = [c.get("value", "") for c in entry.get("content") or []]
    return html_to_text(" ".join(parts))


def parse_feed(
    body: bytes, headers: Mapping[str, str], spec: FeedSpec, now: dt.datetime
) -> tuple[list[FeedEntry], int, bool]:
    """Parse feed bytes → (entries, entries without a link, bozo flag).

    Raises NotAFeedError when nothing feed-like came out of the bytes.
    """
    parsed = feedparser.parse(body, response_headers={k.lower(): v for k, v in headers.items()})
    if not parsed.entries and (parsed.bozo or not parsed.get("version")):
        reason = parsed.get("bozo_exception") or "no feed version detected and no entries"
        raise NotAFeedError(f"not a feed: {reason}")
    feed_title = html_to_text(parsed.feed.get("title", ""))
    name = spec.name or feed_title
    language = spec.language or (parsed.feed.get("language") or "").split("-")[0].lower() or None
    entries: list[FeedEntry] = []
    no_link = 0
    for item in parsed.entries:
        link = (item.get("link") or "").strip()
        if not link:
            no_link += 1
            continue
        entries.append(
            FeedEntry(
                feed_url=spec.url,
                feed_name=name,
                link=link,
                guid=(item.get("id") or "").strip(),
                title=html_to_text(item.get("title", "")),
                summary=html_to_text(item.get("summary", "")),
                content=_content(item),
                published=_entry_time(item, now),
                authors=_authors(item),
                tags=tuple(t.get("term", "").strip() for t in item.get("tags") or [] if t.get("term")),
                feed_language=language,
                feed_topic=spec.topic,
            )
        )
    return entries, no_link, bool(parsed.bozo)


class _FetchFeedFn(beam.DoFn):
    def __init__(self, http: HttpConfig) -> None:
        self._http = http
        self._client = None

    def setup(self) -> None:
        self._client = make_client(self._http, max_connections=8)
        ns = "feeds"
        self._in = beam.metrics.Metrics.counter(ns, "in")
        self._ok = beam.metrics.Metrics.counter(ns, "ok")
        self._entries = beam.metrics.Metrics.counter(ns, "entries")
        self._bozo = beam.metrics.Metrics.counter(ns, "bozo")
        self._no_link = beam.metrics.Metrics.counter(ns, "filtered:no_link")
        self._dead = beam.metrics.Metrics.counter(ns, "dead_letter")

    def teardown(self) -> None:
        if self._client is not None:
            self._client.close()

    def _fail(self, letter: DeadLetter) -> beam.pvalue.TaggedOutput:
        self._dead.inc()
        return beam.pvalue.TaggedOutput(DEAD, letter)

    def process(self, spec: FeedSpec) -> Iterator[Any]:
        self._in.inc()
        try:
            response = fetch(self._client, spec.url, self._http)
        except FetchError as exc:
            yield self._fail(
                dead_letter("fetch_feed", spec.url, exc.error_type, str(exc), exc.http_status, spec.url)
            )
            return
        beam.metrics.Metrics.counter("feeds", f"http:{response.status}").inc()
        if not 200 <= response.status < 300:
            yield self._fail(
                dead_letter(
                    "fetch_feed", spec.url, "http_error", f"HTTP {response.status}",
                    response.status, spec.url,
                )
            )
            return
        now = dt.datetime.now(UTC)
        try:
            entries, no_link, bozo = parse_feed(response.body, response.headers, spec, now)
        except NotAFeedError as exc:
            yield self._fail(
                dead_letter("parse_feed", spec.url, "not_a_feed", str(exc), response.status, spec.url)
            )
            return
        self._ok.inc()
        self._bozo.inc(int(bozo))
        # Entries without a link are counted as entries too, so that the accounting adds up.
        self._entries.inc(len(entries) + no_link)
        self._no_link.inc(no_link)
        yield from entries


class FetchFeeds(beam.PTransform):
    """``FeedSpec`` → (``FeedEntry`` ok, ``DeadLetter`` dead)."""

    def __init__(self, http: HttpConfig) -> None:
        super().__init__()
        self._http = http

    def expand(self, specs):
        spread = specs | "SpreadFeeds" >> beam.Reshuffle()
        return spread | "FetchAndParse" >> ParDoWithDeadLetters(_FetchFeedFn(self._http), "fetch_feed")
