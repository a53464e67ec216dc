"""Reading only the ticker's region of a page: the same lines as the whole page, or no answer.

``extract_region`` parses a few KB around the ticker instead of the whole page, and the pipeline
trusts it only when its lines are exactly the ones the page showed last time. These tests pin
both halves: on saved and real pages the region's items are the whole page's, and on hostile
pages (markup in scripts, comments and styles, long items, unclosed elements, NUL bytes) the
region either declines, agrees, or disagrees in a way its keys reveal, so that ``read_page``
never reports other lines than the whole page does.
"""

from __future__ import annotations

import functools
import json
import re
import threading
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import DATA, PageServer, en_page
from parsel import Selector as ParselSelector
from shared_data import SHARED, need

from ticker import pipeline, reading
from ticker.cli.wiring import fetch_settings
from ticker.config import Config, SourceConfig, parse_config
from ticker.detect import keyed
from ticker.extract import (
    REGION_MARGIN,
    Extraction,
    Selector,
    compile_selector,
    extract,
    extract_prefix,
    extract_region,
    parse_page,
    ticker_region,
)
from ticker.fetch import AiohttpFetcher, FetchResult
from ticker.pipeline import PollOutcome, poll_source
from ticker.reading import read_page
from ticker.store import SqliteStore

# The shared fixtures are the same pages as tests/data; either will do.
FIXTURES = SHARED / "fixtures" if (SHARED / "fixtures").is_dir() else DATA
REALPAGES = SHARED / "realpages"
REAL = sorted(REALPAGES.glob("*.html")) if REALPAGES.is_dir() else []

EN_ITEMS = "css:.ticker__item"
EN_CANARY = "css:.ticker"
AR_ITEMS = "css:#ticker-box ul li .ticker-item .ticker-text"
AR_TEXT = "css:a p"
AR_LINK = "css:a::attr(href)"
AR_CANARY = "css:#ticker-box"
AR_BASE = "https://www.almayadeen.net/"

LINES = [
    "Sirens sound in Metula and Kiryat Shmona",
    "Israeli media: 4 Israeli soldiers killed in the Gaza Strip",
    "Airstrike reported on the southern suburb of Beirut",
]


def sel(spec: str) -> Selector:
    return compile_selector(spec)


def whole(page: str | bytes, **selectors: object) -> Extraction:
    """The reference: the whole page parsed and read with the same selectors."""
    return extract(parse_page(page, is_json=False), **selectors)  # type: ignore[arg-type]


def keys(extraction: Extraction) -> frozenset[str]:
    return frozenset(keyed(extraction.items))


def texts(extraction: Extraction | None) -> list[str] | None:
    return None if extraction is None else [i.text for i in extraction.items]


def before_ticker(html: str, snippet: str) -> str:
    at = html.index('<div class="ticker">')
    return html[:at] + snippet + html[at:]


def in_head(html: str, snippet: str) -> str:
    at = html.index("</head>")
    return html[:at] + snippet + html[at:]


# -- compile_selector: which selectors can be read from a region ---------------------------

SHAPES = [
    ("css:.ticker__item", True, (("ticker__item", "ticker__item"),)),
    (AR_ITEMS, True, (("ticker-box", "ticker-text"),)),
    ("css:#ticker-box", True, (("ticker-box", "ticker-box"),)),
    ("css:div.ticker > div.ticker__item", True, (("ticker", "ticker__item"),)),
    ("css:.ticker + .next ~ li.last", True, (("ticker", "last"),)),
    ("css:div#box.cls", True, (("box", "box"),)),  # the id wins over a class
    ("css:.a, #b .c", True, (("a", "a"), ("b", "c"))),
    ("css:.ticker__item::text", True, (("ticker__item", "ticker__item"),)),
    ("css:.ticker .story::attr(href)", True, (("ticker", "story"),)),
    ("css:.ticker a::attr(href)", True, ()),  # the last compound is a bare tag
    ("css:li[data-kind=urgent].item", True, (("item", "item"),)),
    ("css:a p", True, ()),  # local, but nothing bounds where it matches
    ("css:a::attr(href)", True, ()),
    ("css:.a, p", True, ()),  # one selector of the list without anchors: none at all
    ("css:.a li", True, ()),  # the last compound has no class or id
    ("css:li .a", True, ()),  # nor the first
    ("css:li:first-child", False, ()),
    ("css:.ticker li:nth-child(2)", False, ()),
    ("css:.ticker__item:not(.old)", False, ()),
    ("xpath://li", False, ()),
    ('xpath://div[@class="ticker__item"]', False, ()),
    ("jmespath:items", False, ()),
]


@pytest.mark.parametrize(("spec", "local", "anchors"), SHAPES, ids=[s[0] for s in SHAPES])
def test_compile_selector_says_whether_a_region_can_answer(
    spec: str, local: bool, anchors: tuple[tuple[str, str], ...]
) -> None:
    compiled = compile_selector(spec)
    assert compiled.local is local
    assert compiled.anchors == anchors


# -- ticker_region: where the ticker is ----------------------------------------------------


def test_region_of_the_english_fixture_holds_every_item_and_little_else() -> None:
    html = (FIXTURES / "almayadeen-en.html").read_text("utf-8")
    span = ticker_region(html, items=sel(EN_ITEMS), canary=sel(EN_CANARY))
    assert span is not None
    start, end = span
    assert 0 <= start < end <= len(html)
    assert (end - start) * 2 <= len(html)
    region = html[start:end]
    assert region.startswith('<div class="ticker">')
    assert region.count('class="ticker__item"') == html.count('class="ticker__item"') == 10
    assert end - start < 16 * 1024  # the ticker and the margin, not the page


