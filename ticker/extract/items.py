"""From a parsed page to its ticker items. Extraction is bounded: at most ``max_items`` items of
at most ``max_chars`` characters each, whatever the page holds, and one item that cannot be read
never hides the others."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

from lxml import etree
from lxml import html as lxml_html
from parsel import Selector as ParselSelector

from ticker.errors import ExtractError
from ticker.extract.selectors import Selector, compiled_xpath, select
from ticker.model import PageItem
from ticker.normalize import clean_text, xml_safe

MAX_ITEMS = 200
MAX_CHARS = 1000


@dataclass(frozen=True, slots=True, kw_only=True)
class Extraction:
    """Items found on a page; ``canary_found`` is None when no canary is configured."""

    items: tuple[PageItem, ...]
    matched: int  # how many nodes the items selector matched, before bounds and empties
    canary_found: bool | None = None
    truncated: bool = False  # the page nested deeper than the parser goes: lines may be lost
    skipped: tuple[str, ...] = ()  # the exception type of each item that could not be read
    region: bool = False  # read from the ticker's region of the page only
    prefix: bool = False  # read from the page's start to just past its ticker


def parse_page(text: str | bytes, *, is_json: bool) -> ParselSelector:
    """Parse a page once: text, or UTF-8 bytes (no decode-and-encode round trip, which cost a
    third of a parse). Raises ExtractError for a JSON source whose body is not JSON."""
    if is_json:
        if isinstance(text, bytes):
            text = text.decode("utf-8", errors="replace")
        try:
            json.loads(text)
        except ValueError as exc:
            raise ExtractError(f"response is not valid JSON: {exc}") from exc
        except RecursionError as exc:  # json's parser recurses: ~1,000 nested arrays end it
            raise ExtractError("response is JSON nested too deep to read") from exc
        return ParselSelector(text=text, type="json")
    # Our own parser (parsel's settings) so that its error log can tell a truncated page.
    parser = lxml_html.HTMLParser(recover=True, encoding="utf-8", huge_tree=True)
    body = text if isinstance(text, bytes) else text.encode("utf-8")
    if b"\x00" in body:
        body = body.replace(b"\x00", b"")  # NUL is never text; libxml2 would make it U+FFFD
    try:
        root = etree.fromstring(body or b"<html></html>", parser=parser)
    except (etree.XMLSyntaxError, ValueError):
        root = None
    if root is None:  # an empty or unparsable document simply has no ticker
        root = etree.fromstring(b"<html></html>", parser=parser)
    page = Page(root=root, type="html")
    page.truncated = page.bad_utf8 = False
    for error in parser.error_log:
        if error.type_name == "ERR_INVALID_ENCODING":
            page.bad_utf8 = True
        elif "depth" in error.message.lower():
            # libxml2 stops at 2,048 levels of nesting and drops what follows: say so.
            page.truncated = True
    return page


def embedded_page(page: ParselSelector, where: Selector, variable: str | None) -> ParselSelector:
    """The JSON a script of an HTML page carries (``<script id="__NEXT_DATA__">``, an
    ``application/json`` script, or ``window.NAME = {...};`` with ``variable``), as a JSON page
    for ``jmespath:`` selectors. Raises ExtractError when the script or its JSON is missing."""
    nodes = select(page.root, where, False)
    if not nodes:
        raise ExtractError(f"json_in {where} matched nothing on the page")
    node = nodes[0]
    text = node if isinstance(node, str) else "".join(node.itertext())
    start = 0
    if variable:
        at = text.find(variable)
        eq = -1 if at < 0 else text.find("=", at + len(variable))
        if eq < 0:
            raise ExtractError(f"json_var {variable!r} is not assigned in the json_in script")
        start = eq + 1
    opening = min((i for i in (text.find("{", start), text.find("[", start)) if i >= 0), default=-1)
    if opening < 0:
        raise ExtractError(f"no JSON in the script json_in {where} names")
    try:
        _, end = json.JSONDecoder().raw_decode(text, opening)
    except ValueError as exc:
        raise ExtractError(f"the script json_in {where} names holds no valid JSON: {exc}") from exc
    except RecursionError as exc:
        raise ExtractError("the embedded JSON is nested too deep to read") from exc
    return ParselSelector(text=text[opening:end], type="json")


class Page(ParselSelector):
    """A parsed page; ``truncated`` when the parser had to drop part of it, ``bad_utf8`` when
    bytes given as UTF-8 were not (libxml2 put U+FFFD in: decode them properly instead)."""

    __slots__ = ("bad_utf8", "truncated")
    truncated: bool
    bad_utf8: bool


def extract(
    page: ParselSelector,
    *,
    items: Selector,
    text: Selector | None = None,
    link: Selector | None = None,
    canary: Selector | None = None,
    base_url: str = "",
    max_items: int = MAX_ITEMS,
    max_chars: int = MAX_CHARS,
    nodes: Sequence[Any] | None = None,
) -> Extraction:
    """Extract the ticker items of a parsed page. Empty lines are skipped; duplicates kept
    (detection decides). Never raises for a page that merely lacks the ticker. ``nodes``: the
    matches of ``items`` on this page, when the caller has them already."""
    json_page = page.type == "json"
    root: Any = page.root
    if nodes is None:
        nodes = select(root, items, json_page)
    out: list[PageItem] = []
    skipped: list[str] = []
    for node in nodes:
        if len(out) >= max_items:
            break
        try:
            item = _item(node, text, link, base_url, json_page, max_chars)
        except Exception as exc:  # one hostile item must not hide the page's other lines
            skipped.append(type(exc).__name__)
            continue
        if item is not None:
            out.append(item)
    found = None if canary is None else _canary(root, nodes, canary, json_page)
    return Extraction(
        items=tuple(out),
        matched=len(nodes),
        canary_found=found,
        truncated=bool(getattr(page, "truncated", False)),
        skipped=tuple(skipped),
    )


def _item(
    node: Any,
    text: Selector | None,
    link: Selector | None,
    base_url: str,
    json_page: bool,
    max_chars: int,
) -> PageItem | None:
    """One item of the page, or None when it holds no text."""
    # Cut before cleaning: a 1 MB text node must cost no more than a long line.
    line = clean_text(_text_of(node, text, json_page, max_chars * 4))
    if not line:
        return None
    if len(line) > max_chars:
        line = line[: max_chars - 1].rstrip() + "…"
    return PageItem(text=line, link=_link_of(node, link, base_url, json_page))


def _canary(root: Any, nodes: Sequence[Any], canary: Selector, json_page: bool) -> bool:
    """Whether the canary is on the page. A ticker's canary is most often its container: an
    element around the first item that matches settles it without a search of the page."""
    if canary.self_xpath is not None and nodes and isinstance(nodes[0], etree._Element):
        test = compiled_xpath(canary.self_xpath)
        for element in (nodes[0], *nodes[0].iterancestors()):
            if test(element):
                return True
    return bool(select(root, canary, json_page))


def _text_of(node: Any, sel: Selector | None, json_page: bool, limit: int) -> str:
    """The text of an item, its first ``limit`` characters."""
    if sel is None:
        return _whole_text(node, limit)[:limit]
    parts: list[str] = []
    size = 0
    for n in select(node, sel, json_page):
        if size >= limit:
            break
        parts.append(_whole_text(n, limit))
        size += len(parts[-1]) + 1
    return " ".join(parts)[:limit]


_SKIP = frozenset(("script", "style"))


def _whole_text(node: Any, limit: int = sys.maxsize) -> str:
    """The text of a node; at least its first ``limit`` characters, when it has as many."""
    if isinstance(node, etree._Element):
        # Script and style contents are never ticker text.
        return " ".join(_texts(node, limit)) if node.tag not in _SKIP else ""
    if isinstance(node, str):  # ::text or @attr results, JSON strings
        return node
    return "" if node is None or isinstance(node, (dict, list)) else str(node)


def _texts(el: Any, limit: int) -> list[str]:
    """The text nodes under ``el`` in document order, as ``.//text()`` gives them, without
    script and style contents, until they hold ``limit`` characters.

    A walk (the XPath's ancestor test made it 34 µs an item) with a stack of its own: an item
    nested 1,000 elements deep exhausted Python's, and libxml2 builds trees 2,048 deep.
    """
    text = el.text
    out = [text] if text else []
    size = len(text) if text else 0
    # Per open element: itself (None for ``el``, whose tail is not its text) and its children
    # still to read. Holding the element keeps its proxy: lxml frees a proxy only after it
    # climbed the ancestors to one with a proxy, which made a walk 2,000 deep 2.5 times longer.
    stack: list[tuple[Any, Iterator[Any]]] = [(None, iter(el))]
    while stack:
        for child in stack[-1][1]:
            if isinstance(child.tag, str) and child.tag not in _SKIP:
                text = child.text
                if text:
                    out.append(text)
                    size += len(text)
                if len(child):  # its children first, then its tail
                    stack.append((child, iter(child)))
                    break
            text = child.tail
            if text:
                out.append(text)
                size += len(text)
            if size >= limit:
                return out
        else:
            parent = stack.pop()[0]
            if parent is not None and parent.tail:
                out.append(parent.tail)
                size += len(parent.tail)
    return out


def _link_of(node: Any, sel: Selector | None, base_url: str, json_page: bool) -> str | None:
    if sel is None:
        return None
    for n in select(node, sel, json_page):
        value = _whole_text(n).strip()
        if value:
            return absolute_link(value, base_url)
    return None


def absolute_link(href: str, base_url: str) -> str | None:
    """Resolve ``href`` against the page URL; only http(s) links are kept (no javascript:),
    and an unparsable one (``http://[x``) is no link."""
    href = xml_safe(href).strip()
    try:
        url = urljoin(base_url, href) if base_url else href
        if urlsplit(url).scheme not in ("http", "https", ""):
            return None
    except ValueError:
        return None
    return url or None
