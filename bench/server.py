"""The fixture server: N distinct pages over aiohttp on 127.0.0.1, in a process of its own.

Paths are ``/{mode}/{page}``; one server serves every mode at once:

- ``change``: no validators; ``POST /_advance?fraction=0.1`` gives a tenth of the pages a new
  ticker line (the next tenth on the next call); the harness calls it once per pass.
- ``identical``: the same body every time, no ETag, no Last-Modified.
- ``nonce``: a per-request nonce outside the ticker (body changes, ticker does not), no
  validators.
- ``validators``: ETag and Last-Modified; a matching If-None-Match or If-Modified-Since gets 304.
- ``live``: the ``change`` pages padded to ~150 KB, with an ETag and Last-Modified per version:
  304 until ``/_advance`` gives the page a new line (the service row's pages).

A path may start with ``/t/{tag}``: the server then counts that client's answers by status and
keeps the time of each of its requests per page (``GET /_requests?tag=TAG``), so two clients
polling the same pages at once (``ticker run`` and the limit loop) are told apart from outside.

Gzip is served when the request accepts it. A request with ``?run=TOKEN`` records the time
(``time.monotonic()``, system-wide on Linux) of the first request carrying that token, which
``GET /_stats?run=TOKEN`` returns: that is how start-up is timed from outside the ticker.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import signal
import socket
import time
import urllib.request
from dataclasses import dataclass
from email.utils import formatdate
from multiprocessing.connection import Connection
from types import TracebackType

from aiohttp import web

from bench.pages import Body, PageTemplate, Ticker

MODES = ("change", "identical", "nonce", "validators", "live")
#: The size of a ``live`` page (the issue's 150 KB pages), padded with article cards.
LIVE_BYTES = 150_000
_LAST_MODIFIED = formatdate(1_700_000_000, usegmt=True)
_HTML = "text/html; charset=utf-8"


class FixtureSite:
    """The pages and their versions; answers requests from pre-rendered parts."""

    def __init__(self, pages: int) -> None:
        self.pages = pages
        self.template = PageTemplate()
        self.base = [self.template.ticker(i, 0) for i in range(pages)]
        self.versions = [0] * pages
        self.changed: list[Ticker] = list(self.base)
        self.live_template = PageTemplate(pad_to=LIVE_BYTES)
        self.live: list[Ticker] = [self.live_template.ticker(i, 0) for i in range(pages)]
        self.passes = 0
        # Per client tag: answers by status, and each request's time per page.
        self.counts: dict[str, dict[int, int]] = {}
        self.times: dict[str, dict[int, list[float]]] = {}
        self.requests = 0
        self.first_seen: dict[str, float] = {}
        self._nonce = 0

    def advance(self, fraction: float) -> int:
        """Give ``fraction`` of the change-mode pages one new ticker line; the count changed."""
        step = max(1, round(1 / fraction)) if fraction > 0 else 0
        changed = 0
        if step:
            for i in range(self.pages):
                if (i + self.passes) % step == 0:
                    self.versions[i] += 1
                    self.changed[i] = self.template.ticker(i, self.versions[i])
                    self.live[i] = self.live_template.ticker(i, self.versions[i])
                    changed += 1
        self.passes += 1
        return changed

    async def page(self, request: web.Request) -> web.Response:
        tag = request.match_info.get("tag")
        if tag is None:
            return await self._page(request)
        response = await self._page(request)
        counts = self.counts.setdefault(tag, {})
        counts[response.status] = counts.get(response.status, 0) + 1
        page = int(request.match_info["page"])
        self.times.setdefault(tag, {}).setdefault(page, []).append(time.monotonic())
        return response

    async def _page(self, request: web.Request) -> web.Response:
        self.requests += 1
        if request.query_string:
            run = request.query.get("run")
            if run is not None and run not in self.first_seen:
                self.first_seen[run] = time.monotonic()
        mode = request.match_info["mode"]
        try:
            i = int(request.match_info["page"]) % self.pages
        except ValueError:
            raise web.HTTPNotFound() from None
        headers: dict[str, str] = {}
        if mode == "change":
            body = self.template.body(self.changed[i])
        elif mode == "identical":
            body = self.template.body(self.base[i])
        elif mode == "nonce":
            self._nonce += 1
            body = self.template.body(self.base[i], nonce=f"{self._nonce:08x}{i:08x}")
        elif mode == "validators":
            etag = f'"p{i}-v0"'
            headers = {"ETag": etag, "Last-Modified": _LAST_MODIFIED}
            inm = request.headers.get("If-None-Match")
            ims = request.headers.get("If-Modified-Since")
            if (inm is not None and etag in inm) or (inm is None and ims == _LAST_MODIFIED):
                return web.Response(status=304, headers=headers)
            body = self.template.body(self.base[i])
        elif mode == "live":
            etag = f'"p{i}-v{self.versions[i]}"'
            stamp = formatdate(1_700_000_000 + self.versions[i], usegmt=True)
            headers = {"ETag": etag, "Last-Modified": stamp}
            inm = request.headers.get("If-None-Match")
            ims = request.headers.get("If-Modified-Since")
            if (inm is not None and etag in inm) or (inm is None and ims == stamp):
                return web.Response(status=304, headers=headers)
            body = self.live_template.body(self.live[i])
        else:
            raise web.HTTPNotFound()
        return self._respond(request, body, headers)

    @staticmethod
    def _respond(request: web.Request, body: Body, headers: dict[str, str]) -> web.Response:
        headers["Content-Type"] = _HTML
        if "gzip" in request.headers.get("Accept-Encoding", ""):
            headers["Content-Encoding"] = "gzip"
            headers["Vary"] = "Accept-Encoding"
            return web.Response(body=b"".join(body.gzip), headers=headers)
        return web.Response(body=b"".join(body.identity), headers=headers)

    async def control_advance(self, request: web.Request) -> web.Response:
        fraction = float(request.query.get("fraction", "0.1"))
        return web.json_response({"changed": self.advance(fraction), "pass": self.passes})

    async def control_requests(self, request: web.Request) -> web.Response:
        """A tagged client's answers by status; with ``times=1`` each request's time per page."""
        tag = request.query.get("tag", "")
        data: dict[str, object] = {
            "counts": {str(k): v for k, v in self.counts.get(tag, {}).items()},
        }
        if request.query.get("times") == "1":
            data["times"] = {str(k): v for k, v in self.times.get(tag, {}).items()}
        return web.json_response(data)

    async def control_stats(self, request: web.Request) -> web.Response:
        run = request.query.get("run", "")
        return web.json_response({"requests": self.requests, "first": self.first_seen.get(run)})


def _serve(pages: int, conn: Connection) -> None:
    """The server process: bind a free port, report it, serve until SIGTERM."""
    site_data = FixtureSite(pages)
    app = web.Application()
    app.router.add_get("/_stats", site_data.control_stats)
    app.router.add_post("/_advance", site_data.control_advance)
    app.router.add_get("/_requests", site_data.control_requests)
    app.router.add_get("/{mode}/{page}", site_data.page)
    app.router.add_get("/t/{tag}/{mode}/{page}", site_data.page)

    async def main() -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        await web.SockSite(runner, sock, backlog=1024).start()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        loop.add_signal_handler(signal.SIGINT, stop.set)
        conn.send(sock.getsockname()[1])
        conn.close()
        await stop.wait()
        await runner.cleanup()

    asyncio.run(main())


@dataclass(frozen=True, slots=True)
class StartupHit:
    """The server's view of a start-up run: when its first request arrived, if it did."""

    first: float | None
    requests: int


