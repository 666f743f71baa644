"""A hostile web server on loopback, for fault-injection tests.

Every misbehaviour a daily ingest meets is one path (``{base}`` below is the server's own URL):

==============================  ===============================================================
``/article/<slug>``             a normal English news article (HTML, enough text to extract)
``/gzip/<slug>``                the same article, gzip-encoded
``/slow?delay=S``               waits S seconds before answering
``/drip?interval=S&chunks=N``   headers at once, then one byte every S seconds
``/status/<code>``              that status; ``?retry_after=V`` adds a Retry-After header
``/flap/<n>?key=K``             503 (Retry-After: 0) for the first n requests per K, then an article
``/redirect/loop``              302 to itself
``/redirect/chain/<n>``         n redirects, then an article
``/redirect/to?url=U``          302 to U (private addresses, file://, ftp:// …)
``/huge?size=N``                N bytes of HTML; ``&length=0`` omits Content-Length
``/bomb/<enc>?size=N``          N bytes of HTML compressed with gzip, deflate or deflate-raw
``/type/<kind>``                pdf, image, json, none (HTML without Content-Type), octet (HTML
                                as application/octet-stream)
``/charset/<kind>``             mislabeled (Latin-1 bytes labelled UTF-8), unknown (charset
                                x-no-such-charset), mixed (UTF-8 and cp1252 bytes in one page)
``/empty``                      200 with an empty body
``/encoding/<value>``           an uncompressed article labelled ``Content-Encoding: <value>``
``/echo-host``                  HTML page that shows the Host header it received
``/robots.txt``                 ``server.robots`` (text or an int status; default 404), after
                                ``server.robots_delay`` seconds
``/feed/<name>.xml``            feeds from :data:`FEEDS` (XML bombs, external entities, HTML
                                posing as a feed, the fault-suite feed …)
``/canary/<name>``              404, but recorded: a parser that fetched it followed an entity
==============================  ===============================================================

The server only delays its own answers; tests never sleep. The fixtures at the bottom start one
server per test (``fault_server``) and make sure no test connects outside 127.0.0.0/8
(``loopback_only``).
"""

from __future__ import annotations

import contextlib
import gzip
import ipaddress
import socket
import threading
import time
import urllib.parse
import zlib
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

_PARAGRAPHS = (
    (
        "The city council of Port Ellery voted on Tuesday to repair the old harbour bridge, "
        "ending a debate that had divided residents for more than two years. The repairs will "
        "cost an estimated twelve million euros and are expected to take eighteen months."
    ),
    (
        "Engineers had warned last spring that corrosion in the steel supports was spreading "
        "faster than expected. Heavy lorries were banned from the bridge in April, forcing "
        "delivery traffic onto a detour through the industrial district that added forty "
        "minutes to many journeys."
    ),
    (
        "Opposition members argued that a new bridge would be cheaper over thirty years, but the "
        "majority said the historic structure was part of the harbour's identity and should be "
        "kept. The mayor promised regular public updates on the schedule and the budget."
    ),
    (
        "Local businesses welcomed the decision. The owner of a ferry company said the "
        "uncertainty had made it impossible to plan, and that customers had repeatedly asked "
        "whether the crossing would stay open during the summer season when visitor numbers "
        "reach their peak."
    ),
)


def article_html(slug: str) -> bytes:
    title = slug.replace("-", " ").capitalize() or "Article"
    paragraphs = "".join(f"<p>{p}</p>" for p in _PARAGRAPHS)
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
        f'</head><body><nav><a href="/">Home</a></nav><main><article><h1>{title}</h1>'
        f"<p>Report {slug}.</p>{paragraphs}</article></main><footer>Imprint</footer></body></html>"
    ).encode()


def billion_laughs(levels: int = 9) -> bytes:
    decls = ['<!ENTITY lol0 "lol">'] + [
        f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, levels + 1)
    ]
    return (
        '<?xml version="1.0"?>\n<!DOCTYPE rss [\n' + "\n".join(decls) + "\n]>\n"
        f'<rss version="2.0"><channel><title>&lol{levels};</title>'
        "<item><title>Laughs</title><link>{base}/article/laughs</link></item></channel></rss>"
    ).encode()


def _rss(items: str, title: str = "Fault News") -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel>'
        f"<title>{title}</title><link>{{base}}/</link>{items}</channel></rss>"
    ).encode()


def _item(
    title: str, link: str | None, guid: str = "", date: str = "Tue, 24 Nov 2026 09:00:00 GMT"
) -> str:
    link_xml = f"<link>{link}</link>" if link is not None else ""
    guid_xml = f'<guid isPermaLink="false">{guid}</guid>' if guid else ""
    return (
        f"<item><title>{title}</title>{link_xml}{guid_xml}<pubDate>{date}</pubDate>"
        f"<description>{title}.</description></item>"
    )


