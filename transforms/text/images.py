"""The article's images from the page's markup: URL, caption, credit, alt text, lead flag.

Input: the parsed page (the tree :mod:`transforms.text.extract` already holds) and its final
URL. Output: :class:`transforms.records.Image` records in page order, one per picture. No image
is downloaded: everything comes from the markup, in one walk over the page's ``<img>`` elements.

Where images come from
- ``<img>``/``<amp-img>`` inside the article (:func:`article_root`) with their ``<picture>``
  sources: the largest ``srcset`` candidate, lazy-loading attributes (``data-src``,
  ``data-srcset`` …) before a placeholder ``src``; a ``<noscript>`` copy counts only when no
  scripted twin stands beside it. Renditions of one picture (:func:`image_key`: another size or
  crop of the same file) become one record.
- ``og:image``/``twitter:image``, else the article's JSON-LD ``image``, name the lead. The body
  picture that is it gets ``is_lead`` (a hero above the article is let in for it); when none is,
  the article's first picture leads (the metadata picture is most often a social-network crop
  of it); when the article shows no picture, the metadata picture alone is the record, with
  the JSON-LD caption and credit.

Not images of the article: images outside it, logos, avatars and author photos, icons, emoji,
loaders, tracking pixels (a side under ``MIN_SIDE``, a beacon host), thumbnails asked at
``MAX_THUMB_SIDE`` px or less, ads and sponsors, share bars, newsletter and job boxes, video
posters, and teasers of other articles (inside a link to another page of the site, or a small
teaser card that links to one; never a gallery, a lightbox, this article's photo viewer or a
link to another site such as a shop).

URLs are absolute (against ``<base href>`` and the final URL) and tracking-free (the query
parameters :mod:`transforms.sources.canonicalize` drops; the others keep their order, since
image CDNs sign them).

Captions and credits come from the DOM credit pass (:mod:`transforms.text.dom_clean`, then
:mod:`transforms.text.figure_text` over :meth:`ImageScan.elements`): it calls
:meth:`ImageScan.owner_of` for each caption or credit it keeps, before it drops the node, and
:func:`article_images` attaches them to the image they stand under. A picture without one takes
it from the page's JSON-LD ``ImageObject`` of the same file, or a credit glued to its alt text.
"""

from __future__ import annotations

import functools
import re
import urllib.parse
from collections.abc import Iterable
from typing import Any, NamedTuple

from lxml import etree
from lxml import html as lxml_html

from transforms.records import Image
from transforms.sources.canonicalize import TRACKING_PARAMS, TRACKING_PREFIXES
from transforms.text import metadata
from transforms.text.dom_clean import Placed, split_caption

