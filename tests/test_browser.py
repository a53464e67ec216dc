"""The live page in a real browser (issue 7): Debian's headless Chromium driven by playwright.

``ticker run`` runs as a subprocess against the local page server (see test_live); the tests open
``/`` and watch it as a person would: lines appear at the top without a reload, Arabic lines run
right to left, filters narrow the list and live in the URL, page text stays text. Screenshots go
to ``artifacts/`` (gitignored). Skipped when /usr/bin/chromium or playwright is missing; no browser
is ever downloaded.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest
from conftest import PageServer, en_page
from test_live import (
    BASE,
    NEW,
    OTHER_BASE,
    REPO,
    Live,
    TickerProcess,
    source_toml,
    start_live_fixture,  # noqa: F401  (the fixture "start_live", used by name)
    ticker_processes_fixture,  # noqa: F401  (the fixture "ticker_processes", used by name)
)

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="no /usr/bin/chromium")
playwright_api = pytest.importorskip("playwright.async_api")

if TYPE_CHECKING:
    from playwright.async_api import Browser, BrowserContext, FloatRect, Page

ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = REPO / "artifacts"
ARABIC = "عاجل: مقتل 5 جنود في غزة"
ARABIC_2 = "عاجل: غارات إسرائيلية على جنوب لبنان"


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with playwright_api.async_playwright() as pw:
        chromium = await pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield chromium
        finally:
            await chromium.close()


@dataclass
class Watched:
    """What a page did that a person would not see: errors, dialogs, requests."""

    errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    loads: int = 0


async def open_page(
    browser: Browser, live: Live, path: str = "/", **context: Any
) -> tuple[BrowserContext, Page, Watched]:
    """A fresh context (``context`` options: color_scheme, viewport...) with ``path`` open and
    its first load of items and sources done."""
    ctx = await browser.new_context(
        **({"locale": "en-US", "timezone_id": "Asia/Beirut", "viewport": VIEW} | context)
    )
    page = await ctx.new_page()
    watched = Watched()

    async def on_dialog(dialog: Any) -> None:
        watched.dialogs.append(dialog.message)
        await dialog.dismiss()

    def on_load(_page: Any) -> None:
        watched.loads += 1

    page.on("dialog", on_dialog)
    page.on("pageerror", lambda exc: watched.errors.append(f"pageerror: {exc}"))
    page.on(
        "console",
        lambda msg: (
            watched.errors.append(f"console {msg.type}: {msg.text}")
            if msg.type in ("error", "warning")
            else None
        ),
    )
    page.on("request", lambda req: watched.requests.append(req.url))
    page.on("load", on_load)
    await page.goto(live.base + path)
    await page.wait_for_selector("#sources li", state="attached")  # folded away on a phone
    await page.wait_for_function(
        "() => !document.getElementById('empty').hidden"
        " || document.querySelectorAll('#items > li').length > 0"
    )
    await page.wait_for_selector("#live-dot.on")  # the stream is open
    return ctx, page, watched


VIEW = {"width": 1280, "height": 860}


async def texts(page: Page) -> list[str]:
    return await page.locator("#items > li .text").all_text_contents()


async def first_is(page: Page, text: str, within: float = 5.0) -> float:
    """Wait until ``text`` is the first item of the list; the seconds it took."""
    start = time.monotonic()
    await page.wait_for_function(
        "t => document.querySelector('#items > li .text')?.textContent === t",
        arg=text,
        timeout=within * 1000,
    )
    return time.monotonic() - start


async def wait_texts(page: Page, expected: list[str], within: float = 5.0) -> None:
    try:
        await page.wait_for_function(
            "want => JSON.stringify([...document.querySelectorAll('#items > li .text')]"
            ".map(e => e.textContent)) === JSON.stringify(want)",
            arg=expected,
            timeout=within * 1000,
        )
    except playwright_api.TimeoutError:
        pytest.fail(f"the list is {await texts(page)}, not {expected}")


def assert_clean(live: Live, watched: Watched) -> None:
    """No script errors or CSP violations, no dialog, nothing fetched from elsewhere."""
    assert watched.errors == []
    assert watched.dialogs == []
    elsewhere = [u for u in watched.requests if not u.startswith(live.base + "/")]
    assert elsewhere == []


# -- a line appears --------------------------------------------------------------------------


async def test_a_new_line_appears_at_the_top_without_a_reload(
    page_server: PageServer, start_live: Callable[..., Awaitable[Live]], browser: Browser
) -> None:
    page_server.set("/en", en_page(BASE))
    live = await start_live(source_toml("en", page_server.url("/en"), tags=("mena",)))
    ctx, page, watched = await open_page(browser, live)
    # The baseline-free page: the lines present at the first poll are not news.
    assert await page.is_visible("#empty")
    assert await texts(page) == []
    assert await page.locator("#sources li").all_inner_texts() != []
    await page.evaluate("window.__same_document = true")

    page_server.set("/en", en_page([NEW[0], *BASE]))
    took = await first_is(page, NEW[0])
    assert took < 5
    page_server.set("/en", en_page([NEW[1], NEW[0], *BASE]))
    await first_is(page, NEW[1])
    assert await texts(page) == [NEW[1], NEW[0]]
    assert not await page.is_visible("#empty")
    assert await page.evaluate("window.__same_document") is True  # no reload
    assert watched.loads == 1

    first = page.locator("#items > li").first
    assert await first.locator(".source").text_content() == "Source EN"
    assert await first.locator(".tags").text_content() == "#mena"
    assert "fresh" in (await first.get_attribute("class") or "")
    # First-seen time in UTC and the viewer's local time, to the second on hover.
    time_el = first.locator("time")
    stamp = await time_el.get_attribute("datetime") or ""
    assert stamp.endswith("Z")
    title = await time_el.get_attribute("title") or ""
    assert title == stamp.replace("T", " ").replace("Z", " UTC")
    assert_says_utc_and_local(await time_el.text_content() or "", stamp, "Asia/Beirut")
    assert_clean(live, watched)
    await ctx.close()


async def test_an_arabic_line_renders_right_to_left_beside_english_ones(
    page_server: PageServer, start_live: Callable[..., Awaitable[Live]], browser: Browser
) -> None:
    page_server.set("/en", en_page(BASE))
    live = await start_live(source_toml("en", page_server.url("/en")))
    ctx, page, watched = await open_page(browser, live)
    page_server.set("/en", en_page([NEW[0], *BASE]))
    await first_is(page, NEW[0])
    page_server.set("/en", en_page([ARABIC, NEW[0], *BASE]))
    await wait_texts(page, [ARABIC, NEW[0]])

    lines = page.locator("#items > li .text")
    arabic, english = lines.nth(0), lines.nth(1)
    assert await arabic.evaluate("el => el.matches(':dir(rtl)')") is True
    assert await english.evaluate("el => el.matches(':dir(ltr)')") is True
    assert await arabic.evaluate("el => getComputedStyle(el).direction") == "rtl"
    assert await english.evaluate("el => getComputedStyle(el).direction") == "ltr"
    # Laid out right to left: the line starts at the right edge, its first word right of its last.
    layout = await arabic.evaluate(
        """el => {
            const text = el.firstChild, range = document.createRange();
            range.setStart(text, 0); range.setEnd(text, 4);
            const first = range.getBoundingClientRect();
            range.setStart(text, text.length - 3); range.setEnd(text, text.length);
            const last = range.getBoundingClientRect();
            const box = el.getBoundingClientRect();
            return {first: first.left, last: last.left, right: box.right, end: first.right};
        }"""
    )
    assert layout["first"] > layout["last"], layout
    assert layout["right"] - layout["end"] < 2, layout
    assert_clean(live, watched)
    await ctx.close()


# -- filters ---------------------------------------------------------------------------------


async def test_a_filter_narrows_the_list_and_is_held_in_the_url(
    page_server: PageServer, start_live: Callable[..., Awaitable[Live]], browser: Browser
) -> None:
    tennis = "Tennis: the final is postponed by rain"
    page_server.set("/en", en_page(BASE))
    page_server.set("/other", en_page(OTHER_BASE))
    live = await start_live(
        source_toml("en", page_server.url("/en"), tags=("mena",))
        + source_toml("other", page_server.url("/other"), tags=("sport",))
    )
    shown = list(BASE)
    for text in NEW:  # one line a poll: the order of lines within one poll is not the point
        shown.insert(0, text)
        page_server.set("/en", en_page(shown))
        await live.recorded(text)
    page_server.set("/other", en_page([tennis, *OTHER_BASE]))
    await live.recorded(tennis)
    ctx, page, watched = await open_page(browser, live)
    assert sorted(await texts(page)) == sorted([*NEW, tennis])

    await page.fill("#f-q", "red SEA")  # text, in any case (not a regular expression)
    await wait_texts(page, [NEW[2]])
    assert parse_qs(urlsplit(page.url).query) == {"q": ["red SEA"]}

    # Live lines are filtered too: a matching one comes in, another does not.
    page_server.set("/en", en_page(["Sirens sound in the Red Sea port of Eilat", *NEW, *BASE]))
    page_server.set("/other", en_page(["Cycling: a new stage record", tennis, *OTHER_BASE]))
    await first_is(page, "Sirens sound in the Red Sea port of Eilat")
    await live.recorded("Cycling: a new stage record")
    await asyncio.sleep(0.5)
    assert await texts(page) == ["Sirens sound in the Red Sea port of Eilat", NEW[2]]

    await page.fill("#f-q", "")
    await page.select_option("#f-source", "other")
    await wait_texts(page, ["Cycling: a new stage record", tennis])
    assert parse_qs(urlsplit(page.url).query) == {"source": ["other"]}
    await page.select_option("#f-source", "")
    await page.select_option("#f-tag", "mena")
    await page.wait_for_function("() => location.search === '?tag=mena'")
    await wait_texts(page, ["Sirens sound in the Red Sea port of Eilat", *reversed(NEW)])

    # The URL is the view: opened again, it shows the same filters and the same list.
    await page.fill("#f-q", "an ISRAELI")
    await wait_texts(page, [NEW[1], NEW[0]])
    shared = page.url
    assert parse_qs(urlsplit(shared).query) == {"tag": ["mena"], "q": ["an ISRAELI"]}
    ctx2, again, _ = await open_page(browser, live, shared.removeprefix(live.base))
    await wait_texts(again, [NEW[1], NEW[0]])
    assert await again.input_value("#f-q") == "an ISRAELI"
    assert await again.input_value("#f-tag") == "mena"

    # A search the server refuses (too long) is said so, next to the filters.
    await again.fill("#f-q", "x" * 201)
    await again.wait_for_selector("#filter-error", state="visible")
    assert "q:" in (await again.text_content("#filter-error") or "")
    assert_clean(live, watched)
    await ctx.close()
    await ctx2.close()


async def test_a_filter_chosen_while_items_are_still_loading_is_applied(
    page_server: PageServer, start_live: Callable[..., Awaitable[Live]], browser: Browser
) -> None:
    """On a slow network a person picks a source, then types a search before the first answer
    is in: the list must end up showing what both filters select, as the URL says."""
    page_server.set("/en", en_page(BASE))
    page_server.set("/other", en_page(OTHER_BASE))
    live = await start_live(
        source_toml("en", page_server.url("/en")) + source_toml("other", page_server.url("/other"))
    )
    shown = list(BASE)
    for text in NEW:
        shown.insert(0, text)
        page_server.set("/en", en_page(shown))
        await live.recorded(text)
    ctx, page, watched = await open_page(browser, live)
    await wait_texts(page, list(reversed(NEW)))

    async def slow(route: Any) -> None:
        await asyncio.sleep(1.5)
        await route.continue_()

    await page.route("**/api/items*", slow)
    await page.select_option("#f-source", "en")
    await page.fill("#f-q", "Khiam")
    await page.wait_for_function("() => location.search === '?source=en&q=Khiam'")
    try:
        await wait_texts(page, [NEW[1]], within=6)
    finally:
        await page.unroute("**/api/items*")
    assert_clean(live, watched)
    await ctx.close()


async def test_scrolling_down_pages_back_through_older_items(
    page_server: PageServer, start_live: Callable[..., Awaitable[Live]], browser: Browser
) -> None:
    page_server.set("/en", en_page(BASE))
    live = await start_live(source_toml("en", page_server.url("/en")))
    older = [f"Bulletin {n}: the council meets again on day {n}" for n in range(60)]
    page_server.set("/en", en_page([*older, *BASE]))
    await live.recorded(older[0])
    ctx, page, watched = await open_page(browser, live)
    await wait_until_count(page, 50)  # the latest page only
    await page.locator("#more").scroll_into_view_if_needed()
    await wait_until_count(page, 60)
    ids = await page.eval_on_selector_all("#items > li", "els => els.map(e => +e.dataset.id)")
    assert ids == sorted(set(ids), reverse=True)
    assert sorted(await texts(page)) == sorted(older)
    assert_clean(live, watched)
    await ctx.close()


# -- page text is text -----------------------------------------------------------------------


HOSTILE = [
    "<img src=x onerror=alert(1)>",
    '<script>alert("two")</script> and a <b>bold</b> claim',
]


async def test_a_hostile_line_shows_as_text_and_runs_nothing(
    page_server: PageServer, start_live: Callable[..., Awaitable[Live]], browser: Browser
) -> None:
    page_server.set("/en", en_page(BASE))
    live = await start_live(source_toml("en", page_server.url("/en")))
    ctx, page, watched = await open_page(browser, live)
    escaped = [t.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;") for t in HOSTILE]
    page_server.set("/en", en_page([escaped[1], *BASE]))
    await first_is(page, HOSTILE[1])
    page_server.set("/en", en_page([escaped[0], escaped[1], *BASE]))
    await wait_texts(page, HOSTILE)
    await asyncio.sleep(0.5)  # time for an image error handler to have fired, were there one
    for tag in ("img", "script", "b"):
        assert await page.locator(f"#items {tag}").count() == 0, tag
    assert watched.dialogs == []
    assert not any(u.endswith("/x") for u in watched.requests)

    # The same after a reload, when the items come from /api/items rather than the stream.
    await page.reload()
    await wait_texts(page, HOSTILE)
    await asyncio.sleep(0.5)
    assert await page.locator("#items img, #items script, #items b").count() == 0
    assert_clean(live, watched)
    await ctx.close()


# -- the stream is cut -----------------------------------------------------------------------


async def test_the_page_catches_up_on_lines_that_came_while_its_stream_was_cut(
    page_server: PageServer,
    start_live: Callable[..., Awaitable[Live]],
    ticker_processes: Callable[..., TickerProcess],
    browser: Browser,
) -> None:
    """A restart of the service (or a drop of a slow client) cuts the stream; EventSource
    reconnects by itself, and the page must then show what it missed, not only what comes
    after."""
    page_server.set("/en", en_page(BASE))
    live = await start_live(source_toml("en", page_server.url("/en")))
    ctx, page, _ = await open_page(browser, live)
    page_server.set("/en", en_page([NEW[0], *BASE]))
    await first_is(page, NEW[0])

    # Hold the page's reconnection back while the service restarts and records a line.
    await page.route("**/events*", lambda route: route.abort())
    live.tp.proc.send_signal(signal.SIGTERM)
    await asyncio.to_thread(live.tp.proc.wait, 15)
    await page.wait_for_selector("#live-dot:not(.on)")
    page_server.set("/en", en_page([NEW[1], NEW[0], *BASE]))
    live.tp = ticker_processes(live.config)
    await live.recorded(NEW[1])
    await page.unroute("**/events*")

    await page.wait_for_selector("#live-dot.on", timeout=10_000)  # reconnected
    page_server.set("/en", en_page([NEW[2], NEW[1], NEW[0], *BASE]))
    await first_is(page, NEW[2])  # new lines come in again
    await wait_texts(page, [NEW[2], NEW[1], NEW[0]], within=3)
    await ctx.close()


# -- how it looks ----------------------------------------------------------------------------


async def newsroom(page_server: PageServer, start_live: Callable[..., Awaitable[Live]]) -> Live:
    """A service with some news: English and Arabic lines, an edit, a failing source."""
    page_server.set("/en", en_page(BASE))
    page_server.set("/ar", en_page(["عاجل: الرئيس يلقي كلمة بعد قليل"]))
    page_server.set("/down", "down for maintenance", status=502)
    live = await start_live(
        source_toml("en", page_server.url("/en"), name="Al Mayadeen English", tags=("mena",))
        + source_toml("ar", page_server.url("/ar"), name="الميادين", tags=("mena", "ar"))
        + source_toml("down", page_server.url("/down"), name="Wire service", tags=("wire",)),
        service="failing_after = 1\n",
    )
    shown = list(BASE)
    for text in NEW[:2]:
        shown.insert(0, text)
        page_server.set("/en", en_page(shown))
        await live.recorded(text)
    page_server.set("/ar", en_page([ARABIC, "عاجل: الرئيس يلقي كلمة بعد قليل"]))
    await live.recorded(ARABIC)
    # 4 soldiers became 5: an edit of a line, shown as an update with what it was.
    edited = [t.replace("4 Israeli soldiers", "5 Israeli soldiers") for t in shown]
    page_server.set("/en", en_page([NEW[2], *edited]))
    await live.recorded(edited[-1])
    await live.recorded(NEW[2])
    page_server.set("/ar", en_page([ARABIC_2, ARABIC, "عاجل: الرئيس يلقي كلمة بعد قليل"]))
    await live.recorded(ARABIC_2)
    return live


async def shoot(page: Page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    await page.screenshot(path=str(path))
    assert path.stat().st_size > 10_000
    return path


async def wait_until_count(page: Page, n: int) -> None:
    await page.wait_for_function(f"() => document.querySelectorAll('#items > li').length === {n}")


async def test_the_page_follows_the_dark_scheme_and_fits_a_phone(
    page_server: PageServer, start_live: Callable[..., Awaitable[Live]], browser: Browser
) -> None:
    """Light and dark (the system setting) and a phone's width, each saved as a screenshot in
    artifacts/: live-page.png, live-page-dark.png, live-page-phone.png."""
    live = await newsroom(page_server, start_live)
    ctx, page, watched = await open_page(browser, live)
    await wait_until_count(page, 6)
    update = page.locator("#items > li", has_text="5 Israeli soldiers")
    assert await update.locator(".mark").text_content() == "update"
    assert await update.locator(".was").text_content() == BASE[2]
    assert await page.locator("#sources .state.failing").count() == 1
    assert "502" in (await page.locator("#sources .err").text_content() or "")
    await page.wait_for_function("() => document.getElementById('timeline').naturalWidth > 0")
    assert await page.evaluate("getComputedStyle(document.body).backgroundColor") == (
        "rgb(250, 250, 247)"
    )
    await shoot(page, "live-page.png")

    dark_ctx, dark, dark_watched = await open_page(browser, live, color_scheme="dark")
    await wait_until_count(dark, 6)
    await dark.wait_for_function("() => document.getElementById('timeline').naturalWidth > 0")
    background = await dark.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(17, 17, 20)"
    color = await dark.evaluate("getComputedStyle(document.querySelector('.item .text')).color")
    assert color == "rgb(236, 236, 241)"
    await shoot(dark, "live-page-dark.png")

    phone_ctx, phone, phone_watched = await open_page(
        browser, live, viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True
    )
    await wait_until_count(phone, 6)
    # Usable on a phone: nothing wider than the screen, the items in one column.
    overflow = await phone.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0
    await shoot(phone, "live-page-phone.png")
    for w in (watched, dark_watched, phone_watched):
        assert_clean(live, w)
    for c in (ctx, dark_ctx, phone_ctx):
        await c.close()


async def test_the_timelines_labels_fit_inside_the_chart(
    page_server: PageServer, start_live: Callable[..., Awaitable[Live]], browser: Browser
) -> None:
    """Every label of /timeline.svg, as Chromium lays it out, lies inside the chart's viewBox
    (the legend is not cut off at the bottom edge)."""
    live = await newsroom(page_server, start_live)
    ctx = await browser.new_context(viewport=VIEW)
    page = await ctx.new_page()
    await page.goto(live.base + "/timeline.svg")
    boxes = await page.evaluate(
        """() => {
            const svg = document.documentElement, view = svg.viewBox.baseVal;
            return {
                view: [view.width, view.height],
                texts: [...svg.querySelectorAll('text')].map(t => {
                    const b = t.getBBox();
                    return {text: t.textContent, right: b.x + b.width, bottom: b.y + b.height};
                }),
            };
        }"""
    )
    width, height = boxes["view"]
    assert len(boxes["texts"]) == 2 + 8 + 3  # peak, 0, every third hour, a legend entry a source
    outside = [t for t in boxes["texts"] if t["bottom"] > height or t["right"] > width]
    assert outside == [], f"labels cut off at the edge of the {width}x{height} chart"
    await ctx.close()


# -- a phone and a desk (issue 14) -----------------------------------------------------------


DESK: dict[str, Any] = {"viewport": {"width": 1400, "height": 900}}
PHONE: dict[str, Any] = {
    "viewport": {"width": 390, "height": 844},
    "is_mobile": True,
    "has_touch": True,
}
SIZES = pytest.mark.parametrize("size", [DESK, PHONE], ids=["1400x900", "390x844"])


async def box_of(page: Page, selector: str) -> FloatRect:
    """The first ``selector``'s box on the screen, as Chromium laid it out."""
    box = await page.locator(selector).first.bounding_box()
    assert box is not None, f"{selector} is not shown"
    return box


