"""What counts as new: the one place where a poll becomes a decision and a next state.

A poll's outcome is decided here, from values only: what the page shows (keyed), what the state
knows of those lines (``DetectionInputs``, read by the store inside the poll's transaction), the
source's state, the fetch's validators and the clock. The pipeline, ``ticker check`` and the
benchmarks call these functions; the store only reads inputs and writes what they return.

- :func:`decide`: a page read whole (or its region) that may hold new lines. The first
  successful poll is a baseline: its lines are recorded with kind BASELINE, never alerted.
- :func:`unchanged`: a 304, an identical body, or the same lines as last time.
- :func:`failed`: a poll that did not get a page.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from ticker.detect import detect
from ticker.model import Detection, DetectionInputs, PageItem, SourceState

#: Lines that left the page within realert_after and may have been edited: the newest this many
#: are edit candidates (a ticker shows tens of lines; a bound keeps a busy source's query cheap).
RECENTLY_GONE_LIMIT = 200


@dataclass(frozen=True, slots=True, kw_only=True)
class Validators:
    """What the fetch learnt of the page: HTTP validators and the digest of the body."""

    etag: str | None = None
    last_modified: str | None = None
    body_digest: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Decision:
    detection: Detection
    state: SourceState  # the source's state once the decision is recorded


def gone_after(now: datetime, realert_after: timedelta) -> datetime:
    """The oldest ``gone_since`` an edit candidate may have (the store's input window)."""
    return now - realert_after


def decide(
    *,
    page: Mapping[str, PageItem],
    inputs: DetectionInputs,
    state: SourceState,
    validators: Validators,
    now: datetime,
    realert_after: timedelta,
) -> Decision:
    """Classify one successful read of a page, and the state that follows it."""
    detection = detect(
        page=page,
        known=inputs.known,
        present=inputs.present,
        recently_gone=inputs.recently_gone,
        now=now,
        realert_after=realert_after,
        baseline=not state.baseline_done,
    )
    next_state = replace(
        state,
        etag=validators.etag,
        last_modified=validators.last_modified,
        body_digest=validators.body_digest,
        last_success=now,
        last_attempt=now,
        consecutive_failures=0,
        last_error=None,
        baseline_done=True,
    )
    return Decision(detection=detection, state=next_state)


def unchanged(state: SourceState, validators: Validators, *, now: datetime) -> SourceState:
    """The page shows what it showed last time: a success that keeps the known validators
    where the answer carried none (a 304 may omit them)."""
    # A constructor: replace() costs twice as much, and this runs for every 304.
    return SourceState(
        source_id=state.source_id,
        etag=validators.etag or state.etag,
        last_modified=validators.last_modified or state.last_modified,
        body_digest=validators.body_digest or state.body_digest,
        last_success=now,
        last_attempt=now,
        consecutive_failures=0,
        last_error=None,
        baseline_done=state.baseline_done,
    )


def failed(state: SourceState, message: str, *, now: datetime) -> SourceState:
    """A poll that got no page: one more consecutive failure, with what went wrong."""
    return replace(
        state,
        last_attempt=now,
        consecutive_failures=state.consecutive_failures + 1,
        last_error=message,
    )
