"""``render = true``: a page only a browser can read, through one shared, bounded Chromium.

The Renderer in-process against a real local page server (the DOM a script draws, heavy
resources never fetched, restarts after N renders, above the memory ceiling and after a crash,
failures as FetchError); the fetcher's ``render`` path; ``ticker run`` alerting a new line of a
rendered source to a webhook; and, with Playwright hidden, ``validate`` and ``once`` saying which
package to install. Skipped when /usr/bin/chromium or Playwright is missing (the last two run
anyway); no browser is ever downloaded.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from aiohttp import web
from conftest import PageServer, run_ticker, write_config
from sinks import WebhookSink
from test_service import TickerProcess, baseline, channel_toml, service_toml

from ticker.errors import FetchError
from ticker.fetch import AiohttpFetcher, FetchSettings

CHROMIUM = Path("/usr/bin/chromium")
try:
    import playwright.async_api  # noqa: F401  (only whether it imports)

    HAVE_PLAYWRIGHT = True
except ImportError:
    HAVE_PLAYWRIGHT = False
needs_browser = pytest.mark.skipif(
    not CHROMIUM.exists() or not HAVE_PLAYWRIGHT, reason="no /usr/bin/chromium or no playwright"
)

LINES = [
    "Earthquake of magnitude 6.1 strikes off the northern coast",
    "Parliament approves the emergency budget after a night session",
    "Rail workers call off tomorrow's national strike",
]
NEW = "Central bank raises interest rates by half a point"


def scripted_page(lines: list[str]) -> str:
    """A page whose ticker lines exist only once its script has run: the HTML carries them
    reversed, and the script draws them (as ``.ticker__item``) the right way round."""
    encoded = json.dumps([line[::-1] for line in lines])
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>Example TV</title></head>"
        "<body><h1>Example TV</h1><img src='/hero.jpg' alt=''>"
        "<div class='ticker' id='t'></div><script>"
        f"for (const s of {encoded}) {{ const d = document.createElement('div');"
        " d.className = 'ticker__item'; d.textContent = [...s].reverse().join('');"
        " document.getElementById('t').appendChild(d); }</script></body></html>"
    )


@pytest.fixture
async def renderer_factory() -> AsyncIterator[Callable[..., object]]:
    from ticker.browser import Renderer

    made: list[Renderer] = []

    def make(**kwargs: object) -> Renderer:
        r = Renderer(executable=CHROMIUM, **kwargs)  # type: ignore[arg-type]
        made.append(r)
        return r

    yield make
    for r in made:
        await r.close()


# -- the Renderer ----------------------------------------------------------------------------


@needs_browser
async def test_a_render_returns_the_dom_the_script_drew_without_fetching_images(
    page_server: PageServer, renderer_factory: Callable[..., object]
) -> None:
    from ticker.browser import Renderer

    page_server.set("/news", scripted_page(LINES))
    page_server.set("/old", "", status=302, headers={"Location": "/news"})
    page_server.set("/hero.jpg", b"\xff\xd8\xff", content_type="image/jpeg", charset=None)
    renderer = renderer_factory()
    assert isinstance(renderer, Renderer)
    async with renderer:
        rendered = await renderer.render(page_server.url("/old"), headers={"X-Ticker": "yes"})
    assert rendered.url == page_server.url("/news")
    for line in LINES:
        assert f'<div class="ticker__item">{line}</div>' in rendered.html
    assert page_server.hits("/hero.jpg") == 0
    [request] = [r for r in page_server.requests if r.path == "/news"]
    assert request.headers.get("X-Ticker") == "yes"


@needs_browser
async def test_the_browser_is_restarted_after_its_quota_of_renders(
    page_server: PageServer, renderer_factory: Callable[..., object]
) -> None:
    from ticker.browser import Renderer

    page_server.set("/news", scripted_page(LINES))
    renderer = renderer_factory(max_renders=2, max_rss=64 * 2**30)  # renders count, not memory
    assert isinstance(renderer, Renderer)
    for _ in range(5):
        await renderer.render(page_server.url("/news"))
    assert renderer.launches == 3  # renders 1-2, 3-4, 5


@needs_browser
async def test_the_browser_is_restarted_above_its_memory_ceiling(
    page_server: PageServer, renderer_factory: Callable[..., object]
) -> None:
    from ticker.browser import Renderer, browser_memory

    page_server.set("/news", scripted_page(LINES))
    renderer = renderer_factory(max_rss=1)  # any browser is above one byte
    assert isinstance(renderer, Renderer)
    await renderer.render(page_server.url("/news"))
    assert browser_memory() > 1
    await renderer.render(page_server.url("/news"))
    assert renderer.launches == 2
    roomy = renderer_factory(max_rss=64 * 2**30)
    assert isinstance(roomy, Renderer)
    await roomy.render(page_server.url("/news"))
    await roomy.render(page_server.url("/news"))
    assert roomy.launches == 1


def chromium_pids(root: int | None = None) -> list[int]:
    """The Chromium processes descended from ``root`` (this test process), by id."""
    table: dict[int, tuple[int, str]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            stat = Path(f"/proc/{name}/stat").read_text()
        except OSError:
            continue
        close = stat.rfind(")")
        table[int(name)] = (int(stat[close + 2 :].split()[1]), stat[stat.find("(") + 1 : close])
    mine, stack = [], [os.getpid() if root is None else root]
    while stack:
        parent = stack.pop()
        for pid, (ppid, comm) in table.items():
            if ppid == parent:
                stack.append(pid)
                if "chrom" in comm:
                    mine.append(pid)
    return mine


@needs_browser
async def test_a_crashed_browser_is_relaunched_on_a_later_render(
    page_server: PageServer, renderer_factory: Callable[..., object]
) -> None:
    from ticker.browser import Renderer

    page_server.set("/news", scripted_page(LINES))
    renderer = renderer_factory()
    assert isinstance(renderer, Renderer)
    await renderer.render(page_server.url("/news"))
    pids = chromium_pids()
    assert pids
    for pid in pids:
        # Killing the browser's main process can take its children with it first.
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    # The render that meets the dead browser may fail (a source error), never the one after.
    met: FetchError | None = None
    try:
        await renderer.render(page_server.url("/news"))
    except FetchError as exc:
        met = exc
    assert met is None or met.kind == "render"
    rendered = await renderer.render(page_server.url("/news"))
    assert LINES[0] in rendered.html
    assert renderer.launches == 2


@needs_browser
async def test_render_failures_are_fetch_errors(
    page_server: PageServer, renderer_factory: Callable[..., object]
) -> None:
    from ticker.browser import Renderer

    released = asyncio.Event()

    async def never(request: web.Request) -> web.StreamResponse:
        await released.wait()
        return web.Response(text="late")

    page_server.handlers["/hang"] = never
    renderer = renderer_factory(timeout=1.0)
    assert isinstance(renderer, Renderer)
    with pytest.raises(FetchError) as missing:
        await renderer.render(page_server.url("/missing"))
    assert (missing.value.kind, missing.value.status) == ("http", 404)
    with pytest.raises(FetchError) as hung:
        await renderer.render(page_server.url("/hang"))
    assert hung.value.kind == "render"
    assert "timed out" in str(hung.value)
    released.set()
    with pytest.raises(FetchError) as refused:
        await renderer.render("http://127.0.0.1:9/")
    assert refused.value.kind == "render"


async def test_a_missing_chromium_is_named_with_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from ticker.browser import BrowserUnavailable, Renderer

    monkeypatch.setenv("TICKER_CHROMIUM", "/nonexistent/chromium")
    with pytest.raises(BrowserUnavailable) as exc:
        async with Renderer() as renderer:
            await renderer.render("http://127.0.0.1:9/")
    assert exc.value.kind == "render"
    assert "/nonexistent/chromium" in str(exc.value)
    monkeypatch.setenv("TICKER_CHROMIUM", "")
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(BrowserUnavailable) as exc:
        async with Renderer() as renderer:
            await renderer.render("http://127.0.0.1:9/")
    assert "chromium" in str(exc.value)
    assert "pip install 'ticker-news[browser]'" in str(exc.value)


# -- the fetcher's render path ---------------------------------------------------------------


@needs_browser
async def test_the_fetcher_returns_the_rendered_dom_as_an_html_page(
    page_server: PageServer, renderer_factory: Callable[..., object]
) -> None:
    page_server.set("/news", scripted_page(LINES))
    async with AiohttpFetcher(FetchSettings(user_agent="test")) as fetcher:
        with pytest.raises(FetchError) as none:
            await fetcher.fetch(page_server.url("/news"), render=True)
        assert none.value.kind == "render"
        fetcher.renderer = renderer_factory()  # type: ignore[assignment]
        first = await fetcher.fetch(page_server.url("/news"), render=True, digest_salt=b"s")
        assert (first.status, first.content_type, first.charset) == (200, "text/html", "utf-8")
        assert (first.etag, first.last_modified) == (None, None)
        assert LINES[1].encode() in first.body
        again = await fetcher.fetch(
            page_server.url("/news"), render=True, digest_salt=b"s", known_digest=first.wire_digest
        )
        assert again.same_body
        assert again.body == b""


# -- ticker run ------------------------------------------------------------------------------


@needs_browser
async def test_a_new_line_of_a_rendered_source_is_alerted_under_ticker_run(
    page_server: PageServer,
    tmp_path: Path,
    ticker_run: Callable[..., TickerProcess],
    sink: WebhookSink,
) -> None:
    page_server.set("/news", scripted_page(LINES))
    cfg = write_config(
        tmp_path,
        service_toml("render_concurrency = 1\n")
        + f'\n[[sources]]\nid = "tv"\nname = "Example TV"\nurl = "{page_server.url("/news")}"\n'
        'interval = "1s"\nitems = "css:.ticker__item"\nrender = true\n'
        + channel_toml("desk", sink.url("/desk"))
        + '\n[[routes]]\nchannels = ["desk"]\n',
    )
    tp = ticker_run(cfg, env={"TICKER_CHROMIUM": str(CHROMIUM)})
    await baseline(tp, "tv")
    # The served HTML never holds a line as it reads: only the rendered DOM does.
    assert all(line not in scripted_page(LINES) for line in LINES)
    page_server.set("/news", scripted_page([NEW, *LINES]))
    await tp.until(
        lambda: any(NEW in h.text for h in sink.delivered()), "the new line's alert", within=60
    )
    assert not any(any(line in h.text for line in LINES) for h in sink.delivered())
    polls = tp.polls("tv")
    assert all(p.get("error") is None for p in polls), polls
    browser = chromium_pids(tp.proc.pid)
    assert browser  # one shared browser, under the service
    await tp.stop()
    assert tp.proc.returncode == 0
    await tp.until(lambda: not any(alive(pid) for pid in browser), "the browser's exit")


def alive(pid: int) -> bool:
    """Whether ``pid`` still runs (a zombie awaiting its parent does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2 :].split()[0] != "Z"


