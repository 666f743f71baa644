"""Politeness: robots.txt (parsing, the verdicts for failing servers, one fetch per origin),
per-host spacing with Crawl-delay, and an identifiable User-Agent."""

from __future__ import annotations

import threading

import apache_beam as beam
import pytest
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.transforms.window import GlobalWindow
from apache_beam.utils.timestamp import MIN_TIMESTAMP

from tests.faultserver import fault_server_fixture, loopback_only_fixture  # noqa: F401 - fixtures
from transforms.sources.canonicalize import article_id, canonical_url
from transforms.fetching.fetch import (
    FetchArticles,
    FetchConfig,
    Skip,
    _FetchFn,
    host_delay,
    host_of,
    robots_http,
    robots_verdict,
)
from transforms.fetching.http import FetchError, HttpConfig
from transforms.fetching.politeness import (
    ALLOW_ALL,
    DISALLOW_ALL,
    RULES,
    UNAVAILABLE,
    UNKNOWN_HOST_SPACING,
    HostThrottle,
    ResponseTimes,
    Robots,
    RobotsCache,
    auto_spacing,
    healthy_answer,
    parse_robots,
    pattern_matches,
    product_token,
    robots_from_response,
    robots_url,
)
from transforms.records import DeadLetter, FeedEntry, FetchedPage

pytestmark = pytest.mark.usefixtures("loopback_only")

UA = "newsbeam/0.1 (+https://github.com/newsbeam/newsbeam; news ingestion bot)"

ROBOTS = """\ufeff# a realistic file
User-agent: *
Disallow: /private/
Disallow: /*.pdf$
Allow: /private/press/
Crawl-delay: 3

User-agent: GoogleBot
User-agent: bingbot
Disallow: /

User-agent: NewsBeam
Disallow: /archive/
Allow: /archive/today
Disallow: /search?
Crawl-delay: 1.5
"""


@pytest.mark.parametrize(
    ("path", "allowed"),
    [
        ("/", True),
        ("/private/x", True),  # our own group replaces the * group entirely
        ("/archive/2020/a.html", False),
        ("/archive/today", True),
        ("/archive/today/more", True),
        ("/search?q=x", False),
        ("/search", True),
        ("/report.pdf", True),
    ],
)
def test_our_group_wins_over_the_star_group(path: str, allowed: bool) -> None:
    robots = parse_robots(ROBOTS, UA)
    assert robots.allows(f"https://news.example{path}") is allowed
    assert robots.crawl_delay == 1.5


@pytest.mark.parametrize(
    ("path", "allowed"),
    [
        ("/private/x", False),
        ("/private/press/release", True),
        ("/files/report.pdf", False),
        ("/files/report.pdf?dl=1", True),
        ("/public", True),
    ],
)
def test_star_group_for_other_agents(path: str, allowed: bool) -> None:
    robots = parse_robots(ROBOTS, "otherbot/2.0")
    assert robots.allows(f"https://news.example{path}") is allowed
    assert robots.crawl_delay == 3.0


@pytest.mark.parametrize(
    ("text", "path", "allowed"),
    [
        ("User-agent: *\nDisallow:", "/x", True),  # empty Disallow allows everything
        ("User-agent: *\nDisallow: /", "/x", False),
        ("User-agent: *\nAllow: /p\nDisallow: /p", "/p", True),  # tie: Allow wins
        ("User-agent: *\nDisallow: /a\nAllow: /a/b", "/a/b/c", True),  # longest match
        ("User-agent: *\nAllow: /a\nDisallow: /a/b", "/a/b/c", False),
        ("User-agent: *\nDisallow: /*/print", "/2026/11/print", False),
        ("User-agent: *\nDisallow: /x$", "/x", False),
        ("User-agent: *\nDisallow: /x$", "/x/y", True),
        ("User-agent: *\nDisallow: /%7Euser", "/~user/page", False),  # percent-encoding normalized
        ("User-agent: *\nDisallow: /caf\u00e9", "/caf%C3%A9/menu", False),
        ("user-AGENT: NEWSBEAM\ndisallow: /x", "/x", False),  # keys and agents case-insensitive
        ("Disallow: /x\nUser-agent: *\nAllow: /", "/x", True),  # rules before any group: ignored
        ("User-agent: newsbeam\nDisallow: /a\n\nUser-agent: newsbeam\nDisallow: /b", "/b", False),
        ("garbage\n\x00\x01\nUser-agent: *\nDisallow: /x # comment", "/x", False),
        ("", "/anything", True),
    ],
)
def test_robots_rules(text: str, path: str, allowed: bool) -> None:
    assert parse_robots(text, UA).allows(f"http://h.example{path}") is allowed


