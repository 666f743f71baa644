"""Article metadata from a parsed page: people and agencies, publication time, title, paywall.

Pure functions on an lxml tree (no Beam, no I/O); :mod:`transforms.text.extract` calls them before it
strips credit nodes from the tree, so bylines and schema.org data are still there.

- Authors: bylines credit people and news agencies in one string ("Von Anna Beispiel und Tom
  Muster, dpa"; trafilatura even turns "ntv.de; mli; AFP" into "Ntv De; Mli; AFP"). We split
  them: agencies go to ``Article.agencies``; editor initials, the site's own name, e-mail
  addresses, desk and role names ("Redaktion", "staff", "Lifestyle Writer") and companies
  ("Webedia Gaming GmbH") are dropped. Sources in order of trust (:func:`page_authors`): the
  feed, the JSON-LD ``author`` of the article item (not of its images, not of the claim a fact
  check reviews), byline nodes nearest the headline and outside teasers (itemprop/rel=author,
  byline classes, then a "Von:"/"By"/"Autorin/Autor" label), author meta tags. Script and
  style text never counts; a source naming more than :data:`MAX_AUTHORS` people is a list,
  not a byline, and is passed over.
- Dates: the feed's date wins (it is what the publisher announced); then the page's
  ``article:published_time``/``datePublished`` markup, then htmldate's guess. Always UTC.
- Title (:func:`choose_title`): ``og:title`` first, repaired by the ``<h1>``, JSON-LD
  ``headline``, ``<title>`` and feed title where they agree (a ``| Section | Site`` suffix the
  others lack goes, a cut-off og:title gives way to the whole one); ``| Site`` and ``| date``
  parts removed.
- Paywall: schema.org ``isAccessibleForFree`` (JSON-LD, also inside ``hasPart``, or microdata),
  ``article:content_tier``, and gated HTTP statuses (402; 401/403 only with paywall markup).
  Phrase lists ("Jetzt abonnieren") are not used: free articles carry them too.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import functools
import html
import itertools
import json
import re
import threading
import unicodedata
import urllib.parse
from collections.abc import Callable, Iterable, Iterator
from typing import Any, NamedTuple

import courlan
import htmldate
from lxml import etree
from lxml import html as lxml_html

from transforms.records import UTC
from transforms.sources import canonicalize

# Agencies as they are written in bylines → the name we store. Lower-case keys.
AGENCIES = {
    "dpa": "dpa",
    "deutsche presse-agentur": "dpa",
    "dpa-afx": "dpa-AFX",
    "afp": "AFP",
    "agence france-presse": "AFP",
    "agence france presse": "AFP",
    "reuters": "Reuters",
    "thomson reuters": "Reuters",
    "ap": "AP",
    "associated press": "AP",
    "the associated press": "AP",
    "apa": "APA",
    "sda": "SDA",
    "keystone-sda": "Keystone-SDA",
    "kna": "KNA",
    "epd": "epd",
    "sid": "SID",
    "dts": "dts",
    "ddp": "ddp",
    "efe": "EFE",
    "ansa": "ANSA",
    "anp": "ANP",
    "belga": "Belga",
    "ntb": "NTB",
    "tt": "TT",
    "ritzau": "Ritzau",
    "aap": "AAP",
    "pa": "PA",
    "pa media": "PA",
    "press association": "PA",
    "xinhua": "Xinhua",
    "tass": "TASS",
    "bloomberg": "Bloomberg",
    "upi": "UPI",
    "europa press": "Europa Press",
    "kyodo": "Kyodo",
    "yonhap": "Yonhap",
    "the canadian press": "The Canadian Press",
    "canadian press": "The Canadian Press",
    "anadolu": "Anadolu",
    "anadolu agency": "Anadolu",
    "anadolu ajansı": "Anadolu",
    "interfax": "Interfax",
    "aa": "AA",
}
# Desk and role names that are not people.
_NOT_PEOPLE = re.compile(
    r"\b(?:redaktion|newsdesk|newsroom|staff|team|editors?|editorial|agenturen|agencies|"
    r"nachrichtenagenturen|online|wire|contributors?|reporters?|autoren|autor(?:in)?|author|"
    r"writer|correspondent|columnist|journalist(?:in)?|redakteur(?:in)?|korrespondent(?:in)?|"
    r"volontär(?:in)?|kolumnist(?:in)?|fotograf(?:in)?|photographer|producer|"
    r"twitter|facebook|instagram|linkedin|whatsapp|telegram|pinterest|e-?mail|share|teilen)\b",
    re.IGNORECASE,
)
# Companies credited as authors ("Webedia Gaming GmbH"): never a person, never an agency.
_COMPANY = re.compile(
    r"\b(?:GmbH|gGmbH|mbH|LLC|L\.L\.C\.|Ltd|Limited|Inc|plc|Corp|Corporation|Verlag|Medien|"
    r"Holding|(?-i:AG|SE|KG|KGaA|S\.A\.|S\.L\.|B\.V\.|N\.V\.|SpA|S\.p\.A\.))\b\.?"
)
# "(www.dw.com)" after a name: the name is the site's, not a person's.
_HOST_IN_PARENS = re.compile(
    r"[^,;|/()]*\(\s*(?:https?://)?(?:www\.)?[\w-]+(?:\.[\w-]+)+/?\s*\)"
)
# "Associated Press in Valencia": an agency filing from a place.
_FROM_PLACE = re.compile(r"^(?P<who>.+?)\s+(?:in|aus|from)\s+(?-i:[A-ZÀ-ÖØ-Þ])[\w\s.'’-]*$")
_BYLINE_PREFIX = re.compile(
    r"^\s*(?:(?:ein(?:e)?\s+)?(?:kommentar|analyse|gastbeitrag|interview|essay|reportage|"
    r"kolumne)\s+von|von|by|text(?:\s+und\s+fotos?)?\s*:|autor(?:in)?\s*:|authors?\s*:|written\s+by|"
    r"par|por)\s+",
    re.IGNORECASE,
)
_BYLINE_SPLIT = re.compile(
    r"\s*(?:;|,|\||/|·|•|\s+und\s+|\s+and\s+|\s+&\s+|\s+et\s+|\s+y\s+|\s+og\s+|\s+och\s+|\s+e\s+)\s*",
    re.IGNORECASE,
)
_PARENS = re.compile(r"\s*[\(\[][^()\[\]]*[\)\]]")
_EMAIL_OR_HANDLE = re.compile(r"\S+@\S+|^@\w+|https?://\S+")
# Editor initials appended to wire copy ("mli", "jbe", "AS").
_INITIALS = re.compile(r"(?-i:[a-zäöü]{2,4}|[A-ZÄÖÜ]{1,3}\.?|(?:[A-Z]\.\s*){1,3})")
_DIGITS = re.compile(r"\d")
_ALNUM = re.compile(r"[\W_]+")
_LATIN_LETTER = re.compile(r"[A-Za-zÀ-ÖØ-öø-ÿ]")
_UPPER = re.compile(r"[A-ZÀ-ÖØ-Þ]")
MAX_NAME_WORDS = 6  # longer "names" are sentences that ended up in a byline node
MAX_BYLINE_CHARS = 160

_TITLE_SEPARATORS = re.compile(r"\s+[|–—·:•»-]\s+|\s*[|•»]\s*")
# <meta> tags that carry the publication time, most trusted first: (attribute, value).
_DATE_META = (
    ("property", "article:published_time"),
    ("name", "article:published_time"),
    ("property", "og:article:published_time"),
    ("itemprop", "datePublished"),
    ("name", "date"),
    ("name", "pubdate"),
    ("name", "publish-date"),
    ("name", "dc.date.issued"),
    ("name", "DC.date.issued"),
)
# Then microdata: a <time> first, then any element. Found from the attributes (the elements
# that hold them, in document order), as _BYLINE_NODES does: ~30 % faster than testing every
# element (``//*[@itemprop=…]``), and the microdata XPaths are one of the larger costs here.
_DATE_MICRODATA = etree.XPath("//@itemprop[. = 'datePublished']/parent::*[@datetime]")
# Where bylines sit, in the order they are trusted: itemprop=author, rel=author, then the class
# tokens below. One XPath pass finds every node that may match (a page-wide scan per kind was a
# measurable share of extraction time); Python sorts them into that order. Testing attributes
# (``//@class[…]/..``) rather than every element's attributes halves that scan: most elements
# have no class to look at.
_BYLINE_NODES = etree.XPath(
    "//@class[contains(., 'byline') or contains(., 'author')]/.."
    " | //@itemprop[. = 'author']/.. | //@rel[. = 'author']/.."
)
_BYLINE_CLASSES = ("byline", "author", "article-author")
_PAYWALL_ATTR = re.compile(
    r"paywall|piano-?offer|premium-?(?:wall|teaser|content)|metered|regwall", re.IGNORECASE
)
_SPACE = re.compile(r"\s+")
_WORDS = re.compile(r"\w+")


class Byline(NamedTuple):
    people: tuple[str, ...]
    agencies: tuple[str, ...]


# --- authors ---------------------------------------------------------------------------------


def _site_keys(site_names: Iterable[str]) -> frozenset[str]:
    """Normalised forms of the site's names and host: "ntv.de" → {"ntvde", "ntv"}."""
    return _site_keys_of(tuple(site_names))


