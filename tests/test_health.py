"""Source health as a pure state machine: ``observe()`` turns polls into states and transitions.

Every test feeds a sequence of observations with explicit times and checks the state after each
poll and the transitions (the health alerts): one per change of state, none while a state holds.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest

from ticker.health import (
    CANARY_POLLS,
    Health,
    Observation,
    SourceHealth,
    Transition,
    alert_message,
    observe,
)

T0 = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)

OK = Observation(ok=True, parsed=True, items=5, canary_found=True)
NOT_MODIFIED = Observation(ok=True, parsed=False)  # a 304 or a body identical to the last one
MISSING_CANARY = Observation(ok=True, parsed=True, items=0, canary_found=False)
EMPTY = Observation(ok=True, parsed=True, items=0, canary_found=True)


def error(message: str = "HTTP 500 from http://127.0.0.1/en") -> Observation:
    return Observation(ok=False, error=message)


def run(
    observations: Sequence[Observation],
    *,
    start: SourceHealth | None = None,
    failing_after: int = 5,
    stale_after: float | None = None,
    step: timedelta = timedelta(seconds=30),
) -> tuple[SourceHealth, list[Transition | None]]:
    """Feed observations ``step`` apart from T0; the final health and each poll's transition."""
    health = start or SourceHealth()
    transitions: list[Transition | None] = []
    for i, obs in enumerate(observations):
        health, transition = observe(
            health,
            obs,
            now=T0 + i * step,
            failing_after=failing_after,
            stale_after=stale_after,
        )
        transitions.append(transition)
    return health, transitions


def fired(transitions: Sequence[Transition | None]) -> list[tuple[int, Health, Health]]:
    """The polls (by index) that changed state, with (previous, current)."""
    return [(i, t.previous, t.current) for i, t in enumerate(transitions) if t is not None]


# -- the start -------------------------------------------------------------------------------


def test_a_new_source_is_ok_and_a_successful_poll_changes_nothing() -> None:
    health, transitions = run([OK, OK])
    assert SourceHealth().state is Health.OK
    assert health.state is Health.OK
    assert fired(transitions) == []
    assert health.last_success == T0 + timedelta(seconds=30)
    assert health.last_poll == T0 + timedelta(seconds=30)
    assert health.last_error is None


# -- failing ---------------------------------------------------------------------------------


def test_failing_after_n_consecutive_errors_alerts_once_with_the_last_error() -> None:
    health, transitions = run(
        [OK, error("e1"), error("e2"), error("timeout after 30s")], failing_after=3
    )
    assert fired(transitions) == [(3, Health.OK, Health.FAILING)]
    last = transitions[3]
    assert last is not None
    assert "3 consecutive fetch errors" in last.reason
    assert "timeout after 30s" in last.reason
    assert health.state is Health.FAILING
    assert health.failures == 3
    assert health.last_error == "timeout after 30s"
    assert health.last_success == T0  # the last success is kept while failing


def test_fewer_errors_than_failing_after_stay_ok() -> None:
    health, transitions = run([error(), error()], failing_after=3)
    assert fired(transitions) == []
    assert health.state is Health.OK
    assert health.failures == 2


def test_failing_alert_is_not_repeated_while_errors_continue() -> None:
    health, transitions = run([error()] * 10, failing_after=2)
    assert fired(transitions) == [(1, Health.OK, Health.FAILING)]
    assert health.state is Health.FAILING
    assert health.failures == 10


def test_a_success_between_errors_restarts_the_count() -> None:
    _, transitions = run([error(), error(), OK, error(), error()], failing_after=3)
    assert fired(transitions) == []


def test_errors_that_are_not_consecutive_never_make_a_source_failing() -> None:
    _, transitions = run([error(), NOT_MODIFIED] * 6, failing_after=2)
    assert fired(transitions) == []


def test_failing_after_one_alerts_on_the_first_error() -> None:
    _, transitions = run([error()], failing_after=1)
    assert fired(transitions) == [(0, Health.OK, Health.FAILING)]


# -- recovery --------------------------------------------------------------------------------


def test_recovery_from_failing_is_one_ok_transition() -> None:
    health, transitions = run([error(), error(), OK, OK, OK], failing_after=2)
    assert fired(transitions) == [(1, Health.OK, Health.FAILING), (2, Health.FAILING, Health.OK)]
    assert health.state is Health.OK
    assert health.failures == 0
    assert health.last_error is None


