"""Selectors: ``css:``, ``xpath:`` and ``jmespath:`` compiled once, when the configuration loads,
so that a bad selector is a configuration error (with a did-you-mean for a mistyped prefix) and
never a crash at poll time; and their matches under a node of a parsed page."""

from __future__ import annotations

import difflib
import functools
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import cssselect
import jmespath
import jmespath.exceptions
from cssselect.parser import Attrib, Class, CombinedSelector, Element, Hash
from lxml import etree
from parsel import Selector as ParselSelector
from parsel.csstranslator import HTMLTranslator, css2xpath

Kind = Literal["css", "xpath", "jmespath"]
KINDS: tuple[Kind, ...] = ("css", "xpath", "jmespath")

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


_compiled = threading.local()
_PREFIXED = re.compile(r"(?<![\w.-])(?:re|set):")


def compiled_xpath(expr: str) -> etree.XPath:
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


def select(node: Any, sel: Selector, json_page: bool) -> Sequence[Any]:
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
    found = compiled_xpath(sel.xpath or sel.expr)(node)
    return found if isinstance(found, list) else [found]
