"""Fetch article pages: concurrent across hosts, bounded and polite per host.

Input: distinct ``FeedEntry`` (with canonical ``url``). Output: ``FetchedPage`` (``ok``) and
``DeadLetter`` (``dead``, stage ``fetch_article``).
Counters (namespace ``fetch``): ``in``, ``ok``, ``http:<status>``, ``error:<type>``,
``filtered:robots`` (robots.txt disallows the URL: a deliberate skip, no dead letter),
``robots:fetched`` (robots.txt files loaded by this worker).
With ``archive``, a third output ``raw`` carries every answer received, refused ones (404s,
PDFs …) too, as ``FetchedPage``, for transforms/storage/archive.py.
Dead letters: transport errors and timeouts, non-2xx statuses (after the retries of
:func:`transforms.fetching.http.fetch`), ``retry_after_too_long``, bodies over the size cap (after
decompression), content that is not HTML (PDFs, images, JSON …), refused hosts,
``robots_unavailable`` (the origin's robots.txt answered 5xx: nothing is fetched from it for now).

Each worker keeps up to ``concurrency`` fetches in flight on a thread pool and hands a page on
as soon as it arrives, while the next ones are still on the wire: the stages after this one
(extraction, the CPU cost) run on the bundle's thread in the meantime, so fetching and
extracting overlap and no page waits for the slowest of a batch. Entries wait in one queue per
host and free slots go to hosts in turn, past hosts that have ``per_host`` fetches under way
(a feed lists one site's entries together; taken in order they would all wait on that site).
Per host, a semaphore keeps a worker from opening more than ``per_host`` connections, and a
throttle spaces request starts by ``per_host_delay`` or the robots.txt ``Crawl-delay`` (capped
at ``max_crawl_delay``), whichever is longer. ``per_host_delay`` is ``auto`` by default: twice
the host's recent response time (robots.txt's answer counts), at least ``auto_delay_min``.
See docs/POLITENESS.md.
"""

from __future__ import annotations

import dataclasses
import http
import math
import threading
import time
import urllib.parse
from collections import Counter, OrderedDict, defaultdict, deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Annotated, Literal

import apache_beam as beam
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from transforms.storage.deadletter import DEAD, dead_letter
from transforms.fetching.http import FetchError, HttpConfig, Response, fetch, make_client
from transforms.fetching.inflight import InFlight, Pending
from transforms.fetching.politeness import (
    ALLOW_ALL,
    UNAVAILABLE,
    HostThrottle,
    ResponseTimes,
    Robots,
    RobotsCache,
    auto_spacing,
    healthy_answer,
    robots_from_response,
)
from transforms.fetching.spread import SpreadByHost
from transforms.records import DeadLetter, FeedEntry, FetchedPage, utc_now

RAW = "raw"  # tag of the answers kept for the archive
HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
# Servers that send no or a generic type still often send HTML; look at the first bytes.
_SNIFF_TYPES = frozenset({"", "application/octet-stream", "text/plain", "binary/octet-stream"})


def _delay_setting(value: object) -> object:
    """``per_host_delay`` as written in a config: "auto" or seconds (one clear message otherwise)."""
    if value == "auto":
        return value
    if not isinstance(value, bool):
        try:
            seconds = float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            seconds = math.nan
        if seconds >= 0 and math.isfinite(seconds):
            return seconds
    raise ValueError(f"expected seconds (0 or more) or 'auto', got {value!r}")


class FetchConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    http: HttpConfig = HttpConfig()
    concurrency: int = Field(default=16, gt=0)
    per_host: int = Field(default=2, gt=0)  # connections open to one host at a time
    # Seconds between request starts per host: a fixed number, or "auto": auto_delay_factor x
    # the host's recent response time, at least auto_delay_min, at most max_crawl_delay.
    per_host_delay: Annotated[float | Literal["auto"], BeforeValidator(_delay_setting)] = "auto"
    auto_delay_factor: float = Field(default=2.0, gt=0)
    auto_delay_min: float = Field(default=0.1, ge=0)
    respect_robots: bool = True
    max_crawl_delay: float = Field(default=10.0, ge=0)  # a longer Crawl-delay is capped to this
    robots_max_bytes: int = Field(default=512 * 1024, gt=0)  # RFC 9309: parse at least 500 KiB
    robots_timeout: float = Field(default=10.0, gt=0)  # the whole robots.txt fetch
    robots_max_age: float = Field(default=24 * 3600, gt=0)  # RFC 9309: re-read after a day
    robots_failed_max_age: float = Field(default=300, gt=0)  # a 5xx/unreachable verdict, briefly
    # Entries held back while their hosts are busy, per worker, before the stage waits: enough
    # to reach past one feed's entries to the next host's.
    lookahead: int = Field(default=2000, gt=0)

    @property
    def spaced(self) -> bool:
        return self.per_host_delay == "auto" or self.per_host_delay > 0

    def spacing(self, response_time: float | None) -> float:
        """Our own seconds between request starts to a host answering in ``response_time``."""
        if self.per_host_delay == "auto":
            return auto_spacing(
                response_time, self.auto_delay_factor, self.auto_delay_min, self.max_crawl_delay
            )
        return self.per_host_delay


