"""Drill 2 (none lost, channel isolation, circuit breaker): one channel down for a while as items
arrive.

The "down" sink answers 500 for the whole outage while lines keep appearing. Counted at the
sinks: the failed requests stay within what the breaker allows (one probe per backoff window:
base 2 s doubling, cap 600 s, jitter x0.5-1.0, from ``ticker.deliver``), the healthy channel's
latency stays low throughout, every line reaches the recovered channel once, and no delivery is
given up (no dead letter).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from ticker.alerting.sender import DeliveryPolicy

from .harness import (
    Feed,
    Tickers,
    channel_toml,
    percentile,
    pick,
    query,
    service_toml,
    source_toml,
    tally,
    timeout,
    write_config,
)
from .servers import PageServer

pytestmark = pytest.mark.drill

OUTAGE = pick(10.0, 600.0)
ITEMS = pick(30, 300)
JITTER_FLOOR = 0.5  # deliver.backoff(): raw * (0.5 + random() / 2)
SLACK = 2  # "a few": a probe in flight as the outage starts or ends


def max_failed_requests(outage: float, policy: DeliveryPolicy) -> int:
    """The most failed sends an outage of ``outage`` seconds allows: the first failure opens
    the breaker, and failure k keeps it open at least JITTER_FLOOR x min(cap, base x 2^(k-1))."""
    n, elapsed = 1, 0.0
    while True:
        wait = JITTER_FLOOR * min(policy.backoff_cap, policy.backoff_base * 2.0 ** (n - 1))
        if elapsed + wait > outage:
            return n
        elapsed += wait
        n += 1


def longest_window(failures: int, policy: DeliveryPolicy) -> float:
    """The longest the breaker may stay open after ``failures`` failures in a row."""
    return min(policy.backoff_cap, policy.backoff_base * 2.0 ** max(failures - 1, 0))


@timeout(120, 2700)
def test_a_channel_down_for_a_while_loses_nothing_and_is_probed_sparingly(
    tmp_path: Path,
    pages: PageServer,
    sinks: Any,
    tickers: Tickers,
    figures: dict[str, Any],
) -> None:
    policy = DeliveryPolicy()
    up, down = sinks("up"), sinks("down")
    feed = Feed("od")
    calm = ["A calm line shown before the outage began"]
    pages.set_lines("/news", calm)
    cfg = write_config(
        tmp_path,
        service_toml(burst=1000),
        source_toml("news", pages.url("/news")),
        channel_toml("up", up.url("/up")),
        channel_toml("down", down.url("/down")),
    )
    t = tickers.start(cfg)
    t.wait_baseline("news")

    down.status = 500
    outage_started = time.monotonic()
    gap = OUTAGE / ITEMS
    for n in range(ITEMS):
        # Lines appear evenly over the outage.
        wait = outage_started + n * gap - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        new = feed.add()
        pages.set_lines("/news", feed.shown(window=ITEMS) + calm)
        feed.mark(new, time.monotonic())
        assert t.alive(), t.tail()
    rest = outage_started + OUTAGE - time.monotonic()
    if rest > 0:
        time.sleep(rest)
    failed_during = len(down.failed())
    down.status = 200
    recovered = time.monotonic()
    bound = max_failed_requests(OUTAGE, policy) + SLACK

    expected = feed.tokens()
    pattern = feed.pattern()

    def got(sink: Any) -> Any:
        return tally([(h.title, h.message) for h in sink.delivered()], pattern)

    # After recovery the breaker may still be open for its last window; the healthy channel may
    # have a backlog if it was slowed down (measured below, asserted last).
    window = longest_window(failed_during, policy)
    t.until(
        lambda: not got(down).missing(expected) and not got(up).missing(expected),
        window + 15 + ITEMS * 1.5,
    )
    caught_up = time.monotonic() - recovered
    time.sleep(1.0)
    assert t.terminate() < 10
    assert t.proc.returncode == 0, t.tail()

    # The healthy channel: each line within a few seconds of appearing, outage or not.
    arrivals: dict[str, float] = {}
    for hit in up.delivered():
        for tok in pattern.findall(hit.message):
            arrivals.setdefault(tok, hit.started)
    latency = [arrivals[tok] - feed.appeared[tok] for tok in expected if tok in arrivals] or [
        float("inf")
    ]
    probes = [round(h.started - outage_started, 2) for h in down.failed()]
    dead = query(tmp_path / "state.db", "SELECT count(*) FROM deliveries WHERE state = 'dead'")
    figures.update(
        outage_s=OUTAGE,
        items=len(expected),
        failed_requests_during_outage=failed_during,
        failed_requests_bound=bound,
        probe_times_s=probes if len(probes) <= 20 else [*probes[:10], "...", *probes[-5:]],
        all_delivered_after_recovery_s=round(caught_up, 1),
        healthy_latency_p50_s=round(percentile(latency, 50), 2),
        healthy_latency_max_s=round(max(latency), 2),
        down_channel_messages=got(down).messages,
        dead_letters=dead[0][0],
    )
    for sink in (up, down):
        assert got(sink).missing(expected) == [], f"{sink.name}: lines missing"
        assert got(sink).duplicates == 0
    assert dead[0][0] == 0
    assert failed_during <= bound, f"{failed_during} failed requests in a {OUTAGE:g}s outage"
    assert failed_during >= 1
    assert len(down.failed()) == failed_during  # nothing failed after the recovery
    # Lines arrive every OUTAGE/ITEMS s (0.33 s short form); the healthy channel must keep up.
    assert max(latency) < 4.0, (
        f"the healthy channel fell behind: latency up to {max(latency):.1f}s "
        f"(p50 {percentile(latency, 50):.1f}s) for a line every {gap:.2f}s"
    )
