"""Checks on feed bytes before any XML parser sees them: XML bombs and external entities.

Input: the raw body of a feed. Output: nothing, or :class:`UnsafeFeedError` (``reason`` is short
and stable) which the feed stage turns into a ``parse_feed`` dead letter with error type
``unsafe_feed``. Pure: no I/O, no parsing beyond the document type declaration.

Only the DOCTYPE's internal subset can declare entities, so only it is read. Refused:
- external entities (``<!ENTITY x SYSTEM "file:///etc/passwd">``, ``… "http://127.0.0.1/…"``):
  a parser that resolves them reads local files or reaches into the user's network;
- parameter entities, except the W3C character entity sets (``-//W3C//ENTITIES …``) that old
  RDF/XHTML feeds pull in by public identifier and that no parser we use ever fetches;
- entities whose replacement text references other entities (the "billion laughs" chain);
- more expansion than ``max_expansion`` characters in total (the "quadratic blowup": one long
  entity referenced many times), a DOCTYPE over ``MAX_DOCTYPE_CHARS``, too many declarations,
  and declarations this module cannot read.
Allowed: plain internal entities (``<!ENTITY id "tag:example.com,">``) and external DTD
references (``<!DOCTYPE rss PUBLIC "-//Netscape…" "http://…/rss-0.91.dtd">``), which neither expat
as Python configures it nor feedparser loads.

feedparser itself already strips most of this (it rewrites the DOCTYPE and keeps only simple
entities); this check is the second wall, and it makes a hostile feed a visible dead letter
instead of a quietly half-parsed one.
"""

from __future__ import annotations

import re
from collections import Counter

# Real feeds declare a handful of entities at most; a bigger DOCTYPE is an attack or garbage.
MAX_DOCTYPE_CHARS = 64 * 1024
MAX_ENTITIES = 512
# Characters entity references may add to a document; 1 MB of text is far beyond any feed's
# legitimate use of entities and far below what hurts a worker.
MAX_ENTITY_EXPANSION = 1_000_000
# Public identifiers of the standard character entity sets (XHTML lat1/symbol/special, HTML 4).
SAFE_PUBLIC_ID_PREFIX = "-//W3C//ENTITIES "
PREDEFINED = frozenset({"amp", "lt", "gt", "quot", "apos"})

_QUOTED = r"""("[^"]*"|'[^']*')"""
_ENTITY_RE = re.compile(
    r"<!ENTITY\s+(?P<pe>%\s+)?(?P<name>[^\s%;\"'<>]+)\s+"
    rf"(?:(?P<kind>SYSTEM|PUBLIC)\s*(?P<id1>{_QUOTED})?\s*(?P<id2>{_QUOTED})?|(?P<value>{_QUOTED}))"
    r"\s*(?:NDATA\s+\S+\s*)?>",
    re.IGNORECASE,
)
_ENTITY_START_RE = re.compile(r"<!ENTITY", re.IGNORECASE)
_REFERENCE_RE = re.compile(r"[&%]([A-Za-z_:][\w.:-]*);")
_COMMENT_RE = re.compile(r"<!--.*?-->", re.DOTALL)
_DOCTYPE_RE = re.compile(r"<!DOCTYPE", re.IGNORECASE)
_BOMS = (
    (b"\x00\x00\xfe\xff", "utf-32-be"),
    (b"\xff\xfe\x00\x00", "utf-32-le"),
    (b"\xfe\xff", "utf-16-be"),
    (b"\xff\xfe", "utf-16-le"),
)
# "<?" or "<!" in UTF-16/32 without a BOM (XML 1.0 appendix F).
_SIGNATURES = (
    (b"\x00\x00\x00<", "utf-32-be"),
    (b"<\x00\x00\x00", "utf-32-le"),
    (b"\x00<\x00", "utf-16-be"),
    (b"<\x00", "utf-16-le"),
)


