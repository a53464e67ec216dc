"""Selectors for a group of ticker items: robust ones (stable ids and class names, anchored on
the ticker's container, never ``nth-child`` chains or generated hashes), each checked to select
exactly the intended nodes, and the text and link selectors that read each item's headline."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from lxml import etree
from parsel.csstranslator import HTMLTranslator

from ticker.discover.lines import headline_score
from ticker.discover.markup import element_text, own_text, stable_classes, stable_id
from ticker.discover.vocabulary import attr_scores
from ticker.extract.selectors import compile_selector, select
from ticker.normalize import clean_text

MAX_OPTIONS = 40  # text selectors tried per group
MAX_SAMPLE = 30  # items a text selector is tried on
_TRANSLATOR = HTMLTranslator()
_HEADINGS = frozenset(("h1", "h2", "h3", "h4", "h5", "h6"))
_TITLE_WORDS = ("title", "headline", "titel", "titulo", "titre", "heading", "head", "text")


@dataclass(frozen=True, slots=True, kw_only=True)
class ItemsSelector:
    """The items selector and the container selector that serves as its canary."""

    items: str
    canary: str | None


def _compounds(el: Any) -> list[tuple[str, bool]]:
    """The stable single-compound selectors naming ``el``, as (css, names a ticker word)."""
    out: list[tuple[str, bool]] = []
    ident = stable_id(el)
    if ident:
        out.append((f"#{ident}", attr_scores(ident)[0] > 0))
    for cls in stable_classes(el):
        out.append((f".{cls}", attr_scores(cls)[0] > 0))
    out.sort(key=lambda c: not c[1])  # ticker words first: they outlive a redesign best
    return out[:4]


def _item_steps(items: Sequence[Any]) -> list[str]:
    """How to name one item: its tag with a class all items share, or its tag alone."""
    tag = items[0].tag
    shared = None
    for el in items:
        classes = set(stable_classes(el))
        shared = classes if shared is None else shared & classes
    steps = [f"{tag}.{c}" for c in sorted(shared or (), key=lambda c: -attr_scores(c)[0])][:2]
    if len(items) == 1 and (ident := stable_id(items[0])):
        steps.insert(0, f"#{ident}")
    return [*steps, tag]


Lookup = Callable[[str], "list[Any] | None"]


@functools.lru_cache(maxsize=512)
def _relative(rest: str, child: bool) -> etree.XPath | None:
    try:
        xpath = _TRANSLATOR.css_to_xpath(rest, prefix="child::" if child else "descendant::")
        return etree.XPath(xpath)
    except Exception:  # cssselect raises several unrelated types
        return None


def _matches(named: Lookup, css: str, most: int = 10_000) -> list[Any] | None:
    """The elements ``css`` selects, found from its first compound through the page index:
    far cheaper than running the selector over the whole page. None when it cannot tell."""
    head, _, rest = css.partition(" ")
    anchors = named(head)
    if anchors is None:
        return None
    if not rest:
        return list(anchors)
    child = rest.startswith("> ")
    xpath = _relative(rest[2:] if child else rest, child)
    if xpath is None:
        return None
    found: list[Any] = []
    seen: set[Any] = set()
    for anchor in anchors:
        for el in xpath(anchor):
            if el not in seen:
                seen.add(el)
                found.append(el)
                if len(found) > most:  # more than wanted: all the caller needs to know
                    return found
    return found


def items_selector(named: Lookup, items: Sequence[Any], max_depth: int = 7) -> ItemsSelector | None:
    """The simplest robust CSS selector that selects exactly ``items`` on the page, or None."""
    steps = _item_steps(items)
    parent = items[0].getparent()
    chain: list[Any] = []
    node = parent if len(items) > 1 or items[0].getparent() is not None else None
    while node is not None and len(chain) < max_depth and node.tag not in ("body", "html"):
        chain.append(node)
        node = node.getparent()
    options: list[tuple[float, str, str | None]] = []
    for step in steps:
        if "." in step or "#" in step:
            word = attr_scores(step)[0] > 0
            options.append((1.0 if word else 1.6, step, None))
    for depth, anc in enumerate(chain):
        for anchor, word in _compounds(anc):
            cost = 2.0 + 0.25 * depth + (0.0 if word else 0.6)
            for step in steps:
                extra = 0.1 if "." in step else 0.0
                if depth == 0 and len(items) > 1:
                    options.append((cost + extra, f"{anchor} > {step}", anchor))
                options.append((cost + extra + 0.05, f"{anchor} {step}", anchor))
                if depth > 0 and len(items) > 1:
                    options.append((cost + extra + 0.3, f"{anchor} {parent.tag} > {step}", anchor))
    options.sort(key=lambda o: o[0])
    wanted = list(items)
    over: list[tuple[str, str | None]] = []
    for _, css, anchored in options[:30]:
        found = _matches(named, css, 4 * len(wanted) + 8)
        if found is None:
            continue
        if found == wanted:
            return ItemsSelector(items=f"css:{css}", canary=_canary(named, anchored, items))
        if (
            len(over) < 3
            and len(found) <= 4 * len(wanted)
            and all(any(f is w for f in found) for w in wanted)
        ):
            over.append((css, anchored))
    # The same markup elsewhere too (a ticker repeated in the footer): qualify with an ancestor.
    for css, anchored in over:
        top = chain[-1] if chain else items[0]
        for anc in [*chain, *list(top.iterancestors())[:3]]:
            for qualifier, _ in _compounds(anc)[:2]:
                if anchored is not None and qualifier == anchored:
                    continue
                full = f"{qualifier} {css}"
                if _matches(named, full, len(wanted)) == wanted:
                    return ItemsSelector(
                        items=f"css:{full}", canary=_canary(named, anchored, items)
                    )
    return None


def _canary(named: Lookup, anchor: str | None, items: Sequence[Any]) -> str | None:
    """The container that says the ticker's layout is still there: the anchor when it is one
    element of the page, else the nearest ancestor with a unique stable name (one that uses a
    ticker word first)."""
    if anchor is not None and len(_matches(named, anchor, 1) or ()) == 1:
        return f"css:{anchor}"
    ancestors = []
    for anc in list(items[0].iterancestors())[:8]:
        if anc.tag in ("body", "html"):
            break
        ancestors.append(anc)
    for words_only in (True, False):
        for anc in ancestors:
            for css, word in _compounds(anc):
                if (word or not words_only) and len(_matches(named, css, 1) or ()) == 1:
                    return f"css:{css}"
    return None


@dataclass(frozen=True, slots=True, kw_only=True)
class TextChoice:
    """How each item's line is read: a text selector (None: the whole item) and a link one."""

    text: str | None
    link: str | None
    score: float
    coverage: float