# Attributes that hold the real image of a lazily loaded <img>, most specific first.
LAZY_SRC = (
    "data-src",
    "data-lazy-src",
    "data-original",
    "data-lazy",
    "data-url",
    "data-hi-res-src",
)
LAZY_SRCSET = ("data-srcset", "data-lazy-srcset", "data-original-set")
# Width or height attributes below this are tracking pixels and spacers, not pictures.
MIN_SIDE = 50
# Words in the class or id of an image, or in its file name, that make it chrome rather than a
# picture of the story. Not "share": DailyMail's article pictures carry a "share this image"
# class; not alt words: a caption may well mention an icon or a logo.
OWN_WORDS = frozenset(
    {
        "logo",
        "logos",
        "avatar",
        "avatars",
        "icon",
        "icons",
        "emoji",
        "sprite",
        "badge",
        "gravatar",
        "author",
        "authors",
        "autor",
        "autorin",
        "profile",
        "byline",
        "pixel",
        "spacer",
        "sponsor",
        "sponsored",
        "advert",
        "advertisement",
        "ad",
        "ads",
        "banner",
    }
)
# The same inside a longer file-name word ("ndr_printlogo.gif", "favicon-32.png").
_OWN_PARTS = re.compile(
    r"logo|avatar|favicon|sprite|emoji|gravatar|loader|spinner|newsletter", re.IGNORECASE
)
# A size asked of the image server this small is a thumbnail of a teaser, not a story picture.
_THUMB_QUERY = re.compile(
    r"(?:^|&)(?:w|width|maxwidth|max-width|resize)=(\d{1,3})(?:&|$|[,x%])", re.IGNORECASE
)
MAX_THUMB_SIDE = 160
# Words in the class or id of a container between an image and the article that mark a part of
# the page that is not the story: share bars, ads, related links, newsletter boxes, job ads,
# video players (their poster is a still of a video, not a picture of the article).
CHROME_WORDS = OWN_WORDS | frozenset(
    {
        "share",
        "sharing",
        "social",
        "anzeige",
        "promo",
        "related",
        "recommended",
        "recommendation",
        "recommendations",
        "newsletter",
        "comments",
        "comment",
        "outbrain",
        "taboola",
        "paywall",
        "sidebar",
        "footer",
        "nav",
        "navigation",
        "menu",
        "rating",
        "stars",
        "aside",
        "signup",
        "subscribe",
        "subscription",
        "jobs",
        "job",
        "careers",
        "video",
        "videos",
        "player",
        "jwplayer",
        "podcast",
    }
)
# Container words of teaser lists and cards: chrome when the container is small and links to
# another page of the site (a teaser of another article), not when it is the article's own
# "teaser image" header (German CMSs call the lead image that) or a gallery.
TEASER_WORDS = frozenset({"teaser", "teasers", "teaserimage", "card", "cards", "tile", "list"})
GALLERY_WORDS = frozenset({"gallery", "galerie", "slideshow", "slider", "carousel", "lightbox"})
# A teaser card holds a headline and a line or two; a container with more text is the article.
MAX_TEASER_CHARS = 1200
# Tags no article image sits in (outside the article's own <header>).
_CHROME_TAGS = frozenset({"nav", "footer", "aside", "form"})
# Links to a photo viewer of the same article are not teasers.
_PHOTO_PAGE = re.compile(r"photo|foto|gallery|galerie|bild|image|picture|slideshow", re.IGNORECASE)
_WORD_SPLIT = re.compile(r"[^a-z0-9]+|(?<=[a-z])(?=[A-Z])")
_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])")
_TRACKER_URL = re.compile(
    r"(?:^|[/._-])(?:pixel|beacon|spacer|blank|1x1|tracking|transparent)[/._-]|"
    r"scorecardresearch\.|doubleclick\.|facebook\.com/tr|google-analytics\.|vgwort\.de|"
    r"ioam\.de|chartbeat\.|quantserve\.|bat\.bing\.|/cdn-cgi/beacon|/b/ss/",
    re.IGNORECASE,
)
_IMAGE_EXT = re.compile(r"\.(?:jpe?g|png|gif|webp|avif|bmp|tiff?|svg)$", re.IGNORECASE)
# Ids in an image URL: runs of 5+ digits, or hex hashes of 8+ characters with a digit. Size
# tokens ("w767", "1280x853", "v16_9_1600") have fewer digits in a row.
_ID_TOKEN = re.compile(
    r"^(?!(?:19|20)\d\d[01]\d[0-3]\d$)"  # a date (20250429) is shared by a day's pictures
    r"(?=.*\d)(?:[a-z]*\d{5,}[a-z0-9]*|[0-9a-f]{8,}|[0-9a-f-]{32,36})$"
)
_SPLIT_TOKENS = re.compile(r"[^0-9a-z]+")
# A rendition named after the file ("meteorit142_v-fullhd", "feuerwehr-222~_v-gseagaleriexl":
# the ARD broadcasters' image service).
_VARIANT = re.compile(r"~?_v-[a-z0-9_]+$")
# A path segment that names a rendition's size ("wide__1300x731", "w_1600,c_limit", "1280").
_SIZE_SEGMENT = re.compile(
    r"\d+x\d+|^(?:[a-z]{1,2}_?)?\d{2,4}(?:[,_@].*)?$|^(?:original|master|large|medium|small|thumb\w*)$"
)
_SPACE = re.compile(r"\s+")
_META_IMAGE = (
    ("property", "og:image"),
    ("property", "og:image:url"),
    ("property", "og:image:secure_url"),
    ("name", "og:image"),
    ("name", "twitter:image"),
    ("property", "twitter:image"),
    ("name", "twitter:image:src"),
)
# From the attribute rather than every element's (as metadata's microdata XPaths): faster.
_ARTICLE_BODY = etree.XPath("//@itemprop[. = 'articleBody']/..")
_ARTICLE_TYPES = re.compile(r"Article$|^BlogPosting$|^Report$|^LiveBlogPosting$")


