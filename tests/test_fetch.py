"""ticker.fetch against a real aiohttp server on 127.0.0.1: the body cap, timeouts, redirects,
Retry-After and backoff, per-host limits and proxies, the charset chain (docs/reliability.md).

Every test talks HTTP to the ``page_server`` fixture; nothing of ticker's is mocked.
"""

from __future__ import annotations

import asyncio
import functools
import gzip
import socket
import time
import zlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import brotli
import pytest
from aiohttp import web
from conftest import EN_PAGE, PageServer

from ticker.decode import decode_body
from ticker.durations import MAX_RETRY_AFTER, parse_retry_after
from ticker.errors import FetchError
from ticker.fetch import (
    MAX_REDIRECTS,
    AiohttpFetcher,
    FetchResult,
    FetchSettings,
    check_content_type,
)

EN_BYTES = EN_PAGE.read_bytes()
MiB = 1024 * 1024
CAP = 1 * MiB
UA = "ticker-test/1"
ARABIC = "عاجل: وزير الخارجية الإيراني يصل إلى بيروت في زيارة رسمية لبحث التطورات في المنطقة."

PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "WS_PROXY", "WSS_PROXY")


@pytest.fixture(autouse=True)
def _no_proxy_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fetcher honours proxy variables (per-host limit and proxies); keep the tester's own out
    of these tests."""
    for name in PROXY_VARS:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


def fetch_settings(**overrides: Any) -> FetchSettings:
    values: dict[str, Any] = {
        "user_agent": UA,
        "connect_timeout": 2.0,
        "read_timeout": 3.0,
        "total_timeout": 5.0,
        "max_bytes": CAP,
    }
    values.update(overrides)
    return FetchSettings(**values)


async def fetch(url: str, settings: FetchSettings | None = None, **kwargs: Any) -> FetchResult:
    async with AiohttpFetcher(settings or fetch_settings()) as fetcher:
        return await fetcher.fetch(url, **kwargs)


async def fetch_error(url: str, settings: FetchSettings | None = None, **kwargs: Any) -> FetchError:
    with pytest.raises(FetchError) as info:
        await fetch(url, settings, **kwargs)
    return info.value


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@functools.cache
def gzip_bomb() -> bytes:
    """100 MiB of zeros, gzip-compressed (about 450 KB), built a MiB at a time."""
    z = zlib.compressobj(1, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    zeros = bytes(MiB)
    return b"".join(z.compress(zeros) for _ in range(100)) + z.flush()


@functools.cache
def brotli_bomb() -> bytes:
    br = brotli.Compressor(quality=5)
    zeros = bytes(MiB)
    blob: bytes = b"".join(br.process(zeros) for _ in range(100)) + br.finish()
    return blob


def _raw_deflate(data: bytes) -> bytes:
    c = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    return c.compress(data) + c.flush()


def encoded_response(body: bytes, encoding: str, **headers: str) -> web.Response:
    return web.Response(
        body=body,
        content_type="text/html",
        charset="utf-8",
        headers={"Content-Encoding": encoding, **headers},
    )


async def stream_until_gone(
    request: web.Request, chunks: AsyncIterator[bytes], sent: list[int], **headers: str
) -> web.StreamResponse:
    """Stream ``chunks`` until they run out or the client hangs up; count what was written."""
    resp = web.StreamResponse(headers={"Content-Type": "text/html", **headers})
    await resp.prepare(request)
    try:
        async for chunk in chunks:
            await resp.write(chunk)
            sent[0] += len(chunk)
        await resp.write_eof()
    except ConnectionResetError:
        pass  # the fetcher gave up and closed the connection, as it should
    return resp


# -- 200, validators, conditional GET -----------------------------------------------------------


async def test_200_returns_body_type_charset_and_validators(page_server: PageServer) -> None:
    page_server.set(
        "/page",
        EN_BYTES,
        headers={"ETag": '"v1"', "Last-Modified": "Wed, 21 Oct 2015 07:28:00 GMT"},
    )
    result = await fetch(page_server.url("/page"))
    assert result.status == 200
    assert not result.not_modified
    assert result.body == EN_BYTES
    assert result.content_type == "text/html"
    assert result.charset == "utf-8"
    assert result.etag == '"v1"'
    assert result.last_modified == "Wed, 21 Oct 2015 07:28:00 GMT"
    assert result.url == page_server.url("/page")
    assert result.received_at > 0


async def test_no_validators_means_no_conditional_headers(page_server: PageServer) -> None:
    page_server.set("/page", "<p>x</p>")
    await fetch(page_server.url("/page"))
    sent = page_server.requests[-1].headers
    assert "If-None-Match" not in sent
    assert "If-Modified-Since" not in sent


async def test_conditional_get_with_etag_gives_304(page_server: PageServer) -> None:
    async def handler(request: web.Request) -> web.Response:
        if request.headers.get("If-None-Match") == '"v1"':
            return web.Response(status=304, headers={"ETag": '"v1"'})
        return web.Response(text="<p>news</p>", content_type="text/html", headers={"ETag": '"v1"'})

    page_server.handlers["/cond"] = handler
    first = await fetch(page_server.url("/cond"))
    assert first.status == 200
    assert first.etag == '"v1"'

    second = await fetch(page_server.url("/cond"), etag=first.etag)
    assert second.not_modified
    assert second.status == 304
    assert second.body == b""
    assert second.etag == '"v1"'
    assert page_server.requests[-1].headers["If-None-Match"] == '"v1"'


async def test_conditional_get_with_last_modified_gives_304(page_server: PageServer) -> None:
    stamp = "Wed, 21 Oct 2015 07:28:00 GMT"

    async def handler(request: web.Request) -> web.Response:
        if request.headers.get("If-Modified-Since") == stamp:
            return web.Response(status=304)
        return web.Response(text="<p>news</p>", headers={"Last-Modified": stamp})

    page_server.handlers["/cond"] = handler
    first = await fetch(page_server.url("/cond"))
    assert first.last_modified == stamp
    second = await fetch(page_server.url("/cond"), last_modified=first.last_modified)
    assert second.not_modified
    assert second.body == b""
    assert page_server.requests[-1].headers["If-Modified-Since"] == stamp


# -- Content-Encoding ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("encoding", "encode"),
    [
        ("gzip", gzip.compress),
        ("br", brotli.compress),
        ("deflate", zlib.compress),
        ("deflate", _raw_deflate),
    ],
    ids=["gzip", "br", "deflate-zlib", "deflate-raw"],
)
async def test_compressed_page_decodes_to_the_original_bytes(
    page_server: PageServer, encoding: str, encode: Any
) -> None:
    blob = encode(EN_BYTES)

    async def handler(request: web.Request) -> web.Response:
        return encoded_response(blob, encoding)

    page_server.handlers["/z"] = handler
    result = await fetch(page_server.url("/z"))
    assert result.body == EN_BYTES
    accepted = page_server.requests[-1].headers["Accept-Encoding"]
    assert {"gzip", "deflate", "br"} <= {e.strip() for e in accepted.split(",")}


@pytest.mark.parametrize("kind", ["gzip", "br"])
async def test_compression_bomb_is_too_large_quickly(page_server: PageServer, kind: str) -> None:
    blob, encoding = (gzip_bomb(), "gzip") if kind == "gzip" else (brotli_bomb(), "br")
    assert len(blob) < CAP  # Content-Length passes the cap; only decompression can tell

    async def handler(request: web.Request) -> web.Response:
        return encoded_response(blob, encoding)

    page_server.handlers["/bomb"] = handler
    started = time.monotonic()
    err = await fetch_error(page_server.url("/bomb"))
    assert err.kind == "too_large"
    assert "too large" in str(err)
    assert time.monotonic() - started < 2


async def test_corrupt_gzip_body_is_a_content_error(page_server: PageServer) -> None:
    async def handler(request: web.Request) -> web.Response:
        return encoded_response(b"<html>this is not gzip</html>", "gzip")

    page_server.handlers["/bad"] = handler
    err = await fetch_error(page_server.url("/bad"))
    assert err.kind == "content"
    assert "corrupt" in str(err)


async def test_unsupported_content_encoding_is_a_content_error(page_server: PageServer) -> None:
    async def handler(request: web.Request) -> web.Response:
        return encoded_response(b"\x28\xb5\x2f\xfd whatever", "zstd")

    page_server.handlers["/zstd"] = handler
    err = await fetch_error(page_server.url("/zstd"))
    assert err.kind == "content"
    assert "zstd" in str(err)


async def test_truncated_gzip_body_is_a_content_error_not_a_shorter_page(
    page_server: PageServer,
) -> None:
    """A gzip stream that stops before its end (consistent Content-Length) is corrupt.

    Accepting it silently yields a page missing its tail: items seem to vanish and come back.
    """
    blob = gzip.compress(EN_BYTES)[:-2000]

    async def handler(request: web.Request) -> web.Response:
        return encoded_response(blob, "gzip")

    page_server.handlers["/cut"] = handler
    err = await fetch_error(page_server.url("/cut"))
    assert err.kind == "content"


# -- size cap (body cap) ---------------------------------------------------------------------------


async def test_content_length_over_the_cap_fails_before_reading(page_server: PageServer) -> None:
    """Headers promise 50 MB and no body ever comes: only a Content-Length check can answer fast.

    Had the fetcher started reading, it would wait for the read timeout (kind timeout).
    """
    release = asyncio.Event()

    async def handler(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/html"})
        resp.content_length = 50 * 1000 * 1000
        await resp.prepare(request)
        await asyncio.wait_for(release.wait(), 5)
        return resp

    page_server.handlers["/huge"] = handler
    started = time.monotonic()
    try:
        err = await fetch_error(page_server.url("/huge"), fetch_settings(read_timeout=2.0))
    finally:
        release.set()
    assert err.kind == "too_large"
    assert "Content-Length" in str(err)
    assert time.monotonic() - started < 1


async def test_streamed_50mb_page_without_length_is_cut_at_the_cap(page_server: PageServer) -> None:
    sent = [0]

    async def chunks() -> AsyncIterator[bytes]:
        block = b"<p>" + b"x" * (64 * 1024 - 7) + b"</p>"
        for _ in range(50 * MiB // len(block)):
            yield block

    async def handler(request: web.Request) -> web.StreamResponse:
        return await stream_until_gone(request, chunks(), sent)

    page_server.handlers["/stream"] = handler
    started = time.monotonic()
    err = await fetch_error(page_server.url("/stream"))
    assert err.kind == "too_large"
    assert time.monotonic() - started < 3
    await asyncio.sleep(0.2)  # let the handler notice the hang-up
    assert sent[0] < 25 * MiB, f"server kept sending: {sent[0]} bytes written"


# -- timeouts ------------------------------------------------------------------------------------


async def test_trickling_server_is_cut_off_at_the_total_timeout(page_server: PageServer) -> None:
    """One byte every 0.2 s never trips the 1 s read timeout; the 1.5 s total catches it."""

    async def trickle() -> AsyncIterator[bytes]:
        for _ in range(75):  # 15 s at most, if nobody hangs up
            yield b"x"
            await asyncio.sleep(0.2)

    async def handler(request: web.Request) -> web.StreamResponse:
        return await stream_until_gone(request, trickle(), [0])

    page_server.handlers["/slow"] = handler
    started = time.monotonic()
    err = await fetch_error(
        page_server.url("/slow"), fetch_settings(total_timeout=1.5, read_timeout=1.0)
    )
    elapsed = time.monotonic() - started
    assert err.kind == "timeout"
    assert "timed out after 1.5s" in str(err)
    assert 1.0 < elapsed < 3.5


async def test_server_that_goes_silent_after_headers_hits_the_read_timeout(
    page_server: PageServer,
) -> None:
    release = asyncio.Event()

    async def handler(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/html"})
        await resp.prepare(request)
        await resp.write(b"<html>")
        await asyncio.wait_for(release.wait(), 5)
        return resp

    page_server.handlers["/stall"] = handler
    started = time.monotonic()
    try:
        err = await fetch_error(
            page_server.url("/stall"), fetch_settings(read_timeout=0.5, total_timeout=5.0)
        )
    finally:
        release.set()
    assert err.kind == "timeout"
    assert "no data for 0.5s (read_timeout)" in str(err)
    assert time.monotonic() - started < 2.5


async def test_server_slow_to_send_its_headers_is_cut_off_after_connect_and_read(
    page_server: PageServer,
) -> None:
    """Until the headers arrive the request has connect_timeout + read_timeout (what aiohttp
    gave a hop to connect, then to answer)."""
    release = asyncio.Event()

    async def handler(request: web.Request) -> web.Response:
        await asyncio.wait_for(release.wait(), 5)
        return web.Response(text="late")

    page_server.handlers["/late"] = handler
    started = time.monotonic()
    try:
        err = await fetch_error(
            page_server.url("/late"),
            fetch_settings(connect_timeout=0.3, read_timeout=0.4, total_timeout=5.0),
        )
    finally:
        release.set()
    elapsed = time.monotonic() - started
    assert err.kind == "timeout"
    assert "no answer within 0.7s (connect_timeout + read_timeout)" in str(err)
    assert 0.65 < elapsed < 2.5


async def test_a_redirect_chain_slower_than_the_read_timeout_still_arrives(
    page_server: PageServer,
) -> None:
    """Three redirects answering after 0.3 s each (1.2 s to the page) under a 0.5 s read
    timeout: each hop was within what aiohttp allowed it, and so is the chain."""

    async def hop(request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(0.3)
        n = int(request.match_info.get("tail", "hop/0").rsplit("/", 1)[-1])
        if n < 3:
            raise web.HTTPFound(f"/hop/{n + 1}")
        return web.Response(text="<p>arrived</p>", content_type="text/html")

    for n in range(4):
        page_server.handlers[f"/hop/{n}"] = hop
    result = await fetch(
        page_server.url("/hop/0"),
        fetch_settings(connect_timeout=2.0, read_timeout=0.5, total_timeout=5.0),
    )
    assert result.body == b"<p>arrived</p>"


async def test_a_page_that_keeps_coming_outlasts_the_read_timeout(page_server: PageServer) -> None:
    """Pieces 0.15 s apart for 1 s in all: each moves the 0.4 s read deadline on, and the page
    arrives whole."""

    async def pieces() -> AsyncIterator[bytes]:
        for i in range(7):
            yield f"<p>piece {i}</p>".encode()
            await asyncio.sleep(0.15)

    async def handler(request: web.Request) -> web.StreamResponse:
        return await stream_until_gone(request, pieces(), [0])

    page_server.handlers["/pieces"] = handler
    result = await fetch(
        page_server.url("/pieces"), fetch_settings(read_timeout=0.4, total_timeout=5.0)
    )
    assert result.body.count(b"<p>piece") == 7


async def test_a_fetch_cancelled_from_outside_stays_cancelled(page_server: PageServer) -> None:
    """A stop cancels polls in flight: that is not turned into a timeout (the same moment as a
    read timeout: tests/test_deadline.py)."""
    release = asyncio.Event()

    async def handler(request: web.Request) -> web.Response:
        await asyncio.wait_for(release.wait(), 5)
        return web.Response(text="late")

    page_server.handlers["/hold"] = handler
    try:
        task = asyncio.create_task(fetch(page_server.url("/hold")))
        await asyncio.sleep(0.3)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    finally:
        release.set()


# -- HTTP errors and Retry-After (Retry-After and backoff) -----------------------------------------


async def test_404_is_an_http_error_with_its_status(page_server: PageServer) -> None:
    err = await fetch_error(page_server.url("/missing"))
    assert err.kind == "http"
    assert err.status == 404
    assert err.retry_after is None
    assert "404" in str(err)


async def test_503_with_retry_after_seconds(page_server: PageServer) -> None:
    page_server.set("/busy", "busy", status=503, headers={"Retry-After": "120"})
    err = await fetch_error(page_server.url("/busy"))
    assert err.kind == "http"
    assert err.status == 503
    assert err.retry_after == 120
    assert "retry after 120s" in str(err)


async def test_429_with_retry_after_http_date(page_server: PageServer) -> None:
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=90), usegmt=True)
    page_server.set("/limited", "slow down", status=429, headers={"Retry-After": when})
    err = await fetch_error(page_server.url("/limited"))
    assert err.kind == "http"
    assert err.status == 429
    assert err.retry_after is not None
    assert 80 <= err.retry_after <= 90


async def test_huge_retry_after_is_capped(page_server: PageServer) -> None:
    page_server.set("/busy", "busy", status=503, headers={"Retry-After": "99999999"})
    err = await fetch_error(page_server.url("/busy"))
    assert err.retry_after == MAX_RETRY_AFTER


async def test_garbage_retry_after_is_ignored(page_server: PageServer) -> None:
    page_server.set("/busy", "busy", status=503, headers={"Retry-After": "soon, maybe"})
    err = await fetch_error(page_server.url("/busy"))
    assert err.kind == "http"
    assert err.retry_after is None


async def test_non_ascii_digit_retry_after_is_still_a_fetch_error(page_server: PageServer) -> None:
    """A hostile or broken server sends 'Retry-After: ²' ('²'.isdigit() is True)."""
    page_server.set("/busy", "busy", status=503, headers={"Retry-After": "²"})
    err = await fetch_error(page_server.url("/busy"))
    assert err.kind == "http"
    assert err.status == 503


async def test_204_no_content_is_an_http_error(page_server: PageServer) -> None:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(status=204)

    page_server.handlers["/nothing"] = handler
    err = await fetch_error(page_server.url("/nothing"))
    assert err.kind == "http"
    assert err.status == 204


# -- redirects -----------------------------------------------------------------------------------


def add_redirect_chain(page_server: PageServer, hops: int) -> str:
    """/hop{hops} -> ... -> /hop1 -> /final; returns the first URL."""

    def redirect_to(target: str) -> Any:
        async def handler(request: web.Request) -> web.Response:
            raise web.HTTPFound(target)

        return handler

    for n in range(1, hops + 1):
        page_server.handlers[f"/hop{n}"] = redirect_to(f"/hop{n - 1}" if n > 1 else "/final")
    page_server.set("/final", "<p>arrived</p>")
    return page_server.url(f"/hop{hops}")


async def test_redirect_is_followed_and_final_url_reported(page_server: PageServer) -> None:
    result = await fetch(add_redirect_chain(page_server, 1))
    assert result.body == b"<p>arrived</p>"
    assert result.url == page_server.url("/final")


async def test_five_redirects_are_followed(page_server: PageServer) -> None:
    """Redirects: at most 5 redirects, so a chain of exactly MAX_REDIRECTS hops still arrives."""
    assert MAX_REDIRECTS == 5
    result = await fetch(add_redirect_chain(page_server, MAX_REDIRECTS))
    assert result.body == b"<p>arrived</p>"


async def test_six_redirects_are_refused(page_server: PageServer) -> None:
    err = await fetch_error(add_redirect_chain(page_server, MAX_REDIRECTS + 1))
    assert err.kind == "redirect"
    assert page_server.hits("/final") == 0


async def test_redirect_loop_is_a_redirect_error(page_server: PageServer) -> None:
    async def loop(request: web.Request) -> web.Response:
        raise web.HTTPFound("/loop")

    page_server.handlers["/loop"] = loop
    err = await fetch_error(page_server.url("/loop"))
    assert err.kind == "redirect"
    assert "redirect" in str(err)
    assert page_server.hits("/loop") <= MAX_REDIRECTS + 1


@pytest.mark.parametrize(
    "target", ["file:///etc/passwd", "ftp://127.0.0.1/x", "javascript:alert(1)"]
)
async def test_redirect_to_a_non_http_url_is_refused(page_server: PageServer, target: str) -> None:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(status=302, headers={"Location": target})

    page_server.handlers["/away"] = handler
    err = await fetch_error(page_server.url("/away"))
    assert err.kind == "redirect"


# -- connection trouble -------------------------------------------------------------------------


async def test_closed_port_is_a_connect_error() -> None:
    port = free_port()
    err = await fetch_error(f"http://127.0.0.1:{port}/")
    assert err.kind == "connect"
    assert f"127.0.0.1:{port}" in str(err)


async def test_unresolvable_host_is_a_dns_error() -> None:
    err = await fetch_error("http://nonexistent.invalid/")
    # A sandbox without a resolver may fail differently; it must still be a FetchError that
    # names the host.
    assert err.kind in ("dns", "connect")
    assert "nonexistent.invalid" in str(err)


@pytest.mark.parametrize("url", ["http://", "not a url", "http://[::1"])
async def test_malformed_url_is_a_url_error(url: str) -> None:
    err = await fetch_error(url)
    assert err.kind == "url"


async def test_non_http_scheme_is_a_url_error() -> None:
    err = await fetch_error("ftp://127.0.0.1/file")
    assert err.kind == "url"


async def test_fetch_outside_async_with_is_a_programming_error() -> None:
    fetcher = AiohttpFetcher(fetch_settings())
    with pytest.raises(RuntimeError, match="async with"):
        await fetcher.fetch("http://127.0.0.1/")


# -- content ------------------------------------------------------------------------------------


@pytest.mark.parametrize("body", [b"", b"  \r\n\t "], ids=["empty", "whitespace"])
async def test_empty_body_is_a_content_error(page_server: PageServer, body: bytes) -> None:
    page_server.set("/empty", body)
    err = await fetch_error(page_server.url("/empty"))
    assert err.kind == "content"
    assert err.status == 200


async def test_charset_header_is_reported_as_sent(page_server: PageServer) -> None:
    page_server.set("/ar", f"<p>{ARABIC}</p>".encode("cp1256"), charset="windows-1256")
    result = await fetch(page_server.url("/ar"))
    assert result.charset == "windows-1256"
    assert decode_body(result.body, header_charset=result.charset).text == f"<p>{ARABIC}</p>"


async def test_windows_1256_page_with_a_lying_utf8_header_reads_as_arabic(
    page_server: PageServer,
) -> None:
    body = f"<html><body><p>{ARABIC}</p></body></html>".encode("cp1256")
    page_server.set("/ar", body, charset="utf-8")
    result = await fetch(page_server.url("/ar"))
    assert result.body == body
    assert result.charset == "utf-8"
    assert ARABIC in decode_body(result.body, header_charset=result.charset).text


# -- request headers, connection limits and proxies (per-host limit and proxies) -------------------


async def test_user_agent_and_accept_are_tickers(page_server: PageServer) -> None:
    page_server.set("/page", "<p>x</p>")
    await fetch(page_server.url("/page"))
    sent = page_server.requests[-1].headers
    assert sent["User-Agent"] == UA
    assert "text/html" in sent["Accept"]


async def test_custom_headers_are_passed_through(page_server: PageServer) -> None:
    page_server.set("/page", "<p>x</p>")
    await fetch(
        page_server.url("/page"),
        headers={"X-Ticker-Test": "yes", "Accept-Language": "ar", "Cookie": "consent=1"},
    )
    sent = page_server.requests[-1].headers
    assert sent["X-Ticker-Test"] == "yes"
    assert sent["Accept-Language"] == "ar"
    assert sent["Cookie"] == "consent=1"
    assert sent["User-Agent"] == UA


async def test_a_source_may_set_its_own_user_agent(page_server: PageServer) -> None:
    page_server.set("/page", "<p>x</p>")
    await fetch(page_server.url("/page"), headers={"User-Agent": "Mozilla/5.0 custom"})
    assert page_server.requests[-1].headers["User-Agent"] == "Mozilla/5.0 custom"


async def test_at_most_per_host_requests_in_flight(page_server: PageServer) -> None:
    active = [0, 0]  # now, peak

    async def handler(request: web.Request) -> web.Response:
        active[0] += 1
        active[1] = max(active[1], active[0])
        await asyncio.sleep(0.15)
        active[0] -= 1
        return web.Response(text="<p>x</p>")

    page_server.handlers["/busy"] = handler
    async with AiohttpFetcher(fetch_settings(per_host=2)) as fetcher:
        results = await asyncio.gather(*(fetcher.fetch(page_server.url("/busy")) for _ in range(6)))
    assert all(r.status == 200 for r in results)
    assert active[1] == 2


async def test_http_proxy_variable_is_honoured(
    page_server: PageServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """HTTP_PROXY points at the page server, which answers for a host that does not exist."""
    monkeypatch.setenv("HTTP_PROXY", page_server.url("/"))
    page_server.set("/feed", "<p>via proxy</p>")
    result = await fetch("http://news.example.invalid/feed")
    assert result.body == b"<p>via proxy</p>"
    assert page_server.requests[-1].host == "news.example.invalid"


async def test_no_proxy_variable_is_honoured(
    page_server: PageServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    page_server.set("/page", "<p>direct</p>")
    result = await fetch(page_server.url("/page"))
    assert result.body == b"<p>direct</p>"


# -- parse_retry_after --------------------------------------------------------------------------

NOW = datetime(2015, 10, 21, 7, 27, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("120", 120.0),
        (" 7 ", 7.0),
        ("0", 0.0),
        ("3600", 3600.0),
        ("3601", MAX_RETRY_AFTER),
        ("99999999999", MAX_RETRY_AFTER),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 60.0),
        ("Wed, 21 Oct 2015 07:27:00 GMT", 0.0),
        ("Wed, 21 Oct 2015 07:00:00 GMT", 0.0),  # in the past: no wait, never negative
        ("Thu, 22 Oct 2015 07:27:00 GMT", MAX_RETRY_AFTER),
        ("Wed, 21 Oct 2015 09:28:00 +0200", 60.0),
    ],
)
def test_parse_retry_after(value: str, expected: float) -> None:
    assert parse_retry_after(value, now=NOW) == expected


@pytest.mark.parametrize(
    "value",
    [None, "", "   ", "soon", "-5", "1.5", "12 seconds", "Wed, 32 Oct 2015 07:28:00 GMT", "²"],
)
def test_parse_retry_after_garbage_is_none(value: str | None) -> None:
    assert parse_retry_after(value, now=NOW) is None


# -- check_content_type -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content_type", "is_json"),
    [
        ("", False),
        ("", True),
        ("text/html", False),
        ("TEXT/HTML", False),
        ("application/xhtml+xml", False),
        ("application/json", True),
        ("application/json", False),
        ("application/ld+json", True),
        ("application/rss+xml", False),
        ("text/plain", True),
        ("application/octet-stream", False),
    ],
)
def test_check_content_type_accepts_textual_types(content_type: str, is_json: bool) -> None:
    assert check_content_type(content_type, is_json=is_json) is None


@pytest.mark.parametrize(
    ("content_type", "is_json", "expected"),
    [
        ("image/png", False, "HTML"),
        ("image/png", True, "JSON"),
        ("application/pdf", False, "HTML"),
        ("video/mp4", True, "JSON"),
    ],
)
def test_check_content_type_refuses_binary_types(
    content_type: str, is_json: bool, expected: str
) -> None:
    reason = check_content_type(content_type, is_json=is_json)
    assert reason is not None
    assert expected in reason
    assert content_type in reason
