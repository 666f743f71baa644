"""OPML subscription lists in and out: pure parsing and writing, no I/O.

Input of :func:`parse_opml`: the bytes of an OPML 1.0/2.0 file. Output: one :class:`OpmlFeed` per
outline with an ``xmlUrl``, in document order, the first occurrence of a URL kept. Folders
(outlines without ``xmlUrl`` that hold other outlines) and an outline's own ``category``
attribute become the feed's tags, outermost folder first.
:func:`write_opml` turns feeds back into an OPML 2.0 document that feed readers import: one
``type="rss"`` outline per feed (readers use ``rss`` for Atom and JSON feeds too), grouped in a
folder by its first tag, the other tags in ``category``.

Broken input raises :class:`OpmlError` with a one-line message naming the problem.
"""

from __future__ import annotations

import datetime as dt
import email.utils
from collections.abc import Iterable
from typing import NamedTuple

from lxml import etree

from transforms.sources.feed_safety import UnsafeFeedError, check_feed

# A subscription list of tens of thousands of feeds is a mistake or an attack; stop reading.
MAX_FEEDS = 10_000
# Folders inside folders deeper than this are not a reading list any more.
MAX_DEPTH = 32


class OpmlError(ValueError):
    """Bytes that are not a usable OPML subscription list; the message is one line."""


class OpmlFeed(NamedTuple):
    url: str  # xmlUrl
    title: str = ""  # title, else text
    tags: tuple[str, ...] = ()  # enclosing folders, then the outline's own categories
    html_url: str = ""  # the site the feed belongs to
    language: str | None = None


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _categories(value: str | None) -> list[str]:
    """OPML 2.0 ``category``: comma-separated, slash-delimited paths; each path's parts are tags
    (``/Boston/Weather`` → Boston, Weather), a path without slashes is a tag itself."""
    tags: list[str] = []
    for path in (value or "").split(","):
        tags += [part.strip() for part in path.split("/") if part.strip()]
    return tags


def _is_feed(outline: etree._Element) -> str:
    # Readers disagree on case (xmlUrl, xmlurl, XMLURL); all mean the same attribute.
    for key, value in outline.attrib.items():
        if str(key).lower() == "xmlurl" and str(value).strip():
            return str(value).strip()
    return ""


def _attr(outline: etree._Element, name: str) -> str:
    for key, value in outline.attrib.items():
        if str(key).lower() == name.lower():
            return _one_line(value)
    return ""


def parse_opml(body: bytes) -> list[OpmlFeed]:
    """OPML bytes → the feeds in it. Raises :class:`OpmlError` for anything unusable."""
    if not body.strip():
        raise OpmlError("empty file, not OPML")
    try:
        check_feed(body)  # the same walls as for feeds: no entity bombs, no external entities
    except UnsafeFeedError as exc:
        raise OpmlError(str(exc)) from None
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False
    )
    try:
        root = etree.fromstring(body, parser=parser)
    except etree.XMLSyntaxError as exc:
        raise OpmlError(f"not well-formed XML: {_one_line(exc)}") from None
    if not isinstance(root.tag, str) or etree.QName(root).localname.lower() != "opml":
        name = etree.QName(root).localname if isinstance(root.tag, str) else "?"
        raise OpmlError(f"root element is <{name}>, not <opml>")
    body_el = next(
        (c for c in root if isinstance(c.tag, str) and etree.QName(c).localname == "body"), None
    )
    if body_el is None:
        raise OpmlError("no <body> element")
    feeds: dict[str, OpmlFeed] = {}

    def walk(parent: etree._Element, folders: tuple[str, ...], depth: int) -> None:
        if depth > MAX_DEPTH:
            raise OpmlError(f"outlines nested deeper than {MAX_DEPTH} levels")
        for outline in parent:
            if not isinstance(outline.tag, str) or etree.QName(outline).localname != "outline":
                continue
            label = _attr(outline, "title") or _attr(outline, "text")
            url = _is_feed(outline)
            own = tuple(_categories(_attr(outline, "category")))
            if url:
                if not url.startswith(("http://", "https://")):
                    raise OpmlError(f"xmlUrl must be an http(s) URL, got {url!r}")
                if url not in feeds:
                    if len(feeds) >= MAX_FEEDS:
                        raise OpmlError(f"more than {MAX_FEEDS} feeds")
                    tags = tuple(dict.fromkeys(folders + own))
                    language = _attr(outline, "language").split("-")[0].lower() or None
                    feeds[url] = OpmlFeed(url, label, tags, _attr(outline, "htmlUrl"), language)
            walk(outline, folders + ((label,) if label and not url else ()) + own, depth + 1)

    walk(body_el, (), 0)
    return list(feeds.values())


def write_opml(
    feeds: Iterable[OpmlFeed], title: str = "newsbeam feeds", now: dt.datetime | None = None
) -> bytes:
    """OPML 2.0 for ``feeds``: feeds whose first tag is the same share a folder of that name."""
    root = etree.Element("opml", version="2.0")
    head = etree.SubElement(root, "head")
    etree.SubElement(head, "title").text = title
    when = now or dt.datetime.now(dt.timezone.utc)
    etree.SubElement(head, "dateCreated").text = email.utils.format_datetime(when, usegmt=True)
    etree.SubElement(head, "docs").text = "https://opml.org/spec2.opml"
    body = etree.SubElement(root, "body")
    folders: dict[str, etree._Element] = {}
    for feed in feeds:
        parent = body
        if feed.tags:
            if feed.tags[0] not in folders:
                folders[feed.tags[0]] = etree.SubElement(
                    body, "outline", text=feed.tags[0], title=feed.tags[0]
                )
            parent = folders[feed.tags[0]]
        label = feed.title or feed.url
        outline = etree.SubElement(
            parent, "outline", type="rss", text=label, title=label, xmlUrl=feed.url
        )
        if feed.html_url:
            outline.set("htmlUrl", feed.html_url)
        if feed.language:
            outline.set("language", feed.language)
        if feed.tags[1:]:
            outline.set("category", ",".join(t.replace(",", " ") for t in feed.tags[1:]))
    etree.indent(root, space="  ")
    return etree.tostring(root, xml_declaration=True, encoding="utf-8", pretty_print=True)