# The fault-suite feed (tests/test_accounting.py knows the expected fate of every entry).
FAULT_ENTRIES: tuple[tuple[str, str | None, str, str], ...] = (
    # title, link, guid, date
    ("Plain article", "{base}/article/plain", "g-plain", ""),
    ("Plain again with tracking", "{base}/article/plain?utm_source=rss", "g-plain", ""),
    ("Gzip article", "{base}/gzip/zipped", "g-gzip", ""),
    ("Relative link", "/article/relative", "g-rel", ""),
    ("Absurd future date", "{base}/article/future", "g-future", "Mon, 01 Jan 9999 00:00:00 GMT"),
    ("Absurd past date", "{base}/article/past", "g-past", "Sat, 01 Jan 1870 00:00:00 GMT"),
    ("Duplicate guid, other link", "{base}/article/other", "g-plain", ""),
    ("No link", None, "g-nolink", ""),
    ("Mail link", "mailto:desk@example.org", "g-mail", ""),
    ("Flapping server", "{base}/flap/1?key=e2e", "g-flap", ""),
    ("Chain of redirects", "{base}/redirect/chain/2", "g-chain", ""),
    ("HTML without content type", "{base}/type/none", "g-none", ""),
    ("HTML as octet stream", "{base}/type/octet", "g-octet", ""),
    ("Robots says no", "{base}/private/secret", "g-robots", ""),
    ("Gone", "{base}/status/404", "g-404", ""),
    ("Unavailable", "{base}/status/503?retry_after=0", "g-503", ""),
    ("Come back tomorrow", "{base}/status/429?retry_after=86400", "g-429", ""),
    ("Slow server", "{base}/slow?delay=1", "g-slow", ""),
    ("Drip feed", "{base}/drip?interval=0.05&amp;chunks=60", "g-drip", ""),
    ("Redirect loop", "{base}/redirect/loop", "g-loop", ""),
    (
        "Redirect to metadata",
        "{base}/redirect/to?url=http://169.254.169.254/latest/meta-data",
        "g-meta",
        "",
    ),
    ("Redirect to file", "{base}/redirect/to?url=file:///etc/passwd", "g-file", ""),
    ("Huge body", "{base}/huge?size=2000000", "g-huge", ""),
    ("Huge body, no length", "{base}/huge?size=2000000&amp;length=0", "g-huge-nolen", ""),
    ("Gzip bomb", "{base}/bomb/gzip?size=5000000", "g-gzbomb", ""),
    ("Deflate bomb", "{base}/bomb/deflate?size=5000000", "g-dfbomb", ""),
    ("PDF", "{base}/type/pdf", "g-pdf", ""),
    ("Image", "{base}/type/image", "g-image", ""),
    ("Empty body", "{base}/empty", "g-empty", ""),
    ("Mislabeled charset", "{base}/charset/mislabeled", "g-cs1", ""),
    ("Unknown charset", "{base}/charset/unknown", "g-cs2", ""),
    ("Mixed charsets", "{base}/charset/mixed", "g-cs3", ""),
)


def fault_feed() -> bytes:
    return _rss(
        "".join(
            _item(t, link, guid, date) if date else _item(t, link, guid)
            for t, link, guid, date in FAULT_ENTRIES
        )
    )


FEEDS: dict[str, bytes] = {
    "faults": fault_feed(),
    "billion-laughs": billion_laughs(),
    "xxe-file": (
        b'<?xml version="1.0"?>\n<!DOCTYPE rss [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n'
        + _rss(_item("&xxe;", "{base}/article/xxe-file"))[
            len(b'<?xml version="1.0" encoding="utf-8"?>\n') :
        ]
    ),
    "xxe-http": (
        b'<?xml version="1.0"?>\n<!DOCTYPE rss [<!ENTITY xxe SYSTEM "{base}/canary/xxe">]>\n'
        + _rss(_item("&xxe;", "{base}/article/xxe-http"))[
            len(b'<?xml version="1.0" encoding="utf-8"?>\n') :
        ]
    ),
    "external-dtd": (
        b'<?xml version="1.0"?>\n<!DOCTYPE rss SYSTEM "{base}/canary/dtd">\n'
        + _rss(_item("External DTD", "{base}/article/dtd"))[
            len(b'<?xml version="1.0" encoding="utf-8"?>\n') :
        ]
    ),
    "html": article_html("not-a-feed"),
    "duplicates": _rss(
        _item("One", "{base}/article/dup", "same")
        + _item("Two", "{base}/article/dup", "same")
        + _item("Three", "{base}/article/dup#comments", "same")
    ),
}

