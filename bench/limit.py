"""The limit: one aiohttp ClientSession plus parsel extracting ``.ticker__item``, nothing else.

Measured in its own process, on the same pages and with the same concurrency as the pipeline,
so every pipeline figure can be read as a ratio to it. Floors are measured beside it: the bare
GET without parsing, a bare conditional GET answered 304, and the same 304 with
``trust_env=True`` as ticker's fetcher sets it (aiohttp then reads ~/.netrc in a thread on every
request).

The limit of a steady state is :class:`SteadyLoop`, what the best plain aiohttp + parsel loop
does when it polls the same pages again: a conditional GET with the page's last validators, a
digest of a body without them (an identical body is not parsed again), and the lines compared
with the last ones. Every steady row (304, identical, nonce, change, new line) is measured
against it; the cold row against the plain parse.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

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
    # SteadyLoop per steady row, CPU ms per poll (see the module docstring).
    steady_304_ms: float = 0.0
    steady_identical_ms: float = 0.0
    steady_nonce_ms: float = 0.0
    steady_change_ms: float = 0.0
    steady_new_item_ms: float = 0.0


@dataclass(slots=True)
class _Known:
    """What the loop keeps of a page between polls."""

    etag: str | None = None
    last_modified: str | None = None
    digest: bytes | None = None
    lines: frozenset[str] = frozenset()


@dataclass(slots=True)
class SteadyLoop:
    """The best plain loop: conditional GET, digest check, parse only a changed page, and the
    page's lines compared with the last ones. ``poll`` returns how many lines are new."""

    session: aiohttp.ClientSession
    known: dict[str, _Known] = field(default_factory=dict)
    statuses: dict[str, int] = field(default_factory=dict)

    async def poll(self, url: str) -> int:
        k = self.known.get(url)
        if k is None:
            k = self.known[url] = _Known()
        headers = {}
        if k.etag is not None:
            headers["If-None-Match"] = k.etag
        if k.last_modified is not None:
            headers["If-Modified-Since"] = k.last_modified
        async with self.session.get(url, headers=headers) as resp:
            if resp.status == 304:
                self._count("not_modified")
                return 0
            body = await resp.read()
            k.etag, k.last_modified = resp.headers.get("ETag"), resp.headers.get("Last-Modified")
            charset = resp.charset or "utf-8"
        if k.etag is None and k.last_modified is None:
            digest = hashlib.sha256(body).digest()
            if digest == k.digest:
                self._count("unchanged")
                return 0
            k.digest = digest
        lines = frozenset(
            Selector(text=body.decode(charset, errors="replace")).css(ITEMS_CSS).getall()
        )
        new = len(lines - k.lines) if k.lines else 0
        k.lines = lines
        self._count("parsed")
        return new

    def _count(self, status: str) -> None:
        self.statuses[status] = self.statuses.get(status, 0) + 1


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


async def _steady(
    loop: SteadyLoop,
    urls: Sequence[str],
    *,
    passes: int,
    advance: Callable[[], object] | None = None,
    expect: str,
) -> float:
    """Median CPU ms per poll of ``passes`` steady passes after a first pass that learns the
    pages; ``advance`` (outside the measured pass) changes pages before each pass."""
    await _pass(loop.session, [loop.poll(u) for u in urls])
    figures = []
    for _ in range(passes):
        if advance is not None:
            await asyncio.to_thread(advance)
        loop.statuses.clear()
        figures.append(await _pass(loop.session, [loop.poll(u) for u in urls]))
        if expect not in loop.statuses:
            raise RuntimeError(f"the steady limit loop saw {loop.statuses}, expected {expect!r}")
    return median([p.cpu_ms for p in figures])


async def measure_limit(
    urls_identical: Sequence[str],
    urls_nonce: Sequence[str],
    urls_validators: Sequence[str],
    *,
    passes: int,
    concurrency: int,
    urls_change: Sequence[str] = (),
    advance: Callable[[float], object] | None = None,
) -> LimitFigures:
    """Median over ``passes`` passes of each loop; one warm-up pass first opens connections.
    ``urls_change`` and ``advance`` (which changes a fraction of those pages) measure the steady
    loop of the change and new-line rows."""
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
        steady = {
            "steady_304_ms": await _steady(
                SteadyLoop(session), urls_validators, passes=passes, expect="not_modified"
            ),
            "steady_identical_ms": await _steady(
                SteadyLoop(session), urls_identical, passes=passes, expect="unchanged"
            ),
            "steady_nonce_ms": await _steady(
                SteadyLoop(session), urls_nonce, passes=passes, expect="parsed"
            ),
        }
        if urls_change and advance is not None:
            changing = SteadyLoop(session)
            steady["steady_change_ms"] = await _steady(
                changing, urls_change, passes=passes, advance=lambda: advance(0.1), expect="parsed"
            )
            steady["steady_new_item_ms"] = await _steady(
                changing, urls_change, passes=passes, advance=lambda: advance(1.0), expect="parsed"
            )
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
        **steady,
    )
