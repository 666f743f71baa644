"""Read WARC files (ISO 28500) as fetched pages: replay an archive instead of fetching live.

Input: file paths (one element per WARC file, so runners spread files over workers), opened
through Beam's FileSystems (local paths, ``gs://``, ``s3://`` …). Output: ``FetchedPage``
(``ok``); ``DeadLetter`` (``dead``, stage ``read_warc``) for a file that is damaged (cut short,
corrupt gzip, not WARC), naming the file and the byte offset where the damage starts — the
records before it are still read; and ``(url, date)`` pairs (``dates``) saying under which
date each page, and each damaged file, belongs.

Records are read as a stream, one gzip member at a time (warcio; BENCHMARKS.md says why), never
a whole file in memory; a body is read up to ``max_bytes``.
Which ``response`` records become pages: HTTP 2xx, HTML (the fetch stage's own test), within
``hosts`` and ``since``/``until`` when given. The rest is skipped and counted.

The entry of a page: from the ``metadata`` record newsbeam's archive writes beside each
response (transforms/storage/archive.py), so a replayed page has the id, URL, feed and
``fetched_at`` of the original fetch; for another tool's archive, the canonical form of
WARC-Target-URI and WARC-Date as the fetch time, the file's path standing in for the feed.

Counters (namespace ``warc``): ``files``, ``records``, ``pages``, ``damaged``,
``skipped:<reason>`` with reasons ``request``, ``revisit``, ``metadata``, ``warcinfo``,
``resource``, ``conversion`` … (other record types), ``http_<status>`` (not 2xx), ``not_html``,
``empty``, ``too_large``, ``host``, ``date``, ``bad_url``, ``no_date``, ``not_http``,
``bad_encoding`` (a Content-Encoding that cannot be undone).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Iterable, Iterator
from typing import Any, BinaryIO

import apache_beam as beam
from pydantic import BaseModel, ConfigDict, Field

from transforms.fetching.fetch import check_page
from transforms.fetching.http import Response, parse_content_type
from transforms.records import UTC, DeadLetter, FeedEntry, FetchedPage
from transforms.sources.canonicalize import BadLinkError, article_id, canonical_url
from transforms.storage.archive import METADATA_TYPE, entry_from_json
from transforms.storage.deadletter import DEAD, dead_letter

DATES = "dates"  # tag of the (url, partition date) pairs
STAGE = "read_warc"
_CHUNK = 1024 * 1024


class WarcConfig(BaseModel):
    """Which records of the archives to read."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    hosts: tuple[str, ...] = ()  # hosts or registrable domains to keep; empty keeps all
    since: dt.date | None = None  # first record date kept (UTC)
    until: dt.date | None = None  # last record date kept (UTC)
    max_bytes: int = Field(default=10 * 1024 * 1024, gt=0)  # a longer body is skipped


@dataclasses.dataclass(frozen=True)
class Skip:
    """A record deliberately not read as a page; counted as ``skipped:<reason>``."""

    reason: str


@dataclasses.dataclass(frozen=True)
class Damage:
    """Where a file stops being readable; what was read before it stays valid."""

    offset: int
    message: str
    date: str | None  # of the last record read before it, if any


def parse_warc_date(value: str | None) -> dt.datetime | None:
    """``2026-11-24T08:15:00Z`` or with fractions (WARC/1.1) → aware UTC datetime."""
    if not value:
        return None
    text = value.strip().replace("Z", "+00:00")
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def host_allowed(url: str, hosts: Iterable[str]) -> bool:
    """True when ``url``'s host is one of ``hosts`` or below one (``example.com`` keeps
    ``www.example.com`` and ``news.example.com``, not ``badexample.com``)."""
    import urllib.parse

    host = (urllib.parse.urlsplit(url).hostname or "").lower().rstrip(".")
    for wanted in hosts:
        wanted = wanted.lower().strip().rstrip(".")
        if wanted and (host == wanted or host.endswith("." + wanted)):
            return True
    return False


