"""Drill 1 (none lost, bounded duplicates, one transaction): kill -9 at random moments while items
flow to three channels.

A page gains lines over time; ``ticker run`` delivers them to three webhook sinks and is killed
with SIGKILL at random moments and restarted each time, until the feed ends and the outbox
drains. Counted at the sinks: no line missing on any channel, a repeated message at most once
per kill, no line in two different messages (it was detected once), and SQLite's
``integrity_check`` ok afterwards.
"""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from .harness import (
    Feed,
    Tickers,
    channel_toml,
    integrity,
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

KILLS = pick(10, 50)
ITEMS = pick(30, 300)
GAP = pick(0.5, 0.3)  # seconds between new lines on the page
LIFE = (0.5, 3.0)  # a process lives this long (uniform) before its SIGKILL...
MID_SEND = 0.5  # ...or, this often, until a sink is receiving a message (a send in flight)
SINK_DELAY = 0.15  # each sink takes this long to answer, as real endpoints do


@timeout(180, 2400)
def test_kill9_at_random_moments_loses_nothing(
    tmp_path: Path,
    pages: PageServer,
    sinks: Any,
    tickers: Tickers,
    figures: dict[str, Any],
) -> None:
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    figures["seed"] = seed
    feed = Feed("kd", rng=random.Random(seed + 1))
    calm = ["Calm morning line shown before the drill began"]
    pages.set_lines("/news", calm)
    channels = [sinks(f"c{i}") for i in range(3)]
    for sink in channels:
        sink.delay = SINK_DELAY
    cfg = write_config(
        tmp_path,
        service_toml(stop_timeout="5s"),
        source_toml("news", pages.url("/news")),
        *(channel_toml(f"c{i}", s.url(f"/c{i}")) for i, s in enumerate(channels)),
    )
    state = tmp_path / "state.db"

    t = tickers.start(cfg)
    t.wait_baseline("news")

    def feeder() -> None:
        for _ in range(ITEMS):
            time.sleep(GAP)
            new = feed.add()
            pages.set_lines("/news", feed.shown() + calm)
            feed.mark(new, time.monotonic())

    thread = threading.Thread(target=feeder, name="feeder", daemon=True)
    started = time.monotonic()
    thread.start()
    kills = mid_send = 0

    def sending() -> bool:
        return any(s.in_flight for s in channels)

    try:
        while thread.is_alive() or kills < KILLS:
            if rng.random() < MID_SEND:
                deadline = time.monotonic() + LIFE[1] + 2
                while not sending() and time.monotonic() < deadline:
                    time.sleep(0.005)
                time.sleep(rng.uniform(0, SINK_DELAY))
            else:
                time.sleep(rng.uniform(*LIFE))
            mid_send += sending()
            t.kill9()
            kills += 1
            t = tickers.start(cfg)
    finally:
        thread.join(ITEMS * GAP + 30)
    feeding = time.monotonic() - started

    expected = feed.tokens()
    pattern = feed.pattern()

    def drained() -> bool:
        return all(
            not tally([(h.title, h.message) for h in s.delivered()], pattern).missing(expected)
            for s in channels
        )

    # The backlog left by the last kills drains at the sender's pace (about a message a second
    # per channel; see the burst drill): allow for it, this drill counts losses, not speed.
    drain = t.wait_for(drained, "every line on every channel after the last restart", 60 + ITEMS)
    time.sleep(1.5)  # anything still queued would show up now
    assert t.terminate() < 10
    assert t.proc.returncode == 0, t.tail()

    figures.update(
        kills=kills,
        kills_with_a_send_in_flight=mid_send,
        items=len(expected),
        feeding_s=round(feeding, 1),
        drain_after_last_restart_s=round(drain, 1),
    )
    for i, sink in enumerate(channels):
        got = tally([(h.title, h.message) for h in sink.delivered()], pattern)
        figures[f"c{i}"] = {
            "messages": got.messages,
            "missing": len(got.missing(expected)),
            "duplicate_items": got.duplicates,
            "resent_messages": got.resent_messages,
            "items_in_two_messages": got.split_items,
            "max_copies": got.max_copies,
        }
        assert got.missing(expected) == [], f"channel c{i} lost lines"
        assert got.resent_messages <= kills, f"channel c{i}: more resends than kills"
        assert got.split_items == 0, f"channel c{i}: a line was detected twice"
        assert got.max_copies <= kills + 1
        # A request cut off by a kill is never answered (status None); none was refused.
        assert not sink.failed()
    check = integrity(state)
    figures["integrity_check"] = check
    assert check == "ok"
    pending = query(state, "SELECT state, count(*) FROM deliveries GROUP BY state")
    figures["deliveries_by_state"] = dict(pending)
    assert set(dict(pending)) == {"sent"}, pending
    assert kills >= KILLS
