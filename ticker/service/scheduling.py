"""When each source is polled: one APScheduler job per source at its interval with jitter, the
start spread, exponential backoff of a failing source, and the pacing of requests to one host."""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ticker.config import SourceConfig
from ticker.health import SourceHealth
from ticker.pipeline import PollOutcome, utcnow

if TYPE_CHECKING:
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

#: A failing source waits at most this long between polls (unless Retry-After asks for more).
MAX_BACKOFF = 900.0


class HostPacer:
    """A minimum spacing between requests to one host (``[service] host_spacing``)."""

    def __init__(self, spacing: float) -> None:
        self.spacing = spacing
        self._next: dict[str, float] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def wait(self, url: str) -> None:
        if self.spacing <= 0:
            return
        host = urlsplit(url).hostname or ""
        async with self._locks.setdefault(host, asyncio.Lock()):
            delay = self._next.get(host, 0.0) - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            self._next[host] = time.monotonic() + self.spacing


def failure_delay(interval: float, failures: int, retry_after: float | None) -> float:
    """Seconds until the next poll of a source after ``failures`` consecutive errors."""
    delay: float = min(max(interval, MAX_BACKOFF), interval * 2.0 ** max(failures - 1, 0))
    if retry_after is not None:
        delay = max(delay, retry_after)
    return delay


@dataclass(slots=True)
class SourceRuntime:
    """What the service keeps in memory about a source between polls."""

    config: SourceConfig
    health: SourceHealth = field(default_factory=SourceHealth)
    failures: int = 0
    last_outcome: PollOutcome | None = None
    polling: bool = False
    # The last parse: a 304 or an identical body shows the same page again.
    last_items: int = 0
    last_canary: bool | None = None


PollJob = Callable[[str], Coroutine[Any, Any, None]]


def schedule_all(
    scheduler: AsyncIOScheduler,
    sources: Mapping[str, SourceRuntime],
    job: PollJob,
    *,
    jitter: float,
    rng: random.Random,
    first_run: bool,
    polled: str | None = None,
) -> None:
    """Add (or replace) the job of every source; ``jitter`` is the fraction of an interval."""
    from apscheduler.triggers.interval import IntervalTrigger

    now = utcnow()
    count = max(1, len(sources))
    for n, (sid, rt) in enumerate(sources.items()):
        interval = rt.config.interval
        spread_by = interval * jitter
        # At start the first source is polled at once and the rest spread over (at most)
        # ten seconds, so a thousand sources do not all fire in the same instant.
        spread = min(interval, 10.0) * n / count
        if sid == polled:
            spread = interval  # polled just now, by the service's first poll
        first = now + timedelta(seconds=spread if first_run else rng.uniform(0, spread_by))
        scheduler.add_job(
            job,
            trigger=IntervalTrigger(seconds=interval, jitter=spread_by or None, timezone="UTC"),
            args=[sid],
            id=sid,
            name=f"poll {sid}",
            max_instances=1,
            coalesce=True,
            misfire_grace_time=max(1, int(interval)),
            next_run_time=first,
            replace_existing=True,
        )


def overdue(scheduler: AsyncIOScheduler, sources: Mapping[str, SourceRuntime]) -> bool:
    """True when a job is overdue by more than twice its interval (plus a margin)."""
    now = utcnow()
    for job in scheduler.get_jobs():
        rt = sources.get(job.id)
        if rt is None or job.next_run_time is None or rt.polling:
            continue
        if now - job.next_run_time > timedelta(seconds=2 * rt.config.interval + 30):
            return True
    return False


def reschedule(scheduler: AsyncIOScheduler, rt: SourceRuntime, outcome: PollOutcome) -> None:
    """Back a failing source off; put a recovered one back on its interval."""
    if outcome.status == "error" and outcome.error_kind != "store":
        rt.failures += 1
        delay = failure_delay(rt.config.interval, rt.failures, outcome.retry_after)
        if delay > rt.config.interval:
            move_next_run(scheduler, rt.config.id, delay)
    elif rt.failures:
        rt.failures = 0
        move_next_run(scheduler, rt.config.id, rt.config.interval)


def move_next_run(scheduler: AsyncIOScheduler, source_id: str, delay: float) -> None:
    with contextlib.suppress(Exception):  # the job may be gone after a reload
        scheduler.modify_job(source_id, next_run_time=utcnow() + timedelta(seconds=delay))
