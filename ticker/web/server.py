"""Bounded connections for the HTTP endpoint: a cap, a request-head deadline, a short keep-alive
and a quiet accept-error log.

An endpoint left to aiohttp's defaults lets any client hold a descriptor for about an hour (its
keep-alive), and slow or idle sockets then exhaust the process's descriptors: polls, webhook
sends and ``/healthz`` fail, and asyncio logs every failed ``accept()``. Here:

- a cap on open connections, at most a quarter of the descriptor limit: at the cap, a new
  connection takes the place of the one waiting longest for a request head, or, when every
  connection is in a request, gets a fixed ``503`` with ``Connection: close`` and is closed;
- a connection that has not sent a complete request head within ``HEADER_TIMEOUT`` of opening,
  or of the end of its previous request, is cut, however slowly it trickles bytes;
- aiohttp's keep-alive shortened to ``KEEPALIVE_TIMEOUT`` and its request head bounded in size;
- asyncio's ``socket.accept() out of system resource`` report let through once per
  ``LOG_EVERY`` seconds, with the number held back.

The head deadline needs no aiohttp internals: aiohttp's protocol factory (``runner.server``) is
wrapped by :class:`ConnectionGuard`, whose per-connection protocol forwards every call and keeps a
timer, and an outermost middleware (public API) says when a request starts and ends.
"""

from __future__ import annotations

import asyncio
import resource
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import structlog
from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

log = structlog.get_logger("ticker.web.server")

#: Seconds a connection has to send a complete request head, from its opening and from the end
#: of its previous request.
HEADER_TIMEOUT = 10.0
#: aiohttp closes a connection idle this long between requests (its default is an hour).
KEEPALIVE_TIMEOUT = 10.0
#: Seconds a client has to read a response its request finished writing, before it is dropped.
DRAIN_TIMEOUT = 60.0
#: Open connections at most (``[service] max_connections``), and at most this share of the
#: process's descriptors, so polling and delivery always have the rest.
MAX_CONNECTIONS = 256
DESCRIPTOR_SHARE = 4
#: Browsers send about 15 headers; 32 of 8 KB bound a hostile head to 256 KB per connection.
MAX_HEADERS = 32
#: The same line is logged at most once per this many seconds (with how many were held back).
LOG_EVERY = 10.0
RETRY_AFTER = 10
REFUSAL = (
    "HTTP/1.1 503 Service Unavailable\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "Content-Length: 21\r\n"  # the line below
    f"Retry-After: {RETRY_AFTER}\r\n"
    "Connection: close\r\n"
    "\r\n"
    "too many connections\n"
).encode("ascii")
ACCEPT_ERROR = "socket.accept() out of system resource"


