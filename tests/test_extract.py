"""Extraction: a saved page and selectors in, the ticker's lines (and links) out."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from shared_data import need, shared_files

from ticker.decode import decode_body
from ticker.errors import ExtractError
from ticker.extract import absolute_link, compile_selector, extract, parse_page

DATA = Path(__file__).parent / "data"

EN_LINES = [
    "Gaza Ministry of Health: Direct threats to residential areas surrounding hospitals are "
    "part of “Israel’s” systematic plan targeting the healthcare system",
    "Gaza Ministry of Health: We renew our urgent appeal to the relevant authorities to "
    "intervene and protect healthcare institutions",
    "Gaza Ministry of Health: We warn against reaching the point of a complete collapse of the "
    "healthcare system in the southern part of the Strip",
    "Gaza Health Ministry: Nasser Medical Complex in Khan Younis going out of service would lead "
    "to a humanitarian disaster with unpredictable consequences",
    "Palestinian sources: Several displaced Palestinians were reportedly injured after being "
    "targeted by occupation forces while waiting for aid west of Rafah",
    "Israeli media: A senior European Union official hinted that 'Israel' would be held "
    "accountable for violating international law in Gaza",
    "Al-Qassam Brigades spokesperson Abu Obeida: The losses incurred by the occupation today in "
    "Khan Younis and Jabalia are an extension of a series of top-tier operations",
    "Al Mayadeen's correspondent in South Lebanon: The invading Israeli force is digging a "
    "trench and erecting earthen berms, amid detected activity suggesting preparations to "
    "install espionage equipment",
    "Al Mayadeen's correspondent in South Lebanon: An Israeli force breaches the “technical "
    "fence” in the Wazzani area",
    "Israeli media: 4 Israeli soldiers killed in the Gaza Strip",
]

AR_LINES = [
    "وزارة الصحة في غزة: التهديدات المباشرة للمناطق السكنية المحيطة بالمستشفيات جزء من خطة "
    "ممنهجة تستهدف المنظومة الصحية",
    "وزارة الصحة في غزة: نجدد مناشدتنا العاجلة للجهات المعنية للتدخل وحماية المؤسسات الصحية",
    "مصادر فلسطينية: إصابة عدد من النازحين باستهداف قوات الاحتلال لهم أثناء انتظارهم المساعدات "
    "غرب رفح",
    'مراسل الميادين في جنوب لبنان: قوة إسرائيلية تخترق "السياج التقني" في منطقة الوزاني',
    "الإعلام الإسرائيلي: مقتل 4 جنود إسرائيليين في قطاع غزة",
]
AR_BASE = "https://www.almayadeen.net/"
AR_LINKS = [f"https://www.almayadeen.net/news/urgent/{1000 + i}" for i in range(5)]

# Lines that sit elsewhere on the English page (menus, "Most Read", "Read Next", footer).
NOT_TICKER = ["Most Read", "Morgan Ortagus", "Politics", "Privacy Policy", "Read Next"]


@dataclass(frozen=True)
class Case:
    """One row of the extraction table: a page, selectors, and exactly what must come out."""

    name: str
    page: str  # a file in tests/data, or literal text when it does not end in .html/.json
    items: str
    lines: list[str]
    text: str | None = None
    link: str | None = None
    links: list[str | None] | None = None
    base_url: str = ""
    is_json: bool = False

    def body(self) -> str:
        if self.page.endswith((".html", ".json")):
            return (DATA / self.page).read_text("utf-8")
        return self.page


TICKER_JSON = json.dumps(
    {
        "ticker": [
            {"title": "Sirens sound in Kiryat Shmona", "url": "/news/1"},
            {"title": "  عاجل: غارة على   الضاحية ", "url": "https://other.example/2"},
            {"title": "No link here"},
            {"title": "", "url": "/news/empty"},
            {"title": "Script link", "url": "javascript:alert(1)"},
        ],
        "plain": ["one", "two", 3],
    },
    ensure_ascii=False,
)

CASES = [
    Case("english css", "almayadeen-en.html", "css:.ticker__item", EN_LINES),
    Case("english css, descendant form", "almayadeen-en.html", "css:.ticker > div", EN_LINES),
    Case(
        "english xpath",
        "almayadeen-en.html",
        'xpath://div[@class="ticker"]/div[@class="ticker__item"]',
        EN_LINES,
    ),
    Case(
        "english xpath text()",
        "almayadeen-en.html",
        'xpath://div[contains(@class, "ticker__item")]',
        EN_LINES,
        text="xpath:./text()",
    ),
    Case(
        "arabic profile selectors",
        "almayadeen-ar.html",
        "css:#ticker-box ul li .ticker-item .ticker-text",
        AR_LINES,
        text="css:a p",
        link="css:a::attr(href)",
        links=AR_LINKS,
        base_url=AR_BASE,
    ),
    Case(
        "arabic xpath",
        "almayadeen-ar.html",
        'xpath://div[@id="ticker-box"]//div[@class="ticker-text"]',
        AR_LINES,
        text="xpath:.//a/p",
        link="xpath:.//a/@href",
        links=AR_LINKS,
        base_url=AR_BASE,
    ),
    Case(
        "arabic whole item text without the time",
        "almayadeen-ar.html",
        "css:#ticker-box .ticker-item",
        AR_LINES,
        text="css:.ticker-text",
        link="css:a::attr(href)",
        links=AR_LINKS,
        base_url=AR_BASE,
    ),
    Case(
        "jmespath text and link",
        TICKER_JSON,
        "jmespath:ticker",
        [
            "Sirens sound in Kiryat Shmona",
            "عاجل: غارة على الضاحية",
            "No link here",
            "Script link",
        ],
        text="jmespath:title",
        link="jmespath:url",
        links=["https://example.com/news/1", "https://other.example/2", None, None],
        base_url="https://example.com/api/ticker.json",
        is_json=True,
    ),
    Case(
        "jmespath projection",
        TICKER_JSON,
        "jmespath:ticker[*].title",
        ["Sirens sound in Kiryat Shmona", "عاجل: غارة على الضاحية", "No link here", "Script link"],
        is_json=True,
    ),
    Case("jmespath scalars", TICKER_JSON, "jmespath:plain", ["one", "two", "3"], is_json=True),
    Case("jmespath nothing", TICKER_JSON, "jmespath:missing", [], is_json=True),
    Case("css selector matching nothing", "almayadeen-en.html", "css:.no-such-ticker li", []),
    Case("xpath selector matching nothing", "almayadeen-ar.html", "xpath://marquee//a", []),
    Case("css on a JSON page finds nothing", TICKER_JSON, "css:li", []),
    Case("jmespath on an HTML page finds nothing", "almayadeen-en.html", "jmespath:ticker", []),
    Case("empty page", "", "css:li", []),
    Case(
        "script and style are not text",
        '<div class="t">Hello <script>var x = "no";</script><style>.a{color:red}</style>'
        "<b>world</b><noscript></noscript></div>",
        "css:.t",
        ["Hello world"],
    ),
    Case(
        "whitespace-only items are skipped, duplicates kept",
        "<ul><li> one </li><li>   </li><li>\n\t</li><li>one</li><li>two\n  lines</li></ul>",
        "css:li",
        ["one", "one", "two lines"],
    ),
    Case(
        "links resolved against the page, javascript: and empty links dropped",
        '<ul><li><a href="/a?x=1">A</a></li><li><a href="javascript:void(0)">B</a></li>'
        '<li><a href="">C</a></li><li><a href="https://cdn.example/d">D</a></li>'
        '<li><a href="mailto:desk@example.com">E</a></li><li><a href="../f">F</a></li>'
        '<li><a href="//other.example/g">G</a></li><li>H</li></ul>',
        "css:li",
        ["A", "B", "C", "D", "E", "F", "G", "H"],
        link="css:a::attr(href)",
        links=[
            "https://site.example/a?x=1",
            None,
            None,
            "https://cdn.example/d",
            None,
            "https://site.example/f",
            "https://other.example/g",
            None,
        ],
        base_url="https://site.example/news/",
    ),
    Case(
        "control characters and bidi overrides are removed, text otherwise intact",
        "<p>Flash\u202e: \x07Gaza\u00a0\u200fnews — “quoted” é</p>",
        "css:p",
        ["Flash: Gaza \u200fnews — “quoted” é"],
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_extraction_table(case: Case) -> None:
    page = parse_page(case.body(), is_json=case.is_json)
    result = extract(
        page,
        items=compile_selector(case.items),
        text=compile_selector(case.text) if case.text else None,
        link=compile_selector(case.link) if case.link else None,
        base_url=case.base_url,
    )
    assert [i.text for i in result.items] == case.lines
    if case.links is not None:
        assert [i.link for i in result.items] == case.links
    elif case.link is None:
        assert all(i.link is None for i in result.items)


def test_english_ticker_is_exactly_the_ten_lines_and_nothing_else() -> None:
    page = parse_page((DATA / "almayadeen-en.html").read_text("utf-8"), is_json=False)
    result = extract(page, items=compile_selector("css:.ticker__item"))
    texts = [i.text for i in result.items]
    assert len(texts) == 10
    assert result.matched == 10
    for text in texts:
        for other in NOT_TICKER:
            assert other not in text


def test_arabic_text_comes_through_intact() -> None:
    page = parse_page((DATA / "almayadeen-ar.html").read_text("utf-8"), is_json=False)
    result = extract(
        page,
        items=compile_selector("css:#ticker-box ul li .ticker-item .ticker-text"),
        text=compile_selector("css:a p"),
        link=compile_selector("css:a::attr(href)"),
        base_url=AR_BASE,
    )
    assert len(result.items) == 5
    for item in result.items:
        assert any("\u0600" <= ch <= "\u06ff" for ch in item.text)
        assert item.link is not None
        assert item.link.startswith("https://www.almayadeen.net/news/urgent/")


def test_canary_reports_whether_the_layout_is_still_there() -> None:
    page = parse_page((DATA / "almayadeen-en.html").read_text("utf-8"), is_json=False)
    items = compile_selector("css:.ticker__item")
    assert extract(page, items=items).canary_found is None
    assert extract(page, items=items, canary=compile_selector("css:.ticker")).canary_found is True
    found = extract(page, items=items, canary=compile_selector("css:#gone")).canary_found
    assert found is False


# -- errors and bounds -----------------------------------------------------------------------


@pytest.mark.parametrize("body", ["<html><body>not json</body></html>", "", "{'a': 1}", "[1,"])
def test_invalid_json_on_a_json_source_is_an_extract_error(body: str) -> None:
    with pytest.raises(ExtractError, match="not valid JSON"):
        parse_page(body, is_json=True)


def test_a_selector_matching_nothing_is_zero_items_not_an_error() -> None:
    page = parse_page("<html><body><p>quiet day</p></body></html>", is_json=False)
    result = extract(page, items=compile_selector("css:.ticker li"))
    assert result.items == ()
    assert result.matched == 0


def test_ten_thousand_matches_are_capped_at_max_items() -> None:
    html = "<ul>" + "".join(f"<li>line {i}</li>" for i in range(10_000)) + "</ul>"
    page = parse_page(html, is_json=False)
    items = compile_selector("css:li")
    capped = extract(page, items=items)
    assert len(capped.items) == 200  # the default bound
    assert capped.matched == 10_000
    assert capped.items[0].text == "line 0"
    assert capped.items[-1].text == "line 199"
    assert len(extract(page, items=items, max_items=7).items) == 7


def test_a_megabyte_text_node_is_truncated_to_max_chars() -> None:
    html = "<div class='t'>" + "x" * 1_000_000 + "</div><div class='t'>short</div>"
    page = parse_page(html, is_json=False)
    result = extract(page, items=compile_selector("css:.t"))
    assert len(result.items[0].text) == 1000
    assert result.items[0].text.endswith("…")
    assert result.items[1].text == "short"
    smaller = extract(page, items=compile_selector("css:.t"), max_chars=50)
    assert len(smaller.items[0].text) == 50


def test_a_huge_json_array_is_bounded_too() -> None:
    body = json.dumps({"t": [f"item {i}" for i in range(10_000)]})
    result = extract(parse_page(body, is_json=True), items=compile_selector("jmespath:t"))
    assert len(result.items) == 200
    assert result.matched == 10_000


# -- selectors and links ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "kind", "expr"),
    [
        ("css:.ticker li", "css", ".ticker li"),
        (".ticker li", "css", ".ticker li"),
        ("a:hover", "css", "a:hover"),
        ("xpath://li", "xpath", "//li"),
        ("jmespath:items[*].title", "jmespath", "items[*].title"),
        ("css:  .t  ", "css", ".t"),
    ],
)
def test_compile_selector_kinds(spec: str, kind: str, expr: str) -> None:
    sel = compile_selector(spec)
    assert (sel.kind, sel.expr) == (kind, expr)
    assert str(sel) == f"{kind}:{expr}"
    assert (sel.xpath is None) == (kind == "jmespath")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("css:div[", "invalid CSS selector"),
        ("xpath://div[", "invalid XPath expression"),
        ("xpath:", "empty xpath selector"),
        ("jmespath:a[", "invalid JMESPath expression"),
    ],
)
def test_compile_selector_rejects_bad_selectors(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        compile_selector(spec)


@pytest.mark.parametrize(
    ("href", "base", "expected"),
    [
        ("/a", "https://e.com/x/", "https://e.com/a"),
        ("b", "https://e.com/x/", "https://e.com/x/b"),
        ("  https://o.com/c  ", "https://e.com/", "https://o.com/c"),
        ("javascript:void(0)", "https://e.com/", None),
        ("JavaScript:alert(1)", "https://e.com/", None),
        ("data:text/html,hi", "https://e.com/", None),
        ("mailto:a@b.c", "https://e.com/", None),
        ("/a", "", "/a"),
    ],
)
def test_absolute_link(href: str, base: str, expected: str | None) -> None:
    assert absolute_link(href, base) == expected


# -- real pages ------------------------------------------------------------------------------

REAL = shared_files("realpages")


@pytest.mark.parametrize("path", REAL, ids=[p.name for p in REAL])
def test_real_pages_extract_headlines_and_absolute_links(path: Path) -> None:
    decoded = decode_body(need(path).read_bytes(), header_charset=None)
    page = parse_page(decoded.text, is_json=False)
    base = f"https://{path.name.split('-')[0]}/"

    headlines = extract(page, items=compile_selector("css:h1, h2, h3"))
    assert headlines.items, "no headline found"
    assert all(i.text and len(i.text) <= 1000 for i in headlines.items)

    anchors = extract(
        page,
        items=compile_selector("css:a"),
        link=compile_selector("css:a::attr(href)"),
        base_url=base,
    )
    assert anchors.items, "no link text found"
    assert len(anchors.items) <= 200
    for item in anchors.items:
        assert item.link is None or item.link.startswith(("http://", "https://")), item.link