def assert_says_utc_and_local(shown: str, stamp: str, zone: str) -> None:
    """``shown`` gives ``stamp``'s time in UTC and, as alerts do, in the viewer's ``zone``."""
    utc = datetime.fromisoformat(stamp)
    assert f"{utc:%H:%M} UTC" in shown, shown
    local = utc.astimezone(ZoneInfo(zone))
    assert f"{local:%-I:%M} " in shown, (shown, local)
    assert zone in shown, shown


async def test_on_a_phone_the_filters_take_one_row_and_the_sources_come_before_the_list(
    page_server: PageServer, start_live: Callable[..., Awaitable[Live]], browser: Browser
) -> None:
    """At 390x844 the stuck header is one row (the other filters fold behind a button) and the
    sources' health and timeline sit before the endless list, folded to a line that says how the
    sources are; at 1400x900 everything shows as before. Screenshots: live-phone-*.png,
    live-desk.png in artifacts/."""
    live = await newsroom(page_server, start_live)
    older = [f"Bulletin {n}: the council meets again on day {n}" for n in range(40)]
    page_server.set("/en", en_page([*older, NEW[2], *BASE]))
    await live.recorded(older[0])
    height = PHONE["viewport"]["height"]

    ctx, page, watched = await open_page(browser, live, **PHONE)
    await wait_until_count(page, 46)
    box = await box_of(page, "header.top")
    assert box["height"] <= 0.12 * height, box
    await shoot(page, "live-phone.png")
    # Stuck at the top in the middle of the list, still one row.
    await page.evaluate("window.scrollTo(0, document.body.scrollHeight / 2)")
    await page.wait_for_function("() => window.scrollY > 1000")
    box = await box_of(page, "header.top")
    assert box["y"] == 0, box
    assert box["height"] <= 0.12 * height, box
    await shoot(page, "live-phone-scrolled.png")
    await page.evaluate("window.scrollTo(0, 0)")

    # The sources' health is on the first screen, before the list, and unfolds with one tap.
    first_item = await box_of(page, "#items > li")
    box = await box_of(page, "#side-summary")
    assert box["y"] + box["height"] <= height, box
    assert box["y"] < first_item["y"], (box, first_item)
    counts = await page.locator("#side-counts").text_content() or ""
    assert "1 failing" in counts, counts
    assert "2 ok" in counts, counts
    assert not await page.is_visible("#sources")
    await page.click("#side-summary")
    await page.wait_for_selector("#sources .state.failing", state="visible")
    await page.wait_for_function("() => document.getElementById('timeline').naturalWidth > 0")
    timeline = await box_of(page, "#timeline")
    first_item = await box_of(page, "#items > li")
    assert timeline["y"] + timeline["height"] < first_item["y"] < 2 * height, (timeline, first_item)
    await shoot(page, "live-phone-sources.png")

    # The other filters unfold from the button, which says how many are in use.
    assert not await page.is_visible("#f-source")
    await page.click("#f-toggle")
    await page.select_option("#f-source", "ar")
    await wait_texts(page, [ARABIC_2, ARABIC])
    assert await page.text_content("#f-toggle") == "Filters (1)"
    await shoot(page, "live-phone-filters.png")
    await page.click("#f-toggle")
    assert not await page.is_visible("#f-source")
    box = await box_of(page, "header.top")
    assert box["height"] <= 0.12 * height, box
    assert_clean(live, watched)
    await ctx.close()

    # On a desk everything shows at once: no fold, no button.
    ctx, page, watched = await open_page(browser, live, **DESK)
    await page.wait_for_selector("#sources .state.failing", state="visible")
    assert await page.is_visible("#f-source")
    assert await page.is_visible("#f-tag")
    assert not await page.is_visible("#f-toggle")
    assert not await page.is_visible("#side-summary")
    box = await box_of(page, "#sources")
    assert box["y"] < DESK["viewport"]["height"], box
    await page.wait_for_function("() => document.getElementById('timeline').naturalWidth > 0")
    await shoot(page, "live-desk.png")
    assert_clean(live, watched)
    await ctx.close()