class FixtureClient:
    """Talks to a running fixture server: its URLs and its control endpoints."""

    def __init__(self, port: int) -> None:
        self.port = port
        # Never through a proxy, whatever the environment says.
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def url(self, mode: str, page: int, *, run: str | None = None, tag: str | None = None) -> str:
        query = "" if run is None else f"?run={run}"
        prefix = "" if tag is None else f"/t/{tag}"
        return f"http://127.0.0.1:{self.port}{prefix}/{mode}/{page}{query}"

    def urls(self, mode: str, count: int, *, tag: str | None = None) -> list[str]:
        return [self.url(mode, i, tag=tag) for i in range(count)]

    def answers(self, tag: str) -> dict[int, int]:
        """How many answers of each status the client tagged ``tag`` has had so far."""
        data = self._call("GET", f"/_requests?tag={tag}")
        counts = data["counts"]
        assert isinstance(counts, dict)
        return {int(k): int(v) for k, v in counts.items()}

    def request_times(self, tag: str) -> dict[int, list[float]]:
        """Each page's request times (``time.monotonic()``) from the client tagged ``tag``."""
        data = self._call("GET", f"/_requests?tag={tag}&times=1")
        times = data["times"]
        assert isinstance(times, dict)
        return {int(k): [float(t) for t in v] for k, v in times.items()}

    def advance(self, fraction: float = 0.1) -> int:
        """Change ``fraction`` of the change-mode pages (one new ticker line each)."""
        data = self._call("POST", f"/_advance?fraction={fraction}")
        return int(str(data["changed"]))

    def startup_hit(self, run: str) -> StartupHit:
        data = self._call("GET", f"/_stats?run={run}")
        first = data["first"]
        return StartupHit(
            first=None if first is None else float(str(first)), requests=int(str(data["requests"]))
        )

    def _call(self, method: str, path: str) -> dict[str, object]:
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", method=method)
        with self._opener.open(req, timeout=60) as resp:
            data: dict[str, object] = json.loads(resp.read())
        return data


class FixtureServer:
    """The server process; ``with FixtureServer(pages) as client: ...`` yields a client."""

    def __init__(self, pages: int) -> None:
        self.pages = pages
        self._proc: multiprocessing.process.BaseProcess | None = None

    def __enter__(self) -> FixtureClient:
        ctx = multiprocessing.get_context("spawn")
        parent, child = ctx.Pipe(duplex=False)
        self._proc = ctx.Process(target=_serve, args=(self.pages, child), daemon=True)
        self._proc.start()
        child.close()
        if not parent.poll(120):
            self.__exit__(None, None, None)
            raise RuntimeError("fixture server did not start within 120 s")
        return FixtureClient(parent.recv())

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._proc is not None:
            self._proc.terminate()
            self._proc.join(10)
            if self._proc.is_alive():
                self._proc.kill()
                self._proc.join()
            self._proc = None