class Found(NamedTuple):
    """An image found in the markup, with the element it came from (None: metadata only)."""

    element: Any
    url: str
    alt: str
    in_article: bool


class ImageScan(NamedTuple):
    """What :func:`scan_images` found: body images in page order, the lead from metadata."""

    found: tuple[Found, ...]
    lead_url: str
    lead_caption: str
    lead_credit: str
    # ancestor element → indexes into ``found`` of the images below it (a few levels up)
    near: dict[Any, tuple[int, ...]]
    # image_key → (caption, credit) of the page's JSON-LD ImageObjects
    described: dict[str, tuple[str, str]]

    def elements(self) -> tuple[Any, ...]:
        """The ``<img>`` elements of the article's pictures, in page order."""
        return tuple(f.element for f in self.found if f.in_article)

    def owner_of(self, node: Any) -> int | None:
        """Index of the image ``node`` (a caption or credit) stands under, or None."""
        for depth, anc in enumerate((node, *_levels(node))):
            if depth > OWNER_REACH:
                break
            indexes = self.near.get(anc)
            if not indexes:
                continue
            if len(indexes) == 1:
                return indexes[0]
            return _nearest_before(anc, node, indexes, self.found)
        return self._preceding(node)

    def _preceding(self, node: Any) -> int | None:
        """The article picture right before ``node`` in page order, when at most
        ``PRECEDING_TEXT_CHARS`` of other text stand between them (a credit in another column
        of the lead's header, further up than ``OWNER_REACH``)."""
        by_element = {f.element: i for i, f in enumerate(self.found) if f.in_article}
        if not by_element:
            return None
        budget = PRECEDING_TEXT_CHARS
        current = node
        while current is not None and current.tag not in ("body", "html"):
            for sib in current.itersiblings(preceding=True):
                if not isinstance(sib.tag, str):
                    continue
                budget -= len((sib.tail or "").strip())
                text = len(" ".join(sib.text_content().split()))  # as _SPACE.sub, faster
                pictures = [by_element[e] for e in sib.iter("img", "amp-img") if e in by_element]
                if pictures:
                    # Text after the picture inside it counts too; all of it, to stay safe.
                    return pictures[-1] if text <= budget else None
                budget -= text
                if budget < 0:
                    return None
            parent = current.getparent()
            if parent is not None:
                budget -= len((parent.text or "").strip())
            current = parent
        return None


# How far up from a caption the container that holds its image may be (figure > div > img:
# the caption's parent or grandparent, plus room for wrappers).
OWNER_REACH = 4
# Beyond that reach, a caption or credit still belongs to the picture before it when no more
# than a caption's worth of other text stands between them.
PRECEDING_TEXT_CHARS = 300


def _nearest_before(anc: Any, node: Any, indexes: tuple[int, ...], found: tuple[Found, ...]) -> int:
    """The last of ``indexes`` whose element comes before ``node`` under ``anc``, else the first."""
    by_element = {found[i].element: i for i in indexes}
    last = None
    for el in anc.iter():
        if el is node:
            break
        i = by_element.get(el)
        if i is not None:
            last = i
    return last if last is not None else indexes[0]


# Class tokens that say what a container allows or holds, not what it is ("comments-enabled"
# on TimesLive's <article>, "has-video").
_STATE_TOKEN = re.compile(
    r"(?:^|[-_])(?:enabled|disabled|allowed)$|^(?:has|with|no|show|hide)[-_]", re.IGNORECASE
)


# The words of a class/id pair or file name. Cached: a page's images share their ancestors,
# so _is_chrome asks about the same few class names over and over (a returned frozenset, as the
# cache hands the same object to every caller).
@functools.lru_cache(maxsize=8192)
def _words(value: str) -> frozenset[str]:
    kept = " ".join(t for t in value.split() if not _STATE_TOKEN.search(t))
    return frozenset(w for w in _WORD_SPLIT.split(_CAMEL.sub("-", kept).lower()) if w)


