"""From a page to its ticker items, with parsel: ``css:``, ``xpath:`` and ``jmespath:`` selectors.

Selectors are compiled when the configuration loads, so a bad selector is a configuration error
and never a crash at poll time. Extraction is bounded (F7): at most ``max_items`` items of at most
``max_chars`` characters each, whatever the page holds.
"""

from __future__ import annotations

import difflib
import functools
import json
import re
import sys
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal
from urllib.parse import urljoin, urlsplit

import cssselect
import jmespath
import jmespath.exceptions
from cssselect.parser import Attrib, Class, CombinedSelector, Element, Hash
from lxml import etree
from lxml import html as lxml_html
from parsel import Selector as ParselSelector
from parsel.csstranslator import HTMLTranslator, css2xpath

from ticker.errors import ExtractError
from ticker.model import PageItem
from ticker.normalize import clean_text, xml_safe

Kind = Literal["css", "xpath", "jmespath"]
KINDS: tuple[Kind, ...] = ("css", "xpath", "jmespath")

MAX_ITEMS = 200
MAX_CHARS = 1000
#: Bytes read past the last item's start tag when parsing only the ticker's region.
REGION_MARGIN = 4096

# parsel's default XPath namespaces, so an XPath selector means the same here as in parsel.
_NAMESPACES = {"re": "http://exslt.org/regular-expressions", "set": "http://exslt.org/sets"}


@dataclass(frozen=True, slots=True, kw_only=True)
class Selector:
    """A compiled selector: ``kind`` and ``expr`` as written, plus the XPath it runs as."""

    kind: Kind
    expr: str
    xpath: str | None = None  # css and xpath selectors run as XPath
    # CSS made only of tags, classes, ids and attributes (no pseudo-classes): what it matches
    # depends on an element and the elements between its anchors, never on the rest of the page.
    local: bool = False
    # Per selector of the list: the class or id of its first and of its last compound, which
    # bound where on the page a match can be (see ``ticker_region``); empty when one has none.
    anchors: tuple[tuple[str, str], ...] = ()
    # One local compound (``.ticker``, ``div#box``): the XPath that tests one element for it.
    self_xpath: str | None = None

    def __str__(self) -> str:
        return f"{self.kind}:{self.expr}"


@functools.lru_cache(maxsize=1024)
def compile_selector(spec: str) -> Selector:
    """Compile ``css:...``, ``xpath:...`` or ``jmespath:...`` (a bare selector is CSS).

    Raises ValueError with a message fit for a person when the selector is invalid.
    """
    kind, sep, expr = spec.partition(":")
    # What may be a mistyped prefix, for the error message only.
    prefix = kind if sep and kind not in KINDS and _PREFIX_LIKE.fullmatch(kind) else None
    if not sep or kind not in KINDS:
        # "div.ticker a" or "a:hover" are CSS written without the prefix.
        kind, expr = "css", spec
    expr = expr.strip()
    if not expr:
        raise ValueError(f"empty {kind} selector {spec!r}")
    if kind == "jmespath":
        try:
            jmespath.compile(expr)
        except jmespath.exceptions.JMESPathError as exc:
            raise ValueError(f"invalid JMESPath expression {expr!r}: {_first_line(exc)}") from exc
        return Selector(kind="jmespath", expr=expr)
    if kind == "css":
        try:
            xpath = css2xpath(expr)
        except Exception as exc:  # cssselect raises several unrelated types
            raise ValueError(_css_error(spec, expr, prefix, exc)) from exc
    else:
        xpath = expr
    try:
        etree.XPath(xpath, namespaces=_NAMESPACES)
    except etree.XPathSyntaxError as exc:
        raise ValueError(f"invalid XPath expression {expr!r}: {_first_line(exc)}") from exc
    local, anchors, single = _css_shape(expr) if kind == "css" else (False, (), False)
    self_xpath = None
    if local and single and anchors:
        self_xpath = _SELF_TRANSLATOR.css_to_xpath(expr, prefix="self::")
    return Selector(
        kind=kind,  # type: ignore[arg-type]
        expr=expr,
        xpath=xpath,
        local=local,
        anchors=anchors,
        self_xpath=self_xpath,
    )


_SELF_TRANSLATOR = HTMLTranslator()  # the translator parsel's css2xpath uses
_PREFIX_LIKE = re.compile(r"[A-Za-z]+")
_PREFIXES = "the prefixes are css:, xpath: and jmespath:"


def _css_error(spec: str, expr: str, prefix: str | None, exc: Exception) -> str:
    """A bare selector is CSS, so a mistyped prefix ("cs:.item") fails as CSS, at the colon:
    name the prefixes instead of the parser's position when the word is close to one."""
    message = f"invalid CSS selector {expr!r}: {_first_line(exc)}"
    if prefix is None:
        return message
    word = prefix.lower()
    close = [word] if word in KINDS else difflib.get_close_matches(word, KINDS, n=1)
    if close:
        return (
            f"unknown selector prefix '{prefix}:' in {spec!r} (did you mean '{close[0]}:'?); "
            f"{_PREFIXES}"
        )
    return f"{message} (a selector without a prefix is CSS; {_PREFIXES})"