_TYPES = {
    "pdf": ("application/pdf", b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\n%%EOF\n"),
    "image": ("image/png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"\x00" * 64),
    "json": ("application/json", b'{"headline": "not a page"}'),
    "none": (None, article_html("no-content-type")),
    "octet": ("application/octet-stream", article_html("octet-stream")),
}


class FaultServer:
    """The server; ``requests`` records every request path, ``hosts`` every Host header,
    ``agents`` every User-Agent."""

    def __init__(self) -> None:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        # A short poll interval makes shutdown() quick: one server per test stays cheap.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )
        self.requests: list[str] = []
        self.hosts: list[str] = []
        self.agents: list[str] = []
        self.robots: str | int = 404
        self.robots_delay = 0.0
        self._flaps: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._bombs: dict[tuple[str, int], bytes] = {}

    @property
    def base(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def url(self, path: str) -> str:
        return self.base + path

    def hits(self, prefix: str) -> int:
        with self._lock:
            return sum(1 for r in self.requests if r.startswith(prefix))

    def start(self) -> FaultServer:
        self._thread.start()
        return self

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def bomb(self, encoding: str, size: int) -> bytes:
        """``size`` bytes of HTML-ish text compressed: ~1000:1, so a small download."""
        key = (encoding, size)
        if key not in self._bombs:
            raw = b"<html><body>" + b" " * size
            if encoding == "gzip":
                data = gzip.compress(raw, compresslevel=9)
            elif encoding == "deflate":
                data = zlib.compress(raw, 9)
            else:
                packer = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
                data = packer.compress(raw) + packer.flush()
            self._bombs[key] = data
        return self._bombs[key]

    def flap(self, key: str) -> int:
        with self._lock:
            self._flaps[key] += 1
            return self._flaps[key]

    def reset_flaps(self) -> None:
        """Make every flapping endpoint fail again, as for a fresh server (same URLs)."""
        with self._lock:
            self._flaps.clear()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:  # keep test output clean
                pass

            def do_GET(self) -> None:
                with server._lock:
                    server.requests.append(self.path)
                    server.hosts.append(self.headers.get("Host", ""))
                    server.agents.append(self.headers.get("User-Agent", ""))
                parts = urllib.parse.urlsplit(self.path)
                query = dict(urllib.parse.parse_qsl(parts.query))
                segments = parts.path.strip("/").split("/")
                try:
                    self._route(parts.path, segments, query)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up, as it should with a hostile server

            def _route(self, path: str, segments: list[str], query: dict[str, str]) -> None:
                head = segments[0]
                arg = segments[1] if len(segments) > 1 else ""
                if head == "article":
                    self._send(200, article_html(arg))
                elif head == "gzip":
                    self._send(
                        200, gzip.compress(article_html(arg)), headers={"Content-Encoding": "gzip"}
                    )
                elif head == "slow":
                    time.sleep(float(query.get("delay", "1")))
                    self._send(200, article_html("slow"))
                elif head == "drip":
                    self._drip(float(query.get("interval", "0.05")), int(query.get("chunks", "50")))
                elif head == "status":
                    headers = (
                        {"Retry-After": query["retry_after"]} if "retry_after" in query else {}
                    )
                    self._send(int(arg), b"status page", "text/plain", headers)
                elif head == "flap":
                    if server.flap(f"{arg}:{query.get('key', '')}") <= int(arg):
                        self._send(503, b"try again", "text/plain", {"Retry-After": "0"})
                    else:
                        self._send(200, article_html("flap"))
                elif head == "redirect":
                    self._redirect(arg, segments, query)
                elif head == "huge":
                    self._huge(int(query.get("size", "1000000")), query.get("length", "1") == "1")
                elif head == "bomb":
                    data = server.bomb(arg, int(query.get("size", "10000000")))
                    encoding = "deflate" if arg.startswith("deflate") else "gzip"
                    self._send(200, data, headers={"Content-Encoding": encoding})
                elif head == "type":
                    ctype, body = _TYPES[arg]
                    self._send(200, body, ctype)
                elif head == "charset":
                    self._charset(arg)
                elif head == "empty":
                    self._send(200, b"")
                elif head == "encoding":
                    self._send(200, article_html("encoding"), headers={"Content-Encoding": arg})
                elif head == "echo-host":
                    host = self.headers.get("Host", "")
                    self._send(200, f"<html><body><p>host={host}</p></body></html>".encode())
                elif path == "/robots.txt":
                    time.sleep(server.robots_delay)
                    if isinstance(server.robots, int):
                        self._send(server.robots, b"no robots here", "text/plain")
                    else:
                        self._send(200, server.robots.encode(), "text/plain")
                elif head == "feed":
                    name = arg.removesuffix(".xml")
                    body = FEEDS[name].replace(b"{base}", server.base.encode())
                    self._send(200, body, "application/rss+xml")
                else:
                    self._send(404, b"<html><body>not found</body></html>")

            def _redirect(self, kind: str, segments: list[str], query: dict[str, str]) -> None:
                if kind == "loop":
                    target = "/redirect/loop"
                elif kind == "chain":
                    left = int(segments[2])
                    target = f"/redirect/chain/{left - 1}" if left > 0 else "/article/end-of-chain"
                    if left <= 0:
                        self._send(200, article_html("end-of-chain"))
                        return
                else:
                    target = query["url"]
                self._send(302, b"", "text/plain", {"Location": target})

            def _huge(self, size: int, with_length: bool) -> None:
                block = b"<p>" + b"x" * 65533
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                if with_length:
                    self.send_header("Content-Length", str(size))
                else:
                    self.send_header("Connection", "close")
                self.end_headers()
                sent = 0
                while sent < size:
                    piece = block[: size - sent]
                    self.wfile.write(piece)
                    sent += len(piece)
                if not with_length:
                    self.close_connection = True

            def _drip(self, interval: float, chunks: int) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(chunks))
                self.end_headers()
                for _ in range(chunks):
                    self.wfile.write(b"x")
                    self.wfile.flush()
                    time.sleep(interval)

            def _charset(self, kind: str) -> None:
                text = article_html(f"charset-{kind}").decode()
                if kind == "mislabeled":
                    body = text.replace("Report", "Größere Straßen").encode("latin-1")
                    self._send(200, body, "text/html; charset=utf-8")
                elif kind == "unknown":
                    self._send(200, text.encode(), "text/html; charset=x-no-such-charset")
                else:  # mixed
                    body = text.replace("Report", "“Größere” Straßen").encode() + "“quoted”".encode(
                        "cp1252"
                    )
                    self._send(200, body, "text/html")

            def _send(
                self,
                status: int,
                body: bytes,
                ctype: str | None = "text/html; charset=utf-8",
                headers: dict[str, str] | None = None,
            ) -> None:
                self.send_response(status)
                if ctype is not None:
                    self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(body)

            def send_response(self, code: int, message: str | None = None) -> None:
                # http.server adds a Server and a Date header; a bare answer is closer to the
                # stripped-down servers this stands in for.
                self.send_response_only(code, message)

        return Handler


# --- the loopback-only guard -------------------------------------------------------------------


class OutsideConnection(AssertionError):
    """A test tried to open a connection outside 127.0.0.0/8 (or ::1)."""


def _is_loopback(host: str) -> bool:
    try:
        ip = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False  # a name: connecting by name would resolve it, which tests never do
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return ip.is_loopback


@contextlib.contextmanager
def loopback_connections_only() -> Iterator[list[object]]:
    """Make every socket connect outside loopback raise, and record the attempts."""
    attempts: list[object] = []
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex

    def check(sock: socket.socket, address: object) -> None:
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            host = address[0] if isinstance(address, tuple) else str(address)
            if not _is_loopback(str(host)):
                attempts.append(address)
                raise OutsideConnection(f"test tried to connect to {address!r}")

    def connect(sock: socket.socket, address: object) -> None:
        check(sock, address)
        return real_connect(sock, address)

    def connect_ex(sock: socket.socket, address: object) -> int:
        check(sock, address)
        return real_connect_ex(sock, address)

    socket.socket.connect = connect  # type: ignore[method-assign]
    socket.socket.connect_ex = connect_ex  # type: ignore[method-assign]
    try:
        yield attempts
    finally:
        socket.socket.connect = real_connect  # type: ignore[method-assign]
        socket.socket.connect_ex = real_connect_ex  # type: ignore[method-assign]


# Registered under short names; test modules import the *_fixture functions, so the parameter
# ``fault_server`` of a test never shadows an imported name.
@pytest.fixture(name="loopback_only")
def loopback_only_fixture() -> Iterator[list[object]]:
    """Fails the test if anything tried to connect outside loopback, even if it was refused."""
    with loopback_connections_only() as attempts:
        yield attempts
    assert attempts == [], f"connections outside 127.0.0.0/8 were attempted: {attempts}"


@pytest.fixture(name="fault_server")
def fault_server_fixture() -> Iterator[FaultServer]:
    server = FaultServer().start()
    try:
        yield server
    finally:
        server.close()
