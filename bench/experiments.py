"""Experiments, in this process and without the network, on the same pages the server serves.

1. Locating the ticker more cheaply than lxml parsing the whole page: parsel on bytes, bare
   lxml, parsing only the region around the selector's class (a slice of ~2 KB instead of
   ~100 KB), and selectolax (lexbor) on the whole page or the slice, when it is installed.
   Each variant is checked to give the very lines the full parse gives.
2. A breakdown of ticker's own read path per page (decode, parse, item and canary selectors,
   per-item text, clean_text, item_key), with an equivalent of a step that costs less where
   one is known: a precompiled text XPath, and caches for lines seen before.
3. Body digests: sha256 (ticker's) beside blake2b, sha1, md5 and crc32, per ~100 KB body.

Nothing here changes ticker: the cheaper variants live in this module, as proposals.
"""

from __future__ import annotations

import functools
import hashlib
import re
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from lxml import etree
from parsel import Selector as ParselSelector
from parsel.csstranslator import css2xpath

from bench.pages import PageTemplate
from ticker.config import SourceConfig
from ticker.decode import decode_body
from ticker.extract import extract, parse_page
from ticker.fetch import FetchResult
from ticker.model import PageItem
from ticker.normalize import (
    clean_text,
    item_key,
)
from ticker.pipeline import digest_salt
from ticker.reading import read_page

ITEMS_CSS = ".ticker__item"
REGION_MARGIN = 4096  # bytes kept after the last match: an item is at most ~1,000 characters


@dataclass(frozen=True, slots=True, kw_only=True)
class Variant:
    us: float  # µs CPU per page, median of repeats
    same: bool  # the same lines as the full parse, on every page


@dataclass(frozen=True, slots=True, kw_only=True)
class ExperimentFigures:
    pages: int
    page_bytes: int
    region_bytes: int
    locate: dict[str, Variant]
    breakdown: dict[str, float]  # µs per page, ticker's steps as they are
    cheaper: dict[str, Variant]  # µs per page, the equivalent that costs less
    digest_us: dict[str, float]