# Cached: every byline part and title of a page is compared with the same few site names.
@functools.lru_cache(maxsize=1024)
def _site_keys_of(site_names: tuple[str, ...]) -> frozenset[str]:
    keys: set[str] = set()
    for name in site_names:
        if not name:
            continue
        host = urllib.parse.urlsplit(name).hostname if "://" in name else None
        for value in (name, host or ""):
            value = value.lower().removeprefix("www.")
            if not value:
                continue
            keys.add(_ALNUM.sub("", value))
            if "." in value:
                keys.add(_ALNUM.sub("", value.rsplit(".", 1)[0]))
            if host:
                # "www1.wdr.de" → "wdr": the label before the top-level domain names the site.
                labels = host.lower().split(".")
                if len(labels) >= 2 and len(labels[-2]) >= 3:
                    keys.add(_ALNUM.sub("", labels[-2]))
    return frozenset(k for k in keys if k)


def agency_name(token: str) -> str | None:
    """The stored name of a news agency, or None: ``"Deutsche Presse-Agentur"`` → ``"dpa"``."""
    return AGENCIES.get(_SPACE.sub(" ", token).strip().lower().strip(".:"))


def looks_like_person(token: str) -> bool:
    words = token.split()
    if not words or len(words) > MAX_NAME_WORDS or len(token) > 60 or _DIGITS.search(token):
        return False
    if not _LATIN_LETTER.search(token):
        return True  # scripts without case (CJK, Hangul …) can't be checked for capitals
    # One word is a desk, a site or initials ("Mli") far more often than a person's surname.
    return len(words) >= 2 and bool(_UPPER.search(token))


def split_byline(raw: str | None, site_names: Iterable[str] = ()) -> Byline:
    """A byline → people and agencies, dropping initials, the site's name and desk names."""
    if not raw:
        return Byline((), ())
    sites = _site_keys(site_names)
    people: list[str] = []
    agencies: list[str] = []
    # "Deutsche Welle (www.dw.com)" names the site itself.
    text = _EMAIL_OR_HANDLE.sub(" ", _PARENS.sub("", _HOST_IN_PARENS.sub(" ", raw)))
    for part in _BYLINE_SPLIT.split(text):
        token = _BYLINE_PREFIX.sub("", part).strip(" \t\n.:-–—·")
        if not token:
            continue
        place = _FROM_PLACE.match(token)
        agency = agency_name(token) or (agency_name(place.group("who")) if place else None)
        if place and not agency and looks_like_person(place.group("who")):
            token = place.group("who")  # "Anna Beispiel in Kiew"
        if agency:
            agencies.append(agency)
        elif (
            _INITIALS.fullmatch(token)
            or _ALNUM.sub("", token.lower()) in sites
            or _NOT_PEOPLE.search(token)
            or _COMPANY.search(token)
        ):
            continue
        elif looks_like_person(token):
            people.append(_SPACE.sub(" ", token))
    return Byline(tuple(dict.fromkeys(people)), tuple(dict.fromkeys(agencies)))