# Cached, like image_key: a page names a picture in several attributes and renditions, and both
# are asked about the same URLs again by the lead, the JSON-LD and the records.
@functools.lru_cache(maxsize=8192)
def clean_image_url(raw: str, base: str) -> str:
    """Absolute, tracking-free URL of an image, or "" for data: URIs and unusable values."""
    raw = (raw or "").strip()
    if not raw or raw.startswith(("data:", "blob:", "javascript:", "#", "about:")):
        return ""
    try:
        parts = urllib.parse.urlsplit(urllib.parse.urljoin(base, raw))
    except ValueError:
        return ""
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return ""
    if parts.query:
        kept = [p for p in parts.query.split("&") if p and not _tracking(p.split("=", 1)[0])]
        parts = parts._replace(query="&".join(kept))
    return urllib.parse.urlunsplit(parts._replace(fragment=""))


def _tracking(name: str) -> bool:
    lowered = urllib.parse.unquote(name).lower()
    return lowered in TRACKING_PARAMS or lowered.startswith(TRACKING_PREFIXES)


def largest_candidate(srcset: str) -> str:
    """The URL of ``srcset``'s largest candidate (by ``w``, then ``x``; the last one on ties)."""
    best, best_size = "", -1.0
    # Candidates are split on commas followed by space or a URL start; URLs may hold commas.
    for part in re.split(r",\s+|,(?=https?:|/)", srcset.strip()):
        bits = part.split()
        if not bits:
            continue
        size = 1.0
        if len(bits) > 1:
            d = bits[-1].lower()
            try:
                size = float(d[:-1]) if d[-1] in "wx" else 1.0
            except ValueError:
                size = 1.0
            if d.endswith("x"):
                size *= 1000  # a density beats no descriptor, loses to nothing with widths
        if size >= best_size:
            best, best_size = bits[0], size
    return best


@functools.lru_cache(maxsize=8192)
def image_key(url: str) -> str:
    """What makes two URLs the same picture in another rendition: the ids in the file name
    (after percent-decoding, so a resizer URL that wraps the original is keyed on the original),
    else the ids in the path, else the path without its extension, size segments and rendition
    suffix; host and query are ignored."""
    decoded = urllib.parse.unquote(urllib.parse.unquote(url)).lower()
    path = urllib.parse.urlsplit(decoded).path if "://" in decoded else decoded
    path = path.split("?", 1)[0].rstrip("/")
    segments = path.split("/")
    name = _IMAGE_EXT.sub("", segments[-1])
    ids = [t for t in _SPLIT_TOKENS.split(name) if _ID_TOKEN.match(t)]
    if ids:
        return "id:" + "/".join(ids)
    # A file name that only names the size ("wide__1300x731", "original") says nothing.
    name = "" if _SIZE_SEGMENT.search(name) else _VARIANT.sub("", name)
    ids = [t for seg in segments[:-1] for t in _SPLIT_TOKENS.split(seg) if _ID_TOKEN.match(t)]
    if ids:
        return "id:" + "/".join(ids) + "/" + name
    kept = [seg for seg in segments[:-1] if not _SIZE_SEGMENT.search(seg)]
    return "path:" + "/".join([*kept, name])


def _img_url(img: Any, base: str) -> str:
    """The best URL of an ``<img>``: the largest srcset candidate (its own and its
    ``<picture>``'s sources), else a lazy attribute, else ``src``."""
    sets = [img.get(a) for a in (*LAZY_SRCSET, "srcset")]
    picture = _picture_of(img)
    if picture is not None:
        for source in picture.iter("source"):
            if (source.get("media") or "").startswith("(max-width"):
                continue  # a crop for small screens, not the picture at its largest
            sets += [source.get(a) for a in (*LAZY_SRCSET, "srcset")]
    for srcset in sets:
        if srcset and srcset.strip() and not srcset.strip().startswith("data:"):
            url = clean_image_url(largest_candidate(srcset), base)
            if url:
                return url
    for attr in (*LAZY_SRC, "src"):
        url = clean_image_url(img.get(attr) or "", base)
        if url:
            return url
    return ""


def _picture_of(img: Any) -> Any:
    """The ``<picture>`` around ``img``. libxml2 does not know ``<source>`` is empty and nests
    what follows it inside, so the picture may be a few ``<source>`` levels up."""
    for anc in img.iterancestors():
        if anc.tag == "picture":
            return anc
        if anc.tag != "source":
            return None
    return None


