"""The HTTP endpoint of ``ticker run`` (``[service] listen``): health, metrics, items, Atom feed.

Read-only: nothing here changes state, and no response carries a secret (channel URLs are never
shown; errors are the redacted ones the logs carry).
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar
from xml.sax.saxutils import escape

from aiohttp import web

from ticker import __version__
from ticker.durations import parse_time
from ticker.errors import ConfigError
from ticker.health import Health
from ticker.model import RecordedItem
from ticker.normalize import xml_safe
from ticker.views import iso

if TYPE_CHECKING:
    from ticker.httpserver import HttpEndpoint
    from ticker.service import Service
    from ticker.store_reads import EndpointReads

SERVICE_KEY: web.AppKey[Service] = web.AppKey("service")
READS_KEY: web.AppKey[EndpointReads] = web.AppKey("reads")
MAX_LIMIT = 1000
P = ParamSpec("P")
R = TypeVar("R")


def build_app(service: Service) -> web.Application:
    from ticker.store_reads import EndpointReads
    from ticker.web_access import AccessPolicy, access_middleware, security_headers

    # Who may ask (Host, token) is settled before any handler runs; every answer, errors
    # included, carries the same security headers.
    app = web.Application(middlewares=[access_middleware(AccessPolicy.of(service.config.service))])
    app.on_response_prepare.append(security_headers)
    app[SERVICE_KEY] = service
    reads = EndpointReads(service.config.service.state)
    app[READS_KEY] = reads

    async def close_reads(_app: web.Application) -> None:
        await asyncio.get_running_loop().run_in_executor(None, reads.close)

    app.on_cleanup.append(close_reads)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/items.json", items_json)
    app.router.add_get("/feed.atom", feed_atom)
    from ticker.live import LiveHub, add_routes

    hub = LiveHub(service)
    add_routes(app, hub)

    async def close_streams(_app: web.Application) -> None:
        hub.close()

    app.on_shutdown.append(close_streams)
    return app


async def start_web(service: Service, host: str, port: int) -> HttpEndpoint:
    """Serve the endpoint with bounded connections (a cap, a head deadline, a short keep-alive:
    see ticker.httpserver); ``await endpoint.cleanup()`` stops it."""
    from ticker.httpserver import serve

    app = build_app(service)
    return await serve(app, host, port, max_connections=service.config.service.max_connections)


def source_health(service: Service) -> list[dict[str, Any]]:
    out = []
    for sid, rt in service.sources.items():
        h = rt.health
        out.append(
            {
                "id": sid,
                "name": rt.config.name,
                "state": h.state.value,
                "last_poll": None if h.last_poll is None else iso(h.last_poll),
                "last_success": None if h.last_success is None else iso(h.last_success),
                "last_error": h.last_error,
                "consecutive_failures": h.failures,
                "interval_s": rt.config.interval,
            }
        )
    return out


async def healthz(request: web.Request) -> web.Response:
    service = request.app[SERVICE_KEY]
    sources = source_health(service)
    stalled = service.scheduler_stalled()
    broken = [s["id"] for s in sources if s["state"] == Health.BROKEN.value]
    healthy = not stalled and not broken
    body = {
        "status": "ok" if healthy else "unhealthy",
        "scheduler_stalled": stalled,
        "started_at": iso(service.started_at),
        "version": __version__,
        "sources": sources,
    }
    return web.json_response(body, status=200 if healthy else 503)


async def metrics(request: web.Request) -> web.Response:
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    from ticker.store_reads import outbox_stats

    service = request.app[SERVICE_KEY]
    assert service.metrics is not None
    count, oldest = await read(request, outbox_stats)
    service.metrics.outbox_depth.set(count)
    age = 0.0 if oldest is None else (datetime.now(UTC) - oldest).total_seconds()
    service.metrics.outbox_oldest.set(age)
    data = generate_latest(service.metrics.registry)
    return web.Response(body=data, headers={"Content-Type": CONTENT_TYPE_LATEST})


def _query(request: web.Request) -> dict[str, Any]:
    q = request.query
    now = datetime.now(UTC)
    try:
        since = parse_time(q["since"], now=now) if q.get("since") else None
    except ConfigError as exc:
        raise web.HTTPBadRequest(text=str(exc)) from None
    try:
        limit = min(int(q.get("limit", "100")), MAX_LIMIT)
    except ValueError:
        raise web.HTTPBadRequest(text="limit must be a whole number") from None
    sources = q.getall("source", [])
    return {"since": since, "limit": max(limit, 1), "sources": sources}


async def read(
    request: web.Request,
    fn: Callable[Concatenate[sqlite3.Connection, P], R],
    *args: P.args,
    **kwargs: P.kwargs,
) -> R:
    """A read of the endpoint's own (see store_reads); refused or over budget: a 503 that
    says why and when to come back, never a wait on the writer."""
    from ticker.store_reads import ReadRefused

    try:
        return await request.app[READS_KEY].run(fn, *args, **kwargs)
    except ReadRefused as exc:
        raise web.HTTPServiceUnavailable(
            text=json.dumps({"error": str(exc)}),
            content_type="application/json",
            headers={"Retry-After": str(exc.retry_after)},
        ) from None


async def _items(request: web.Request, *, include_baseline: bool = True) -> list[RecordedItem]:
    from ticker.store_reads import search_page

    q = _query(request)
    reads = request.app[READS_KEY]
    page = await read(
        request,
        search_page,
        reads,
        sources=q["sources"],
        since=q["since"],
        limit=q["limit"],
        include_baseline=include_baseline,
    )
    return page.items


def item_dict(item: RecordedItem, names: dict[str, str]) -> dict[str, Any]:
    return {
        "id": item.id,
        "source": item.source_id,
        "source_name": names.get(item.source_id, item.source_id),
        "text": item.text,
        "link": item.link,
        "kind": item.kind.value,
        "first_seen": iso(item.first_seen),
        "last_seen": iso(item.last_seen),
        "update_of": item.update_of_text,
    }


async def items_json(request: web.Request) -> web.Response:
    service = request.app[SERVICE_KEY]
    names = {sid: rt.config.name for sid, rt in service.sources.items()}
    items = await _items(request)
    return web.json_response(
        {"items": [item_dict(i, names) for i in items]},
        dumps=_dumps,
    )


def _dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False)


def item_uuid(item: RecordedItem) -> str:
    """A stable Atom id: the same item keeps its id across restarts."""
    seed = f"ticker:{item.source_id}:{item.id}:{iso(item.first_seen)}"
    return f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, seed)}"


def _xml(text: str, *, attr: bool = False) -> str:
    """Escaped, and without what XML 1.0 forbids: a row stored before text was cleaned on the
    way in (U+FFFE, a lone surrogate) must not make the whole feed unparseable."""
    return escape(xml_safe(text), {'"': "&quot;"} if attr else {})


def atom_feed(
    items: Sequence[RecordedItem], *, names: dict[str, str], feed_id: str, self_url: str
) -> str:
    """An Atom 1.0 feed of items, newest first (RFC 4287: id, title, updated on feed and entry)."""
    updated = iso(items[0].first_seen) if items else iso(datetime(2000, 1, 1, tzinfo=UTC))
    parts = [
        '<?xml version="1.0" encoding="utf-8"?>',
        '<feed xmlns="http://www.w3.org/2005/Atom">',
        "<title>ticker: breaking news</title>",
        f"<id>{escape(feed_id)}</id>",
        f"<updated>{updated}</updated>",
        f'<link rel="self" href="{escape(self_url, {chr(34): "&quot;"})}"/>',
        "<author><name>ticker</name></author>",
        f'<generator version="{__version__}">ticker</generator>',
    ]
    for item in items:
        name = names.get(item.source_id, item.source_id)
        prefix = {"update": "Update: ", "return": "Again: "}.get(item.kind.value, "")
        entry = [
            "<entry>",
            f"<id>{item_uuid(item)}</id>",
            f"<title>{_xml(prefix + item.text)}</title>",
            f"<updated>{iso(item.first_seen)}</updated>",
            f"<published>{iso(item.first_seen)}</published>",
            f"<author><name>{_xml(name)}</name></author>",
            f'<category term="{escape(item.source_id)}"/>',
            f'<content type="text">{_xml(item.text)}</content>',
        ]
        if item.link:
            entry.append(f'<link rel="alternate" href="{_xml(item.link, attr=True)}"/>')
        entry.append("</entry>")
        parts.extend(entry)
    parts.append("</feed>")
    return "\n".join(parts)


async def feed_atom(request: web.Request) -> web.Response:
    service = request.app[SERVICE_KEY]
    names = {sid: rt.config.name for sid, rt in service.sources.items()}
    # A baseline is what the ticker showed at install time, not news: a feed reader would
    # present it as such, so it is left out (as on the live page) unless asked for.
    baseline = request.query.get("baseline") in ("1", "true", "yes")
    items = await _items(request, include_baseline=baseline)
    feed_id = (
        f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, f'ticker-feed:{service.config.service.state}')}"
    )
    body = atom_feed(items, names=names, feed_id=feed_id, self_url=str(request.url))
    return web.Response(text=body, content_type="application/atom+xml", charset="utf-8")
