"""The live page's server side: item and source JSON, Server-Sent Events, the 24 h timeline.

Safe to expose on a LAN: read-only, no secrets, page text only ever leaves as JSON (escaped by the
encoder) or as SVG text escaped here; the page itself builds the DOM with ``textContent``. SSE
clients are bounded in number, each with a bounded queue; a slow client is dropped, never waited
for, so polling is never slowed down.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib import resources
from typing import TYPE_CHECKING, Any
from xml.sax.saxutils import escape

import structlog
from aiohttp import web

from ticker.views import iso
from ticker.store import timeline
from ticker.store_reads import MAX_QUERY, search_page
from ticker.web import READS_KEY, read
from ticker.web_access import SECURITY_HEADERS

if TYPE_CHECKING:
    from ticker.model import RecordedItem
    from ticker.pipeline import PollOutcome
    from ticker.service import Service

log = structlog.get_logger("ticker.live")

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


def parse_filter(query: Any, tags_of: dict[str, tuple[str, ...]]) -> Filter:
    """Filters from a query string; raises HTTPBadRequest naming the bad parameter."""
    q = (query.get("q") or "").strip()
    if len(q) > MAX_QUERY:
        raise web.HTTPBadRequest(
            text=json.dumps({"error": f"q: at most {MAX_QUERY} characters"}),
            content_type="application/json",
        )
    sources = frozenset(s for s in query.getall("source", []) if s)
    return Filter(sources=sources, tag=query.get("tag") or None, q=q.casefold() or None)


@dataclass(eq=False)
class _Client:
    queue: asyncio.Queue[str] = field(default_factory=lambda: asyncio.Queue(CLIENT_QUEUE))
    filter: Filter = field(default_factory=Filter)
    dropped: bool = False


class LiveHub:
    """Fans new items and health changes out to SSE clients without ever blocking."""

    def __init__(self, service: Service) -> None:
        self.service = service
        self.clients: set[_Client] = set()
        service.listeners.append(self.on_poll)

    def item_dict(self, item: RecordedItem) -> dict[str, Any]:
        rt = self.service.sources.get(item.source_id)
        return {
            "id": item.id,
            "source": item.source_id,
            "source_name": rt.config.name if rt else item.source_id,
            "tags": list(rt.config.tags) if rt else [],
            "text": item.text,
            "link": item.link,
            "kind": item.kind.value,
            "first_seen": iso(item.first_seen),
            "update_of": item.update_of_text,
        }

    def on_poll(self, source_id: str, outcome: PollOutcome) -> None:
        rt = self.service.sources.get(source_id)
        if rt is None:
            return
        for rec in outcome.new:
            item = {
                "id": rec.id,
                "source": source_id,
                "source_name": rt.config.name,
                "tags": list(rt.config.tags),
                "text": rec.item.text,
                "link": rec.item.link,
                "kind": rec.item.kind.value,
                "first_seen": iso(rec.first_seen),
                "update_of": None if rec.item.update_of is None else rec.item.update_of.text,
            }
            self.broadcast("item", item, item)
        self.broadcast("source", source_status(self.service, source_id), None)

    def broadcast(self, event: str, data: dict[str, Any], item: dict[str, Any] | None) -> None:
        frame = f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"
        for client in list(self.clients):
            if item is not None and not client.filter.matches(item):
                continue
            try:
                client.queue.put_nowait(frame)
            except asyncio.QueueFull:
                # A client that cannot keep up is dropped; it reconnects and reloads.
                client.dropped = True
                self.clients.discard(client)
                log.info("sse_client_dropped", reason="slow")

    async def events(self, request: web.Request) -> web.StreamResponse:
        if len(self.clients) >= MAX_CLIENTS:
            busy = web.Response(
                status=503, text="too many live clients", headers={"Retry-After": "30"}
            )
            # Connection: close: a refused client must not keep its descriptor (issue 12).
            busy.force_close()
            return busy
        client = _Client(filter=parse_filter(request.query, self.tags_of()))
        resp = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream; charset=utf-8",
                "Cache-Control": "no-cache",
                "X-Accel-Buffering": "no",
                **SECURITY_HEADERS,
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
        return {sid: rt.config.tags for sid, rt in self.service.sources.items()}

    def close(self) -> None:
        for client in list(self.clients):
            client.dropped = True
            with contextlib.suppress(asyncio.QueueFull):
                client.queue.put_nowait(": bye\n\n")
        self.clients.clear()


def source_status(service: Service, source_id: str) -> dict[str, Any]:
    rt = service.sources[source_id]
    h = rt.health
    return {
        "id": source_id,
        "name": rt.config.name,
        "tags": list(rt.config.tags),
        "state": h.state.value,
        "last_poll": None if h.last_poll is None else iso(h.last_poll),
        "last_success": None if h.last_success is None else iso(h.last_success),
        "last_error": h.last_error,
    }


async def api_items(request: web.Request, hub: LiveHub) -> web.Response:
    """Newest first; ``before`` (an item id) pages back; filters as on the page."""
    flt = parse_filter(request.query, hub.tags_of())
    try:
        before = int(request.query["before"]) if request.query.get("before") else None
        limit = max(1, min(int(request.query.get("limit", PAGE_SIZE)), 200))
    except ValueError:
        raise web.HTTPBadRequest(text="before and limit are whole numbers") from None
    include_baseline = request.query.get("baseline") in ("1", "true", "yes")
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
        include_baseline=include_baseline,
    )
    items = [hub.item_dict(r) for r in page.items]
    # A search stops after SCAN_LIMIT rows: next_before is where the next page starts.
    more = page.next_before is not None
    return _json({"items": items, "more": more, "next_before": page.next_before})


async def api_sources(request: web.Request, hub: LiveHub) -> web.Response:
    service = hub.service
    return _json(
        {
            "sources": [source_status(service, sid) for sid in service.sources],
            "tags": sorted({t for rt in service.sources.values() for t in rt.config.tags}),
        }
    )


async def timeline_svg(request: web.Request, hub: LiveHub) -> web.Response:
    service = hub.service
    now = datetime.now(UTC)
    start = (now - timedelta(hours=23)).replace(minute=0, second=0, microsecond=0)
    counts = await read(request, timeline, since=start)
    names = {sid: rt.config.name for sid, rt in service.sources.items()}
    svg = render_timeline(counts, start=start, names=names)
    return web.Response(
        text=svg,
        content_type="image/svg+xml",
        charset="utf-8",
        headers={**SECURITY_HEADERS, "Cache-Control": "no-cache"},
    )


# Colours that read on both the light and the dark theme.
_PALETTE = ("#e4572e", "#3f88c5", "#f3a712", "#44af69", "#a86cc1", "#d1495b", "#5fa8a0")


def render_timeline(
    counts: Iterable[tuple[str, str, int]], *, start: datetime, names: dict[str, str]
) -> str:
    """A stacked bar chart of items per source per hour over 24 hours, as standalone SVG."""
    hours = [(start + timedelta(hours=h)).strftime("%Y-%m-%dT%H") for h in range(24)]
    index = {h: i for i, h in enumerate(hours)}
    sources = sorted(names)
    grid = {s: [0] * 24 for s in sources}
    for source, hour, n in counts:
        if hour in index:
            grid.setdefault(source, [0] * 24)[index[hour]] += n
            if source not in sources:
                sources.append(source)
    totals = [sum(grid[s][i] for s in sources) for i in range(24)]
    peak = max([1, *totals])
    # A narrow viewBox: the page shows the chart about 360 px wide on a phone, so 14-unit text
    # renders at 12 px or more there, and larger on a desktop's wider side column.
    font, char = 14, 8.5  # font size, and a generous width of one character, in user units
    width, top, plot, axis, row = 360, 12, 120, 22, 20
    left = 10 + round(char * len(str(peak)))
    bar = (width - left - 4) / 24
    # The legend wraps onto as many rows as its names need, so none is cut at the edge.
    legend: list[tuple[float, int, str]] = []
    legend_x, rows = float(left), 1
    for source in sources:
        name = names.get(source, source)
        room = int((width - left - 14) / char)
        name = name if len(name) <= room else name[: room - 1] + "…"
        need = 14 + char * len(name)
        if legend_x > left and legend_x + need > width:
            legend_x, rows = float(left), rows + 1
        legend.append((legend_x, rows - 1, name))
        legend_x += need + 10
    base = top + plot
    height = base + axis + rows * row
    scale = plot / peak
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="Items per source per hour, last 24 hours">',
        # Presentation attributes, not <style>: the strict CSP allows no inline styles.
        f'<g font-family="system-ui, sans-serif" font-size="{font}" fill="#888">',
        f'<line x1="{left}" y1="{base}" x2="{width - 4}" y2="{base}" '
        'stroke="#888" stroke-width="1"/>',
        f'<text x="{left - 5}" y="{top + 9}" text-anchor="end">{peak}</text>',
        f'<text x="{left - 5}" y="{base}" text-anchor="end">0</text>',
    ]
    for i in range(24):
        x = left + i * bar
        y: float = base
        for n, source in enumerate(sources):
            value = grid[source][i]
            if not value:
                continue
            h = value * scale
            y -= h
            color = _PALETTE[n % len(_PALETTE)]
            label = escape(f"{names.get(source, source)}: {value} at {hours[i][11:]}:00 UTC")
            parts.append(
                f'<rect x="{x + 0.5:.1f}" y="{y:.1f}" width="{bar - 1:.1f}" height="{h:.1f}" '
                f'fill="{color}"><title>{label}</title></rect>'
            )
        if i % 3 == 0:
            parts.append(
                f'<text x="{x + bar / 2:.1f}" y="{base + 16}" '
                f'text-anchor="middle">{hours[i][11:]}h</text>'
            )
    for n, (x, r, name) in enumerate(legend):
        color = _PALETTE[n % len(_PALETTE)]
        y = base + axis + r * row
        parts.append(
            f'<rect x="{x:.1f}" y="{y + 4}" width="10" height="10" fill="{color}"/>'
            f'<text x="{x + 14:.1f}" y="{y + 14}">{escape(name)}</text>'
        )
    parts.append("</g></svg>")
    return "".join(parts)


def _json(obj: Any) -> web.Response:
    return web.json_response(
        obj, dumps=lambda o: json.dumps(o, ensure_ascii=False), headers=SECURITY_HEADERS
    )


def static_file(name: str) -> bytes:
    return (resources.files("ticker") / "static" / name).read_bytes()


_TYPES = {".html": "text/html", ".js": "text/javascript", ".css": "text/css"}


def add_routes(app: web.Application, hub: LiveHub) -> None:
    """Register the live page, its assets and its APIs on the service's web app."""

    async def page(request: web.Request) -> web.Response:
        name = request.match_info.get("name", "index.html")
        suffix = name[name.rfind(".") :]
        if name not in ("index.html", "app.js", "app.css") or suffix not in _TYPES:
            raise web.HTTPNotFound()
        return web.Response(
            body=static_file(name),
            content_type=_TYPES[suffix],
            charset="utf-8",
            headers={**SECURITY_HEADERS, "Cache-Control": "no-cache"},
        )

    async def no_icon(_request: web.Request) -> web.Response:
        return web.Response(status=204)

    app.router.add_get("/", page)
    app.router.add_get("/favicon.ico", no_icon)
    app.router.add_get("/static/{name}", page)
    app.router.add_get("/events", hub.events)
    app.router.add_get("/api/items", lambda r: api_items(r, hub))
    app.router.add_get("/api/sources", lambda r: api_sources(r, hub))
    app.router.add_get("/timeline.svg", lambda r: timeline_svg(r, hub))
