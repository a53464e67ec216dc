"""Per-source state: its rows, and what this process knows of it without asking SQLite.

A poll reads its source's state from memory (``cached_state``, ``present_keys``), not through
the store's thread. The caches learn only what a transaction committed (staged while it runs,
published by the writer on COMMIT, dropped on ROLLBACK); another process's commit empties them.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence

from ticker.model import SourceState
from ticker.store.times import opt_utc, utc


class StateCache:
    """Source state queries of :class:`ticker.store.SqliteStore`, and the caches in front."""

    conn: sqlite3.Connection

    def __init__(self) -> None:
        # What this process last committed (or deferred) per source, so that a poll reads its
        # state without a trip to the store's thread. ticker run is the one writer of its
        # state; another process's commit (PRAGMA data_version) empties these caches.
        self._states: dict[str, SourceState] = {}
        # Page keys at the last recorded poll, and when a whole-page read last showed them.
        self._present: dict[str, tuple[frozenset[str], float]] = {}
        # When the whole page was last read (the region and prefix reads need one a minute).
        self._whole_read: dict[str, float] = {}
        self._staged_states: dict[str, SourceState] = {}
        self._staged_present: dict[str, frozenset[str]] = {}
        self._data_version: int | None = None

    def _check_data_version(self) -> None:
        version = self.conn.execute("PRAGMA data_version").fetchone()[0]
        if self._data_version is not None and version != self._data_version:
            self._states.clear()  # another process wrote: read the state afresh
            self._present.clear()
        self._data_version = version

    def cached_state(self, source_id: str) -> SourceState | None:
        """The source's state if this process knows it, without touching the database."""
        return self._states.get(source_id)

    def present_keys(self, source_id: str) -> tuple[frozenset[str], float] | None:
        """The keys of the lines on the page at the source's last recorded poll, if known, and
        when (``time.monotonic()``) a read of the page last showed exactly them again (0.0
        until one has)."""
        return self._present.get(source_id)

    def confirm_present(self, source_id: str, keys: frozenset[str]) -> None:
        known = self._present.get(source_id)
        if known is not None and known[0] == keys:
            self._present[source_id] = (keys, time.monotonic())

    def note_whole_read(self, source_id: str) -> None:
        self._whole_read[source_id] = time.monotonic()

    def whole_read_at(self, source_id: str) -> float:
        return self._whole_read.get(source_id, float("-inf"))

    # -- sources -------------------------------------------------------------------------

    def source_state(self, source_id: str) -> SourceState:
        cached = self._states.get(source_id)
        if cached is not None:
            return cached
        row = self.conn.execute("SELECT * FROM sources WHERE id = ?", (source_id,)).fetchone()
        state = SourceState(source_id=source_id) if row is None else _source_state(row)
        self._states[source_id] = state
        return state

    def source_states(self) -> list[SourceState]:
        states = [_source_state(r) for r in self.conn.execute("SELECT * FROM sources ORDER BY id")]
        for state in states:
            self._states.setdefault(state.source_id, state)  # polls start without a trip here
        return states

    def save_source_state(self, state: SourceState) -> None:
        self.save_source_states([state])

    def save_source_states(self, states: Sequence[SourceState]) -> None:
        """Upsert each state: one statement for them all (a flush writes hundreds)."""
        self.conn.executemany(_SAVE_STATE, [_state_row(state) for state in states])
        for state in states:
            self._staged_states[state.source_id] = state


_SAVE_STATE = """
    INSERT INTO sources (id, etag, last_modified, body_digest, last_success, last_attempt,
                         consecutive_failures, last_error, baseline_done)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (id) DO UPDATE SET
        etag = excluded.etag, last_modified = excluded.last_modified,
        body_digest = excluded.body_digest, last_success = excluded.last_success,
        last_attempt = excluded.last_attempt,
        consecutive_failures = excluded.consecutive_failures,
        last_error = excluded.last_error, baseline_done = excluded.baseline_done
"""


def _state_row(state: SourceState) -> tuple[object, ...]:
    return (
        state.source_id,
        state.etag,
        state.last_modified,
        state.body_digest,
        None if state.last_success is None else utc(state.last_success),
        None if state.last_attempt is None else utc(state.last_attempt),
        state.consecutive_failures,
        state.last_error,
        int(state.baseline_done),
    )


def _source_state(row: sqlite3.Row) -> SourceState:
    return SourceState(
        source_id=row["id"],
        etag=row["etag"],
        last_modified=row["last_modified"],
        body_digest=row["body_digest"],
        last_success=opt_utc(row["last_success"]),
        last_attempt=opt_utc(row["last_attempt"]),
        consecutive_failures=row["consecutive_failures"],
        last_error=row["last_error"],
        baseline_done=bool(row["baseline_done"]),
    )
