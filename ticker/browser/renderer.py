"""Renderer: pages drawn by their scripts, read through one shared headless Chromium.

For the rare ``render = true`` source. The peers' resident browsers are OOM-killed, leak and
time out; here what a browser may hold is bounded instead: one browser for the process, at most
``concurrency`` pages at once, a fresh context per render (no cookies or cache carried over),
images, fonts and media never fetched, a deadline on every render, and the browser restarted
after ``max_renders`` renders or when its processes' memory (PSS, see
``browser_memory``) passes ``max_rss`` (and relaunched on the
next render when it crashed).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, NamedTuple, Self

import structlog

from ticker.browser.launch import (
    BrowserUnavailable,
    browser_memory,
    find_chromium,
    launch,
    start_playwright,
)
from ticker.errors import FetchError
from ticker.redact import public_url

if TYPE_CHECKING:
    from playwright.async_api import Browser, BrowserContext, Playwright, Route

log = structlog.get_logger()

#: What a render never fetches (Playwright's resource types).
BLOCKED = frozenset({"image", "font", "media"})
MAX_RENDERS = 200
MAX_RSS = 512 * 1024 * 1024


class Rendered(NamedTuple):
    """A rendered page: its DOM serialized as HTML, and the URL it ended on."""

    html: str
    url: str


async def block_heavy(route: Route) -> None:
    """Abort images, fonts and media; let everything else through."""
    if route.request.resource_type in BLOCKED:
        await route.abort()
    else:
        await route.continue_()


class Renderer:
    """Renders pages in one shared Chromium. Use as an async context manager; the browser is
    started on the first render, not on entry.

    ``render`` raises FetchError (kind ``render``) for any failure: a missing browser, a
    timeout, an HTTP error of the page, a crash. After a crash the next render relaunches it.
    ``timeout`` bounds one render (navigation, then up to ``settle`` seconds for the network
    to go quiet); the browser is restarted after ``max_renders`` renders, or before a render
    when, at rest, its processes hold more than ``max_rss`` bytes (PSS, ``browser_memory``).
    """

    def __init__(
        self,
        *,
        concurrency: int = 1,
        timeout: float = 30.0,
        settle: float = 3.0,
        max_renders: int = MAX_RENDERS,
        max_rss: int = MAX_RSS,
        executable: Path | None = None,
    ) -> None:
        self.concurrency = max(1, concurrency)
        self.timeout = timeout
        self.settle = settle
        self.max_renders = max_renders
        self.max_rss = max_rss
        self._executable = executable
        self._slots = asyncio.Semaphore(self.concurrency)
        self._cond = asyncio.Condition()
        self._pw: Playwright | None = None
        self._browser: Browser | None = None
        self._active = 0  # renders using the current browser
        self._renders = 0  # renders since the current browser started
        self._retire = False  # restart the browser once its renders are done
        self.launches = 0  # browsers started in this process (for tests and the bench)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the browser and Playwright's driver (both started again if used again)."""
        async with self._cond:
            await self._close_browser()
            if self._pw is not None:
                pw, self._pw = self._pw, None
                try:
                    await pw.stop()
                except Exception as exc:  # already gone: nothing left to stop
                    log.debug("playwright_stop_failed", error=str(exc))

    async def render(self, url: str, *, headers: Mapping[str, str] | None = None) -> Rendered:
        """Load ``url`` in a fresh context, let its scripts settle, and return the DOM.

        Raises FetchError (kind ``render``, or ``http`` for an error status of the page)."""
        async with self._slots:
            browser = await self._checkout()
            try:
                return await self._render(browser, url, headers)
            finally:
                await self._checkin(browser)

    # -- one render -------------------------------------------------------------------------

    async def _render(
        self, browser: Browser, url: str, headers: Mapping[str, str] | None
    ) -> Rendered:
        from playwright.async_api import Error
        from playwright.async_api import TimeoutError as PlaywrightTimeout

        deadline = time.monotonic() + self.timeout
        shown = public_url(url)
        context: BrowserContext | None = None
        try:
            context = await browser.new_context(
                extra_http_headers=dict(headers or {}), service_workers="block"
            )
            await context.route("**/*", block_heavy)
            page = await context.new_page()
            response = await page.goto(
                url, wait_until="domcontentloaded", timeout=self.timeout * 1000
            )
            if response is not None and response.status >= 400:
                raise FetchError(
                    f"HTTP {response.status} {response.status_text}".rstrip() + " (rendered)",
                    kind="http",
                    status=response.status,
                )
            settle = min(self.settle, max(0.0, deadline - time.monotonic()))
            if settle > 0:
                # Scripts draw the page after load: give them until the network is quiet; a
                # page that never goes quiet (a stream, polling) is read as it is then.
                with contextlib.suppress(PlaywrightTimeout):
                    await page.wait_for_load_state("networkidle", timeout=settle * 1000)
            html = await asyncio.wait_for(page.content(), max(1.0, deadline - time.monotonic()))
            return Rendered(html=html, url=page.url)
        except PlaywrightTimeout as exc:
            raise FetchError(
                f"rendering {shown} timed out after {self.timeout:g}s", kind="render"
            ) from exc
        except TimeoutError as exc:
            raise FetchError(
                f"rendering {shown} timed out after {self.timeout:g}s", kind="render"
            ) from exc
        except Error as exc:
            if not browser.is_connected():
                raise FetchError(
                    f"the browser crashed while rendering {shown}; it is restarted on the next "
                    "render",
                    kind="render",
                ) from exc
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise FetchError(f"rendering {shown} failed: {first}", kind="render") from exc
        finally:
            if context is not None:
                try:
                    await asyncio.shield(context.close())
                except Exception as exc:  # the browser went away with it
                    log.debug("render_context_close_failed", error=str(exc))

    # -- the browser's life -----------------------------------------------------------------

    async def _checkout(self) -> Browser:
        async with self._cond:
            browser = self._browser
            if browser is not None and not self._retire and self._active == 0 and self._renders:
                # Measured at rest, no page open: what a page holds while it renders is gone
                # with its context; what stays is what the browser keeps (a leak grows here).
                self._retire = await self._over_memory()
            if browser is not None and (self._retire or not browser.is_connected()):
                # Restarted only once the renders still using it are done.
                await self._cond.wait_for(lambda: self._active == 0)
                if self._browser is browser:
                    await self._close_browser()
            if self._browser is None:
                self._browser = await self._launch()
            self._active += 1
            return self._browser

    async def _checkin(self, browser: Browser) -> None:
        async with self._cond:
            self._active -= 1
            if browser is self._browser:
                self._renders += 1
                if not self._retire and self._renders >= self.max_renders:
                    log.info("browser_restart", reason="renders", renders=self._renders)
                    self._retire = True
            self._cond.notify_all()

    async def _over_memory(self) -> bool:
        held = await asyncio.to_thread(browser_memory)  # a walk of /proc: off the event loop
        if held > self.max_rss:
            log.info("browser_restart", reason="memory", memory_mb=round(held / 2**20, 1))
            return True
        return False

    async def _launch(self) -> Browser:
        executable = self._executable or find_chromium()
        if self._pw is None:
            self._pw = await start_playwright()
        try:
            browser = await launch(self._pw, executable)
        except BrowserUnavailable:
            # The driver may have died with the old browser: start it once more, then give up.
            pw, self._pw = self._pw, None
            try:
                await pw.stop()
            except Exception as exc:  # a dead driver cannot be stopped
                log.debug("playwright_stop_failed", error=str(exc))
            self._pw = await start_playwright()
            browser = await launch(self._pw, executable)
        self.launches += 1
        self._renders = 0
        self._retire = False
        return browser

    async def _close_browser(self) -> None:
        browser, self._browser = self._browser, None
        self._retire = False
        if browser is None:
            return
        try:
            await asyncio.wait_for(browser.close(), 10)
        except Exception as exc:  # crashed, or hung: its processes go with the driver
            log.debug("browser_close_failed", error=str(exc))