def test_region_text_and_bytes_cut_the_same_markup() -> None:
    """Offsets differ for Arabic text (characters against bytes), the markup cut does not."""
    text = (FIXTURES / "almayadeen-ar.html").read_text("utf-8")
    body = text.encode("utf-8")
    items, canary = sel(AR_ITEMS), sel(AR_CANARY)
    by_text = ticker_region(text, items=items, canary=canary)
    by_bytes = ticker_region(body, items=items, canary=canary)
    assert by_text is not None
    assert by_bytes is not None
    assert by_text != by_bytes  # the page has multi-byte characters before the ticker
    assert text[by_text[0] : by_text[1]].encode("utf-8") == body[by_bytes[0] : by_bytes[1]]


@pytest.mark.parametrize(
    ("items", "canary"),
    [
        ("css:.ticker__item:first-child", None),  # a pseudo-class: not local
        ('xpath://div[@class="ticker__item"]', None),
        ("css:div", None),  # no anchor
        (EN_ITEMS, "css:.ticker:empty"),  # the canary is not local
        ("css:.no-such-class", None),  # not on the page
        (EN_ITEMS, "css:#no-such-id"),
    ],
)
def test_region_declines_selectors_it_cannot_bound(items: str, canary: str | None) -> None:
    html = (FIXTURES / "almayadeen-en.html").read_text("utf-8")
    span = ticker_region(html, items=sel(items), canary=None if canary is None else sel(canary))
    assert span is None


FILLER = "<p>filler text</p>\n" * 1000  # 21 KB of markup either side of a ticker


@pytest.mark.parametrize(
    "markup",
    [
        '<div class="ticker__items">A line</div>',
        '<div class="xticker__item">A line</div>',
        '<div class="ticker__item-old">A line</div>',
        '<a href="#ticker__item">A line</a>',
        "<p>ticker__item in plain text</p>",
    ],
)
def test_region_needs_the_anchor_as_a_whole_class_or_id(markup: str) -> None:
    html = f"<html><body>{FILLER}{markup}{FILLER}</body></html>"
    assert ticker_region(html, items=sel(EN_ITEMS)) is None
    assert extract_region(html, items=sel(EN_ITEMS)) is None
    assert whole(html, items=sel(EN_ITEMS)).items == ()


@pytest.mark.parametrize("quote", ['"', "'", ""])
def test_region_finds_the_anchor_among_other_classes_and_quotings(quote: str) -> None:
    attr = f"class={quote}lead ticker__item{quote}" if quote else "class=ticker__item"
    html = f"<html><body>{FILLER}<div {attr}>A line</div>{FILLER}</body></html>"
    span = ticker_region(html, items=sel(EN_ITEMS))
    assert span is not None
    assert "A line" in html[span[0] : span[1]]
    region = extract_region(html, items=sel(EN_ITEMS))
    assert region is not None
    assert texts(region) == ["A line"]


def test_region_declines_when_it_would_be_more_than_half_the_page() -> None:
    items = "".join(f'<div class="ticker__item">Line {i} {"x" * 200}</div>' for i in range(40))
    html = f"<html><body><p>short</p>{items}<p>short</p></body></html>"
    assert ticker_region(html, items=sel(EN_ITEMS)) is None
    assert extract_region(html, items=sel(EN_ITEMS)) is None
    # The same ticker on a page ten times its size is read from its region.
    big = html.replace("<p>short</p>", FILLER)
    region = extract_region(big, items=sel(EN_ITEMS))
    assert region is not None
    assert region.items == whole(big, items=sel(EN_ITEMS)).items


# -- the saved Al Mayadeen pages -------------------------------------------------------------


@dataclass(frozen=True)
class Fixture:
    file: str
    items: str
    text: str | None = None
    link: str | None = None
    canary: str | None = None
    base_url: str = ""
    count: int = 0

    def selectors(self) -> dict[str, object]:
        return {
            "items": sel(self.items),
            "link": None if self.link is None else sel(self.link),
            "canary": None if self.canary is None else sel(self.canary),
            "base_url": self.base_url,
        }

    def text_sel(self) -> Selector | None:
        return None if self.text is None else sel(self.text)


FIXTURE_CASES = [
    Fixture("almayadeen-en.html", EN_ITEMS, canary=EN_CANARY, count=10),
    Fixture("almayadeen-en.html", EN_ITEMS, count=10),
    Fixture("almayadeen-ar.html", AR_ITEMS, AR_TEXT, AR_LINK, AR_CANARY, AR_BASE, count=5),
    Fixture("almayadeen-ar.html", AR_ITEMS, AR_TEXT, AR_LINK, base_url=AR_BASE, count=5),
]


@pytest.mark.parametrize("as_bytes", [False, True], ids=["text", "bytes"])
@pytest.mark.parametrize(
    "case",
    FIXTURE_CASES,
    ids=[f"{c.file}-{'canary' if c.canary else 'no-canary'}" for c in FIXTURE_CASES],
)
def test_fixture_region_gives_the_whole_pages_items(case: Fixture, as_bytes: bool) -> None:
    raw = (FIXTURES / case.file).read_bytes()
    page: str | bytes = raw if as_bytes else raw.decode("utf-8")
    region = extract_region(page, text_sel=case.text_sel(), **case.selectors())  # type: ignore[arg-type]
    reference = whole(page, text=case.text_sel(), **case.selectors())
    assert region is not None
    assert region.region is True
    assert reference.region is False
    assert len(reference.items) == case.count
    assert region.items == reference.items
    assert region.canary_found == reference.canary_found
    if case.link is not None:
        assert all(i.link and i.link.startswith(AR_BASE) for i in region.items)


def test_region_of_text_and_of_bytes_is_the_same_extraction() -> None:
    for case in FIXTURE_CASES:
        raw = (FIXTURES / case.file).read_bytes()
        by_text = extract_region(raw.decode("utf-8"), text_sel=case.text_sel(), **case.selectors())  # type: ignore[arg-type]
        by_bytes = extract_region(raw, text_sel=case.text_sel(), **case.selectors())  # type: ignore[arg-type]
        assert by_text is not None
        assert by_text == by_bytes