def _for_last_tree(cache: threading.local, tree: Any, build: Callable[[Any], list]) -> list:
    """``build(tree)``, kept for the last tree seen: several readers ask for the same per page.
    Per thread, so runners that call a DoFn from several threads don't mix pages up."""
    if getattr(cache, "tree", None) is not tree:
        cache.items = build(tree)
        cache.tree = tree
    return cache.items


_LD_CACHE = threading.local()
_LD_TOP_CACHE = threading.local()
_LD_SCRIPTS_CACHE = threading.local()


def _json_ld(tree: lxml_html.HtmlElement) -> list[dict[str, Any]]:
    """Every JSON object in the page's JSON-LD, nested ones included."""
    return _for_last_tree(_LD_CACHE, tree, _read_json_ld)


def _ld_scripts(tree: lxml_html.HtmlElement) -> list[Any]:
    """The parsed JSON-LD scripts of the page, in document order (unparsable ones skipped).
    Parsed once per page: both walks below read them, and the top-level one is asked for four
    times a page (authors, title, sections, keywords)."""
    return _for_last_tree(_LD_SCRIPTS_CACHE, tree, _parse_ld_scripts)


def _parse_ld_scripts(tree: lxml_html.HtmlElement) -> list[Any]:
    parsed = []
    # The walk over <script> elements takes three quarters of the time of the XPath
    # ``//script[@type='application/ld+json']/text()``; a script's content is one text node
    # (the HTML parser reads it as raw text), so ``.text`` is what that XPath gave.
    for script in tree.iter("script"):
        if script.get("type") != "application/ld+json" or script.text is None:
            continue
        try:
            parsed.append(json.loads(script.text))
        except ValueError:
            continue
    return parsed


def _walk_json_ld(
    tree: lxml_html.HtmlElement, children: Callable[[dict[str, Any]], list[Any]]
) -> list[dict[str, Any]]:
    """The objects of the page's JSON-LD scripts in document order, each followed by those of
    ``children(object)`` (lists are walked through); unparsable scripts are skipped."""
    items: list[dict[str, Any]] = []
    for data in _ld_scripts(tree):
        stack = [data]
        while stack:
            item = stack.pop()
            if isinstance(item, list):
                stack.extend(reversed(item))
            elif isinstance(item, dict):
                items.append(item)
                stack.extend(children(item))
    return items


def _read_json_ld(tree: lxml_html.HtmlElement) -> list[dict[str, Any]]:
    return _walk_json_ld(tree, lambda item: [v for v in item.values() if isinstance(v, (list, dict))])


def _types(item: dict[str, Any]) -> set[str]:
    value = item.get("@type")
    return set(value) if isinstance(value, list) else {str(value)} if value else set()


# JSON-LD types whose ``author`` wrote the page; the author of an image, a video or the claim a
# fact check reviews ("itemReviewed") is somebody else.
_ARTICLE_TYPES = re.compile(r"Article$|^BlogPosting$|^Report$|^ClaimReview$|^LiveBlogPosting$")
_MEDIA_TYPES = frozenset(
    {"ImageObject", "VideoObject", "AudioObject", "MediaObject", "Photograph", "Clip", "Claim",
     "CreativeWork", "Comment", "Person", "Organization", "NewsMediaOrganization", "WebSite"}
)


def _top_level_json_ld(tree: lxml_html.HtmlElement) -> list[dict[str, Any]]:
    """The JSON-LD objects that describe the page itself: a script's own object, the members of
    a list or an ``@graph``, ``mainEntity`` — not the objects nested in their properties.
    Kept for the last tree, as :func:`_json_ld` (callers only read it)."""
    return _for_last_tree(_LD_TOP_CACHE, tree, _read_top_level_json_ld)


def _read_top_level_json_ld(tree: lxml_html.HtmlElement) -> list[dict[str, Any]]:
    keys = ("@graph", "mainEntity", "mainEntityOfPage")
    return _walk_json_ld(
        tree, lambda item: [item[k] for k in keys if isinstance(item.get(k), (list, dict))]
    )


def _json_ld_authors(tree: lxml_html.HtmlElement) -> tuple[list[str], list[str]]:
    """(person names, organisation names) of the ``author``/``creator`` of the page's article
    item(s); of its other top-level items only when no article item names one."""
    items = [i for i in _top_level_json_ld(tree) if "author" in i or "creator" in i]
    articles = [i for i in items if any(_ARTICLE_TYPES.search(t) for t in _types(i))]
    chosen = articles or [i for i in items if not _types(i) & _MEDIA_TYPES]
    people: list[str] = []
    orgs: list[str] = []
    for item in chosen:
        for key in ("author", "creator"):
            value = item.get(key)
            for entry in value if isinstance(value, list) else [value]:
                if isinstance(entry, str):
                    people.append(entry)
                elif isinstance(entry, dict) and isinstance(entry.get("name"), str):
                    is_org = any("Organization" in t for t in _types(entry))
                    (orgs if is_org else people).append(entry["name"])
    return people, orgs


# Author meta tags as sites write them; names compared lower-cased ("Author", "DC.creator").
_AUTHOR_META_NAMES = (
    "author",
    "article:author",
    "byl",
    "dc.creator",
    "dcterms.creator",
    "parsely-author",
    "sailthru.author",
    "cxenseparse:author",
)


class Meta(NamedTuple):
    """One ``<meta>`` tag's naming attributes and its content."""

    name: str | None
    property: str | None
    itemprop: str | None
    content: str


_META_CACHE = threading.local()


def metas(tree: lxml_html.HtmlElement) -> list[Meta]:
    """Every ``<meta>`` with a content, in document order.

    A page's metadata readers ask for a dozen different tags; one walk over the page's
    ``<meta>`` elements replaces a page-wide XPath scan per tag.
    """
    return _for_last_tree(_META_CACHE, tree, _read_metas)


def _read_metas(tree: lxml_html.HtmlElement) -> list[Meta]:
    return [
        Meta(node.get("name"), node.get("property"), node.get("itemprop"), node.get("content"))
        for node in tree.iter("meta")
        if node.get("content") is not None
    ]


def meta_values(tree: lxml_html.HtmlElement, attr: str, value: str) -> list[str]:
    """Contents of ``<meta attr="value">`` tags (exact match), in document order."""
    return [m.content for m in metas(tree) if getattr(m, attr) == value]


