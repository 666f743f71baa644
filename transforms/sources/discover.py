"""From a site's address to its feeds and news sitemaps: bounded, polite, safe discovery.

Input: site URLs. Output: one :class:`SiteReport` per site with the feeds found (:class:`Found`),
the candidates left out and why (:class:`Rejected`), and the requests spent.

Candidates are tried in order of cost, every one within the site's request budget
(``max_requests``, robots.txt included):
1. the homepage's ``<link rel="alternate">`` of feed types;
2. ``Sitemap:`` lines of robots.txt (news-looking ones first; a sitemap index leads to its news
   sitemaps);
3. ``<a>`` links of the homepage that look like feeds; one of them that is an HTML page (the
   site's "RSS" overview) has its own feed links tried next;
4. common locations (``/feed/``, ``/rss``, ``/index.xml``, ``?type=100``, ``/sitemap_news.xml`` …)
   only when 1-3 gave no feed and no news sitemap; they stop at the first hit.
Every candidate is fetched with :func:`transforms.fetching.http.fetch` (the same SSRF rules as the run)
and parsed with :func:`transforms.sources.feeds.parse_feed` (the run's own parser): it is kept only when
it yields entries with links (``.xml.gz`` sitemaps unpacked as the feed stage does; a sitemap
index counts by its first sitemap). A URL that is a feed itself is checked in one request.
Left out: HTML pages, comments feeds (unless ``include_comments``), a feed with the same entries
as one already found, a plain sitemap when the site has a feed or a news sitemap. robots.txt is honoured, requests to one host are spaced by
``per_host_delay`` (or the site's Crawl-delay, capped), and a host that failed twice at the
transport level (timeouts, refused connections) is not asked again.

The pure functions (``feed_links``, ``robots_sitemaps``, ``common_locations``, ``feed_kind``,
``comments_reason``, ``evaluate``) hold the decisions; :func:`discover_site` does the I/O.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import urllib.parse
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor

import httpx
import lxml.html
from lxml import etree
from pydantic import BaseModel, ConfigDict, Field

from transforms.sources.canonicalize import BadLinkError, canonical_url, identity_key
from transforms.sources.feed_formats import FormatError, gunzipped, sitemap_index_locations, sniff_format
from transforms.sources.feed_safety import UnsafeFeedError
from transforms.sources.feeds import NotAFeedError, parse_feed
from transforms.fetching.http import FetchError, HttpConfig, Response, fetch, make_client
from transforms.fetching.politeness import (
    ALLOW_ALL,
    UNAVAILABLE,
    HostThrottle,
    Robots,
    origin_of,
    robots_from_response,
    robots_url,
)
from transforms.records import UTC, FeedSpec

# Media types of <link rel="alternate"> that announce a feed (RSS, Atom, RDF, JSON Feed); the
# generic XML/JSON ones count only with a feed-like href.
FEED_TYPES = frozenset(
    {
        "application/rss+xml",
        "application/x-rss+xml",
        "application/rdf+xml",
        "application/atom+xml",
        "application/x-atom+xml",
        "application/feed+json",
        "application/json",
        "text/xml",
        "application/xml",
    }
)
# Where feeds usually live when a site does not announce them: WordPress, Blogger, Hugo/Jekyll,
# Typo3, Drupal, news sitemaps. Tried in this order, only when cheaper sources gave nothing.
COMMON_PATHS = (
    "/feed/",
    "/feed",
    "/rss",
    "/rss.xml",
    "/atom.xml",
    "/index.xml",
    "/feed.xml",
    "/index.rss",
    "/feeds/posts/default",
    "/?type=100",
    "/?feed=rss2",
    "/sitemap_news.xml",
    "/news-sitemap.xml",
    "/sitemap.xml",
)
# Below a section URL (https://example.org/blog/) these are tried before the root ones.
SECTION_PATHS = ("feed/", "rss.xml", "index.xml")
# The run's cap for a feed body (RunConfig.feed_fetch).
FEED_MAX_BYTES = 20 * 1024 * 1024
# Per site: the homepage lists a handful of feeds; more candidates than this are noise.
MAX_LINK_TAGS = 10
MAX_A_LINKS = 8
MAX_ROBOTS_SITEMAPS = 6
MAX_INDEX_CHILDREN = 3
# A host that failed this often at the transport level (timeout, refused) is not asked again.
MAX_HOST_FAILURES = 2
# Transport failures after which nothing on the host can work.
_FATAL_ERRORS = frozenset({"blocked_host", "dns_error", "bad_url", "bad_scheme"})

_FEEDISH_HREF = re.compile(
    r"(?:^|[/._~-])(?:rss\d*|atom|feeds?|rdf)(?:$|[/._?#~-])|\.(?:rss|atom|rdf)$"
    r"|[?&](?:type=100|feed=|format=(?:rss|atom|feed))",
    re.IGNORECASE,
)
_FEEDISH_TEXT = re.compile(
    r"^\W*(?:rss|atom|feed|rss[ -]?feed|news ?feed|json ?feed)\W*$", re.IGNORECASE
)
# WordPress /comments/feed/ and ?feed=comments-rss2, Blogger /feeds/comments/default, …; the
# singular "/comment/" is an opinion section on news sites.
_COMMENTS_URL = re.compile(r"(?:^|/)comments(?:/|\.|$)|[?&]feed=comments", re.IGNORECASE)
# How WordPress and other blog engines title comments feeds, in the languages seen on news
# sites ("Comments Feed", "Kommentar-Feed", "Feed dei commenti", "Umpan Komentar" …). A section
# named "Comment", "Kommentare" or "Commentary" (opinion pieces) is not a comments feed.
_COMMENTS_TITLE = re.compile(
    r"\b(?:comments|kommentar-?feed|kommentare (?:zu|für|fuer)|commentaires|commenti"
    r"|coment[aá]rios|komentar|reacties|yorumlar|kommentarer)\b",
    re.IGNORECASE,
)
_SITEMAP_LINE = re.compile(r"^\s*sitemap\s*:\s*(\S+)", re.IGNORECASE | re.MULTILINE)
_NEWSISH = re.compile(r"news", re.IGNORECASE)
_FEED_ROOT = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?(rss|feed|RDF|urlset|sitemapindex)\b")
_HTML_START = re.compile(rb"<(?:!doctype\s+html|html)[\s>]", re.IGNORECASE)
_NEWS_NS = b"http://www.google.com/schemas/sitemap-news/0.9"
_NEWS_ELEMENT = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?news[\s>]")
_LANG = re.compile(r"^[a-z]{2}$")


class DiscoverConfig(BaseModel):
    """Limits of discovery for one site."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # One quick try per candidate; the size cap is the run's feed cap, so what discovery keeps
    # the run can read.
    http: HttpConfig = HttpConfig(
        total_timeout=10.0,
        read_timeout=10.0,
        connect_timeout=5.0,
        retries=0,
        max_bytes=FEED_MAX_BYTES,
    )
    max_requests: int = Field(default=20, ge=1)  # per site, robots.txt files included
    per_host_delay: float = Field(default=0.5, ge=0)
    max_crawl_delay: float = Field(default=5.0, ge=0)
    robots_max_bytes: int = Field(default=512 * 1024, gt=0)
    include_comments: bool = False


