"""A careful HTTP GET shared by the feed and article fetch stages.

What it guarantees for one URL:
- only http and https; every hop, redirects included, is resolved and refused when it points at a
  private, loopback, link-local, multicast or reserved address (unless ``allow_private_hosts``);
- redirects are followed by hand (so each hop is checked) up to ``max_redirects``;
- the body is read as a stream and cut off at ``max_bytes`` *after* decompression, and the whole
  exchange is bounded by ``total_timeout`` even when a server drips bytes slowly.

Failures raise :class:`FetchError` with a short machine-readable ``error_type`` that ends up in the
dead-letter row.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import socket
import time
import urllib.parse
from collections.abc import Callable, Mapping
from email.message import Message

import httpx
from pydantic import BaseModel, ConfigDict, Field

DEFAULT_USER_AGENT = "newsbeam/0.1 (+https://github.com/newsbeam/newsbeam; news ingestion bot)"

# Resolver signature of socket.getaddrinfo, injectable so tests never touch real DNS or addresses.
Resolver = Callable[..., list]

_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})


class HttpConfig(BaseModel):
    """Limits of one fetch; the same model configures feed and article fetching."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    user_agent: str = DEFAULT_USER_AGENT
    connect_timeout: float = Field(default=10.0, gt=0)
    read_timeout: float = Field(default=20.0, gt=0)
    total_timeout: float = Field(default=60.0, gt=0)
    max_redirects: int = Field(default=5, ge=0)
    max_bytes: int = Field(default=10 * 1024 * 1024, gt=0)
    allow_private_hosts: bool = False


class FetchError(Exception):
    """A fetch that produced no usable response; ``error_type`` is short and stable."""

    def __init__(self, error_type: str, message: str, http_status: int | None = None) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.http_status = http_status


@dataclasses.dataclass(frozen=True)
class Response:
    url: str  # the URL asked for
    final_url: str  # after redirects
    status: int
    content_type: str  # media type only, lower-case, e.g. "text/html"
    charset: str | None
    headers: Mapping[str, str]
    body: bytes


def parse_content_type(header: str | None) -> tuple[str, str | None]:
    """``text/html; charset=ISO-8859-1`` → ``("text/html", "iso-8859-1")``."""
    if not header:
        return "", None
    msg = Message()
    msg["content-type"] = header
    media = msg.get_content_type().lower()
    charset = msg.get_param("charset")
    if isinstance(charset, tuple):  # RFC 2231 form
        charset = charset[2]
    return media, (str(charset).strip().strip("'\"").lower() or None) if charset else None


def _blocked_reason(address: str) -> str | None:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    for name in ("loopback", "private", "link_local", "multicast", "reserved", "unspecified"):
        if getattr(ip, f"is_{name}"):
            return name.replace("_", "-")
    if not ip.is_global:
        return "non-global"
    return None


def check_url(url: str, allow_private_hosts: bool, resolver: Resolver = socket.getaddrinfo) -> None:
    """Raise FetchError unless ``url`` is http(s) and every address it resolves to is public."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise FetchError("bad_scheme", f"only http and https are fetched, not {parts.scheme!r}")
    if not parts.hostname:
        raise FetchError("bad_url", f"no host in {url!r}")
    if allow_private_hosts:
        return
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = resolver(parts.hostname, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise FetchError("dns_error", f"cannot resolve {parts.hostname}: {exc}") from exc
    for info in infos:
        address = info[4][0]
        reason = _blocked_reason(address)
        if reason:
            raise FetchError(
                "blocked_host",
                f"{parts.hostname} resolves to {reason} address {address}; "
                "pass --allow-private-hosts to fetch it",
            )


def make_client(cfg: HttpConfig, max_connections: int = 100) -> httpx.Client:
    """One pooled client per worker; redirects are handled by :func:`fetch`, not httpx."""
    timeout = httpx.Timeout(cfg.read_timeout, connect=cfg.connect_timeout)
    limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
    return httpx.Client(
        timeout=timeout,
        limits=limits,
        follow_redirects=False,
        headers={"User-Agent": cfg.user_agent, "Accept-Encoding": "gzip, deflate"},
        trust_env=False,  # a proxy from the environment would bypass the host checks
    )


def _read_capped(response: httpx.Response, cfg: HttpConfig, deadline: float) -> bytes:
    declared = response.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > cfg.max_bytes:
        raise FetchError(
            "too_large",
            f"Content-Length {declared} exceeds the {cfg.max_bytes} byte cap",
            response.status_code,
        )
    chunks: list[bytes] = []
    total = 0
    # iter_bytes decompresses, so the cap also stops gzip/deflate bombs.
    for chunk in response.iter_bytes():
        total += len(chunk)
        if total > cfg.max_bytes:
            raise FetchError(
                "too_large", f"body exceeds the {cfg.max_bytes} byte cap", response.status_code
            )
        if time.monotonic() > deadline:
            raise FetchError(
                "timeout", f"body not complete within {cfg.total_timeout:g}s", response.status_code
            )
        chunks.append(chunk)
    return b"".join(chunks)


def fetch(
    client: httpx.Client,
    url: str,
    cfg: HttpConfig,
    headers: Mapping[str, str] | None = None,
    resolver: Resolver = socket.getaddrinfo,
) -> Response:
    """GET ``url`` within ``cfg``'s limits. Any status is returned; transport problems raise."""
    deadline = time.monotonic() + cfg.total_timeout
    current = url
    for _hop in range(cfg.max_redirects + 1):
        check_url(current, cfg.allow_private_hosts, resolver)
        try:
            with client.stream("GET", current, headers=dict(headers or {})) as response:
                status = response.status_code
                location = response.headers.get("location")
                if status in _REDIRECT_STATUSES and location:
                    current = urllib.parse.urljoin(current, location.strip())
                    continue
                body = _read_capped(response, cfg, deadline)
                media, charset = parse_content_type(response.headers.get("content-type"))
                return Response(
                    url=url,
                    final_url=str(response.url),
                    status=status,
                    content_type=media,
                    charset=charset,
                    headers=dict(response.headers),
                    body=body,
                )
        except httpx.TimeoutException as exc:
            raise FetchError("timeout", f"{type(exc).__name__} for {current}") from exc
        except httpx.DecodingError as exc:
            raise FetchError("bad_encoding", f"cannot decode body of {current}: {exc}") from exc
        except (httpx.TransportError, httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
            raise FetchError("connection_error", f"{type(exc).__name__}: {exc}") from exc
    raise FetchError("too_many_redirects", f"more than {cfg.max_redirects} redirects from {url}")