def _levels(element: Any) -> Iterable[Any]:
    """The ancestors of ``element`` that count as levels: not ``<source>``/``<picture>``."""
    return (a for a in element.iterancestors() if a.tag not in ("source", "picture"))


def _noscript_twin(img: Any) -> bool:
    """An ``<img>`` in ``<noscript>`` beside a scripted copy of the same picture (lazy loading):
    the copy outside carries the picture; a ``<noscript>`` alone is the picture."""
    for anc in img.iterancestors():
        if anc.tag == "noscript":
            parent = anc.getparent()
            if parent is None:
                return False
            return any(
                other is not img and not any(a.tag == "noscript" for a in other.iterancestors())
                for other in parent.iter("img", "amp-img")
            )
        if anc.tag in ("body", "html"):
            return False
    return False


def _too_small(img: Any) -> bool:
    for attr in ("width", "height"):
        value = (img.get(attr) or "").strip().removesuffix("px")
        if value.isdigit() and int(value) < MIN_SIDE:
            return True
    return False


def _is_chrome(img: Any, url: str, root: Any, page_url: str, base: str) -> bool:
    """Logo, avatar, icon, ad, share button, pixel or teaser rather than a story picture."""
    path, _, query = url.partition("?")
    if _too_small(img) or _TRACKER_URL.search(url) or path.lower().endswith(".svg"):
        return True
    if (
        (img.get("alt") or "")
        .lower()
        .startswith(("click to play", "play video", "video abspielen"))
    ):
        return True
    thumb = _THUMB_QUERY.search(query)
    if thumb and int(thumb.group(1)) <= MAX_THUMB_SIDE:
        return True
    own = f"{img.get('class', '')} {img.get('id', '')}"
    name = path.rsplit("/", 1)[-1]
    if _words(own + " " + _IMAGE_EXT.sub("", name)) & OWN_WORDS or _OWN_PARTS.search(name):
        return True
    ancestors = []
    for anc in img.iterancestors():
        if anc is root:
            break
        ancestors.append(anc)
    gallery = None  # whether any ancestor is a gallery: only a teaser word needs to know
    for anc in ancestors:
        if anc.tag in _CHROME_TAGS:
            return True
        if anc.tag == "a" and _links_elsewhere(anc.get("href") or "", page_url, base):
            return True
        attrs = f"{anc.get('class', '')} {anc.get('id', '')}"
        if len(attrs) > 1:
            words = _words(attrs)
            if words & CHROME_WORDS:
                return True
            if words & TEASER_WORDS and gallery is None:
                gallery = any(
                    _words(f"{a.get('class', '')} {a.get('id', '')}") & GALLERY_WORDS
                    for a in ancestors
                )
            if (
                words & TEASER_WORDS
                and not gallery
                and len(anc.text_content()) <= MAX_TEASER_CHARS
                and any(
                    _links_elsewhere(a.get("href") or "", page_url, base) for a in anc.iter("a")
                )
            ):
                return True
    return False


_PAGE_ID = re.compile(r"\d{5,}|[A-Za-z0-9]{20,}")


def _photo_viewer(target: urllib.parse.SplitResult, here: urllib.parse.SplitResult) -> bool:
    """A link to this article's own photo pages ("/article/<id>/photo/<n>/",
    "/article_photo/list?article_id=<id>")."""
    where = target.path + "?" + target.query
    if not _PHOTO_PAGE.search(where):
        return False
    own = here.path.rstrip("/")
    if own and target.path.startswith(own + "/"):
        return True
    return any(token in where for token in _PAGE_ID.findall(here.path))


@functools.lru_cache(maxsize=4096)
def _links_elsewhere(href: str, page_url: str, base: str) -> bool:
    """A link to another page of the site (a teaser of another article) — not to the image
    itself, a photo viewer, an anchor, this page, or another site (a shop, a source)."""
    href = href.strip()
    if not href or href.startswith(("#", "javascript:", "mailto:")):
        return False
    try:
        target = urllib.parse.urlsplit(urllib.parse.urljoin(base, href))
        here = urllib.parse.urlsplit(page_url)
    except ValueError:
        return False
    if _IMAGE_EXT.search(target.path) or _photo_viewer(target, here):
        return False  # a lightbox link to the full-size picture, this article's photo viewer
    if (target.netloc, target.path.rstrip("/")) == (here.netloc, here.path.rstrip("/")):
        return False
    return target.netloc == here.netloc or metadata.same_site(target.geturl(), page_url)


