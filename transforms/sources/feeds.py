"""Fetch feeds and parse them into entries.

Input: ``FeedSpec``. Output: ``FeedEntry`` per feed item, ``DeadLetter`` per failed feed, and one
``FeedStatus`` per feed (for the run manifest and the next run's conditional GET).
Formats: RSS 0.9x/1.0/2.0, Atom, JSON Feed, sitemaps with or without the Google News extension
(a sitemap index is followed to its first few sitemaps; ``.xml.gz`` sitemaps are unpacked).
Counters (namespace ``feeds``): ``in``, ``ok``, ``not_modified``, ``entries``, ``bozo``,
``http:<status>``, ``filtered:no_link``.
Dead letters (stage ``fetch_feed``): transport failures, non-2xx statuses, oversize bodies;
(stage ``parse_feed``): bytes that are not a feed.

feedparser gets the raw bytes plus the HTTP headers, never decoded text: it must see the XML
declaration and the HTTP charset to pick the encoding the way the publisher meant it.
"""

from __future__ import annotations

import calendar
import datetime as dt
import hashlib
import html
import re
from collections.abc import Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import apache_beam as beam
import feedparser
from apache_beam.io.filesystem import BeamIOError
from apache_beam.io.filesystems import FileSystems

from transforms import progress
from transforms.storage.deadletter import DEAD, dead_letter
from transforms.sources.feed_formats import (
    FormatError,
    gunzipped,
    merge_sitemaps,
    parse_json_feed,
    parse_sitemap,
    sitemap_index_locations,
    sniff_format,
)
from transforms.sources.feed_safety import UnsafeFeedError, check_feed
from transforms.fetching.http import FetchError, HttpConfig, Response, fetch, make_client
from transforms.fetching.inflight import InFlight, Pending
from transforms.text.metadata import parse_datetime
from transforms.records import UTC, DeadLetter, FeedEntry, FeedSpec, FeedStatus

STATUS = "status"

_TAG_RE = re.compile(r"<[^>]+>")
_SPACE_RE = re.compile(r"\s+")
# Feed dates before this are typos or epoch defaults, not publication times.
_EARLIEST_PLAUSIBLE = dt.datetime(1995, 1, 1, tzinfo=UTC)


class NotAFeedError(Exception):
    """The bytes parsed to nothing feed-like (an HTML page, garbage, truncated XML)."""


def html_to_text(fragment: str) -> str:
    """Feed summaries are HTML fragments; tags out, entities decoded, whitespace folded."""
    return _SPACE_RE.sub(" ", html.unescape(_TAG_RE.sub(" ", fragment or ""))).strip()


def _plausible(when: dt.datetime | None, now: dt.datetime) -> dt.datetime | None:
    """``when`` unless it is an epoch default, a typo or in the future; then unknown."""
    if when is None or not _EARLIEST_PLAUSIBLE <= when <= now + dt.timedelta(days=2):
        return None
    return when


def _entry_time(
    entry: Mapping[str, Any],
    now: dt.datetime,
    keys: tuple[str, ...] = ("published_parsed", "updated_parsed", "created_parsed"),
) -> dt.datetime | None:
    for key in keys:
        parsed = entry.get(key)
        if parsed:
            # feedparser normalizes to UTC struct_time; timegm reads it as UTC.
            return _plausible(dt.datetime.fromtimestamp(calendar.timegm(parsed), tz=UTC), now)
    return None


def _authors(entry: Mapping[str, Any]) -> tuple[str, ...]:
    names = [a.get("name", "").strip() for a in entry.get("authors") or [] if a.get("name")]
    if not names and entry.get("author"):
        names = [entry["author"].strip()]
    return tuple(dict.fromkeys(n for n in names if n))


def _published(value: str | dt.datetime | None, now: dt.datetime) -> dt.datetime | None:
    if isinstance(value, dt.datetime) or value is None:
        return value
    return _plausible(parse_datetime(value), now)


