"""A careful GET shared by the feed, robots.txt and article fetch stages.

What it guarantees for one URL:
- only http and https; every hop, redirects included, is resolved and checked *before* a
  connection is opened (see :func:`check_url` for which address ranges are refused and when);
- the connection goes to the address that was checked: the client's network backend dials the
  vetted IP while Host header and TLS SNI keep the name, so a DNS answer that changes between the
  check and the connect (DNS rebinding) cannot steer the fetch into the user's network;
- redirects are followed by hand (so each hop is checked) up to ``max_redirects``;
- 429 and 5xx answers are retried ``retries`` times with exponential back-off, honouring
  ``Retry-After`` up to ``max_retry_wait``; a longer ``Retry-After`` fails at once
  (``retry_after_too_long``) instead of sleeping;
- the body is read as a raw stream and decompressed here, ``max_length``-bounded, so the
  ``max_bytes`` cap holds *after* decompression and a gzip/deflate bomb never inflates in memory;
- the whole exchange, retries included, is bounded by ``total_timeout`` (checked between reads;
  a single read waits at most ``read_timeout``, so a drip-feeding server is cut off after at most
  ``total_timeout + read_timeout``).

Failures raise :class:`FetchError` with a short machine-readable ``error_type`` that ends up in the
dead-letter row: ``bad_scheme``, ``bad_url``, ``dns_error``, ``blocked_host``, ``timeout``,
``connection_error``, ``too_many_redirects``, ``too_large``, ``bad_encoding``,
``retry_after_too_long``.
"""

from __future__ import annotations

import contextvars
import dataclasses
import email.utils
import functools
import ipaddress
import socket
import ssl
import time
import urllib.parse
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from email.message import Message

import httpcore
import httpx
from pydantic import BaseModel, ConfigDict, Field, field_validator

DEFAULT_USER_AGENT = "newsbeam/0.1 (+https://github.com/newsbeam/newsbeam; news ingestion bot)"

# Resolver signature of socket.getaddrinfo, injectable so tests never touch real DNS or addresses.
Resolver = Callable[..., list]
Sleeper = Callable[[float], None]
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
# Answers that say "try again later"; everything else (404, 410, 451 …) is final for this run.
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
# NAT64 (RFC 6052) addresses carry an IPv4 address that a NAT64 gateway would connect to.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
# "This network": Linux connects 0.x.x.x to the local host, a classic SSRF bypass.
_THIS_NETWORK = ipaddress.ip_network("0.0.0.0/8")
# Encodings we advertise and decode ourselves; a server answering with another one is broken.
_ENCODINGS = {"gzip": zlib.MAX_WBITS | 32, "x-gzip": zlib.MAX_WBITS | 32, "deflate": zlib.MAX_WBITS}