def test_region_declines_a_text_or_link_selector_that_is_not_local() -> None:
    raw = (FIXTURES / "almayadeen-ar.html").read_bytes()
    kwargs = {"items": sel(AR_ITEMS), "canary": sel(AR_CANARY), "base_url": AR_BASE}
    assert extract_region(raw, text_sel=sel("xpath:.//a/p"), **kwargs) is None  # type: ignore[arg-type]
    assert extract_region(raw, link=sel("css:a:first-child::attr(href)"), **kwargs) is None  # type: ignore[arg-type]
    assert extract_region(raw, text_sel=sel(AR_TEXT), **kwargs) is not None  # type: ignore[arg-type]


def test_region_never_reports_a_missing_canary() -> None:
    """The canary's absence is for the whole page to say: the region declines."""
    html = (FIXTURES / "almayadeen-en.html").read_text("utf-8")
    # The canary's anchor stays on the page (in a script) but no element carries it.
    broken = html.replace('<div class="ticker">', '<div class="tickr">').replace(
        "</body>", '<script>var c = "ticker";</script></body>'
    )
    assert extract_region(broken, items=sel(EN_ITEMS), canary=sel(EN_CANARY)) is None
    assert whole(broken, items=sel(EN_ITEMS), canary=sel(EN_CANARY)).canary_found is False


# -- hostile pages ---------------------------------------------------------------------------

SVG_ICON = '<svg viewBox="0 0 24 24"><path d="' + "M1 2L3 4 " * 600 + '"/></svg>'
BASE_PAGE = en_page(LINES)


def _hostile_pages() -> dict[str, str]:
    base = BASE_PAGE
    last = f">{LINES[-1]}<"
    first = f'<div class="ticker__item">{LINES[0]}'
    return {
        "script-string-before-ticker": before_ticker(
            base,
            "<script>var html = ''; for (const x of xs) {"
            "html += '<li class=\"ticker__item\">' + x + '</li>'; }</script>",
        ),
        "script-string-opening-a-textarea": before_ticker(
            base,
            "<script>html += '<li class=\"ticker__item\">' + x + '</li>';"
            " form = '<textarea>';</script>",
        ),
        "comment-before-ticker": before_ticker(
            base, '<!-- <div class="ticker__item">An old line kept in a comment</div> -->'
        ),
        "style-in-head": in_head(
            base,
            "<style>.ticker__item { color: red } div[class=ticker__item] { margin: 0 }"
            " .x::before { content: '<div class=\"ticker__item\">' }</style>",
        ),
        "last-item-text-over-4kb": base.replace(last, f">{LINES[-1]} " + "more words " * 500 + "<"),
        "last-item-markup-over-4kb": base.replace(last, ">" + "<b>w</b> " * 700 + LINES[-1] + "<"),
        "last-item-after-a-5kb-svg-icon": base.replace(last, ">" + SVG_ICON + LINES[-1] + "<"),
        "anchor-only-in-a-data-attribute": base.replace(
            'class="ticker__item"', 'data-role="ticker__item"'
        ),
        "data-attribute-before-ticker": before_ticker(
            base, '<div data-target="ticker__item">not an item</div>'
        ),
        "unclosed-tags-before-ticker": before_ticker(
            base, '<div class="wrap"><p><b><a href="/x">never closed '
        ),
        "unclosed-comment-before-ticker": before_ticker(base, "<!-- never closed "),
        "unclosed-textarea-before-ticker": before_ticker(base, "<textarea>"),
        "unclosed-title-before-ticker": before_ticker(base, "<title>"),
        "unclosed-script-before-ticker": before_ticker(base, "<script>var a = 1;"),
        "nul-bytes-in-text-and-markup": base.replace("Sirens", "Si\x00rens").replace(
            '<div class="ticker">', '<div class="ticker">\x00\x00'
        ),
        "nul-byte-in-the-first-items-class": base.replace(
            first, first.replace("ticker__item", "ticker\x00__item")
        ),
        "character-reference-in-the-first-items-class": base.replace(
            first, first.replace("ticker__item", "ticker&#95;_item")
        ),
    }


HOSTILE = _hostile_pages()
SWALLOWING = [
    "unclosed-comment-before-ticker",
    "unclosed-textarea-before-ticker",
    "unclosed-title-before-ticker",
    "unclosed-script-before-ticker",
]
CANARIES = [None, EN_CANARY]


@pytest.mark.parametrize("canary", CANARIES, ids=["no-canary", "canary"])
@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_page_region_declines_agrees_or_differs_in_its_keys(
    name: str, canary: str | None
) -> None:
    html = HOSTILE[name]
    selectors = {"items": sel(EN_ITEMS), "canary": None if canary is None else sel(canary)}
    region = extract_region(html, **selectors)  # type: ignore[arg-type]
    assert region == extract_region(html.encode("utf-8"), **selectors)  # type: ignore[arg-type]
    reference = whole(html, **selectors)
    assert reference == whole(html.encode("utf-8"), **selectors)
    if region is None or region.items == reference.items:
        return
    assert keys(region) != keys(reference), (
        f"region {texts(region)} and whole page {texts(reference)} differ in items but not keys"
    )


def test_a_commented_out_copy_of_a_line_shows_the_same_lines() -> None:
    """A line that is also in a comment before the ticker: the region reads it twice, which
    keying folds into the same lines as the whole page's."""
    html = before_ticker(BASE_PAGE, f'<!-- <div class="ticker__item">{LINES[0]}</div> -->')
    region = extract_region(html, items=sel(EN_ITEMS), canary=sel(EN_CANARY))
    reference = whole(html, items=sel(EN_ITEMS), canary=sel(EN_CANARY))
    assert texts(reference) == LINES
    assert region is not None
    assert texts(region) == [LINES[0], *LINES]
    assert keyed(region.items) == keyed(reference.items)