def test_a_not_modified_answer_is_a_recovery_too() -> None:
    """A 304 proves the site answers: failing ends even though nothing was parsed."""
    _, transitions = run([error(), error(), NOT_MODIFIED], failing_after=2)
    assert fired(transitions) == [(1, Health.OK, Health.FAILING), (2, Health.FAILING, Health.OK)]


def test_failing_again_after_recovery_alerts_again() -> None:
    _, transitions = run([error(), error(), OK, error(), error()], failing_after=2)
    assert fired(transitions) == [
        (1, Health.OK, Health.FAILING),
        (2, Health.FAILING, Health.OK),
        (4, Health.OK, Health.FAILING),
    ]


# -- broken layout (canary) ------------------------------------------------------------------


def test_the_canary_missing_for_three_parsed_polls_makes_the_source_broken_once() -> None:
    assert CANARY_POLLS == 3
    health, transitions = run(
        [OK, MISSING_CANARY, MISSING_CANARY, MISSING_CANARY] + [MISSING_CANARY] * 3
    )
    assert fired(transitions) == [(3, Health.OK, Health.BROKEN)]
    broke = transitions[3]
    assert broke is not None
    assert "canary" in broke.reason
    assert health.state is Health.BROKEN
    assert health.canary_misses == 6


def test_two_canary_misses_are_not_enough() -> None:
    health, transitions = run([MISSING_CANARY, MISSING_CANARY, OK])
    assert fired(transitions) == []
    assert health.canary_misses == 0  # the canary found again resets the count


def test_unchanged_polls_neither_count_nor_reset_canary_misses() -> None:
    """A 304 or an identical body is not parsed: it says nothing new about the layout."""
    health, transitions = run(
        [MISSING_CANARY, NOT_MODIFIED, NOT_MODIFIED, MISSING_CANARY] + [NOT_MODIFIED] * 5
    )
    assert fired(transitions) == []
    assert health.canary_misses == 2
    health, transitions = run([MISSING_CANARY], start=health)
    assert fired(transitions) == [(0, Health.OK, Health.BROKEN)]


def test_a_source_without_a_canary_is_never_broken() -> None:
    no_canary_empty = Observation(ok=True, parsed=True, items=0, canary_found=None)
    health, transitions = run([no_canary_empty] * 6)
    assert fired(transitions) == []
    assert health.state is Health.OK


def test_a_broken_source_whose_canary_returns_is_ok_again() -> None:
    health, transitions = run([MISSING_CANARY] * 3 + [OK, OK])
    assert fired(transitions) == [(2, Health.OK, Health.BROKEN), (3, Health.BROKEN, Health.OK)]
    assert health.state is Health.OK
    assert health.canary_misses == 0


def test_fetch_errors_while_broken_become_failing_then_broken_again() -> None:
    """Failing beats broken: the fetch errors are the more urgent news."""
    health, transitions = run(
        [MISSING_CANARY] * 3 + [error(), error(), MISSING_CANARY], failing_after=2
    )
    assert fired(transitions) == [
        (2, Health.OK, Health.BROKEN),
        (4, Health.BROKEN, Health.FAILING),
        (5, Health.FAILING, Health.BROKEN),
    ]
    assert health.state is Health.BROKEN


# -- quiet -------------------------------------------------------------------------------------


def test_quiet_after_stale_after_without_items_then_ok_when_items_return() -> None:
    minute = timedelta(minutes=1)
    health, first = observe(SourceHealth(), OK, now=T0, failing_after=5, stale_after=600)
    assert first is None
    health, t = observe(health, EMPTY, now=T0 + 10 * minute, failing_after=5, stale_after=600)
    assert t is None  # exactly stale_after: not yet
    assert health.state is Health.OK
    health, t = observe(
        health, EMPTY, now=T0 + 10 * minute + timedelta(seconds=1), failing_after=5, stale_after=600
    )
    assert t is not None
    assert (t.previous, t.current) == (Health.OK, Health.QUIET)
    assert "no ticker items for more than 10m" in t.reason
    health, t = observe(health, EMPTY, now=T0 + 20 * minute, failing_after=5, stale_after=600)
    assert t is None  # not repeated while quiet
    assert health.state is Health.QUIET
    health, t = observe(health, OK, now=T0 + 21 * minute, failing_after=5, stale_after=600)
    assert t is not None
    assert (t.previous, t.current) == (Health.QUIET, Health.OK)


