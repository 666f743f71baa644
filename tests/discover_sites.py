"""Loopback sites of different shapes for feed discovery, one server (one origin) per site.

A site is a dict ``path (with query) -> (status, content type, body)``; ``{base}`` in a body
becomes the server's base URL (a callable body gets the base URL and returns bytes). ``/article/<slug>`` always answers with a real article page, so
that a run over discovered feeds fetches and extracts every entry. Paths in ``hold`` keep the
request waiting until the server closes (the "slow site"): the test itself never sleeps.
"""

from __future__ import annotations

import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.faultserver import article_html

Route = tuple[int, str, object]
RSS = "application/rss+xml"
ATOM = "application/atom+xml"
HTML = "text/html; charset=utf-8"
XML = "application/xml"
TEXT = "text/plain"


def rss(title: str, slugs: list[str], language: str = "en", link_suffix: str = "") -> str:
    items = "".join(
        f"<item><title>{s.replace('-', ' ')}</title><link>{{base}}/article/{s}{link_suffix}</link>"
        f"<guid>{{base}}/article/{s}{link_suffix}</guid>"
        "<pubDate>Tue, 24 Nov 2026 09:00:00 GMT</pubDate></item>"
        for s in slugs
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel>'
        f"<title>{title}</title><link>{{base}}/</link><language>{language}</language>"
        f"{items}</channel></rss>"
    )


def atom(title: str, slugs: list[str], language: str = "en") -> str:
    entries = "".join(
        f'<entry><title>{s.replace("-", " ")}</title><link href="{{base}}/article/{s}"/>'
        f"<id>{{base}}/article/{s}</id><updated>2026-11-24T09:00:00Z</updated></entry>"
        for s in slugs
    )
    return (
        f'<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom" '
        f'xml:lang="{language}"><title>{title}</title><id>{{base}}/</id>'
        f"<updated>2026-11-24T09:00:00Z</updated>{entries}</feed>"
    )


def json_feed(title: str, slugs: list[str], language: str = "en") -> str:
    items = ",".join(
        f'{{"id": "{s}", "url": "{{base}}/article/{s}", "title": "{s.replace("-", " ")}", '
        '"date_published": "2026-11-24T09:00:00Z"}'
        for s in slugs
    )
    return (
        f'{{"version": "https://jsonfeed.org/version/1.1", "title": "{title}", '
        f'"language": "{language}", "items": [{items}]}}'
    )


def news_sitemap(name: str, slugs: list[str], language: str = "en") -> str:
    urls = "".join(
        f"<url><loc>{{base}}/article/{s}</loc><news:news><news:publication><news:name>{name}"
        f"</news:name><news:language>{language}</news:language></news:publication>"
        "<news:publication_date>2026-11-24T09:00:00Z</news:publication_date>"
        f"<news:title>{s.replace('-', ' ')}</news:title></news:news></url>"
        for s in slugs
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" '
        f'xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">{urls}</urlset>'
    )


def sitemap_index(paths: list[str]) -> str:
    maps = "".join(f"<sitemap><loc>{{base}}{p}</loc></sitemap>" for p in paths)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{maps}</sitemapindex>'
    )


def page(head: str = "", body: str = "") -> str:
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Home</title>{head}'
        f'</head><body><nav><a href="/">Home</a> <a href="/about">About</a></nav>{body}'
        "</body></html>"
    )


# --- the sites -------------------------------------------------------------------------------

LINK_TAGS: dict[str, Route] = {
    "/": (
        200,
        HTML,
        page(
            '<link rel="alternate" type="application/rss+xml" title="Harbour News" href="/news.rss">'
            '<link rel="alternate" type="application/atom+xml" title="Harbour Sport" href="{base}/sport.atom">'
            '<link rel="alternate" type="application/feed+json" title="Harbour JSON" '
            'href="/feed.json">'
            '<link rel="stylesheet" href="/style.css">'
        ),
    ),
    "/news.rss": (200, RSS, rss("Harbour News", ["bridge-vote", "ferry-plans"])),
    "/sport.atom": (200, ATOM, atom("Harbour Sport", ["regatta", "derby"], "de")),
    "/feed.json": (200, "application/feed+json", json_feed("Harbour JSON", ["tides", "lights"])),
    "/robots.txt": (200, TEXT, "User-agent: *\nDisallow: /private/\n"),
}

WORDPRESS: dict[str, Route] = {
    # A theme that dropped the feed links from <head>; WordPress still serves /feed/.
    "/": (200, HTML, page(body="<main><h1>Just another blog</h1></main>")),
    "/feed": (301, TEXT, "/feed/"),
    "/feed/": (200, RSS, rss("Just Another Blog", ["hello-world", "second-post"])),
    "/comments/feed/": (
        200,
        RSS,
        rss("Comments for Just Another Blog", ["hello-world"], link_suffix="#comment-1"),
    ),
}