def _first_meta(tree: lxml_html.HtmlElement, wanted: Iterable[tuple[str, str]]) -> str:
    """The first non-blank content of the wanted tags, taken in the order given."""
    for attr, value in wanted:
        for content in meta_values(tree, attr, value):
            text = _SPACE.sub(" ", content).strip()
            if text:
                return text
    return ""


def _meta_authors(tree: lxml_html.HtmlElement) -> list[str]:
    # Names compared case-insensitively: "Author", "author" and "AUTHOR" all occur.
    return [
        m.content
        for m in metas(tree)
        if (m.name or "").lower() in _AUTHOR_META_NAMES
        or (m.property or "").lower() in _AUTHOR_META_NAMES
    ]


# Containers of other articles' teasers, related links and comments: a byline in there names
# the author of some other piece (Stern lists five teaser authors below its article).
_ELSEWHERE_WORDS = frozenset(
    {"teaser", "teasers", "related", "recommended", "recommendation", "recommendations",
     "sidebar", "comment", "comments", "widget", "promo", "outbrain", "taboola", "more-articles",
     "article-list", "newsletter", "footer-nav"}
)
_ELSEWHERE_TAGS = frozenset({"aside", "nav"})
_CLASS_WORDS = re.compile(r"[-_\s]+|(?<=[a-z])(?=[A-Z])")
# Text that is never shown as a byline: code and widgets (Focus keeps an inline script in its
# author list).
_HIDDEN_TEXT = etree.XPath(
    ".//text()[not(ancestor::script or ancestor::style or ancestor::noscript or ancestor::svg"
    " or ancestor::template or ancestor::button)]"
)
# A DOM byline source naming more people than this is a list (an author directory, a row of
# teasers, a contributor box), not the byline of one story: it is passed over, and the next
# source is asked. Real bylines in the fundus set name at most four people.
MAX_AUTHORS = 8
# How far (in ancestors) the byline nodes of one story sit from each other: "<div
# class=bylines><div class=byline><a rel=author>A</a></div><div class=byline>…</div></div>".
_BYLINE_BLOCK_DEPTH = 3
# A text node that labels a byline ("Von:", "By", "Autorin/Autor") with the names after it, in
# the node or its parent: AFP writes "<li>Von: <span><a>Bill MCCARTHY</a></span>, …</li>".
_BYLINE_LABEL = re.compile(
    r"^\s*(?:von|by|autor(?:in)?(?:\s*/\s*autor(?:in)?)?|authors?|text|texto|av|af)\s*:?(?:\s+|$)",
    re.IGNORECASE,
)
# The first words such a label starts with (a cheap test before the regex; an XPath with
# normalize-space() or translate() on every text node measured slower than this loop).
_LABEL_STARTS = ("Von", "von", "By", "by", "Autor", "Author", "Text", "Texto", "Av", "Af")
_LABEL_SKIP = frozenset({"script", "style", "noscript", "template", "svg"})
# A name in a labelled byline: every word capitalised (particles aside), as bylines write them;
# "Von Berlin aus fuhr er weiter" is a sentence.
_STRICT_NAME = re.compile(
    r"(?-i:[A-ZÀ-ÖØ-Þ][\w'’.\-]*)"
    r"(?:\s+(?:(?:von|van|de|der|den|del|di|da|du|la|le|zu|ten|ter|bin|al)\s+)*"
    r"(?-i:[A-ZÀ-ÖØ-Þ][\w'’.\-]*)){1,4}"
)
_H1 = etree.XPath("(//article//h1 | //main//h1)[1] | (//h1)[1]")


def node_text(node: lxml_html.HtmlElement) -> str:
    """The text a reader sees in ``node``: scripts, styles and widgets left out."""
    return _SPACE.sub(" ", "".join(_HIDDEN_TEXT(node))).strip()


# Every class/id that _elsewhere() can accept contains one of these (one search per element
# rules out nearly all of them before the word splitting).
_ELSEWHERE_HINT = re.compile("|".join(sorted(_ELSEWHERE_WORDS, key=len, reverse=True)))


def _elsewhere(node: lxml_html.HtmlElement) -> bool:
    """Whether ``node`` sits in a teaser, related-links, comment or navigation container."""
    for el in (node, *node.iterancestors()):
        if el.tag in _ELSEWHERE_TAGS:
            return True
        attrs = f"{el.get('class', '')} {el.get('id', '')}"
        if len(attrs) > 1 and _ELSEWHERE_HINT.search(attrs.lower()):
            words = {w.lower() for w in _CLASS_WORDS.split(attrs) if w}
            words |= {t.lower() for t in attrs.split()}
            if words & _ELSEWHERE_WORDS:
                return True
    return False


def _positions(tree: lxml_html.HtmlElement, wanted: Iterable[Any]) -> dict[Any, int]:
    """Document-order positions of the ``wanted`` elements (one walk over the tree)."""
    wanted = set(wanted)
    found: dict[Any, int] = {}
    if not wanted:
        return found
    for i, el in enumerate(tree.iter()):
        if el in wanted:
            found[el] = i
            if len(found) == len(wanted):
                break
    return found


def _nearest_block(
    tree: lxml_html.HtmlElement, found: list[tuple[Any, Byline]]
) -> list[tuple[Any, Byline]]:
    """The byline node nearest the headline and those of the same byline block."""
    if len(found) <= 1:
        return found
    h1 = _H1(tree)
    heading = h1[0] if h1 else None
    pos = _positions(tree, [n for n, _ in found] + ([heading] if heading is not None else []))
    anchor = pos.get(heading, 0)
    best = min(found, key=lambda item: abs(pos.get(item[0], 0) - anchor))[0]
    block = best
    for _ in range(_BYLINE_BLOCK_DEPTH):
        if block.getparent() is None or block.getparent().tag in ("body", "html"):
            break
        block = block.getparent()
    return [(n, b) for n, b in found if n is best or block in n.iterancestors()]


def _people(found: list[tuple[Any, Byline]]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(p for _, b in found for p in b.people))


