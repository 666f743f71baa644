"""Which characters every match of a regular expression must contain.

Most lines of an article match no cleaning rule, and a regex finds that out by trying its
pattern at every position. Many rules need a character few lines hold ("(", ":", "©" …); a scan
for those decides most lines at a fraction of the cost, and cannot change a result: a line
without any of them has no match. The classes are read off the pattern's parse tree
(``re._parser``, the tree ``re.compile`` itself compiles), and only from parts every match goes
through. ``transforms/text/clean.py`` keeps the class with each rule (``Rule.needs``).
"""

from __future__ import annotations

import _sre
import array
import functools
import re
import sys
import unicodedata
from re import _constants as _sre_ops
from re import _parser as _sre_parser
from typing import Any


# Classes are of non-letters only, and of at most this many characters: a letter, or a long
# list of characters, is in nearly every line, and scanning for it would cost, not save.
_MAX_NEEDED = 16


def _is_letter(code: int) -> bool:
    return unicodedata.category(chr(code)).startswith("L")


@functools.lru_cache(maxsize=None)
def _case_class(code: int, in_set: bool) -> frozenset[str]:
    """Every character ``chr(code)`` matches under IGNORECASE, as a literal or as a member of a
    set: asked of the regex engine itself, over all code points (for the few non-letters that
    have case, like ⓒ and Ⓒ)."""
    source = f"[{re.escape(chr(code))}]" if in_set else re.escape(chr(code))
    return frozenset(re.findall(source, _every_character(), re.IGNORECASE))


def _every_character() -> str:
    """All code points in one string (4 MB; made when needed, not kept)."""
    codes = array.array("I", range(sys.maxunicode + 1))
    if codes.itemsize != 4:
        return "".join(map(chr, codes))
    # Decoding the code points as UTF-32 is 4x faster than joining a million chr().
    return codes.tobytes().decode(f"utf-32-{sys.byteorder[0]}e", "surrogatepass")


def _literal_class(code: int, ignore_case: bool) -> frozenset[str] | None:
    if _is_letter(code):
        return None
    # A character without case matches only itself, IGNORECASE or not: the engine lowers the
    # text's character before comparing, and no character lowers to one without case
    # (tests/test_clean_prefilter.py checks that over all of Unicode). In a set, likewise: the
    # engine looks up the text's character lowered.
    if not ignore_case or not _sre.unicode_iscased(code):
        return frozenset(chr(code))
    return _case_class(code, False)


def _set_class(items: list[tuple[Any, Any]], ignore_case: bool) -> frozenset[str] | None:
    found: set[str] = set()
    for op, value in items:
        # NEGATE, CATEGORY: too many characters. RANGE: under IGNORECASE the engine also
        # compares the upper case of a character with a range, which the argument for
        # characters without case below does not cover; the rules' ranges are letters anyway.
        if op is not _sre_ops.LITERAL or _is_letter(value):
            return None
        if ignore_case and _sre.unicode_iscased(value):
            found |= _case_class(value, True)
        else:
            found.add(chr(value))
    return frozenset(found) if len(found) <= _MAX_NEEDED else None


def _sequence_class(items: Any, flags: int) -> frozenset[str] | None:
    """The smallest class among the parts a match of the sequence cannot skip."""
    best = None
    for op, value in items:
        found = _item_class(op, value, flags)
        if found is not None and (best is None or len(found) < len(best)):
            best = found
    return best


def _item_class(op: Any, value: Any, flags: int) -> frozenset[str] | None:
    ignore_case = bool(flags & re.IGNORECASE)
    if op is _sre_ops.LITERAL:
        return _literal_class(value, ignore_case)
    if op is _sre_ops.IN:
        return _set_class(value, ignore_case)
    if op is _sre_ops.BRANCH:
        # One alternative or another: a character of any of theirs.
        found: set[str] = set()
        for alternative in value[1]:
            part = _sequence_class(alternative, flags)
            if part is None:
                return None
            found |= part
        return frozenset(found) if len(found) <= _MAX_NEEDED else None
    if op is _sre_ops.SUBPATTERN:
        _, add, remove, body = value
        return _sequence_class(body, (flags | add) & ~remove)
    if op is _sre_ops.ATOMIC_GROUP:
        return _sequence_class(value, flags)
    if op in (_sre_ops.MAX_REPEAT, _sre_ops.MIN_REPEAT, _sre_ops.POSSESSIVE_REPEAT):
        low, _, body = value
        return _sequence_class(body, flags) if low >= 1 else None
    # Anchors and look-arounds consume nothing (a look-behind may read before a search's
    # start); back-references, conditionals, ANY, NOT_LITERAL: no small class.
    return None


def required_chars(pattern: re.Pattern[str]) -> frozenset[str] | None:
    """Characters one of which lies inside every match of ``pattern``, or None when the
    pattern shows no such class of at most ``_MAX_NEEDED`` characters without letters."""
    return _sequence_class(_sre_parser.parse(pattern.pattern, pattern.flags), pattern.flags)
