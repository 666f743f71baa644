"""The sections a page files itself under, and its keywords: evidence for the topic stage.

Pure functions over a parsed page (lxml tree); the extract stage stores the result on the
Article (``sections`` is written, ``page_keywords`` only feeds the topic stage).

- sections, in order of trust: JSON-LD ``articleSection`` of the page's own article item
  (a script's object, an ``@graph`` member or ``mainEntity``; not an article nested in its
  properties, such as a related story), the
  ``article:section`` meta tag (Open Graph; also ``section``, ``parsely-section``), then the
  inner crumbs of a JSON-LD ``BreadcrumbList`` (the first crumb is the home page and the last
  the article itself, so neither is kept);
- keywords: JSON-LD ``keywords`` of the article item and the ``keywords`` / ``news_keywords``
  meta tags, split at commas.
Each list is deduplicated (case-insensitively) and capped, so a page that lists a hundred
keywords cannot drown the text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from lxml import html as lxml_html

from transforms.text.metadata import _json_ld, _top_level_json_ld, _types, metas

# Schema.org types whose articleSection/keywords describe the page's own story.
ARTICLE_TYPES = {
    "Article",
    "NewsArticle",
    "ReportageNewsArticle",
    "AnalysisNewsArticle",
    "OpinionNewsArticle",
    "BackgroundNewsArticle",
    "ReviewNewsArticle",
    "BlogPosting",
    "LiveBlogPosting",
    "WebPage",
}
SECTION_METAS = {"article:section", "section", "parsely-section", "og:section"}
KEYWORD_METAS = {"keywords", "news_keywords", "article:tag"}
MAX_SECTIONS = 5
MAX_KEYWORDS = 20
# A section or keyword longer than this is a sentence, not a label.
MAX_LABEL_CHARS = 60
_SPACE = re.compile(r"\s+")


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return []


def _unique(values: Iterable[str], limit: int, split_commas: bool = False) -> tuple[str, ...]:
    out: list[str] = []
    seen: set[str] = set()
    for value in values:
        parts = value.split(",") if split_commas else [value]
        for part in parts:
            label = _SPACE.sub(" ", part).strip()
            key = label.casefold()
            if label and len(label) <= MAX_LABEL_CHARS and key not in seen:
                seen.add(key)
                out.append(label)
                if len(out) == limit:
                    return tuple(out)
    return tuple(out)


def _crumbs(item: dict[str, Any]) -> list[str]:
    elements = item.get("itemListElement")
    if not isinstance(elements, list):
        return []
    names = []
    for element in elements:
        if not isinstance(element, dict):
            continue
        name = element.get("name")
        inner = element.get("item")
        if not isinstance(name, str) and isinstance(inner, dict):
            name = inner.get("name")
        if isinstance(name, str):
            names.append(name)
    return names[1:-1]


def page_sections(tree: lxml_html.HtmlElement | None) -> tuple[str, ...]:
    """The page's own sections, most trusted first (see the module docstring)."""
    if tree is None:
        return ()
    # The page's own items only: an article nested in another's properties (a related story,
    # a "hasPart" teaser) is filed under its own section, not this page's.
    declared = [
        s
        for item in _top_level_json_ld(tree)
        if _types(item) & ARTICLE_TYPES
        for s in _strings(item.get("articleSection"))
    ]
    meta = [m.content for m in metas(tree) if (m.property or m.name or "").lower() in SECTION_METAS]
    # A breadcrumb is often nested (WebPage.breadcrumb), and only the page has one.
    crumbs = [c for item in _json_ld(tree) if "BreadcrumbList" in _types(item) for c in _crumbs(item)]
    return _unique([*declared, *meta, *crumbs], MAX_SECTIONS)


def page_keywords(tree: lxml_html.HtmlElement | None) -> tuple[str, ...]:
    """The page's keywords: JSON-LD of the article item, then keyword meta tags."""
    if tree is None:
        return ()
    declared = [
        k
        for item in _top_level_json_ld(tree)
        if _types(item) & ARTICLE_TYPES
        for k in _strings(item.get("keywords"))
    ]
    meta = [m.content for m in metas(tree) if (m.name or m.property or "").lower() in KEYWORD_METAS]
    return _unique([*declared, *meta], MAX_KEYWORDS, split_commas=True)
