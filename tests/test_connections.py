"""Bounded connections on the endpoint of ``ticker run`` (issue 12, finding 3).

``ticker run`` runs as a subprocess with ``[service] listen`` on a free 127.0.0.1 port (the
fixtures of test_live); the tests are hostile clients on raw sockets: slowloris sockets that
trickle a request head, more connections than ``[service] max_connections``, a 33rd live stream,
and a process whose descriptors are exhausted while a client keeps connecting.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest
from conftest import PageServer, en_page
from test_live import (  # noqa: F401 -- fixtures used by name
    BASE,
    REPO,
    Live,
    events,
    source_toml,
    start_live_fixture,
    ticker_processes_fixture,
)

from ticker.web.live import MAX_CLIENTS
from ticker.web.server import HEADER_TIMEOUT, MAX_CONNECTIONS, Throttle, connection_cap

MARGIN = 5.0  # seconds on top of a deadline: machines are noisy


@pytest.fixture(name="http")
async def http_fixture() -> AsyncIterator[aiohttp.ClientSession]:
    """A client that keeps no idle connection: each counts against the cap."""
    connector = aiohttp.TCPConnector(force_close=True)
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        yield session


def head(port: int, path: str, *, close: bool = False) -> bytes:
    last = "Connection: close\r\n" if close else ""
    return f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{last}\r\n".encode()


async def read_to_eof(reader: asyncio.StreamReader) -> bytes:
    """Everything the server sends until it closes (a reset counts as closed)."""
    data = b""
    with contextlib.suppress(ConnectionError):
        while chunk := await reader.read(4096):
            data += chunk
    return data


async def exchange(port: int, path: str, *, close: bool = False) -> bytes:
    """GET path on a new connection (``close``: asking for Connection: close); all the server
    sends, failing if it keeps the connection open for more than MARGIN seconds."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(head(port, path, close=close))
        return await asyncio.wait_for(read_to_eof(reader), MARGIN)
    finally:
        writer.close()