def test_the_whole_page_is_the_reference_for_nul_bytes() -> None:
    html = HOSTILE["nul-bytes-in-text-and-markup"]
    reference = whole(html.encode("utf-8"), items=sel(EN_ITEMS), canary=sel(EN_CANARY))
    assert texts(reference) == ["Sirens sound in Metula and Kiryat Shmona", *LINES[1:]]
    for page in (html, html.encode("utf-8")):
        region = extract_region(page, items=sel(EN_ITEMS), canary=sel(EN_CANARY))
        assert region is not None
        assert region.items == reference.items


# -- read_page: the pipeline trusts the region only for the lines it expects -----------------


def source_config(
    tmp_path: Path,
    *,
    items: str = EN_ITEMS,
    text: str | None = None,
    link: str | None = None,
    canary: str | None = EN_CANARY,
) -> SourceConfig:
    lines = [
        "[service]",
        'state = "state.db"',
        "[[sources]]",
        'id = "s"',
        'url = "http://127.0.0.1:9/page"',
        f'items = "{items}"',
    ]
    lines += [f'{k} = "{v}"' for k, v in (("text", text), ("link", link), ("canary", canary)) if v]
    config = parse_config("\n".join(lines) + "\n", path=tmp_path / "ticker.toml", env={})
    return config.sources[0]


def fetched(body: str | bytes, url: str = "http://127.0.0.1:9/page") -> FetchResult:
    raw = body.encode("utf-8") if isinstance(body, str) else body
    return FetchResult(status=200, url=url, body=raw, content_type="text/html", charset="utf-8")


def page_keys(body: str | bytes, source: SourceConfig) -> frozenset[str]:
    return keys(read_page(source, fetched(body)).extraction)


def test_read_page_without_expected_lines_reads_the_whole_page(tmp_path: Path) -> None:
    source = source_config(tmp_path)
    reading = read_page(source, fetched(BASE_PAGE))
    assert reading.extraction.region is False
    assert texts(reading.extraction) == LINES
    assert reading.encoding == "utf-8"


def test_read_page_uses_the_region_when_it_shows_the_expected_lines(tmp_path: Path) -> None:
    source = source_config(tmp_path)
    expected = page_keys(BASE_PAGE, source)
    reading = read_page(source, fetched(BASE_PAGE), expected=expected)
    assert reading.extraction.region is True
    assert texts(reading.extraction) == LINES
    assert reading.extraction.canary_found is True


def test_read_page_reads_the_whole_page_when_a_line_is_new(tmp_path: Path) -> None:
    source = source_config(tmp_path)
    before = page_keys(en_page(LINES[1:]), source)
    reading = read_page(source, fetched(BASE_PAGE), expected=before)
    assert reading.extraction.region is False
    assert texts(reading.extraction) == LINES


def test_read_page_reads_the_whole_page_when_a_line_is_gone(tmp_path: Path) -> None:
    source = source_config(tmp_path)
    before = page_keys(en_page([*LINES, "A line that scrolled away"]), source)
    reading = read_page(source, fetched(BASE_PAGE), expected=before)
    assert reading.extraction.region is False
    assert texts(reading.extraction) == LINES


def test_read_page_reports_a_missing_canary_from_the_whole_page(tmp_path: Path) -> None:
    source = source_config(tmp_path)
    expected = page_keys(BASE_PAGE, source)
    gone = BASE_PAGE.replace('<div class="ticker">', '<div class="news-strip">')
    reading = read_page(source, fetched(gone), expected=expected)
    assert reading.extraction.region is False
    assert reading.extraction.canary_found is False
    assert texts(reading.extraction) == LINES  # the items are still read, from the whole page


def test_read_page_arabic_profile_region_with_links(tmp_path: Path) -> None:
    source = source_config(tmp_path, items=AR_ITEMS, text=AR_TEXT, link=AR_LINK, canary=AR_CANARY)
    body = (FIXTURES / "almayadeen-ar.html").read_bytes()
    result = fetched(body, url=AR_BASE)
    reference = read_page(source, result)
    reading = read_page(source, result, expected=keys(reference.extraction))
    assert reference.extraction.region is False
    assert reading.extraction.region is True
    assert reading.extraction.items == reference.extraction.items
    partial = frozenset(list(keys(reference.extraction))[1:])
    assert read_page(source, result, expected=partial).extraction.region is False


# What a slice of a page cannot see: markup before the region that changes how the region
# parses (an element left open), or an anchor written so that a text search misses it. The
# pipeline reads every page whole at least every WHOLE_PAGE_EVERY seconds for these (see
# test_what_a_region_cannot_see_is_read_whole_within_the_minute).
REGION_BLIND = {
    ("character-reference-in-the-first-items-class", None),
    *((name, canary) for name in SWALLOWING for canary in (None, EN_CANARY)),
}


@pytest.mark.parametrize(
    ("name", "canary"),
    [
        (name, canary)
        for name in HOSTILE
        for canary in (None, EN_CANARY)
        if (name, canary) not in REGION_BLIND
    ],
    ids=lambda v: "canary" if v == EN_CANARY else ("no-canary" if v is None else v),
)
def test_read_page_never_hides_a_new_line_on_a_hostile_page(
    tmp_path: Path, name: str, canary: str | None
) -> None:
    """Each line of the page in turn is the new one: the page showed all the others last time.
    Whatever the region makes of the page, read_page must come out with the whole page's
    lines (but for REGION_BLIND pages, which the pipeline reads whole within the minute)."""
    source = source_config(tmp_path, canary=canary)
    result = fetched(HOSTILE[name])
    reference = read_page(source, result).extraction
    assert reference.region is False
    reference_keys = keys(reference)
    for key in reference_keys:
        reading = read_page(source, result, expected=reference_keys - {key})
        assert keys(reading.extraction) == reference_keys, (
            f"{name}: with {reference_keys - {key}} expected, read_page said "
            f"{texts(reading.extraction)} (region={reading.extraction.region}); "
            f"the whole page says {texts(reference)}"
        )


