"""Feed formats feedparser does not read: JSON Feed and (Google News) sitemaps.

Both parsers turn bytes into the same neutral item dicts that ``transforms.sources.feeds`` builds
``FeedEntry`` records from, so every format goes through one code path after parsing.
"""

from __future__ import annotations

import json
import re
import zlib
from typing import Any

from lxml import etree

_SITEMAP_NS = "http://www.sitemaps.org/schemas/sitemap/0.9"
_NEWS_NS = "http://www.google.com/schemas/sitemap-news/0.9"
_XML_ROOT = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?(urlset|sitemapindex|rss|feed|RDF)\b")
# Sitemaps can list 50,000 URLs; a news sitemap holds the last two days. Cap what one file yields.
MAX_SITEMAP_URLS = 5000


# A sitemap may hold 50 MB uncompressed (sitemaps.org); a gzip file inflating beyond is a bomb.
MAX_GUNZIPPED_BYTES = 50 * 1024 * 1024
_GZIP_MAGIC = b"\x1f\x8b"


class FormatError(ValueError):
    """Bytes that claim a format but do not follow it."""


def gunzipped(body: bytes, limit: int = MAX_GUNZIPPED_BYTES) -> bytes:
    """The content of a gzip file (``sitemap.xml.gz``, served as a file, not as a
    Content-Encoding), at most ``limit`` bytes; other bodies unchanged."""
    if not body.startswith(_GZIP_MAGIC):
        return body
    inflater = zlib.decompressobj(zlib.MAX_WBITS | 16)
    try:
        out = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise FormatError(f"broken gzip file: {exc}") from None
    if len(out) > limit:
        raise FormatError(f"gzip file inflates beyond {limit} bytes")
    return out


def sniff_format(body: bytes) -> str:
    """``json``, ``sitemap``, ``sitemapindex`` or ``xml`` (anything for feedparser)."""
    head = body[:2048].lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"{"):
        return "json"
    match = _XML_ROOT.search(head)
    if match and match.group(1) == b"urlset":
        return "sitemap"
    if match and match.group(1) == b"sitemapindex":
        return "sitemapindex"
    return "xml" if match or head.startswith(b"<") else "unknown"


def _json_authors(obj: dict[str, Any]) -> list[str]:
    authors = obj.get("authors") or ([obj["author"]] if isinstance(obj.get("author"), dict) else [])
    return [
        a["name"].strip() for a in authors if isinstance(a, dict) and isinstance(a.get("name"), str)
    ]


def parse_json_feed(body: bytes) -> tuple[str, str | None, list[dict[str, Any]]]:
    """JSON Feed 1.0/1.1 → (title, language, items)."""
    try:
        data = json.loads(body.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise FormatError(f"not valid JSON: {exc}") from exc
    if not isinstance(data, dict) or "jsonfeed.org/version" not in str(data.get("version", "")):
        raise FormatError("JSON without a jsonfeed.org version")
    items = []
    for item in data.get("items") or []:
        if not isinstance(item, dict):
            continue
        items.append(
            {
                "link": str(item.get("url") or item.get("external_url") or ""),
                "guid": str(item.get("id") or ""),
                "title": str(item.get("title") or ""),
                "summary": str(item.get("summary") or ""),
                "content": str(item.get("content_text") or item.get("content_html") or ""),
                "published": str(item.get("date_published") or item.get("date_modified") or ""),
                "updated": str(item.get("date_modified") or ""),
                "authors": _json_authors(item) or _json_authors(data),
                "tags": [str(t) for t in item.get("tags") or [] if isinstance(t, (str, int))],
            }
        )
    language = data.get("language")
    return str(data.get("title") or ""), (str(language) if language else None), items


def _safe_xml(body: bytes) -> etree._Element:
    # No entity expansion, no DTD loading, no network: sitemaps are plain data.
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False
    )
    try:
        return etree.fromstring(body, parser=parser)
    except etree.XMLSyntaxError as exc:
        raise FormatError(f"malformed sitemap XML: {exc}") from exc


def _text(node: etree._Element | None, path: str) -> str:
    if node is None:
        return ""
    found = node.find(path)
    return (found.text or "").strip() if found is not None and found.text else ""


def parse_sitemap(body: bytes) -> tuple[str, str | None, list[dict[str, Any]]]:
    """A ``<urlset>`` sitemap (news extension optional) → (publication name, language, items)."""
    root = _safe_xml(body)
    if etree.QName(root).localname != "urlset":
        raise FormatError("not a <urlset> sitemap")
    items: list[dict[str, Any]] = []
    name, language = "", None
    for url in root.iter(f"{{{_SITEMAP_NS}}}url"):
        news = url.find(f"{{{_NEWS_NS}}}news")
        pub = news.find(f"{{{_NEWS_NS}}}publication") if news is not None else None
        name = name or _text(pub, f"{{{_NEWS_NS}}}name")
        language = language or _text(pub, f"{{{_NEWS_NS}}}language") or None
        keywords = _text(news, f"{{{_NEWS_NS}}}keywords")
        items.append(
            {
                "link": _text(url, f"{{{_SITEMAP_NS}}}loc"),
                "guid": _text(url, f"{{{_SITEMAP_NS}}}loc"),
                "title": _text(news, f"{{{_NEWS_NS}}}title"),
                "summary": "",
                "content": "",
                "published": _text(news, f"{{{_NEWS_NS}}}publication_date")
                or _text(url, f"{{{_SITEMAP_NS}}}lastmod"),
                "updated": _text(url, f"{{{_SITEMAP_NS}}}lastmod"),
                "authors": [],
                "tags": [k.strip() for k in keywords.split(",") if k.strip()],
            }
        )
        if len(items) >= MAX_SITEMAP_URLS:
            break
    return name, language, items


def sitemap_index_locations(body: bytes, limit: int) -> list[str]:
    """The child sitemap URLs of a ``<sitemapindex>``, at most ``limit`` of them."""
    root = _safe_xml(body)
    locs = [_text(s, f"{{{_SITEMAP_NS}}}loc") for s in root.iter(f"{{{_SITEMAP_NS}}}sitemap")]
    return [loc for loc in locs if loc][:limit]


def merge_sitemaps(bodies: list[bytes]) -> bytes:
    """Several ``<urlset>`` documents → one, so the child sitemaps of an index parse as a unit."""
    merged = etree.Element(f"{{{_SITEMAP_NS}}}urlset", nsmap={None: _SITEMAP_NS, "news": _NEWS_NS})
    for body in bodies:
        try:
            root = _safe_xml(body)
        except FormatError:
            continue
        for url in root.iter(f"{{{_SITEMAP_NS}}}url"):
            merged.append(url)
    return etree.tostring(merged, xml_declaration=True, encoding="utf-8")
