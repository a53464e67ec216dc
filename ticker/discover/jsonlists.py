"""Ticker-like lists in JSON: arrays of three or more objects that each carry a short
headline-like string, found within bounds, with the ``jmespath:`` selectors that read them
(checked through ticker's own extraction of a JSON page)."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator, Sequence
from typing import Any
from urllib.parse import urlsplit

from ticker.discover.candidate import Candidate
from ticker.discover.lines import comparable, headline_score
from ticker.discover.vocabulary import ATTR_WORDS, tokens
from ticker.extract.items import extract, parse_page
from ticker.extract.selectors import compile_selector
from ticker.normalize import clean_text

MAX_JSON_CHARS = 2_000_000  # one JSON document read
MAX_VALUES = 50_000  # values visited in one document
MAX_LIST = 500  # objects of one list looked at
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_TEXT_KEYS = ("headline", "title", "text", "name", "label", "content", "summary", "body")
_LINK_KEYS = ("url", "link", "href", "permalink", "canonical", "canonicalurl", "path", "uri")


def load_json(text: str) -> Any:
    """A JSON value, or None when the text is too big, not JSON or nested too deep."""
    if len(text) > MAX_JSON_CHARS:
        return None
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None


def _key(name: str) -> str:
    return name if _IDENT.match(name) else json.dumps(name)


def _lists(value: Any, least: int = 3) -> Iterator[tuple[list[str], list[Any]]]:
    """(path of keys, list) for every list of ``least`` or more objects, breadth first,
    within MAX_VALUES."""
    queue: list[tuple[list[str], Any]] = [([], value)]
    seen = 0
    while queue and seen < MAX_VALUES:
        path, node = queue.pop(0)
        seen += 1
        if isinstance(node, dict):
            for k, v in list(node.items())[:200]:
                if isinstance(v, (dict, list)) and isinstance(k, str):
                    queue.append(([*path, _key(k)], v))
        elif isinstance(node, list):
            objects = [x for x in node[:MAX_LIST] if isinstance(x, dict)]
            if len(objects) >= least and len(objects) * 2 >= min(len(node), MAX_LIST):
                yield path, node
            for i, v in enumerate(node[:50]):
                if isinstance(v, (dict, list)):
                    queue.append(([*path[:-1], f"{path[-1]}[{i}]"] if path else [f"[{i}]"], v))


def _text_key(objects: Sequence[dict[str, Any]]) -> tuple[str | None, float]:
    """The string field that reads as a headline in most of the objects."""
    best, best_score = None, -9.0
    keys: dict[str, int] = {}
    for obj in objects[:30]:
        for k, v in obj.items():
            if isinstance(k, str) and isinstance(v, str):
                keys[k] = keys.get(k, 0) + 1
    for k, count in keys.items():
        if count * 10 < len(objects[:30]) * 8:
            continue
        values = [clean_text(str(o.get(k, ""))) for o in objects[:30]]
        score = sum(headline_score(v) for v in values) / len(values)
        if any(w in k.lower() for w in _TEXT_KEYS):
            score += 0.4
        if values and len(set(values)) < len(values) * 0.8:
            score -= 1.0
        if score > best_score:
            best, best_score = k, score
    return best, best_score


def _link_key(objects: Sequence[dict[str, Any]]) -> str | None:
    for k in objects[0]:
        if isinstance(k, str) and k.lower() in _LINK_KEYS:
            v = objects[0][k]
            if isinstance(v, str) and (v.startswith(("http", "/"))):
                return k
    return None


def _path_words(path: Sequence[str]) -> float:
    best = 0.0
    for step in path:
        for tok in tokens(step):
            best = max(best, ATTR_WORDS.get(tok, 0.0) if tok != "news" else 0.5)
    return best


def json_candidates(
    data: Any, raw: str, expect: Sequence[str] = (), *, base_url: str = "", url_words: float = 0.0
) -> list[Candidate]:
    """Candidates of one JSON document (``raw`` its text, ``data`` the parsed value);
    ``url_words``: what the words of the URL it came from say (an endpoint's "breaking")."""
    wanted = [comparable(e) for e in expect if e.strip()]
    out: list[Candidate] = []
    page = None
    for path, value in _lists(data, 1 if wanted else 3):
        objects = [x for x in value[:MAX_LIST] if isinstance(x, dict)]
        key, quality = _text_key(objects)
        if key is None or quality < 0.3:
            continue
        items = "jmespath:" + (".".join(path) if path else "@")
        text = f"jmespath:{_key(key)}"
        link_key = _link_key(objects)
        link = f"jmespath:{_key(link_key)}" if link_key else None
        if page is None:
            page = parse_page(raw, is_json=True)
        try:
            result = extract(
                page,
                items=compile_selector(items),
                text=compile_selector(text),
                link=compile_selector(link) if link else None,
                base_url=base_url,
            )
        except ValueError:
            continue
        lines = tuple(i.text for i in result.items)
        holds = bool(wanted) and all(any(w in comparable(x) for x in lines) for w in wanted)
        if len(lines) < 3 and not holds:
            continue
        words = max(_path_words(path), url_words)
        score = 1.2 * quality + words + (0.3 if link else 0.0)
        if holds:
            score += 5.0
        confidence = 1.0 / (1.0 + math.exp(-(score - 3.5) * 1.4))
        out.append(
            Candidate(
                items=items,
                text=text,
                link=link,
                canary=None,
                lines=lines,
                confidence=confidence,
                kind="json",
                reasons=(f"q={quality:.2f}", f"words={words}"),
            )
        )
        if len(out) >= 20:
            break
    return sorted(out, key=lambda c: -c.confidence)


def judge_body(
    body: str, content_type: str, expect: Sequence[str] = (), *, url: str = ""
) -> Candidate | None:
    """Whether a fetched body is JSON holding a ticker-like list (three or more objects with a
    headline-like field), or the ``expect`` text: the best such list as a candidate, else None.
    ``url``: where it came from (the words of its path count as a key's would). Bounded: a body
    above MAX_JSON_CHARS is not read."""
    stripped = body.lstrip()[:1]
    if "json" not in content_type.lower() and stripped not in ("{", "["):
        return None
    data = load_json(body)
    if data is None:
        return None
    steps = re.split(r"[/._?=&-]+", urlsplit(url).path) if url else []
    found = json_candidates(data, body, expect, base_url=url, url_words=_path_words(steps))
    if not found:
        return None
    return found[0]