@dataclasses.dataclass(frozen=True)
class Skip:
    """An entry deliberately not fetched; counted as ``filtered:<reason>``, never dead-lettered."""

    reason: str
    url: str


def looks_like_html(body: bytes) -> bool:
    head = body[:1024].lstrip().lower()
    return head.startswith((b"<!doctype html", b"<html")) or b"<html" in head or b"<body" in head


def check_page(response: Response) -> FetchError | None:
    """Why a response is not an article page, or None when it is one."""
    if not 200 <= response.status < 300:
        tries = f" after {response.attempts} attempts" if response.attempts > 1 else ""
        return FetchError("http_error", f"HTTP {response.status}{tries}", response.status)
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


class HostQueue:
    """Items waiting per host; :meth:`pop` takes hosts in turn."""

    def __init__(self) -> None:
        self._hosts: OrderedDict[str, deque] = OrderedDict()
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def put(self, host: str, item: object) -> None:
        self._hosts.setdefault(host, deque()).append(item)
        self._size += 1

    def pop(self, ready: Callable[[str], bool]) -> object | None:
        """The oldest item of the first host in turn that is ``ready``; that host goes last."""
        for host in self._hosts:
            if ready(host):
                return self._take(host)
        return None

    def pop_soonest(
        self, ready: Callable[[str], bool], when: Callable[[str], float]
    ) -> object | None:
        """The oldest item of the ``ready`` host with the smallest ``when`` (the first in turn
        among equals); that host goes last."""
        best, best_when = None, 0.0
        for host in self._hosts:
            if ready(host) and (best is None or when(host) < best_when):
                best, best_when = host, when(host)
        return None if best is None else self._take(best)

    def _take(self, host: str) -> object:
        items = self._hosts[host]
        item = items.popleft()
        self._size -= 1
        if items:
            self._hosts.move_to_end(host)
        else:
            del self._hosts[host]
        return item


def host_of(url: str) -> str:
    return urllib.parse.urlsplit(url).netloc


def robots_verdict(robots: Robots, url: str) -> Skip | FetchError | None:
    """None when ``url`` may be fetched; a Skip when robots.txt says no; a FetchError when the
    origin's robots.txt is failing (5xx), which is a failure to retry, not the site's wish."""
    if robots.allows(url):
        return None
    if robots.kind == UNAVAILABLE:
        return FetchError(
            "robots_unavailable",
            f"{robots.note}; nothing is fetched from this origin in this run",
            robots.status,
        )
    return Skip("robots", url)


def host_delay(robots: Robots, cfg: FetchConfig, response_time: float | None = None) -> float:
    """Seconds between request starts to one host: ours, or the site's Crawl-delay if longer."""
    return max(cfg.spacing(response_time), min(robots.crawl_delay or 0.0, cfg.max_crawl_delay))


def robots_http(cfg: FetchConfig) -> HttpConfig:
    """The article fetch limits, narrowed for robots.txt: small cap, short total time."""
    return cfg.http.model_copy(
        update={
            "max_bytes": cfg.robots_max_bytes,
            "total_timeout": cfg.robots_timeout,
            "connect_timeout": min(cfg.http.connect_timeout, cfg.robots_timeout),
            "read_timeout": min(cfg.http.read_timeout, cfg.robots_timeout),
        }
    )


def page_of(entry: FeedEntry, response: Response) -> FetchedPage:
    """The record of one answer, with what the archive needs to write it as received."""
    reason = response.reason
    if not reason:
        try:
            reason = http.HTTPStatus(response.status).phrase
        except ValueError:
            reason = ""
    return FetchedPage(
        entry=entry,
        final_url=response.final_url,
        http_status=response.status,
        content_type=response.content_type,
        charset=response.charset,
        body=response.body,
        fetched_at=utc_now(),
        headers=response.raw_headers or tuple(response.headers.items()),
        reason=reason,
        http_version=response.http_version,
        redirects=response.redirects,
    )


