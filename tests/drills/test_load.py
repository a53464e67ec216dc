"""Load drills 'loop lag under load' (and the poll side of 'a burst of new items'): many sources
against a fast local page server.

``ticker run`` with ``listen`` set polls N sources every T seconds; each source's page is the
~97 KB fixture whose ticker gains a line every CHANGE seconds. Measured: the event loop's lag
(``ticker_loop_lag_seconds`` from /metrics, p50/p99 estimated from the histogram, after a warm-up
and over the whole run), CPU from /proc/PID/stat, and RSS over time.

Short form (CI): 100 sources every 5 s for 25 s, loose bounds (alive, RSS < 150 MB). Long form:
100 sources every 60 s and 1,000 sources every 10 s, five minutes each, with the bounds of "loop
lag under load" (loop lag p99 < 100 ms, RSS flat).
"""

from __future__ import annotations

import random
import re
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from .harness import LONG, Tickers, mb, pick, service_toml, source_toml, write_config
from .servers import WORDS_FOR_LOAD, PageServer, free_port

pytestmark = pytest.mark.drill

HOSTS = tuple(f"127.0.0.{n}" for n in range(1, 9))  # many sources look like many hosts
CHANGE = 30.0  # a source's ticker gains a line this often
SCENARIOS = pick(
    [pytest.param(100, 5.0, 25.0, 10.0, id="100-sources-every-5s-25s")],
    [
        pytest.param(100, 60.0, 300.0, 70.0, id="100-sources-every-60s-5min"),
        pytest.param(1000, 10.0, 300.0, 30.0, id="1000-sources-every-10s-5min"),
    ],
)


class Pages:
    """Source i's page at time t: the fixture with its last 10 lines, one more every CHANGE s."""

    def __init__(self, server: PageServer) -> None:
        self.server = server
        self.t0 = time.time()

    def lines(self, i: int) -> list[str]:
        k = int((time.time() - self.t0 + (i * 7.3) % CHANGE) / CHANGE)
        out = []
        for n in range(k, k - 10, -1):
            rng = random.Random(i * 100_003 + n)
            out.append(f"ld{i:04d}-{n:05d} " + " ".join(rng.sample(WORDS_FOR_LOAD, 7)))
        return out

    async def handle(self, request: web.Request) -> web.StreamResponse:
        i = int(request.path.rsplit("/", 1)[1])
        body = self.server.template.render(self.lines(i))
        return web.Response(text=body, content_type="text/html", charset="utf-8")


def histogram(metrics: str, name: str) -> tuple[list[tuple[float, float]], float]:
    """Cumulative (upper bound, count) buckets and the total count of a histogram."""
    buckets = []
    for m in re.finditer(rf'^{name}_bucket{{le="([^"]+)"}} ([0-9.e+]+)$', metrics, re.MULTILINE):
        buckets.append((float(m.group(1)), float(m.group(2))))
    count = re.search(rf"^{name}_count ([0-9.e+]+)$", metrics, re.MULTILINE)
    return buckets, float(count.group(1)) if count else 0.0


def quantile(q: float, buckets: list[tuple[float, float]], count: float) -> float:
    """Prometheus' histogram_quantile: linear within the bucket holding the q-th sample."""
    if count <= 0:
        return float("nan")
    rank = q * count
    lower, below = 0.0, 0.0
    for upper, cumulative in buckets:
        if cumulative >= rank:
            if upper == float("inf"):
                return lower
            inside = cumulative - below
            return lower + (upper - lower) * ((rank - below) / inside if inside else 1.0)
        lower, below = upper, cumulative
    return lower


def minus(
    late: list[tuple[float, float]], early: list[tuple[float, float]]
) -> list[tuple[float, float]]:
    before = dict(early)
    return [(le, n - before.get(le, 0.0)) for le, n in late]