def _feedparser_item(item: Mapping[str, Any], now: dt.datetime) -> dict[str, Any]:
    """A feedparser entry as the neutral item dict every format is turned into."""
    return {
        "link": item.get("link") or "",
        "guid": item.get("id") or "",
        "title": item.get("title", ""),
        "summary": item.get("summary", ""),
        "content": " ".join(c.get("value", "") for c in item.get("content") or []),
        "published": _entry_time(item, now),
        # Atom <updated> (RSS has none): the entry's modification time, kept apart. Read from
        # the dict itself: feedparser's .get("updated_parsed") falls back to the publication
        # time, which must never pass for a modification.
        "updated": _entry_time({"u": dict.get(item, "updated_parsed")}, now, ("u",)),
        "authors": list(_authors(item)),
        "tags": [t.get("term", "").strip() for t in item.get("tags") or [] if t.get("term")],
    }


def _entries_from_items(
    items: list[dict[str, Any]], spec: FeedSpec, name: str, language: str | None, now: dt.datetime
) -> tuple[list[FeedEntry], int]:
    entries, no_link = [], 0
    for item in items:
        if not item["link"].strip():
            no_link += 1
            continue
        entries.append(
            FeedEntry(
                feed_url=spec.url,
                feed_name=name,
                link=item["link"].strip(),
                guid=item["guid"].strip(),
                title=html_to_text(item["title"]),
                summary=html_to_text(item["summary"]),
                content=html_to_text(item["content"]),
                published=_published(item["published"], now),
                updated=_published(item.get("updated"), now),
                authors=tuple(dict.fromkeys(a for a in item["authors"] if a)),
                tags=tuple(item["tags"]),
                feed_language=language,
                feed_topic=spec.topic,
            )
        )
    return entries, no_link


def _language(spec: FeedSpec, declared: str | None) -> str | None:
    return spec.language or (declared or "").split("-")[0].strip().lower() or None


def parse_feed(
    body: bytes, headers: Mapping[str, str], spec: FeedSpec, now: dt.datetime
) -> tuple[list[FeedEntry], int, bool]:
    """Parse feed bytes (RSS, Atom, RDF, JSON Feed or a sitemap) → (entries, linkless, bozo).

    Raises NotAFeedError when nothing feed-like came out of the bytes, UnsafeFeedError for
    external entities or entity bombs.
    """
    try:
        body = gunzipped(body)  # sitemap.xml.gz
    except FormatError as exc:
        raise NotAFeedError(f"not a feed: {exc}") from None
    check_feed(body)  # entity bombs and external entities never reach a parser
    kind = sniff_format(body)
    if kind in ("json", "sitemap"):
        try:
            title, declared, items = (parse_json_feed if kind == "json" else parse_sitemap)(body)
        except FormatError as exc:
            raise NotAFeedError(f"not a feed: {exc}") from None
        entries, no_link = _entries_from_items(
            items, spec, spec.name or title, _language(spec, declared), now
        )
        return entries, no_link, False
    if kind == "sitemapindex":
        raise NotAFeedError("a sitemap index lists sitemaps, not articles")
    parsed = feedparser.parse(body, response_headers={k.lower(): v for k, v in headers.items()})
    if not parsed.entries and (parsed.bozo or not parsed.get("version")):
        reason = parsed.get("bozo_exception") or "no feed version detected and no entries"
        raise NotAFeedError(f"not a feed: {reason}")
    name = spec.name or html_to_text(parsed.feed.get("title", ""))
    language = _language(spec, parsed.feed.get("language"))
    items = [_feedparser_item(item, now) for item in parsed.entries]
    entries, no_link = _entries_from_items(items, spec, name, language, now)
    return entries, no_link, bool(parsed.bozo)


def _gunzipped_or_raw(body: bytes) -> bytes:
    # A broken gzip file stays as it is: parse_feed dead-letters it with the reason.
    try:
        return gunzipped(body)
    except FormatError:
        return body


def cache_name(feed_url: str) -> str:
    """File name under which a feed's last full body is kept between runs."""
    return hashlib.sha256(feed_url.encode("utf-8")).hexdigest()[:32] + ".body"


def conditional_headers(spec: FeedSpec) -> dict[str, str]:
    """Validators to send, only when the body they stand for is still at hand."""
    if not spec.cache_path:
        return {}
    headers = {}
    if spec.etag:
        headers["If-None-Match"] = spec.etag
    if spec.last_modified:
        headers["If-Modified-Since"] = spec.last_modified
    return headers


