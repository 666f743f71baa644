"""A loopback web server over a folder of feeds and pages (the demo site, test fixtures).

- Files are served by their path; a missing file is a 404.
- ``{base}`` inside a served file becomes the server's own base URL, so fixtures can hold
  absolute links without knowing the port.
- ``_routes.json`` in the folder maps paths to ``{"redirect": "/other"}`` (301),
  ``{"status": 503}`` or ``{"content_type": "...", "file": "..."}`` for special cases.
- Every file is served with an ETag (hash of its bytes) and Last-Modified (its mtime), and a
  matching ``If-None-Match`` gets a 304. A route with ``{"etag": "fixed"}`` plays a server with a
  stale validator: it always sends that ETag and answers 304 to it, whatever the file holds now.
- A route with ``{"hang": true}`` holds the request until ``release`` is set (tests use it to
  catch a run in the middle); ``hanging`` is set when such a request arrives.
"""

from __future__ import annotations

import email.utils
import hashlib
import json
import mimetypes
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".xml": "application/xml",
    ".rss": "application/rss+xml",
    ".atom": "application/atom+xml",
    ".json": "application/json",
    ".pdf": "application/pdf",
    ".txt": "text/plain; charset=utf-8",
}
_TEXT_SUFFIXES = (".html", ".xml", ".rss", ".atom", ".json", ".txt", ".yaml")


class SiteServer:
    """Serve ``root`` on 127.0.0.1 in a background thread; use as a context manager."""

    def __init__(self, root: str | Path, host: str = "127.0.0.1", port: int = 0) -> None:
        self.root = Path(root).resolve()
        routes_file = self.root / "_routes.json"
        self.routes = json.loads(routes_file.read_text("utf-8")) if routes_file.exists() else {}
        self._server = ThreadingHTTPServer((host, port), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self.requests: list[str] = []
        self.not_modified: list[str] = []
        self.hanging = threading.Event()
        self.release = threading.Event()
        self._served = threading.Condition()
        self._counts: dict[str, int] = {}

    @property
    def base(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def url(self, path: str) -> str:
        return self.base + path

    def served(self, path: str) -> int:
        with self._served:
            return self._counts.get(path, 0)

    def wait_for(self, path: str, count: int, timeout: float) -> bool:
        """Block until ``path`` has been requested ``count`` times (False on timeout)."""
        with self._served:
            return self._served.wait_for(lambda: self._counts.get(path, 0) >= count, timeout)

    def _count(self, path: str) -> None:
        with self._served:
            self._counts[path] = self._counts.get(path, 0) + 1
            self._served.notify_all()

    def render(self, data: bytes) -> bytes:
        return data.replace(b"{base}", self.base.encode("ascii"))

    def __enter__(self) -> SiteServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.release.set()
        self._server.shutdown()
        self._server.server_close()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        site = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # keep test output clean
                pass

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                path = urllib.parse.urlsplit(self.path).path
                site.requests.append(self.path)
                site._count(path)
                route = site.routes.get(path, {})
                if route.get("hang"):
                    site.hanging.set()
                    site.release.wait(timeout=120)  # bounded: a forgotten release ends the test
                if "redirect" in route:
                    self._send(301, b"", "text/plain", {"Location": route["redirect"]})
                    return
                if "status" in route:
                    self._send(int(route["status"]), b"unavailable", "text/plain")
                    return
                target = (site.root / (route.get("file") or path).lstrip("/")).resolve()
                if site.root not in target.parents or not target.is_file() or target.name.startswith("_"):
                    self._send(404, b"<html><body>not found</body></html>", "text/html")
                    return
                body = target.read_bytes()
                if target.suffix in _TEXT_SUFFIXES:
                    body = site.render(body)
                ctype = route.get("content_type") or _TYPES.get(target.suffix) or (
                    mimetypes.guess_type(target.name)[0] or "application/octet-stream"
                )
                etag = '"%s"' % (route.get("etag") or hashlib.sha256(body).hexdigest()[:16])
                validators = {
                    "ETag": etag,
                    "Last-Modified": email.utils.formatdate(target.stat().st_mtime, usegmt=True),
                }
                if self.headers.get("If-None-Match") == etag:
                    site.not_modified.append(path)
                    self._send(304, b"", ctype, validators)
                    return
                self._send(200, body, ctype, validators)

            def _send(self, status: int, body: bytes, ctype: str, headers: dict | None = None) -> None:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                if status != 304:
                    self.send_header("Content-Length", str(len(body)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(body)

        return Handler