class UnsafeFeedError(ValueError):
    """Feed bytes that must not reach an XML parser; ``reason`` is short and stable."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"unsafe feed ({reason}): {message}")
        self.reason = reason


def markup_text(body: bytes) -> str:
    """The body as text good enough to find markup in: UTF-16/32 decoded, anything else read as
    Latin-1 (every byte a character, so ASCII markup is found whatever the real encoding)."""
    for prefix, encoding in _BOMS + _SIGNATURES:
        if body.startswith(prefix):
            return body.decode(encoding, errors="replace").lstrip("\ufeff")
    return body.decode("latin-1")


def _declaration_end(text: str, start: int) -> int:
    """Index just past the ``>`` closing the DOCTYPE at ``start`` (quotes, the internal subset
    and comments in it respected), or ``len(text)`` if it never closes."""
    i, n = start + len("<!DOCTYPE"), len(text)
    quote = ""
    in_subset = False
    while i < n:
        ch = text[i]
        if quote:
            if ch == quote:
                quote = ""
        elif text.startswith("<!--", i):
            end = text.find("-->", i + 4)
            i = n if end < 0 else end + 3
            continue
        elif ch in "\"'":
            quote = ch
        elif ch == "[":
            in_subset = True
        elif ch == "]":
            in_subset = False
        elif ch == ">" and not in_subset:
            return i + 1
        i += 1
    return n


def doctypes(text: str) -> list[tuple[int, int]]:
    """(start, end) of every DOCTYPE before the first element, skipping comments and PIs."""
    found: list[tuple[int, int]] = []
    pos, n = 0, len(text)
    while pos < n:
        lt = text.find("<", pos)
        if lt < 0:
            break
        if text.startswith("<?", lt):
            end = text.find("?>", lt + 2)
            pos = n if end < 0 else end + 2
        elif text.startswith("<!--", lt):
            end = text.find("-->", lt + 4)
            pos = n if end < 0 else end + 3
        elif _DOCTYPE_RE.match(text, lt):
            end = _declaration_end(text, lt)
            if end - lt > MAX_DOCTYPE_CHARS:
                raise UnsafeFeedError(
                    "doctype_too_large",
                    f"DOCTYPE of {end - lt} characters (limit {MAX_DOCTYPE_CHARS})",
                )
            found.append((lt, end))
            pos = end
        else:
            break  # the root element (or junk): no DOCTYPE can follow
    return found


def _unquote(token: str | None) -> str:
    return token[1:-1] if token else ""


def _check_declarations(doctype: str, document: str, max_expansion: int) -> None:
    subset = _COMMENT_RE.sub("", doctype)
    matches = list(_ENTITY_RE.finditer(subset))
    if len(matches) != len(_ENTITY_START_RE.findall(subset)):
        raise UnsafeFeedError("bad_entity_declaration", "an ENTITY declaration that cannot be read")
    if len(matches) > MAX_ENTITIES:
        raise UnsafeFeedError(
            "too_many_entities", f"{len(matches)} entity declarations (limit {MAX_ENTITIES})"
        )
    values: dict[str, str] = {}
    for m in matches:
        name = m.group("name")
        if m.group("kind"):
            kind = m.group("kind").upper()
            public_id = _unquote(m.group("id1")) if kind == "PUBLIC" else ""
            if m.group("pe") and public_id.startswith(SAFE_PUBLIC_ID_PREFIX):
                continue
            system_id = _unquote(m.group("id2") if kind == "PUBLIC" else m.group("id1"))
            what = "parameter entity" if m.group("pe") else "external entity"
            raise UnsafeFeedError(
                "external_entity", f"{what} {name!r} points at {system_id or public_id!r}"
            )
        if m.group("pe"):
            raise UnsafeFeedError("parameter_entity", f"parameter entity {name!r}")
        value = _unquote(m.group("value"))
        nested = [r for r in _REFERENCE_RE.findall(value) if r not in PREDEFINED]
        if nested:
            raise UnsafeFeedError(
                "nested_entity", f"entity {name!r} refers to {nested[0]!r}: expansion can explode"
            )
        values[name] = value
    if not values:
        return
    references = Counter(
        m.group(1) for m in _REFERENCE_RE.finditer(document) if m.group(0)[0] == "&"
    )
    expansion = sum(len(value) * references[name] for name, value in values.items())
    if expansion > max_expansion:
        raise UnsafeFeedError(
            "entity_expansion", f"entities would add {expansion} characters (limit {max_expansion})"
        )


def check_feed(body: bytes, max_expansion: int = MAX_ENTITY_EXPANSION) -> None:
    """Raise :class:`UnsafeFeedError` if ``body`` declares entities that are dangerous to parse."""
    text = markup_text(body)
    for start, end in doctypes(text):
        if "[" in text[start:end]:  # no internal subset, no entity declarations
            _check_declarations(text[start:end], text[end:], max_expansion)
