"""``ticker discover``'s pure core: the static pass and the in-page script pass, on real saved
pages (accuracy as figures) and on small pages made to show one behaviour each."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from shared_data import SHARED, need, shared_files

from ticker.discover import (
    Candidate,
    discover,
    endpoint_hints,
    judge_body,
    script_bundles,
)
from ticker.discover.lines import comparable
from ticker.discover.markup import usable
from ticker.extract import compile_selector, embedded_page, extract, parse_page

TICKERPAGES = SHARED / "tickerpages"
EXPECTED = TICKERPAGES / "expected.json"


def _entries() -> list[dict[str, object]]:
    return json.loads(need(EXPECTED).read_text("utf-8"))  # type: ignore[no-any-return]


def _reads(page: str, cand: Candidate, base_url: str) -> tuple[str, ...]:
    """The lines ticker's own extraction reads with a candidate's selectors."""
    if cand.kind == "json":
        pytest.skip("embedded JSON is read from its script, not the page")
    result = extract(
        parse_page(page, is_json=False),
        items=compile_selector(cand.items),
        text=compile_selector(cand.text) if cand.text else None,
        link=compile_selector(cand.link) if cand.link else None,
        canary=compile_selector(cand.canary) if cand.canary else None,
        base_url=base_url,
    )
    assert result.canary_found in (None, True)
    return tuple(i.text for i in result.items)


# -- real pages: accuracy as figures ----------------------------------------------------------


def test_the_best_candidate_is_the_ticker_on_at_least_90_percent_of_positives() -> None:
    positives = [e for e in _entries() if e["ticker_lines"]]
    found = 0
    for e in positives:
        page = (TICKERPAGES / str(e["file"])).read_text("utf-8")
        cands = discover(page, str(e["url"]))
        want = {comparable(x) for x in e["ticker_lines"]}  # type: ignore[attr-defined]
        if cands and cands[0].proposed and any(comparable(x) in want for x in cands[0].lines):
            found += 1
    assert len(positives) == 16
    assert found / len(positives) >= 0.9, f"{found} of {len(positives)}"


def test_no_candidate_is_proposed_on_at_least_90_percent_of_negatives() -> None:
    pages = [TICKERPAGES / str(e["file"]) for e in _entries() if not e["ticker_lines"]]
    real = [p for p in shared_files("realpages") if not p.name.startswith("mercurynews")]
    clean = 0
    for path in [*pages, *real]:
        cands = discover(need(path).read_text("utf-8", errors="replace"), "https://example.org/")
        clean += not (cands and cands[0].proposed)
    assert len(pages) + len(real) == 30
    assert clean / (len(pages) + len(real)) >= 0.9, f"{clean} of {len(pages) + len(real)}"


def test_the_one_real_page_with_a_breaking_banner_has_it_proposed() -> None:
    """realpages/README.md: only mercurynews holds a ticker, a one-line breaking banner."""
    path = need(SHARED / "realpages" / "mercurynews.com.2023.01.16.letters-1119.html")
    cands = discover(path.read_text("utf-8"), "https://www.mercurynews.com/")
    assert cands[0].proposed
    assert "breaking" in cands[0].items
    assert len(cands[0].lines) == 1


@pytest.mark.parametrize("name", ["08-mediaindonesia.html", "17-ansa-it.html", "19-kiow.html"])
def test_every_candidate_reproduces_its_lines_through_tickers_extraction(name: str) -> None:
    e = next(x for x in _entries() if x["file"] == name)
    page = (TICKERPAGES / name).read_text("utf-8")
    cands = [c for c in discover(page, str(e["url"])) if c.kind == "html"]
    assert cands
    for cand in cands:
        assert _reads(page, cand, str(e["url"])) == cand.lines


def test_expect_pins_the_ticker_that_holds_the_line() -> None:
    e = next(x for x in _entries() if x["file"] == "15-jpost.html")
    page = (TICKERPAGES / "15-jpost.html").read_text("utf-8")
    last = e["ticker_lines"][-1]  # type: ignore[index]
    cands = discover(page, str(e["url"]), expect=[last])
    assert cands[0].confidence >= 0.95
    assert last in cands[0].lines


# -- small pages -----------------------------------------------------------------------------

HEADLINES = [
    "Earthquake of magnitude 6.1 strikes off the northern coast",
    "Parliament passes the budget after a night-long session",
    "Central bank holds interest rates for the third month",
    "Floods close the main highway between the two cities",
]


def _page(body: str) -> str:
    return f"<html><head><title>t</title></head><body>{body}</body></html>"


def _menu() -> str:
    items = "".join(
        f'<li><a href="/{w}">{w}</a></li>' for w in ("World", "Sport", "Business", "Tech")
    )
    return f'<nav class="main-menu"><ul class="menu">{items}</ul></nav>'


def _ticker(cls: str = "news-ticker", item_cls: str = "ticker-item") -> str:
    items = "".join(
        f'<li class="{item_cls}"><a href="/n/{i}">{h}</a></li>' for i, h in enumerate(HEADLINES)
    )
    return f'<div class="{cls}"><span class="label">Breaking</span><ul>{items}</ul></div>'


def test_a_ticker_is_proposed_and_a_menu_is_not() -> None:
    page = _page(_menu() + _ticker() + "<main><p>An article.</p></main>")
    cands = discover(page, "https://example.org/")
    assert cands[0].proposed
    assert list(cands[0].lines) == HEADLINES
    assert cands[0].link is not None
    assert all(not c.proposed for c in cands[1:])
    assert _reads(page, cands[0], "https://example.org/") == cands[0].lines


def test_a_page_with_only_a_menu_and_a_most_read_list_proposes_nothing() -> None:
    ranking = "".join(f"<li><a href='/r/{i}'>{h}</a></li>" for i, h in enumerate(HEADLINES))
    page = _page(_menu() + f'<div class="most-read"><h3>Most read</h3><ol>{ranking}</ol></div>')
    assert all(not c.proposed for c in discover(page, "https://example.org/"))


def test_generated_class_names_are_never_in_a_selector() -> None:
    items = "".join(
        f'<li class="css-1x2y3z sc-abc123 ticker-item"><a href="/{i}">{h}</a></li>'
        for i, h in enumerate(HEADLINES)
    )
    page = _page(f'<div class="css-9q8w7e ticker"><ul class="sc-xyz987">{items}</ul></div>')
    cands = discover(page, "https://example.org/")
    assert cands[0].proposed
    for cand in cands:
        for spec in (cand.items, cand.text, cand.link, cand.canary):
            if spec:
                compile_selector(spec)
                assert "css-" not in spec
                assert "sc-" not in spec
                assert "nth-" not in spec
    assert not usable("css-1x2y3z")
    assert not usable("sc-abc123")
    assert usable("ticker-item")


def test_a_single_breaking_banner_is_proposed() -> None:
    banner = (
        '<section class="breaking-banner"><span>Breaking news</span>'
        f'<h2 class="banner-title"><a href="/b">{HEADLINES[0]}</a></h2>'
        "<button>Dismiss</button></section>"
    )
    cands = discover(_page(banner + _menu()), "https://example.org/")
    assert cands[0].proposed
    assert cands[0].lines == (HEADLINES[0],)


def test_an_empty_ticker_template_is_no_ticker() -> None:
    page = _page('<template class="breaking-news"><span class="ticker-text"></span></template>')
    assert discover(page, "https://example.org/") == []


def test_expect_pins_a_list_nothing_else_would_propose() -> None:
    items = "".join(f"<div class='row'><p>{h}</p></div>" for h in HEADLINES)
    page = _page(f'<div id="stream">{items}</div>' + _menu())
    cands = discover(page, "https://example.org/", expect=[HEADLINES[2]])
    assert cands[0].confidence >= 0.95
    assert HEADLINES[2] in cands[0].lines
    assert _reads(page, cands[0], "https://example.org/") == cands[0].lines


def test_ticker_lines_in_next_data_become_a_jmespath_candidate() -> None:
    data = {
        "props": {
            "pageProps": {
                "breakingNews": [{"title": h, "url": f"/n/{i}"} for i, h in enumerate(HEADLINES)]
            }
        }
    }
    page = _page(f'<script id="__NEXT_DATA__" type="application/json">{json.dumps(data)}</script>')
    cands = discover(page, "https://example.org/")
    best = cands[0]
    assert best.kind == "json"
    assert best.proposed
    assert best.items == "jmespath:props.pageProps.breakingNews"
    assert best.text == "jmespath:title"
    assert list(best.lines) == HEADLINES
    assert best.as_json()["json_in"] == "css:script#__NEXT_DATA__"
    # The same selectors, run by ticker's extraction on the script's JSON (as a source with
    # json_in reads it), read the lines.
    result = extract(
        embedded_page(parse_page(page, is_json=False), compile_selector(best.embedded), None),
        items=compile_selector(best.items),
        text=compile_selector(best.text),
    )
    assert tuple(i.text for i in result.items) == best.lines


def test_a_window_state_assignment_is_read() -> None:
    state = {"ticker": {"items": [{"headline": h} for h in HEADLINES]}}
    page = _page(f"<script>window.__STATE__ = {json.dumps(state)};</script>")
    best = discover(page, "https://example.org/")[0]
    assert best.kind == "json"
    assert best.variable == "window.__STATE__"
    assert list(best.lines) == HEADLINES
    assert best.embedded is not None
    assert best.text is not None
    result = extract(
        embedded_page(
            parse_page(page, is_json=False), compile_selector(best.embedded), best.variable
        ),
        items=compile_selector(best.items),
        text=compile_selector(best.text),
    )
    assert tuple(i.text for i in result.items) == best.lines


def test_as_json_has_the_fields_of_the_product() -> None:
    cand = discover(_page(_ticker()), "https://example.org/")[0]
    assert set(cand.as_json()) == {"items", "text", "link", "canary", "lines", "confidence", "kind"}
    assert 0.0 <= cand.as_json()["confidence"] <= 1.0


def test_a_hostile_huge_page_is_read_within_bounds() -> None:
    """5 MB of ticker-named items and deep nesting: bounded, and an answer comes back."""
    item = '<li class="ticker-item"><a href="/x">' + "Word " * 8 + "</a></li>"
    page = _page('<div class="ticker"><ul>' + item * 60_000 + "</ul></div>" + "<div>" * 5000)
    assert len(page) > 5_000_000
    cands = discover(page, "https://example.org/")
    assert all(len(c.lines) <= 200 for c in cands)


def test_not_html_at_all_finds_nothing() -> None:
    assert discover("\x00\x01 binary \xff", "https://example.org/") == []
    assert discover("", "https://example.org/") == []


def test_endpoint_hints_name_api_urls_of_inline_scripts() -> None:
    script = (
        "<script>fetch('/api/breaking.json'); var u = 'https://cdn.example.org/app.js';"
        " var g = \"https:\\/\\/example.org\\/graphql\"; var p = '/about';</script>"
        '<script src="/static/main.js"></script><script src="https://other.net/x.js"></script>'
    )
    hints = endpoint_hints(_page(script), "https://example.org/news/")
    assert "https://example.org/api/breaking.json" in hints
    assert "https://example.org/graphql" in hints
    assert all(not h.endswith(".js") and not h.endswith("/about") for h in hints)
    assert script_bundles(_page(script), "https://example.org/") == [
        "https://example.org/static/main.js"
    ]


def test_judge_body_finds_a_ticker_like_list_or_the_expected_text() -> None:
    body = json.dumps(
        {"data": {"tvBreakingNews": [{"title": h, "id": i} for i, h in enumerate(HEADLINES)]}}
    )
    found = judge_body(body, "application/json", ())
    assert found is not None
    assert list(found.lines) == HEADLINES
    assert found.items == "jmespath:data.tvBreakingNews"
    one = json.dumps({"alert": [{"text": HEADLINES[0]}]})
    assert judge_body(one, "application/json", ()) is None
    assert judge_body(one, "application/json", [HEADLINES[0]]) is not None
    assert judge_body("<html></html>", "text/html", ()) is None
    assert judge_body("{" * 100_000, "application/json", ()) is None


def test_the_shared_pages_are_where_the_tests_look(tmp_path: Path) -> None:
    assert need(EXPECTED).exists()