def _byline_tiers(tree: lxml_html.HtmlElement) -> list[list[Any]]:
    """Byline nodes by trust: itemprop=author, rel=author, then byline/author class tokens."""
    nodes = [n for n in _BYLINE_NODES(tree) if not _elsewhere(n)]
    tokens = [node.get("class", "").split() for node in nodes]
    tiers = [
        [n for n in nodes if n.get("itemprop") == "author"],
        [n for n in nodes if n.get("rel") == "author"],
    ]
    for wanted in _BYLINE_CLASSES:
        tiers.append([n for n, t in zip(nodes, tokens) if wanted in t])
    # Nodes whose class only contains the words ("authors__text", "author-details").
    tiers.append(
        [n for n in nodes if "byline" in n.get("class", "") or "author" in n.get("class", "")]
    )
    return tiers


def _dom_authors(tree: lxml_html.HtmlElement, sites: tuple[str, ...]) -> tuple[Byline, list[str]]:
    """People from the byline nodes nearest the headline (first tier that names any), and the
    agencies all byline nodes name."""
    agencies: list[str] = []
    people: tuple[str, ...] = ()
    for tier in _byline_tiers(tree):
        found = []
        for node in tier:
            text = node_text(node)
            if not text or len(text) > MAX_BYLINE_CHARS:
                continue
            parsed = split_byline(text, sites)
            if not parsed.people:
                # Names in separate elements with nothing between them: "<span>A B</span><span>C
                # D</span>" would run together as one text.
                pieces = "; ".join(p for p in (t.strip() for t in _HIDDEN_TEXT(node)) if p)
                parsed = split_byline(pieces, sites) if len(pieces) <= MAX_BYLINE_CHARS else parsed
            agencies += parsed.agencies
            if parsed.people:
                found.append((node, parsed))
        if not people and found:
            chosen = _people(_nearest_block(tree, found))
            if len(chosen) <= MAX_AUTHORS:
                people = chosen
    if not people:
        people = _labelled_authors(tree, sites)
    return Byline(people, tuple(dict.fromkeys(agencies))), []


def _headline_region(tree: lxml_html.HtmlElement) -> lxml_html.HtmlElement:
    """Where a byline near the headline sits: the headline's ``<article>`` or ``<main>``, else
    the element four levels above it; the whole body on a page without an ``<h1>``."""
    h1 = _H1(tree)
    body = tree.find("body")
    whole = body if body is not None else tree
    if not h1:
        return whole
    region = h1[0]
    for depth, anc in enumerate(h1[0].iterancestors()):
        if anc.tag in ("body", "html"):
            break
        region = anc
        if anc.tag in ("article", "main") or depth >= 3:
            break
    return region


def _labelled_authors(tree: lxml_html.HtmlElement, sites: tuple[str, ...]) -> tuple[str, ...]:
    """People of a byline that only its label marks ("Von: A, B", "Autorin/Autor A")."""
    found = []
    for element in _headline_region(tree).iter(etree.Element):
        text = element.text
        if (
            not text
            or element.tag in _LABEL_SKIP
            or not text.lstrip().startswith(_LABEL_STARTS)
            or not _BYLINE_LABEL.match(text)
        ):
            continue
        node = element
        for _ in range(2):  # "<li><strong>Autor</strong> Roman G.</li>": the names follow it
            if node is None:
                break
            whole = node_text(node)
            rest = _BYLINE_LABEL.sub("", whole, count=1).strip()
            if rest or len(whole) > MAX_BYLINE_CHARS:
                break
            node = node.getparent()
        if node is None or _elsewhere(node):
            continue
        whole = node_text(node)
        rest = _BYLINE_LABEL.sub("", whole, count=1).strip()
        if not rest or len(whole) > MAX_BYLINE_CHARS:
            continue
        parts = [p for p in _BYLINE_SPLIT.split(rest) if p.strip()]
        strict = all(_STRICT_NAME.fullmatch(p.strip(" .")) or agency_name(p) for p in parts)
        if not parts or not strict:
            continue
        parsed = split_byline(rest, sites)
        if parsed.people:
            found.append((node, parsed))
    chosen = _people(_nearest_block(tree, found))
    return chosen if len(chosen) <= MAX_AUTHORS else ()


def page_authors(
    tree: lxml_html.HtmlElement | None,
    feed_authors: Iterable[str] = (),
    extractor_author: str | None = None,
    site_names: Iterable[str] = (),
) -> Byline:
    """People from the first source that names any, in order of trust: the feed, the JSON-LD
    ``author`` of the article item, the byline nodes nearest the headline (itemprop/rel=author,
    byline classes, a "Von:"/"By" label), author meta tags, the extractor; agencies from all
    of them. A source naming more than :data:`MAX_AUTHORS` people is passed over."""
    sites = tuple(site_names)
    org_names: list[str] = []
    people: tuple[str, ...] = ()
    agencies: list[str] = []

    def take(source: Iterable[str]) -> None:
        nonlocal people
        parsed = [split_byline(raw, sites) for raw in source]
        agencies.extend(a for b in parsed for a in b.agencies)
        named = tuple(dict.fromkeys(p for b in parsed for p in b.people))
        if not people and len(named) <= MAX_AUTHORS:
            people = named

    take(feed_authors)
    if tree is not None:
        ld_people, org_names = _json_ld_authors(tree)
        take(ld_people)
        dom, _ = _dom_authors(tree, sites)
        agencies.extend(dom.agencies)
        if not people:
            people = dom.people
        take(str(v) for v in _meta_authors(tree) if not str(v).startswith("http"))
    take([extractor_author] if extractor_author else [])
    agencies += [a for a in (agency_name(o) for o in org_names) if a]
    return Byline(people, tuple(dict.fromkeys(agencies)))


# --- dates -----------------------------------------------------------------------------------


def parse_datetime(value: str) -> dt.datetime | None:
    """ISO-8601 or RFC 2822 (a date alone is midnight UTC; no zone means UTC) → aware UTC."""
    value = value.strip()
    if not value:
        return None
    try:
        when = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC)