@dataclasses.dataclass(frozen=True)
class Candidate:
    url: str
    source: str  # "link", "robots", "sitemap-index", "a", "common"
    hint: str = ""  # the link's title or anchor text


@dataclasses.dataclass(frozen=True)
class Found:
    url: str
    kind: str  # rss, atom, json, sitemap, news-sitemap
    title: str
    language: str | None
    entries: int
    source: str
    comments: bool = False
    links: frozenset[str] = frozenset()  # entry links: what makes two URLs the same feed


@dataclasses.dataclass(frozen=True)
class Rejected:
    url: str
    source: str
    reason: str


@dataclasses.dataclass
class SiteReport:
    site: str
    found: list[Found] = dataclasses.field(default_factory=list)
    rejected: list[Rejected] = dataclasses.field(default_factory=list)
    requests: int = 0
    tried: dict[str, int] = dataclasses.field(default_factory=dict)  # source → candidates fetched
    robots: str = ""  # what robots.txt said, for the summary
    homepage: str = ""  # what the homepage gave: "3 feed links", "HTTP 404", "timeout" …
    stopped: str = ""  # why discovery ended before all candidates were tried

    @property
    def feeds(self) -> list[Found]:
        """What to subscribe to: feeds and news sitemaps, else the plain sitemaps."""
        kept = [f for f in self.found if f.kind != "sitemap"]
        return kept or [f for f in self.found if f.kind == "sitemap"]


