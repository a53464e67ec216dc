"""Source health as a small state machine: pure, ``now`` passed in.

A source is ``ok``, ``failing`` (N consecutive fetch errors), ``broken`` (its canary stopped
matching for 3 polls while the page loads fine) or ``quiet`` (no items at all for ``stale_after``).
A change of state, recovery included, is a health alert; while a state holds nothing repeats.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from ticker.durations import format_duration
from ticker.model import Message

CANARY_POLLS = 3


class Health(enum.StrEnum):
    OK = "ok"
    FAILING = "failing"
    BROKEN = "broken"
    QUIET = "quiet"


@dataclass(frozen=True, slots=True, kw_only=True)
class Observation:
    """What one poll tells health: whether the fetch worked, items, canary."""

    ok: bool
    parsed: bool = False  # the page was parsed (200 with a new body), so items/canary are known
    items: int = 0
    canary_found: bool | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SourceHealth:
    state: Health = Health.OK
    failures: int = 0
    canary_misses: int = 0
    last_items_at: datetime | None = None  # last time the page showed at least one item
    last_poll: datetime | None = None
    last_success: datetime | None = None
    last_error: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Transition:
    previous: Health
    current: Health
    reason: str


def observe(
    health: SourceHealth,
    obs: Observation,
    *,
    now: datetime,
    failing_after: int,
    stale_after: float | None,
) -> tuple[SourceHealth, Transition | None]:
    """The next health of a source after one poll, and the transition to alert, if any."""
    h = replace(health, last_poll=now)
    if obs.ok:
        h = replace(h, failures=0, last_success=now, last_error=None)
        if h.last_items_at is None:
            h = replace(h, last_items_at=now)  # the quiet clock starts at the first success
        if obs.parsed:
            if obs.items:
                h = replace(h, last_items_at=now)
            if obs.canary_found is False:
                h = replace(h, canary_misses=h.canary_misses + 1)
            elif obs.canary_found is True or obs.items:
                h = replace(h, canary_misses=0)
    else:
        h = replace(h, failures=h.failures + 1, last_error=obs.error)

    state, reason = _classify(h, now=now, failing_after=failing_after, stale_after=stale_after)
    if state == health.state:
        return replace(h, state=state), None
    return replace(h, state=state), Transition(previous=health.state, current=state, reason=reason)


def _classify(
    h: SourceHealth, *, now: datetime, failing_after: int, stale_after: float | None
) -> tuple[Health, str]:
    if h.failures >= failing_after:
        return Health.FAILING, f"{h.failures} consecutive fetch errors; last: {h.last_error}"
    if h.canary_misses >= CANARY_POLLS:
        return (
            Health.BROKEN,
            f"the canary selector matched nothing in {h.canary_misses} polls while the page "
            "loaded: the layout may have changed",
        )
    if (
        stale_after is not None
        and h.last_items_at is not None
        and now - h.last_items_at > timedelta(seconds=stale_after)
    ):
        return Health.QUIET, f"no ticker items for more than {format_duration(stale_after)}"
    return Health.OK, "polls succeed and the ticker is read"


def alert_message(
    source_name: str, transition: Transition, *, repair: str | None = None
) -> Message:
    """The text of a health alert for a transition; ``repair``, the command that proposes new
    selectors, is named when the page loads but its ticker is no longer read."""
    if transition.current is Health.OK:
        title = f"ticker: {source_name} is OK again"
        body = f"{source_name} recovered (was {transition.previous}): {transition.reason}."
    else:
        title = f"ticker: {source_name} is {transition.current}"
        body = f"{source_name}: {transition.reason}."
        if repair and transition.current in (Health.BROKEN, Health.QUIET):
            body += f"\nTo see the selectors ticker would use now: {repair}"
    return Message(title=title, body=body)
