"""Real local endpoints for alert tests: a webhook sink (aiohttp) and an SMTP server (aiosmtpd).

Both listen on 127.0.0.1 and record what they receive. The webhook sink runs either on the test's
own event loop (``async with WebhookSink() as sink``) or on an event loop of its own in a
background thread (``with WebhookSink.in_thread() as sink``), for tests that run ticker as a
subprocess. Its behaviour is set as the test goes: an HTTP status (for all paths or one path),
a status for bodies containing a string (a poison message), a script of statuses for the next
requests whose bodies contain a string, a delay, and a "hang" mode in which it accepts a request
and never answers it.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import json
import socket
import threading
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from aiohttp import web
from aiosmtpd.controller import Controller


def load_apprise_plugins() -> None:
    """Import apprise's plugins once, up front.

    apprise loads its plugins lazily; its e-mail plugin imports the deprecated ``imghdr`` module,
    whose DeprecationWarning would fail a test under ``filterwarnings = error``. The warning is
    apprise's, not ticker's, so it is silenced here, once, outside any test.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import apprise

        apprise.Apprise().add("json://127.0.0.1/")  # forces the plugin manager to load
        import apprise.plugins.email


load_apprise_plugins()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- webhook sink --------------------------------------------------------------------------


@dataclass
class Hit:
    """One request the sink received. ``status`` is what it answered; None: never answered."""

    path: str
    text: str
    body: Any
    started: float
    status: int | None = None
    finished: float | None = None

    @property
    def title(self) -> str:
        return str(self.body.get("title", "")) if isinstance(self.body, dict) else ""

    @property
    def message(self) -> str:
        return str(self.body.get("message", "")) if isinstance(self.body, dict) else ""


@dataclass
class WebhookSink:
    """An aiohttp server on 127.0.0.1 that records every request (apprise ``json://``)."""

    status: int = 200
    path_status: dict[str, int] = field(default_factory=dict)
    reject: dict[str, int] = field(default_factory=dict)  # substring of body -> status
    hang: bool = False
    hang_paths: set[str] = field(default_factory=set)
    delay: float = 0.0
    script: dict[str, list[int]] = field(default_factory=dict)  # substring -> next statuses
    received: list[Hit] = field(default_factory=list)
    max_in_flight: dict[str, int] = field(default_factory=dict)
    max_in_flight_total: int = 0

    def __post_init__(self) -> None:
        self.port = 0
        self._runner: web.AppRunner | None = None
        self._closing: asyncio.Event | None = None
        self._in_flight: dict[str, int] = {}
        self._lock = threading.Lock()

    # -- behaviour, set from any thread ---------------------------------------------------

    def set_status(self, status: int, path: str | None = None) -> None:
        """Answer ``status`` (on ``path`` only, when given)."""
        if path is None:
            self.status = status
            self.path_status.clear()
        else:
            self.path_status[path] = status

    def set_hang(self, on: bool, path: str | None = None) -> None:
        """Accept requests and never answer them (those already hung stay hung)."""
        if path is None:
            self.hang = on
        elif on:
            self.hang_paths.add(path)
        else:
            self.hang_paths.discard(path)

    # -- what it saw -----------------------------------------------------------------------

    def url(self, path: str = "/hook", scheme: str = "json") -> str:
        return f"{scheme}://127.0.0.1:{self.port}{path}"

    def hits(self, path: str | None = None) -> list[Hit]:
        with self._lock:
            return [h for h in self.received if path is None or h.path == path]

    def delivered(self, path: str | None = None) -> list[Hit]:
        """The requests answered 200: the messages that reached the channel."""
        return [h for h in self.hits(path) if h.status == 200]

    def failed(self, path: str | None = None) -> list[Hit]:
        return [h for h in self.hits(path) if h.status is not None and h.status != 200]

    # -- server ----------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        text = await request.text()
        try:
            body: Any = json.loads(text)
        except ValueError:
            body = None
        hit = Hit(path=request.path, text=text, body=body, started=time.monotonic())
        with self._lock:
            self.received.append(hit)
            now = self._in_flight.get(hit.path, 0) + 1
            self._in_flight[hit.path] = now
            self.max_in_flight[hit.path] = max(self.max_in_flight.get(hit.path, 0), now)
            total = sum(self._in_flight.values())
            self.max_in_flight_total = max(self.max_in_flight_total, total)
        try:
            assert self._closing is not None
            if self.hang or hit.path in self.hang_paths:
                await self._closing.wait()  # never answered; released only when the sink closes
                return web.Response(status=503)
            if self.delay:
                await asyncio.sleep(self.delay)
            status = self.path_status.get(hit.path, self.status)
            for needle, code in self.reject.items():
                if needle in text:
                    status = code
            for needle, statuses in self.script.items():
                if needle in text and statuses:
                    status = statuses.pop(0)
            hit.status = status
            hit.finished = time.monotonic()
            return web.Response(status=status, text="ok" if status == 200 else "error")
        finally:
            with self._lock:
                self._in_flight[hit.path] -= 1

    async def start(self) -> WebhookSink:
        self._closing = asyncio.Event()
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        self.port = int(server.sockets[0].getsockname()[1])  # type: ignore[union-attr]
        return self

    async def close(self) -> None:
        if self._closing is not None:
            self._closing.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> WebhookSink:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @classmethod
    @contextmanager
    def in_thread(cls, **kwargs: Any) -> Iterator[WebhookSink]:
        """A sink serving from an event loop of its own in a background thread."""
        sink = cls(**kwargs)
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name="webhook-sink", daemon=True)
        thread.start()
        try:
            asyncio.run_coroutine_threadsafe(sink.start(), loop).result(10)
            yield sink
        finally:
            try:
                asyncio.run_coroutine_threadsafe(sink.close(), loop).result(10)
            finally:
                loop.call_soon_threadsafe(loop.stop)
                thread.join(10)
                loop.close()


def wait_for(predicate: Any, within: float = 10.0, interval: float = 0.02) -> bool:
    """Poll ``predicate`` (blocking) until true or ``within`` seconds pass."""
    deadline = time.monotonic() + within
    while True:
        if predicate():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)


async def async_wait_for(predicate: Any, within: float = 10.0, interval: float = 0.02) -> bool:
    """Poll ``predicate`` without blocking the loop until true or ``within`` seconds pass."""
    deadline = time.monotonic() + within
    while True:
        if predicate():
            return True
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(interval)


# -- SMTP server ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Mail:
    """One message the SMTP server accepted, decoded."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    subject: str
    body: str
    message: EmailMessage


class _Handler:
    def __init__(self, box: list[Mail]) -> None:
        self.box = box

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(msg, EmailMessage)
        part = msg.get_body(preferencelist=("plain", "html"))
        body = part.get_content() if part is not None else ""
        self.box.append(
            Mail(
                mail_from=envelope.mail_from,
                rcpt_tos=tuple(envelope.rcpt_tos),
                subject=str(msg["Subject"] or ""),
                body=body,
                message=msg,
            )
        )
        return "250 Message accepted for delivery"


class SmtpServer:
    """aiosmtpd on 127.0.0.1, in its own thread; ``messages`` holds what it accepted."""

    def __init__(self) -> None:
        self.messages: list[Mail] = []
        self.port = free_port()
        self.controller = Controller(_Handler(self.messages), hostname="127.0.0.1", port=self.port)

    def url(self, to: str = "desk@example.com") -> str:
        """The apprise URL that sends to this server (plain SMTP, no login)."""
        return f"mailto://127.0.0.1:{self.port}?from=ticker@example.com&to={to}&mode=insecure"

    def __enter__(self) -> SmtpServer:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()