@SIZES
async def test_the_page_says_loading_until_its_first_items_arrive(
    page_server: PageServer,
    start_live: Callable[..., Awaitable[Live]],
    browser: Browser,
    size: dict[str, Any],
) -> None:
    page_server.set("/en", en_page(BASE))
    live = await start_live(source_toml("en", page_server.url("/en")))
    page_server.set("/en", en_page([NEW[0], *BASE]))
    await live.recorded(NEW[0])
    ctx = await browser.new_context(locale="en-US", **size)
    page = await ctx.new_page()
    released = asyncio.Event()

    async def held(route: Any) -> None:  # a slow network: the items' answer waits
        await released.wait()
        await route.continue_()

    await page.route("**/api/items*", held)
    try:
        await page.goto(live.base + "/")
        await page.wait_for_selector("#sources li", state="attached")  # only the items wait
        loading = page.locator("#loading")
        assert await loading.is_visible()
        assert "Loading" in (await loading.text_content() or "")
        box = await box_of(page, "#loading")
        assert box["y"] + box["height"] <= size["viewport"]["height"], box
        assert not await page.is_visible("#empty")
        assert await texts(page) == []
        await shoot(page, f"live-loading-{size['viewport']['width']}.png")
    finally:
        released.set()
    await first_is(page, NEW[0])
    await page.wait_for_selector("#loading", state="hidden")
    await ctx.close()


