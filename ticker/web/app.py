"""The HTTP endpoint of ``ticker run`` (``[service] listen``): health, metrics, items, Atom feed,
the 24 h timeline and the live page.

Read-only: nothing here changes state, and no response carries a secret (channel URLs are never
shown; errors are the redacted ones the logs carry). The service is seen only through its
``StatusView``; items come from the endpoint's own reads.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from aiohttp import web

from ticker import __version__
from ticker.health import Health
from ticker.store import EndpointReads, outbox_stats
from ticker.views import ITEMS_JSON_KEYS, iso, item_view, pick
from ticker.web.access import AccessPolicy, access_middleware, security_headers
from ticker.web.feed import feed_atom
from ticker.web.live import LiveHub, add_routes
from ticker.web.reads import READS_KEY, VIEW_KEY, dumps, read, read_items
from ticker.web.server import HttpEndpoint, serve
from ticker.web.status import HEALTHZ_SOURCE_KEYS, StatusView, source_names, source_view
from ticker.web.timeline import timeline_svg


def build_app(view: StatusView) -> web.Application:
    # Who may ask (Host, token) is settled before any handler runs; every answer, errors
    # included, carries the same security headers.
    app = web.Application(middlewares=[access_middleware(AccessPolicy.of(view.config.service))])
    app.on_response_prepare.append(security_headers)
    app[VIEW_KEY] = view
    reads = EndpointReads(view.config.service.state)
    app[READS_KEY] = reads

    async def close_reads(_app: web.Application) -> None:
        await asyncio.get_running_loop().run_in_executor(None, reads.close)

    app.on_cleanup.append(close_reads)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/items.json", items_json)
    app.router.add_get("/feed.atom", feed_atom)
    app.router.add_get("/timeline.svg", timeline_svg)
    hub = LiveHub(view)
    add_routes(app, hub)

    async def close_streams(_app: web.Application) -> None:
        hub.close()

    app.on_shutdown.append(close_streams)
    return app


async def start_web(view: StatusView, host: str, port: int) -> HttpEndpoint:
    """Serve the endpoint with bounded connections (a cap, a head deadline, a short keep-alive:
    see ticker.web.server); ``await endpoint.cleanup()`` stops it."""
    app = build_app(view)
    return await serve(app, host, port, max_connections=view.config.service.max_connections)


async def healthz(request: web.Request) -> web.Response:
    view = request.app[VIEW_KEY]
    sources = [pick(source_view(sid, s), HEALTHZ_SOURCE_KEYS) for sid, s in view.sources.items()]
    stalled = view.scheduler_stalled()
    broken = [s["id"] for s in sources if s["state"] == Health.BROKEN.value]
    healthy = not stalled and not broken
    body = {
        "status": "ok" if healthy else "unhealthy",
        "scheduler_stalled": stalled,
        "started_at": iso(view.started_at),
        "version": __version__,
        "sources": sources,
    }
    return web.json_response(body, status=200 if healthy else 503)


async def metrics(request: web.Request) -> web.Response:
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    view = request.app[VIEW_KEY]
    assert view.metrics is not None
    count, oldest = await read(request, outbox_stats)
    view.metrics.outbox_depth.set(count)
    age = 0.0 if oldest is None else (datetime.now(UTC) - oldest).total_seconds()
    view.metrics.outbox_oldest.set(age)
    data = generate_latest(view.metrics.registry)
    return web.Response(body=data, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def items_json(request: web.Request) -> web.Response:
    names = source_names(request.app[VIEW_KEY])
    items = await read_items(request)
    views = [item_view(i, source_name=names.get(i.source_id)) for i in items]
    return web.json_response({"items": [pick(v, ITEMS_JSON_KEYS) for v in views]}, dumps=dumps)
