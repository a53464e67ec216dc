"""Drill 4 (channel isolation, one send in flight per URL, stopping): a channel that accepts
requests and never answers.

The "hung" sink takes every request and never answers it. Lines keep appearing; each must reach
the healthy "desk" sink within a few seconds of appearing, the hung channel never has more than
one request in flight, and SIGTERM still ends the service within ``stop_timeout`` + 2 s.
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
    percentile,
    pick,
    service_toml,
    source_toml,
    tally,
    timeout,
    write_config,
)
from .servers import PageServer

pytestmark = pytest.mark.drill

ITEMS = pick(8, 120)
GAP = 1.5
STOP_TIMEOUT = 3.0
LATENCY = 3.5  # interval 1 s + pacing + a margin


@timeout(120, 600)
def test_a_hanging_channel_does_not_delay_the_others(
    tmp_path: Path,
    pages: PageServer,
    sinks: Any,
    tickers: Tickers,
    figures: dict[str, Any],
) -> None:
    desk, hung = sinks("desk"), sinks("hung")
    hung.hang = True
    feed = Feed("hg")
    calm = ["A calm line shown before the channel hung"]
    pages.set_lines("/news", calm)
    cfg = write_config(
        tmp_path,
        service_toml(stop_timeout=f"{STOP_TIMEOUT:g}s"),
        source_toml("news", pages.url("/news")),
        channel_toml("hung", hung.url("/hung")),
        channel_toml("desk", desk.url("/desk")),
    )
    t = tickers.start(cfg)
    t.wait_baseline("news")
    pattern = feed.pattern()
    latency: list[float] = []
    for _ in range(ITEMS):
        feed.add()
        pages.set_lines("/news", feed.shown() + calm)
        shown = time.monotonic()
        tok = feed.tokens()[-1]
        t.until(lambda tok=tok: tok in tally_of(desk, pattern).counts, LATENCY + 5)
        arrived = [h.started for h in desk.delivered() if tok in h.message]
        latency.append(arrived[0] - shown if arrived else float("inf"))
        rest = shown + GAP - time.monotonic()
        if rest > 0:
            time.sleep(rest)
    # SIGTERM just as a new request reaches the hung sink: that send has all of apprise's read
    # timeout (8 s) still to run, and must not hold up the exit.
    tries = len(hung.hits())
    t.wait_for(lambda: len(hung.hits()) > tries, "a new request to the hung channel", 30, 0.01)
    stop_took = t.terminate(within=STOP_TIMEOUT + 30)
    figures.update(
        items=ITEMS,
        desk_latency_p50_s=round(percentile(latency, 50), 2),
        desk_latency_max_s=round(max(latency), 2),
        hung_requests=len(hung.hits()),
        hung_max_in_flight=hung.max_in_flight,
        sigterm_exit_s=round(stop_took, 2),
        stop_timeout_s=STOP_TIMEOUT,
        exit_code=t.proc.returncode,
    )
    got = tally_of(desk, pattern)
    assert got.missing(feed.tokens()) == []
    assert got.duplicates == 0
    assert max(latency) < LATENCY, f"desk latency up to {max(latency):.1f}s: {latency}"
    assert hung.hits(), "the hung channel was never tried"
    assert hung.max_in_flight <= 1, "more than one send in flight to one URL"
    assert t.proc.returncode == 0, t.tail()
    assert stop_took < STOP_TIMEOUT + 2, (
        f"SIGTERM took {stop_took:.1f}s with a send hung (stop_timeout {STOP_TIMEOUT:g}s)"
    )


def tally_of(sink: Any, pattern: Any) -> Any:
    return tally([(h.title, h.message) for h in sink.delivered()], pattern)