@SIZES
async def test_item_times_say_utc_and_the_viewers_local_time(
    page_server: PageServer,
    start_live: Callable[..., Awaitable[Live]],
    browser: Browser,
    size: dict[str, Any],
) -> None:
    """As alerts do: "14:03 UTC (5:03 PM Asia/Beirut)"; a viewer in UTC reads "14:03 UTC"."""
    page_server.set("/en", en_page(BASE))
    live = await start_live(source_toml("en", page_server.url("/en")))
    page_server.set("/en", en_page([NEW[0], *BASE]))
    await live.recorded(NEW[0])
    ctx, page, watched = await open_page(browser, live, **size)
    time_el = page.locator("#items > li time").first
    stamp = await time_el.get_attribute("datetime") or ""
    shown = await time_el.text_content() or ""
    assert_says_utc_and_local(shown, stamp, "Asia/Beirut")
    box = await box_of(page, "#items > li time")
    assert box["x"] + box["width"] <= size["viewport"]["width"], box
    poll = await page.locator("#sources .poll").first.text_content() or ""
    assert "UTC" in poll, poll
    assert_clean(live, watched)
    await ctx.close()

    ctx, page, watched = await open_page(browser, live, timezone_id="UTC", **size)
    shown = await page.locator("#items > li time").first.text_content() or ""
    assert shown == f"{datetime.fromisoformat(stamp):%H:%M} UTC", shown
    assert_clean(live, watched)
    await ctx.close()