class _FetchFn(beam.DoFn):
    def __init__(self, cfg: FetchConfig, archive: bool = False) -> None:
        self._cfg = cfg
        self._archive = archive

    def setup(self) -> None:
        self._client = make_client(self._cfg.http, max_connections=self._cfg.concurrency)
        self._pool = ThreadPoolExecutor(self._cfg.concurrency, thread_name_prefix="newsbeam-fetch")
        self._host_locks: dict[str, threading.Semaphore] = defaultdict(
            lambda: threading.Semaphore(self._cfg.per_host)
        )
        self._locks_guard = threading.Lock()
        self._robots_http = robots_http(self._cfg)
        self._robots = RobotsCache(
            self._load_robots, self._cfg.robots_max_age, self._cfg.robots_failed_max_age
        )
        self._throttle = HostThrottle()
        self._response_times = ResponseTimes()
        self._in = beam.metrics.Metrics.counter("fetch", "in")
        self._ok = beam.metrics.Metrics.counter("fetch", "ok")
        self._robots_fetched = beam.metrics.Metrics.counter("fetch", "robots:fetched")

    def teardown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._client.close()

    def _host_lock(self, host: str) -> threading.Semaphore:
        with self._locks_guard:
            return self._host_locks[host]

    def _timed_fetch(self, url: str, http_cfg: HttpConfig, truncate: bool = False) -> Response:
        """fetch(), timing the answer for the host's auto spacing (a timeout counts as slow)."""
        host, started = host_of(url), time.monotonic()
        try:
            response = fetch(self._client, url, http_cfg, truncate=truncate)
        except FetchError as exc:
            if exc.error_type == "timeout":
                self._response_times.observe(host, time.monotonic() - started, False)
            raise
        healthy = healthy_answer(response.status, response.attempts)
        self._response_times.observe(host, time.monotonic() - started, healthy)
        return response

    def _spacing(self, host: str) -> float:
        return self._cfg.spacing(self._response_times.get(host))

    def _load_robots(self, url: str) -> Robots:
        try:
            response = self._timed_fetch(url, self._robots_http, truncate=True)
        except FetchError as exc:
            # Unreachable (refused, timed out, blocked …): allow. The article fetch that follows
            # meets the same problem and dead-letters it with the real reason.
            return Robots(
                ALLOW_ALL,
                status=exc.http_status,
                note=f"robots.txt unreachable: {exc.error_type}",
                failed=True,
            )
        return robots_from_response(response.status, response.body, self._cfg.http.user_agent)

    def _fetch_one(self, entry: FeedEntry) -> FetchedPage | DeadLetter | Skip:
        response = None
        try:
            robots = self._robots.get(entry.url) if self._cfg.respect_robots else Robots()
            verdict = robots_verdict(robots, entry.url)
            if isinstance(verdict, Skip):
                return verdict
            if verdict is None:
                host = host_of(entry.url)
                delay = host_delay(robots, self._cfg, self._response_times.get(host))
                self._throttle.wait(host, delay)
                with self._host_lock(host):
                    response = self._timed_fetch(entry.url, self._cfg.http)
                verdict = check_page(response)
        except FetchError as exc:
            verdict = exc
        except Exception as exc:  # noqa: BLE001 - untrusted servers may break httpx in odd ways
            verdict = FetchError(type(exc).__name__, str(exc) or repr(exc))
        page = page_of(entry, response) if response is not None else None
        if verdict is not None:
            letter = dead_letter(
                "fetch_article",
                entry.url,
                verdict.error_type,
                str(verdict),
                verdict.http_status,
                entry.feed_url,
            )
            return dataclasses.replace(letter, page=page) if self._archive else letter
        return page

    def start_bundle(self) -> None:
        # Entries not started yet, by host; fetches started and not yet handed on, each with
        # the window and timestamp of its element (a page may leave in a later call, or in
        # finish_bundle).
        self._queue = HostQueue()
        self._pending = InFlight()
        self._busy: Counter[str] = Counter()
        self._robots_loads = self._robots.loads

    def process(
        self,
        entry: FeedEntry,
        timestamp=beam.DoFn.TimestampParam,
        window=beam.DoFn.WindowParam,
    ) -> Iterator[object]:
        self._in.inc()
        self._queue.put(host_of(entry.url), (entry, timestamp, window))
        self._start_fetches()
        # Hand on every page that has arrived; wait only while more entries are queued than
        # ``lookahead`` (the hosts they are for are busy), so memory stays bounded.
        while True:
            done = self._pending.next_done(block=len(self._queue) > self._cfg.lookahead)
            if done is None:
                return
            yield from self._emit(done)

    def finish_bundle(self) -> Iterator[object]:
        for done in self._pending.drain():
            yield from self._emit(done)
        self._robots_fetched.inc(self._robots.loads - self._robots_loads)

    def _start_fetches(self) -> None:
        """Start queued entries while slots are free, taking hosts in turn and skipping those
        with ``per_host`` fetches under way: entries often arrive host by host (one feed after
        another), and a window filled with one host's pages would wait on that host alone.

        Hosts whose spacing lets a request start now go first; only when none does, the host
        whose turn comes soonest. A slot given in plain turn to a host inside its spacing
        sleeps through the wait while hosts that could start stand by."""
        spaced = self._cfg.spaced

        def open_host(host: str) -> bool:
            return self._busy[host] < self._cfg.per_host

        def free_now(host: str) -> bool:
            # A fetch under way has booked its host's next slot, or is about to: with spacing,
            # a second one would sleep through it.
            if not open_host(host) or (spaced and self._busy[host]):
                return False
            return not self._throttle.waits(host)

        def turn(host: str) -> float:
            booked = self._throttle.free_at(host)
            return booked + self._spacing(host) if self._busy[host] else booked

        while len(self._pending) < self._cfg.concurrency:
            item = self._queue.pop(free_now)
            if item is None:
                item = self._queue.pop_soonest(open_host, turn)
            if item is None:
                return
            entry, timestamp, window = item
            self._busy[host_of(entry.url)] += 1
            self._pending.add(self._pool.submit(self._fetch_one, entry), timestamp, window, entry)

    def _emit(self, done: Pending) -> Iterator[object]:
        # Counters are bumped here, on the bundle's thread: Beam does not see increments made
        # on the pool's threads.
        result = done.future.result()
        self._busy[host_of(done.element.url)] -= 1
        self._start_fetches()
        if isinstance(result, Skip):
            beam.metrics.Metrics.counter("fetch", f"filtered:{result.reason}").inc()
            return
        if isinstance(result, DeadLetter):
            beam.metrics.Metrics.counter("fetch", f"error:{result.error_type}").inc()
            if result.http_status is not None:
                beam.metrics.Metrics.counter("fetch", f"http:{result.http_status}").inc()
            if result.page is not None:
                yield done.windowed(beam.pvalue.TaggedOutput(RAW, result.page))
                result = dataclasses.replace(result, page=None)
            yield done.windowed(beam.pvalue.TaggedOutput(DEAD, result))
            return
        self._ok.inc()
        beam.metrics.Metrics.counter("fetch", f"http:{result.http_status}").inc()
        if self._archive:
            yield done.windowed(beam.pvalue.TaggedOutput(RAW, result))
        yield done.windowed(result)


