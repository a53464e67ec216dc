"""Is the service alive? systemd's watchdog ping, sent from the event loop while the schedule
makes progress, and the loop's lag (how late it runs a timer)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import structlog

from ticker.sdnotify import SystemdNotifier

if TYPE_CHECKING:
    from ticker.metrics import Metrics

log = structlog.get_logger("ticker.service")


async def watchdog(systemd: SystemdNotifier, stalled: Callable[[], bool]) -> None:
    interval = systemd.watchdog_interval
    if interval is None:
        return
    while True:
        # This task runs on the event loop: a wedged loop sends no ping and systemd restarts.
        if not stalled():
            systemd.notify("WATCHDOG=1")
        await asyncio.sleep(interval)


async def measure_loop_lag(metrics: Metrics | None, period: float = 0.25) -> None:
    """Loop lag under load: how late the loop runs a timer; a blocked loop delays every poll and
    send."""
    while True:
        started = time.monotonic()
        await asyncio.sleep(period)
        lag = max(0.0, time.monotonic() - started - period)
        if metrics is not None:
            metrics.loop_lag.observe(lag)
        if lag > 0.5:
            log.warning("loop_lag", lag_s=round(lag, 3))