def test_pathological_patterns_stay_fast() -> None:
    """A regex would backtrack exponentially here; the matcher is O(pattern × path)."""
    pattern = "/" + "*a" * 40 + "*b"
    assert not pattern_matches(pattern, "/" + "a" * 5000)
    assert pattern_matches(pattern, "/" + "a" * 50 + "b")


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (200, RULES),
        (401, DISALLOW_ALL),
        (403, DISALLOW_ALL),
        (404, ALLOW_ALL),
        (410, ALLOW_ALL),
        (418, ALLOW_ALL),
        (500, UNAVAILABLE),
        (503, UNAVAILABLE),
        (302, UNAVAILABLE),
    ],
)
def test_robots_verdict_per_status(status: int, kind: str) -> None:
    robots = robots_from_response(status, b"User-agent: *\nDisallow: /", UA)
    assert (robots.kind, robots.status) == (kind, status)


def test_robots_verdict_for_an_article() -> None:
    url = "http://h.example/private/a"
    assert robots_verdict(Robots(), url) is None
    assert robots_verdict(Robots(DISALLOW_ALL, status=403), url) == Skip("robots", url)
    err = robots_verdict(Robots(UNAVAILABLE, status=503, note="robots.txt answered HTTP 503"), url)
    assert isinstance(err, FetchError)
    assert (err.error_type, err.http_status) == ("robots_unavailable", 503)


def test_host_delay_takes_crawl_delay_up_to_the_cap() -> None:
    cfg = FetchConfig(per_host_delay=0.5, max_crawl_delay=10)
    assert host_delay(Robots(), cfg) == 0.5
    assert host_delay(Robots(RULES, crawl_delay=0.1), cfg) == 0.5
    assert host_delay(Robots(RULES, crawl_delay=4), cfg) == 4
    assert host_delay(Robots(RULES, crawl_delay=3600), cfg) == 10


@pytest.mark.parametrize(
    ("response_time", "spacing"),
    [
        (None, UNKNOWN_HOST_SPACING),  # not timed yet: as cautious as the old fixed default
        (0.002, 0.2),  # a loopback-fast host: the floor bounds its rate
        (0.05, 0.2),
        (0.3, 0.6),  # a server at 300 ms is asked every 600 ms
        (1.5, 3.0),
        (60.0, 10.0),  # a crawling server: the wait is capped
    ],
)
def test_auto_spacing_scales_with_the_response_time(response_time, spacing) -> None:
    assert auto_spacing(response_time, 2.0, 0.2, 10.0) == pytest.approx(spacing)


def test_auto_spacing_floor_wins_over_a_lower_ceiling() -> None:
    assert auto_spacing(0.01, 2.0, 1.0, 0.5) == 1.0


@pytest.mark.parametrize(
    ("status", "attempts", "healthy"),
    [(200, 1, True), (304, 1, True), (404, 1, True), (200, 2, False), (429, 1, False),
     (500, 1, False), (503, 1, False)],
)
def test_healthy_answers(status: int, attempts: int, healthy: bool) -> None:
    assert healthy_answer(status, attempts) is healthy