def parse_hosts(text: str) -> tuple[str, ...]:
    """Host names, one per line or separated by commas or spaces; ``#`` starts a comment."""
    names = []
    for line in text.splitlines():
        line = line.split("#", 1)[0]
        names += [n.strip().lower() for n in line.replace(",", " ").split() if n.strip()]
    return tuple(dict.fromkeys(names))


def _entry_of(uri: str, source: str) -> FeedEntry:
    url = canonical_url(uri)
    return FeedEntry(feed_url=source, feed_name="", link=uri, url=url, id=article_id(url))


def _date_ok(when: dt.datetime, cfg: WarcConfig) -> bool:
    day = when.date()
    return (cfg.since is None or day >= cfg.since) and (cfg.until is None or day <= cfg.until)


def _read_body(record: Any, cap: int) -> tuple[bytes | None, bool]:
    """The decoded HTTP body (up to ``cap + 1`` bytes; None when its Content-Encoding cannot be
    undone) and whether the record is complete: a member cut short ends before the length its
    WARC header gives."""
    try:
        body = record.content_stream().read(cap + 1)
    except Exception:  # noqa: BLE001 - an archived server's encoding, e.g. an unknown codec
        body = None
    return body, _drained(record)


def _drained(record: Any) -> bool:
    """Read what is left of a record's block, a chunk at a time; False when it ends early."""
    raw = record.raw_stream
    while raw.read(_CHUNK):
        pass
    return raw.limit <= 0


def _as_page(record: Any, body: bytes, source: str, cfg: WarcConfig) -> FetchedPage | Skip:
    headers = record.rec_headers
    uri = (headers.get_header("WARC-Target-URI") or "").strip().strip("<>")
    when = parse_warc_date(headers.get_header("WARC-Date"))
    if when is None:
        return Skip("no_date")
    if not _date_ok(when, cfg):
        return Skip("date")
    if cfg.hosts and not host_allowed(uri, cfg.hosts):
        return Skip("host")
    http = record.http_headers
    if http is None:
        return Skip("not_http")
    try:
        status = int(http.get_statuscode() or 0)
    except ValueError:
        return Skip("not_http")
    if len(body) > cfg.max_bytes:
        return Skip("too_large")
    media, charset = parse_content_type(http.get_header("Content-Type"))
    response = Response(uri, uri, status, media, charset, {}, body)
    problem = check_page(response)
    if problem is not None:
        reason = {"http_error": f"http_{status}", "empty_body": "empty"}.get(problem.error_type, "not_html")
        return Skip(reason)
    try:
        entry = _entry_of(uri, source)
    except BadLinkError:
        return Skip("bad_url")
    protocol = http.protocol or "HTTP/1.1"
    return FetchedPage(
        entry=entry, final_url=uri, http_status=status, content_type=media, charset=charset,
        body=body, fetched_at=when, headers=tuple(http.headers),
        reason=(http.statusline or "").partition(" ")[2], http_version=protocol,
    )


def _with_metadata(page: FetchedPage, record: Any) -> FetchedPage:
    """The page as newsbeam fetched it: the entry, redirects and fetch time its metadata keeps."""
    data = json.loads(record.content_stream().read().decode("utf-8"))
    return dataclasses.replace(
        page,
        entry=entry_from_json(data["entry"]),
        redirects=tuple(data.get("redirects") or ()),
        fetched_at=dt.datetime.fromisoformat(data["fetched_at"]),
    )


