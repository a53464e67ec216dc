"""Issue 12, finding 10: redirects across ports, truncated compressed bodies, slow sources that
starved their host's others. Real aiohttp servers on 127.0.0.1; nothing of ticker's is mocked.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import time
import zlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import brotli
import pytest
from aiohttp import web
from conftest import EN_PAGE, PageServer, serving_pages
from test_fetch import _no_proxy_env, fetch, fetch_error, fetch_settings  # noqa: F401

from ticker.decode import MAX_GZIP_MEMBERS
from ticker.fetch import MAX_REDIRECTS, AiohttpFetcher, HostGate

EN_BYTES = EN_PAGE.read_bytes()


@pytest.fixture
async def other_server() -> AsyncIterator[PageServer]:
    """A second page server: the same host (127.0.0.1), another port."""
    async with serving_pages() as ps:
        yield ps


def bounce_to(target: Callable[[], str]) -> Any:
    async def handler(request: web.Request) -> web.Response:
        raise web.HTTPFound(target())

    return handler


# -- redirects -----------------------------------------------------------------------------------


async def test_redirect_loop_across_ports_stops_at_the_limit_and_names_the_url_redacted(
    page_server: PageServer, other_server: PageServer
) -> None:
    """A -> B (another port of 127.0.0.1) -> A ...: ends after MAX_REDIRECTS hops, and the
    error names the source without its password or query values."""
    secret_query = "?token=s3cr3tvalue&page=2"
    page_server.handlers["/a"] = bounce_to(lambda: other_server.url("/b") + secret_query)
    other_server.handlers["/b"] = bounce_to(lambda: page_server.url("/a") + secret_query)
    assert page_server.server is not None
    port = page_server.server.port
    url = f"http://reader:hunter2@127.0.0.1:{port}/a{secret_query}"

    started = time.monotonic()
    err = await fetch_error(url)
    assert err.kind == "redirect"
    assert page_server.hits("/a") + other_server.hits("/b") == MAX_REDIRECTS + 1
    assert time.monotonic() - started < 2
    message = str(err)
    assert f"http://127.0.0.1:{port}/a?token=***&page=***" in message
    assert "hunter2" not in message
    assert "reader" not in message
    assert "s3cr3tvalue" not in message


async def test_redirect_to_a_non_http_url_does_not_show_the_target_secrets(
    page_server: PageServer,
) -> None:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(status=302, headers={"Location": "ftp://bob:pa55word@10.0.0.1/x?k=zz9"})

    page_server.handlers["/away"] = handler
    err = await fetch_error(page_server.url("/away"))
    assert err.kind == "redirect"
    assert page_server.url("/away") in str(err)
    assert "ftp:" in str(err)
    assert "pa55word" not in str(err)
    assert "zz9" not in str(err)


# -- truncated compressed bodies ----------------------------------------------------------------


def gzip_members(*parts: bytes) -> bytes:
    return b"".join(gzip.compress(p) for p in parts)


HALF = len(EN_BYTES) // 2


@pytest.mark.parametrize(
    "blob",
    [
        # A complete first member, then a second one cut short: was served as the first half.
        gzip_members(EN_BYTES[:HALF], EN_BYTES[HALF:])[:-500],
        # ... or cut right after its first magic byte.
        gzip_members(EN_BYTES[:HALF]) + b"\x1f",
        # ... or cut inside its 10-byte header.
        gzip_members(EN_BYTES[:HALF]) + gzip.compress(EN_BYTES[HALF:])[:6],
    ],
    ids=["second-member-cut", "after-magic-byte", "in-second-header"],
)
async def test_gzip_cut_after_a_complete_member_is_a_content_error(
    page_server: PageServer, blob: bytes
) -> None:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(
            body=blob, content_type="text/html", headers={"Content-Encoding": "gzip"}
        )

    page_server.handlers["/cut"] = handler
    err = await fetch_error(page_server.url("/cut"))
    assert err.kind == "content"
    assert "truncated" in str(err)


async def test_a_complete_multi_member_gzip_page_is_read_whole(page_server: PageServer) -> None:
    """RFC 1952 allows several members; the page is all of them, not the first."""
    blob = gzip_members(EN_BYTES[:HALF], EN_BYTES[HALF:]) + b"\0\0\0\0"  # with NUL padding

    async def handler(request: web.Request) -> web.Response:
        return web.Response(
            body=blob, content_type="text/html", headers={"Content-Encoding": "gzip"}
        )

    page_server.handlers["/two"] = handler
    result = await fetch(page_server.url("/two"))
    assert result.body == EN_BYTES


async def test_a_body_of_thousands_of_tiny_gzip_members_is_refused(page_server: PageServer) -> None:
    """Each member costs a decompressor on the event loop: 250,000 one-byte members held it
    for 0.8 s a poll. A body may hold MAX_GZIP_MEMBERS; past that it is a content error."""
    blob = gzip_members(*(bytes([b]) for b in EN_BYTES[:5000]))
    within = gzip_members(*(EN_BYTES[i : i + 100] for i in range(0, 100 * MAX_GZIP_MEMBERS, 100)))

    async def handler(request: web.Request) -> web.Response:
        body = within if request.query.get("n") == "ok" else blob
        return web.Response(
            body=body, content_type="text/html", headers={"Content-Encoding": "gzip"}
        )

    page_server.handlers["/many"] = handler
    err = await fetch_error(page_server.url("/many"))
    assert err.kind == "content"
    assert "gzip members" in str(err)
    result = await fetch(page_server.url("/many?n=ok"))
    assert result.body == EN_BYTES[: 100 * MAX_GZIP_MEMBERS]


@pytest.mark.parametrize(
    ("encoding", "encode"),
    [("gzip", gzip.compress), ("deflate", zlib.compress), ("br", brotli.compress)],
)
async def test_content_length_over_what_arrived_is_a_fetch_error(
    encoding: str, encode: Callable[[bytes], bytes]
) -> None:
    """The whole compressed stream arrives but Content-Length promised more, then the server
    hangs up. (A guard: aiohttp's ContentLengthError already makes this an error.)"""
    blob = encode(EN_BYTES)

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        head = (
            "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n"
            f"Content-Encoding: {encoding}\r\nContent-Length: {len(blob) + 100}\r\n\r\n"
        )
        writer.write(head.encode() + blob)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        err = await fetch_error(f"http://127.0.0.1:{port}/")
    finally:
        server.close()
        await server.wait_closed()
    assert err.kind == "network"
    assert "cut short" in str(err)


# -- slow sources and per-host politeness (per-host limit and proxies) -----------------------------


async def test_two_slow_sources_do_not_starve_a_fast_one_on_the_same_host(
    page_server: PageServer,
) -> None:
    """Two sources answering after 8 s held both per-host places: the host's fast source
    waited for them (9.3 s in review). Now a request slow for ``slow_after`` (1 s) gives its
    place back."""
    release = asyncio.Event()

    async def slow(request: web.Request) -> web.Response:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(release.wait(), 8)
        return web.Response(text="<p>slow</p>", content_type="text/html")

    page_server.handlers["/slow1"] = slow
    page_server.handlers["/slow2"] = slow
    page_server.set("/fast", "<p>fast</p>")
    settings = fetch_settings(per_host=2, read_timeout=12.0, total_timeout=15.0)
    assert settings.slow_after == 1.0
    async with AiohttpFetcher(settings) as fetcher:
        slow_polls = [
            asyncio.create_task(fetcher.fetch(page_server.url(p))) for p in ("/slow1", "/slow2")
        ]
        await asyncio.sleep(0.2)  # both slow requests hold their places
        started = time.monotonic()
        fast = await fetcher.fetch(page_server.url("/fast"))
        waited = time.monotonic() - started
        release.set()
        assert all(r.body == b"<p>slow</p>" for r in await asyncio.gather(*slow_polls))
    assert fast.body == b"<p>fast</p>"
    print(f"fast source behind two slow ones: {waited:.2f} s")
    assert waited < 5


async def test_slow_requests_to_one_host_stop_at_the_ceiling(page_server: PageServer) -> None:
    """Slow requests stop counting against per_host, but never more than per_host_ceiling
    run against one host at once."""
    active = [0, 0]  # now, peak
    release = asyncio.Event()
    full = asyncio.Event()
    settings = fetch_settings(per_host=2, slow_after=0.2, read_timeout=12.0, total_timeout=15.0)
    ceiling = settings.per_host_ceiling
    assert ceiling == 6

    async def stuck(request: web.Request) -> web.Response:
        active[0] += 1
        active[1] = max(active[1], active[0])
        if active[0] >= ceiling:
            full.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(release.wait(), 8)
        active[0] -= 1
        return web.Response(text="<p>x</p>", content_type="text/html")

    page_server.handlers["/stuck"] = stuck
    async with AiohttpFetcher(settings) as fetcher:
        polls = [
            asyncio.create_task(fetcher.fetch(page_server.url(f"/stuck?n={n}"))) for n in range(12)
        ]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(full.wait(), 4)
        await asyncio.sleep(0.6)  # three more slow_after periods: nothing more may start
        peak = active[1]
        release.set()
        results = await asyncio.gather(*polls)
    assert peak == ceiling
    assert all(r.status == 200 for r in results)


async def test_a_gate_hands_places_on_as_requests_turn_slow_one_after_another() -> None:
    """No request has a timer of its own: a waiter is let in when the oldest request still
    counting turns slow, and the next waiter when the one let in turns slow in its turn."""
    loop = asyncio.get_running_loop()
    gate = HostGate(1, 3, slow_after=0.1)
    first = await gate.acquire()
    started = loop.time()
    second = asyncio.create_task(gate.acquire())
    third = asyncio.create_task(gate.acquire())
    fourth = asyncio.create_task(gate.acquire())
    tickets = [await asyncio.wait_for(t, 2) for t in (second, third)]
    waited = loop.time() - started
    assert waited >= 0.2 - 0.01  # each one waited for the one before it to turn slow
    assert (gate.counted, gate.open) == (1, 3)
    await asyncio.sleep(0.3)
    assert not fourth.done()  # the ceiling: three in flight, slow or not
    gate.release(first)
    tickets.append(await asyncio.wait_for(fourth, 1))
    for ticket in tickets:
        gate.release(ticket)
    assert (gate.counted, gate.open) == (0, 0)
    assert (await asyncio.wait_for(gate.acquire(), 1)).counted


async def test_a_waiter_cancelled_after_being_handed_a_place_gives_it_back() -> None:
    gate = HostGate(1, 3, slow_after=0)
    first = await gate.acquire()
    waiter = asyncio.create_task(gate.acquire())
    await asyncio.sleep(0)
    gate.release(first)  # hands the place to the waiter ...
    waiter.cancel()  # ... which is cancelled before it runs
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert (gate.counted, gate.open) == (0, 0)
    again = await asyncio.wait_for(gate.acquire(), 1)
    gate.release(again)
    assert (gate.counted, gate.open) == (0, 0)