@SIZES
async def test_the_timelines_labels_render_at_12px_or_more(
    page_server: PageServer,
    start_live: Callable[..., Awaitable[Live]],
    browser: Browser,
    size: dict[str, Any],
) -> None:
    """The chart is an image scaled to its column: each label's font size times that scale."""
    live = await newsroom(page_server, start_live)
    ctx, page, watched = await open_page(browser, live, **size)
    if await page.is_visible("#side-summary"):
        await page.click("#side-summary")
    await page.wait_for_function("() => document.getElementById('timeline').naturalWidth > 0")
    labels = await page.evaluate(
        """async () => {
            const img = document.getElementById('timeline');
            const text = await (await fetch(img.src)).text();
            const svg = new DOMParser().parseFromString(text, 'image/svg+xml').documentElement;
            const scale = img.getBoundingClientRect().width / svg.viewBox.baseVal.width;
            return [...svg.querySelectorAll('text')].map(t => [
                t.textContent, +t.closest('[font-size]').getAttribute('font-size') * scale,
            ]);
        }"""
    )
    assert len(labels) == 2 + 8 + 3
    small = [(text, round(px, 1)) for text, px in labels if px < 12]
    assert small == [], f"labels under 12 px at {size['viewport']}"
    assert_clean(live, watched)
    await ctx.close()


