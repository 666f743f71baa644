"""Canonical article URLs and in-run deduplication.

Input: ``FeedEntry`` from the feed stage. Output: one ``FeedEntry`` per distinct article with
``url`` (canonical) and ``id`` set (``ok``); ``DeadLetter`` for links that are not web URLs.
Counters (namespace ``canonicalize``): ``in``, ``out``, ``duplicate``.

Canonical form: lower-case scheme and host, IDNA host, no default port, no fragment, no tracking
parameters, remaining query parameters sorted, empty path as ``/``. The ``id`` hashes an identity
key that also ignores the scheme and a leading ``www.``, because publishers serve the same
article under both and feeds mix them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import urllib.parse
from collections.abc import Iterable, Iterator

import apache_beam as beam

from transforms.storage.deadletter import DEAD, ParDoWithDeadLetters, dead_letter
from transforms.records import FeedEntry

# Parameters that identify a campaign or a click, never the article. Ambiguous names such as
# ``cid`` or ``share`` stay: merging two real articles is worse than missing one duplicate.
TRACKING_PREFIXES = ("utm_", "at_", "wt_", "pk_", "mtm_", "hsa_", "ga_")
TRACKING_PARAMS = frozenset(
    {
        "fbclid",
        "gclid",
        "dclid",
        "gclsrc",
        "msclkid",
        "yclid",
        "igshid",
        "twclid",
        "ttclid",
        "mc_cid",
        "mc_eid",
        "_hsenc",
        "_hsmi",
        "mkt_tok",
        "oly_anon_id",
        "oly_enc_id",
        "ocid",
        "icid",
        "cmpid",
        "cmp",
        "xtor",
        "wtmc",
        "wt.mc_id",
        "smid",
        "sr_share",
        "ns_mchannel",
        "ns_source",
        "ns_campaign",
        "ns_linkname",
        "ns_fee",
        "ref_src",
        "ref_url",
        "s_cid",
        "zanpid",
        "guccounter",
        "spm",
        "__twitter_impression",
    }
)
DEFAULT_PORTS = {"http": 80, "https": 443}
_PATH_SAFE = "/%:@!$&'()*+,;=-._~"


class BadLinkError(ValueError):
    """A feed link that cannot be an article URL (no host, a mailto:, javascript: …)."""


def _is_tracking(name: str) -> bool:
    lowered = name.lower()
    return lowered in TRACKING_PARAMS or lowered.startswith(TRACKING_PREFIXES)


# A path segment that names the segment itself or its parent, as browsers read them: percent-
# encoded dots count (the WHATWG URL standard), so "/a/%2e%2e/b" is "/b" like "/a/../b".
_SELF_SEGMENTS = frozenset({".", "%2e"})
_PARENT_SEGMENTS = frozenset({"..", ".%2e", "%2e.", "%2e%2e"})
_DOT_SEGMENTS = _SELF_SEGMENTS | _PARENT_SEGMENTS


def remove_dot_segments(path: str) -> str:
    """``path`` without ``.`` and ``..`` segments (RFC 3986, section 5.2.4), for a path that
    starts with ``/``. A link written as ``/a/../b`` asks for ``/b``, and httpx sends it so:
    both spellings must give one article id."""
    if "." not in path and "%" not in path:
        return path  # nearly every link: no segment to remove
    segments = path.split("/")
    kept = [segments[0]]  # "" before the leading slash; never removed
    last = len(segments) - 1
    for i, segment in enumerate(segments[1:], start=1):
        lowered = segment.lower()
        if lowered not in _DOT_SEGMENTS:
            kept.append(segment)
            continue
        if lowered in _PARENT_SEGMENTS and len(kept) > 1:
            kept.pop()
        if i == last:
            kept.append("")  # "/a/b/.." is the directory "/a/", with its slash
    # Never empty: the leading "" is kept, and the last segment or its "" follows it.
    return "/".join(kept)


def canonical_url(link: str, base: str = "") -> str:
    """The canonical form of ``link`` (resolved against ``base`` when relative)."""
    try:
        joined = urllib.parse.urljoin(base, link.strip()) if base else link.strip()
        parts = urllib.parse.urlsplit(joined)
        hostname = parts.hostname
    except ValueError as exc:  # e.g. an unclosed IPv6 bracket
        raise BadLinkError(f"malformed link {link!r}: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise BadLinkError(f"not an http(s) link: {link!r}")
    host = (hostname or "").rstrip(".")
    if not host:
        raise BadLinkError(f"no host in link: {link!r}")
    try:
        host = host.encode("idna").decode("ascii").lower()
    except UnicodeError:
        host = host.lower()
    try:
        port = parts.port
    except ValueError as exc:
        raise BadLinkError(f"bad port in link: {link!r}") from exc
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    netloc = host if port in (None, DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    kept = sorted((k, v) for k, v in query if not _is_tracking(k))
    # Non-ASCII paths are percent-encoded as browsers send them; existing escapes stay as they are.
    path = urllib.parse.quote(remove_dot_segments(parts.path or "/"), safe=_PATH_SAFE)
    return urllib.parse.urlunsplit((scheme, netloc, path, urllib.parse.urlencode(kept), ""))


def identity_key(canonical: str) -> str:
    """What makes two canonical URLs the same article: no scheme, no leading ``www.``."""
    parts = urllib.parse.urlsplit(canonical)
    host = parts.netloc.removeprefix("www.")
    return urllib.parse.urlunsplit(("", host, parts.path, parts.query, "")).lstrip("/")


def article_id(canonical: str) -> str:
    """Stable id of an article: first 16 bytes of SHA-256 of its identity key, hex."""
    return hashlib.sha256(identity_key(canonical).encode("utf-8")).hexdigest()[:32]


def pick_first(entries: Iterable[FeedEntry]) -> tuple[FeedEntry, int]:
    """Deterministic choice among entries of one article: (kept, number of duplicates)."""
    # Dated entries first (they carry more), then a total order so every runner keeps the same one.
    ordered = sorted(
        entries, key=lambda e: (e.published is None, e.url, e.feed_url, e.link, e.guid)
    )
    return ordered[0], len(ordered) - 1


class _CanonicalizeFn(beam.DoFn):
    def setup(self) -> None:
        self._in = beam.metrics.Metrics.counter("canonicalize", "in")

    def process(self, entry: FeedEntry) -> Iterator[object]:
        self._in.inc()
        try:
            url = canonical_url(entry.link, entry.feed_url)
        except BadLinkError as exc:
            yield beam.pvalue.TaggedOutput(
                DEAD,
                dead_letter("canonicalize", entry.link, "bad_link", str(exc), None, entry.feed_url),
            )
            return
        entry_id = article_id(url)
        yield (entry_id, dataclasses.replace(entry, url=url, id=entry_id))


class _KeepFirstFn(beam.DoFn):
    def setup(self) -> None:
        self._out = beam.metrics.Metrics.counter("canonicalize", "out")
        self._duplicate = beam.metrics.Metrics.counter("canonicalize", "duplicate")

    def process(self, keyed: tuple[str, Iterable[FeedEntry]]) -> Iterator[FeedEntry]:
        kept, duplicates = pick_first(keyed[1])
        self._out.inc()
        self._duplicate.inc(duplicates)
        yield kept


class CanonicalizeLinks(beam.PTransform):
    """``FeedEntry`` → (``(id, FeedEntry)`` with url/id set, ``DeadLetter``); no grouping.

    The streaming pipeline uses this directly and dedupes with state instead of a GroupByKey.
    """

    def expand(self, entries):
        return entries | "Canonicalize" >> ParDoWithDeadLetters(_CanonicalizeFn(), "canonicalize")


class CanonicalizeEntries(beam.PTransform):
    """``FeedEntry`` → (distinct ``FeedEntry`` with url/id, ``DeadLetter``)."""

    def expand(self, entries):
        keyed, dead = entries | "CanonicalizeLinks" >> CanonicalizeLinks()
        distinct = (
            keyed | "GroupById" >> beam.GroupByKey() | "KeepFirst" >> beam.ParDo(_KeepFirstFn())
        )
        return distinct, dead
