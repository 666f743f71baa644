"""Before extraction: take credit and caption nodes out of the page, remembering what they said.

trafilatura keeps much of what sits inside ``<figure>`` and credit ``<span>``s; removing those
nodes first is more reliable than recognising their text afterwards. The caller owns the tree:
:func:`strip_credit_nodes` edits it in place (copying every page would double the parse cost).
"""

from __future__ import annotations

import re
from typing import NamedTuple

from lxml import html as lxml_html

# class/id words that mark a node as a photo credit or a caption.
_CREDIT_ATTR = re.compile(
    r"(?:^|[\s_-])(?:credit|credits|copyright|photo-?credit|image-?credit|bildnachweis|"
    r"bildquelle|fotograf|urheber|source-image|picture-?source)(?:$|[\s_-])",
    re.IGNORECASE,
)
_CAPTION_ATTR = re.compile(
    r"(?:^|[\s_-])(?:caption|figcaption|bildunterschrift|image-?text|img-?caption)(?:$|[\s_-])",
    re.IGNORECASE,
)
_CREDIT_LABEL = re.compile(
    r"^\s*[\(\[]?\s*(?:Fotos?|Bild(?:quelle)?|Photo|Image|Credit|Quelle|Source)\s*:\s*|^\s*©\s*",
    re.IGNORECASE,
)
_SPACE = re.compile(r"\s+")


class DomStrip(NamedTuple):
    credits: tuple[str, ...]
    captions: tuple[str, ...]


def _text(node: lxml_html.HtmlElement) -> str:
    return _SPACE.sub(" ", node.text_content()).strip()


def credit_value(text: str) -> str:
    """``(Foto: picture alliance/dpa)`` → ``picture alliance/dpa``."""
    value = _CREDIT_LABEL.sub("", text).strip()
    return value.rstrip(")]").strip() if text.lstrip().startswith(("(", "[")) else value


def _drop(node: lxml_html.HtmlElement) -> None:
    # drop_tree keeps the tail text, which belongs to the surrounding paragraph.
    if node.getparent() is not None:
        node.drop_tree()


def strip_credit_nodes(tree: lxml_html.HtmlElement) -> DomStrip:
    """Remove credit and caption nodes from ``tree``; return their texts."""
    credits: list[str] = []
    captions: list[str] = []
    for node in list(tree.iter()):
        if not isinstance(node.tag, str) or node.getparent() is None:
            continue
        attrs = f"{node.get('class', '')} {node.get('id', '')}"
        if _CREDIT_ATTR.search(attrs):
            text = _text(node)
            if text:
                credits.append(credit_value(text))
            _drop(node)
    for node in list(tree.iter("figcaption")) + [
        n for n in tree.iter() if isinstance(n.tag, str) and _CAPTION_ATTR.search(
            f"{n.get('class', '')} {n.get('id', '')}"
        )
    ]:
        if node.getparent() is None:
            continue
        text = _text(node)
        if text:
            captions.append(text)
        _drop(node)
    return DomStrip(tuple(dict.fromkeys(c for c in credits if c)), tuple(dict.fromkeys(captions)))