def read_records(stream: BinaryIO, source: str, cfg: WarcConfig) -> Iterator[FetchedPage | Skip | Damage]:
    """Pages and skips of one WARC stream, in file order, then a Damage if it ends badly.

    A response is held until the next record is read, as newsbeam's metadata record for it
    follows it; nothing else is kept."""
    from warcio.archiveiterator import ArchiveIterator

    iterator = ArchiveIterator(stream)
    held: tuple[FetchedPage, str] | None = None  # (page, its WARC-Record-ID)
    last_date: str | None = None
    try:
        for record in iterator:
            kind = record.rec_type
            headers = record.rec_headers
            when = parse_warc_date(headers.get_header("WARC-Date"))
            if kind == "metadata" and held and headers.get_header("Content-Type") == METADATA_TYPE \
                    and headers.get_header("WARC-Concurrent-To") == held[1]:
                page = _with_metadata(held[0], record)
                held = None
                yield page
                continue
            if held:
                yield held[0]
                held = None
            if kind == "response":
                body, complete = _read_body(record, cfg.max_bytes)
            else:
                body, complete = None, _drained(record)
            if not complete:
                yield Damage(iterator.get_record_offset(), "record cut short (truncated file)", last_date)
                return
            last_date = when.date().isoformat() if when else last_date
            if kind != "response":
                yield Skip(kind or "unknown")
                continue
            outcome = Skip("bad_encoding") if body is None else _as_page(record, body, source, cfg)
            if isinstance(outcome, Skip):
                yield outcome
            else:
                held = (outcome, headers.get_header("WARC-Record-ID"))
        if held:
            yield held[0]
            held = None
        end = iterator.offset
        trailing = 0
        while chunk := stream.read(_CHUNK):
            trailing += len(chunk)
        if trailing:
            yield Damage(end, f"{trailing} bytes after the last complete record cannot be read", last_date)
    except Exception as exc:  # noqa: BLE001 - archives are untrusted input: any failure is damage
        if held:
            yield held[0]
        why = " ".join(str(exc).split())[:200]
        yield Damage(iterator.offset, f"{type(exc).__name__}: {why}", last_date)


def damage_letter(path: str, damage: Damage, pages: int) -> DeadLetter:
    return dead_letter(
        STAGE, path, "warc_damaged",
        f"{path}: damaged at byte offset {damage.offset}: {damage.message}; "
        f"{pages} pages before it were read", None, path,
    )


class _ReadWarcFn(beam.DoFn):
    def __init__(self, cfg: WarcConfig, date: str | None) -> None:
        self._cfg = cfg
        self._date = date  # every page under this date; None: the record's own date

    def setup(self) -> None:
        self._files = beam.metrics.Metrics.counter("warc", "files")
        self._records = beam.metrics.Metrics.counter("warc", "records")
        self._pages = beam.metrics.Metrics.counter("warc", "pages")
        self._damaged = beam.metrics.Metrics.counter("warc", "damaged")

    def process(self, path: str) -> Iterator[object]:
        from apache_beam.io.filesystem import CompressionTypes
        from apache_beam.io.filesystems import FileSystems

        self._files.inc()
        pages = 0
        # UNCOMPRESSED: the gzip members are warcio's to read (by extension Beam would inflate
        # the whole stream itself and hide the members' offsets).
        with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as stream:
            for item in read_records(stream, path, self._cfg):
                if isinstance(item, Damage):
                    self._damaged.inc()
                    date = self._date or item.date or dt.datetime.now(UTC).date().isoformat()
                    yield beam.pvalue.TaggedOutput(DATES, (path, date))
                    yield beam.pvalue.TaggedOutput(DEAD, damage_letter(path, item, pages))
                    continue
                self._records.inc()
                if isinstance(item, Skip):
                    beam.metrics.Metrics.counter("warc", f"skipped:{item.reason}").inc()
                    continue
                pages += 1
                self._pages.inc()
                date = self._date or item.fetched_at.astimezone(UTC).date().isoformat()
                yield beam.pvalue.TaggedOutput(DATES, (item.entry.url, date))
                yield item


class ReadWarcFiles(beam.PTransform):
    """WARC file paths → (``FetchedPage``, ``DeadLetter``, ``(url, date)``)."""

    def __init__(self, cfg: WarcConfig, date: str | None = None) -> None:
        super().__init__()
        self._cfg = cfg
        self._date = date

    def expand(self, paths):
        spread = paths | "SpreadFiles" >> beam.Reshuffle()
        results = spread | "Read" >> beam.ParDo(_ReadWarcFn(self._cfg, self._date)).with_outputs(
            DEAD, DATES, main="ok"
        )
        return results["ok"], results[DEAD], results[DATES]