def served_config(tmp_path: Path, url: str, *, canary: str | None = EN_CANARY) -> Config:
    """One English source at ``url`` (of the test's page server), with its state in tmp_path."""
    return parse_config(
        "[service]\n"
        f"state = {json.dumps(str(tmp_path / 'state.db'))}\n"
        "[[sources]]\n"
        'id = "en"\n'
        f"url = {json.dumps(url)}\n"
        f'items = "{EN_ITEMS}"\n' + (f'canary = "{canary}"\n' if canary else ""),
        path=tmp_path / "ticker.toml",
        env={},
    )


async def test_a_new_last_line_behind_a_large_icon_is_alerted(
    page_server: PageServer, tmp_path: Path
) -> None:
    """End to end: the page showed two lines, then a third comes in last, its text after a
    5 KB inline SVG icon (past the region's margin). The poll must report it new."""
    config = served_config(tmp_path, page_server.url("/en"))
    source = config.sources[0]
    page_server.set("/en", en_page(LINES[:2]))
    store = SqliteStore.open(config.service.state)
    try:
        async with AiohttpFetcher(fetch_settings(config)) as fetcher:
            first = await poll_source(source, fetcher=fetcher, store=store)
            assert (first.status, first.baseline, first.items) == ("ok", True, 2)
            page_server.set("/en", HOSTILE["last-item-after-a-5kb-svg-icon"])
            second = await poll_source(source, fetcher=fetcher, store=store)
    finally:
        store.close()
    assert second.status == "ok"
    assert [r.item.text for r in second.new] == [LINES[2]], (
        f"the new last line was not reported: {second}"
    )


@pytest.mark.parametrize("name", SWALLOWING)
def test_a_swallowed_ticker_is_no_ticker_on_the_whole_page(tmp_path: Path, name: str) -> None:
    """An element left open before the ticker turns it into text: the whole page has no ticker
    and no canary. (The region, parsed out of that context, cannot know: REGION_BLIND.)"""
    source = source_config(tmp_path)
    reference = read_page(source, fetched(HOSTILE[name])).extraction
    assert (reference.items, reference.canary_found, reference.region) == ((), False, False)