def to_utc(when: dt.datetime | None) -> dt.datetime | None:
    if when is None:
        return None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def page_published_at(
    tree: lxml_html.HtmlElement, url: str, date_hint: str | None = None
) -> dt.datetime | None:
    """Publication time from the page's markup; else ``date_hint`` (a date the extractor already
    found), else htmldate's guess."""
    ld_dates = [
        str(i["datePublished"]) for i in _json_ld(tree) if isinstance(i.get("datePublished"), str)
    ]
    values = [v for attr, name in _DATE_META for v in meta_values(tree, attr, name)]
    for value in itertools.chain(values, _microdata_published(tree), ld_dates):
        when = parse_datetime(str(value))
        if when is not None:
            return when
    found = date_hint or htmldate.find_date(
        tree, extensive_search=False, original_date=True, url=url
    )
    return parse_datetime(found) if found else None


def _microdata_published(tree: lxml_html.HtmlElement) -> Iterator[str]:
    """``itemprop=datePublished`` times, ``<time>`` elements first. A generator: the page-wide
    scan runs only when no meta tag gave a date (on most pages one does), and after
    trafilatura has run it is a cold walk over the page (~0.3 ms)."""
    marked = _DATE_MICRODATA(tree)
    yield from (n.get("datetime") for n in marked if n.tag == "time")
    yield from (n.get("datetime") for n in marked if n.tag != "time")


def published_at(
    feed_time: dt.datetime | None,
    tree: lxml_html.HtmlElement | None,
    url: str,
    date_hint: str | None = None,
) -> dt.datetime | None:
    if feed_time is not None:
        return to_utc(feed_time)
    return page_published_at(tree, url, date_hint) if tree is not None else None


# <meta> tags that carry the last modification time, most trusted first.
_MODIFIED_META = (
    ("property", "article:modified_time"),
    ("name", "article:modified_time"),
    ("property", "og:updated_time"),
    ("itemprop", "dateModified"),
    ("name", "last-modified"),
    ("name", "dc.date.modified"),
    ("name", "DC.date.modified"),
)
_MODIFIED_MICRODATA = etree.XPath(
    "//@itemprop[. = 'dateModified']/parent::*[@datetime or @content]"
)


def _microdata_modified(tree: lxml_html.HtmlElement) -> Iterator[str]:
    """``itemprop=dateModified`` times; scanned only when asked (see _microdata_published)."""
    yield from (n.get("datetime") or n.get("content") or "" for n in _MODIFIED_MICRODATA(tree))


def modified_at(
    tree: lxml_html.HtmlElement | None, feed_updated: dt.datetime | None = None
) -> dt.datetime | None:
    """When the page says the article was last changed: JSON-LD ``dateModified`` of the article
    item, ``article:modified_time`` and kindred meta tags, ``itemprop=dateModified``; else the
    feed's own modification time (Atom ``updated``, sitemap ``lastmod``); None when nobody says.
    Never a guess, and never the publication time."""
    if tree is not None:
        ld = [
            str(i["dateModified"])
            for i in _json_ld(tree)
            if isinstance(i.get("dateModified"), str) and _ARTICLE_TYPES.search(" ".join(_types(i)))
        ]
        values = [v for attr, name in _MODIFIED_META for v in meta_values(tree, attr, name)]
        for value in itertools.chain(ld, values, _microdata_modified(tree)):
            when = parse_datetime(value)
            if when is not None:
                return when
    return to_utc(feed_updated)


def canonical_url(tree: lxml_html.HtmlElement | None, final_url: str) -> str | None:
    """The page's ``<link rel=canonical>`` (else ``og:url``), absolute and tracking-free, when it
    is on the registrable domain of ``final_url`` (an AMP or mobile copy names its original; a
    syndicated copy naming another outlet is not the same article here). None otherwise."""
    if tree is None:
        return None
    # A generator: the walk over <link> elements stops with the first canonical link that
    # qualifies (they stand in the <head>; the rest of the walk is the whole body, cold after
    # trafilatura's passes).
    hrefs = (
        n.get("href") or ""
        for n in tree.iter("link")
        if "canonical" in (n.get("rel") or "").lower().split()
    )
    for value in itertools.chain(hrefs, meta_values(tree, "property", "og:url")):
        try:
            found = canonicalize.canonical_url(value, final_url)
        except canonicalize.BadLinkError:
            continue
        if same_site(found, final_url):
            return found
    return None


def same_site(a: str, b: str) -> bool:
    """Whether two URLs are on one registrable domain (public suffix list: bbc.co.uk)."""
    first, second = _domain(_host(a)), _domain(_host(b))
    return bool(first) and first == second


def _host(url: str) -> str:
    try:
        return (urllib.parse.urlsplit(url).hostname or "").rstrip(".")
    except ValueError:
        return ""


@functools.lru_cache(maxsize=4096)
def _domain(host: str) -> str:
    """The registrable domain of a host; cached, since a page links to few hosts many times."""
    return (courlan.extract_domain(f"http://{host}/") or "") if host else ""


# --- title -----------------------------------------------------------------------------------


# A trailing part of a title that only dates it ("| DW | 28.04.2023").
_TITLE_DATE = re.compile(r"\d{1,2}\.\d{1,2}\.\d{2,4}|\d{4}-\d{2}-\d{2}|\d{1,2}/\d{1,2}/\d{2,4}")
# Separators a site part may follow without spaces around it: "…逮捕：東京新聞デジタル",
# "…-정치ㅣ한국일보".
_TIGHT_SEPARATORS = re.compile(r"\s*[：｜ㅣ]\s*")
_QUOTES = re.compile(r"[\"'“”„‟‚‘’‛«»‹›「」『』]")
_DASHES = re.compile(r"[‐‑‒–—―−]")
_TITLE_EDGE = " |–—·:•»*-：｜ㅣ"
_COMMA = re.compile(r",\s+")
# A trailing "by Cristina Laila" part: the byline, not the title.
_BY_PART = re.compile(r"(?:by|von)\s+\S", re.IGNORECASE)


def _title_key(title: str) -> str:
    """A title compared with others: entities, quotes, dashes, case and spacing folded."""
    text = unicodedata.normalize("NFKC", html.unescape(title))
    text = _DASHES.sub("-", _QUOTES.sub("", text))
    return " ".join(text.split()).casefold()


