"""The journal's view of polling: a ``poll_summary`` event a minute at INFO, counting what the
polls came to, where a quiet poll (nothing new, no error) is logged at DEBUG only.

1,000 sources at 10 s make 6,000 polls a minute: one INFO line each was 8.6 million lines a day,
where an operator reads what changed. New lines, failures, health changes and deliveries keep
their own INFO and WARNING events; this says that the rest went on.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, fields

import structlog

from ticker.pipeline import PollOutcome

log = structlog.get_logger("ticker.service")

#: Seconds between two ``poll_summary`` events.
SUMMARY_EVERY = 60.0


@dataclass(slots=True)
class PollTally:
    """What the polls since the last summary came to."""

    polls: int = 0
    ok: int = 0  # the page was read
    not_modified: int = 0  # 304
    unchanged: int = 0  # the same body as last time, not read
    errors: int = 0
    new: int = 0  # new lines found
    baselines: int = 0

    def count(self, outcome: PollOutcome) -> None:
        self.polls += 1
        status = outcome.status
        if status == "not_modified":
            self.not_modified += 1
        elif status == "unchanged":
            self.unchanged += 1
        elif status == "ok":
            self.ok += 1
        else:
            self.errors += 1
        self.new += len(outcome.new)
        self.baselines += outcome.baseline

    def take(self) -> dict[str, int]:
        """The counts so far, and a fresh start."""
        counts = {f.name: getattr(self, f.name) for f in fields(self)}
        for f in fields(self):
            setattr(self, f.name, 0)
        return counts


async def summarize(tally: PollTally, every: float = SUMMARY_EVERY) -> None:
    """Log ``poll_summary`` every ``every`` seconds while there were polls (a service whose
    sources all poll less often than that logs nothing in between)."""
    while True:
        await asyncio.sleep(every)
        counts = tally.take()
        if counts["polls"]:
            log.info("poll_summary", window_s=round(every), **counts)
