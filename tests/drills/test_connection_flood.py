"""Drill (issue 12, finding 3): a flood of connections under systemd's default descriptor limit.

``ticker run`` with ``listen`` set starts with the soft RLIMIT_NOFILE of 1,024 that systemd gives
a service by default (inherited: the drill lowers its own soft limit while it starts the
process). From a thread of its own the drill then holds SLOW slowloris sockets (a partial
request head, one byte a second, reopened a second after the server cuts them) and LIVE
``/events`` clients (each tries again 3 s after its stream ends or is refused, as the page's
``retry: 3000`` asks; a refused one first waits for the server to hang up), while the source's
ticker gains a line every few seconds.

Measured: each line's delay from the poll that first fetched it to its arrival at the webhook
sink (< 2 s), /healthz probes (each answered with the health document), the descriptors the
process holds (sampled from /proc: the endpoint's cap and a few dozen more), what it logs
during the flood (no ``Too many open files``, no accept-error line, a few kB a second at most).

Short form (CI): 300 slowloris sockets and 200 live clients for 25 s. Long form: 1,100 and 2,000
for 75 s.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from ticker.web.server import MAX_CONNECTIONS

from .harness import (
    Feed,
    Ticker,
    Tickers,
    channel_toml,
    percentile,
    pick,
    service_toml,
    source_toml,
    timeout,
    token_of,
    write_config,
)
from .servers import PageServer, ServerThread, free_port

pytestmark = pytest.mark.drill

SLOW = pick(300, 1100)
LIVE = pick(200, 2000)
DURATION = pick(25.0, 75.0)
SYSTEMD_NOFILE = 1024  # systemd's DefaultLimitNOFILE soft limit
LINE_EVERY = 4.0
LATENCY = 2.0  # from the poll that fetched a line to its arrival at the sink


@contextlib.contextmanager
def soft_nofile(limit: int) -> Iterator[None]:
    """This process's soft descriptor limit set to ``limit`` for the block (children inherit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


class Flood(ServerThread):
    """Slowloris sockets and live clients against ``127.0.0.1:port``, on a loop of their own."""

    def __init__(self, port: int, *, slow: int, live: int) -> None:
        super().__init__("drill-flood")
        self.port = port
        self.counts = dict.fromkeys(
            ("slow_opened", "slow_cut", "live_streams", "live_refused", "connect_errors"), 0
        )
        self.live_open = 0
        self.live_open_max = 0
        self._lock = threading.Lock()
        self._stop = self.call(self._make_event())
        for n in range(slow):
            self.loop.call_soon_threadsafe(self._spawn, self._slowloris(n))
        for n in range(live):
            self.loop.call_soon_threadsafe(self._spawn, self._live(n))

    @staticmethod
    async def _make_event() -> asyncio.Event:
        return asyncio.Event()

    def _spawn(self, coro: Any) -> None:
        self.loop.create_task(coro)

    def count(self, key: str) -> None:
        with self._lock:
            self.counts[key] += 1

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), seconds)

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        try:
            return await asyncio.wait_for(asyncio.open_connection("127.0.0.1", self.port), 10)
        except (OSError, TimeoutError):
            self.count("connect_errors")
            await self._pause(1.0)
            return None

    async def _slowloris(self, n: int) -> None:
        await self._pause(n * 0.002)  # a ramp of a second or two, as a script would open them
        while not self._stop.is_set():
            conn = await self._connect()
            if conn is None:
                continue
            reader, writer = conn
            self.count("slow_opened")
            writer.write(f"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\nX-a: ".encode())
            eof = asyncio.create_task(reader.read(65536))
            while not self._stop.is_set() and not eof.done():
                with contextlib.suppress(ConnectionError):
                    writer.write(b"b")
                await asyncio.wait({eof}, timeout=1.0)
            if eof.done():
                self.count("slow_cut")
            eof.cancel()
            writer.close()
            await self._pause(1.0)

    async def _live(self, n: int) -> None:
        await self._pause(n * 0.001)
        while not self._stop.is_set():
            conn = await self._connect()
            if conn is None:
                continue
            reader, writer = conn
            writer.write(f"GET /events HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n\r\n".encode())
            status = b""
            with contextlib.suppress(OSError, asyncio.IncompleteReadError, TimeoutError):
                status = await asyncio.wait_for(reader.readuntil(b"\r\n"), 10)
            if status.startswith(b"HTTP/1.1 200"):
                self.count("live_streams")
                with self._lock:
                    self.live_open += 1
                    self.live_open_max = max(self.live_open_max, self.live_open)
                reading = asyncio.create_task(self._drain(reader))
                stop = asyncio.create_task(self._stop.wait())
                await asyncio.wait({reading, stop}, return_when=asyncio.FIRST_COMPLETED)
                reading.cancel()
                stop.cancel()
                with self._lock:
                    self.live_open -= 1
            elif status.startswith(b"HTTP/1.1 503"):
                self.count("live_refused")
                # Like a client that waits for the server to hang up: a 503 kept open would
                # hold a descriptor of the server's for as long as its keep-alive.
                reading = asyncio.create_task(self._drain(reader))
                stop = asyncio.create_task(self._stop.wait())
                await asyncio.wait({reading, stop}, return_when=asyncio.FIRST_COMPLETED)
                reading.cancel()
                stop.cancel()
            writer.close()
            await self._pause(3.0)

    @staticmethod
    async def _drain(reader: asyncio.StreamReader) -> None:
        with contextlib.suppress(OSError):
            while await reader.read(65536):
                pass

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self._stop.set)
        time.sleep(1.5)
        self.stop_loop()