def test_the_quiet_clock_starts_at_the_first_success() -> None:
    """A source that never showed an item goes quiet stale_after after its first success."""
    health, _ = observe(SourceHealth(), EMPTY, now=T0, failing_after=5, stale_after=60)
    assert health.state is Health.OK
    health, t = observe(
        health, EMPTY, now=T0 + timedelta(seconds=61), failing_after=5, stale_after=60
    )
    assert t is not None
    assert t.current is Health.QUIET


def test_no_quiet_state_when_stale_after_is_off() -> None:
    health, transitions = run([EMPTY] * 10, step=timedelta(days=1), stale_after=None)
    assert fired(transitions) == []
    assert health.state is Health.OK


def test_items_within_stale_after_keep_the_source_ok() -> None:
    _, transitions = run([OK, EMPTY] * 10, step=timedelta(minutes=5), stale_after=600)
    assert fired(transitions) == []


# -- priorities ------------------------------------------------------------------------------


def test_failing_beats_quiet() -> None:
    start = SourceHealth(state=Health.QUIET, last_items_at=T0 - timedelta(days=1))
    health, transitions = run([error(), error()], start=start, stale_after=60, failing_after=2)
    assert fired(transitions) == [(1, Health.QUIET, Health.FAILING)]
    assert health.state is Health.FAILING


def test_broken_beats_quiet() -> None:
    health, transitions = run([OK] + [MISSING_CANARY] * 3, step=timedelta(hours=1), stale_after=60)
    # the first empty poll comes an hour after the last items: quiet, then broken on the third
    assert fired(transitions) == [(1, Health.OK, Health.QUIET), (3, Health.QUIET, Health.BROKEN)]
    assert health.state is Health.BROKEN


def test_failing_beats_broken_when_both_hold() -> None:
    start = SourceHealth(canary_misses=5, state=Health.BROKEN)
    health, transitions = run([error(), error()], start=start, failing_after=2)
    assert fired(transitions) == [(1, Health.BROKEN, Health.FAILING)]
    assert health.state is Health.FAILING


# -- the alert text --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("current", "title"),
    [
        (Health.FAILING, "ticker: Al Mayadeen English is failing"),
        (Health.BROKEN, "ticker: Al Mayadeen English is broken"),
        (Health.QUIET, "ticker: Al Mayadeen English is quiet"),
        (Health.OK, "ticker: Al Mayadeen English is OK again"),
    ],
)
def test_alert_message_names_the_source_state_and_reason(current: Health, title: str) -> None:
    previous = Health.FAILING if current is Health.OK else Health.OK
    message = alert_message(
        "Al Mayadeen English", Transition(previous=previous, current=current, reason="because X")
    )
    assert message.title == title
    assert "Al Mayadeen English" in message.body
    assert "because X" in message.body
    if current is Health.OK:
        assert "was failing" in message.body


def test_observe_is_pure() -> None:
    """The same input gives the same output, and the input health is left as it was."""
    before = SourceHealth(failures=1)
    a = observe(before, error(), now=T0, failing_after=2, stale_after=None)
    b = observe(before, error(), now=T0, failing_after=2, stale_after=None)
    assert a == b
    assert before == SourceHealth(failures=1)


@pytest.mark.parametrize("current", [Health.BROKEN, Health.QUIET])
def test_a_broken_or_quiet_source_alert_names_the_repair_command(current: Health) -> None:
    repair = "ticker discover --source almayadeen -c /etc/ticker/ticker.toml"
    message = alert_message(
        "Al Mayadeen English",
        Transition(previous=Health.OK, current=current, reason="because X"),
        repair=repair,
    )
    assert message.body.endswith(repair)
    failing = alert_message(
        "Al Mayadeen English",
        Transition(previous=Health.OK, current=Health.FAILING, reason="because X"),
        repair=repair,
    )
    assert repair not in failing.body  # the page does not load: selectors are not the cause
