"""What ``ticker run`` logs of its polls, and when it polls them.

A poll that finds nothing and fails at nothing is a DEBUG line; new lines, a baseline and
failures stay INFO and WARNING; ``ticker once`` keeps one INFO line per source; the service
counts every poll in a ``poll_summary`` a minute. The schedule is one timer for every source:
its interval and jitter, polls due together started together, backoff by moving a source's next
poll, and the overdue check the watchdog and ``/healthz`` rely on.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from ticker.config import Config, parse_config
from ticker.errors import FetchError
from ticker.memory import NOT_MODIFIED, MemoryStore, ScriptedFetcher
from ticker.pipeline import PollOutcome, poll_source
from ticker.service.scheduling import PollScheduler, SourceRuntime
from ticker.service.summary import PollTally, summarize

URL = "https://a.example/news"
CONFIG = f"""
[service]
state = "state.db"
[[sources]]
id = "a"
url = "{URL}"
items = "css:li"
interval = "1m"
"""


def page(*lines: str) -> str:
    return (
        "<html><body><ul>" + "".join(f"<li>{line}</li>" for line in lines) + "</ul></body></html>"
    )


@pytest.fixture(scope="module")
def config() -> Config:
    return parse_config(CONFIG, path=Path("/nonexistent/ticker.toml"), env={})


async def poll_levels(config: Config, *answers: Any, every: bool = False) -> list[str]:
    """The level of the ``poll`` event of each answer, polled in turn."""
    source = config.sources[0]
    fetcher, store = ScriptedFetcher(), MemoryStore()
    fetcher.script(URL, *answers)
    levels = []
    for _ in answers:
        with capture_logs() as logs:
            await poll_source(source, fetcher=fetcher, store=store, log_every_poll=every)
        levels += [e["log_level"] for e in logs if e["event"] == "poll"]
    return levels


async def test_a_poll_that_finds_nothing_is_a_debug_line_and_news_is_info(config: Config) -> None:
    levels = await poll_levels(
        config,
        page("Sirens sound"),  # the baseline
        NOT_MODIFIED,
        page("Sirens sound"),  # the same body: unchanged
        page("A new line", "Sirens sound"),
        FetchError("connection refused", kind="connect"),
    )
    assert levels == ["info", "debug", "debug", "info", "warning"]


async def test_ticker_once_logs_every_poll_at_info(config: Config) -> None:
    levels = await poll_levels(config, page("Sirens sound"), NOT_MODIFIED, every=True)
    assert levels == ["info", "info"]


async def test_the_summary_counts_what_the_polls_came_to() -> None:
    tally = PollTally()
    for status, error in [("not_modified", None), ("not_modified", None), ("unchanged", None)]:
        tally.count(PollOutcome(source_id="a", status=status, error=error))
    tally.count(PollOutcome(source_id="a", status="ok", baseline=True))
    tally.count(PollOutcome(source_id="a", status="error", error="refused"))
    with capture_logs() as logs:
        task = asyncio.create_task(summarize(tally, every=0.05))
        await asyncio.sleep(0.17)  # three windows: the first has the polls, the others none
        task.cancel()
    summaries = [e for e in logs if e["event"] == "poll_summary"]
    assert len(summaries) == 1, summaries
    (summary,) = summaries
    assert summary["log_level"] == "info"
    assert {k: summary[k] for k in ("polls", "not_modified", "unchanged", "ok", "errors")} == {
        "polls": 5,
        "not_modified": 2,
        "unchanged": 1,
        "ok": 1,
        "errors": 1,
    }
    assert (summary["new"], summary["baselines"]) == (0, 1)


# -- the schedule ----------------------------------------------------------------------------


class Polls:
    """A poll job that records when each source was polled."""

    def __init__(self) -> None:
        self.at: dict[str, list[float]] = {}

    async def __call__(self, source_id: str) -> None:
        self.at.setdefault(source_id, []).append(time.monotonic())

    def count(self, source_id: str) -> int:
        return len(self.at.get(source_id, []))


async def test_each_source_is_polled_at_its_interval_and_jitter_only_delays() -> None:
    polls = Polls()
    scheduler = PollScheduler(polls, rng=random.Random(1), batch=0.0)
    scheduler.add("fast", interval=0.1, jitter=0.02, first_in=0)
    scheduler.add("slow", interval=0.3, jitter=0.0, first_in=0.05)
    scheduler.start()
    await asyncio.sleep(0.65)
    scheduler.shutdown()
    fast = polls.at["fast"]
    gaps = [b - a for a, b in itertools.pairwise(fast)]
    assert 5 <= len(fast) <= 7, fast
    assert all(0.095 <= g <= 0.2 for g in gaps), gaps
    assert polls.count("slow") == 3
    await asyncio.sleep(0.15)
    assert polls.count("fast") == len(fast), "a shut-down schedule polls no more"


async def test_polls_due_within_the_batch_window_start_in_one_turn() -> None:
    polls = Polls()
    scheduler = PollScheduler(polls, batch=0.1)
    for n in range(20):
        scheduler.add(f"s{n}", interval=10, jitter=0, first_in=0.01 + n * 0.004)
    scheduler.start()
    await asyncio.sleep(0.05)
    scheduler.shutdown()
    starts = [polls.at[f"s{n}"][0] for n in range(20)]
    assert max(starts) - min(starts) < 0.01  # one turn of the loop, not twenty timers


async def test_moved_removed_paused_and_overdue() -> None:
    polls = Polls()
    scheduler = PollScheduler(polls, batch=0.0)
    scheduler.add("a", interval=0.05, jitter=0, first_in=0)
    scheduler.add("b", interval=0.05, jitter=0, first_in=0)
    scheduler.start()
    await asyncio.sleep(0.02)
    scheduler.move("a", 5.0)  # backed off
    scheduler.remove("b")  # gone after a reload
    a, b = polls.count("a"), polls.count("b")
    await asyncio.sleep(0.2)
    assert (polls.count("a"), polls.count("b")) == (a, b) == (1, 1)
    due = scheduler.due_in("a")
    assert due is not None
    assert 4.5 < due <= 5.0
    assert scheduler.due_in("b") is None
    scheduler.pause()
    rt = SourceRuntime(config=parse_config(CONFIG, path=Path("/x/t.toml"), env={}).sources[0])
    scheduler.move("a", -20.0)  # late, but within twice the interval and the margin (30 s)
    assert scheduler.overdue({"a": rt}) is False
    scheduler.move("a", -100.0)  # as if the loop had not run its timers for 100 s
    assert scheduler.overdue({"a": rt}) is True
    rt.polling = True
    assert scheduler.overdue({"a": rt}) is False  # being polled: not stalled
    await asyncio.sleep(0.05)
    assert polls.count("a") == 1, "a paused schedule starts no poll"
    scheduler.shutdown()