def connection_cap(configured: int, descriptors: int | None) -> int:
    """The most connections the endpoint holds open: ``configured``, and no more than a quarter
    of ``descriptors`` (the soft RLIMIT_NOFILE; None when unlimited). Always at least 1."""
    if descriptors is None:
        return max(1, configured)
    return max(1, min(configured, descriptors // DESCRIPTOR_SHARE))


class Throttle:
    """Lets one event through per ``every`` seconds and counts those it holds back.

    Pure: the caller passes the clock in."""

    def __init__(self, every: float) -> None:
        self.every = every
        self.held = 0
        self._next = float("-inf")

    def allow(self, now: float) -> int | None:
        """None to hold this event back; else how many were held back since the last one."""
        if now < self._next:
            self.held += 1
            return None
        self._next = now + self.every
        held, self.held = self.held, 0
        return held


class ConnectionGuard:
    """Caps the endpoint's open connections and cuts those that send no request head in time.

    At the cap, a new connection takes the place of the one that has waited longest for a request
    head (slow or idle sockets cannot keep a client that asks at once out); when every connection
    is in a request, it gets the 503. ``protocol_factory(inner)`` wraps aiohttp's protocol
    factory for ``loop.create_server``; ``middleware`` must be the application's outermost
    middleware, so that every request stops its connection's clock while it runs.
    """

    def __init__(
        self,
        *,
        limit: int,
        header_timeout: float = HEADER_TIMEOUT,
        drain_timeout: float = DRAIN_TIMEOUT,
    ) -> None:
        self.limit = limit
        self.header_timeout = header_timeout
        self.drain_timeout = drain_timeout
        # Every wrapped connection from its creation to its loss, by aiohttp's protocol (which a
        # request names as ``request.protocol``). Counted from creation, not connection_made:
        # one accept burst creates many protocols before any is connected.
        self._connections: dict[asyncio.BaseProtocol, _GuardedConnection] = {}
        # Those waiting for a request head, longest-waiting first (dicts keep insertion order).
        self._waiting: dict[_GuardedConnection, None] = {}
        self._throttles = {
            reason: Throttle(LOG_EVERY) for reason in ("refused", "head_timeout", "evicted")
        }
        self.middleware: Middleware = self._make_middleware()

    def protocol_factory(
        self, inner: Callable[[], asyncio.Protocol]
    ) -> Callable[[], asyncio.Protocol]:
        def make() -> asyncio.Protocol:
            if len(self._connections) >= self.limit:
                if not self._waiting:
                    self.note("refused")
                    return _Refusal()
                oldest = next(iter(self._waiting))
                self.note("evicted")
                oldest.drop()
            protocol = inner()
            self._connections[protocol] = _GuardedConnection(self, protocol)
            return self._connections[protocol]

        return make

    def _make_middleware(self) -> Middleware:
        @web.middleware
        async def track_requests(request: web.Request, handler: Handler) -> web.StreamResponse:
            conn = self._connections.get(request.protocol)
            if conn is None:  # not accepted through this guard
                return await handler(request)
            conn.request_started()
            try:
                return await handler(request)
            finally:
                conn.request_finished()

        return track_requests

    def note(self, reason: str) -> None:
        """Log a dropped or refused connection, once per LOG_EVERY per reason."""
        held = self._throttles[reason].allow(asyncio.get_running_loop().time())
        if held is None:
            return
        if reason == "refused":
            log.warning("http_connections_refused", limit=self.limit, held_back=held)
        else:
            log.info(
                "http_connection_dropped",
                reason=reason,
                open=len(self._connections),
                limit=self.limit,
                held_back=held,
            )

    def _forget(self, conn: _GuardedConnection) -> None:
        self._waiting.pop(conn, None)
        if self._connections.get(conn.inner) is conn:
            del self._connections[conn.inner]


class _GuardedConnection(asyncio.Protocol):
    """aiohttp's protocol for one connection, with the head deadline around it."""

    def __init__(self, guard: ConnectionGuard, inner: asyncio.Protocol) -> None:
        self.inner = inner
        self._guard = guard
        self._loop = asyncio.get_running_loop()
        self._transport: asyncio.Transport | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._busy = 0
        self._idle_since = self._loop.time()

    # -- asyncio's calls, all forwarded ----------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)
        self._wait_for_head()
        self.inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received()

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel()
        self._transport = None
        self._guard._forget(self)
        self.inner.connection_lost(exc)

    # -- the deadline ------------------------------------------------------------------------

    def request_started(self) -> None:
        self._busy += 1
        self._cancel()
        self._guard._waiting.pop(self, None)

    def request_finished(self) -> None:
        self._busy -= 1
        if self._busy == 0 and self._transport is not None:
            self._idle_since = self._loop.time()
            self._wait_for_head()

    def drop(self) -> None:
        """Close at once, its place free now (the descriptor is freed on the next loop turn)."""
        self._cancel()
        self._guard._forget(self)
        if self._transport is not None:
            # abort, not close: close would wait for a reader that does not read.
            self._transport.abort()

    def _wait_for_head(self) -> None:
        self._cancel()
        self._timer = self._loop.call_later(self._guard.header_timeout, self._expire)
        self._guard._waiting.pop(self, None)
        self._guard._waiting[self] = None

    def _cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _expire(self) -> None:
        self._timer = None
        transport = self._transport
        if self._busy or transport is None or transport.is_closing():
            return
        if (
            transport.get_write_buffer_size()
            and self._loop.time() - self._idle_since < self._guard.drain_timeout
        ):
            self._timer = self._loop.call_later(self._guard.header_timeout, self._expire)
            return  # the last response is still being read: not idle yet
        self._guard.note("head_timeout")
        self.drop()


class _Refusal(asyncio.Protocol):
    """A connection over the cap: a fixed 503, then closed; nothing it sends is read."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        writer = cast(asyncio.WriteTransport, transport)
        writer.write(REFUSAL)
        writer.close()


def limit_accept_errors(
    loop: asyncio.AbstractEventLoop, every: float = LOG_EVERY
) -> Callable[[], None]:
    """Let asyncio's ``socket.accept() out of system resource`` report through once per
    ``every`` seconds (as one ``accept_failed`` event with the number held back); anything else
    goes to the handler installed before. Returns the function that puts that handler back."""
    previous = loop.get_exception_handler()
    throttle = Throttle(every)

    def handle(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        if context.get("message") == ACCEPT_ERROR:
            held = throttle.allow(loop.time())
            if held is not None:
                log.error("accept_failed", error=str(context.get("exception")), held_back=held)
            return
        if previous is not None:
            previous(loop, context)
        else:
            loop.default_exception_handler(context)

    loop.set_exception_handler(handle)
    return lambda: loop.set_exception_handler(previous)


@dataclass(slots=True)
class HttpEndpoint:
    """A listening endpoint; ``await cleanup()`` stops it."""

    runner: web.AppRunner
    server: asyncio.AbstractServer
    guard: ConnectionGuard
    restore_handler: Callable[[], None]

    async def cleanup(self) -> None:
        self.server.close()  # stop accepting first
        try:
            await self.runner.cleanup()
        finally:
            self.restore_handler()


def descriptor_limit() -> int | None:
    """The soft RLIMIT_NOFILE, None when unlimited."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return None if soft == resource.RLIM_INFINITY else soft


async def serve(
    app: web.Application, host: str, port: int, *, max_connections: int = MAX_CONNECTIONS
) -> HttpEndpoint:
    """Serve ``app`` on ``host:port`` with bounded connections (adds its outermost middleware).

    Raises OSError when the address cannot be bound."""
    descriptors = descriptor_limit()
    limit = connection_cap(max_connections, descriptors)
    if limit < max_connections:
        log.warning(
            "max_connections_lowered",
            max_connections=limit,
            configured=max_connections,
            descriptors=descriptors,
            note=f"the endpoint keeps to 1/{DESCRIPTOR_SHARE} of the descriptor limit",
        )
    guard = ConnectionGuard(limit=limit)
    app.middlewares.insert(0, guard.middleware)
    # Open live streams must not hold up a stop: they are closed on shutdown, then cut.
    runner = web.AppRunner(
        app,
        access_log=None,
        shutdown_timeout=1.0,
        keepalive_timeout=KEEPALIVE_TIMEOUT,
        max_headers=MAX_HEADERS,
    )
    await runner.setup()
    assert runner.server is not None
    loop = asyncio.get_running_loop()
    restore = limit_accept_errors(loop)
    try:
        server = await loop.create_server(guard.protocol_factory(runner.server), host, port)
    except BaseException:
        restore()
        await runner.cleanup()
        raise
    return HttpEndpoint(runner=runner, server=server, guard=guard, restore_handler=restore)