def test_response_times_follow_a_host_halfway_per_answer() -> None:
    times = ResponseTimes()
    assert times.get("a") is None
    times.observe("a", 0.4)
    assert times.get("a") == 0.4  # the first answer is the estimate
    times.observe("a", 0.2)
    assert times.get("a") == pytest.approx(0.3)
    times.observe("a", 1.3)
    assert times.get("a") == pytest.approx(0.8)
    assert times.get("b") is None  # per host


def test_unhealthy_answers_never_shorten_the_spacing() -> None:
    times = ResponseTimes()
    times.observe("a", 0.4)
    times.observe("a", 0.01, healthy=False)  # a fast 503
    assert times.get("a") == 0.4
    times.observe("a", 2.0, healthy=False)  # a timeout
    assert times.get("a") == pytest.approx(1.2)
    times.observe("b", 0.01, healthy=False)  # a first answer sets the estimate either way
    assert times.get("b") == 0.01


def test_per_host_delay_is_auto_by_default_and_fixed_when_set() -> None:
    auto = FetchConfig()
    assert auto.per_host_delay == "auto" and auto.spaced
    assert host_delay(Robots(), auto, 0.05) == 0.1
    assert host_delay(Robots(), auto, 0.01) == 0.1  # the floor: at most 10 requests a second
    assert host_delay(Robots(), auto, 0.5) == 1.0
    assert host_delay(Robots(), auto) == UNKNOWN_HOST_SPACING
    assert host_delay(Robots(RULES, crawl_delay=4), auto, 0.05) == 4  # Crawl-delay still wins
    fixed = FetchConfig(per_host_delay=0.5)
    assert host_delay(Robots(), fixed, 3.0) == 0.5  # a number is kept, whatever the host's speed
    assert not FetchConfig(per_host_delay=0).spaced
    assert FetchConfig.model_validate({"per_host_delay": "0.25"}).per_host_delay == 0.25
    for bad in ("atuo", -1, "fast", True, None, float("nan"), "inf"):
        with pytest.raises(ValueError):
            FetchConfig.model_validate({"per_host_delay": bad})


def test_robots_fetch_has_its_own_small_limits() -> None:
    cfg = FetchConfig(http=HttpConfig(read_timeout=20), robots_max_bytes=1000, robots_timeout=2)
    http = robots_http(cfg)
    assert (http.max_bytes, http.total_timeout, http.read_timeout) == (1000, 2, 2)
    assert http.user_agent == cfg.http.user_agent


def test_product_token_and_robots_url() -> None:
    assert product_token(UA) == "newsbeam"
    assert product_token("NewsBeam") == "newsbeam"
    assert robots_url("https://Example.org:8443/a/b?c#d") == "https://example.org:8443/robots.txt"


# --- throttle and cache ---------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_throttle_spaces_requests_per_host() -> None:
    clock = FakeClock()
    throttle = HostThrottle(clock=clock, sleep=lambda s: None)
    assert [throttle.reserve("a", 2.0) for _ in range(3)] == [0.0, 2.0, 4.0]
    assert throttle.reserve("b", 2.0) == 0.0  # other hosts are not held up
    clock.now += 10
    assert throttle.reserve("a", 2.0) == 0.0  # the backlog has passed


def test_throttle_wait_sleeps_the_reserved_time() -> None:
    slept: list[float] = []
    throttle = HostThrottle(clock=FakeClock(), sleep=slept.append)
    throttle.wait("a", 1.5)
    throttle.wait("a", 1.5)
    assert slept == [1.5]


def test_robots_cache_loads_each_origin_once_across_threads() -> None:
    loaded: list[str] = []
    release = threading.Event()

    def load(url: str) -> Robots:
        loaded.append(url)
        release.wait(5)  # hold the load until every thread is waiting on it
        return Robots()

    cache = RobotsCache(load)
    threads = [
        threading.Thread(target=cache.get, args=(f"https://a.example/{i}",)) for i in range(8)
    ]
    for t in threads:
        t.start()
    release.set()
    for t in threads:
        t.join()
    cache.get("https://b.example/x")
    cache.get("http://a.example/x")  # another scheme is another origin
    assert loaded == [
        "https://a.example/robots.txt",
        "https://b.example/robots.txt",
        "http://a.example/robots.txt",
    ]
    assert cache.loads == 3


