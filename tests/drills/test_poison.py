"""Drill 3 (dead letters): a poison message, refused (400) every time by a channel that otherwise
works.

The "desk" sink answers 400 to the one message carrying the poison line and 200 to every other.
With ``max_strikes = 3`` the poison delivery is given up after three strikes (each counted only
because the channel delivered something else in between), a health alert naming it reaches the
"ops" channel, and every other line reaches both channels.
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

STRIKES = 3
POISON = "Poisonous line that the desk channel refuses every single time"
NEEDLE = "Poisonous line"
GAP = 1.0
AFTER = pick(4, 40)  # good lines still sent once the poison is dead


@timeout(120, 600)
def test_a_poison_message_is_dead_lettered_and_reported_and_nothing_else_is_lost(
    tmp_path: Path,
    pages: PageServer,
    sinks: Any,
    tickers: Tickers,
    figures: dict[str, Any],
) -> None:
    desk, ops = sinks("desk"), sinks("ops")
    desk.reject[NEEDLE] = 400
    feed = Feed("pz")
    calm = ["A calm line shown before the poison arrived"]
    pages.set_lines("/news", calm)
    cfg = write_config(
        tmp_path,
        service_toml(max_strikes=STRIKES, health_channels=["ops"]),
        source_toml("news", pages.url("/news")),
        channel_toml("desk", desk.url("/desk")),
        channel_toml("ops", ops.url("/ops")),
    )
    t = tickers.start(cfg)
    t.wait_baseline("news")

    shown = [POISON]
    pages.set_lines("/news", shown + calm)
    started = time.monotonic()

    def add_line() -> None:
        feed.add()
        pages.set_lines("/news", feed.shown() + shown + calm)
        time.sleep(GAP)

    # Good lines keep the channel busy: a strike is charged only when it otherwise works.
    while not t.events("delivery_dead") and time.monotonic() - started < 60:
        assert t.alive(), t.tail()
        add_line()
    dead_after = time.monotonic() - started
    for _ in range(AFTER):
        add_line()

    expected = feed.tokens()
    pattern = feed.pattern()

    def got(sink: Any) -> Any:
        return tally([(h.title, h.message) for h in sink.delivered()], pattern)

    def alerted() -> list[Any]:
        return [h for h in ops.delivered() if "given up" in h.title]

    t.until(
        lambda: not got(desk).missing(expected) and not got(ops).missing(expected) and alerted(),
        20,
    )
    assert t.terminate() < 10
    assert t.proc.returncode == 0, t.tail()

    poison_tries = [h for h in desk.hits() if NEEDLE in h.message]
    rows = query(
        tmp_path / "state.db",
        "SELECT d.channel, d.strikes, d.attempts, d.last_error, m.body FROM deliveries d "
        "JOIN messages m ON m.id = d.message WHERE d.state = 'dead'",
    )
    figures.update(
        max_strikes=STRIKES,
        poison_requests=len(poison_tries),
        poison_statuses=[h.status for h in poison_tries],
        dead_after_s=round(dead_after, 1),
        dead_letters=[(r[0], r[1], r[2]) for r in rows],
        health_alerts=[h.title for h in alerted()],
        good_lines=len(expected),
    )
    assert len(rows) == 1, rows
    channel, strikes, _attempts, last_error, body = rows[0]
    assert channel == "desk"
    assert NEEDLE in body
    assert strikes >= STRIKES
    assert "strikes" in (last_error or "")
    # Three refusals, each followed by a success elsewhere; a retry or two more at most.
    assert STRIKES <= len(poison_tries) <= STRIKES + 2, [h.status for h in poison_tries]
    assert all(h.status == 400 for h in poison_tries)
    [alert] = alerted()
    assert "desk" in alert.title
    assert NEEDLE in alert.message
    assert "strikes" in alert.message
    [event] = t.events("delivery_dead")
    assert event["channel"] == "desk"
    # Everything else went through, on both channels, once.
    for sink in (desk, ops):
        assert got(sink).missing(expected) == [], sink.name
        assert got(sink).duplicates == 0
    assert [h for h in ops.delivered() if NEEDLE in h.message and "given up" not in h.title]
    assert not [h for h in desk.failed() if NEEDLE not in h.message]