def _node_options(item: Any) -> dict[str, float]:
    """Relative text selectors for the nodes of one item, with a bonus for headline nodes."""
    options: dict[str, float] = {}
    for count, node in enumerate(item.iterdescendants()):
        if count >= 80 or len(options) >= MAX_OPTIONS:
            break
        if not isinstance(node.tag, str) or node.tag in ("script", "style", "img", "svg", "br"):
            continue
        bonus = 0.35 if node.tag in _HEADINGS else 0.2 if node.tag == "a" else 0.0
        classes = stable_classes(node)
        if any(w in c.lower() for c in classes for w in _TITLE_WORDS):
            bonus += 0.3
        names = [f".{c}" for c in classes[:2]] + [node.tag]
        up = node.getparent()
        if up is not None and up is not item:
            names.append(f"{up.tag} > {node.tag}")
            names += [f".{c} > {node.tag}" for c in stable_classes(up)[:1]]
        has_children = len(node) > 0
        for name in names:
            options.setdefault(name, bonus)
            if has_children and own_text(node):
                options.setdefault(f"{name}::text", bonus - 0.15)
    return options


def read_text(node: Any, spec: str | None) -> str:
    """An item's line as ticker's extraction reads it with text selector ``spec``."""
    if spec is None:
        return element_text(node)
    parts = []
    for n in select(node, compile_selector(spec), False):
        parts.append(n if isinstance(n, str) else element_text(n))
    return clean_text(" ".join(parts))