def _css_shape(expr: str) -> tuple[bool, tuple[tuple[str, str], ...], bool]:
    """Whether a CSS selector is local, its anchors (see :class:`Selector`), and whether it is
    one compound selector without a pseudo-element."""
    try:
        parsed = cssselect.parse(expr)
    except Exception:  # parsel's translator accepted it; this is only an optimisation
        return False, (), False
    single = (
        len(parsed) == 1
        and parsed[0].pseudo_element is None
        and not isinstance(parsed[0].parsed_tree, CombinedSelector)
    )
    local = True
    anchors: list[tuple[str, str]] = []
    for selector in parsed:
        compounds = []
        node = selector.parsed_tree
        while isinstance(node, CombinedSelector):
            compounds.append(node.subselector)
            node = node.selector
        compounds.append(node)
        shapes = [_compound(c) for c in reversed(compounds)]
        local = local and all(ok for ok, _ in shapes)
        first, last = shapes[0][1], shapes[-1][1]
        if first is None or last is None:
            return local, (), single
        anchors.append((first, last))
    return local, tuple(anchors), single


def _compound(node: Any) -> tuple[bool, str | None]:
    """(local, anchor) of one compound selector: its id, else its first class, else None."""
    ident: str | None = None
    classes: list[str] = []
    while not isinstance(node, Element):
        if isinstance(node, Hash):
            ident = node.id
        elif isinstance(node, Class):
            classes.append(node.class_name)
        elif not isinstance(node, Attrib):
            return False, None  # pseudo-classes, :not(), :is(): they look at other elements
        node = node.selector
    return True, ident or (classes[-1] if classes else None)


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


@dataclass(frozen=True, slots=True, kw_only=True)
class Extraction:
    """Items found on a page; ``canary_found`` is None when no canary is configured."""

    items: tuple[PageItem, ...]
    matched: int  # how many nodes the items selector matched, before bounds and empties
    canary_found: bool | None = None
    truncated: bool = False  # the page nested deeper than the parser goes: lines may be lost
    skipped: tuple[str, ...] = ()  # the exception type of each item that could not be read
    region: bool = False  # read from the ticker's region of the page only


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
            # libxml2 stops at 2,048 levels of nesting and drops what follows: say so (F7).
            page.truncated = True
    return page


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
) -> Extraction:
    """Extract the ticker items of a parsed page. Empty lines are skipped; duplicates kept
    (detection decides). Never raises for a page that merely lacks the ticker."""
    json_page = page.type == "json"
    root: Any = page.root
    nodes = _select(root, items, json_page)
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
    # Cut before cleaning: a 1 MB text node must cost no more than a long line (F7).
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
        test = _xpath(canary.self_xpath)
        for element in (nodes[0], *nodes[0].iterancestors()):
            if test(element):
                return True
    return bool(_select(root, canary, json_page))


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
    if end <= start or (end - start) * 2 > len(text):
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
    ``pipeline.read_page``): what a slice of a page cannot know (an element left open before
    it, a class written with a character reference) is found there within a minute."""
    if (text_sel is not None and not text_sel.local) or (link is not None and not link.local):
        return None
    # The parser drops NULs: search what it will see.
    if isinstance(text, str):
        text = text.replace("\x00", "") if "\x00" in text else text
    elif b"\x00" in text:
        text = text.replace(b"\x00", b"")
    span = ticker_region(text, items=items, canary=canary)
    if span is None:
        return None
    page = parse_page(text[span[0] : span[1]], is_json=False)
    nodes = _select(page.root, items, False)
    # No line to confirm (an empty ticker is read whole), or one that may be cut short.
    if not nodes or getattr(page, "bad_utf8", False) or _cut(page.root, nodes):
        return None
    result = extract(page, items=items, text=text_sel, link=link, canary=canary, base_url=base_url)
    if canary is not None and not result.canary_found:
        return None  # only the whole page may report a missing canary
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
    getparent = getattr(result, "getparent", None)  # lxml's "smart" strings know their element
    return getparent() if getparent is not None else None


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


_compiled = threading.local()
_PREFIXED = re.compile(r"(?<![\w.-])(?:re|set):")


def _xpath(expr: str) -> etree.XPath:
    """A compiled XPath per thread: lxml serialises calls to one compiled expression."""
    cache: dict[str, etree.XPath] | None = getattr(_compiled, "cache", None)
    if cache is None:
        cache = _compiled.cache = {}
    found = cache.get(expr)
    if found is None:
        # Namespaces only for the expressions that use them: a compiled XPath given namespaces
        # keeps ~100 bytes per evaluation on a new document (lxml 6), a leak a service feels.
        uses = _PREFIXED.search(expr) is not None
        found = etree.XPath(expr, namespaces=_NAMESPACES) if uses else etree.XPath(expr)
        cache[expr] = found
    return found


def _select(node: Any, sel: Selector, json_page: bool) -> Sequence[Any]:
    """Matches of ``sel`` under ``node``: lxml elements or strings (HTML), values (JSON)."""
    if json_page:
        if sel.kind != "jmespath":
            return []
        result = ParselSelector(root=node, type="json").jmespath(sel.expr)
        # "items[*]" yields one node per item; a single list-valued result is flattened too.
        if len(result) == 1 and isinstance(result[0].root, list):
            return list(result[0].root)
        return [r.root for r in result]
    if sel.kind == "jmespath" or not isinstance(node, etree._Element):
        return []
    found = _xpath(sel.xpath or sel.expr)(node)
    return found if isinstance(found, list) else [found]


def _text_of(node: Any, sel: Selector | None, json_page: bool, limit: int) -> str:
    """The text of an item, its first ``limit`` characters."""
    if sel is None:
        return _whole_text(node, limit)[:limit]
    parts: list[str] = []
    size = 0
    for n in _select(node, sel, json_page):
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
    script and style contents, until they hold ``limit`` characters (F7).

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
    for n in _select(node, sel, json_page):
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
