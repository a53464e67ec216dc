"""record: load a page once in Chromium and keep what its scripts asked the network for.

``ticker discover --browser`` looks in this for the response that carries the ticker's lines, so
that the source it proposes polls that endpoint with plain HTTP. Everything kept is bounded: the
responses (MAX_EXCHANGES), each body (MAX_BODY characters) and all bodies together
(MAX_TOTAL), WebSocket frames likewise; images, fonts and media are never fetched.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ticker.browser.launch import find_chromium, launch, start_playwright
from ticker.browser.renderer import block_heavy
from ticker.errors import FetchError
from ticker.redact import public_url

if TYPE_CHECKING:
    from playwright.async_api import Response, WebSocket

MAX_EXCHANGES = 100
MAX_BODY = 2 * 1024 * 1024
MAX_TOTAL = 24 * 1024 * 1024
MAX_FRAMES = 200
#: Requests a script makes (and documents: a page may load its ticker in a frame).
RECORDED = frozenset({"xhr", "fetch", "eventsource", "document", "other"})
_BINARY = ("image/", "font/", "audio/", "video/", "application/octet-stream", "application/pdf")


@dataclass(frozen=True, slots=True, kw_only=True)
class Exchange:
    """One request a page made and what came back (``body`` None when not kept)."""

    method: str
    url: str
    resource_type: str
    request_headers: tuple[tuple[str, str], ...]
    post_data: str | None
    status: int
    content_type: str
    body: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Frame:
    """One WebSocket message a page received."""

    url: str
    payload: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Recording:
    """A page as Chromium drew it: the DOM, the URL it ended on, and its traffic in order."""

    url: str
    final_url: str
    html: str
    exchanges: tuple[Exchange, ...] = ()
    frames: tuple[Frame, ...] = ()


@dataclass
class _Tape:
    """What is being recorded (mutable while the page loads)."""

    exchanges: list[Exchange] = field(default_factory=list)
    frames: list[Frame] = field(default_factory=list)
    pending: set[asyncio.Task[None]] = field(default_factory=set)
    kept: int = 0  # body characters kept in all
    seen: int = 0  # responses seen (kept or not)


async def _keep(tape: _Tape, response: Response) -> None:
    request = response.request
    if request.resource_type not in RECORDED or request.url.startswith("data:"):
        return
    headers = await response.all_headers()
    content_type = headers.get("content-type", "").split(";")[0].strip().lower()
    body: str | None = None
    length = headers.get("content-length", "")
    too_big = length.isdigit() and int(length) > MAX_BODY
    streaming = request.resource_type == "eventsource" or content_type == "text/event-stream"
    if (
        not too_big
        and not streaming
        and not content_type.startswith(_BINARY)
        and tape.kept < MAX_TOTAL
        and 200 <= response.status < 300
    ):
        try:
            raw = await asyncio.wait_for(response.body(), 10)
        except Exception:  # gone with its page, a redirect, a stream: kept without a body
            raw = None
        if raw is not None and len(raw) <= MAX_BODY:
            body = raw.decode("utf-8", "replace")
            tape.kept += len(body)
    if len(tape.exchanges) >= MAX_EXCHANGES:
        return
    request_headers = await request.all_headers()
    tape.exchanges.append(
        Exchange(
            method=request.method,
            url=request.url,
            resource_type=request.resource_type,
            request_headers=tuple(request_headers.items()),
            post_data=request.post_data,
            status=response.status,
            content_type=content_type,
            body=body,
        )
    )


def _on_websocket(tape: _Tape, ws: WebSocket) -> None:
    def on_frame(payload: str | bytes) -> None:
        if len(tape.frames) < MAX_FRAMES and isinstance(payload, str) and tape.kept < MAX_TOTAL:
            text = payload[:MAX_BODY]
            tape.kept += len(text)
            tape.frames.append(Frame(url=ws.url, payload=text))

    ws.on("framereceived", on_frame)


async def record(
    url: str,
    *,
    timeout: float = 30.0,  # noqa: ASYNC109  (a budget handed to Playwright's own timeouts)
    settle: float = 5.0,
) -> Recording:
    """Load ``url`` once in a fresh headless Chromium and record its traffic and final DOM.

    Raises BrowserUnavailable (no Playwright or Chromium) and FetchError (kind ``render``:
    the page did not load within ``timeout``, or the browser crashed)."""
    executable = find_chromium()
    pw = await start_playwright()  # BrowserUnavailable without Playwright: imported after
    from playwright.async_api import Error
    from playwright.async_api import TimeoutError as PlaywrightTimeout

    tape = _Tape()
    deadline = time.monotonic() + timeout
    shown = public_url(url)
    try:
        browser = await launch(pw, executable)
        try:
            context = await browser.new_context(service_workers="block")
            await context.route("**/*", block_heavy)
            page = await context.new_page()

            def on_response(response: Response) -> None:
                if tape.seen >= MAX_EXCHANGES * 2:
                    return
                tape.seen += 1
                task = asyncio.ensure_future(_keep(tape, response))
                tape.pending.add(task)
                task.add_done_callback(tape.pending.discard)

            page.on("response", on_response)
            page.on("websocket", lambda ws: _on_websocket(tape, ws))
            try:
                response = await page.goto(
                    url, wait_until="domcontentloaded", timeout=timeout * 1000
                )
            except PlaywrightTimeout as exc:
                raise FetchError(
                    f"{shown} did not load in the browser within {timeout:g}s", kind="render"
                ) from exc
            if response is not None and response.status >= 400:
                raise FetchError(
                    f"{shown} answered HTTP {response.status} in the browser",
                    kind="http",
                    status=response.status,
                )
            # A page whose last script or frame never loads (ads, trackers) is read as it is
            # at the deadline, not given up on.
            with contextlib.suppress(PlaywrightTimeout):
                left = max(0.1, deadline - time.monotonic() - settle)
                await page.wait_for_load_state("load", timeout=left * 1000)
            quiet = min(settle, max(0.0, deadline - time.monotonic()))
            if quiet > 0:
                # The ticker's request may start after load.
                with contextlib.suppress(PlaywrightTimeout):
                    await page.wait_for_load_state("networkidle", timeout=quiet * 1000)
            if tape.pending:
                await asyncio.wait(
                    list(tape.pending), timeout=max(1.0, deadline - time.monotonic())
                )
            html = await asyncio.wait_for(page.content(), 10)
            final = page.url
        finally:
            for task in list(tape.pending):
                task.cancel()
            with contextlib.suppress(Exception):  # crashed already
                await asyncio.wait_for(browser.close(), 10)
    except Error as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise FetchError(f"the browser failed on {shown}: {first}", kind="render") from exc
    except TimeoutError as exc:
        raise FetchError(f"the browser did not answer on {shown}", kind="render") from exc
    finally:
        with contextlib.suppress(Exception):  # the driver died with the browser
            await pw.stop()
    return Recording(
        url=url,
        final_url=final,
        html=html,
        exchanges=tuple(tape.exchanges),
        frames=tuple(tape.frames),
    )