# --- pure decisions -------------------------------------------------------------------------------


def _clean_url(href: str, base: str) -> str | None:
    href = (href or "").strip()
    if not href or href.startswith(("#", "mailto:", "javascript:", "data:", "tel:")):
        return None
    try:
        url = urllib.parse.urljoin(base, href)
    except ValueError:
        return None
    url, _fragment = urllib.parse.urldefrag(url)
    return url if url.startswith(("http://", "https://")) else None


def feed_links(html: bytes, page_url: str) -> tuple[list[Candidate], list[Candidate]]:
    """(``<link rel="alternate">`` feed candidates, ``<a>`` links that look like feeds) of a page,
    absolute, in document order, without repeats."""
    try:
        doc = lxml.html.document_fromstring(html)
    except (etree.ParserError, ValueError):
        return [], []
    base = page_url
    for el in doc.iter("base"):
        if el.get("href"):
            base = urllib.parse.urljoin(page_url, el.get("href"))
            break
    seen: set[str] = set()
    tags: list[Candidate] = []
    for el in doc.iter("link"):
        rel = (el.get("rel") or "").lower().split()
        media = (el.get("type") or "").split(";")[0].strip().lower()
        if not ("alternate" in rel or "feed" in rel) or media not in FEED_TYPES:
            continue
        generic = media in ("text/xml", "application/xml", "application/json")
        # Generic types count only when the href itself looks like a feed (not an API link).
        if generic and "feed" not in rel and not _FEEDISH_HREF.search(el.get("href") or ""):
            continue
        url = _clean_url(el.get("href"), base)
        if url and url not in seen:
            seen.add(url)
            tags.append(Candidate(url, "link", " ".join((el.get("title") or "").split())))
    anchors: list[Candidate] = []
    for el in doc.iter("a"):
        href = el.get("href") or ""
        text = " ".join(el.text_content().split())[:80]
        url = _clean_url(href, base)
        if not url or url in seen:
            continue
        # A subscribe button of a reader service carries the feed's URL inside its own.
        if "http" in urllib.parse.unquote(url)[8:]:
            continue
        path = urllib.parse.urlsplit(url)
        target = path.path + ("?" + path.query if path.query else "")
        if _FEEDISH_HREF.search(target) or _FEEDISH_TEXT.match(text):
            seen.add(url)
            anchors.append(Candidate(url, "a", text))
    return tags[:MAX_LINK_TAGS], anchors[:MAX_A_LINKS]


def robots_sitemaps(robots_text: str, robots_address: str) -> list[str]:
    """``Sitemap:`` URLs of a robots.txt, news-looking ones first, without repeats."""
    urls = []
    for match in _SITEMAP_LINE.finditer(robots_text):
        url = _clean_url(match.group(1), robots_address)
        if url and url not in urls:
            urls.append(url)
    return sorted(urls, key=lambda u: not _NEWSISH.search(u))


def common_locations(site_url: str) -> list[str]:
    """Common feed and news sitemap locations of a site, below a section's path first."""
    parts = urllib.parse.urlsplit(site_url)
    root = f"{parts.scheme}://{parts.netloc}"
    urls = []
    path = parts.path if parts.path.endswith("/") else parts.path.rsplit("/", 1)[0] + "/"
    if path not in ("", "/"):
        urls += [root + path + p for p in SECTION_PATHS]
    urls += [root + p for p in COMMON_PATHS]
    return list(dict.fromkeys(urls))


def looks_like_html(body: bytes) -> bool:
    """An HTML page, not a feed: an HTML start in the first 2 KB and no feed root element."""
    head = body[:2048].lstrip(b"\xef\xbb\xbf \t\r\n")
    return bool(_HTML_START.search(head)) and not _FEED_ROOT.search(head)


def feed_kind(body: bytes) -> str:
    """``rss``, ``atom``, ``json``, ``sitemap``, ``news-sitemap``, ``sitemap-index`` or ``""``."""
    kind = sniff_format(body)
    if kind == "json":
        return "json"
    if kind == "sitemap":
        # Declaring the namespace is not enough (SEO plugins declare every namespace they know).
        news = _NEWS_NS in body and _NEWS_ELEMENT.search(body)
        return "news-sitemap" if news else "sitemap"
    if kind == "sitemapindex":
        return "sitemap-index"
    match = _FEED_ROOT.search(body[:4096])
    if not match:
        return ""
    return "atom" if match.group(1) == b"feed" else "rss"


