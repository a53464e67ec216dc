"""Source health as a small state machine: pure, ``now`` passed in.

A source is ``ok``, ``failing`` (N consecutive fetch errors), ``broken`` (its canary stopped
matching for 3 polls while the page loads fine) or ``quiet`` (no items at all for ``stale_after``).
A change of state, recovery included, is a health alert; while a state holds nothing repeats.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

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
    # One construction, not a replace() a field: this runs after every poll of every source.
    failures, canary_misses = health.failures, health.canary_misses
    last_items_at, last_success, last_error = (
        health.last_items_at,
        health.last_success,
        health.last_error,
    )
    if obs.ok:
        failures, last_success, last_error = 0, now, None
        if last_items_at is None:
            last_items_at = now  # the quiet clock starts at the first success
        if obs.parsed:
            if obs.items:
                last_items_at = now
            if obs.canary_found is False:
                canary_misses += 1
            elif obs.canary_found is True or obs.items:
                canary_misses = 0
    else:
        failures, last_error = failures + 1, obs.error
    state, reason = _classify(
        failures=failures,
        canary_misses=canary_misses,
        last_items_at=last_items_at,
        last_error=last_error,
        now=now,
        failing_after=failing_after,
        stale_after=stale_after,
    )
    h = SourceHealth(
        state=state,
        failures=failures,
        canary_misses=canary_misses,
        last_items_at=last_items_at,
        last_poll=now,
        last_success=last_success,
        last_error=last_error,
    )
    if state == health.state:
        return h, None
    return h, Transition(previous=health.state, current=state, reason=reason)


def _classify(
    *,
    failures: int,
    canary_misses: int,
    last_items_at: datetime | None,
    last_error: str | None,
    now: datetime,
    failing_after: int,
    stale_after: float | None,
) -> tuple[Health, str]:
    if failures >= failing_after:
        return Health.FAILING, f"{failures} consecutive fetch errors; last: {last_error}"
    if canary_misses >= CANARY_POLLS:
        return (
            Health.BROKEN,
            f"the canary selector matched nothing in {canary_misses} polls while the page "
            "loaded: the layout may have changed",
        )
    if (
        stale_after is not None
        and last_items_at is not None
        and (now - last_items_at).total_seconds() > stale_after
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
