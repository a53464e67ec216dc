"""Local servers for the drills, each on an event loop of its own in a background thread.

``ticker`` runs as a subprocess that drills kill and restart, so nothing here may depend on the
test's own event loop: the page server, the webhook sinks and the SMTP server keep serving (and
counting) across the deaths of the process they serve. Everything listens on loopback only.

- :class:`PageServer`: pages set by path from the test thread (bytes, status, headers), or an
  async handler per path for hostile behaviour (bombs, trickles, redirects).
- :class:`Sink`: an apprise ``json://`` webhook that records every request (title, message,
  arrival and answer times, status) and can answer 500, reject one message, be slow, or hang.
- :class:`SmtpSink`: aiosmtpd recording each mail's subject, parts and content types.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import html
import json
import socket
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any, TypeVar

from aiohttp import web

T = TypeVar("T")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

FIXTURE = Path(__file__).resolve().parent.parent / "data" / "almayadeen-en.html"
WORDS_FOR_LOAD = [
    "gaza",
    "lebanon",
    "yemen",
    "syria",
    "iraq",
    "iran",
    "strike",
    "drone",
    "convoy",
    "ministry",
    "health",
    "army",
    "navy",
    "border",
    "crossing",
    "hospital",
    "shelter",
    "ceasefire",
    "talks",
    "envoy",
    "council",
    "summit",
    "protest",
    "refugees",
    "martyrs",
    "injured",
    "killed",
    "wounded",
    "sources",
    "correspondent",
    "media",
    "officials",
    "spokesman",
    "statement",
    "report",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- pages -----------------------------------------------------------------------------------


class PageTemplate:
    """The English fixture page (~97 KB, menus and all) with its ticker lines replaced."""

    def __init__(self, path: Path = FIXTURE) -> None:
        text = path.read_text("utf-8")
        start = text.index('<div class="ticker">') + len('<div class="ticker">')
        end = text.index("</div></div>", start)
        self.head, self.tail = text[:start], text[end:]

    def render(self, lines: Sequence[str]) -> str:
        items = "\n".join(f'<div class="ticker__item">{html.escape(t)}</div>' for t in lines)
        return f"{self.head}\n{items}\n{self.tail}"


def small_page(lines: Sequence[str], *, escape: bool = True, head: str = "") -> str:
    """A minimal page with a ticker (for pages whose bytes a drill controls exactly)."""
    items = "\n".join(
        f'<div class="ticker__item">{html.escape(t) if escape else t}</div>' for t in lines
    )
    return (
        f"<!DOCTYPE html><html><head><title>news</title>{head}</head><body>"
        f'<div class="ticker">\n{items}\n</div></body></html>'
    )


class ServerThread:
    """An asyncio event loop in a daemon thread, for servers that outlive any subprocess."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 15.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop_loop(self) -> None:
        async def cancel_rest() -> None:
            me = asyncio.current_task()
            rest = [t for t in asyncio.all_tasks() if t is not me]
            for task in rest:
                task.cancel()
            await asyncio.gather(*rest, return_exceptions=True)

        try:
            self.call(cancel_rest(), timeout=10)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(10)
            self.loop.close()


async def _serve(
    handler: Handler, hosts: Sequence[str], port: int = 0
) -> tuple[web.AppRunner, int]:
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app, access_log=None, handler_cancellation=True, shutdown_timeout=1.0)
    await runner.setup()
    for host in hosts:
        site = web.TCPSite(runner, host, port)
        await site.start()
        if port == 0:
            server = site._server
            assert server is not None
            port = int(server.sockets[0].getsockname()[1])  # type: ignore[union-attr]
    return runner, port


@dataclass
class Page:
    body: bytes
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)


class PageServer(ServerThread):
    """Serves pages set from the test thread; ``hits`` counts requests by path.

    ``hosts``: extra loopback addresses (127.0.0.2, ...) to listen on as well, so that many
    sources can look like many hosts (ticker limits connections per host).
    """

    def __init__(self, hosts: Sequence[str] = ("127.0.0.1",)) -> None:
        super().__init__("drill-pages")
        self.hosts = tuple(hosts)
        self.pages: dict[str, Page] = {}
        self.handlers: dict[str, Handler] = {}
        self.hits: Counter[str] = Counter()
        self.first_hit: dict[str, float] = {}
        self._lock = threading.Lock()
        self.template = PageTemplate()
        self._runner, self.port = self.call(_serve(self._handle, self.hosts))

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def set(
        self,
        path: str,
        body: bytes | str,
        *,
        content_type: str = "text/html; charset=utf-8",
        status: int = 200,
        headers: dict[str, str] | None = None,
    ) -> None:
        raw = body.encode("utf-8") if isinstance(body, str) else body
        page = Page(
            body=raw, status=status, headers={"Content-Type": content_type, **(headers or {})}
        )
        with self._lock:
            self.pages[path] = page

    def set_lines(self, path: str, lines: Sequence[str]) -> None:
        """The fixture page showing ``lines`` (newest first, as a ticker shows them)."""
        self.set(path, self.template.render(lines))

    def route(self, path: str, handler: Handler) -> None:
        with self._lock:
            self.handlers[path] = handler

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        with self._lock:
            self.hits[request.path] += 1
            self.first_hit.setdefault(request.path, time.monotonic())
            handler = self.handlers.get(request.path)
            page = self.pages.get(request.path)
        if handler is not None:
            return await handler(request)
        if page is None:
            return web.Response(status=404, text="not found")
        return web.Response(body=page.body, status=page.status, headers=page.headers)

    def close(self) -> None:
        try:
            self.call(self._runner.cleanup())
        finally:
            self.stop_loop()


