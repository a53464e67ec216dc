"""Reading only the ticker's region of a page: a few KB found by the selectors' anchors instead
of a parse of the whole page, trusted only to confirm what the whole page already showed."""

from __future__ import annotations

import codecs
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from lxml import etree

from ticker.extract.items import Extraction, extract, parse_page
from ticker.extract.selectors import Selector, select

#: Bytes read past the last item's start tag when parsing only the ticker's region.
REGION_MARGIN = 4096


def ticker_region(
    text: str | bytes,
    *,
    items: Selector,
    canary: Selector | None = None,
    margin: int = REGION_MARGIN,
) -> tuple[int, int] | None:
    """The slice of a page's text that holds every match of ``items`` (and ``canary``), or None
    when the selectors are not local or the region would not be much smaller than the page.

    From the first start tag that carries a selector's first anchor to ``margin`` characters past
    the last occurrence of its last anchor: every element a match involves sits in between, since
    CSS combinators only ever lead forward in document order.
    """
    span = _anchor_span(text, items=items, canary=canary, margin=margin)
    if span is None or (span[1] - span[0]) * 2 > len(text):
        return None
    return span


def _anchor_span(
    text: str | bytes, *, items: Selector, canary: Selector | None, margin: int
) -> tuple[int, int] | None:
    selectors = [items] if canary is None else [items, canary]
    if not all(s.local and s.anchors for s in selectors):
        return None
    start, end = len(text), 0
    for sel in selectors:
        for first, last in sel.anchors:
            at = _find_token(text, first)
            until = _rfind_token(text, last)
            if at < 0 or until < 0:
                return None  # not on the page: let the whole page say so
            start, end = min(start, at), max(end, until + len(last))
    lt, gt = ("<", ">") if isinstance(text, str) else (b"<", b">")
    start = max(text.rfind(lt, 0, start), 0)  # type: ignore[arg-type]
    close = text.find(gt, min(end + margin, len(text)))  # type: ignore[arg-type]
    end = len(text) if close < 0 else close + 1
    if end <= start:
        return None
    return start, end


def extract_region(
    text: str | bytes,
    *,
    items: Selector,
    text_sel: Selector | None = None,
    link: Selector | None = None,
    canary: Selector | None = None,
    base_url: str = "",
) -> Extraction | None:
    """Extract from the ticker's region only (a few KB instead of the whole page), or None when
    no region can be found or an item runs past its end. The caller trusts it only to confirm
    what it already knows, and reads the whole page now and then all the same (see
    ``reading.read_page``): what a slice of a page cannot know (an element left open before
    it, a class written with a character reference) is found there, at the page's first
    change after a minute."""
    doc = _readable(text, text_sel, link)
    if doc is None:
        return None
    span = ticker_region(doc, items=items, canary=canary)
    if span is None:
        return None
    return _extract_slice(doc, span, items, text_sel, link, canary, base_url)


#: A page read up to the end of its ticker only when that leaves out at least this fraction.
PREFIX_SAVES = 0.2


def extract_prefix(
    text: str | bytes,
    *,
    items: Selector,
    text_sel: Selector | None = None,
    link: Selector | None = None,
    canary: Selector | None = None,
    base_url: str = "",
) -> Extraction | None:
    """Extract from the page up to just past its ticker (its region's end), or None when there
    is no such end, it would leave out little of the page, or an item runs past it.

    Everything before the ticker is parsed as in the whole page (an element left open, a
    comment, a script), so every line it shows is on the page as shown: it may find new lines.
    What it cannot see is a matching element after the last anchor (a class written with a
    character reference): the caller reads the whole page at its first change after a minute.
    """
    doc = _readable(text, text_sel, link)
    if doc is None:
        return None
    span = _anchor_span(doc, items=items, canary=canary, margin=REGION_MARGIN)
    if span is None or span[1] > len(doc) * (1 - PREFIX_SAVES):
        return None
    if isinstance(doc, bytes) and not _utf8(doc, span[1]):
        # A byte that is not UTF-8 after the ticker sends the whole page through the charset
        # chain, which may read every line otherwise: this read would not be the page's.
        return None
    return _extract_slice(
        doc, (0, span[1]), items, text_sel, link, canary, base_url, whole_start=True
    )


