"""Politeness towards publishers: robots.txt and a delay between requests to one host.

Pure parts (no I/O): :func:`parse_robots` reads robots.txt as RFC 9309 describes it (groups per
user agent, longest match wins, ``Allow`` wins a tie, ``*`` and ``$`` wildcards, ``Crawl-delay``
as the common extension); :func:`robots_from_response` turns an HTTP answer into a
:class:`Robots` verdict; :meth:`HostThrottle.reserve` computes how long a request must wait;
:func:`auto_spacing` turns a host's response time into the delay between its requests.

Thread-safe per-worker state used by the article fetch stage: :class:`RobotsCache` (one
robots.txt fetch per origin per worker, however many threads ask at once; re-read after a day,
or after five minutes when it failed), :class:`HostThrottle` and :class:`ResponseTimes`. The choices made for
unreachable or failing robots.txt are listed in docs/POLITENESS.md.
"""

from __future__ import annotations

import dataclasses
import math
import re
import threading
import time
import urllib.parse
from collections.abc import Callable

# Longest robots.txt pattern we compile; longer lines are garbage and are ignored.
MAX_PATTERN_CHARS = 2048
_LINE_RE = re.compile(r"^\s*([A-Za-z-]+)\s*:\s*(.*?)\s*$")
_ESCAPE_RE = re.compile(r"%[0-9a-fA-F]{2}")
# Characters kept as they are when percent-encoding a pattern or a path for comparison.
_PATH_SAFE = "/%:@!$&'()*+,;=-._~?"
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")

ALLOW_ALL = "allow_all"
DISALLOW_ALL = "disallow_all"
RULES = "rules"
UNAVAILABLE = "unavailable"


@dataclasses.dataclass(frozen=True)
class Rule:
    pattern: str  # path pattern, percent-encoding normalized; may hold * and a final $
    allow: bool


@dataclasses.dataclass(frozen=True)
class Robots:
    """What one origin's robots.txt says for our user agent.

    ``kind`` is ``rules`` (a parsed file), ``allow_all`` (no usable file), ``disallow_all``
    (401/403) or ``unavailable`` (5xx: nothing is fetched from the origin in this run).
    """

    kind: str = ALLOW_ALL
    rules: tuple[Rule, ...] = ()
    crawl_delay: float | None = None
    status: int | None = None  # HTTP status of the robots.txt answer, if there was one
    note: str = ""  # why an allow_all/disallow_all/unavailable verdict was reached
    failed: bool = False  # no real answer (5xx, unreachable): kept only briefly

    def allows(self, url: str) -> bool:
        if self.kind == ALLOW_ALL:
            return True
        if self.kind in (DISALLOW_ALL, UNAVAILABLE):
            return False
        return rules_allow(self.rules, path_of(url))


def product_token(user_agent: str) -> str:
    """``newsbeam/0.1 (+https://…)`` → ``newsbeam``: the name robots.txt groups address."""
    token = user_agent.strip().split("/", 1)[0].split(" ", 1)[0]
    return token.lower()


def _unescape_unreserved(match: re.Match[str]) -> str:
    char = chr(int(match.group(0)[1:], 16))
    return char if char in _UNRESERVED else match.group(0).upper()


def _normalize(path: str) -> str:
    # Same encoding on both sides (RFC 3986 normalization): escaped unreserved characters decoded,
    # other escapes upper-cased, raw non-ASCII characters encoded as UTF-8.
    path = _ESCAPE_RE.sub(_unescape_unreserved, path)
    return urllib.parse.quote(path, safe=_PATH_SAFE)


def path_of(url: str) -> str:
    """The part of ``url`` robots.txt rules match against: path and query."""
    parts = urllib.parse.urlsplit(url)
    path = parts.path or "/"
    return _normalize(path + (f"?{parts.query}" if parts.query else ""))


def pattern_matches(pattern: str, path: str) -> bool:
    """RFC 9309 matching: ``*`` is any run of characters, a final ``$`` anchors the end, and
    otherwise the pattern is a prefix. Greedy two-pointer matching, O(len(pattern)·len(path)) at
    worst: a hostile robots.txt cannot make it backtrack exponentially as a regex could."""
    anchored = pattern.endswith("$")
    if anchored:
        pattern = pattern[:-1]
    else:
        pattern += "*"
    p = s = 0
    star_p, star_s = -1, 0
    while s < len(path):
        if p < len(pattern) and pattern[p] != "*" and pattern[p] == path[s]:
            p += 1
            s += 1
        elif p < len(pattern) and pattern[p] == "*":
            star_p, star_s = p, s
            p += 1
        elif star_p >= 0:
            p = star_p + 1
            star_s += 1
            s = star_s
        else:
            return False
    while p < len(pattern) and pattern[p] == "*":
        p += 1
    return p == len(pattern)


