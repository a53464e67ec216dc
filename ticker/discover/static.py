"""The static pass: the ticker containers of a parsed HTML page, ranked.

One bounded walk indexes the elements whose attributes or short captions use a ticker word
(``vocabulary``); around each, groups of three or more repeated siblings (or, for a breaking
banner, one line) are read with selectors built to be robust (``build``), run through ticker's
own extraction, and scored: ticker words, headline-like lines, position near the top; menus,
footers, rankings and prices count against.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ticker.discover.build import ItemsSelector, TextChoice, choose_text, items_selector
from ticker.discover.candidate import Candidate
from ticker.discover.lines import headline_like, lines_quality
from ticker.discover.markup import SKIP, element_text, in_skipped
from ticker.discover.vocabulary import (
    LABEL_PENALTIES,
    LABEL_WORDS,
    MEDIUM,
    STRONG,
    attr_scores,
    attr_text,
    label_scores,
)
from ticker.extract.items import Page, extract
from ticker.extract.selectors import compile_selector

MAX_NODES = 60_000  # elements indexed; a ticker sits well before this
MAX_SEEDS = 120  # ticker-word elements and captions looked around
MAX_SUBTREE = 1_500  # elements searched for item groups under one seed
MAX_GROUPS = 60  # groups read with selectors (the costly part), best evidence first
MAX_ITEMS = 200
_MAX_CHILDREN = 1_000  # children of one element grouped
_MAX_NAMED = 64  # elements one class may name for a selector anchored on it to be checked
_NOISE_TAGS = frozenset(("nav", "footer"))
_NOISE_ROLES = frozenset(("navigation", "contentinfo", "menu", "menubar", "tablist"))
_LABEL_HINT = re.compile(
    "|".join(re.escape(w.split()[0]) for w in (*LABEL_WORDS, *LABEL_PENALTIES)), re.IGNORECASE
)


@dataclass(slots=True)
class Index:
    """What one walk of the page learned: element order, ticker words and captions."""

    root: Any
    order: dict[Any, int] = field(default_factory=dict)
    words: dict[Any, tuple[float, float]] = field(default_factory=dict)  # element -> good, bad
    labels: dict[Any, tuple[float, float]] = field(default_factory=dict)
    total: int = 1
    classes: dict[str, list[Any]] = field(default_factory=dict)
    ids: dict[str, list[Any]] = field(default_factory=dict)

    def named(self, compound: str) -> list[Any] | None:
        """The elements one ``#id``, ``.class`` or ``tag.class`` compound names, in page
        order; None when too many do to tell cheaply."""
        if compound.startswith("#"):
            found = self.ids.get(compound[1:], [])
        elif "." in compound:
            tag, _, cls = compound.partition(".")
            found = self.classes.get(cls, [])
            if tag and len(found) <= _MAX_NAMED:
                found = [el for el in found if el.tag == tag]
        else:
            return None
        return None if len(found) > _MAX_NAMED else found


def index_page(root: Any) -> Index:
    """Walk at most MAX_NODES elements once, noting ticker and noise words."""
    index = Index(root=root)
    for n, el in enumerate(root.iter()):
        if n >= MAX_NODES:
            break
        tag = el.tag
        if not isinstance(tag, str):
            continue
        index.order[el] = n
        if tag in SKIP:
            continue
        if el.attrib:
            for cls in (el.get("class") or "").split():
                named = index.classes.setdefault(cls, [])
                if len(named) <= _MAX_NAMED:
                    named.append(el)
            ident = el.get("id")
            if ident:
                index.ids.setdefault(ident, []).append(el)
            good, bad, _ = attr_scores(attr_text(el.attrib))
            if tag == "marquee":
                good = STRONG
            if good or bad:
                index.words[el] = (good, bad)
        elif tag == "marquee":
            index.words[el] = (STRONG, 0.0)
        text = el.text
        if text and 2 <= len(text) <= 80 and _LABEL_HINT.search(text):
            good, bad = label_scores(text)
            if good or bad:
                index.labels[el] = (good, bad)
    index.total = max(1, len(index.order))
    return index


@dataclass(slots=True)
class Group:
    """Repeated siblings (or one banner) that may be a ticker's items."""

    items: list[Any]
    single: bool = False


def _groups_under(top: Any, budget: int = MAX_SUBTREE) -> Iterator[Group]:
    for n, parent in enumerate(top.iter()):
        if n >= budget:
            return
        if not isinstance(parent.tag, str) or parent.tag in SKIP or len(parent) < 3:
            continue
        by_tag: dict[str, list[Any]] = {}
        for k, child in enumerate(parent):
            if k >= _MAX_CHILDREN:
                break
            if isinstance(child.tag, str) and child.tag not in SKIP and child.tag != "br":
                by_tag.setdefault(child.tag, []).append(child)
        for children in by_tag.values():
            if len(children) >= 3:
                yield Group(items=children[:MAX_ITEMS])
                cousins = _cousins(parent, children[0])
                if cousins:
                    yield Group(items=cousins[:MAX_ITEMS])