def descriptors(pid: int) -> int | None:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None


def probe(port: int) -> tuple[str, float]:
    """GET /healthz: ("health" | "refused" | an error, seconds)."""
    start = time.monotonic()
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as resp:
            body = resp.read()
        outcome = "health" if body.startswith(b"{") else f"other {body[:40]!r}"
    except urllib.error.HTTPError as exc:
        body = exc.read()
        outcome = "health" if body.startswith(b"{") else "refused"
    except OSError as exc:
        outcome = f"error {exc}"
    return outcome, time.monotonic() - start


@timeout(180, 600)
def test_a_connection_flood_under_1024_descriptors_delays_no_alert(
    tmp_path: Path,
    pages: PageServer,
    sinks: Any,
    tickers: Tickers,
    figures: dict[str, Any],
) -> None:
    desk = sinks("desk")
    feed = Feed("cf")
    calm = ["A calm line shown before the flood"]
    shown: list[str] = list(calm)
    fetched: dict[str, float] = {}  # token -> when a poll first fetched a page showing it

    async def news(_request: web.Request) -> web.Response:
        lines = list(shown)
        now = time.monotonic()
        for line in lines:
            fetched.setdefault(token_of(line), now)
        body = pages.template.render(lines)
        return web.Response(text=body, content_type="text/html", charset="utf-8")

    pages.route("/news", news)
    port = free_port()
    cfg = write_config(
        tmp_path,
        service_toml(listen=f"127.0.0.1:{port}"),
        source_toml("news", pages.url("/news")),
        channel_toml("desk", desk.url("/desk")),
    )
    with soft_nofile(SYSTEMD_NOFILE):
        t = tickers.start(cfg)
    t.wait_baseline("news")
    t.wait_for(lambda: t.events("service_started"), "the endpoint to listen")
    limits = Path(f"/proc/{t.pid}/limits").read_text()
    assert any(
        ln.startswith("Max open files") and f" {SYSTEMD_NOFILE} " in ln
        for ln in limits.splitlines()
    ), limits
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 65536)), hard))
    log_before = t.err_path.stat().st_size
    lines_before = len(t.stderr.splitlines())

    flood = Flood(port, slow=SLOW, live=LIVE)
    probes: list[tuple[str, float]] = []
    fds: list[int] = []
    added: list[str] = []
    try:
        started = time.monotonic()
        next_line = started + LINE_EVERY
        while time.monotonic() - started < DURATION:
            assert t.alive(), t.tail()
            if time.monotonic() >= next_line:
                new = feed.add()[0]
                added.append(token_of(new))
                shown.insert(0, new)
                next_line += LINE_EVERY
            probes.append(probe(port))
            n = descriptors(t.pid)
            if n is not None:
                fds.append(n)
            time.sleep(0.5)
        # The last line gets its chance to arrive before the flood stops.
        t.until(lambda: all(any(tok in h.message for h in desk.delivered()) for tok in added), 5)
        counts = dict(flood.counts)
        live_open_max = flood.live_open_max
    finally:
        flood.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))

    log_bytes = t.err_path.stat().st_size - log_before
    log_lines = len(t.stderr.splitlines()) - lines_before
    latency: dict[str, float] = {}
    for tok in added:
        arrived = [h.started for h in desk.delivered() if tok in h.message]
        latency[tok] = arrived[0] - fetched[tok] if arrived and tok in fetched else float("inf")
    answered = [seconds for outcome, seconds in probes if outcome == "health"]
    stderr = t.stderr
    figures.update(
        slowloris=SLOW,
        live_clients=LIVE,
        duration_s=DURATION,
        nofile_soft=SYSTEMD_NOFILE,
        flood=counts,
        live_streams_open_max=live_open_max,
        lines=len(added),
        delivery_after_poll_max_s=round(max(latency.values(), default=0.0), 3),
        delivery_after_poll_p50_s=round(percentile(list(latency.values()), 50), 3),
        healthz_probes=len(probes),
        healthz_answered=len(answered),
        healthz_p50_s=round(percentile(answered, 50), 3),
        healthz_max_s=round(max(answered, default=float("nan")), 3),
        healthz_other=sorted({o for o, _ in probes if o != "health"})[:5],
        descriptors_max=max(fds, default=None),
        log_bytes=log_bytes,
        log_lines=log_lines,
        log_events=event_counts(t, lines_before),
        too_many_open_files=stderr.count("Too many open files"),
    )
    assert t.terminate() < 15
    # The flood was real: the server cut slowloris sockets and refused live clients.
    assert counts["slow_cut"] >= SLOW // 2, counts
    assert counts["live_refused"] > 0, counts
    assert live_open_max <= 32, live_open_max
    # And it cost nothing that matters.
    assert all(v < LATENCY for v in latency.values()), latency
    assert len(answered) == len(probes), figures["healthz_other"]
    # The endpoint's cap (256: a quarter of 1,024) plus the process's own few dozen.
    assert max(fds) < MAX_CONNECTIONS + 128, fds
    assert figures["too_many_open_files"] == 0
    assert "socket.accept()" not in stderr
    assert log_bytes < 2000 * DURATION, f"{log_bytes} bytes logged in {DURATION:g} s"


def event_counts(t: Ticker, skip: int) -> dict[str, int]:
    """How many of each log event the process wrote after its first ``skip`` lines."""
    out: dict[str, int] = {}
    for event in t.events()[skip:]:
        name = str(event.get("event"))
        out[name] = out.get(name, 0) + 1
    return dict(sorted(out.items(), key=lambda kv: -kv[1])[:8])