async def open_stream(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A live stream on a raw socket, its response head read (it stays open)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(head(port, "/events"))
    status = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    assert status.startswith(b"HTTP/1.1 200"), status
    return reader, writer


async def slowloris(port: int, *, first: bool) -> float:
    """Trickle a request head one byte a second; the seconds until the server closes the socket,
    counted from the opening or, with ``first``, from the end of a first complete request."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    start = time.monotonic()
    if first:
        writer.write(head(port, "/healthz"))
        response = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert response.startswith(b"HTTP/1.1 "), response
        start = time.monotonic()
    writer.write(f"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nX-Slow: ".encode())
    closed = asyncio.create_task(read_to_eof(reader))
    try:
        while not closed.done() and time.monotonic() - start < HEADER_TIMEOUT + 2 * MARGIN:
            with contextlib.suppress(ConnectionError):
                writer.write(b"z")
            await asyncio.wait({closed}, timeout=1.0)
        return time.monotonic() - start
    finally:
        closed.cancel()
        writer.close()


async def test_slowloris_sockets_are_cut_at_the_head_deadline_while_healthz_answers(
    page_server: PageServer, start_live: Callable[..., Awaitable[Live]]
) -> None:
    page_server.set("/en", en_page(BASE))
    live = await start_live(source_toml("en", page_server.url("/en")))
    async with events(live) as stream:
        # Half trickle their first head, half the head after a complete request (keep-alive).
        attacks = [asyncio.create_task(slowloris(live.port, first=n % 2 == 1)) for n in range(20)]
        answered = 0
        while not all(a.done() for a in attacks):
            status, _, _ = await live.get("/healthz")
            assert status in (200, 503)
            answered += 1
            await asyncio.sleep(0.5)
        held = [a.result() for a in attacks]
        assert max(held) < HEADER_TIMEOUT + MARGIN, held
        assert min(held) > HEADER_TIMEOUT / 2, held  # not before the deadline
        assert answered >= HEADER_TIMEOUT, answered
        # A request in progress is never cut: the live stream outlived the deadline.
        assert stream.task is not None
        assert not stream.task.done()


async def test_at_max_connections_slow_sockets_give_way_and_busy_ones_mean_a_503(
    page_server: PageServer, start_live: Callable[..., Awaitable[Live]]
) -> None:
    page_server.set("/en", en_page(BASE))
    cap = 8
    live = await start_live(
        source_toml("en", page_server.url("/en")), service=f"max_connections = {cap}\n"
    )
    # Sockets that never finish their head fill the cap: a client that asks at once still gets
    # an answer, in the place of the one that has waited longest.
    slow = [await asyncio.open_connection("127.0.0.1", live.port) for _ in range(cap)]
    try:
        for _, writer in slow:
            writer.write(b"GET /healthz HTTP/1.1\r\n")
        await asyncio.sleep(0.5)
        for _ in range(3):
            answer = await exchange(live.port, "/healthz", close=True)
            assert answer.startswith(b"HTTP/1.1 200 "), answer
        assert await asyncio.wait_for(read_to_eof(slow[0][0]), MARGIN) == b""  # dropped
    finally:
        for _, writer in slow:
            writer.close()
    # Connections all in a request (live streams): one more gets a 503 and is closed at once.
    streams = [await open_stream(live.port) for _ in range(cap)]
    try:
        for _ in range(3):
            answer = await exchange(live.port, "/healthz")  # and closed at once
            top, _, _ = answer.partition(b"\r\n\r\n")
            assert top.startswith(b"HTTP/1.1 503 "), answer
            assert b"\r\nConnection: close" in top, answer
            assert b"\r\nRetry-After: " in top, answer
        # A connection that leaves frees its place.
        streams.pop()[1].close()

        async def served() -> bool:
            _, _, text = await live.get("/healthz")
            return text.startswith("{")  # the health document, not the refusal

        await live.until(served, "a freed connection", within=5)
    finally:
        for _, writer in streams:
            writer.close()
    refused = live.tp.events("http_connections_refused")
    assert refused, "no http_connections_refused event"
    assert refused[0]["limit"] == cap, refused


async def test_the_33rd_live_client_gets_a_503_and_its_socket_is_closed(
    page_server: PageServer, start_live: Callable[..., Awaitable[Live]]
) -> None:
    page_server.set("/en", en_page(BASE))
    live = await start_live(source_toml("en", page_server.url("/en")))
    streams = [await open_stream(live.port) for _ in range(MAX_CLIENTS)]
    try:
        answer = await exchange(live.port, "/events")  # and closed at once
        top, _, body = answer.partition(b"\r\n\r\n")
        assert top.startswith(b"HTTP/1.1 503 "), answer
        assert b"\r\nConnection: close" in top, answer
        assert b"\r\nRetry-After: 30" in top, answer
        assert b"too many live clients" in body
    finally:
        for _, w in streams:
            w.close()


# -- the accept-error log ---------------------------------------------------------------------

EXHAUST = """
import asyncio, os, resource, sys
from ticker.web.server import limit_accept_errors
from ticker.log import configure

configure(fmt="json")
resource.setrlimit(resource.RLIMIT_NOFILE, (256, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))

async def main() -> None:
    loop = asyncio.get_running_loop()
    if sys.argv[1] == "limited":
        limit_accept_errors(loop)
    server = await loop.create_server(asyncio.Protocol, "127.0.0.1", 0)
    held = []
    try:
        while True:
            held.append(os.open("/dev/null", os.O_RDONLY))
    except OSError:
        pass
    print(server.sockets[0].getsockname()[1], flush=True)
    await asyncio.sleep(float(sys.argv[2]))

asyncio.run(main())
"""


async def exhausted_process(mode: str, seconds: float, log: Path) -> str:
    """A process with every descriptor taken, a client connecting to it all the while: its log."""
    with log.open("wb") as err:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            EXHAUST,
            mode,
            str(seconds),
            stdout=subprocess.PIPE,
            stderr=err,
            cwd=REPO,
        )
    assert proc.stdout is not None
    port = int(await asyncio.wait_for(proc.stdout.readline(), 30))
    deadline = time.monotonic() + seconds + 30
    while proc.returncode is None and time.monotonic() < deadline:
        with contextlib.suppress(OSError, TimeoutError):
            _, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 1)
            writer.close()
        await asyncio.sleep(0.02)
    await asyncio.wait_for(proc.wait(), 10)
    return await asyncio.to_thread(log.read_text, "utf-8", errors="replace")


async def test_accept_errors_are_logged_once_per_interval_with_the_count_held_back(
    tmp_path: Path,
) -> None:
    seconds = 3.5
    limited, default = await asyncio.gather(
        exhausted_process("limited", seconds, tmp_path / "limited.log"),
        exhausted_process("default", seconds, tmp_path / "default.log"),
    )
    # asyncio retries accept() every second and reports each failure (with a traceback).
    assert default.count("socket.accept() out of system resource") >= 3, default[-2000:]
    lines = [json.loads(line) for line in limited.splitlines() if line.startswith("{")]
    assert [e["event"] for e in lines] == ["accept_failed"], limited[-2000:]
    assert "Too many open files" in lines[0]["error"]
    assert "socket.accept()" not in limited


# -- the numbers -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("configured", "descriptors", "cap"),
    [
        (MAX_CONNECTIONS, 1024, 256),  # systemd's default soft limit: a quarter
        (MAX_CONNECTIONS, 8192, 256),  # the unit's LimitNOFILE: the configured cap
        (MAX_CONNECTIONS, 256, 64),
        (MAX_CONNECTIONS, None, 256),  # unlimited
        (10, 8192, 10),
        (256, 2, 1),
    ],
)
def test_the_cap_is_at_most_a_quarter_of_the_descriptors(
    configured: int, descriptors: int | None, cap: int
) -> None:
    assert connection_cap(configured, descriptors) == cap


def test_a_throttle_lets_one_through_per_interval_and_counts_the_rest() -> None:
    throttle = Throttle(10.0)
    assert throttle.allow(100.0) == 0
    assert [throttle.allow(t) for t in (100.5, 105.0, 109.9)] == [None, None, None]
    assert throttle.allow(110.0) == 3
    assert throttle.allow(111.0) is None


def test_the_unit_gives_the_process_descriptors_enough_for_the_cap() -> None:
    unit = (Path(REPO) / "systemd" / "ticker.service").read_text("utf-8")
    limits = [ln.split("=", 1)[1] for ln in unit.splitlines() if ln.startswith("LimitNOFILE=")]
    assert limits, "LimitNOFILE= missing from the unit"
    soft = int(limits[-1].split(":")[0])
    assert connection_cap(MAX_CONNECTIONS, soft) == MAX_CONNECTIONS