def _cousins(parent: Any, item: Any) -> list[Any]:
    """A list split in several blocks side by side (five items per column): the items of all
    the blocks, when ``parent`` has such siblings; else nothing."""
    grand = parent.getparent()
    if grand is None:
        return []
    tag, cls = item.tag, item.get("class")

    def kin(el: Any) -> bool:
        return bool(el.tag == tag and el.get("class") == cls)

    blocks = [b for b in grand if b.tag == parent.tag and any(kin(c) for c in b)]
    if len(blocks) < 2 or len(blocks) > 20:
        return []
    return [child for block in blocks for child in block if kin(child)]


def _seed_groups(index: Index) -> list[Group]:
    seeds: list[tuple[float, Any, bool]] = []
    for el, (good, _) in index.words.items():
        if good >= MEDIUM:
            seeds.append((good, el, False))
    for el, (good, _) in index.labels.items():
        if good > 0:
            seeds.append((good, el, True))
    seeds.sort(key=lambda s: (-s[0], index.order.get(s[1], 0)))
    seen: set[tuple[int, str]] = set()
    searched: set[Any] = set()
    out: list[Group] = []
    for good, el, is_label in seeds[:MAX_SEEDS]:
        if in_skipped(el):
            continue
        tops = [el, el.getparent()]
        if is_label:
            tops = [el.getparent()]
            if tops[0] is not None:
                tops.append(tops[0].getparent())
        for top in tops:
            if top is None or top.tag in ("body", "html") or top in searched:
                continue
            searched.add(top)
            for group in _groups_under(top):
                key = (id(group.items[0].getparent()), f"{group.items[0].tag}{len(group.items)}")
                if key not in seen:
                    seen.add(key)
                    out.append(group)
        if not is_label and good >= STRONG and _banner_shaped(el):
            key = (id(el), "#single")
            if key not in seen:
                seen.add(key)
                out.append(Group(items=[el], single=True))
    return out


def _banner_shaped(el: Any) -> bool:
    """A small element that is not one entry of a list of its kind (a ranking's first item)."""
    parent = el.getparent()
    if parent is None:
        return False
    same = sum(1 for sib in parent if sib.tag == el.tag)
    if same >= 3 and el.tag in ("li", "article", "tr"):
        return False
    return sum(1 for _ in el.iter()) <= 80


@dataclass(frozen=True, slots=True)
class Evidence:
    good: float
    bad: float
    reasons: tuple[str, ...]


def _evidence(index: Index, group: Group) -> Evidence:
    """Ticker words around the group (container, its ancestors, its items, its caption), and
    noise words (menus, footers, rankings) anywhere above it."""
    first = group.items[0]
    container = first if group.single else first.getparent()
    good, bad = 0.0, 0.0
    reasons: list[str] = []
    for depth, anc in enumerate([container, *list(container.iterancestors())[:14]]):
        g, b = index.words.get(anc, (0.0, 0.0))
        if depth <= 6 and g:
            decayed = g * (1.0 - 0.1 * depth)
            if decayed > good:
                good = decayed
                reasons.append(f"word@{depth}")
        if anc.tag in _NOISE_TAGS or anc.get("role") in _NOISE_ROLES:
            bad = max(bad, 2.5)
            reasons.append(f"<{anc.tag}>")
        if b:
            bad = max(bad, b * (1.0 if depth <= 5 else 0.5))
    if not group.single:
        carrying = sum(1 for it in group.items if index.words.get(it, (0.0, 0.0))[0] >= MEDIUM)
        if carrying * 2 > len(group.items):
            good = max(
                good, 0.9 * max(index.words[it][0] for it in group.items if it in index.words)
            )
        item_bad = sum(index.words.get(it, (0.0, 0.0))[1] for it in group.items[:20])
        bad = max(bad, item_bad / max(1, min(20, len(group.items))))
    label_good, label_bad = _caption(index, group, container)
    if label_good:
        reasons.append("caption")
    if good and label_good:
        good = max(good, label_good) + 0.5
    else:
        good = max(good, label_good * (1.0 if not group.single else 0.0))
    bad = max(bad, label_bad)
    return Evidence(good=good, bad=bad, reasons=tuple(reasons))


def _caption(index: Index, group: Group, container: Any) -> tuple[float, float]:
    """The weights of the caption of the items: the nearest short label before them, under
    the container or up to three levels above it, and not inside an item."""
    items = set(group.items)
    first = index.order.get(group.items[0], 0)
    near = [container, *list(container.iterancestors())[:3]]
    best: tuple[int, float, float] | None = None
    for el, (g, b) in index.labels.items():
        where = index.order.get(el, -1)
        if not first - 80 <= where < first or (best is not None and where < best[0]):
            continue
        ancestors = list(el.iterancestors())[:14]
        if any(a in items for a in [el, *ancestors]):
            continue
        for depth, anc in enumerate(near):
            if any(a is anc for a in ancestors):
                best = (where, g * (1.0 - 0.15 * depth), b)
                break
    return (0.0, 0.0) if best is None else (best[1], best[2])