class FetchArticles(beam.PTransform):
    """Distinct ``FeedEntry`` → (``FetchedPage``, ``DeadLetter``), and with ``archive`` a third
    PCollection: every answer received, as ``FetchedPage``.

    ``spread``: regroup before fetching so the slow step is spread over workers, and the hosts
    interleaved (transforms/fetching/spread.py). Streaming
    pipelines on a runner whose watermark stands still while the source runs (the Python
    DirectRunner) pass False, as a Reshuffle there holds every element until the stream ends.
    """

    def __init__(self, cfg: FetchConfig, spread: bool = True, archive: bool = False) -> None:
        super().__init__()
        self._cfg = cfg
        self._spread = spread
        self._archive = archive

    def expand(self, entries):
        spread = entries | "SpreadArticles" >> SpreadByHost(host_of) if self._spread else entries
        # A plain ParDo, not ParDoWithDeadLetters: pages leave in later calls than the element
        # that asked for them, with that element's window and timestamp, and Beam's exception
        # wrapper hides those parameters from process(). Nothing escapes _fetch_one anyway:
        # every failure there becomes a DeadLetter.
        results = spread | "Fetch" >> beam.ParDo(_FetchFn(self._cfg, self._archive)).with_outputs(
            DEAD, RAW, main="ok"
        )
        if self._archive:
            return results["ok"], results[DEAD], results[RAW]
        return results["ok"], results[DEAD]
