"""The script pass, in-page part: JSON a page carries in its scripts (``__NEXT_DATA__``,
``application/json`` and ``ld+json`` scripts, ``window.__STATE__ = {...};`` assignments), the
endpoint URLs its inline scripts name, and its same-origin script bundles. Pure and bounded:
what to fetch is for the caller to decide."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urljoin, urlsplit

from ticker.discover.candidate import Candidate
from ticker.discover.jsonlists import MAX_JSON_CHARS, json_candidates, load_json
from ticker.discover.parsing import parse_html

MAX_SCRIPTS = 400  # script elements looked at
MAX_SCRIPT_CHARS = 4_000_000  # inline script text read, all scripts together
MAX_HINTS = 20
_JSON_TYPES = ("application/json", "application/ld+json", "text/json")
# ``window.__STATE__ = {``, ``self.__DATA__={``, ``var initialState = [``
_ASSIGN = re.compile(
    r"(?:^|[;\s])((?:window|self|globalThis)\.[A-Za-z_$][\w$]*"
    r"|(?:window|self)\[[\"'][\w$]+[\"']\]|(?:var|let|const)\s+[A-Za-z_$][\w$]*)\s*=\s*([\[{])"
)
_URL = re.compile(r"""["'`]((?:https?:)?(?:\\?/){1,2}[^"'`\s<>]{2,300}|/[^"'`\s<>]{2,300})["'`]""")
_ENDPOINT_WORDS = re.compile(
    r"api|graphql|json|breaking|ticker|urgent|news|feed|latest|live|rss|ajax|flash|alert|"
    r"ultima|eil|ajel|headlines",
    re.IGNORECASE,
)
_ASSET = re.compile(
    r"\.(?:js|mjs|css|png|jpe?g|gif|webp|svg|ico|woff2?|ttf|eot|mp4|mp3|webm|avif|map)(?:[?#]|$)",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Embedded:
    """JSON found in a script: where it is, the name it is assigned to, its text and value."""

    script: str
    variable: str | None
    raw: str
    data: Any


def _scripts(root: Any) -> Iterator[tuple[int, Any, str]]:
    total = 0
    for n, el in enumerate(root.iter("script")):
        if n >= MAX_SCRIPTS or total >= MAX_SCRIPT_CHARS:
            return
        text = el.text or ""
        total += len(text)
        yield n, el, text[: MAX_SCRIPT_CHARS - total + len(text)]


def embedded_json(root: Any) -> list[Embedded]:
    """The JSON values a page's scripts carry, each with the selector of its script."""
    out: list[Embedded] = []
    decoder = json.JSONDecoder()
    for _, el, text in _scripts(root):
        if not text.strip():
            continue
        kind = (el.get("type") or "").split(";")[0].strip().lower()
        ident = el.get("id")
        if kind in _JSON_TYPES or ident == "__NEXT_DATA__":
            data = load_json(text)
            if data is not None:
                where = (
                    f"css:script#{ident}"
                    if ident and re.fullmatch(r"[\w-]+", ident)
                    else (f'xpath:(//script[@type="{kind}"])[{_position(root, el, kind)}]')
                )
                out.append(Embedded(script=where, variable=None, raw=text.strip(), data=data))
            continue
        if kind not in ("", "text/javascript", "application/javascript", "module"):
            continue
        for match in list(_ASSIGN.finditer(text))[:20]:
            start = match.start(2)
            try:
                data, end = decoder.raw_decode(text[start : start + MAX_JSON_CHARS])
            except (ValueError, RecursionError):
                continue  # a JavaScript object literal, not JSON
            name = re.sub(r"^(?:var|let|const)\s+", "", match.group(1))
            marker = name.replace("'", "").replace('"', "")
            where = f"xpath://script[contains(., '{marker}')]"
            out.append(
                Embedded(script=where, variable=name, raw=text[start : start + end], data=data)
            )
    return out


def _position(root: Any, el: Any, kind: str) -> int:
    same = [s for s in root.iter("script") if (s.get("type") or "").lower().startswith(kind)]
    return next((i + 1 for i, s in enumerate(same) if s is el), 1)


def script_candidates(root: Any, expect: Sequence[str] = (), base_url: str = "") -> list[Candidate]:
    """``json`` candidates from the JSON a page carries in its scripts."""
    out: list[Candidate] = []
    for found in embedded_json(root)[:40]:
        for cand in json_candidates(found.data, found.raw, expect, base_url=base_url)[:5]:
            out.append(replace(cand, embedded=found.script, variable=found.variable))
    return sorted(out, key=lambda c: -c.confidence)


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    return parts.scheme.lower(), host.removeprefix("www.")


def endpoint_hints(page: str, base_url: str, limit: int = MAX_HINTS) -> list[str]:
    """Absolute URLs named in a page's inline scripts that look like data endpoints (api,
    graphql, json, breaking, ticker, urgent, news...), best first, at most ``limit``."""
    inline = (text for _, el, text in _scripts(parse_html(page)) if not el.get("src") and text)
    return script_endpoints(inline, base_url, limit)


def script_endpoints(scripts: Iterable[str], base_url: str, limit: int = MAX_HINTS) -> list[str]:
    """The endpoint URLs named in these script texts (inline ones, or a bundle's), best first:
    more endpoint words first, same origin before others; at most ``limit``, from at most
    MAX_SCRIPT_CHARS of script and 500 URLs."""
    origin = _origin(base_url)
    scored: dict[str, float] = {}
    budget = MAX_SCRIPT_CHARS
    for text in scripts:
        text, budget = text[:budget], budget - len(text)
        for match in _URL.finditer(text):
            raw = match.group(1).replace("\\/", "/")
            if _ASSET.search(raw) or not _ENDPOINT_WORDS.search(raw):
                continue
            try:
                url = urljoin(base_url, raw) if base_url else raw
                parts = urlsplit(url)
            except ValueError:
                continue
            if parts.scheme not in ("http", "https") or not parts.hostname:
                continue
            words = len(_ENDPOINT_WORDS.findall(raw))
            score = words + (1.0 if _origin(url) == origin else 0.0)
            scored[url] = max(score, scored.get(url, 0.0))
            if len(scored) >= 500:
                break
        if budget <= 0 or len(scored) >= 500:
            break
    return [u for u, _ in sorted(scored.items(), key=lambda kv: -kv[1])][:limit]


def script_bundles(page: str, base_url: str, limit: int = 5) -> list[str]:
    """Same-origin ``<script src>`` URLs, in page order, at most ``limit``: where an endpoint
    the ticker is drawn from may be named."""
    root = parse_html(page)
    origin = _origin(base_url)
    out: list[str] = []
    for n, el in enumerate(root.iter("script")):
        if n >= MAX_SCRIPTS or len(out) >= limit:
            break
        src = (el.get("src") or "").strip()
        if not src:
            continue
        try:
            url = urljoin(base_url, src)
        except ValueError:
            continue
        if urlsplit(url).scheme in ("http", "https") and _origin(url) == origin and url not in out:
            out.append(url)
    return out
