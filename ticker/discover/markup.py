"""Reading a parsed page the way the finder needs: an element's text (as ticker's extraction
reads it, without script and style), and which of its class names and ids are stable enough to
put in a selector (not generated hashes, not state or layout utilities)."""

from __future__ import annotations

import re
from typing import Any

from lxml import etree

from ticker.normalize import clean_text

SKIP = frozenset(("script", "style", "noscript", "template"))
_NOT_TEXT = frozenset(("script", "style"))  # what ticker's extraction leaves out

_IDENT = re.compile(r"-?[A-Za-z_][A-Za-z0-9_-]*\Z")
# CSS-in-JS and CSS modules: css-1x2y3z, sc-abc123, jsx-2345, svelte-xyz12, Foo_bar__3xYz1.
_GENERATED = re.compile(
    r"(?:css|sc|jsx|emotion|styled|svelte|astro|jss|makeStyles|tw|e\d|ember)-[\w-]*\Z"
    r"|.*__[A-Za-z0-9_-]*\d[A-Za-z0-9]*\Z|.*_(?=[A-Za-z]*\d)[A-Za-z0-9]{5,}\Z",
    re.IGNORECASE,
)
_STATE = re.compile(
    r"(?:[\w-]*active|current|selected|show|shown|hidden|hide|open|opened|closed|visible|invisible|"
    r"clearfix|cf|fix|row|first|last|odd|even|clone|cloned|loaded|loading|lazy|lazyload|"
    r"animated|in|fade|collapse|collapsed|expanded|sticky|fixed|left|right|center|pull-[\w-]+|"
    r"float-[\w-]+|col|cols|container|wrapper|inner|outer|block|inline|flex|grid|item|items|"
    r"clear|hidden-[\w-]+|visible-[\w-]+|d-[\w-]+|m[trblxy]?-[\w-]+|p[trblxy]?-[\w-]+|text-[\w-]+|bg-[\w-]+|"
    r"col-[\w-]+|span\d+|is-[\w-]+|has-[\w-]+|u-[\w-]+|js-[\w-]+-active|swiper-slide-[\w-]+|slick-[\w-]+|"
    r"owl-[\w-]+|w-[\w-]+|h-[\w-]+|font-[\w-]+|[a-z]{1,4}-u-[\w-]+)\Z",
    re.IGNORECASE,
)


def element_text(el: Any, limit: int = 4000) -> str:
    """``el``'s text as ticker's extraction reads it (no script, no style), cleaned; at most
    about ``limit`` characters are read."""
    return clean_text(" ".join(raw_texts(el, limit)))[:limit]


def raw_texts(el: Any, limit: int = 4000) -> list[str]:
    """The text nodes under ``el`` in document order, without script and style contents."""
    out: list[str] = []
    size = 0
    skipping = 0
    for event, node in etree.iterwalk(el, events=("start", "end")):
        if not isinstance(node.tag, str):
            if event == "end" and node is not el and node.tail and not skipping:
                out.append(node.tail)
            continue
        if event == "start":
            if node.tag in _NOT_TEXT:
                skipping += 1
            elif not skipping and node.text:
                out.append(node.text)
                size += len(node.text)
        else:
            if node.tag in _NOT_TEXT:
                skipping -= 1
            if node is not el and node.tail and not skipping:
                out.append(node.tail)
                size += len(node.tail)
        if size >= limit:
            break
    return out


def own_text(el: Any) -> str:
    """The text nodes directly in ``el`` (what ``::text`` selects), cleaned."""
    parts = [el.text or ""]
    parts.extend(c.tail or "" for c in el)
    return clean_text(" ".join(parts))


def generated(token: str) -> bool:
    """Whether a class name or id looks machine-made: it will change with the next deploy."""
    if _GENERATED.match(token):
        return True
    if re.search(r"\d{3,}", token):
        return True  # post-102091, tab-1547: per-article or per-build numbers
    for seg in re.split(r"[-_]+", token):
        if len(seg) >= 5:
            digits = sum(c.isdigit() for c in seg)
            if digits >= 2 and digits < len(seg):
                return True
            if digits and re.search(r"[a-z][A-Z]|[A-Z]{2}[a-z]", seg):
                return True
        if len(seg) >= 6 and not re.search(r"[aeiouyAEIOUY]", seg):
            return True
    return False


def usable(token: str) -> bool:
    """A token fit for a selector: a plain CSS identifier, not generated, not a state."""
    return bool(_IDENT.match(token)) and not generated(token) and not _STATE.match(token)


def stable_id(el: Any) -> str | None:
    ident = (el.get("id") or "").strip()
    return ident if ident and usable(ident) else None


def stable_classes(el: Any) -> list[str]:
    """The usable classes of ``el``, best first (longer names say more)."""
    seen: list[str] = []
    for cls in (el.get("class") or "").split():
        if cls not in seen and usable(cls):
            seen.append(cls)
    return sorted(seen, key=lambda c: (-("-" in c or "_" in c), -len(c)))[:6]


def in_skipped(el: Any, depth: int = 40) -> bool:
    """Whether ``el`` sits in a script, style, noscript or template."""
    for _ in range(depth):
        if el is None:
            return False
        if el.tag in SKIP:
            return True
        el = el.getparent()
    return False
