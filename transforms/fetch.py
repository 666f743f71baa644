"""Fetch article pages: concurrent across hosts, bounded per host.

Input: distinct ``FeedEntry`` (with canonical ``url``). Output: ``FetchedPage`` (``ok``) and
``DeadLetter`` (``dead``, stage ``fetch_article``).
Counters (namespace ``fetch``): ``in``, ``ok``, ``http:<status>``, ``error:<type>``.
Dead letters: transport errors and timeouts, non-2xx statuses, bodies over the size cap, content
that is not HTML (PDFs, images, JSON …), refused hosts.

Elements are fetched in batches by a thread pool; the per-host semaphore keeps a worker from
opening more than ``per_host`` connections to one publisher however the batch is composed.
"""

from __future__ import annotations

import threading
import urllib.parse
from collections import defaultdict
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor

import apache_beam as beam
from pydantic import BaseModel, ConfigDict, Field

from transforms.deadletter import DEAD, ParDoWithDeadLetters, dead_letter
from transforms.http import FetchError, HttpConfig, Response, fetch, make_client
from transforms.records import DeadLetter, FeedEntry, FetchedPage, utc_now

HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
# Servers that send no or a generic type still often send HTML; look at the first bytes.
_SNIFF_TYPES = frozenset({"", "application/octet-stream", "text/plain", "binary/octet-stream"})


class FetchConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    http: HttpConfig = HttpConfig()
    concurrency: int = Field(default=16, gt=0)
    per_host: int = Field(default=2, gt=0)
    batch_size: int = Field(default=64, gt=0)


def looks_like_html(body: bytes) -> bool:
    head = body[:1024].lstrip().lower()
    return head.startswith((b"<!doctype html", b"<html")) or b"<html" in head or b"<body" in head


def check_page(response: Response) -> FetchError | None:
    """Why a response is not an article page, or None when it is one."""
    if not 200 <= response.status < 300:
        return FetchError("http_error", f"HTTP {response.status}", response.status)
    if not response.body.strip():
        return FetchError("empty_body", "empty response body", response.status)
    media = response.content_type
    if media in HTML_TYPES:
        return None
    if media in _SNIFF_TYPES and looks_like_html(response.body):
        return None
    return FetchError(
        "unsupported_content_type",
        f"content type {media or 'missing'!r} is not HTML",
        response.status,
    )


def host_of(url: str) -> str:
    return urllib.parse.urlsplit(url).netloc


class _FetchBatchFn(beam.DoFn):
    def __init__(self, cfg: FetchConfig) -> None:
        self._cfg = cfg

    def setup(self) -> None:
        self._client = make_client(self._cfg.http, max_connections=self._cfg.concurrency)
        self._pool = ThreadPoolExecutor(self._cfg.concurrency, thread_name_prefix="newsbeam-fetch")
        self._host_locks: dict[str, threading.Semaphore] = defaultdict(
            lambda: threading.Semaphore(self._cfg.per_host)
        )
        self._locks_guard = threading.Lock()
        self._in = beam.metrics.Metrics.counter("fetch", "in")
        self._ok = beam.metrics.Metrics.counter("fetch", "ok")

    def teardown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._client.close()

    def _host_lock(self, url: str) -> threading.Semaphore:
        with self._locks_guard:
            return self._host_locks[host_of(url)]

    def _fetch_one(self, entry: FeedEntry) -> FetchedPage | DeadLetter:
        try:
            with self._host_lock(entry.url):
                response = fetch(self._client, entry.url, self._cfg.http)
            problem = check_page(response)
        except FetchError as exc:
            problem = exc
            response = None
        except Exception as exc:  # noqa: BLE001 - untrusted servers may break httpx in odd ways
            problem = FetchError(type(exc).__name__, str(exc) or repr(exc))
            response = None
        if problem is not None:
            return dead_letter(
                "fetch_article", entry.url, problem.error_type, str(problem),
                problem.http_status, entry.feed_url,
            )
        return FetchedPage(
            entry=entry,
            final_url=response.final_url,
            http_status=response.status,
            content_type=response.content_type,
            charset=response.charset,
            body=response.body,
            fetched_at=utc_now(),
        )

    def process(self, batch: Sequence[FeedEntry]) -> Iterator[object]:
        self._in.inc(len(batch))
        for result in self._pool.map(self._fetch_one, batch):
            if isinstance(result, DeadLetter):
                beam.metrics.Metrics.counter("fetch", f"error:{result.error_type}").inc()
                if result.http_status is not None:
                    beam.metrics.Metrics.counter("fetch", f"http:{result.http_status}").inc()
                yield beam.pvalue.TaggedOutput(DEAD, result)
            else:
                self._ok.inc()
                beam.metrics.Metrics.counter("fetch", f"http:{result.http_status}").inc()
                yield result


class FetchArticles(beam.PTransform):
    """Distinct ``FeedEntry`` → (``FetchedPage``, ``DeadLetter``)."""

    def __init__(self, cfg: FetchConfig) -> None:
        super().__init__()
        self._cfg = cfg

    def expand(self, entries):
        batches = (
            entries
            | "SpreadArticles" >> beam.Reshuffle()
            | "Batch"
            >> beam.BatchElements(
                min_batch_size=1, max_batch_size=self._cfg.batch_size
            )
        )
        return batches | "Fetch" >> ParDoWithDeadLetters(_FetchBatchFn(self._cfg), "fetch_article")