class HttpConfig(BaseModel):
    """Limits of one fetch; the same model configures feed and article fetching."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    user_agent: str = DEFAULT_USER_AGENT
    connect_timeout: float = Field(default=10.0, gt=0)
    read_timeout: float = Field(default=20.0, gt=0)
    total_timeout: float = Field(default=60.0, gt=0)
    max_redirects: int = Field(default=5, ge=0)
    max_bytes: int = Field(default=10 * 1024 * 1024, gt=0)
    # Loopback and private ranges (RFC 1918, ULA, CGNAT …); link-local (cloud metadata),
    # multicast, reserved and unspecified addresses stay refused even then.
    allow_private_hosts: bool = False
    # CIDRs fetched even though they are not public, e.g. ["127.0.0.0/8"] for a loopback test
    # server or ["10.20.0.0/16"] for an intranet mirror; narrower than allow_private_hosts.
    allowed_networks: tuple[str, ...] = ()
    retries: int = Field(default=2, ge=0)
    backoff: float = Field(default=1.0, ge=0)  # first wait; doubles with every retry
    max_retry_wait: float = Field(default=10.0, ge=0)  # longest single wait, Retry-After included

    @field_validator("allowed_networks")
    @classmethod
    def _cidrs(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for item in value:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError(
                    f"allowed_networks entries must be CIDRs like '10.0.0.0/8', got {item!r}"
                ) from None
        return value


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
    attempts: int = 1  # requests made for the final hop, retries included
    # For the archive: headers in the server's order and case (repeats kept), the status line's
    # reason and protocol, and the URLs that redirected here.
    raw_headers: tuple[tuple[str, str], ...] = ()
    reason: str = ""
    http_version: str = "HTTP/1.1"
    redirects: tuple[str, ...] = ()


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


# --- which addresses may be fetched -------------------------------------------------------------


# Categories no flag allows: nothing a news server lives on, and 169.254.169.254 is the cloud
# metadata service. Only ``allowed_networks`` can open them.
NEVER_ALLOWED = frozenset({"unspecified", "multicast", "link-local", "reserved"})


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address a 6to4, Teredo or NAT64 address leads to, if any."""
    if ip.sixtofour:
        return ip.sixtofour
    if ip.teredo:
        return ip.teredo[1]
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def address_category(ip: IPAddress) -> str | None:
    """``unspecified``, ``multicast``, ``link-local``, ``reserved``, ``loopback``, ``private``,
    ``non-global``, or None for a public address."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped:
            return address_category(ip.ipv4_mapped)
        # Checked before is_reserved: Python counts all of ::/8, ::1 included, as reserved.
        if ip.is_loopback:
            return "loopback"
        if ip.is_unspecified:
            return "unspecified"
        if ip.is_multicast:
            return "multicast"
        if ip.is_link_local:
            return "link-local"
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            return address_category(embedded)
        if ip.is_reserved:
            return "reserved"
        if ip.is_private or ip.is_site_local:
            return "private"
        return None if ip.is_global else "non-global"
    if ip in _THIS_NETWORK or ip.is_unspecified:
        return "unspecified"
    for name in ("multicast", "link_local", "reserved", "loopback", "private"):
        if getattr(ip, f"is_{name}"):
            return name.replace("_", "-")
    return None if ip.is_global else "non-global"


def blocked_reason(address: str, allow_private_hosts: bool = False) -> str | None:
    """Why ``address`` may not be fetched, or None. Never allowed: :data:`NEVER_ALLOWED`;
    allowed only with ``allow_private_hosts``: loopback, private and other non-global ranges."""
    category = address_category(ipaddress.ip_address(address.split("%", 1)[0]))
    if category is None or (allow_private_hosts and category not in NEVER_ALLOWED):
        return None
    return category


@dataclasses.dataclass(frozen=True)
class HostPolicy:
    """Which resolved addresses a fetch may connect to."""

    allow_private_hosts: bool = False
    allowed_networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()

    @classmethod
    def of(cls, cfg: HttpConfig) -> HostPolicy:
        return cls(cfg.allow_private_hosts, _networks(cfg.allowed_networks))

    def refusal(self, address: str) -> str | None:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
        if any(ip.version == net.version and ip in net for net in self.allowed_networks):
            return None
        return blocked_reason(address, self.allow_private_hosts)


def _networks(cidrs: Iterable[str]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(c, strict=False) for c in cidrs)


def _literal_ip(host: str) -> str | None:
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return None


def vet_host(
    host: str, port: int, policy: HostPolicy, resolver: Resolver = socket.getaddrinfo
) -> list[str]:
    """Resolve ``host`` and return its addresses; FetchError if any of them is refused.

    All answers must pass, not just one: a name that resolves to a public and a private address
    could be dialled on either.
    """
    literal = _literal_ip(host)
    if literal is not None:
        addresses = [literal]
    else:
        try:
            infos = resolver(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as exc:
            raise FetchError("dns_error", f"cannot resolve {host}: {exc}") from exc
        addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
        if not addresses:
            raise FetchError("dns_error", f"cannot resolve {host}: no addresses")
    for address in addresses:
        reason = policy.refusal(address)
        if reason:
            hint = (
                "pass --allow-private-hosts to fetch it"
                if reason not in NEVER_ALLOWED
                else "never fetched, not even with --allow-private-hosts "
                "(list it in allowed_networks)"
            )
            raise FetchError(
                "blocked_host", f"{host} resolves to {reason} address {address}; {hint}"
            )
    return addresses


def _split(url: str) -> tuple[str, str, int]:
    """(scheme, host as dialled, port) of ``url``, in httpx's own normalization."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError as exc:
        raise FetchError("bad_url", f"unusable URL {url!r}: {exc}") from exc
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise FetchError("bad_scheme", f"only http and https are fetched, not {parts.scheme!r}")
    try:
        parsed = httpx.URL(url)
        host = parsed.raw_host.decode("ascii")
    except (httpx.InvalidURL, UnicodeError, ValueError) as exc:
        raise FetchError("bad_url", f"unusable URL {url!r}: {exc}") from exc
    if not host:
        raise FetchError("bad_url", f"no host in {url!r}")
    return scheme, host, parsed.port or (443 if scheme == "https" else 80)


