"""Captions and credits that stand with one image in markup that names neither.

The DOM credit pass (:mod:`transforms.text.dom_clean`) finds captions and credits by their tags
and class names. Many layouts give them neither: hashed CSS-in-JS classes (``sc-fHjqPf``),
utility classes (``absolute bottom-2 text-white``), a bare ``<p>`` or ``<span>``. What they do
share is a shape: an *image block*, a small container that holds one picture and, after it, one
to three short text blocks — the caption, then the credit. This pass reads those blocks by
content and position, after the class-based pass has taken what it recognises:

- a text block that is a credit on its own, by the shipped cleaning rules' credit patterns
  (``configs/clean_rules.yaml``: a labelled credit "Photo: AFP", "Image: Jane Muster",
  "© X", or a chain of agencies and names "IMAGO/Nico Muster", "Getty Images", "REUTERS"),
  is the picture's credit;
- a text block that ends in a credit (:func:`transforms.text.dom_clean.split_caption`,
  :func:`transforms.text.dom_clean.trailing_credit`: "… sammeln. <span>IMAGO/X</span>") is
  caption and credit;
- of exactly two text blocks, a longer first and a short name-shaped second ("Former Prime
  Minister Tony Blair" / "ES"), the second is the credit;
- the text block right before a credit is the caption (never a heading).

A block yields nothing unless it holds a credit: a picture with a bare text block after it is as
often followed by the article's first paragraph as by its caption. Everything read is taken out
of the page, like the class-based pass does. The block must be small (``MAX_BLOCK_CHARS``), hold
one image, no list or table, and no text before the image; it is never the article's container.
A site footer's copyright line is no credit here either (``dom_clean.SITE_NOTICE``), and only
images the caller knows (``owner_of``: the article's pictures, not logos or teasers) count.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from transforms.text.dom_clean import (
    _NOT_CAPTION,
    SITE_NOTICE,
    UI_WORDS,
    DomStrip,
    Placed,
    _attached,
    as_credit,
    credit_value,
    separated_credit,
    split_caption,
    strip_ui_words,
    trailing_credit,
)

# A caption and a credit together; a container with more text is a part of the article.
MAX_BLOCK_CHARS = 800
# How far up from an image its block may be (img > span > span > div on IOL's widget).
BLOCK_REACH = 3
MAX_PIECES = 3
# A credit that no rule or label names, second of two text blocks: a name or an outlet.
MAX_NAME_WORDS = 5
MAX_NAME_CHARS = 50
_HEADINGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
_NOT_IN_BLOCK = ("ul", "ol", "table", "article", "section", "main", "form", "nav", "aside")
_NEVER = frozenset({"html", "body", "main", "article"})
_WRAPPERS = frozenset({"source", "picture"})
_SPACE = re.compile(r"\s+")
# A name, an outlet or an agency: capitalised words (or initials), no sentence punctuation.
_NAME = re.compile(r"^[^\W\d_][\w'’.&-]*(?:[ /](?:[^\W\d_][\w'’.&-]*|&)){0,4}$")
# Lower-case words a name or an outlet may hold ("Museum of London", "Van der Berg").
_JOINERS = frozenset({"of", "the", "de", "van", "von", "der", "da", "di", "y", "and", "&"})


def _text(node: Any) -> str:
    return strip_ui_words(_SPACE.sub(" ", node.text_content()).strip())


# Buttons a picture's block may hold after its caption: never a credit, however name-shaped.
_CONTROL = re.compile(
    rf"(?:{UI_WORDS}|Teilen|Share|Dela|Del|Jaa|Partager|Compartir|Condividi|Delen|Drucken|Print|"
    r"Kommentare?|Comments?|Kommentarer|Merken|Save|Speichern|Schließen|Close|Stäng|Lukk|Weiter|"
    r"Next|Zurück|Previous|Prev|Mehr|More|Play|Abspielen|Videos?|Audio|Galerie|Gallery|Fotos?|"
    r"Photos?|Bilder?|Images?|Grafik|Live|Anzeige|Advertisement|Sponsored)",
    re.IGNORECASE,
)


def _name_shaped(text: str) -> bool:
    words = text.split()
    return (
        not _CONTROL.fullmatch(text)
        and 0 < len(words) <= MAX_NAME_WORDS
        and len(text) <= MAX_NAME_CHARS
        and bool(_NAME.match(text))
        and all(w[0].isupper() or not w[0].isalpha() for w in words if w.lower() not in _JOINERS)
    )



def _level_up(node: Any) -> Iterable[Any]:
    for anc in node.iterancestors():
        if anc.tag not in _WRAPPERS:
            yield anc


def image_block(img: Any) -> tuple[Any, Any] | None:
    """(block, the block's child that holds ``img``): the first container above ``img`` with
    text in it, when it is a small one-picture block with no text before the picture."""
    for depth, anc in enumerate(_level_up(img)):
        if depth >= BLOCK_REACH or anc.tag in _NEVER or not isinstance(anc.tag, str):
            return None
        text = anc.text_content()
        if not text.strip():
            continue
        # Collapsing spaces never lengthens a text, so only a long one is collapsed, and with
        # split/join: the same words as _SPACE.sub(" ", …).strip() at a quarter of the cost on
        # the page-sized texts of the upper containers.
        if len(text) > MAX_BLOCK_CHARS and len(" ".join(text.split())) > MAX_BLOCK_CHARS:
            return None
        if any(True for _ in anc.iter(*_NOT_IN_BLOCK)):
            return None
        pictures = [
            i for i in anc.iter("img", "amp-img")
            if not any(a.tag == "noscript" for a in i.iterancestors())
        ]
        if len(pictures) != 1:
            return None
        if (anc.text or "").strip():
            return None
        child = img
        while child.getparent() is not anc:
            child = child.getparent()
        for sib in child.itersiblings(preceding=True):
            if sib.text_content().strip() or (sib.tail or "").strip():
                return None
        return anc, child
    return None


def _pieces(block: Any, child: Any) -> list[tuple[Any, str]] | None:
    """The text blocks after the picture, or None when loose text stands between them."""
    if (child.tail or "").strip():
        return None
    out = []
    for sib in child.itersiblings():
        if not isinstance(sib.tag, str):
            continue
        if (sib.tail or "").strip():
            return None
        text = _text(sib)
        if text:
            out.append((sib, text))
    return out if 0 < len(out) <= MAX_PIECES else None


def read_block(pieces: list[tuple[Any, str]]) -> list[tuple[str, str, Any]]:
    """(kind, value, node) for the caption and credits among an image block's text blocks;
    empty when none of them is a credit."""
    credits: dict[int, str] = {}
    split: dict[int, tuple[str, str]] = {}
    for i, (node, text) in enumerate(pieces):
        if node.tag in _HEADINGS:
            continue
        credit = as_credit(text)
        if credit:
            credits[i] = credit
            continue
        caption, tail = split_caption(text)  # a labelled credit at the end
        if not tail:
            # Unlabelled, the end must look like a credit too: this block is no known caption.
            caption, tail = trailing_credit(node, text)
            if tail and not (as_credit(tail) or _name_shaped(tail)):
                tail = None
        if not tail:
            caption, tail = separated_credit(text)
        if tail and _is_caption(caption) and not SITE_NOTICE.search(tail):
            split[i] = (caption, credit_value(tail))
    if not credits and not split and len(pieces) == 2:
        (first, first_text), (second, second_text) = pieces
        if (
            first.tag not in _HEADINGS
            and second.tag not in _HEADINGS
            and len(first_text.split()) >= 3
            and _name_shaped(second_text)
            and not SITE_NOTICE.search(second_text)
        ):
            credits[1] = second_text
    if not credits and not split:
        return []
    found: list[tuple[str, str, Any]] = []
    for i, (node, text) in enumerate(pieces):
        if i in split:
            caption, credit = split[i]
            found += [("credit", credit, node), ("caption", caption, node)]
        elif i in credits:
            found.append(("credit", credits[i], node))
        elif i + 1 in credits and node.tag not in _HEADINGS and _is_caption(text):
            found.append(("caption", text, node))
    return found


# A credit's own label standing before it ("Image copyright" / "Getty Images" on the BBC).
_LABEL_WORDS = re.compile(
    r"^(?:(?:image|photo|picture|foto|bild|copyright|credits?|source|quelle|©)\s*:?\s*)+$",
    re.IGNORECASE,
)


def _is_caption(text: str) -> bool:
    return bool(text) and not (
        _NOT_CAPTION.match(text) or _LABEL_WORDS.match(text) or as_credit(text)
    )


def strip_image_texts(
    tree: Any, images: Iterable[Any], owner_of: Callable[[Any], int | None] | None = None
) -> DomStrip:
    """Read and remove the captions and credits of the image blocks around ``images`` (the
    article's ``<img>`` elements); with ``owner_of``, only values it places under an image."""
    credits: list[str] = []
    captions: list[str] = []
    placed: list[Placed] = []
    seen: set[Any] = set()
    root = tree.getroottree().getroot()
    for img in images:
        if not _attached(img, root):
            continue  # its figure was a caption node the DOM pass dropped as a whole
        found = image_block(img)
        if found is None or found[0] in seen:
            continue
        block, child = found
        seen.add(block)
        pieces = _pieces(block, child)
        if not pieces:
            continue
        read = read_block(pieces)
        owners = {id(node): owner_of(node) if owner_of else None for _, _, node in read}
        if owner_of is not None and any(o is None for o in owners.values()):
            continue
        for kind, value, node in read:
            (credits if kind == "credit" else captions).append(value)
            if owner_of is not None:
                placed.append(Placed(kind, value, owners[id(node)]))
        for node in dict.fromkeys(node for _, _, node in read):
            if node.getparent() is not None:
                node.drop_tree()
    return DomStrip(tuple(dict.fromkeys(credits)), tuple(dict.fromkeys(captions)), tuple(placed))