def rules_allow(rules: tuple[Rule, ...], path: str) -> bool:
    """The most specific (longest) matching rule decides; ``Allow`` wins a tie; no match allows."""
    best: Rule | None = None
    for rule in rules:
        if pattern_matches(rule.pattern, path) and (
            best is None
            or len(rule.pattern) > len(best.pattern)
            or (len(rule.pattern) == len(best.pattern) and rule.allow)
        ):
            best = rule
    return best is None or best.allow


@dataclasses.dataclass
class _Group:
    agents: list[str] = dataclasses.field(default_factory=list)
    rules: list[Rule] = dataclasses.field(default_factory=list)
    crawl_delay: float | None = None


def _parse_groups(text: str) -> list[_Group]:
    groups: list[_Group] = []
    current: _Group | None = None
    in_agents = False  # consecutive user-agent lines share one group
    for raw in text.splitlines():
        match = _LINE_RE.match(raw.split("#", 1)[0])
        if not match:
            continue
        key, value = match.group(1).lower(), match.group(2)
        if key in ("user-agent", "useragent"):
            if not in_agents or current is None:
                current = _Group()
                groups.append(current)
            current.agents.append(value.lower())
            in_agents = True
            continue
        in_agents = False
        if current is None:
            continue  # rules before any user-agent line belong to no group
        if key in ("allow", "disallow"):
            if value and len(value) <= MAX_PATTERN_CHARS:
                # An empty Disallow allows everything, which is the same as no rule.
                current.rules.append(Rule(_normalize(value), key == "allow"))
        elif key in ("crawl-delay", "crawldelay"):
            try:
                delay = float(value)
            except ValueError:
                continue
            if math.isfinite(delay) and delay >= 0:
                current.crawl_delay = delay
    return groups


def parse_robots(text: str, user_agent: str) -> Robots:
    """The rules of ``text`` that apply to ``user_agent``'s product token.

    Groups naming our token (case-insensitive, several are merged) win over ``*`` groups.
    """
    token = product_token(user_agent)
    groups = _parse_groups(text)
    chosen = [g for g in groups if token in g.agents] or [g for g in groups if "*" in g.agents]
    rules = tuple(rule for g in chosen for rule in g.rules)
    delays = [g.crawl_delay for g in chosen if g.crawl_delay is not None]
    # /robots.txt itself is always allowed (RFC 9309 §2.2.2); other implicit allows are not.
    return Robots(RULES, rules, max(delays) if delays else None, 200)


def robots_from_response(status: int, body: bytes, user_agent: str) -> Robots:
    """Verdict for an answer to ``GET /robots.txt`` (after redirects).

    2xx: parse it. 401/403: the site shuts crawlers out, disallow everything. Other 4xx: there is
    no robots.txt, allow everything (RFC 9309 "unavailable"). 5xx and anything else: the site is
    failing; nothing from it is fetched in this run (RFC 9309 "unreachable").
    """
    if 200 <= status < 300:
        text = body.decode("utf-8", errors="replace").lstrip("\ufeff")
        return dataclasses.replace(parse_robots(text, user_agent), status=status)
    if status in (401, 403):
        return Robots(DISALLOW_ALL, status=status, note=f"robots.txt answered HTTP {status}")
    if 400 <= status < 500:
        return Robots(ALLOW_ALL, status=status, note=f"no robots.txt (HTTP {status})")
    return Robots(
        UNAVAILABLE, status=status, note=f"robots.txt answered HTTP {status}", failed=True
    )


def robots_url(url: str) -> str:
    """``https://example.org:8443/a/b?c`` → ``https://example.org:8443/robots.txt``."""
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit(
        (parts.scheme.lower(), parts.netloc.lower(), "/robots.txt", "", "")
    )


def origin_of(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}"