def check_url(
    url: str,
    allow_private_hosts: bool = False,
    resolver: Resolver = socket.getaddrinfo,
    allowed_networks: Iterable[str] = (),
) -> list[str]:
    """Raise FetchError unless ``url`` is http(s) and every address it resolves to is allowed;
    return those addresses (what the connection will be pinned to)."""
    _scheme, host, port = _split(url)
    policy = HostPolicy(allow_private_hosts, _networks(allowed_networks))
    return vet_host(host, port, policy, resolver)


# --- a client that dials only vetted addresses --------------------------------------------------

# (host, port) → vetted addresses for the fetch running in this thread/context.
_PINS: contextvars.ContextVar[dict[tuple[str, int], list[str]]] = contextvars.ContextVar(
    "newsbeam_pins"
)


class _PinnedBackend(httpcore.SyncBackend):
    """Dials the address :func:`fetch` vetted for this host instead of resolving again.

    TLS still verifies the certificate against the host name: httpcore takes SNI from the URL.
    Without a pin (the client used outside :func:`fetch`) it resolves and vets by itself.
    """

    def __init__(self, policy: HostPolicy) -> None:
        self._policy = policy

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[tuple] | None = None,
    ) -> httpcore.NetworkStream:
        addresses = _PINS.get({}).get((host, port)) or vet_host(host, port, self._policy)
        failure: Exception | None = None
        for address in addresses:
            try:
                return super().connect_tcp(address, port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None  # vet_host never returns an empty list
        raise failure


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    # Loading the CA bundle costs tens of ms; every client of a process shares one context (an
    # SSLContext is safe to share between threads), so a run's start-up pays it once.
    return httpx.create_ssl_context(trust_env=False)


class _PinnedTransport(httpx.HTTPTransport):
    def __init__(self, policy: HostPolicy, limits: httpx.Limits) -> None:
        super().__init__(verify=_ssl_context(), limits=limits, trust_env=False)
        # httpx has no public hook for the network backend; its pool takes one. Replacing the
        # pool keeps everything else (request mapping, exception mapping) httpx's own.
        # tests/test_ssrf.py fails loudly if a future httpx stops using ``_pool``.
        self._pool = httpcore.ConnectionPool(
            ssl_context=_ssl_context(),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=_PinnedBackend(policy),
        )


def make_client(cfg: HttpConfig, max_connections: int = 100) -> httpx.Client:
    """One pooled client per worker; redirects are handled by :func:`fetch`, not httpx."""
    timeout = httpx.Timeout(cfg.read_timeout, connect=cfg.connect_timeout)
    limits = httpx.Limits(
        max_connections=max_connections, max_keepalive_connections=max_connections
    )
    return httpx.Client(
        transport=_PinnedTransport(HostPolicy.of(cfg), limits),
        timeout=timeout,
        follow_redirects=False,
        headers={"User-Agent": cfg.user_agent, "Accept-Encoding": "gzip, deflate"},
        trust_env=False,  # a proxy from the environment would bypass the host checks
    )


# --- bounded body reading -----------------------------------------------------------------------


class _Inflater:
    """Streaming gzip/deflate decoder that never produces more than it is asked for."""

    def __init__(self, encoding: str) -> None:
        self._wbits = _ENCODINGS[encoding]
        self._raw_fallback = encoding == "deflate"  # many servers send raw deflate, no zlib header
        self._obj = zlib.decompressobj(self._wbits)
        self._started = False  # any output or header accepted yet
        self._next_member = False  # decoding what followed the end of a complete stream
        self._done = False  # trailing garbage seen: ignore the rest, as browsers do

    def feed(self, data: bytes, room: int) -> bytes:
        """Decompress ``data``; returns at most ``room + 1`` bytes (one more: over the cap)."""
        out = bytearray()
        while data and not self._done and len(out) <= room:
            if self._obj.eof:
                # Servers may concatenate gzip members; each one gets a fresh decoder.
                self._obj = zlib.decompressobj(self._wbits)
                self._next_member = True
            try:
                # max_length bounds what one call may inflate: the heart of the bomb defence.
                chunk = self._obj.decompress(data, room + 1 - len(out))
            except zlib.error:
                if self._raw_fallback and not self._started:
                    self._raw_fallback = False
                    self._obj = zlib.decompressobj(-zlib.MAX_WBITS)
                    continue
                if self._next_member:
                    self._done = True
                    break
                raise
            self._started = True
            self._next_member = False
            out += chunk
            # Output stopped short of the limit, so all input was taken, except the input past
            # the end of the stream, which the next round decodes as a new member.
            data = self._obj.unconsumed_tail or (self._obj.unused_data if self._obj.eof else b"")
        return bytes(out)

    def flush(self) -> bytes:
        return b"" if self._done else self._obj.flush()


def _decoded_chunks(response: httpx.Response, max_bytes: int) -> Iterator[bytes]:
    """The body, decoded, in chunks; stops yielding once more than ``max_bytes`` came out."""
    encoding = response.headers.get("content-encoding", "").strip().lower()
    if encoding in ("", "identity"):
        yield from response.iter_raw()
        return
    if encoding not in _ENCODINGS:
        raise FetchError(
            "bad_encoding", f"unsupported Content-Encoding {encoding!r}", response.status_code
        )
    inflater = _Inflater(encoding)
    produced = 0
    try:
        for raw in response.iter_raw():
            chunk = inflater.feed(raw, max_bytes - produced)
            produced += len(chunk)
            yield chunk
            if produced > max_bytes:
                return
        yield inflater.flush()
    except zlib.error as exc:
        raise FetchError(
            "bad_encoding", f"cannot decode {encoding} body: {exc}", response.status_code
        ) from exc


def _read_capped(
    response: httpx.Response, cfg: HttpConfig, deadline: float, truncate: bool = False
) -> bytes:
    declared = response.headers.get("content-length", "").strip()
    if not truncate and declared.isdigit() and int(declared) > cfg.max_bytes:
        raise FetchError(
            "too_large",
            f"Content-Length {declared} exceeds the {cfg.max_bytes} byte cap",
            response.status_code,
        )
    # Chunks joined once at the end: a growing buffer plus a final copy would allocate (and,
    # above the mmap threshold, page-fault in) every body two to three times over.
    chunks: list[bytes] = []
    size = 0
    for chunk in _decoded_chunks(response, cfg.max_bytes):
        chunks.append(chunk)
        size += len(chunk)
        if size > cfg.max_bytes:
            if truncate:
                return b"".join(chunks)[: cfg.max_bytes]
            raise FetchError(
                "too_large", f"body exceeds the {cfg.max_bytes} byte cap", response.status_code
            )
        if time.monotonic() > deadline:
            raise FetchError(
                "timeout", f"body not complete within {cfg.total_timeout:g}s", response.status_code
            )
    return b"".join(chunks)


# --- retries --------------------------------------------------------------------------------------


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """Seconds a ``Retry-After`` header asks for (delta-seconds or HTTP date), or None if absent
    or unreadable. ``now`` is a Unix time, for tests."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None or when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def retry_wait(attempt: int, retry_after: float | None, cfg: HttpConfig) -> float:
    """How long to wait before retry number ``attempt`` (1-based).

    Raises FetchError("retry_after_too_long") when the server asks for more than
    ``max_retry_wait``: sleeping for it would stall a worker, trying sooner would be rude.
    """
    if retry_after is not None:
        if retry_after > cfg.max_retry_wait:
            raise FetchError(
                "retry_after_too_long",
                f"Retry-After {retry_after:g}s exceeds the {cfg.max_retry_wait:g}s cap",
            )
        return retry_after
    return min(cfg.max_retry_wait, cfg.backoff * 2 ** (attempt - 1))


# --- the fetch ----------------------------------------------------------------------------------


def _redirect_target(current: str, location: str, status: int) -> str:
    try:
        return urllib.parse.urljoin(current, location.strip())
    except ValueError as exc:
        raise FetchError("bad_url", f"unusable redirect to {location!r}: {exc}", status) from exc


def _get_once(
    client: httpx.Client,
    url: str,
    cfg: HttpConfig,
    headers: Mapping[str, str] | None,
    resolver: Resolver,
    deadline: float,
    truncate: bool,
) -> Response:
    """One attempt: follow redirects by hand, checking and pinning every hop."""
    policy = HostPolicy.of(cfg)
    current = url
    hops: list[str] = []
    for _hop in range(cfg.max_redirects + 1):
        _scheme, host, port = _split(current)
        addresses = vet_host(host, port, policy, resolver)
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise FetchError("timeout", f"no answer within {cfg.total_timeout:g}s for {url}")
        timeout = httpx.Timeout(
            min(cfg.read_timeout, remaining), connect=min(cfg.connect_timeout, remaining)
        )
        token = _PINS.set({(host, port): addresses})
        try:
            with client.stream(
                "GET", current, headers=dict(headers or {}), timeout=timeout
            ) as response:
                status = response.status_code
                location = response.headers.get("location")
                if status in _REDIRECT_STATUSES and location:
                    hops.append(current)
                    current = _redirect_target(current, location, status)
                    continue
                body = _read_capped(response, cfg, deadline, truncate)
                media, charset = parse_content_type(response.headers.get("content-type"))
                return Response(
                    url=url,
                    final_url=str(response.url),
                    status=status,
                    content_type=media,
                    charset=charset,
                    headers=dict(response.headers),
                    body=body,
                    raw_headers=tuple(
                        (k.decode("latin-1"), v.decode("latin-1")) for k, v in response.headers.raw
                    ),
                    reason=response.reason_phrase,
                    http_version=response.http_version,
                    redirects=tuple(hops),
                )
        except httpx.TimeoutException as exc:
            raise FetchError("timeout", f"{type(exc).__name__} for {current}") from exc
        except httpx.DecodingError as exc:
            raise FetchError("bad_encoding", f"cannot decode body of {current}: {exc}") from exc
        except httpx.InvalidURL as exc:
            raise FetchError("bad_url", f"unusable URL {current!r}: {exc}") from exc
        except httpx.RemoteProtocolError as exc:
            # httpx parses Location itself (for response.next_request), even with redirects off.
            if "location header" in str(exc).lower():
                raise FetchError("bad_url", f"unusable redirect from {current}: {exc}") from exc
            raise FetchError("connection_error", f"{type(exc).__name__}: {exc}") from exc
        except (httpx.TransportError, httpx.UnsupportedProtocol) as exc:
            raise FetchError("connection_error", f"{type(exc).__name__}: {exc}") from exc
        finally:
            _PINS.reset(token)
    raise FetchError("too_many_redirects", f"more than {cfg.max_redirects} redirects from {url}")


def fetch(
    client: httpx.Client,
    url: str,
    cfg: HttpConfig,
    headers: Mapping[str, str] | None = None,
    resolver: Resolver = socket.getaddrinfo,
    *,
    sleep: Sleeper = time.sleep,
    truncate: bool = False,
) -> Response:
    """GET ``url`` within ``cfg``'s limits. Any status is returned (after the retries for 429 and
    5xx); transport problems raise. ``truncate`` returns the first ``max_bytes`` of a longer body
    instead of failing (robots.txt is read that way)."""
    deadline = time.monotonic() + cfg.total_timeout
    attempt = 1
    while True:
        response = _get_once(client, url, cfg, headers, resolver, deadline, truncate)
        response = dataclasses.replace(response, attempts=attempt)
        if response.status not in RETRY_STATUSES or attempt > cfg.retries:
            return response
        try:
            wait = retry_wait(
                attempt, retry_after_seconds(response.headers.get("retry-after")), cfg
            )
        except FetchError as exc:
            exc.http_status = response.status
            raise
        if time.monotonic() + wait >= deadline:
            return response  # no time left for another try: report what the server said
        sleep(wait)
        attempt += 1