def fetch(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return str(resp.read().decode())


@pytest.mark.timeout(pick(120, 1200))
@pytest.mark.parametrize(("sources", "interval", "duration", "warmup"), SCENARIOS)
def test_many_sources_keep_the_loop_responsive_and_memory_flat(
    sources: int,
    interval: float,
    duration: float,
    warmup: float,
    tmp_path: Path,
    tickers: Tickers,
    figures: dict[str, Any],
) -> None:
    server = PageServer(hosts=HOSTS)
    try:
        pages = Pages(server)
        for i in range(sources):
            server.route(f"/s/{i}", pages.handle)
        port = free_port()
        cfg = write_config(
            tmp_path,
            service_toml(listen=f"127.0.0.1:{port}", jitter=0.1, per_host=4, concurrency=32),
            *(
                source_toml(
                    f"s{i:04d}",
                    server.url(f"/s/{i}", HOSTS[i % len(HOSTS)]),
                    interval=f"{interval:g}s",
                )
                for i in range(sources)
            ),
        )
        t = tickers.start(cfg)
        t.wait_for(lambda: t.events("service_started"), "the service to start", 30)
        started = time.monotonic()
        cpu0 = t.cpu_seconds() or 0.0
        series: list[tuple[float, float | None, float]] = []  # (s, RSS MB, CPU %)
        early: list[tuple[float, float]] = []
        early_count = 0.0
        last_cpu, last_time = cpu0, started
        while (elapsed := time.monotonic() - started) < duration:
            time.sleep(min(1.0, duration - elapsed))
            assert t.alive(), t.tail()
            now, cpu = time.monotonic(), t.cpu_seconds() or last_cpu
            series.append(
                (
                    round(now - started, 1),
                    mb(t.status_kb("VmRSS")),
                    round(100 * (cpu - last_cpu) / (now - last_time), 1),
                )
            )
            last_cpu, last_time = cpu, now
            if not early and now - started >= warmup:
                early, early_count = histogram(
                    fetch(f"http://127.0.0.1:{port}/metrics"), "ticker_loop_lag_seconds"
                )
        metrics = fetch(f"http://127.0.0.1:{port}/metrics")
        cpu_total = (t.cpu_seconds() or 0.0) - cpu0
        hwm = t.status_kb("VmHWM")
        assert t.terminate() < 15
        assert t.proc.returncode == 0, t.tail()
    finally:
        server.close()

    buckets, count = histogram(metrics, "ticker_loop_lag_seconds")
    steady, steady_count = minus(buckets, early), count - early_count
    polls: dict[str, float] = {}
    for m in re.finditer(
        r'^ticker_polls_total{outcome="([^"]+)",source="[^"]+"} ([0-9.e+]+)$', metrics, re.M
    ):
        polls[m.group(1)] = polls.get(m.group(1), 0) + float(m.group(2))
    if not polls:
        for m in re.finditer(
            r'^ticker_polls_total{source="[^"]+",outcome="([^"]+)"} ([0-9.e+]+)$', metrics, re.M
        ):
            polls[m.group(1)] = polls.get(m.group(1), 0) + float(m.group(2))
    rss = [r for _, r, _ in series if r is not None]
    third = max(1, len(rss) // 3)
    step = max(1, len(series) // 12)
    figures.update(
        sources=sources,
        interval_s=interval,
        duration_s=duration,
        polls=polls,
        new_items_printed=len(t.stdout.splitlines()),
        loop_lag_samples=int(count),
        loop_lag_p50_ms=round(1000 * quantile(0.5, buckets, count), 1),
        loop_lag_p99_ms=round(1000 * quantile(0.99, buckets, count), 1),
        loop_lag_p99_after_warmup_ms=round(1000 * quantile(0.99, steady, steady_count), 1),
        loop_lag_warnings=len(t.events("loop_lag")),
        cpu_mean_pct=round(100 * cpu_total / duration, 1),
        cpu_max_pct=max(c for _, _, c in series),
        rss_mb_first_third=round(sum(rss[:third]) / third, 1),
        rss_mb_last_third=round(sum(rss[-third:]) / third, 1),
        peak_rss_mb=mb(hwm),
        rss_mb_over_time=[(s, r) for s, r, _ in series[::step]],
    )
    assert sum(polls.values()) >= sources * (duration // interval) * 0.8, polls
    assert polls.get("error", 0) == 0, polls
    assert hwm is not None
    assert hwm / 1024 < 150, f"peak RSS {mb(hwm)} MB"
    if LONG:
        # Loop lag under load: the loop stays responsive and memory flat once every source has its
        # baseline.
        assert figures["loop_lag_p99_after_warmup_ms"] < 100
        assert figures["rss_mb_last_third"] - figures["rss_mb_first_third"] < 15
    else:
        assert figures["loop_lag_p99_after_warmup_ms"] < 500