# --- the fetch stage over the fault server -------------------------------------------------


def _cfg(**updates) -> FetchConfig:
    http = HttpConfig(
        allowed_networks=("127.0.0.0/8",),
        read_timeout=0.5,
        total_timeout=2,
        retries=0,
        user_agent="newsbeam-test/9.9 (+https://example.org/bot)",
    )
    settings = {"per_host_delay": 0, "concurrency": 4, "per_host": 2, "robots_timeout": 0.3}
    return FetchConfig(http=http, **(settings | updates))


def _entry(url: str) -> FeedEntry:
    canonical = canonical_url(url)
    return FeedEntry(
        feed_url="http://feed", feed_name="F", link=url, url=canonical, id=article_id(canonical)
    )


def _bundle(fn: _FetchFn, entries: list[FeedEntry]) -> list[object]:
    """Drive the DoFn through one bundle as a runner would; every output it makes."""
    fn.start_bundle()
    out: list[object] = []
    for entry in entries:
        out += fn.process(entry, MIN_TIMESTAMP, GlobalWindow())
    return out + list(fn.finish_bundle())


def _fn(cfg: FetchConfig) -> _FetchFn:
    fn = _FetchFn(cfg)
    fn.setup()
    return fn


def test_disallowed_articles_are_skipped_not_dead_lettered(fault_server) -> None:
    fault_server.robots = "User-agent: *\nDisallow: /private/\n"
    fn = _fn(_cfg())
    try:
        entries = [
            _entry(fault_server.url(p))
            for p in ("/article/a", "/private/b", "/private/c", "/article/d")
        ]
        results = [fn._fetch_one(e) for e in entries]
    finally:
        fn.teardown()
    assert [type(r).__name__ for r in results] == ["FetchedPage", "Skip", "Skip", "FetchedPage"]
    assert fault_server.hits("/private/") == 0
    assert fault_server.hits("/robots.txt") == 1


@pytest.mark.parametrize(
    ("robots", "delay", "outcome"),
    [
        (403, 0.0, "Skip"),
        (401, 0.0, "Skip"),
        (404, 0.0, "FetchedPage"),
        (410, 0.0, "FetchedPage"),
        (503, 0.0, "robots_unavailable"),
        ("User-agent: *\nDisallow:", 0.0, "FetchedPage"),
        (404, 1.0, "FetchedPage"),
    ],  # robots.txt too slow: unreachable, allow
)
def test_robots_failures(fault_server, robots, delay: float, outcome: str) -> None:
    fault_server.robots = robots
    fault_server.robots_delay = delay
    fn = _fn(_cfg())
    try:
        result = fn._fetch_one(_entry(fault_server.url("/article/a")))
    finally:
        fn.teardown()
    got = result.error_type if isinstance(result, DeadLetter) else type(result).__name__
    assert got == outcome
    if isinstance(result, DeadLetter):
        assert (result.stage, result.http_status) == ("fetch_article", 503)
        assert fault_server.hits("/article/") == 0


def test_robots_can_be_ignored_by_config(fault_server) -> None:
    fault_server.robots = "User-agent: *\nDisallow: /\n"
    fn = _fn(_cfg(respect_robots=False))
    try:
        result = fn._fetch_one(_entry(fault_server.url("/article/a")))
    finally:
        fn.teardown()
    assert isinstance(result, FetchedPage)
    assert fault_server.hits("/robots.txt") == 0