def comments_reason(url: str, hint: str, title: str, links: Iterable[str]) -> str:
    """Why a feed is a comments feed (its URL, its announced or own title, or entry links that
    point at comments), or ``""``."""
    path = urllib.parse.urlsplit(url)
    if _COMMENTS_URL.search(path.path + ("?" + path.query if path.query else "")):
        return "its URL names comments"
    if _COMMENTS_TITLE.search(hint) or _COMMENTS_TITLE.search(title):
        return "its title names comments"
    links = list(links)
    to_comments = sum(
        1 for link in links if re.search(r"#comment|[?&]comment", link, re.IGNORECASE)
    )
    if links and to_comments * 2 > len(links):
        return "its entries link to comments"
    return ""


def evaluate(
    candidate: Candidate, body: bytes, headers: dict[str, str], now: dt.datetime
) -> Found | Rejected:
    """Is this body a feed worth subscribing to? Parsed by the feed stage's own parser."""
    if looks_like_html(body):
        return Rejected(candidate.url, candidate.source, "an HTML page, not a feed")
    kind = feed_kind(body)
    try:
        entries, _no_link, _bozo = parse_feed(body, headers, FeedSpec(url=candidate.url), now)
    except UnsafeFeedError as exc:
        return Rejected(candidate.url, candidate.source, f"unsafe ({exc.reason})")
    except NotAFeedError as exc:
        return Rejected(candidate.url, candidate.source, " ".join(str(exc).split())[:120])
    if not entries:
        return Rejected(candidate.url, candidate.source, "no entries with links")
    links = [e.link for e in entries]
    title = entries[0].feed_name
    language = (entries[0].feed_language or "").lower() or None
    comments = comments_reason(candidate.url, candidate.hint, title, links)
    return Found(
        url=candidate.url,
        kind=kind or "rss",
        title=title,
        language=language if language and _LANG.match(language) else None,
        entries=len(entries),
        source=candidate.source,
        comments=bool(comments),
        links=frozenset(_identity(link, candidate.url) for link in links),
    )


def _identity(link: str, feed_url: str) -> str:
    """What makes two entries the same article for the run (tracking parameters, scheme and
    ``www.`` ignored), so an Atom copy with other tracking tags is still a copy."""
    try:
        return identity_key(canonical_url(link, feed_url))
    except BadLinkError:
        return link


def plural(count: int, word: str) -> str:
    return f"{count} {word}" + ("" if count == 1 else "s")


def describe_attempts(report: SiteReport) -> str:
    """One line naming what was tried on a site that gave nothing."""
    parts = [plural(report.requests, "request")]
    if report.homepage:
        parts.append(f"homepage: {report.homepage}")
    if report.robots:
        parts.append(f"robots.txt: {report.robots}")
    names = {
        "given": "the address itself",
        "link": "<link> feeds",
        "a": "<a> feed links",
        "feed-page": "links of a feed list page",
        "robots": "robots.txt sitemaps",
        "sitemap-index": "sitemap index children",
        "common": "common locations",
    }
    for source, label in names.items():
        if report.tried.get(source):
            urls = [urllib.parse.urlsplit(r.url) for r in report.rejected if r.source == source]
            shown = [u.path + ("?" + u.query if u.query else "") for u in urls[:4]]
            more = ", …" if len(urls) > 4 else ""
            parts.append(f"{label} {report.tried[source]} ({', '.join(shown)}{more})")
    reasons: dict[str, int] = {}
    for rejected in report.rejected:
        reason = rejected.reason
        reason = "a copy of a feed" if reason.startswith("same entries") else reason.split(":")[0]
        reasons[reason] = reasons.get(reason, 0) + 1
    if reasons:
        parts.append("left out: " + ", ".join(f"{n}× {r}" for r, n in reasons.items()))
    if report.stopped:
        parts.append(f"stopped: {report.stopped}")
    return "; ".join(parts)


# --- the I/O --------------------------------------------------------------------------------------