def _confidence(score: float) -> float:
    return 1.0 / (1.0 + math.exp(-(score - 4.0) * 1.4))


def read_group(page: Page, index: Index, group: Group, base_url: str) -> Candidate | None:
    """The candidate a group makes: its selectors, its lines as ticker reads them, a score."""
    evidence = _evidence(index, group)
    choice = choose_text(group.items, single=group.single)
    if choice is None or choice.score < -0.5:
        return None
    sel = items_selector(index.named, group.items)
    if sel is None:
        return None
    lines = verify(page, sel, choice, base_url)
    if not lines:
        return None
    quality = lines_quality(lines)
    score = 1.0 * min(evidence.good, 4.0) + 1.2 * quality - 1.2 * evidence.bad
    if group.single:
        if len(lines) != 1 or not headline_like(lines[0]) or _holds_list(group.items[0]):
            return None
    else:
        score += 0.6 if len(lines) >= 3 else -1.5
        menu = sum(1 for line in lines if len(line.split()) < 3 and len(line) < 16)
        score -= 2.0 * menu / len(lines)
    position = index.order.get(group.items[0], 0) / index.total
    score += 0.4 if position < 0.3 else 0.0
    score += 0.2 * min(len(lines), 10) / 10 + 0.3 * min(2, _word_levels(index, group) - 1)
    if not group.single:  # cards with pictures are a news list; a banner may have one
        images = sum(
            1 for it in group.items[:20] if next(it.iter("img", "picture"), None) is not None
        )
        score -= 0.8 * images / min(20, len(group.items))
    if choice.link:
        score += 0.2
    return Candidate(
        items=sel.items,
        text=choice.text,
        link=choice.link,
        canary=_banner_canary(sel) if group.single else sel.canary,
        lines=lines,
        confidence=_confidence(score),
        kind="html",
        reasons=(
            *evidence.reasons,
            f"q={quality:.2f}",
            f"good={evidence.good:.1f}",
            f"bad={evidence.bad:.1f}",
            f"pos={position:.2f}",
        ),
    )


def _banner_canary(sel: ItemsSelector) -> str:
    """A banner's canary: its container when that names a ticker word, else the banner."""
    if sel.canary and attr_scores(sel.canary)[0] >= MEDIUM:
        return sel.canary
    return sel.items


def _word_levels(index: Index, group: Group) -> int:
    """How many elements around the items use a ticker word: a ticker names itself at every
    level (wrapper, list, item), a stray word once."""
    first = group.items[0]
    near = [*list(first.iterancestors())[:5]]
    if group.single:
        near += [el for n, el in enumerate(first.iter()) if n < 80]
    return sum(1 for el in near if index.words.get(el, (0.0, 0.0))[0] >= MEDIUM)


def _holds_list(el: Any) -> bool:
    """Whether a would-be banner holds a list of headlines: then it is a box, not a banner."""
    for group in _groups_under(el, 200):
        texts = [element_text(it, 300) for it in group.items[:10]]
        if sum(headline_like(t) for t in texts) >= 3:
            return True
    return False


def verify(page: Page, sel: ItemsSelector, choice: TextChoice, base_url: str) -> tuple[str, ...]:
    """The lines ticker's own extraction reads with these selectors; () if they fail."""
    try:
        result = extract(
            page,
            items=compile_selector(sel.items),
            text=compile_selector(choice.text) if choice.text else None,
            link=compile_selector(choice.link) if choice.link else None,
            canary=compile_selector(sel.canary) if sel.canary else None,
            base_url=base_url,
        )
    except ValueError:
        return ()
    if result.canary_found is False:
        return ()
    return tuple(item.text for item in result.items)


def static_candidates(page: Page, base_url: str) -> list[Candidate]:
    """Ranked HTML candidates of a parsed page, best first."""
    index = index_page(page.root)
    groups = _seed_groups(index)
    scored = sorted(groups, key=lambda g: -_evidence(index, g).good)[:MAX_GROUPS]
    out: list[Candidate] = []
    for group in scored:
        cand = read_group(page, index, group, base_url)
        if cand is not None:
            out.append(cand)
    return dedupe(out)


def dedupe(cands: list[Candidate]) -> list[Candidate]:
    """Best first; of candidates reading the same lines, the better one only."""
    out: list[Candidate] = []
    seen: set[tuple[str, ...]] = set()
    for cand in sorted(cands, key=lambda c: -c.confidence):
        if cand.lines not in seen:
            seen.add(cand.lines)
            out.append(cand)
    return out