NEWS_SITEMAP_ONLY: dict[str, Route] = {
    "/": (404, HTML, "<html><body>not here</body></html>"),
    "/robots.txt": (200, TEXT, "User-agent: *\nAllow: /\n\nSitemap: {base}/sitemaps/index.xml\n"),
    "/sitemaps/index.xml": (200, XML, sitemap_index(["/sitemaps/pages.xml", "/sitemaps/news.xml"])),
    "/sitemaps/pages.xml": (200, XML, sitemap_index([])),
    "/sitemaps/news.xml": (200, XML, news_sitemap("Port Ellery Post", ["council", "budget"])),
}

FAKE_FEED: dict[str, Route] = {
    "/": (
        200,
        HTML,
        page(
            '<link rel="alternate" type="application/rss+xml" title="RSS" href="/rss-page">',
            '<p><a href="/real.xml">RSS</a> <a href="/rss-info.html">About our RSS</a></p>',
        ),
    ),
    # A CMS that answers every "feed" URL with its HTML start page, labelled as RSS.
    "/rss-page": (200, RSS, page(body="<p>Welcome</p>")),
    "/rss-info.html": (200, HTML, page(body="<p>Copy the feed address into your reader.</p>")),
    "/real.xml": (200, "text/xml", rss("Real Feed", ["real-one", "real-two"])),
}

COMMENTS: dict[str, Route] = {
    "/": (
        200,
        HTML,
        page(
            '<link rel="alternate" type="application/rss+xml" title="Blog &raquo; Feed" href="/feed/">'
            '<link rel="alternate" type="application/rss+xml" title="Blog &raquo; Comments Feed" '
            'href="/comments/feed/">'
        ),
    ),
    "/feed/": (200, RSS, rss("Blog", ["post-one", "post-two"])),
    "/comments/feed/": (200, RSS, rss("Comments for Blog", ["post-one"], link_suffix="#comment-7")),
}

SAME_FEED: dict[str, Route] = {
    "/": (
        200,
        HTML,
        page(
            '<link rel="alternate" type="application/rss+xml" title="All news" href="/feed.rss">'
            '<link rel="alternate" type="application/atom+xml" title="All news (Atom)" href="/feed.atom">'
            '<link rel="alternate" type="application/rss+xml" title="Legacy" href="/legacy/rss.xml">'
        ),
    ),
    "/feed.rss": (200, RSS, rss("Daily", ["story-a", "story-b", "story-c"])),
    "/feed.atom": (200, ATOM, atom("Daily", ["story-a", "story-b", "story-c"])),
    "/legacy/rss.xml": (200, RSS, rss("Daily (old address)", ["story-a", "story-b", "story-c"])),
}

NOTHING: dict[str, Route] = {
    "/": (200, HTML, page(body="<main><p>Nothing to subscribe to.</p></main>")),
}

SLOW: dict[str, Route] = {
    "/": (200, HTML, page('<link rel="alternate" type="application/rss+xml" href="/feed.xml">')),
    "/feed.xml": (200, RSS, rss("Slow", ["slow-one"])),
}
SLOW_HOLD = frozenset({"/", "/robots.txt", "/feed.xml", "/feed/", "/feed", "/rss"})


class SiteServer:
    """One site on 127.0.0.1; ``requests`` records every path asked for, in order."""

    def __init__(self, routes: dict[str, Route], hold: frozenset[str] = frozenset()) -> None:
        self.routes = routes
        self.hold = hold
        self.requests: list[str] = []
        self.release = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )

    @property
    def base(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def url(self, path: str = "/") -> str:
        return self.base + path

    def __enter__(self) -> SiteServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self._server.shutdown()
        self._server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        site = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                site.requests.append(self.path)
                path = urllib.parse.urlsplit(self.path).path
                if path in site.hold or self.path in site.hold:
                    site.release.wait(timeout=60)  # bounded: the server's close releases it
                route = site.routes.get(self.path) or site.routes.get(path)
                if route is None and path.startswith("/article/"):
                    route = (200, HTML, article_html(path.rsplit("/", 1)[1]).decode())
                if route is None:
                    route = (404, HTML, "<html><body>not found</body></html>")
                status, ctype, body = route
                # A body is text with {base} in it, or a function of the base URL giving bytes.
                data = (
                    body(site.base)
                    if callable(body)
                    else body.replace("{base}", site.base).encode()
                )
                headers = {"Location": body} if status in (301, 302) else {}
                try:
                    self.send_response_only(status)
                    self.send_header("Content-Type", ctype)
                    self.send_header("Content-Length", str(len(data)))
                    for key, value in headers.items():
                        self.send_header(key, value)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up on a held request, as it should

        return Handler