# -- webhook sinks ---------------------------------------------------------------------------


@dataclass
class Hit:
    """One request a sink received; ``status`` None: never answered (hung, or cut off)."""

    path: str
    title: str
    message: str
    started: float
    status: int | None = None
    finished: float | None = None


class Sink(ServerThread):
    """An apprise ``json://`` endpoint on 127.0.0.1 that records what it gets.

    Behaviour, settable from the test thread at any time: ``status`` for every request,
    ``reject`` (substring of the message -> status: a poison message), ``delay`` before
    answering, ``hang`` (accept and never answer until the sink closes).
    """

    def __init__(self, name: str = "sink") -> None:
        super().__init__(f"drill-{name}")
        self.name = name
        self.status = 200
        self.reject: dict[str, int] = {}
        self.delay = 0.0
        self.hang = False
        self.received: list[Hit] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        self._release = self.call(self._make_event())
        self._runner, self.port = self.call(_serve(self._handle, ("127.0.0.1",)))

    @staticmethod
    async def _make_event() -> asyncio.Event:
        return asyncio.Event()

    def url(self, path: str = "/hook") -> str:
        return f"json://127.0.0.1:{self.port}{path}"

    def hits(self) -> list[Hit]:
        with self._lock:
            return list(self.received)

    def delivered(self) -> list[Hit]:
        """Requests answered 200: the messages that reached the channel."""
        return [h for h in self.hits() if h.status == 200]

    def failed(self) -> list[Hit]:
        return [h for h in self.hits() if h.status is not None and h.status != 200]

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        try:
            body: Any = json.loads(raw)
        except ValueError:
            body = {}
        if not isinstance(body, dict):
            body = {}
        hit = Hit(
            path=request.path,
            title=str(body.get("title", "")),
            message=str(body.get("message", "")),
            started=time.monotonic(),
        )
        with self._lock:
            self.received.append(hit)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.hang:
                await self._release.wait()
                return web.Response(status=503)
            if self.delay:
                await asyncio.sleep(self.delay)
            status = self.status
            for needle, code in self.reject.items():
                if needle in hit.message or needle in hit.title:
                    status = code
            hit.status, hit.finished = status, time.monotonic()
            return web.Response(status=status, text="ok" if status == 200 else "error")
        finally:
            with self._lock:
                self.in_flight -= 1

    def close(self) -> None:
        try:
            self.loop.call_soon_threadsafe(self._release.set)
            self.call(self._runner.cleanup())
        finally:
            self.stop_loop()


# -- SMTP ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Mail:
    subject: str
    text: str  # the text/plain part ("" when none)
    content_types: tuple[str, ...]
    html: str | None  # the text/html part, when the mail has one
    received: float


class _SmtpHandler:
    def __init__(self, box: list[Mail], lock: threading.Lock) -> None:
        self.box = box
        self.lock = lock

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(msg, EmailMessage)
        types, text, markup = [], "", None
        for part in msg.walk():
            types.append(part.get_content_type())
            if part.is_multipart():
                continue
            if part.get_content_type() == "text/plain":
                text += str(part.get_content())
            elif part.get_content_type() == "text/html":
                markup = str(part.get_content())
        with self.lock:
            self.box.append(
                Mail(
                    subject=str(msg["Subject"] or ""),
                    text=text,
                    content_types=tuple(types),
                    html=markup,
                    received=time.monotonic(),
                )
            )
        return "250 Message accepted for delivery"


class SmtpSink:
    """aiosmtpd on 127.0.0.1 in its own thread (no AUTH: a login attempt fails)."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        self._box: list[Mail] = []
        self._lock = threading.Lock()
        self.port = free_port()
        self.controller = Controller(
            _SmtpHandler(self._box, self._lock), hostname="127.0.0.1", port=self.port
        )
        self.controller.start()

    def url(self, to: str = "desk@example.com", auth: str = "") -> str:
        return f"mailto://{auth}127.0.0.1:{self.port}?from=ticker@example.com&to={to}&mode=insecure"

    @property
    def mails(self) -> list[Mail]:
        with self._lock:
            return list(self._box)

    def close(self) -> None:
        self.controller.stop()