class _FetchFeedFn(beam.DoFn):
    """Downloads feeds on a thread pool, ``concurrency`` at a time, and parses each one on the
    bundle's thread when it has arrived (a plain ParDo, as in the article fetch stage: results
    leave in later calls with their own element's window; nothing raises out of ``_finish``)."""

    def __init__(
        self, http: HttpConfig, cache_dir: str | None, max_child_sitemaps: int, concurrency: int
    ) -> None:
        self._http = http
        self._cache_dir = cache_dir
        self._max_children = max_child_sitemaps
        self._concurrency = concurrency
        self._client = None
        self._pool = None

    def setup(self) -> None:
        self._client = make_client(self._http, max_connections=self._concurrency)
        self._pool = ThreadPoolExecutor(self._concurrency, thread_name_prefix="newsbeam-feeds")
        ns = "feeds"
        self._in = beam.metrics.Metrics.counter(ns, "in")
        self._ok = beam.metrics.Metrics.counter(ns, "ok")
        self._not_modified = beam.metrics.Metrics.counter(ns, "not_modified")
        self._entries = beam.metrics.Metrics.counter(ns, "entries")
        self._bozo = beam.metrics.Metrics.counter(ns, "bozo")
        self._no_link = beam.metrics.Metrics.counter(ns, "filtered:no_link")
        self._dead = beam.metrics.Metrics.counter(ns, "dead_letter")

    def teardown(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
        if self._client is not None:
            self._client.close()

    def start_bundle(self) -> None:
        self._pending = InFlight()

    def process(
        self, spec: FeedSpec, timestamp=beam.DoFn.TimestampParam, window=beam.DoFn.WindowParam
    ) -> Iterator[Any]:
        self._in.inc()
        self._pending.add(self._pool.submit(self._download, spec), timestamp, window, spec)
        full = len(self._pending) >= self._concurrency
        done = self._pending.next_done(block=full)
        while done is not None:
            yield from self._finish(done)
            done = self._pending.next_done(block=False)

    def finish_bundle(self) -> Iterator[Any]:
        for done in self._pending.drain():
            yield from self._finish(done)

    def _download(self, spec: FeedSpec) -> tuple[Response, bytes, bool]:
        """On a pool thread: (response, body, served from the cache); failures raise from the
        future where ``_parse`` reads it."""
        response, body, cached = self._fetch_body(spec)
        if 200 <= response.status < 300:
            inner = _gunzipped_or_raw(body)
            if sniff_format(inner) == "sitemapindex":
                body = self._children(inner)
        return response, body, cached

    def _finish(self, done: Pending) -> Iterator[Any]:
        spec = done.element
        try:
            outputs = list(self._parse(spec, done.future))
        except Exception as exc:  # noqa: BLE001 - a hostile feed may break a parser in odd ways
            letter = dead_letter("fetch_feed", spec.url, type(exc).__name__, repr(exc), None, spec.url)
            outputs = list(self._fail(spec, letter))
        yield from map(done.windowed, outputs)

    def _fail(self, spec: FeedSpec, letter: DeadLetter) -> Iterator[Any]:
        self._dead.inc()
        progress.tick("feeds")
        progress.tick("feeds_failed")
        yield beam.pvalue.TaggedOutput(DEAD, letter)
        yield beam.pvalue.TaggedOutput(
            STATUS,
            FeedStatus(spec.url, "failed", 0, letter.http_status, error_type=letter.error_type),
        )

    def _fetch_body(self, spec: FeedSpec) -> tuple[Response, bytes, bool]:
        """(response, body, served_from_cache). A 304 is answered from the cached body."""
        response = fetch(self._client, spec.url, self._http, headers=conditional_headers(spec))
        if response.status == 304 and spec.cache_path:
            try:
                with FileSystems.open(spec.cache_path) as handle:
                    return response, handle.read(), True
            except (OSError, BeamIOError):
                # The cache is gone: ask again without validators.
                response = fetch(self._client, spec.url, self._http)
        return response, response.body, False

    def _children(self, body: bytes) -> bytes:
        """A sitemap index: fetch its first sitemaps and hand their <url> lists on as one."""
        parts = []
        for loc in sitemap_index_locations(body, self._max_children):
            child = fetch(self._client, loc, self._http)
            if 200 <= child.status < 300:
                parts.append(_gunzipped_or_raw(child.body))
        return merge_sitemaps(parts)

    def _keep(self, spec: FeedSpec, response: Response, body: bytes) -> str | None:
        # Without validators the next run cannot ask conditionally; keeping the body is useless.
        if not self._cache_dir or not (
            response.headers.get("etag") or response.headers.get("last-modified")
        ):
            return None
        path = FileSystems.join(self._cache_dir, cache_name(spec.url))
        with FileSystems.create(path) as handle:
            handle.write(body)
        return path

    def _parse(self, spec: FeedSpec, download: Future) -> Iterator[Any]:
        try:
            response, body, cached = download.result()
        except FetchError as exc:
            yield from self._fail(
                spec,
                dead_letter(
                    "fetch_feed", spec.url, exc.error_type, str(exc), exc.http_status, spec.url
                ),
            )
            return
        beam.metrics.Metrics.counter("feeds", f"http:{response.status}").inc()
        if not cached and not 200 <= response.status < 300:
            yield from self._fail(
                spec,
                dead_letter(
                    "fetch_feed",
                    spec.url,
                    "http_error",
                    f"HTTP {response.status}",
                    response.status,
                    spec.url,
                ),
            )
            return
        try:
            entries, no_link, bozo = parse_feed(body, response.headers, spec, dt.datetime.now(UTC))
        except UnsafeFeedError as exc:
            yield from self._fail(
                spec,
                dead_letter("parse_feed", spec.url, "unsafe_feed", str(exc), response.status, spec.url),
            )
            return
        except NotAFeedError as exc:
            yield from self._fail(
                spec,
                dead_letter(
                    "parse_feed", spec.url, "not_a_feed", str(exc), response.status, spec.url
                ),
            )
            return
        self._ok.inc()
        progress.tick("feeds")
        progress.tick("entries", len(entries) + no_link)
        self._not_modified.inc(int(cached))
        self._bozo.inc(int(bozo))
        # Entries without a link are counted as entries too, so that the accounting adds up.
        self._entries.inc(len(entries) + no_link)
        self._no_link.inc(no_link)
        yield from entries
        yield beam.pvalue.TaggedOutput(
            STATUS,
            FeedStatus(
                feed_url=spec.url,
                outcome="not_modified" if cached else "ok",
                entries=len(entries) + no_link,
                http_status=response.status,
                etag=spec.etag if cached else response.headers.get("etag"),
                last_modified=spec.last_modified
                if cached
                else response.headers.get("last-modified"),
                cached_body=spec.cache_path if cached else self._keep(spec, response, body),
            ),
        )


class FetchFeeds(beam.PTransform):
    """``FeedSpec`` → (``FeedEntry``, ``DeadLetter``, ``FeedStatus``).

    ``cache_dir``: where this run keeps each feed's body for the next run's conditional GET
    (None: keep nothing, send no validators). ``spread``: reshuffle the feeds over workers first;
    see ``FetchArticles`` for why streaming on the DirectRunner turns it off. ``concurrency``:
    feeds downloaded at once per worker (one after another, a hundred feeds at a few hundred
    milliseconds each would hold the run up for half a minute before the first article).
    """

    def __init__(
        self,
        http: HttpConfig,
        cache_dir: str | None = None,
        max_child_sitemaps: int = 5,
        spread: bool = True,
        concurrency: int = 8,
    ) -> None:
        super().__init__()
        self._http = http
        self._cache_dir = cache_dir
        self._max_children = max_child_sitemaps
        self._spread = spread
        self._concurrency = concurrency

    def expand(self, specs):
        spread = specs | "SpreadFeeds" >> beam.Reshuffle() if self._spread else specs
        fn = _FetchFeedFn(self._http, self._cache_dir, self._max_children, self._concurrency)
        results = spread | "FetchAndParse" >> beam.ParDo(fn).with_output_types(
            Any, **{DEAD: DeadLetter, STATUS: FeedStatus}
        ).with_outputs(DEAD, STATUS, main="ok")
        return results["ok"], results[DEAD], results[STATUS]