def article_root(tree: Any) -> Any:
    """The element that holds the article: ``itemprop=articleBody``'s ``<article>`` or itself,
    else the ``<article>`` with the page's ``<h1>``, else the longest ``<article>``, else
    ``<main>``, else ``<body>``."""
    body = tree.find(".//body")
    body = body if body is not None else tree
    for node in _ARTICLE_BODY(tree):
        for anc in node.iterancestors("article"):
            return anc
        return node.getparent() if node.getparent() is not None else node
    for h1 in tree.iter("h1"):
        for anc in h1.iterancestors("article", "main"):
            return anc
        break
    articles = list(tree.iter("article"))
    if articles:
        return max(articles, key=lambda a: len(a.text_content()))
    main = tree.find(".//main")
    return main if main is not None else body


def _meta_lead(tree: Any, base: str) -> tuple[str, str, str]:
    """(url, caption, credit) of the lead image: og:image/twitter:image (the picture the
    publisher shows for the article when it is shared), else the article's JSON-LD ``image``
    (on Nature and Focus pages that is a picture further down)."""
    for attr, name in _META_IMAGE:
        for value in metadata.meta_values(tree, attr, name):
            url = clean_image_url(value, base)
            if url:
                return url, "", ""
    for item in metadata._json_ld(tree):
        types = metadata._types(item)
        if not any(_ARTICLE_TYPES.search(t) for t in types):
            continue
        image = item.get("image")
        if isinstance(image, list) and image:
            image = image[0]
        if isinstance(image, str):
            url = clean_image_url(image, base)
            if url:
                return url, "", ""
        if isinstance(image, dict):
            url = clean_image_url(str(image.get("url") or image.get("contentUrl") or ""), base)
            if url:
                return url, _ld_text(image.get("caption")), _ld_credit(image)
    return "", "", ""


def _described(tree: Any, base: str) -> dict[str, tuple[str, str]]:
    """image_key → (caption, credit) of every JSON-LD ImageObject that has either."""
    out: dict[str, tuple[str, str]] = {}
    for item in metadata._json_ld(tree):
        if "ImageObject" not in metadata._types(item):
            continue
        url = clean_image_url(str(item.get("url") or item.get("contentUrl") or ""), base)
        caption = _ld_text(item.get("caption")) or _ld_text(item.get("description"))
        credit = _ld_credit(item)
        if url and (caption or credit):
            out.setdefault(image_key(url), (caption, credit))
    return out


def _ld_text(value: Any) -> str:
    if isinstance(value, dict):
        value = value.get("name") or value.get("text") or ""
    if isinstance(value, list):
        value = " / ".join(_ld_text(v) for v in value if _ld_text(v))
    return _SPACE.sub(" ", str(value or "")).strip() if isinstance(value, str) else ""


def _ld_credit(image: dict) -> str:
    for key in ("creditText", "copyrightHolder", "author", "creator"):
        text = _ld_text(image.get(key))
        if text:
            return text
    return ""


def _base(tree: Any, page_url: str) -> str:
    for node in tree.iter("base"):
        href = (node.get("href") or "").strip()
        if href:
            try:
                return urllib.parse.urljoin(page_url, href)
            except ValueError:
                return page_url
    return page_url


def scan_images(tree: lxml_html.HtmlElement, page_url: str) -> ImageScan:
    """Every article image of ``tree`` in page order; one walk over the image elements."""
    base = _base(tree, page_url)
    root = article_root(tree)
    lead_url, lead_caption, lead_credit = _meta_lead(tree, base)
    lead_key = image_key(lead_url) if lead_url else None
    found: list[Found] = []
    for img in tree.iter("img", "amp-img"):
        if _noscript_twin(img):
            continue
        url = _img_url(img, base)
        if not url:
            continue
        inside = root is img or any(anc is root for anc in img.iterancestors())
        if not inside and image_key(url) != lead_key:
            continue
        if _is_chrome(img, url, root if inside else None, page_url, base):
            continue
        alt = _SPACE.sub(" ", img.get("alt") or "").strip()
        found.append(Found(img, url, alt, inside))
    near: dict[Any, list[int]] = {}
    for i, item in enumerate(found):
        for depth, anc in enumerate(_levels(item.element)):
            if depth >= OWNER_REACH or anc.tag in ("body", "html"):
                break
            near.setdefault(anc, []).append(i)
    return ImageScan(
        tuple(found),
        lead_url,
        lead_caption,
        lead_credit,
        {k: tuple(v) for k, v in near.items()},
        _described(tree, base),
    )


