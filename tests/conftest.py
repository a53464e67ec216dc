"""Shared test parts: a real local page server, config files, and ticker run as a subprocess."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

if TYPE_CHECKING:
    from sinks import WebhookSink
    from test_service import TickerProcess

DATA = Path(__file__).parent / "data"
EN_PAGE = DATA / "almayadeen-en.html"
AR_PAGE = DATA / "almayadeen-ar.html"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Page:
    """What the page server answers on one path; tests change it between polls."""

    body: bytes = b""
    status: int = 200
    content_type: str = "text/html"
    charset: str | None = "utf-8"
    headers: dict[str, str] = field(default_factory=dict)


class PageServer:
    """A real aiohttp server on 127.0.0.1 whose pages and handlers tests set as they go."""

    def __init__(self) -> None:
        self.pages: dict[str, Page] = {}
        self.handlers: dict[str, Handler] = {}
        self.requests: list[web.Request] = []
        self.server: TestServer | None = None

    def url(self, path: str) -> str:
        assert self.server is not None
        return str(self.server.make_url(path))

    def set(self, path: str, body: bytes | str, **kwargs: object) -> Page:
        page = Page(body=body.encode() if isinstance(body, str) else body, **kwargs)  # type: ignore[arg-type]
        self.pages[path] = page
        return page

    def hits(self, path: str) -> int:
        return sum(1 for r in self.requests if r.path == path)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(request)
        if request.path in self.handlers:
            return await self.handlers[request.path](request)
        page = self.pages.get(request.path)
        if page is None:
            return web.Response(status=404, text="not found")
        return web.Response(
            body=page.body,
            status=page.status,
            content_type=page.content_type,
            charset=page.charset,
            headers=page.headers,
        )


@contextlib.asynccontextmanager
async def serving_pages() -> AsyncIterator[PageServer]:
    """A PageServer listening on 127.0.0.1 (a port of its own) until the block ends."""
    ps = PageServer()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", ps._handle)
    ps.server = TestServer(app, host="127.0.0.1")
    await ps.server.start_server()
    try:
        yield ps
    finally:
        await ps.server.close()


@pytest.fixture
async def page_server() -> AsyncIterator[PageServer]:
    async with serving_pages() as ps:
        yield ps


def ticker_line(text: str) -> str:
    return f'<div class="ticker__item">{text}</div>'


def en_page(lines: list[str]) -> str:
    """The English fixture with its ticker replaced by ``lines`` (menus etc. kept)."""
    html = EN_PAGE.read_text("utf-8")
    start = html.index('<div class="ticker">') + len('<div class="ticker">')
    end = html.index("</div></div>", start)
    items = "\n".join(ticker_line(t) for t in lines)
    return html[:start] + "\n" + items + "\n" + html[end:]


def write_config(tmp_path: Path, body: str, name: str = "ticker.toml") -> Path:
    path = tmp_path / name
    path.write_text(body, "utf-8")
    return path


def run_ticker(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m ticker ARGS`` the way a user runs it; logs as JSON on stderr."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "ticker", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=full_env,
        cwd=cwd,
        check=False,
    )


# -- fixtures the process tests share ----------------------------------------------------------


@pytest.fixture
def ticker_run() -> Iterator[Callable[..., TickerProcess]]:
    """Starts ``ticker run`` processes; kills any left at teardown."""
    from test_service import processes

    yield from processes()


@pytest.fixture
async def sink() -> AsyncIterator[WebhookSink]:
    from sinks import WebhookSink

    async with WebhookSink() as s:
        yield s


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        yield session
