"""What a handler reads: the service's status view, and items through the endpoint's own reads
(``EndpointReads``: its own connection, a budget per read), never the service's store."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Concatenate, ParamSpec, TypeVar

from aiohttp import web

from ticker.durations import parse_time
from ticker.errors import ConfigError
from ticker.model import RecordedItem
from ticker.store import EndpointReads, ReadRefused, search_page
from ticker.web.access import json_error
from ticker.web.status import StatusView

VIEW_KEY: web.AppKey[StatusView] = web.AppKey("status")
READS_KEY: web.AppKey[EndpointReads] = web.AppKey("reads")
MAX_LIMIT = 1000
P = ParamSpec("P")
R = TypeVar("R")


async def read(
    request: web.Request,
    fn: Callable[Concatenate[sqlite3.Connection, P], R],
    *args: P.args,
    **kwargs: P.kwargs,
) -> R:
    """A read of the endpoint's own (see store.reads); refused or over budget: a 503 that
    says why and when to come back, never a wait on the writer."""
    try:
        return await request.app[READS_KEY].run(fn, *args, **kwargs)
    except ReadRefused as exc:
        raise json_error(
            web.HTTPServiceUnavailable, str(exc), **{"Retry-After": str(exc.retry_after)}
        ) from None


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


async def read_items(request: web.Request, *, include_baseline: bool = True) -> list[RecordedItem]:
    """The items ``?source=``, ``?since=`` and ``?limit=`` ask for, newest first."""
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


def wants_baseline(request: web.Request) -> bool:
    """``?baseline=1``: include what the ticker showed at install time (left out by default
    where a reader would take it for news)."""
    return request.query.get("baseline") in ("1", "true", "yes")


def dumps(obj: Any) -> str:
    """JSON as UTF-8 text: page text in any script stays readable (and escaped by the encoder)."""
    return json.dumps(obj, ensure_ascii=False)
