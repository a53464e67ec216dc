"""``--expect``: the candidate that holds the lines a person sees on the ticker now, pinned
first. From the ranked candidates when one holds them; else built around where the lines are
on the page (the repeated siblings that hold them, or the one banner)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from ticker.discover.build import choose_text, items_selector
from ticker.discover.candidate import Candidate
from ticker.discover.lines import comparable
from ticker.discover.markup import SKIP, element_text, in_skipped, stable_classes, stable_id
from ticker.discover.static import Group, Index, verify
from ticker.extract.items import Page

PINNED = 0.97
_MAX_TEXTS = 40_000  # text-bearing elements compared with the expected lines


def holds(lines: Sequence[str], wanted: Sequence[str]) -> bool:
    """Whether every wanted line is one of ``lines`` or inside one (compared as people do)."""
    have = [comparable(x) for x in lines]
    return all(any(w == h or w in h for h in have) for w in wanted)


def pin(cands: Sequence[Candidate], expect: Sequence[str]) -> list[Candidate]:
    """``cands`` with those holding ``expect`` first, at PINNED confidence or above."""
    wanted = [comparable(e) for e in expect if comparable(e)]
    if not wanted:
        return list(cands)
    top = [
        replace(c, confidence=max(c.confidence, PINNED)) for c in cands if holds(c.lines, wanted)
    ]
    rest = [c for c in cands if not holds(c.lines, wanted)]
    return [*top, *rest]


def _line_node(index: Index, wanted: str) -> Any | None:
    """The smallest element whose text holds ``wanted``, outside scripts and the head."""
    for n, el in enumerate(index.root.iter()):
        if n >= _MAX_TEXTS:
            return None
        if not isinstance(el.tag, str) or el.tag in SKIP or el.tag in ("title", "head", "meta"):
            continue
        own = comparable(el.text or "")
        if not own or own not in wanted:  # a text node of the line starts the climb
            continue
        node = el
        for _ in range(4):
            if node is None or node.tag in ("body", "html"):
                break
            if wanted in comparable(element_text(node, 4 * len(wanted) + 200)):
                return None if in_skipped(node) else node
            node = node.getparent()
    return None


def _group_around(nodes: Sequence[Any]) -> Group | None:
    """The repeated siblings holding the lines' nodes, or the banner around the one line."""
    for node in [nodes[0], *list(nodes[0].iterancestors())[:8]]:
        parent = node.getparent()
        if parent is None or node.tag in ("body", "html"):
            break
        same = [s for s in parent if s.tag == node.tag]
        if len(same) >= 2 and all(
            any(n is s or s in n.iterancestors() for s in same) for n in nodes
        ):
            return Group(items=same)
    if len(nodes) > 1:
        return None
    for node in [nodes[0], *list(nodes[0].iterancestors())[:4]]:
        if stable_id(node) or stable_classes(node):
            return Group(items=[node], single=True)
    return None


def pinned_from_page(
    page: Page, index: Index, expect: Sequence[str], base_url: str
) -> Candidate | None:
    """A candidate built around where the expected lines are on the page, or None."""
    wanted = [comparable(e) for e in expect if comparable(e)]
    nodes = [_line_node(index, w) for w in wanted]
    found = [n for n in nodes if n is not None]
    if not found or len(found) < len(nodes):
        return None
    group = _group_around(found)
    if group is None:
        return None
    choice = choose_text(group.items, single=group.single)
    sel = items_selector(index.named, group.items)
    if choice is None or sel is None:
        return None
    lines = verify(page, sel, choice, base_url)
    if not holds(lines, wanted):
        return None
    return Candidate(
        items=sel.items,
        text=choice.text,
        link=choice.link,
        canary=sel.canary,
        lines=lines,
        confidence=PINNED,
        kind="html",
        reasons=("expect",),
    )