def _utf8(data: bytes, start: int) -> bool:
    try:
        codecs.utf_8_decode(memoryview(data)[start:], "strict", True)
    except UnicodeDecodeError:
        return False
    return True


def _readable(
    text: str | bytes, text_sel: Selector | None, link: Selector | None
) -> str | bytes | None:
    """The page as a part of it may be read (None when the text or link selector is not local
    to an item: a part of the page cannot answer it)."""
    if (text_sel is not None and not text_sel.local) or (link is not None and not link.local):
        return None
    # The parser drops NULs: search what it will see.
    if isinstance(text, str):
        return text.replace("\x00", "") if "\x00" in text else text
    return text.replace(b"\x00", b"") if b"\x00" in text else text


def _extract_slice(
    text: str | bytes,
    span: tuple[int, int],
    items: Selector,
    text_sel: Selector | None,
    link: Selector | None,
    canary: Selector | None,
    base_url: str,
    *,
    whole_start: bool = False,
) -> Extraction | None:
    page = parse_page(text[span[0] : span[1]], is_json=False)
    nodes = select(page.root, items, False)
    # No line to confirm (an empty ticker is read whole), or one that may be cut short.
    if not nodes or getattr(page, "bad_utf8", False) or _cut(page.root, nodes):
        return None
    result = extract(
        page, items=items, text=text_sel, link=link, canary=canary, base_url=base_url, nodes=nodes
    )
    if canary is not None and not result.canary_found:
        return None  # only the whole page may report a missing canary
    if whole_start:
        if result.truncated:
            return None  # nested too deep: the whole page says what was lost
        return replace(result, prefix=True)
    return replace(result, truncated=False, region=True)


def _cut(root: Any, nodes: Sequence[Any]) -> bool:
    """Whether a matched item may run past the end of the region: the elements still open at
    its end are the last child of the last child... of the root, down to one followed by text."""
    open_at_end: set[Any] = {root}
    node = root
    while len(node):
        last = node[-1]
        if last.tail or not isinstance(last.tag, str):
            break  # text (or a comment) follows it: it was closed
        open_at_end.add(last)
        node = last
    for match in nodes:
        element = match if isinstance(match, etree._Element) else _parent(match)
        if element in open_at_end:
            return True
    return False


def _parent(result: Any) -> Any:
    """The element a text result is inside: lxml's "smart" strings know their element, which
    for a tail text is the element it follows (closed), so the container is that one's parent."""
    getparent = getattr(result, "getparent", None)
    element = getparent() if getparent is not None else None
    if element is not None and getattr(result, "is_tail", False):
        return element.getparent()
    return element


def _find_token(text: str | bytes, token: str) -> int:
    """Index of the first occurrence of ``token`` as a whole attribute word, or -1."""
    tok, before, after = _token(text, token)
    at = text.find(tok)
    while at >= 0:
        if _bounded(text, at, len(tok), before, after):
            return at
        at = text.find(tok, at + 1)
    return -1


def _rfind_token(text: str | bytes, token: str) -> int:
    tok, before, after = _token(text, token)
    at = text.rfind(tok)
    while at >= 0:
        if _bounded(text, at, len(tok), before, after):
            return at
        at = text.rfind(tok, 0, at)
    return -1


# What may stand either side of a class or id in markup: quotes, blanks, '=', '>' or '/'.
_BEFORE = "\"' \t\n\r\f="
_AFTER = "\"' \t\n\r\f>/"
_STR_BOUNDS = (frozenset(_BEFORE), frozenset(_AFTER))
_BYTE_BOUNDS = (frozenset(_BEFORE.encode()), frozenset(_AFTER.encode()))


def _token(text: str | bytes, token: str) -> tuple[Any, frozenset[Any], frozenset[Any]]:
    if isinstance(text, str):
        return (token, *_STR_BOUNDS)
    return (token.encode("utf-8"), *_BYTE_BOUNDS)


def _bounded(
    text: str | bytes, at: int, size: int, before: frozenset[Any], after: frozenset[Any]
) -> bool:
    end = at + size
    return (at == 0 or text[at - 1] in before) and (end == len(text) or text[end] in after)