def clean_title(title: str, site_names: Iterable[str]) -> str:
    """Drop a trailing or leading `` | Site`` part when it names the site, and trailing parts
    that only date the page (``… | DW | 28.04.2023``)."""
    title = _SPACE.sub(" ", title).strip()
    sites = _site_keys(site_names)

    def names_site(part: str) -> bool:
        key = _ALNUM.sub("", part.lower())
        return bool(key) and (
            key in sites
            or any(key.startswith(s) and len(s) >= 3 for s in sites)
            or any(s in key and len(s) >= 6 and len(key) <= 2 * len(s) + 12 for s in sites)
        )

    def parts_of(text: str) -> list[str]:
        dated = [p for p in _COMMA.split(text) if p.strip()]
        if len(dated) >= 3 and _TITLE_DATE.fullmatch(dated[-1].strip()) and names_site(dated[-2]):
            return dated  # "Orden fürs Morden, Tageszeitung junge Welt, 26.04.2024"
        if len(dated) >= 2 and sites and names_site(dated[-1]):
            return dated  # what is left of it: "Orden fürs Morden, Tageszeitung junge Welt"
        spaced = [p for p in _TITLE_SEPARATORS.split(text) if p.strip()]
        tight = [p for p in _TIGHT_SEPARATORS.split(text) if p.strip()]
        return tight if len(tight) > len(spaced) and names_site(tight[-1]) else spaced

    while True:
        parts = parts_of(title)
        if len(parts) < 2:
            return title
        last = parts[-1].strip()
        if _TITLE_DATE.fullmatch(last) or _BY_PART.match(last) or (sites and names_site(last)):
            shorter = title[: title.rfind(parts[-1])].rstrip(_TITLE_EDGE + ",").strip()
            if not shorter:
                return title
            title = shorter
            continue
        if sites and names_site(parts[0]):
            rest = title[title.find(parts[0]) + len(parts[0]) :]
            return rest.lstrip(_TITLE_EDGE).strip() or title
        return title


def _first(tree: lxml_html.HtmlElement, paths: Iterable[str]) -> str:
    for path in paths:
        for value in tree.xpath(path):
            text = value if isinstance(value, str) else value.text_content()
            text = _SPACE.sub(" ", str(text)).strip()
            if text:
                return text
    return ""


def _ld_headline(tree: lxml_html.HtmlElement) -> str:
    """The JSON-LD ``headline`` of the article item, else of any item."""
    items = [i for i in _top_level_json_ld(tree) if isinstance(i.get("headline"), str)]
    articles = [i for i in items if any(_ARTICLE_TYPES.search(t) for t in _types(i))]
    for item in articles or items or [
        i for i in _json_ld(tree) if isinstance(i.get("headline"), str)
    ]:
        text = _SPACE.sub(" ", html.unescape(str(item["headline"]))).strip()
        if text:
            return text
    return ""


def title_candidates(
    tree: lxml_html.HtmlElement | None, fallbacks: Iterable[str | None]
) -> list[str]:
    """The page's titles in order of trust: ``og:title`` (or ``twitter:title``), the
    article's ``<h1>``, JSON-LD ``headline``, ``<title>``, then ``fallbacks`` (the feed's)."""
    found: list[str] = []
    if tree is not None:
        found.append(_first_meta(tree, (("property", "og:title"), ("name", "twitter:title"))))
        found.append(_first(tree, ("//article//h1", "//main//h1", "//h1")))
        found.append(_ld_headline(tree))
        found.append(_first(tree, ("//title",)))
    found += [_SPACE.sub(" ", html.unescape(f or "")).strip() for f in fallbacks]
    return found


def _edge(rest: str) -> bool:
    """Whether ``rest`` (what follows a title in a longer one) starts with a separator."""
    head = rest.lstrip()[:1]
    return bool(head) and head in _TITLE_EDGE and (head != "-" or rest[:1].isspace())


# Words a complete headline rarely ends with: an og:title cut to a length limit often does
# ("Überlegener Sieger und").
_CUT_WORDS = frozenset(
    {
        "und", "oder", "aber", "mit", "von", "vom", "zum", "zur", "der", "die", "das", "den",
        "dem", "des", "ein", "eine", "einen", "im", "in", "an", "auf", "für", "and", "or",
        "but", "with", "of", "the", "a", "to", "on", "at", "for", "from", "by", "as", "is",
    }
)


def _looks_cut(title: str) -> bool:
    text = title.rstrip()
    if text.endswith(("…", "...", ",", ":", "–", "-")):
        return True
    words = text.split()
    return bool(words) and words[-1].casefold() in _CUT_WORDS


def choose_title(candidates: Iterable[str], site_names: Iterable[str]) -> str:
    """The page's title: the first candidate, repaired by the others where they agree.

    The candidates come in order of trust (:func:`title_candidates`: og:title first, whose
    wording matched the publisher's headline best on the development pages when the others
    differ). Each is cleaned (:func:`clean_title`) and compared folded (:func:`_title_key`).
    Then the others decide two things:
    - a suffix: when another candidate is the first one up to a separator ("Title - National
      | Globalnews.ca" against "Title"), the part after it is the site's or the section's and
      goes;
    - a cut: when the first candidate is the start of a longer one and ends the way a cut-off
      title does ("… Sieger und"), the longer one is the whole title.
    """
    sites = tuple(site_names)
    given = [c for c in candidates if c and c.strip()]
    if not given:
        return ""
    cleaned = [clean_title(c, sites) for c in given]
    keys = [_title_key(c) for c in cleaned]
    best = _chosen_title(cleaned, keys)
    # Among the candidates that say the same words, the spelling most of them use (curly or
    # straight quotes, dashes); between equals the first.
    same = [c for c, k in zip(cleaned, keys) if k == _title_key(best)]
    return max(same, key=same.count) if same else best


def _chosen_title(cleaned: list[str], keys: list[str]) -> str:
    title, key = cleaned[0], keys[0]
    shorter = [
        i for i, k in enumerate(keys)
        if k and len(k) >= 8 and len(k) < len(key) and key.startswith(k) and _edge(key[len(k) :])
    ]
    if shorter:
        best = max(shorter, key=lambda i: len(keys[i]))
        return cleaned[best]
    if _looks_cut(title):
        longer = [
            i for i, k in enumerate(keys)
            if len(k) > len(key)
            and k.startswith(key.rstrip(" .…,:-–"))
            and not _edge(k[len(key) :])
        ]
        if longer:
            return cleaned[min(longer, key=lambda i: len(keys[i]))]
    return title


