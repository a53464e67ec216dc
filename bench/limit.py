"""The limit: one aiohttp ClientSession plus parsel extracting ``.ticker__item``, nothing else.

Measured in its own process, on the same pages and with the same concurrency as the pipeline,
so every pipeline figure can be read as a ratio to it. Floors are measured beside it: the bare
GET without parsing, a bare conditional GET answered 304, and the same 304 with
``trust_env=True`` as ticker's fetcher sets it (aiohttp then reads ~/.netrc in a thread on every
request).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass

import aiohttp
from parsel import Selector

from bench.measure import PassFigures, measured, median

ITEMS_CSS = ".ticker__item::text"


@dataclass(frozen=True, slots=True, kw_only=True)
class LimitFigures:
    """Median CPU ms per page of the limit and of its floors, and the limit's pages per second."""

    parse_ms: float  # GET + parse + select, on the cold / identical pages
    parse_nonce_ms: float  # the same on nonce pages
    get_ms: float  # GET 200 and read the body, no parsing
    get_304_ms: float  # conditional GET answered 304
    get_304_trust_env_ms: float  # the same with trust_env=True, as ticker's fetcher has it
    polls_per_s: float
    items_per_page: float


async def _extract(session: aiohttp.ClientSession, url: str) -> int:
    async with session.get(url) as resp:
        text = await resp.text()
    return len(Selector(text=text).css(ITEMS_CSS).getall())


async def _read(session: aiohttp.ClientSession, url: str) -> int:
    async with session.get(url) as resp:
        return len(await resp.read())


async def _conditional(session: aiohttp.ClientSession, url: str, etag: str) -> int:
    async with session.get(url, headers={"If-None-Match": etag}) as resp:
        await resp.read()
        return resp.status


async def _pass(session: aiohttp.ClientSession, coros: Sequence[Awaitable[int]]) -> PassFigures:
    with measured() as span:
        results = await asyncio.gather(*coros)
    return PassFigures(
        polls=len(results), cpu=span.cpu, wall=span.wall, new=sum(int(r) for r in results)
    )


async def measure_limit(
    urls_identical: Sequence[str],
    urls_nonce: Sequence[str],
    urls_validators: Sequence[str],
    *,
    passes: int,
    concurrency: int,
) -> LimitFigures:
    """Median over ``passes`` passes of each loop; one warm-up pass first opens connections."""
    connector = aiohttp.TCPConnector(limit=concurrency, limit_per_host=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        await _pass(session, [_read(session, u) for u in urls_identical[:concurrency]])
        parse = [
            await _pass(session, [_extract(session, u) for u in urls_identical])
            for _ in range(passes)
        ]
        nonce = [
            await _pass(session, [_extract(session, u) for u in urls_nonce]) for _ in range(passes)
        ]
        get = [
            await _pass(session, [_read(session, u) for u in urls_identical]) for _ in range(passes)
        ]
        etags = [f'"p{i}-v0"' for i in range(len(urls_validators))]
        not_modified = [
            await _pass(
                session,
                [_conditional(session, u, e) for u, e in zip(urls_validators, etags, strict=True)],
            )
            for _ in range(passes)
        ]
        # aiohttp with trust_env=True reads ~/.netrc in an executor thread on every request.
        trusting = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=concurrency, limit_per_host=concurrency),
            trust_env=True,
        )
        async with trusting:
            await _pass(trusting, [_read(trusting, u) for u in urls_identical[:concurrency]])
            not_modified_env = [
                await _pass(
                    trusting,
                    [
                        _conditional(trusting, u, e)
                        for u, e in zip(urls_validators, etags, strict=True)
                    ],
                )
                for _ in range(passes)
            ]
    if any(p.new != 304 * p.polls for p in [*not_modified, *not_modified_env]):
        raise RuntimeError("the fixture server did not answer 304 to a matching If-None-Match")
    return LimitFigures(
        parse_ms=median([p.cpu_ms for p in parse]),
        parse_nonce_ms=median([p.cpu_ms for p in nonce]),
        get_ms=median([p.cpu_ms for p in get]),
        get_304_ms=median([p.cpu_ms for p in not_modified]),
        get_304_trust_env_ms=median([p.cpu_ms for p in not_modified_env]),
        polls_per_s=median([p.rate for p in parse]),
        items_per_page=parse[0].new / max(parse[0].polls, 1),
    )