def choose_text(items: Sequence[Any], *, single: bool = False) -> TextChoice | None:
    """The text selector that reads a headline from the most items, and its link selector.
    For a banner (``single``), one that selects one node: its headline, not its caption."""
    sample = list(items[:MAX_SAMPLE])
    options: dict[str, float] = {}
    for item in sample[:8]:
        for name, bonus in _node_options(item).items():
            options[name] = max(bonus, options.get(name, -9.0))
    best: TextChoice | None = None
    tried: list[tuple[str | None, float]] = [] if single else [(None, 0.2)]
    tried += [(f"css:{k}", v) for k, v in options.items()]
    for spec, bonus in tried[: MAX_OPTIONS + 1]:
        if single and spec and len(select(sample[0], compile_selector(spec), False)) != 1:
            continue
        try:
            texts = [read_text(item, spec) for item in sample]
        except ValueError:
            continue
        present = [t for t in texts if t]
        coverage = len(present) / len(sample)
        if not present:
            continue
        quality = sum(headline_score(t) for t in present) / len(present)
        distinct = len(set(present)) / len(present)
        score = quality + bonus - 2.0 * (1.0 - coverage) - 1.5 * (1.0 - distinct)
        if best is None or score > best.score + 1e-9:
            best = TextChoice(text=spec, link=None, score=score, coverage=coverage)
    if best is None:
        return None
    return TextChoice(
        text=best.text,
        link=choose_link(sample, best.text),
        score=best.score,
        coverage=best.coverage,
    )


def _href_near(item: Any, spec: str | None) -> str | None:
    """The link a reader would follow for an item's line: the anchor around or in the line."""
    nodes = [item] if spec is None else select(item, compile_selector(spec.split("::")[0]), False)
    if not nodes or isinstance(nodes[0], str):
        return None
    node = nodes[0]
    for anc in [node, *list(node.iterancestors())[:6]]:
        if anc.tag == "a" and anc.get("href"):
            return str(anc.get("href")).strip()
    for a in node.iterdescendants("a"):
        if a.get("href"):
            return str(a.get("href")).strip()
    return None


def choose_link(items: Sequence[Any], text: str | None) -> str | None:
    """A link selector that yields, for every item, the anchor nearest its line."""
    wanted = [_href_near(item, text) for item in items]
    if sum(w is not None for w in wanted) < max(1, len(items) * 0.6):
        return None
    base = text.split("::")[0] if text else None
    specs = []
    if base:
        specs += [f"{base}::attr(href)", f"{base} a::attr(href)"]
    specs += ["css:a::attr(href)", "xpath:ancestor-or-self::a[1]/@href"]
    if base:
        specs.append(f"xpath:{_ancestor_xpath(base)}")
    for spec in specs:
        got = _links(items, spec)
        if got is not None and all(g == w for g, w in zip(got, wanted, strict=True) if w):
            return spec
    return None


def _ancestor_xpath(base: str) -> str:
    """The first anchor around the text node (``css:h3 > a`` -> its own @href)."""
    xpath = compile_selector(base).xpath or ""
    return f"({xpath})[1]/ancestor-or-self::a[1]/@href"


def _first(found: Sequence[Any]) -> str | None:
    for f in found:
        value = (f if isinstance(f, str) else element_text(f)).strip()
        if value:
            return value
    return None


def _links(items: Sequence[Any], spec: str) -> list[str | None] | None:
    """The first link ``spec`` reads in each item; None when it does not compile."""
    try:
        sel = compile_selector(spec)
        return [_first(select(item, sel, False)) for item in items]
    except (ValueError, TypeError):
        return None