# -- without Playwright ----------------------------------------------------------------------

BLOCKER = """\
import sys


class _HidePlaywright:
    \"\"\"As if the browser extra were not installed.\"\"\"

    def find_spec(self, name, path=None, target=None):
        if name == "playwright" or name.startswith("playwright."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


sys.meta_path.insert(0, _HidePlaywright())
"""


def without_playwright(tmp_path: Path) -> dict[str, str]:
    hide = tmp_path / "hide"
    hide.mkdir()
    (hide / "sitecustomize.py").write_text(BLOCKER)
    path = os.environ.get("PYTHONPATH", "")
    return {"PYTHONPATH": f"{hide}{os.pathsep}{path}" if path else str(hide)}


def rendered_config(tmp_path: Path, url: str) -> Path:
    return write_config(
        tmp_path,
        f'[service]\nstate = "{tmp_path / "state.db"}"\n'
        f'\n[[sources]]\nid = "tv"\nurl = "{url}"\nitems = "css:.ticker__item"\nrender = true\n'
        f'\n[[sources]]\nid = "plain"\nurl = "{url}"\nitems = "css:.ticker__item"\n',
    )


def test_validate_names_the_package_a_rendered_source_needs(tmp_path: Path) -> None:
    env = without_playwright(tmp_path)
    hidden = run_ticker(
        "validate", "-c", str(rendered_config(tmp_path, "https://example.tv/")), env=env
    )
    assert hidden.returncode == 2, hidden.stdout
    assert "render = true ('tv')" in hidden.stderr
    assert "pip install 'ticker-news[browser]'" in hidden.stderr
    assert "chromium" in hidden.stderr
    assert "Traceback" not in hidden.stderr


def test_validate_accepts_render_concurrency_and_refuses_a_bad_one(tmp_path: Path) -> None:
    bad = write_config(
        tmp_path,
        '[service]\nrender_concurrency = 0\n\n[[sources]]\nid = "tv"\n'
        'url = "https://example.tv/"\nitems = "css:li"\nrender = "yes"\n',
    )
    result = run_ticker("validate", "-c", str(bad))
    assert result.returncode == 2
    assert "service.render_concurrency" in result.stderr
    assert "sources[0].render" in result.stderr


async def test_once_reports_a_rendered_source_as_failing_with_what_to_install(
    page_server: PageServer, tmp_path: Path
) -> None:
    page_server.set("/news", scripted_page(LINES))
    cfg = rendered_config(tmp_path, page_server.url("/news"))
    env = {**without_playwright(tmp_path), "TICKER_CHROMIUM": str(CHROMIUM)}
    result = await asyncio.to_thread(run_ticker, "once", "-c", str(cfg), env=env)
    assert result.returncode == 1, result.stderr  # one source failed; the other was read
    assert "Traceback" not in result.stderr
    assert "pip install 'ticker-news[browser]'" in result.stderr