class _Stop(Exception):
    """The site's budget is spent or the site cannot be reached any more."""


class _Site:
    """The state of one site's discovery: budget, robots.txt per origin, failing hosts."""

    def __init__(
        self,
        url: str,
        cfg: DiscoverConfig,
        client: httpx.Client,
        throttle: HostThrottle,
        now: Callable[[], dt.datetime],
    ) -> None:
        self.cfg = cfg
        self.client = client
        self.throttle = throttle
        self.now = now
        self.report = SiteReport(url)
        self.robots: dict[str, Robots] = {}
        self.robots_text: dict[str, str] = {}
        self.failures: dict[str, int] = {}
        self.seen: set[str] = set()
        self.host = urllib.parse.urlsplit(url).netloc.lower()
        self.errors: list[str] = []  # transport failures of the site's own host

    def _spend(self) -> None:
        if self.report.requests >= self.cfg.max_requests:
            raise _Stop(f"--max-requests {self.cfg.max_requests} reached")
        self.report.requests += 1

    def _get(self, url: str, http: HttpConfig, delay: float, truncate: bool = False) -> Response:
        host = urllib.parse.urlsplit(url).netloc.lower()
        if self.failures.get(host, 0) >= MAX_HOST_FAILURES:
            if host == self.host:
                raise _Stop(
                    f"{host} is not answering ({', '.join(self.errors)})"
                    if self.errors[-1] in ("timeout", "connection_error")
                    else self.errors[-1]
                )
            raise FetchError("host_failing", f"{host} failed {MAX_HOST_FAILURES} times")
        self._spend()
        self.throttle.wait(host, delay)
        try:
            return fetch(self.client, url, http, truncate=truncate)
        except FetchError as exc:
            fatal = exc.error_type in _FATAL_ERRORS
            self.failures[host] = MAX_HOST_FAILURES if fatal else self.failures.get(host, 0) + 1
            if host == self.host:
                self.errors.append(str(exc) if fatal else exc.error_type)
            raise

    def robots_for(self, url: str) -> Robots:
        origin = origin_of(url)
        if origin not in self.robots:
            http = self.cfg.http.model_copy(update={"max_bytes": self.cfg.robots_max_bytes})
            address = robots_url(url)
            try:
                response = self._get(address, http, self.cfg.per_host_delay, truncate=True)
            except FetchError as exc:
                robots = Robots(ALLOW_ALL, note=f"unreachable ({exc.error_type})", failed=True)
                text = ""
            else:
                robots = robots_from_response(
                    response.status, response.body, self.cfg.http.user_agent
                )
                text = (
                    response.body.decode("utf-8", "replace") if 200 <= response.status < 300 else ""
                )
                if not robots.note:
                    robots = dataclasses.replace(robots, note=f"HTTP {response.status}")
            self.robots[origin] = robots
            self.robots_text[origin] = text
        return self.robots[origin]

    def get(self, url: str) -> Response:
        """A polite, budgeted GET; FetchError for refusals by robots.txt too."""
        robots = self.robots_for(url)
        if robots.kind == UNAVAILABLE:
            raise FetchError("robots_unavailable", robots.note, robots.status)
        if not robots.allows(url):
            raise FetchError("robots_disallowed", "robots.txt disallows it")
        delay = max(
            self.cfg.per_host_delay, min(robots.crawl_delay or 0.0, self.cfg.max_crawl_delay)
        )
        return self._get(url, self.cfg.http, delay)


