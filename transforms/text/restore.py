"""Put back paragraphs that trafilatura's precision pass dropped from inside the article: read
from the page itself (the ``page`` recall pass of :mod:`transforms.text.extract`), or from
trafilatura's default pass (the ``trafilatura`` recall pass, :func:`restore_dropped`).

Precision mode leaves out the related links and teasers around an article, and now and then a
paragraph, heading or list item in the middle of it (a paragraph after an embed, a product
heading). The page's leaf blocks (``<p>``, headings, list items, quotes: :data:`BLOCKS`) are
matched to the precise text's lines; a run of blocks between two blocks that are consecutive
lines of the precise text is put back when all of them are children of the same element as
those two. That sibling rule is what keeps teasers, ads and author boxes out: they sit in
containers of their own, while a dropped paragraph sits beside the paragraphs around it.

It replaces a second trafilatura pass (the ``trafilatura`` recall pass), which costs as much as
the first: on the shared pages it reaches the same AEB recall on the outlet-held-out hosts at the
same precision for no second pass; BENCHMARKS.md has both side by side.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

from lxml import etree
from trafilatura.xpaths import OVERALL_DISCARD_XPATH, REGEXP_NS, TEASER_DISCARD_XPATH

# Leaf text blocks. A block holding another (a <li> with a <p>) is read through its inner ones.
BLOCKS = ("p", "h1", "h2", "h3", "h4", "h5", "h6", "li", "blockquote", "pre", "dd", "dt")


# Lines of the default pass taken back from before the precise text's start (the
# "trafilatura" recall pass). Chosen on the development folds (bench/text_quality.py): 2 raised
# fundus F1 and AEB recall there; more lines, or lines after the end, cost precision.
RESTORE_LEAD_LINES = 2


def _key(line: str) -> str:
    return " ".join(line.split()).casefold()


def _anchors(mine: list[str], their_keys: list[str]) -> list[tuple[int, int]]:
    """(index in theirs, index in ``mine``) of the lines both have, in both orders; theirs
    given by their :func:`_key`."""
    where: dict[str, int] = {}
    for i, line in enumerate(mine):
        where.setdefault(_key(line), i)
    anchors: list[tuple[int, int]] = []
    last = -1
    for j, key in enumerate(their_keys):
        i = where.get(key)
        if i is not None and i > last:
            anchors.append((j, i))
            last = i
    return anchors


def _spliced(mine: list[str], inserts: dict[int, list[str]], lead: list[str]) -> str:
    """``lead``, then ``mine`` with ``inserts[i]`` after its line ``i``."""
    out: list[str] = list(lead)
    for i, line in enumerate(mine):
        out.append(line)
        out += inserts.get(i, [])
    return "\n".join(out)


def restore_dropped(precise: str, default: str) -> str:
    """``precise`` with the lines that ``default`` has between two lines that follow each other
    in ``precise``: paragraphs, headings and list items inside the article that precision mode
    left out (IGN's product headings, a paragraph after an embed). Lines before the first or
    after the last common line are not taken: that is where related links, teasers and author
    boxes sit, and taking them cost precision on both corpora (BENCHMARKS.md) — except at most
    :data:`RESTORE_LEAD_LINES` lines right before the first line when that is the precise
    text's first line."""
    mine = [line for line in precise.splitlines() if line.strip()]
    theirs = [line for line in default.splitlines() if line.strip()]
    anchors = _anchors(mine, [_key(line) for line in theirs])
    inserts = {
        i: theirs[j + 1 : k]
        for (j, i), (k, n) in itertools.pairwise(anchors)
        if n == i + 1 and k - j > 1
    }
    # The lines just before the precise text's first line (a heading and its paragraph that
    # precision mode cut off the start of the article).
    lead: list[str] = []
    if anchors and anchors[0][1] == 0:
        lead = theirs[max(0, anchors[0][0] - RESTORE_LEAD_LINES) : anchors[0][0]]
    if not inserts and not lead:
        return precise
    return _spliced(mine, inserts, lead)


def page_blocks(tree: Any) -> list[tuple[Any, str]]:
    """(element, text with whitespace collapsed) of the page's leaf blocks, in page order."""
    blocks = []
    nodes = list(tree.iter(*BLOCKS))
    for i, node in enumerate(nodes):
        # A block holds another exactly when the next block in page order is inside it: a
        # look at that one block's ancestors, where a descendant search per block (its tag
        # matcher set up anew each time) was a third of this function's time.
        after = nodes[i + 1] if len(node) and i + 1 < len(nodes) else None
        if after is not None and any(a is node for a in after.iterancestors()):
            continue
        text = " ".join(node.text_content().split())
        if text:
            blocks.append((node, text))
    return blocks


def restore_siblings(
    precise: str, blocks: list[tuple[Any, str]], keep: Callable[[Any], bool] | None = None
) -> str:
    """``precise`` with the blocks that stand between two of its consecutive lines put back,
    when those blocks and both lines' blocks are children of one element; with ``keep``, only
    the gap's blocks it accepts (asked only when there is a gap to fill)."""
    return _restore_siblings(precise, blocks, [_key(text) for _node, text in blocks], keep)


def _restore_siblings(
    precise: str, blocks: list[tuple[Any, str]], keys: list[str], keep: Callable[[Any], bool] | None
) -> str:
    mine = [line for line in precise.splitlines() if line.strip()]
    # (block index, precise line index) of blocks that are precise lines, both in order.
    anchors = _anchors(mine, keys)
    inserts: dict[int, list[str]] = {}
    for (j, i), (k, n) in itertools.pairwise(anchors):
        if n != i + 1 or k - j <= 1:
            continue
        parent = blocks[j][0].getparent()
        gap = blocks[j + 1 : k]
        if blocks[k][0].getparent() is parent and all(node.getparent() is parent for node, _ in gap):
            taken = [text for node, text in gap if keep is None or keep(node)]
            if taken:
                inserts[i] = taken
    if not inserts:
        return precise
    return _spliced(mine, inserts, [])


def discarded_nodes(tree: Any) -> set[Any]:
    """The elements trafilatura discards by their class or id in every focus mode (bylines,
    share bars, ads, teasers, newsletter boxes: its ``OVERALL_DISCARD_XPATH`` and
    ``TEASER_DISCARD_XPATH``), with everything inside them."""
    found: set[Any] = set()
    for expression in (*OVERALL_DISCARD_XPATH, *TEASER_DISCARD_XPATH):
        for node in expression(tree):
            if node not in found:
                found.update(node.iter())
    return found


def _upward(expression: etree.XPath) -> etree.XPath | None:
    """``.//*[test]`` (every element under the context that passes) → ``ancestor-or-self::*[test]``
    (the context and its ancestors that pass); None for an expression of another shape."""
    path = expression.path.strip()
    if not path.startswith(".//*") or path.startswith(".//*/"):
        return None
    return etree.XPath("ancestor-or-self::*" + path[len(".//*") :], namespaces={"re": REGEXP_NS})


# The discard expressions turned upward: whether one block is in a discarded element is the same
# test on the block and its ancestors, a dozen elements instead of the whole page (the tests'
# EXSLT regexes call back into Python for every element: ~4 ms a page for discarded_nodes).
_DISCARD_UPWARD = tuple(_upward(x) for x in (*OVERALL_DISCARD_XPATH, *TEASER_DISCARD_XPATH))


def is_discarded(node: Any, tree: Any) -> bool:
    """Whether ``node`` (inside ``tree``) is in :func:`discarded_nodes` of ``tree``."""
    # The expressions ask from ``tree`` for the elements below it: ``tree`` and what is above
    # it do not count.
    inside = set()
    for el in (node, *node.iterancestors()):
        if el is tree:
            break
        inside.add(el)
    return any(el in inside for upward in _DISCARD_UPWARD for el in upward(node))


def restore_from_page(precise: str, tree: Any) -> str:
    """:func:`restore_siblings` over the blocks of ``tree`` (the page as trafilatura read it),
    leaving out blocks that trafilatura discards by class in any mode: precision mode dropped
    a byline or a "read more" box for that reason, not because it is stricter."""
    blocks = page_blocks(tree)
    # Their whitespace is collapsed already: casefold() is their _key.
    keys = [text.casefold() for _node, text in blocks]
    if all(upward is not None for upward in _DISCARD_UPWARD):
        return _restore_siblings(precise, blocks, keys, lambda node: not is_discarded(node, tree))
    discarded: set[Any] | None = None  # a trafilatura whose expressions can't be turned upward

    def keep(node: Any) -> bool:
        nonlocal discarded
        if discarded is None:
            discarded = discarded_nodes(tree)
        return node not in discarded

    return _restore_siblings(precise, blocks, keys, keep)