@pytest.mark.parametrize("name", [*SWALLOWING, "character-reference-in-the-first-items-class"])
async def test_what_a_region_cannot_see_is_read_whole_within_the_minute(
    page_server: PageServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    """The pipeline lets the region confirm only lines a whole-page read showed within
    WHOLE_PAGE_EVERY seconds; once that is due, the whole page decides."""
    canary = None if name.startswith("character") else EN_CANARY
    config = served_config(tmp_path, page_server.url("/en"), canary=canary)
    source = config.sources[0]
    hostile = HOSTILE[name]
    whole_lines = texts(read_page(source, fetched(hostile)).extraction)
    # The page as it was: every line of the hostile page but the one it hides from a region.
    page_server.set("/en", BASE_PAGE if name in SWALLOWING else en_page(LINES[1:]))
    store = SqliteStore.open(config.service.state)
    try:
        async with AiohttpFetcher(fetch_settings(config)) as fetcher:
            first = await poll_source(source, fetcher=fetcher, store=store)
            assert first.baseline
            page_server.set("/en", hostile)
            monkeypatch.setattr(pipeline, "WHOLE_PAGE_EVERY", 0.0)  # the minute has passed
            second = await poll_source(source, fetcher=fetcher, store=store)
    finally:
        store.close()
    assert second.status == "ok"
    assert second.items == len(whole_lines or [])
    if name in SWALLOWING:
        assert (second.items, second.canary_found) == (0, False)
    else:
        assert [r.item.text for r in second.new] == [LINES[0]]


# -- real pages: generated selectors ---------------------------------------------------------

IDENT = re.compile(r"^-?[_a-zA-Z][_a-zA-Z0-9-]*$")
PER_PAGE = 120  # selectors tried per page, spread evenly over every kind (keeps this fast)


def page_selectors(root: object) -> list[str]:
    """``.cls``, ``#id``, ``.outer .inner`` and ``tag.cls`` for the names found on a page."""
    classes: set[str] = set()
    ids: set[str] = set()
    pairs: set[tuple[str, str]] = set()
    tagged: set[tuple[str, str]] = set()
    for el in root.iter():  # type: ignore[attr-defined]
        if not isinstance(el.tag, str):
            continue
        own = [c for c in (el.get("class") or "").split() if IDENT.match(c)]
        classes.update(own)
        if IDENT.match(el.tag):
            tagged.update((el.tag, c) for c in own)
        ident = el.get("id")
        if ident and IDENT.match(ident):
            ids.add(ident)
        if own:
            parent = el.getparent()
            while parent is not None:
                outer = [c for c in (parent.get("class") or "").split() if IDENT.match(c)]
                if outer:
                    pairs.add((outer[0], own[0]))
                    break
                parent = parent.getparent()
    found = [f".{c}" for c in sorted(classes)] + [f"#{i}" for i in sorted(ids)]
    found += [f".{a} .{b}" for a, b in sorted(pairs)]
    found += [f"{t}.{c}" for t, c in sorted(tagged)]
    step = max(1, len(found) // PER_PAGE)
    return found[::step][:PER_PAGE]


@dataclass(frozen=True)
class Pair:
    """One (page, selector) pair that took the region path, with both readings."""

    page: str
    selector: str
    region: tuple[str, ...]
    whole: tuple[str, ...]
    region_keys: frozenset[str]
    whole_keys: frozenset[str]

    @property
    def agrees(self) -> bool:
        return self.region == self.whole

    @property
    def kind(self) -> str:
        if self.region_keys == self.whole_keys:
            return "same keys"
        if self.region_keys < self.whole_keys:
            return "region misses whole lines"
        if self.region_keys > self.whole_keys:
            return "region has extra lines"
        if len(self.region) == len(self.whole) and self.region[:-1] == self.whole[:-1]:
            return "last item's text differs"
        return "other"

    def describe(self) -> str:
        only_region = [t[:80] for t in self.region if t not in self.whole]
        only_whole = [t[:80] for t in self.whole if t not in self.region]
        return (
            f"{self.page} {self.selector!r} [{self.kind}]: {len(self.region)} vs "
            f"{len(self.whole)} items; region only {only_region[:2]}; whole only {only_whole[:2]}"
        )


def real_selectors() -> Iterator[tuple[Path, bytes, ParselSelector, str, Selector]]:
    """Each real page (its path, bytes and parse) with each selector generated for it."""
    need(REALPAGES)
    for path in REAL:
        body = path.read_bytes()
        page = parse_page(body, is_json=False)
        for spec in page_selectors(page.root):
            try:
                items = compile_selector(f"css:{spec}")
            except ValueError:
                continue
            yield path, body, page, spec, items


@functools.cache
def real_pairs() -> tuple[tuple[Pair, ...], int, int]:
    """Every (page, generated selector) pair that took the region path; pairs tried; pages."""
    pairs: list[Pair] = []
    tried = 0
    for path, body, page, spec, items in real_selectors():
        tried += 1
        region = extract_region(body, items=items)
        if region is None:
            continue
        assert region.region is True
        reference = extract(page, items=items)
        pairs.append(
            Pair(
                page=path.name,
                selector=spec,
                region=tuple(i.text for i in region.items),
                whole=tuple(i.text for i in reference.items),
                region_keys=keys(region),
                whole_keys=keys(reference),
            )
        )
    return tuple(pairs), tried, len(REAL)


def test_real_pages_region_items_equal_the_whole_pages_nearly_always() -> None:
    pairs, tried, pages = real_pairs()
    assert pages == 25
    on_pages = {p.page for p in pairs}
    assert tried >= 2000
    assert len(pairs) >= 1000, f"only {len(pairs)} of {tried} pairs took the region path"
    assert len(on_pages) >= 20
    differing = [p for p in pairs if not p.agrees]
    summary = Counter(p.kind for p in differing)
    # A few may differ (a line in an HTML comment, a container cut by the margin): their keys
    # differ too (next test), so the pipeline reads those pages whole.
    assert len(differing) * 100 <= len(pairs), (
        f"{len(differing)} of {len(pairs)} region readings differ from the whole page "
        f"({dict(summary)}), e.g.:\n" + "\n".join(p.describe() for p in differing[:12])
    )


def test_real_pages_disagreements_are_detectable_by_their_keys() -> None:
    """Where the region and the whole page disagree, their keys differ: read_page, which
    trusts the region only when its keys are the expected ones, reads the page whole."""
    pairs, _, _ = real_pairs()
    differing = [p for p in pairs if not p.agrees]
    undetectable = [p for p in differing if p.region_keys == p.whole_keys]
    assert not undetectable, "\n".join(p.describe() for p in undetectable[:12])


def test_real_pages_region_never_shows_a_subset_of_the_whole_pages_lines() -> None:
    """A region holding only genuine lines but missing some would be trusted by read_page
    whenever the missing ones are the new ones (the page showed the others last time)."""
    pairs, _, _ = real_pairs()
    hiding = [p for p in pairs if p.region_keys < p.whole_keys]
    assert not hiding, (
        f"{len(hiding)} (page, selector) pairs: the region misses lines of the whole page, e.g.:\n"
        + "\n".join(p.describe() for p in hiding[:12])
    )


Lines = frozenset[tuple[str, str, str | None]]


@functools.cache
def real_prefix_pairs() -> tuple[tuple[str, str, Lines, Lines], ...]:
    """Every (page, generated selector) pair read up to past its ticker: (page, selector, the
    lines it shows, the whole page's lines), lines as (key, text, link)."""
    out = []
    for path, body, page, spec, items in real_selectors():
        head = extract_prefix(body, items=items)
        if head is None:
            continue
        assert head.prefix is True
        out.append((path.name, spec, lines_of(head), lines_of(extract(page, items=items))))
    return tuple(out)


def lines_of(extraction: Extraction) -> Lines:
    return frozenset((k, i.text, i.link) for k, i in keyed(extraction.items).items())


def test_real_pages_read_up_to_their_ticker_show_only_the_whole_pages_lines() -> None:
    """A read from the page's start to past its ticker may find new lines, so it must never
    show a line the whole page does not (nor another text or link for one); it may miss
    lines only in the rare case of an item the anchors cannot see, and then rarely."""
    pairs = real_prefix_pairs()
    assert len(pairs) >= 1000, f"only {len(pairs)} pairs were read up to their ticker"
    assert len({page for page, *_ in pairs}) >= 20
    invented = [(page, sel, head - whole) for page, sel, head, whole in pairs if head - whole]
    assert not invented, invented[:5]
    missing = [(page, sel) for page, sel, head, whole in pairs if head != whole]
    assert len(missing) * 100 <= len(pairs), missing[:12]


@pytest.mark.parametrize("canary", [None, EN_CANARY], ids=["no-canary", "canary"])
@pytest.mark.parametrize("name", list(HOSTILE))
def test_a_hostile_page_read_up_to_its_ticker_shows_only_the_whole_pages_lines(
    tmp_path: Path, name: str, canary: str | None
) -> None:
    """The hostile pages, made long enough after their ticker for a read up to it to pay."""
    body = HOSTILE[name]
    raw = body.encode() if isinstance(body, str) else body
    filler = b"<section>" + b"<p>more news below the ticker</p>" * 1000 + b"</section>"
    raw = raw.replace(b"</body>", filler + b"</body>") if b"</body>" in raw else raw + filler
    source = source_config(tmp_path, canary=canary)
    result = fetched(raw)
    whole = read_page(source, result).extraction
    head = read_page(source, result, prefix=True).extraction
    assert lines_of(head) <= lines_of(whole), name
    if head.prefix:
        assert head.canary_found == whole.canary_found


def test_a_page_not_utf8_after_its_ticker_is_not_read_up_to_it(tmp_path: Path) -> None:
    """One byte that is not UTF-8 after the ticker (a footer's Latin-1 "©") sends the whole page
    through the charset chain, which reads every line otherwise: a read up to the ticker, all
    UTF-8, would show other lines (other keys, alerted again) and must not be used."""
    source = source_config(tmp_path, canary=None)
    lines = ["Café fermé à Genève", "Séisme au Japon"]
    filler = "<p>more news below the ticker</p>" * 1000
    page = en_page(lines).replace("</body>", filler + "<footer>(c) 2026</footer></body>")
    raw = page.encode().replace(b"(c)", b"\xa9")  # the footer's sign in Latin-1
    result = fetched(raw)
    whole = read_page(source, result).extraction
    head = read_page(source, result, prefix=True).extraction
    assert head.prefix is False
    assert lines_of(head) == lines_of(whole)
    # The same page all UTF-8 is read up to its ticker, with the same lines.
    clean = fetched(page.replace("(c)", "©").encode())
    assert read_page(source, clean, prefix=True).extraction.prefix is True
    assert lines_of(read_page(source, clean, prefix=True).extraction) == lines_of(
        read_page(source, clean).extraction
    )


def test_a_text_item_cut_at_the_end_of_a_read_up_to_its_ticker_is_not_taken(
    tmp_path: Path,
) -> None:
    """``::text`` items: the read ends at the first '>' 4 KB past the last anchor, here a '>' in
    the last item's text after an icon; the text cut there is not a line of the page."""
    icon = '<svg class="icon"><desc>' + "x" * 5000 + "</desc></svg>"
    body = (
        '<html><body><ul class="ticker">'
        '<li class="item"><span>LIVE</span>Markets calm in Asia</li>'
        f'<li class="item">{icon}<span>LIVE</span>Oil prices > forecasts as OPEC cuts output</li>'
        "</ul>" + "<p>More news below the ticker</p>" * 2000 + "</body></html>"
    )
    at = body.rfind('class="item"') + len('class="item')
    cut = body.index("Oil prices >") + len("Oil prices ")
    body = body.replace("x" * 5000, "x" * (5000 - (cut - at - REGION_MARGIN)), 1)
    cut = body.index("Oil prices >") + len("Oil prices ")
    at = body.rfind('class="item"') + len('class="item')
    assert body.find(">", at + REGION_MARGIN) == cut  # the read would end inside the text
    source = source_config(tmp_path, items="css:.ticker .item::text", canary=None)
    result = fetched(body.encode())
    whole = read_page(source, result).extraction
    head = read_page(source, result, prefix=True).extraction
    assert [i.text for i in whole.items][-1] == "Oil prices > forecasts as OPEC cuts output"
    assert lines_of(head) == lines_of(whole)


def spy_on_reads(monkeypatch: pytest.MonkeyPatch, name: str) -> list[bool]:
    """Each call of ``reading.<name>`` (``_region``, ``_prefix``): whether it read the page."""
    calls: list[bool] = []
    read = getattr(reading, name)

    def spy(*args: Any) -> Any:
        found = read(*args)
        calls.append(found is not None)
        return found

    monkeypatch.setattr(reading, name, spy)
    return calls


async def test_between_whole_reads_a_changed_page_is_read_up_to_its_ticker(
    page_server: PageServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After the baseline's whole read, a page with a new line is read from its start to just
    past its ticker, and the line is found; once the minute has passed, the page is read
    whole again."""
    heads = spy_on_reads(monkeypatch, "_prefix")
    filler = "<section>" + "<p>more news below the ticker</p>" * 1000 + "</section>"

    def page(lines: list[str]) -> bytes:
        return en_page(lines).replace("</body>", filler + "</body>").encode()

    polls, _ = await poll_pages(page_server, tmp_path, [page(LINES[2:]), page(LINES[1:])])
    assert [[r.item.text for r in p.new] for p in polls] == [[], [LINES[1]]]
    assert heads == [True]  # the baseline is read whole; the change up to its ticker
    monkeypatch.setattr(pipeline, "WHOLE_PAGE_EVERY", 0.0)  # the minute has passed
    heads.clear()
    again = tmp_path / "again"
    again.mkdir()
    polls, _ = await poll_pages(page_server, again, [page(LINES[2:]), page(LINES[1:])])
    assert [[r.item.text for r in p.new] for p in polls] == [[], [LINES[1]]]
    assert heads == []  # read whole: the prefix was not even tried


async def poll_twice(
    page_server: PageServer, tmp_path: Path, before: bytes, after: bytes, **page: object
) -> tuple[PollOutcome, PollOutcome, list[tuple[str, bool]]]:
    """Poll the served page as ``before`` (the baseline), then as ``after``; with each whole
    read of the page as (the thread it ran in, whether it was given the undecoded bytes)."""
    (first, second), reads = await poll_pages(page_server, tmp_path, [before, after], **page)
    return first, second, reads


async def poll_pages(
    page_server: PageServer, tmp_path: Path, bodies: Sequence[bytes], **page: object
) -> tuple[list[PollOutcome], list[tuple[str, bool]]]:
    """Poll the served page as each of ``bodies`` in turn (the first is the baseline)."""
    config = served_config(tmp_path, page_server.url("/en"))
    source = config.sources[0]
    reads: list[tuple[str, bool]] = []
    whole, prefix = reading._whole, reading._prefix

    def spy(source: SourceConfig, result: FetchResult, doc: str | bytes, **kw: Any) -> Any:
        reads.append((threading.current_thread().name, isinstance(doc, bytes)))
        return whole(source, result, doc, **kw)

    def prefix_spy(source: SourceConfig, result: FetchResult) -> Any:
        head = prefix(source, result)
        if head is not None:  # the page read from its start: as sent, like a whole read
            reads.append((threading.current_thread().name, True))
        return head

    outcomes = []
    store = SqliteStore.open(config.service.state)
    try:
        async with AiohttpFetcher(fetch_settings(config)) as fetcher:
            with pytest.MonkeyPatch.context() as mp:
                mp.setattr(reading, "_whole", spy)
                mp.setattr(reading, "_prefix", prefix_spy)
                for body in bodies:
                    page_server.set("/en", body, **page)
                    outcomes.append(await poll_source(source, fetcher=fetcher, store=store))
    finally:
        store.close()
    return outcomes, reads


@pytest.mark.parametrize("padding", [0, 600 * 1024])
async def test_a_page_is_read_the_same_on_the_loop_and_in_a_parser_thread(
    page_server: PageServer, tmp_path: Path, padding: int
) -> None:
    """UTF-8 pages up to PARSE_INLINE_BYTES are read on the event loop, bigger ones in a parser
    thread: either way the same lines, the same new line, and the big one off the loop."""
    pad = f"<!-- {'x' * padding} -->" if padding else ""

    def page(lines: list[str]) -> bytes:
        return en_page(lines).replace("</body>", pad + "</body>").encode()

    assert (len(page(LINES[1:])) > reading.PARSE_INLINE_BYTES) == bool(padding)
    first, second, reads = await poll_twice(page_server, tmp_path, page(LINES[1:]), page(LINES))
    assert (first.status, first.baseline, first.items) == ("ok", True, len(LINES) - 1)
    assert (second.status, second.items) == ("ok", len(LINES))
    assert [r.item.text for r in second.new] == [LINES[0]]
    on_loop = threading.current_thread().name
    assert len(reads) == 2
    assert all((thread != on_loop) == bool(padding) for thread, _ in reads), reads


@pytest.mark.parametrize("padding", [0, 600 * 1024])
async def test_a_big_page_s_region_is_read_off_the_loop(
    page_server: PageServer, tmp_path: Path, padding: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A region may be up to half its page: a page over PARSE_INLINE_BYTES has its region read in
    a parser thread too; a usual page's region, on the loop."""
    regions: list[str] = []
    region = reading._region

    def spy(*args: Any) -> Any:
        regions.append(threading.current_thread().name)
        return region(*args)

    monkeypatch.setattr(reading, "_region", spy)

    def page(filler: str) -> bytes:  # the same lines, another body (ads, tokens)
        pad = f"<!-- {filler * max(padding, 1)} -->"
        return en_page(LINES).replace("</body>", pad + "</body>").encode()

    # The page after the baseline is read whole (lines just recorded are confirmed by a whole
    # read first); the one after that, by its region.
    polls, _ = await poll_pages(page_server, tmp_path, [page("x"), page("y"), page("z")])
    assert [(p.baseline, p.status, p.new) for p in polls] == [
        (True, "ok", ()),
        (False, "ok", ()),
        (False, "ok", ()),
    ]
    on_loop = threading.current_thread().name
    assert len(regions) == 1
    assert (regions[0] != on_loop) == bool(padding), regions


async def test_a_ticker_that_moves_at_every_change_of_its_page_is_never_read_by_its_region(
    page_server: PageServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Lines just recorded are confirmed by a read of the page before the region may: a busy
    ticker (a new line at every change of the page) is read once each time, without a region
    read that could only find the new line and send it to a read of the page anyway."""
    regions = spy_on_reads(monkeypatch, "_region")
    lines = [f"Line {k}: strikes reported in district {k} of the city" for k in range(8)]
    bodies = [en_page(lines[k : k + 4]).encode() for k in (4, 3, 2, 1, 0)]
    polls, reads = await poll_pages(page_server, tmp_path, bodies)
    assert [len(p.new) for p in polls] == [0, 1, 1, 1, 1]
    assert [r.item.text for p in polls for r in p.new] == lines[3::-1]
    assert regions == []  # never tried: each change showed a new line
    assert len(reads) == len(bodies)


async def test_a_page_that_needs_the_charset_chain_is_decoded_off_the_loop(
    page_server: PageServer, tmp_path: Path
) -> None:
    """A small page in windows-1256 (said in its meta, not its header): libxml2 refuses it as
    UTF-8 on the loop, and the charset chain (detection, decode, a second parse: tens of ms)
    runs in a parser thread. Its Arabic line is read right."""
    arabic = "عاجل: غارات على جنوب لبنان"

    def page(lines: list[str]) -> bytes:
        html = en_page(lines).replace('<meta charset="utf-8">', '<meta charset="windows-1256">')
        return html.encode("cp1256", errors="replace")

    before, after = page(LINES[1:]), page([arabic, *LINES[1:]])
    first, second, reads = await poll_twice(page_server, tmp_path, before, after, charset=None)
    assert (first.status, first.baseline) == ("ok", True)
    assert [r.item.text for r in second.new] == [arabic]
    on_loop = threading.current_thread().name
    # Each poll: the bytes tried on the loop, then the decoded text in a parser thread.
    assert [(thread == on_loop, raw) for thread, raw in reads] == [
        (True, True),
        (False, False),
        (True, True),
        (False, False),
    ], reads