def test_crawl_delay_spaces_the_requests(fault_server) -> None:
    fault_server.robots = "User-agent: newsbeam-test\nCrawl-delay: 2\n"
    fn = _fn(_cfg(max_crawl_delay=5))
    waits: list[float] = []
    fn._throttle = HostThrottle(clock=lambda: 0.0, sleep=waits.append)  # record, never sleep
    try:
        outputs = _bundle(fn, [_entry(fault_server.url(f"/article/{i}")) for i in range(3)])
    finally:
        fn.teardown()
    assert len(outputs) == 3
    assert sorted(waits) == [2.0, 4.0]  # the first request starts at once


def test_auto_spacing_follows_the_host_answers(fault_server) -> None:
    # robots.txt answers in 0.3 s: the first article is spaced from it by 2 x 0.3 s. The articles
    # answer at once and the estimate falls halfway per answer, to the floor. No test sleeps:
    # the throttle records its waits on a clock that stands still.
    fault_server.robots = "User-agent: *\nDisallow:\n"
    fault_server.robots_delay = 0.3
    fn = _fn(_cfg(per_host_delay="auto", auto_delay_min=0.01, per_host=1, concurrency=1,
                  robots_timeout=10))
    waits: list[float] = []
    fn._throttle = HostThrottle(clock=lambda: 0.0, sleep=waits.append)
    try:
        outputs = _bundle(fn, [_entry(fault_server.url(f"/article/{i}")) for i in range(4)])
        estimate = fn._response_times.get(host_of(fault_server.url("/")))
    finally:
        fn.teardown()
    assert len(outputs) == 4
    steps = [b - a for a, b in zip([0.0, *waits], waits)]  # the spacing each booking added
    assert steps[0] >= 0.6 - 0.05  # booked after robots.txt's answer alone
    assert steps[0] > steps[1] > steps[2]  # each fast answer halves the estimate's excess
    assert estimate < 0.3 / 4


def test_user_agent_is_sent_everywhere(fault_server) -> None:
    fn = _fn(_cfg())
    try:
        fn._fetch_one(_entry(fault_server.url("/article/a")))
    finally:
        fn.teardown()
    assert fault_server.requests == ["/robots.txt", "/article/a"]
    assert set(fault_server.agents) == {"newsbeam-test/9.9 (+https://example.org/bot)"}


def test_fetch_articles_counts_robots_skips(fault_server) -> None:
    fault_server.robots = "User-agent: *\nDisallow: /private/\n"
    urls = [fault_server.url(p) for p in ("/article/a", "/private/b", "/status/404")]
    p = TestPipeline()
    pages, dead = p | beam.Create([_entry(u) for u in urls]) | FetchArticles(_cfg())
    assert_that(
        pages | "Urls" >> beam.Map(lambda pg: pg.final_url), equal_to([urls[0]]), label="Pages"
    )
    assert_that(
        dead | "Dead" >> beam.Map(lambda d: (d.url, d.error_type)),
        equal_to([(urls[2], "http_error")]),
        label="Dead",
    )
    result = p.run()
    result.wait_until_finish()
    counters = {
        m.key.metric.name: m.committed
        for m in result.metrics().query(MetricsFilter().with_namespace("fetch"))["counters"]
    }
    assert counters["filtered:robots"] == 1
    assert counters["robots:fetched"] == 1
    assert (counters["in"], counters["ok"], counters["error:http_error"]) == (3, 1, 1)


def test_robots_cache_expires_verdicts() -> None:
    """A day for answers (RFC 9309), minutes for failures: a long stream recovers from outages."""
    clock = FakeClock()
    answers = iter([Robots(UNAVAILABLE, status=503, failed=True), Robots(), Robots()])
    cache = RobotsCache(lambda url: next(answers), max_age=86400, failed_max_age=300, clock=clock)
    assert cache.get("https://a.example/x").kind == UNAVAILABLE
    clock.now += 299
    assert cache.get("https://a.example/y").kind == UNAVAILABLE  # still cached
    clock.now += 2
    assert cache.get("https://a.example/y").kind == ALLOW_ALL  # re-read after the outage
    clock.now += 86399
    assert cache.loads == 2
    clock.now += 2
    cache.get("https://a.example/z")
    assert cache.loads == 3