def _time(fn: Callable[[Any], object], inputs: Sequence[Any], repeats: int) -> float:
    """Median µs CPU per input over ``repeats`` loops."""
    samples = []
    for _ in range(repeats):
        c0 = time.process_time()
        for x in inputs:
            fn(x)
        samples.append(1e6 * (time.process_time() - c0) / len(inputs))
    samples.sort()
    return samples[len(samples) // 2]


def _norm(lines: Sequence[str]) -> list[str]:
    return [" ".join(s.split()) for s in lines if s.strip()]


# -- locating the ticker ------------------------------------------------------------------------


def anchors(css: str) -> tuple[bytes, bytes]:
    """The first and last class or id names of a CSS selector: where the region starts and
    where its last match is (``.ticker__item`` -> both ``ticker__item``)."""
    names = re.findall(r"[.#]([A-Za-z0-9_-]+)", css)
    if not names:
        raise ValueError(f"no class or id to anchor on in {css!r}")
    return names[0].encode(), names[-1].encode()


def region(body: bytes, first: bytes, last: bytes, margin: int = REGION_MARGIN) -> bytes:
    """The slice of ``body`` from the tag holding the first anchor to ``margin`` bytes past the
    last one (cut at a tag start); the whole body when an anchor is missing. lxml's recovering
    parser closes what the slice leaves open."""
    i = body.find(first)
    j = body.rfind(last)
    if i < 0 or j < 0:
        return body
    start = body.rfind(b"<", 0, i)
    end = body.find(b"<", j + margin)
    return body[max(start, 0) : len(body) if end < 0 else end]


_ITEMS_XPATH = etree.XPath(css2xpath(ITEMS_CSS))
_TEXT_XPATH = etree.XPath(".//text()[not(ancestor::script or ancestor::style)]")


def _lxml_lines(body: bytes) -> list[str]:
    root = etree.HTML(body, parser=etree.HTMLParser(encoding="utf-8"))
    if root is None:
        return []
    return ["".join(_TEXT_XPATH(node)) for node in _ITEMS_XPATH(root)]


def _locate_variants(first: bytes, last: bytes) -> dict[str, Callable[[bytes], list[str]]]:
    variants: dict[str, Callable[[bytes], list[str]]] = {
        "limit: decode + parsel(text) + css": lambda b: (
            ParselSelector(text=b.decode()).css(ITEMS_CSS + "::text").getall()
        ),
        "parsel(body=bytes) + css": lambda b: (
            ParselSelector(body=b, encoding="utf-8").css(ITEMS_CSS + "::text").getall()
        ),
        "lxml HTML + compiled XPath": _lxml_lines,
        "region + parsel + css": lambda b: (
            ParselSelector(text=region(b, first, last).decode("utf-8", "replace"))
            .css(ITEMS_CSS + "::text")
            .getall()
        ),
        "region + lxml + compiled XPath": lambda b: _lxml_lines(region(b, first, last)),
    }
    try:
        from selectolax.lexbor import LexborHTMLParser
    except ImportError:
        return variants

    def lexbor(b: bytes) -> list[str]:
        return [n.text() for n in LexborHTMLParser(b).css(ITEMS_CSS)]

    variants["selectolax (lexbor)"] = lexbor
    variants["region + selectolax"] = lambda b: lexbor(region(b, first, last))
    return variants


# -- cheaper equivalents of ticker's steps ----------------------------------------------------

cached_key = functools.lru_cache(maxsize=65536)(item_key)
cached_clean = functools.lru_cache(maxsize=65536)(clean_text)


def _texts_parsel(page: ParselSelector, xpath: str) -> list[str]:
    return [
        " ".join(n.xpath(".//text()[not(ancestor::script or ancestor::style)]").getall())
        for n in page.xpath(xpath)
    ]


def _texts_compiled(page: ParselSelector, xpath: etree.XPath) -> list[str]:
    return [" ".join(_TEXT_XPATH(node)) for node in xpath(page.root)]


# -- the run --------------------------------------------------------------------------------


def run_experiments(source: SourceConfig, *, pages: int, repeats: int) -> ExperimentFigures:
    """``source`` gives the selectors (the almayadeen-en profile, as in the pipeline)."""
    template = PageTemplate()
    bodies = [
        b"".join(template.body(template.ticker(i, 0), nonce=f"{i:016x}").identity)
        for i in range(pages)
    ]
    first, last = anchors(ITEMS_CSS)
    expected = [
        _norm(ParselSelector(text=b.decode()).css(ITEMS_CSS + "::text").getall()) for b in bodies
    ]

    locate = {}
    for name, fn in _locate_variants(first, last).items():
        same = all(_norm(fn(b)) == want for b, want in zip(bodies, expected, strict=True))
        locate[name] = Variant(us=_time(fn, bodies, repeats), same=same)

    results = [
        FetchResult(status=200, url="http://127.0.0.1/", body=b, content_type="text/html",
                    charset="utf-8")
        for b in bodies
    ]  # fmt: skip
    texts = [decode_body(b, header_charset="utf-8", override=None).text for b in bodies]
    parsed = [parse_page(t, is_json=False) for t in texts]
    items_xpath = source.items.xpath or ""
    canary_xpath = source.canary.xpath if source.canary else None
    compiled_items = etree.XPath(items_xpath)
    raw_lines = [_texts_parsel(p, items_xpath) for p in parsed]
    flat_lines = [line for lines in raw_lines for line in lines]
    cleaned = [clean_text(x) for x in flat_lines]
    per_page = len(flat_lines) / max(len(bodies), 1)
    page_items = [tuple(PageItem(text=clean_text(x)) for x in lines) for lines in raw_lines]

    breakdown = {
        "read_page (all of the below)": _time(lambda r: read_page(source, r), results, repeats),
        "decode_body": _time(
            lambda b: decode_body(b, header_charset="utf-8", override=None), bodies, repeats
        ),
        "parse_page (lxml via parsel)": _time(
            lambda t: parse_page(t, is_json=False), texts, repeats
        ),
        "items selector": _time(lambda p: p.xpath(items_xpath), parsed, repeats),
        "canary selector": _time(
            (lambda p: p.xpath(canary_xpath)) if canary_xpath else (lambda p: None),
            parsed,
            repeats,
        ),
        "per-item text XPath (parsel)": _time(
            lambda p: _texts_parsel(p, items_xpath), parsed, repeats
        ),
        "extract (selectors + text + clean)": _time(
            lambda p: extract(p, items=source.items, canary=source.canary), parsed, repeats
        ),
        # A line not seen before (1,000 sources show more lines than the caches hold).
        "clean_text x items, uncached": per_page
        * _time(clean_text.__wrapped__, flat_lines, repeats),
        "item_key x items, uncached": per_page * _time(item_key.__wrapped__, cleaned, repeats),
        "body digest (sha256)": _time(
            lambda b: hashlib.sha256(digest_salt(source) + b).hexdigest(), bodies, repeats
        ),
    }
    cheaper = {
        "per-item text, compiled XPath": Variant(
            us=_time(lambda p: _texts_compiled(p, compiled_items), parsed, repeats),
            same=all(
                _texts_compiled(p, compiled_items) == want
                for p, want in zip(parsed, raw_lines, strict=True)
            ),
        ),
        # Both functions are pure and a ticker repeats its lines poll after poll: a cache
        # makes a line seen before cost a dict lookup (warm: every line seen once already).
        "keyed, item_key behind lru_cache (warm)": Variant(
            us=_time(lambda items: [cached_key(i.text) for i in items], page_items, repeats),
            same=all(cached_key(x) == item_key(x) for x in cleaned),
        ),
        "clean_text x items, lru_cache (warm)": Variant(
            us=per_page * _time(cached_clean, flat_lines, repeats),
            same=all(cached_clean(x) == clean_text(x) for x in flat_lines),
        ),
    }
    digests: dict[str, Callable[[bytes], object]] = {
        "blake2b": lambda b: hashlib.blake2b(b, digest_size=16).digest(),
        "sha1": lambda b: hashlib.sha1(b).digest(),
        "sha256": lambda b: hashlib.sha256(b).digest(),
        "md5": lambda b: hashlib.md5(b).digest(),
        "crc32": zlib.crc32,
    }
    return ExperimentFigures(
        pages=len(bodies),
        page_bytes=len(bodies[0]),
        region_bytes=len(region(bodies[0], first, last)),
        locate=locate,
        breakdown=breakdown,
        cheaper=cheaper,
        digest_us={name: _time(fn, bodies, repeats) for name, fn in digests.items()},
    )


def experiments_worker(pages: int, repeats: int) -> ExperimentFigures:
    """Entry of the child process."""
    from pathlib import Path

    from bench.configs import build_config

    config = build_config(["http://127.0.0.1/"], Path("/nonexistent/state.db"))
    return run_experiments(config.sources[0], pages=pages, repeats=repeats)
