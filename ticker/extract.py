"""From a page to its ticker items, with parsel: ``css:``, ``xpath:`` and ``jmespath:`` selectors.

Selectors are compiled when the configuration loads, so a bad selector is a configuration error
and never a crash at poll time. Extraction is bounded (F7): at most ``max_items`` items of at most
``max_chars`` characters each, whatever the page holds.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urljoin, urlsplit

import jmespath
import jmespath.exceptions
from lxml import etree
from lxml import html as lxml_html
from parsel import Selector as ParselSelector
from parsel.csstranslator import css2xpath

from ticker.errors import ExtractError
from ticker.model import PageItem
from ticker.normalize import clean_text

Kind = Literal["css", "xpath", "jmespath"]
KINDS: tuple[Kind, ...] = ("css", "xpath", "jmespath")

MAX_ITEMS = 200
MAX_CHARS = 1000


@dataclass(frozen=True, slots=True, kw_only=True)
class Selector:
    """A compiled selector: ``kind`` and ``expr`` as written, plus the XPath it runs as."""

    kind: Kind
    expr: str
    xpath: str | None = None  # css and xpath selectors run as XPath

    def __str__(self) -> str:
        return f"{self.kind}:{self.expr}"


def compile_selector(spec: str) -> Selector:
    """Compile ``css:...``, ``xpath:...`` or ``jmespath:...`` (a bare selector is CSS).

    Raises ValueError with a message fit for a person when the selector is invalid.
    """
    kind, sep, expr = spec.partition(":")
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
            raise ValueError(f"invalid CSS selector {expr!r}: {_first_line(exc)}") from exc
    else:
        xpath = expr
    try:
        etree.XPath(xpath)
    except etree.XPathSyntaxError as exc:
        raise ValueError(f"invalid XPath expression {expr!r}: {_first_line(exc)}") from exc
    return Selector(kind=kind, expr=expr, xpath=xpath)  # type: ignore[arg-type]


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


@dataclass(frozen=True, slots=True, kw_only=True)
class Extraction:
    """Items found on a page; ``canary_found`` is None when no canary is configured."""

    items: tuple[PageItem, ...]
    matched: int  # how many nodes the items selector matched, before bounds and empties
    canary_found: bool | None = None
    truncated: bool = False  # the page nested deeper than the parser goes: lines may be lost


def parse_page(text: str, *, is_json: bool) -> ParselSelector:
    """Parse page text once; raises ExtractError for a JSON source whose body is not JSON."""
    if is_json:
        try:
            json.loads(text)
        except ValueError as exc:
            raise ExtractError(f"response is not valid JSON: {exc}") from exc
        return ParselSelector(text=text, type="json")
    # Our own parser (parsel's settings) so that its error log can tell a truncated page.
    parser = lxml_html.HTMLParser(recover=True, encoding="utf-8", huge_tree=True)
    try:
        # NUL is never text; libxml2 would turn it into U+FFFD.
        body = (text or "<html></html>").replace("\x00", "").encode("utf-8")
        root = etree.fromstring(body, parser=parser)
    except (etree.XMLSyntaxError, ValueError):
        root = None
    if root is None:  # an empty or unparsable document simply has no ticker
        root = etree.fromstring(b"<html></html>", parser=parser)
    page = Page(root=root, type="html")
    # libxml2 stops at 2,048 levels of nesting and drops what follows: say so (F7).
    page.truncated = any("depth" in e.message.lower() for e in parser.error_log)
    return page


class Page(ParselSelector):
    """A parsed page; ``truncated`` when the parser had to drop part of it."""

    __slots__ = ("truncated",)
    truncated: bool


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
    nodes = _select(page, items)
    out: list[PageItem] = []
    for node in nodes:
        if len(out) >= max_items:
            break
        # Cut before cleaning: a 1 MB text node must cost no more than a long line (F7).
        raw = _text_of(node, text)[: max_chars * 4]
        line = clean_text(raw)
        if not line:
            continue
        if len(line) > max_chars:
            line = line[: max_chars - 1].rstrip() + "…"
        out.append(PageItem(text=line, link=_link_of(node, link, base_url)))
    found = None if canary is None else bool(_select(page, canary))
    return Extraction(
        items=tuple(out),
        matched=len(nodes),
        canary_found=found,
        truncated=bool(getattr(page, "truncated", False)),
    )


def _select(node: ParselSelector, sel: Selector) -> Sequence[ParselSelector]:
    if sel.kind == "jmespath":
        if node.type != "json":
            return []
        result = node.jmespath(sel.expr)
        # "items[*]" yields one node per item; a single list-valued result is flattened too.
        if len(result) == 1 and isinstance(result[0].root, list):
            return [ParselSelector(root=v, type="json") for v in result[0].root]
        return list(result)
    if node.type == "json":
        return []
    return list(node.xpath(sel.xpath or sel.expr))


def _text_of(node: ParselSelector, sel: Selector | None) -> str:
    if sel is None:
        return _whole_text(node)
    return " ".join(_whole_text(n) for n in _select(node, sel))


def _whole_text(node: ParselSelector) -> str:
    root: Any = node.root
    if node.type == "json":
        if isinstance(root, str):
            return root
        return "" if root is None or isinstance(root, (dict, list)) else str(root)
    if isinstance(root, str):  # ::text or @attr results
        return root
    # Script and style contents are never ticker text.
    return " ".join(node.xpath(".//text()[not(ancestor::script or ancestor::style)]").getall())


def _link_of(node: ParselSelector, sel: Selector | None, base_url: str) -> str | None:
    if sel is None:
        return None
    for n in _select(node, sel):
        value = _whole_text(n).strip()
        if value:
            return absolute_link(value, base_url)
    return None


def absolute_link(href: str, base_url: str) -> str | None:
    """Resolve ``href`` against the page URL; only http(s) links are kept (no javascript:)."""
    url = urljoin(base_url, href.strip()) if base_url else href.strip()
    if urlsplit(url).scheme not in ("http", "https", ""):
        return None
    return url or None