def article_images(scan: ImageScan, placed: Iterable[Placed] = ()) -> tuple[Image, ...]:
    """The images of ``scan`` with their captions and credits, one per picture, lead flagged."""
    captions: dict[int, str] = {}
    credits: dict[int, list[str]] = {}
    for item in placed:
        if item.owner is None:
            continue
        if item.kind == "caption":
            captions.setdefault(item.owner, item.value)
        elif item.value not in credits.setdefault(item.owner, []):
            credits[item.owner].append(item.value)
    lead_key = image_key(scan.lead_url) if scan.lead_url else None
    out: list[Image] = []
    index: dict[str, int] = {}
    for i, item in enumerate(scan.found):
        key = image_key(item.url)
        caption = captions.get(i, "")
        credit = " / ".join(credits.get(i, []))
        if key in index:
            # The same picture again (a lazy twin, a <noscript> copy, a gallery repeat): one
            # record, filled in from whichever copy carries the caption and credit.
            j = index[key]
            old = out[j]
            out[j] = old._replace(
                caption=old.caption or caption, credit=old.credit or credit, alt=old.alt or item.alt
            )
            continue
        index[key] = len(out)
        if not (caption and credit) and key in scan.described:
            # The page's JSON-LD describes this picture (Postmedia lists every ImageObject).
            ld_caption, ld_credit = scan.described[key]
            caption, credit = caption or ld_caption, credit or ld_credit
        if not credit and item.alt:
            # A credit glued to the alt text ("Ein Meteorit … © NDR Foto: Phillip Eggers").
            credit = split_caption(item.alt)[1] or ""
        out.append(Image(item.url, caption, credit, item.alt, False))
    if lead_key is None:
        # No metadata names the lead: the first picture, when it is in the article.
        if out and scan.found[0].in_article:
            out[0] = out[0]._replace(is_lead=True)
        return tuple(out)
    if lead_key in index:
        j = index[lead_key]
        old = out[j]
        out[j] = old._replace(
            is_lead=True,
            caption=old.caption or scan.lead_caption,
            credit=old.credit or scan.lead_credit,
        )
        return tuple(out)
    if out and scan.found[0].in_article:
        # The metadata's picture is none of the article's: most often a crop made for social
        # networks of the article's first picture, under another file name. The first picture
        # leads; adding the crop would list one picture twice.
        first = out[0]
        out[0] = first._replace(
            is_lead=True,
            caption=first.caption or scan.lead_caption,
            credit=first.credit or scan.lead_credit,
        )
        return tuple(out)
    return (Image(scan.lead_url, scan.lead_caption, scan.lead_credit, "", True), *out)


def _made_of(credit: str, known: tuple[str, ...]) -> bool:
    """Whether ``credit`` is known values joined with " / " (or one of them)."""
    rest = credit
    for value in sorted(known, key=len, reverse=True):
        rest = rest.replace(value, "")
    return not rest.strip(" /")


def with_image_texts(
    credits: tuple[str, ...], captions: tuple[str, ...], pictures: Iterable[Image]
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """``image_credits`` and ``image_captions`` from the DOM pass's values and the images'
    (the lead's JSON-LD caption and credit are in no DOM node); page order, no repeats."""
    pictures = list(pictures)
    # An image's credit joins the DOM values that stand under it ("A / B"); those are listed.
    extra = [p.credit for p in pictures if p.credit and not _made_of(p.credit, credits)]
    credits = tuple(dict.fromkeys([*credits, *extra]))
    captions = tuple(dict.fromkeys([*captions, *(p.caption for p in pictures if p.caption)]))
    return credits, captions
