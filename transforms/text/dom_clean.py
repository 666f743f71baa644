"""Before extraction: take credit and caption nodes out of the page, remembering what they said.

trafilatura keeps much of what sits inside credit ``<span>``s and caption ``<div>``s; removing
those nodes first is more reliable than recognising their text afterwards, because the markup
says what a node is while its text ("Reuters", "Getty Images") could be a sentence's subject.
The caller owns the tree: :func:`strip_credit_nodes` edits it in place (copying every page
would double the parse cost).

A node is removed when
- it is a ``<figcaption>``, or carries ``itemprop`` caption/creditText/copyrightHolder, or is a
  ``<footer>``/``<small>``/``<cite>`` in a ``<figure>`` outside its caption (the picture's
  credit), or
- one of its ``class``/``id`` tokens names a credit or caption (``image-credit``,
  ``ArticleImage__caption``, ``bildunterschrift``, ``fotograf``, ``image--author``,
  ``img-info`` …; the words are split on ``-``, ``_`` and camelCase, so naming conventions don't
  matter), and
- it is small: short text, no headings/lists/tables/articles inside, at most two paragraphs, and
  it is not ``<html>``/``<body>``/``<main>``/``<article>`` — a page whose ``<body>`` class says
  ``has-captions`` must not lose its article.

Every such node leaves the page, but its text is kept only when it is what the column says:
a credit belongs to an image (in its ``<figure>``, an image within two ancestors) or stands as
a short credit line outside the page's footer and navigation, and it is never a site notice
(copyright/rights reserved, imprint, privacy, licence, the publishing company) unless it sits
with the photo itself (an AP photo's "All rights reserved" does). A caption is a
``<figcaption>``, ``itemprop=caption``, a class that names an image caption, or a caption class
next to an image — never a date, reading time, sponsor or login line ("text-caption" is a
typography class on Funke sites).

Credits come out without their label (``Foto: picture alliance/dpa`` → ``picture alliance/dpa``);
a caption whose credit is glued to its end in plain text (``Peking. Foto: AFP``) is split in two,
and so is one whose credit follows its last sentence unlabelled (:func:`trailing_credit`: in its
own last element, in brackets, or as a few words: ``… girls. (Christie's)``, ``… <cite>AP</cite>``),
or stands in its own last element after a separator (``… La Soledat <span>/ Lorenzo M.</span>``),
or follows a Japanese caption's final "＝" or stands as "（name撮影）". Interface words that share
the node (:data:`UI_WORDS`: a "Visa mer" toggle, "Zoom", "Bildergalerie") are cut off first.

With ``owner_of`` (from :mod:`transforms.text.images`) every kept value also comes back with the
image it stands under, asked before its node is dropped.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import NamedTuple

from lxml import etree
from lxml import html as lxml_html

from transforms.text.clean import credit_rules, match_line

# Words in class/id names that mark a credit. "source" only counts next to an image word,
# because a bare "source" class is as often a news-agency trailer or a <source> wrapper.
CREDIT_WORDS = frozenset(
    {
        "credit",
        "credits",
        "copyright",
        "photocredit",
        "imagecredit",
        "picturecredit",
        "bildnachweis",
        "bildquelle",
        "fotonachweis",
        "fotograf",
        "fotografin",
        "urheber",
        "photographer",
        "attribution",
        "byline-image",
        "credito",
        "crédito",
        "credits-image",
        "distributor",
    }
)
CAPTION_WORDS = frozenset(
    {
        "caption",
        "captions",
        "figcaption",
        "imagecaption",
        "imgcaption",
        "photocaption",
        "bildunterschrift",
        "bildtext",
        "bildbeschreibung",
        "legende",
        "legend",
        "didascalia",
        "pie-de-foto",
        "piedefoto",
    }
)
IMAGE_WORDS = frozenset(
    {"image", "img", "photo", "picture", "pic", "foto", "bild", "media", "figure"}
)
# Modifiers that describe a container of a caption rather than the caption ("has-caption").
_MODIFIERS = frozenset(
    {"has", "with", "no", "without", "show", "hide", "toggle", "open", "btn", "button", "icon"}
)
_ITEMPROP_CREDIT = frozenset({"creditText", "copyrightHolder", "copyrightNotice"})
_ITEMPROP_CAPTION = frozenset({"caption"})
# Containers that hold an article, never a credit.
_NEVER = frozenset({"html", "body", "main", "article", "head", "title"})
_BLOCKS = ("h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "table", "article", "section", "main")
# Beyond these lengths a node is more likely a text block that happens to carry the class name.
MAX_CREDIT_CHARS = 200
MAX_CAPTION_CHARS = 600

_WORD_SPLIT = re.compile(r"[-_\s:.]+|(?<=[a-z])(?=[A-Z])")
_SPACE = re.compile(r"\s+")
# Photo-credit labels in the languages we serve (de, en, fr, es, it, nl, pt, nordic).
CREDIT_LABELS = (
    r"Fotos?|Bild(?:er)?|Bildquelle|Bildnachweis|Fotonachweis|Titelbild|Symbolbild|Archivbild|"
    r"Photos?|Images?|Pictures?|Pic|Credits?|Photo\s+credit|Image\s+credit|Crédit(?:\s+photo)?|"
    r"Cr[ée]dits?\s+photo|Foto\s+di|Fuente|Fonte|Quelle|Source|Copyright|Isithombe|"
    r"Фото|Источник|Джерело"
)
# "Photo by X", "Foto von X".
_BY_LABEL = (
    r"(?:Fotos?|Photos?|Photograph|Images?|Pictures?|Bild|Illustration|Grafik|Graphic|Video)"
    r"\s+(?:by|von|de|di|par|por)\s+"
)
# "(Foto: X)" or "Foto: X" or "© X" at the very end of a caption.
_GLUED_CREDIT = re.compile(
    rf"(?:^|(?<=[.!?…“”\"')\]])\s*|\s*[|/–—-]\s*|\s+)"
    rf"(?:[\(\[]\s*(?:{CREDIT_LABELS})\s*:\s*(?P<bracketed>[^()\[\]]{{2,120}}?)\s*[\)\]]"
    rf"|(?:{CREDIT_LABELS})\s*:\s*(?P<labelled>[^:]{{2,120}}?)"
    rf"|[©ⓒ]\s*(?P<copyright>[^©ⓒ]{{2,120}}?))\s*$",
    re.IGNORECASE,
)
_LABEL_ONLY = re.compile(
    rf"^\s*[\(\[]?\s*(?:(?:{CREDIT_LABELS})\s*:\s*|[©ⓒ]\s*|{_BY_LABEL})", re.IGNORECASE
)


# What a site says about itself in its footer: copyright and licence notices, imprint and
# privacy links, the publishing company. Such a node is taken out of the page like a credit
# node, but it is not a photo credit unless it sits with an image (an AP photo's credit does
# carry "All rights reserved").
SITE_NOTICE = re.compile(
    r"rights?\s+reserved|rechte\s+vorbehalten|droits\s+r[ée]serv|riproduzione\s+riservata|"
    r"derechos\s+reservados|\bimpressum\b|datenschutz|privacy|terms\s+(?:of|and)|\bAGB\b|"
    r"über\s+uns|about\s+us|kontakt\b|contact\s+us|cookie|licen[cs]ed?\b|lizenz|"
    r"creative\s+commons|ansvarig\s+utgivare|subsidiary|"
    r"\b(?:GmbH|KG|AG|SA|S\.A\.|LLC|Ltd|plc|Inc|Corporation|Holdings?|Medien|media)\.?\s*$|"
    r"(?:19|20)\d\d\s*©|"
    r"(?:©|\(c\)|copyright)\s*(?:(?:19|20)\d\d\b|[^/]*\b(?:19|20)\d\d\s*$)|"
    r"^\s*(?:19|20)\d\d(?:\s*[-–]\s*(?:19|20)\d\d)?\s+\w",
    re.IGNORECASE,
)
# A credit line on its own is a name or an agency chain; longer text in a credit node is a
# notice (Yomiuri's copyright paragraph), kept only inside the photo's figure.
MAX_CREDIT_LINE_CHARS = 100
# Credit values that are only a label, the node's heading rather than a credit.
_BARE_LABEL = re.compile(
    r"^(?:Copyright|Bildrechte|Bildnachweis|Fotonachweis|Bildquelle|Credits?|Fotos?|Photos?|"
    r"(?:Photo|Image|Picture)\s+credits?|Quelle|Source)$",
    re.IGNORECASE,
)
# Caption-classed text that is no caption: a date or reading time, a sponsor or login line.
_NOT_CAPTION = re.compile(
    r"^(?:[\d.,:/\s•|·-]*(?:Uhr|min\.?|Min\.?)?[\s•|·-]*"
    r"(?:(?:Lesezeit|Lesedauer|Reading\s+time)\s*:?\s*\d+\s*Min(?:uten|\.)?)?"
    r"|Ein\s+Angebot\s+von|Powered\s+by|Anzeige|Advertisement|Anmelden|Abmelden|Mein\s+Konto|"
    r"Login|Sign\s+in)\s*$",
    re.IGNORECASE,
)
_IMAGE_CAPTION_WORDS = (IMAGE_WORDS | CAPTION_WORDS | {"wp"}) - {
    "caption", "captions", "legend", "legende", "media"
}
# Where an image sits: a node with one of these near it (itself, or within two ancestors) is
# attached to that image.
_MEDIA = ("img", "picture", "video", "amp-img")


class Placed(NamedTuple):
    """A caption or credit the pass kept, and the image it stands under (an index given by the
    caller's ``owner_of``; None: under no image the caller knows)."""

    kind: str  # "caption" or "credit"
    value: str
    owner: int | None


class DomStrip(NamedTuple):
    credits: tuple[str, ...]
    captions: tuple[str, ...]
    # Only with ``owner_of``: every kept value with its image, in the order they were kept.
    placed: tuple[Placed, ...] = ()


def _text(node: lxml_html.HtmlElement) -> str:
    return _SPACE.sub(" ", node.text_content()).strip()


def attr_words(value: str) -> set[str]:
    """``"ArticleImage__credit c-photo-caption"`` → {"article", "image", "credit", "c", …}."""
    words: set[str] = set()
    for token in value.split():
        parts = [p.lower() for p in _WORD_SPLIT.split(token) if p]
        for i, part in enumerate(parts):
            if i and parts[i - 1] in _MODIFIERS:
                continue  # "has-caption": a container that holds one, not the caption
            words.add(part)
        words.add(token.lower())
    return words


def node_role(node: lxml_html.HtmlElement) -> str | None:
    """The role of a node (``credit``, ``caption`` or None) from its tag and attribute names."""
    itemprop = set((node.get("itemprop") or "").split())
    if itemprop & _ITEMPROP_CREDIT:
        return "credit"
    if node.tag == "figcaption" or itemprop & _ITEMPROP_CAPTION:
        return "caption"
    if node.tag in _FIGURE_CREDIT_TAGS and _in_figure_not_caption(node):
        return "credit"  # <figure><img><figcaption>…</figcaption><footer>Imago/X</footer>
    words = attr_words(f"{node.get('class', '')} {node.get('id', '')}")
    if not words:
        return None
    if words & CREDIT_WORDS or ("source" in words and words & IMAGE_WORDS):
        return "credit"  # "image-credit", "photo-source"
    if any(_IMAGE_AUTHOR.search(token) for token in node.get("class", "").split()):
        return "credit"  # "image--author", "foto-autor" (not "author-image": an author's photo)
    if words & CAPTION_WORDS or (words & _PICTURE_WORDS and words & _TEXT_WORDS):
        return "caption"  # "caption", "img-info", "image-text", "bild-beschreibung"
    return None


# Elements that hold a picture's credit when they stand in its <figure> beside the caption.
_FIGURE_CREDIT_TAGS = frozenset({"footer", "small", "cite"})
# An image or caption word before an author word in one class token: "image--author",
# "image-box__author", "figcaption--author" (not "author-image": an author's photo).
_IMAGE_AUTHOR = re.compile(
    r"(?:image|img|photo|picture|foto|bild|caption)[\w-]{0,12}?(?:author|autor)", re.IGNORECASE
)
# An image word with a text word names the picture's text: its caption. Not "media": a
# "media-text" block is body text beside a video on many themes.
_PICTURE_WORDS = frozenset({"image", "img", "photo", "picture", "pic", "foto", "bild"})
_TEXT_WORDS = frozenset(
    {"info", "text", "desc", "description", "beschreibung", "unterzeile", "subline", "subtitle"}
)


def _in_figure_not_caption(node: lxml_html.HtmlElement) -> bool:
    for anc in node.iterancestors():
        if anc.tag == "figcaption":
            return False
        if anc.tag == "figure":
            return True
    return False


def _small(node: lxml_html.HtmlElement, text: str, limit: int) -> bool:
    if node.tag in _NEVER or len(text) > limit:
        return False
    if any(True for _ in node.iter(*_BLOCKS)):
        return False
    return sum(1 for _ in node.iter("p")) <= 2


def credit_value(text: str) -> str:
    """``(Foto: picture alliance/dpa)`` → ``picture alliance/dpa``."""
    value = _LABEL_ONLY.sub("", text).strip()
    if text.lstrip().startswith(("(", "[")):
        value = value.rstrip(")]").strip()
        if value.startswith(("(", "[")) and text.rstrip().endswith((")", "]")):
            # "(Jane Muster/AFP)": no label for the pattern to take the bracket with.
            value = value[1:].strip()
    return value.strip(" |/–—-").strip()


# Japanese captions name the picture's source after a full-width "＝" at their very end
# ("…（ソウルで、３日）＝ＡＰ", "…＝ロイター") or as "（name撮影）" ("photographed by name").
# Not a place or a date after the "＝" ("…国旗＝同国で2019年5月": "in that country, May 2019").
_JA_CREDIT = re.compile(
    r"(?:＝(?P<equals>[^＝、。，,（）()\s\d]{1,20})(?<![でにて])"
    r"|[（(](?P<shot>[^（）()、。\d]{1,20}?)撮影[）)])\s*$"
)


def as_credit(text: str) -> str | None:
    """The credit ``text`` is on its own, label taken off (by the cleaning rules' ``credit``
    patterns: "Photo: AFP", "© X", "IMAGO/X", "Getty Images"), or None: a sentence, a notice."""
    if not text or len(text) > MAX_CREDIT_LINE_CHARS or SITE_NOTICE.search(text):
        return None
    removal = match_line(text, credit_rules())
    if removal is None or not removal.credit:
        return None
    return credit_value(removal.credit) or None


# A spaced separator before an agency credit at a caption's end ("… on Monday / AFP").
_SPACED_SEPARATOR = re.compile(r"\s+[/|–—]\s+")


def split_caption(text: str) -> tuple[str, str | None]:
    """A caption with a labelled credit at its end → (caption, credit)."""
    found = _GLUED_CREDIT.search(text)
    if found:
        credit = next(g for g in found.group("bracketed", "labelled", "copyright") if g)
        return text[: found.start()].strip(), credit.strip()
    found = _JA_CREDIT.search(text)
    if found and found.start() > 0:
        return text[: found.start()].strip(), (found.group("equals") or found.group("shot")).strip()
    return text, None


def separated_credit(text: str) -> tuple[str, str | None]:
    """A caption with an agency credit after a spaced separator at its end → (caption,
    credit): ``… on Monday / AFP``, ``… | picture alliance / dpa``. Tried after
    :func:`trailing_credit`, whose own element says better where a credit starts."""
    for sep in _SPACED_SEPARATOR.finditer(text):
        rest = text[sep.end() :]
        if len(rest) > MAX_CREDIT_LINE_CHARS:
            continue
        if sep.start() >= 15 and (credit := as_credit(rest)):
            return text[: sep.start()].strip(), credit
        break  # only the first short tail is tried: a credit is one name or chain
    return text, None


# Words of the page's interface that a caption or credit node also holds: a "show more" toggle,
# a zoom or gallery button ("… Foto: Dan Muster/APVisa mer" on Aftonbladet). Their text is
# glued to the credit by text_content(), so they are cut off the ends, spaced or not.
UI_WORDS = (
    r"Visa\s+mer|Visa\s+mindre|Läs\s+mer|Vis\s+mer|Les\s+mer|Læs\s+mere|Näytä\s+lisää|"
    r"Mehr\s+anzeigen|Weniger\s+anzeigen|Mehr\s+lesen|Vergrößern|Bild\s+vergrößern|"
    r"Bildergalerie|Zur\s+Galerie|Galerie\s+öffnen|Vollbild|Show\s+more|Show\s+less|"
    r"See\s+more|Read\s+more|Expand|Collapse|Enlarge|Zoom|Fullscreen|Full\s+screen|"
    r"Open\s+gallery|View\s+gallery|Ver\s+más|Voir\s+plus|Agrandir|Mostra\s+di\s+più|"
    r"Ingrandisci|Toon\s+meer|Lees\s+meer|Vergroten"
)
_UI_TAIL = re.compile(rf"\s*(?:[|·•]\s*)?(?:{UI_WORDS})\s*$", re.IGNORECASE)
_UI_HEAD = re.compile(rf"^\s*(?:{UI_WORDS})(?:\s+|\s*[|·•:]\s*)(?=\S)", re.IGNORECASE)


# The last letter of every UI word. _UI_TAIL is tried at every position of a text (a caption's
# few hundred characters cost ~100 µs); a text whose last visible character is none of these
# letters cannot end in a UI word, and most captions and credits end in other characters.
_UI_LAST_LETTER = re.compile(
    "[" + "".join(sorted({word[-1] for word in UI_WORDS.split("|")})) + "]", re.IGNORECASE
)


def strip_ui_words(text: str) -> str:
    """``"Dan Muster/APVisa mer"`` → ``"Dan Muster/AP"``; ``"Vergrößern Die Brücke."`` →
    ``"Die Brücke."``. A text that is nothing but such words becomes empty."""
    visible = text.rstrip()  # the whitespace _UI_TAIL's final \s* takes
    if visible and _UI_LAST_LETTER.match(visible[-1]):
        if _UI_TAIL.fullmatch(text):
            return ""
        text = _UI_TAIL.sub("", text)
    return _UI_HEAD.sub("", text).strip()


# A caption's last sentence ends here; a credit may follow it in its own element or brackets.
_SENTENCE_END = ".!?…\"“”»)"
# "(Christie's)" or "(AP Photo/Evan Vucci)" after a caption's last sentence (Nine, AP style).
_TRAILING_BRACKETS = re.compile(r"(?<=[.!?…\"“”»])\s*\((?P<credit>[^()\d][^()]{1,59})\)\s*$")
# A few words without digits or final punctuation after a caption's last sentence: an agency
# or a photographer ("… 연설하고 있다. 연합뉴스", "… in Berlin. Reuters").
_TRAILING_NAME = re.compile(
    r"(?<=[.!?…\"“”»])\s+(?P<credit>(?:[^\W\d_][^\s.!?\d]*\d?)(?:[ /][^\s.!?\d]+){0,3})\s*$"
)
# "… Edgar H." — the dot of an initial, not the end of a sentence.
_INITIAL_END = re.compile(r"(?:^|[\s/])[A-ZÀ-Þ]\.$")
# Bracketed words that say where a person stands in the picture, not who took it.
_POSITIONS = frozenset(
    {"left", "right", "centre", "center", "front", "back", "top", "bottom", "links", "rechts",
     "mitte", "l.", "r.", "m.", "file", "archiv", "archive", "symbolbild", "illustration"}
)
MAX_TRAILING_CREDIT_WORDS = 8
# What sets a credit apart from a caption that runs up to it without a full stop.
_CREDIT_SEPARATORS = "/|©ⓒ"
_CREDIT_TAGS = frozenset({"span", "strong", "small", "em", "cite", "b", "i", "div", "p"})


def trailing_credit(node: lxml_html.HtmlElement, text: str) -> tuple[str, str | None]:
    """A caption whose credit stands after its last sentence, unlabelled → (caption, credit):
    in the caption's last element (``<span>Ruhe hilft.</span><span>Unsplash/K. S.</span>``,
    ``<strong class="author">``) or in brackets (``… girls. (Christie's)``)."""
    children = [c for c in node if isinstance(c.tag, str) and c.tag != "br"]
    while len(children) == 1 and not (node.text or "").strip() and not (children[0].tail or "").strip():
        # <figcaption><p>Caption. <cite>AP</cite></p></figcaption>: look inside the wrapper.
        node = children[0]
        children = [c for c in node if isinstance(c.tag, str) and c.tag != "br"]
    if len(children) >= 1 and not (children[-1].tail or "").strip():
        last = children[-1]
        value = _text(last)
        before = text[: len(text) - len(value)].rstrip() if text.endswith(value) else ""
        if (
            last.tag in _CREDIT_TAGS
            and value
            and len(value) <= MAX_CREDIT_LINE_CHARS
            and len(value.split()) <= MAX_TRAILING_CREDIT_WORDS
            and value[-1] not in ".!?:"
            and len(before) >= 15
            # <cite> and <small> say "source" themselves; other elements only after a sentence
            # or when they open with a separator ("… in La Soledat <span>/ Lorenzo Muster</span>").
            and (
                last.tag in ("cite", "small")
                or before[-1] in _SENTENCE_END
                or (value[0] in _CREDIT_SEPARATORS and len(value.split()) <= 5)
            )
        ):
            return before, credit_value(value)
    found = _TRAILING_BRACKETS.search(text)
    if found:
        credit = found.group("credit").strip()
        if credit.casefold() not in _POSITIONS and len(credit.split()) <= MAX_TRAILING_CREDIT_WORDS:
            return text[: found.start()].strip(), credit_value(credit)
    found = _TRAILING_NAME.search(text)
    if (
        found
        and found.group("credit").casefold().strip(" .") not in _POSITIONS
        and not _INITIAL_END.search(text[: found.start()])
    ):
        return text[: found.start()].strip(), found.group("credit").strip()
    return text, None


def _drop(node: lxml_html.HtmlElement) -> None:
    # drop_tree keeps the tail text, which belongs to the surrounding paragraph.
    if node.getparent() is not None:
        node.drop_tree()


# Every node node_role() can accept is a figcaption, has an itemprop, or has one of these words
# in its lower-cased class or id. One regex search per node rules out nearly all of a page's
# nodes before the word splitting, which was most of this pass's cost on real pages. (An XPath
# with contains() per word measured 6x slower than this loop in lxml.)
_PREFILTER = re.compile(
    "|".join(re.escape(w) for w in sorted(CREDIT_WORDS | CAPTION_WORDS | {"source"}, key=len, reverse=True))
)
# The other shapes node_role() accepts: an image word with a text or author word.
_PICTURE_HINT = re.compile(r"image|img|photo|picture|pic|foto|bild")
_TEXT_HINT = re.compile(r"info|text|desc|beschreibung|unterzeile|subline|subtitle|autor|author")
# A part of every word of _PREFILTER and _PICTURE_HINT ("imagecredit" holds "credit",
# "bildnachweis" "bild"): one search with these 16 alternatives rejects a node in a fifth of the
# time of _PREFILTER's 35, and the few nodes it lets through get the exact test.
_ANY_HINT = re.compile(
    "credit|crédit|copyright|urheber|attribution|distributor|caption|legend|didascalia|source|"
    "image|img|photo|pic|foto|bild"
)
# Tags that are candidates whatever their attributes.
_CANDIDATE_TAGS = _FIGURE_CREDIT_TAGS | {"figcaption"}


def _names_role(attrs: str) -> bool:
    """Whether a node's ``"class id"`` may name a credit or caption (:func:`node_role` decides)."""
    lowered = attrs.lower()
    return bool(
        _ANY_HINT.search(lowered)
        and (
            _PREFILTER.search(lowered)
            or (_PICTURE_HINT.search(lowered) and _TEXT_HINT.search(lowered))
        )
    )


def _candidates(tree: lxml_html.HtmlElement) -> list[lxml_html.HtmlElement]:
    found = []
    # A page repeats its class names (~200 distinct "class id" pairs on ~870 elements): each
    # pair is tested once.
    named: dict[str, bool] = {}
    for node in tree.iter(etree.Element):
        get = node.get
        if node.tag in _CANDIDATE_TAGS or get("itemprop"):
            found.append(node)
            continue
        attrs = get("class", "") + " " + get("id", "")
        if len(attrs) > 1:
            hit = named.get(attrs)
            if hit is None:
                hit = named[attrs] = _names_role(attrs)
            if hit:
                found.append(node)
    return found


def _attached(node: lxml_html.HtmlElement, root: lxml_html.HtmlElement) -> bool:
    """Still part of ``root``'s tree: neither it nor an ancestor was dropped."""
    top = node
    for top in node.iterancestors():
        pass
    return top is root or node is root


def attached_to_image(node: lxml_html.HtmlElement, reach: int = 2) -> bool:
    """Whether ``node`` belongs to an image: inside a ``<figure>``, or an image within
    ``reach`` ancestors (the parent and grandparent by default)."""
    if node.tag == "figcaption":
        return True
    for i, anc in enumerate((node, *node.iterancestors())):
        if anc.tag == "figure":
            return True
        if anc.tag in _NEVER:
            return False
        if i <= reach and any(True for _ in anc.iter(*_MEDIA)):
            return True
    return False


def _in_chrome(node: lxml_html.HtmlElement, *tags: str) -> bool:
    """Inside one of ``tags`` (the page's footer, navigation, header) and not in an article."""
    found = False
    for anc in node.iterancestors():
        if anc.tag == "article":
            return False
        found = found or anc.tag in tags
    return found


def is_credit(node: lxml_html.HtmlElement, value: str) -> bool:
    """A credit node's value is a photo credit: with an image, or a credit line standing on
    its own — not the site's footer, copyright or imprint line, not a bare label."""
    if not value or _BARE_LABEL.match(value.strip(" :")):
        return False
    if SITE_NOTICE.search(value) or len(value) > MAX_CREDIT_LINE_CHARS:
        # A notice with the photo it belongs to ("AP Photo/… Copyright 2024 The Associated
        # Press. All rights reserved" in a <figure>), never one that merely shares a container
        # with a logo.
        return attached_to_image(node, reach=0) and not _in_chrome(node, "footer", "nav")
    return attached_to_image(node) or not _in_chrome(node, "footer", "nav", "header")


def is_caption(node: lxml_html.HtmlElement, text: str) -> bool:
    """A caption node's text is an image caption: with an image, and not a date, reading time
    or UI line that a typography class calls "caption" (``text-caption``)."""
    if _NOT_CAPTION.match(text):
        return False
    itemprop = set((node.get("itemprop") or "").split())
    if node.tag == "figcaption" or itemprop & _ITEMPROP_CAPTION:
        return True
    # A class that names an image caption ("image-caption", "wp-caption", "bildunterschrift")
    # says so itself; a bare "caption" is often a typography class ("text-caption").
    words = attr_words(f"{node.get('class', '')} {node.get('id', '')}")
    return bool(words & _IMAGE_CAPTION_WORDS) or attached_to_image(node)


def strip_credit_nodes(
    tree: lxml_html.HtmlElement, owner_of: Callable[[lxml_html.HtmlElement], int | None] | None = None
) -> DomStrip:
    """Remove credit and caption nodes from ``tree``; return their texts, credits unlabelled.

    With ``owner_of`` (:meth:`transforms.text.images.ImageScan.owner_of`), each kept value is
    also returned with the image it stands under, asked while the node is still in the page."""
    credits: list[str] = []
    captions: list[str] = []
    placed: list[Placed] = []

    def keep(kind: str, value: str, node: lxml_html.HtmlElement) -> None:
        (credits if kind == "credit" else captions).append(value)
        if owner_of is not None:
            placed.append(Placed(kind, value, owner_of(node)))

    # Credits first: a credit inside a caption must not stay glued to the caption's text.
    candidates = _candidates(tree)
    # Each node's role, once: it reads the node and its ancestors, which stay as they are for
    # every node still in the page (only a dropped ancestor would change them, and then the
    # node is gone too), and asking it first spares the walk up in _attached for the others.
    roles = [node_role(node) for node in candidates]
    root = tree.getroottree().getroot()
    for wanted in ("credit", "caption"):
        for node, role in zip(candidates, roles):
            if role != wanted:
                continue
            if node.getparent() is None or not _attached(node, root):
                continue
            text = strip_ui_words(_text(node))
            limit = MAX_CREDIT_CHARS if wanted == "credit" else MAX_CAPTION_CHARS
            if not _small(node, text, limit):
                continue
            # Every node found is taken out of the page (footers and typography "captions" are
            # chrome too); only what belongs to an image, or stands as a credit line, is kept.
            if wanted == "credit":
                value = credit_value(text)
                if is_credit(node, value):
                    keep("credit", value, node)
            elif text and is_caption(node, text):
                # A credit dropped from inside the caption leaves its separator behind
                # ("Students take part … decades. /"): not a credit label.
                text = text.rstrip(" |/")
                caption, credit = split_caption(text)
                if not credit:
                    caption, credit = trailing_credit(node, text)
                if not credit:
                    caption, credit = separated_credit(text)
                if credit:
                    keep("credit", credit, node)
                if caption and credit_value(caption) == caption:
                    keep("caption", caption, node)
                elif caption:  # a "caption" node that holds only a labelled credit
                    keep("credit", credit_value(caption), node)
            _drop(node)
    return DomStrip(
        tuple(dict.fromkeys(credits)), tuple(dict.fromkeys(captions)), tuple(placed)
    )