def _key(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit(
        (parts.scheme.lower(), parts.netloc.lower(), parts.path or "/", parts.query, "")
    )


def _same_origin(a: str, b: str) -> bool:
    return origin_of(a) == origin_of(b)


def _count(report: SiteReport, source: str) -> None:
    report.tried[source] = report.tried.get(source, 0) + 1


def _try(site: _Site, candidate: Candidate, queue: list[Candidate]) -> Found | None:
    """Fetch and judge one candidate."""
    report = site.report
    try:
        response = site.get(candidate.url)
    except FetchError as exc:
        _count(report, candidate.source)
        report.rejected.append(Rejected(candidate.url, candidate.source, exc.error_type))
        return None
    _count(report, candidate.source)
    if not 200 <= response.status < 300:
        report.rejected.append(Rejected(candidate.url, candidate.source, f"HTTP {response.status}"))
        return None
    final = response.final_url
    if _key(final) != _key(candidate.url):
        if _key(final) in site.seen:
            report.rejected.append(
                Rejected(candidate.url, candidate.source, f"redirects to {final}")
            )
            return None
        site.seen.add(_key(final))
        if _same_origin(final, candidate.url):
            # /feed → /feed/, http → https: list where the feed is. Off-site redirects (click
            # trackers, feed proxies) may change; the address the site gave is kept.
            candidate = dataclasses.replace(candidate, url=final)
    try:
        return _judge(site, candidate, response, queue)
    except _Stop:
        raise
    except Exception as exc:  # noqa: BLE001 - hostile bytes may break a parser in odd ways
        reason = f"unreadable ({type(exc).__name__})"
        report.rejected.append(Rejected(candidate.url, candidate.source, reason))
        return None


def _judge(
    site: _Site, candidate: Candidate, response: Response, queue: list[Candidate]
) -> Found | None:
    """A fetched candidate: a sitemap index is opened, anything else evaluated and kept or not."""
    try:
        body = gunzipped(response.body)  # sitemap.xml.gz, which the feed stage unpacks too
    except FormatError as exc:
        site.report.rejected.append(Rejected(candidate.url, candidate.source, str(exc)))
        return None
    if feed_kind(body) == "sitemap-index":
        return _index(site, candidate, body, queue)
    verdict = evaluate(candidate, body, dict(response.headers), site.now())
    if candidate.source in ("link", "a") and looks_like_html(body):
        # A page named like a feed is often the site's list of feeds ("RSS" in the footer):
        # its feed links go first in the queue, one level deep.
        tags, anchors = feed_links(body, response.final_url)
        found = [c for c in tags + anchors if _key(c.url) not in site.seen]
        queue[:0] = [dataclasses.replace(c, source="feed-page") for c in found[:MAX_A_LINKS]]
    return _keep(site, verdict)


def _keep(site: _Site, verdict: Found | Rejected) -> Found | None:
    report = site.report
    if isinstance(verdict, Rejected):
        report.rejected.append(verdict)
        return None
    if verdict.comments and not site.cfg.include_comments:
        report.rejected.append(Rejected(verdict.url, verdict.source, "a comments feed"))
        return None
    for other in report.found:
        if other.links == verdict.links:
            report.rejected.append(
                Rejected(verdict.url, verdict.source, f"same entries as {other.url}")
            )
            return None
    report.found.append(verdict)
    return verdict


def _index(site: _Site, candidate: Candidate, body: bytes, queue: list[Candidate]) -> Found | None:
    """A sitemap index: its news sitemaps become candidates; without any, the index itself is a
    plain sitemap (the run follows an index to its first sitemaps) if its first child is one."""
    try:
        children = sitemap_index_locations(body, 1000)
    except FormatError as exc:
        site.report.rejected.append(Rejected(candidate.url, candidate.source, str(exc)[:120]))
        return None
    news = [c for c in children if _NEWSISH.search(c)]
    if news and len(news) < len(children) and not _NEWSISH.search(candidate.url):
        # A site-wide index: its news sitemaps are what to subscribe to.
        queue[:0] = [Candidate(c, "sitemap-index") for c in news[:MAX_INDEX_CHILDREN]]
        return None
    # An index of news sitemaps only (often one per day) or of plain ones: the index itself is
    # the stable address, and the run reads an index's first sitemaps. It counts when its first
    # sitemap is readable.
    if not children:
        site.report.rejected.append(
            Rejected(candidate.url, candidate.source, "an empty sitemap index")
        )
        return None
    if not news and any(f.kind == "sitemap" for f in site.report.found):
        site.report.rejected.append(
            Rejected(candidate.url, candidate.source, "another plain sitemap")
        )
        return None
    _count(site.report, "sitemap-index")
    try:
        response = site.get(children[0])
    except FetchError as exc:
        site.report.rejected.append(Rejected(candidate.url, candidate.source, exc.error_type))
        return None
    try:
        body = gunzipped(response.body) if 200 <= response.status < 300 else b""
    except FormatError:
        body = b""
    if feed_kind(body) not in ("sitemap", "news-sitemap"):
        site.report.rejected.append(
            Rejected(candidate.url, candidate.source, "no readable sitemap in the index")
        )
        return None
    verdict = evaluate(
        Candidate(children[0], candidate.source), body, dict(response.headers), site.now()
    )
    if isinstance(verdict, Found):
        verdict = dataclasses.replace(verdict, url=candidate.url)
    return _keep(site, verdict)


def gunzipped_or_empty(body: bytes) -> bytes:
    try:
        return gunzipped(body)
    except FormatError:
        return b""


def _has_feed(report: SiteReport) -> bool:
    return any(f.kind != "sitemap" for f in report.found)


def discover_site(
    url: str,
    cfg: DiscoverConfig,
    client: httpx.Client,
    throttle: HostThrottle | None = None,
    now: Callable[[], dt.datetime] = lambda: dt.datetime.now(UTC),
) -> SiteReport:
    """Find the feeds of the site at ``url`` within ``cfg``'s budget."""
    site = _Site(url, cfg, client, throttle or HostThrottle(), now)
    report = site.report
    try:
        _discover(site, url)
    except _Stop as stop:
        report.stopped = str(stop)
    return report


def _discover(site: _Site, url: str) -> None:
    report = site.report
    site.seen.add(_key(url))
    tags: list[Candidate] = []
    anchors: list[Candidate] = []
    page_url = url
    try:
        home = site.get(url)
    except FetchError as exc:
        report.homepage = exc.error_type
        home = None
    except _Stop:
        report.homepage = "not fetched"
        raise
    finally:
        if site.robots:
            report.robots = next(iter(site.robots.values())).note or "rules read"
    if home is not None and 200 <= home.status < 300:
        page_url = home.final_url
        site.seen.add(_key(page_url))
        if feed_kind(gunzipped_or_empty(home.body)) and not looks_like_html(home.body):
            # The address given is a feed (or a sitemap) itself.
            report.homepage = "a feed itself"
            _count(report, "given")
            _judge(site, Candidate(url, "given"), home, [])
            if _has_feed(report):
                return
        else:
            try:
                tags, anchors = feed_links(home.body, page_url)
            except Exception as exc:  # noqa: BLE001 - a hostile page may break lxml in odd ways
                report.homepage = f"unreadable ({type(exc).__name__})"
            report.homepage = f"{len(tags)} <link> feeds, {len(anchors)} <a> feed links"
    elif home is not None:
        report.homepage = f"HTTP {home.status}"
    sitemaps: list[str] = []
    for address in dict.fromkeys((url, page_url)):  # the homepage may redirect to www. or https
        try:
            site.robots_for(address)
        except FetchError:
            continue
        text = site.robots_text.get(origin_of(address), "")
        sitemaps += [u for u in robots_sitemaps(text, robots_url(address)) if u not in sitemaps]
    sitemaps = sorted(sitemaps, key=lambda u: not _NEWSISH.search(u))[:MAX_ROBOTS_SITEMAPS]
    news_maps = [Candidate(u, "robots") for u in sitemaps if _NEWSISH.search(u)]
    other_maps = [Candidate(u, "robots") for u in sitemaps if not _NEWSISH.search(u)]
    queue = tags + news_maps + anchors + other_maps
    _drain(site, queue)
    if _has_feed(report):
        return
    common = [Candidate(u, "common") for u in common_locations(page_url)]
    for candidate in common:
        if _key(candidate.url) in site.seen:
            continue
        _drain(site, [candidate])
        if _has_feed(report):
            return


def _drain(site: _Site, queue: list[Candidate]) -> None:
    while queue:
        candidate = queue.pop(0)
        key = _key(candidate.url)
        if key in site.seen:
            continue
        site.seen.add(key)
        _try(site, candidate, queue)


def discover(
    urls: Sequence[str],
    cfg: DiscoverConfig,
    parallel: int = 4,
    now: Callable[[], dt.datetime] = lambda: dt.datetime.now(UTC),
) -> list[SiteReport]:
    """Discover several sites at once (one thread per site, up to ``parallel``), in input order."""
    client = make_client(cfg.http, max_connections=max(4, parallel * 2))
    throttle = HostThrottle()
    try:
        with ThreadPoolExecutor(max(1, min(parallel, len(urls)))) as pool:
            return list(pool.map(lambda u: discover_site(u, cfg, client, throttle, now), urls))
    finally:
        client.close()