# -- stories ---------------------------------------------------------------------------------

STRIKE = [
    "Israeli strike kills 5 in southern Lebanon",
    "5 killed in Israeli strike on southern Lebanon",
    "Southern Lebanon: Israeli strike kills 5",
]
QUAKE = "Magnitude 6.1 earthquake strikes off the coast of Japan"


async def test_one_event_from_three_outlets_is_one_card_listing_them(
    page_server: PageServer, start_live: Callable[..., Awaitable[Live]], browser: Browser
) -> None:
    """Three outlets report one event in their words, a fourth line between is another event:
    the page shows two cards, the story's with its outlets (the first, then the others with
    their lag), updated live as outlets join."""
    for sid in ("a", "b", "c"):
        page_server.set(f"/{sid}", en_page(BASE))
    live = await start_live(
        "".join(
            source_toml(s, page_server.url(f"/{s}"), name=f"Outlet {s.upper()}") for s in "abc"
        ),
        service='story_window = "30m"\n',
    )
    ctx, page, watched = await open_page(browser, live)
    page_server.set("/a", en_page([STRIKE[0], *BASE]))
    await first_is(page, STRIKE[0])
    page_server.set("/b", en_page([QUAKE, *BASE]))
    await first_is(page, QUAKE)
    page_server.set("/b", en_page([STRIKE[1], QUAKE, *BASE]))
    page_server.set("/c", en_page([STRIKE[2], *BASE]))
    outlets = "#items > li[data-story] .outlets li"
    await page.wait_for_function(
        f"() => document.querySelectorAll('{outlets}').length === 3", timeout=10_000
    )
    # Two cards: the story's headline is its first reporter's line.
    cards = await texts(page)
    assert sorted(cards) == sorted([STRIKE[0], QUAKE])
    names = await page.locator(outlets).all_text_contents()
    assert names[0] == "Outlet A first"
    assert sorted(n.rsplit(" ", 1)[0] for n in names[1:]) == ["Outlet B", "Outlet C"]
    assert all(n.rsplit(" ", 1)[1].startswith("+") for n in names[1:])
    assert_clean(live, watched)
    await shoot(page, "stories.png")
    await ctx.close()
