"""The live page's server side: the page, item and source JSON, Server-Sent Events.

Safe to expose on a LAN: read-only, no secrets, page text only ever leaves as JSON (escaped by the
encoder); the page itself builds the DOM with ``textContent``. SSE
clients are bounded in number, each with a bounded queue; a slow client is dropped, never waited
for, so polling is never slowed down.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import structlog
from aiohttp import web

from ticker.model import RecordedItem
from ticker.store import MAX_QUERY, search_page
from ticker.views import LIVE_KEYS, item_view, just_recorded, pick
from ticker.web.access import json_error
from ticker.web.reads import READS_KEY, dumps, read, wants_baseline
from ticker.web.status import LIVE_SOURCE_KEYS, PollNews, StatusView, source_view

log = structlog.get_logger("ticker.web.live")

#: Live streams at most; each holds a connection of ``[service] max_connections``.
MAX_CLIENTS = 32
CLIENT_QUEUE = 256
PAGE_SIZE = 50
KEEPALIVE = 15.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Filter:
    """The page's filters. ``q`` is text searched for, case-folded: not a regular expression,
    which anyone who can reach the endpoint could make run for ever (issue 12)."""

    sources: frozenset[str] = frozenset()
    tag: str | None = None
    q: str | None = None  # case-folded

    def matches(self, item: dict[str, Any]) -> bool:
        if self.sources and item["source"] not in self.sources:
            return False
        if self.tag and self.tag not in item["tags"]:
            return False
        return self.q is None or self.q in item["text"].casefold()


def parse_filter(query: Any) -> Filter:
    """Filters from a query string; raises HTTPBadRequest naming the bad parameter."""
    q = (query.get("q") or "").strip()
    if len(q) > MAX_QUERY:
        raise json_error(web.HTTPBadRequest, f"q: at most {MAX_QUERY} characters")
    sources = frozenset(s for s in query.getall("source", []) if s)
    return Filter(sources=sources, tag=query.get("tag") or None, q=q.casefold() or None)


@dataclass(eq=False)
class _Client:
    queue: asyncio.Queue[str] = field(default_factory=lambda: asyncio.Queue(CLIENT_QUEUE))
    filter: Filter = field(default_factory=Filter)
    dropped: bool = False
    transport: asyncio.Transport | None = None


class LiveHub:
    """Fans new items and health changes out to SSE clients without ever blocking."""

    def __init__(self, view: StatusView) -> None:
        self.view = view
        self.clients: set[_Client] = set()
        view.listeners.append(self.on_poll)

    def item_dict(self, item: RecordedItem) -> dict[str, Any]:
        source = self.view.sources.get(item.source_id)
        if source is None:  # no longer configured
            return pick(item_view(item), LIVE_KEYS)
        config = source.config
        return pick(item_view(item, source_name=config.name, tags=config.tags), LIVE_KEYS)

    def on_poll(self, source_id: str, outcome: PollNews) -> None:
        source = self.view.sources.get(source_id)
        if source is None or not self.clients:  # nobody to tell: no work on the poll's path
            return
        for rec in outcome.new:
            item = self.item_dict(just_recorded(source_id, rec))
            self.broadcast("item", item, item)
        self.broadcast("source", pick(source_view(source_id, source), LIVE_SOURCE_KEYS), None)

    def broadcast(self, event: str, data: dict[str, Any], item: dict[str, Any] | None) -> None:
        frame = f"event: {event}\ndata: {dumps(data)}\n\n"
        for client in list(self.clients):
            if item is not None and not client.filter.matches(item):
                continue
            try:
                client.queue.put_nowait(frame)
            except asyncio.QueueFull:
                # A client that cannot keep up is dropped; it reconnects and reloads.
                client.dropped = True
                self.clients.discard(client)
                # Its handler may wait on a write the client never reads: cut the connection,
                # or that write (and the descriptor) would be held for as long as it stays open.
                if client.transport is not None:
                    client.transport.abort()
                log.info("sse_client_dropped", reason="slow")

    async def events(self, request: web.Request) -> web.StreamResponse:
        if len(self.clients) >= MAX_CLIENTS:
            busy = web.Response(
                status=503, text="too many live clients", headers={"Retry-After": "30"}
            )
            # Connection: close: a refused client must not keep its descriptor (issue 12).
            busy.force_close()
            return busy
        client = _Client(filter=parse_filter(request.query), transport=request.transport)
        resp = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream; charset=utf-8",
                "Cache-Control": "no-cache",
                "X-Accel-Buffering": "no",
            }
        )
        # Counted before the first await: clients arriving together cannot all pass the check.
        self.clients.add(client)
        try:
            await resp.prepare(request)
            await resp.write(b"retry: 3000\n: connected\n\n")
            while not client.dropped:
                try:
                    frame = await asyncio.wait_for(client.queue.get(), timeout=KEEPALIVE)
                except TimeoutError:
                    frame = ": keepalive\n\n"
                await resp.write(frame.encode())
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            self.clients.discard(client)
        return resp

    def tags_of(self) -> dict[str, tuple[str, ...]]:
        return {sid: source.config.tags for sid, source in self.view.sources.items()}

    def close(self) -> None:
        # A reload's new endpoint brings its own hub: this one stops listening.
        with contextlib.suppress(ValueError):
            self.view.listeners.remove(self.on_poll)
        for client in list(self.clients):
            client.dropped = True
            with contextlib.suppress(asyncio.QueueFull):
                client.queue.put_nowait(": bye\n\n")
        self.clients.clear()


async def api_items(request: web.Request, hub: LiveHub) -> web.Response:
    """Newest first; ``before`` (an item id) pages back; filters as on the page."""
    flt = parse_filter(request.query)
    try:
        before = int(request.query["before"]) if request.query.get("before") else None
        limit = max(1, min(int(request.query.get("limit", PAGE_SIZE)), 200))
    except ValueError:
        raise web.HTTPBadRequest(text="before and limit are whole numbers") from None
    sources: Sequence[str] = sorted(flt.sources)
    if flt.tag:
        tagged = [sid for sid, tags in hub.tags_of().items() if flt.tag in tags]
        sources = [s for s in sources if s in tagged] if sources else tagged
        if not sources:
            return _json({"items": [], "more": False, "next_before": None})

    page = await read(
        request,
        search_page,
        request.app[READS_KEY],
        sources=sources,
        contains=flt.q,
        limit=limit,
        before_id=before,
        include_baseline=wants_baseline(request),
    )
    items = [hub.item_dict(r) for r in page.items]
    # A search stops after SCAN_LIMIT rows: next_before is where the next page starts.
    more = page.next_before is not None
    return _json({"items": items, "more": more, "next_before": page.next_before})


async def api_sources(request: web.Request, hub: LiveHub) -> web.Response:
    sources = hub.view.sources
    return _json(
        {
            "sources": [pick(source_view(sid, s), LIVE_SOURCE_KEYS) for sid, s in sources.items()],
            "tags": sorted({t for s in sources.values() for t in s.config.tags}),
        }
    )


def _json(obj: Any) -> web.Response:
    return web.json_response(obj, dumps=dumps)


def static_file(name: str) -> bytes:
    return (resources.files("ticker") / "static" / name).read_bytes()


#: The page's files, and their content types: nothing else is served.
_STATIC = {"index.html": "text/html", "app.js": "text/javascript", "app.css": "text/css"}


def add_routes(app: web.Application, hub: LiveHub) -> None:
    """Register the live page, its assets and its APIs on the service's web app."""

    async def page(request: web.Request) -> web.Response:
        name = request.match_info.get("name", "index.html")
        if name not in _STATIC:
            raise web.HTTPNotFound()
        return web.Response(
            body=static_file(name),
            content_type=_STATIC[name],
            charset="utf-8",
            headers={"Cache-Control": "no-cache"},
        )

    async def no_icon(_request: web.Request) -> web.Response:
        return web.Response(status=204)

    app.router.add_get("/", page)
    app.router.add_get("/favicon.ico", no_icon)
    app.router.add_get("/static/{name}", page)
    app.router.add_get("/events", hub.events)
    # Coroutine functions, not lambdas: aiohttp deprecates plain functions as handlers.
    app.router.add_get("/api/items", functools.partial(api_items, hub=hub))
    app.router.add_get("/api/sources", functools.partial(api_sources, hub=hub))