class RobotsCache:
    """robots.txt per origin, loaded by ``load(robots_url) -> Robots`` and kept per worker.

    Threads asking for the same origin wait for the one load in flight instead of fetching it
    again; different origins load in parallel. A verdict is kept ``max_age`` seconds (RFC 9309:
    at most a day), a failed load (``Robots.failed``) only ``failed_max_age`` — a batch run never
    sees either expire, a long-running stream re-reads robots.txt and recovers from an outage.
    """

    def __init__(
        self,
        load: Callable[[str], Robots],
        max_age: float = 24 * 3600,
        failed_max_age: float = 300,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._load = load
        self._max_age = max_age
        self._failed_max_age = failed_max_age
        self._clock = clock
        self._verdicts: dict[str, tuple[Robots, float]] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self.loads = 0  # how many robots.txt were fetched, for the counters and tests

    def _fresh(self, origin: str) -> Robots | None:
        cached = self._verdicts.get(origin)
        if cached is None:
            return None
        robots, loaded_at = cached
        age = self._failed_max_age if robots.failed else self._max_age
        return robots if self._clock() - loaded_at < age else None

    def get(self, url: str) -> Robots:
        origin = origin_of(url)
        with self._guard:
            robots = self._fresh(origin)
            if robots is not None:
                return robots
            lock = self._locks.setdefault(origin, threading.Lock())
        with lock:
            with self._guard:
                robots = self._fresh(origin)
                if robots is not None:
                    return robots
            robots = self._load(robots_url(url))
            with self._guard:
                self._verdicts[origin] = (robots, self._clock())
                self.loads += 1
            return robots


class HostThrottle:
    """Spaces the starts of requests to one host at least ``delay`` seconds apart.

    :meth:`reserve` books the next free slot under a lock and says how long to wait for it; the
    caller sleeps outside the lock, so one slow host never blocks requests to other hosts.
    """

    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._clock = clock
        self._sleep = sleep
        self._next: dict[str, float] = {}
        self._guard = threading.Lock()

    def reserve(self, host: str, delay: float) -> float:
        """Book a start time for a request to ``host``; returns seconds to wait until then."""
        with self._guard:
            now = self._clock()
            start = max(now, self._next.get(host, now))
            self._next[host] = start + delay
            return start - now

    def waits(self, host: str) -> bool:
        """Whether a request to ``host`` booked now would have to wait for its slot."""
        return self.free_at(host) > self._clock()

    def free_at(self, host: str) -> float:
        """When the next request to ``host`` may start (clock time; 0 when none was booked)."""
        with self._guard:
            return self._next.get(host, 0.0)

    def wait(self, host: str, delay: float) -> float:
        """Block until this request may start; returns the time waited."""
        waited = self.reserve(host, delay)
        if waited > 0:
            self._sleep(waited)
        return waited


# The spacing of a host whose answers have not been timed yet: the fixed default of earlier
# releases, so an unknown server is approached as cautiously as before.
UNKNOWN_HOST_SPACING = 0.5


def auto_spacing(response_time: float | None, factor: float, floor: float, ceiling: float) -> float:
    """Seconds between request starts to a host that answers in ``response_time`` seconds.

    Proportional to the response time: ``factor`` 2 keeps the host busy with us at most half
    the time of one connection, so a fast, healthy server is read quickly and a server that
    slows down under load is asked less often. ``floor`` bounds the rate of the fastest hosts,
    ``ceiling`` the wait on the slowest.
    """
    spacing = UNKNOWN_HOST_SPACING if response_time is None else factor * response_time
    return max(floor, min(spacing, ceiling))


def healthy_answer(status: int, attempts: int = 1) -> bool:
    """Whether an answer's time may shorten a host's spacing: a 5xx or 429, or an answer that
    needed retries, says the server is struggling, however quickly it came."""
    return status < 500 and status != 429 and attempts == 1


class ResponseTimes:
    """Each host's recent response time, smoothed; the measure :func:`auto_spacing` scales.

    Every answer moves the estimate halfway to its own time, so it follows a server within a
    few requests without jumping on one slow page. Unhealthy answers and timeouts may raise the
    estimate but never lower it: a server that fails fast must not earn a shorter spacing.
    """

    def __init__(self) -> None:
        self._seconds: dict[str, float] = {}
        self._guard = threading.Lock()

    def observe(self, host: str, seconds: float, healthy: bool = True) -> None:
        with self._guard:
            old = self._seconds.get(host)
            if old is None:
                self._seconds[host] = seconds
                return
            new = (old + seconds) / 2
            self._seconds[host] = new if healthy else max(old, new)

    def get(self, host: str) -> float | None:
        """The estimate for ``host``; None before its first answer."""
        with self._guard:
            return self._seconds.get(host)
