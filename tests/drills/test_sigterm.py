"""Drill 11 (stopping, bounded duplicates): SIGTERM in the middle of a burst that a slow, paced
channel is draining.

A poll brings a burst of lines, sent one message each (``burst`` set high) to a slow webhook
paced at ``min_interval`` and to a fast one. SIGTERM comes while the slow channel is half way:
the process exits 0 within ``stop_timeout`` + 2 s, and after a restart every line reaches both
channels, at most one extra copy per channel per stop.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from .harness import (
    Feed,
    Tickers,
    channel_toml,
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

LINES = pick(8, 60)
STOPS = pick(1, 5)
STOP_TIMEOUT = 3.0
SLOW_DELAY = 0.4
MIN_INTERVAL = "1s"


@timeout(120, 600)
def test_sigterm_mid_burst_exits_in_time_and_loses_nothing(
    tmp_path: Path,
    pages: PageServer,
    sinks: Any,
    tickers: Tickers,
    figures: dict[str, Any],
) -> None:
    slow, fast = sinks("slow"), sinks("fast")
    slow.delay = SLOW_DELAY
    feed = Feed("st")
    calm = ["A calm line before the burst"]
    pages.set_lines("/news", calm)
    cfg = write_config(
        tmp_path,
        service_toml(burst=1000, stop_timeout=f"{STOP_TIMEOUT:g}s"),
        source_toml("news", pages.url("/news")),
        channel_toml("slow", slow.url("/slow"), min_interval=MIN_INTERVAL),
        channel_toml("fast", fast.url("/fast")),
    )
    pattern = feed.pattern()
    t = tickers.start(cfg)
    t.wait_baseline("news")
    feed.add(LINES)
    pages.set_lines("/news", feed.shown() + calm)
    exits: list[float] = []
    codes: list[int | None] = []
    in_flight: list[int] = []
    for n in range(STOPS):
        # Stop when the slow channel has taken a few more messages (one may be in flight).
        target = len(slow.delivered()) + max(2, LINES // (STOPS + 1) // 2)
        t.wait_for(lambda x=target: len(slow.delivered()) >= x, f"slow messages ({n})", 60)
        t.wait_for(lambda: slow.in_flight > 0, "a send in flight to the slow channel", 10, 0.005)
        in_flight.append(slow.in_flight)
        exits.append(round(t.terminate(within=STOP_TIMEOUT + 30), 2))
        codes.append(t.proc.returncode)
        t = tickers.start(cfg)

    expected = feed.tokens()

    def got(sink: Any) -> Any:
        return tally([(h.title, h.message) for h in sink.delivered()], pattern)

    t.wait_for(
        lambda: not got(slow).missing(expected) and not got(fast).missing(expected),
        "every line on both channels after the restart",
        LINES * 2.5 + 20,
    )
    time.sleep(1.0)
    assert t.terminate() < STOP_TIMEOUT + 2
    pending = query(tmp_path / "state.db", "SELECT state, count(*) FROM deliveries GROUP BY state")
    figures.update(
        lines=LINES,
        sigterms=STOPS,
        sends_in_flight_at_sigterm=in_flight,
        exit_s=exits,
        exit_codes=codes,
        stop_timeout_s=STOP_TIMEOUT,
        slow_resent=got(slow).resent_messages,
        fast_resent=got(fast).resent_messages,
        deliveries=dict(pending),
    )
    assert codes == [0] * STOPS
    assert max(exits) < STOP_TIMEOUT + 2, exits
    for sink in (slow, fast):
        assert got(sink).missing(expected) == [], sink.name
        assert got(sink).resent_messages <= STOPS
        assert got(sink).split_items == 0
    assert set(dict(pending)) == {"sent"}