def page_title(
    tree: lxml_html.HtmlElement | None, fallbacks: Iterable[str | None], site_names: Iterable[str]
) -> str:
    """The title the page's candidates agree on (:func:`title_candidates`,
    :func:`choose_title`); site and date parts removed."""
    return choose_title(title_candidates(tree, fallbacks), site_names)


def site_names(tree: lxml_html.HtmlElement | None, *extra: str | None) -> tuple[str, ...]:
    names = [e for e in extra if e]
    if tree is not None:
        names += meta_values(tree, "property", "og:site_name")
        names += [
            str(i["name"])
            for i in _json_ld(tree)
            if "Organization" in "".join(_types(i)) and isinstance(i.get("name"), str)
        ]
    return tuple(dict.fromkeys(n.strip() for n in names if n and n.strip()))


# --- teaser --------------------------------------------------------------------------------

MIN_TEASER_CHARS = 80  # shorter descriptions ("Politik-News") are labels, not a lead paragraph
_ELLIPSIS = re.compile(r"\s*(?:…|\.\.\.)\s*$")


def description(tree: lxml_html.HtmlElement) -> str:
    return _first_meta(
        tree, (("property", "og:description"), ("name", "description"), ("name", "twitter:description"))
    )


def visible_teaser(tree: lxml_html.HtmlElement) -> str:
    """The page's lead paragraph: a body element whose text is the meta description.

    Extractors in precision mode often drop the lead ("Vorspann") because it sits in the
    article header, yet it is part of the article. Only the page's own description is looked
    for, so a teaser of some other article can't be picked up.
    """
    wanted = _SPACE.sub(" ", description(tree)).strip()
    if len(wanted) < MIN_TEASER_CHARS:
        return ""
    truncated = bool(_ELLIPSIS.search(wanted))
    wanted_key = _ELLIPSIS.sub("", wanted).casefold()
    body = tree.find("body")
    if body is None:
        return ""
    start = wanted_key[:20]
    for node in _teaser_candidates(body, _ELLIPSIS.sub("", wanted)):
        if not _text_starts(node, start):
            continue  # an outer container: reading all its text would be the costly part
        # str.split() splits where \s matches and is far cheaper than the regex on long texts.
        text = " ".join(node.text_content().split())
        if len(text) > 3 * len(wanted) + 40:
            continue
        key = text.casefold()
        if key == wanted_key or (truncated and key.startswith(wanted_key)):
            return text
    return ""


def _text_starts(node: lxml_html.HtmlElement, prefix: str) -> bool:
    """Whether the node's whitespace-normalised, casefolded text starts with ``prefix``, reading
    only as much of it as that takes."""
    buffer = ""
    for piece in node.itertext():
        buffer += piece
        head = " ".join(buffer.split())
        if len(head) >= len(prefix):
            return head.casefold().startswith(prefix)
    return " ".join(buffer.split()).casefold().startswith(prefix)


_TEASER_TAGS = ("p", "div", "h2", "strong", "span")
_TEXT_WITH = etree.XPath(
    ".//text()[not(parent::script or parent::style)]"
    "[contains(., $a) or contains(., $b) or contains(., $c) or contains(., $d)]"
)


def _teaser_candidates(body: lxml_html.HtmlElement, wanted: str) -> list[lxml_html.HtmlElement]:
    """The elements that may show ``wanted``, in document order.

    Reading the text of every paragraph and div was most of this function's cost on large
    pages. The teaser's longest word must sit in one of its text nodes, written as in the
    description, lower-cased, capitalised or in capitals; an XPath (run in C) finds those text
    nodes and only their enclosing elements are read.
    """
    words = _WORDS.findall(wanted)
    if not words:
        return list(body.iter(*_TEASER_TAGS))
    word = max(words, key=len)
    found: set[lxml_html.HtmlElement] = set()
    hits = _TEXT_WITH(body, a=word, b=word.lower(), c=word.capitalize(), d=word.upper())
    for text in hits:
        node = text.getparent()
        if node is not None and text.is_tail:
            node = node.getparent()
        while node is not None and node is not body:
            if node.tag in _TEASER_TAGS:
                found.add(node)
            node = node.getparent()
    if len(found) <= 1:
        return list(found)
    return [node for node in body.iter(*_TEASER_TAGS) if node in found]


# --- paywall ---------------------------------------------------------------------------------


def _as_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false", "yes", "no"):
        return value.strip().lower() in ("true", "yes")
    return None


_FREE_MICRODATA = etree.XPath("//@itemprop[. = 'isAccessibleForFree']/..")


def accessible_for_free(tree: lxml_html.HtmlElement) -> bool | None:
    """schema.org ``isAccessibleForFree`` from JSON-LD (any object) or microdata; False wins."""
    values = [
        _as_bool(i.get("isAccessibleForFree")) for i in _json_ld(tree) if "isAccessibleForFree" in i
    ]
    for node in _FREE_MICRODATA(tree):
        given = [node.get(a) for a in ("content", "href") if node.get(a) is not None]
        values += [_as_bool(v) for v in given] if given else [_as_bool(node.text_content())]
    found = [v for v in values if v is not None]
    if not found:
        return None
    return all(found)


def has_paywall_markup(tree: lxml_html.HtmlElement) -> bool:
    for node in tree.xpath("//*[@class or @id]"):
        if _PAYWALL_ATTR.search(f"{node.get('class', '')} {node.get('id', '')}"):
            return True
    return any("cssSelector" in i for i in _json_ld(tree) if "WebPageElement" in _types(i))


def is_paywalled(tree: lxml_html.HtmlElement | None, http_status: int) -> bool | None:
    """True/False when the page or the HTTP status says so, None when nothing does."""
    if http_status == 402:
        return True
    if tree is None:
        return None
    free = accessible_for_free(tree)
    if free is not None:
        return not free
    tier = _first_meta(tree, (("property", "article:content_tier"),)).lower()
    if tier in ("locked", "metered"):
        return True
    if http_status in (401, 403) and has_paywall_markup(tree):
        return True
    if tier == "free":
        return False
    return None
