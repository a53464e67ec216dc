"""The writer: one connection, one thread, every write in a transaction; group commit.

The store owns one connection used only from its own single worker thread, so database work never
blocks the event loop (durable writes off the event loop) and writes are serialized without locks. A
poll's database work is one transaction (``with store.transaction():``) whose cost depends on the
page, not on the history. Writes that say only "still there" are deferred and flushed together
(``defer_state``).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import sqlite3
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import structlog

from ticker.errors import StoreError
from ticker.model import SourceState
from ticker.store.connection import store_error
from ticker.store.state import StateCache
from ticker.store.times import utc

_log = structlog.get_logger("ticker.store")

P = ParamSpec("P")
R = TypeVar("R")

#: How long "still there" writes (304s, unchanged pages, failures) wait to share a transaction.
FLUSH_AFTER = 1.0
# A deferred "still there": the lines on the page at its last recorded poll are on it still.
# What was on the page is still there: one value per source (its lines' last_seen is read
# through it), not a write to each line's row.
_TOUCH_PRESENT = "UPDATE sources SET present_seen = ? WHERE id = ?"


class StoreWriter(StateCache):
    """The store's thread and transactions: call methods through :meth:`run` or :meth:`write`."""

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        super().__init__()
        self.conn = conn
        self.path = path
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ticker-store")
        self._lock = threading.Lock()
        # Writes that only say "still there" or "failed again", applied at the start of the
        # next transaction or by a flush FLUSH_AFTER seconds later: one commit for many polls
        # instead of a synchronous=FULL commit each. Lost in a crash, they cost nothing.
        self._deferred: dict[str, tuple[SourceState, datetime | None]] = {}
        self._deferred_lock = threading.Lock()
        self._flush_handle: asyncio.TimerHandle | None = None
        self._flush_task: asyncio.Task[None] | None = None
        self._flush_failing = False
        # Group commit (see write()): jobs waiting for the store's thread.
        self._queue: list[tuple[Callable[[], Any], asyncio.Future[Any], Any]] = []
        self._queue_lock = threading.Lock()
        self._draining = False
        self._grouped = False

    def close(self) -> None:
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        try:
            # Writes queued for a drain the loop had no turn left to start are committed too.
            self._executor.submit(self._drain).result()
            self._executor.submit(self.flush).result()
        except (sqlite3.Error, StoreError, RuntimeError) as exc:
            _log.error("state_write_failed", error=str(exc))
        self._executor.shutdown(wait=True)
        with contextlib.suppress(sqlite3.Error):
            self.conn.close()

    async def run(self, fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        """Run ``fn`` in the store's own thread: the event loop never waits on SQLite.
        SQLite's errors (a file corrupted under us) come out as StoreError."""
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(
                self._executor, functools.partial(fn, *args, **kwargs)
            )
        except sqlite3.Error as exc:
            raise store_error(exc, self.path) from exc

    async def write(self, fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        """Like :meth:`run`, for work that writes in ``with store.transaction():``. Work that
        queues while the store's thread is busy commits together (group commit): one
        synchronous=FULL commit for a burst of polls instead of one each, every job still
        all or nothing on its own (a savepoint each), every caller answered after the commit."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        with self._queue_lock:
            self._queue.append((functools.partial(fn, *args, **kwargs), future, loop))
            start, self._draining = not self._draining, True
        if start:
            # On the loop's next turn: the polls this turn runs queue their writes first and
            # share the commit. Sent at once, a burst committed one poll at a time.
            loop.call_soon(self._start_drain)
        return await future

    def _start_drain(self) -> None:
        try:
            self._executor.submit(self._drain)
        except RuntimeError:  # closed
            with self._queue_lock:
                batch, self._queue = self._queue, []
                self._draining = False
            error = StoreError(f"state file {str(self.path)!r} is closed")
            for _, future, _ in batch:
                _settle(future, False, error)

    def _drain(self) -> None:
        while True:
            with self._queue_lock:
                batch, self._queue = self._queue, []
                if not batch:
                    self._draining = False
                    return
            try:
                done = self._commit_batch([job for job, _, _ in batch])
            except Exception as exc:  # whatever happens, no caller is left waiting
                done = [(False, exc)] * len(batch)
            for (ok, value), (_, future, loop) in zip(done, batch, strict=True):
                with contextlib.suppress(RuntimeError):  # that loop is closed: nobody waits
                    loop.call_soon_threadsafe(_settle, future, ok, value)

    def _commit_batch(self, jobs: list[Callable[[], Any]]) -> list[tuple[bool, Any]]:
        done: list[tuple[bool, Any]] = []
        try:
            with self.transaction():
                self._grouped = True
                try:
                    for job in jobs:
                        if not self.conn.in_transaction:
                            # SQLite gave up the whole transaction (a full disk can): the jobs
                            # so far are undone too, and none may run outside it.
                            raise sqlite3.OperationalError("the transaction was rolled back")
                        try:
                            done.append((True, job()))
                        except Exception as exc:  # that job's savepoint is rolled back
                            done.append((False, exc))
                finally:
                    self._grouped = False
        except StoreError as exc:  # the commit failed: nothing of the batch was written
            return [(False, exc)] * len(jobs)
        return done

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """One write transaction; translated to StoreError (e.g. disk full) and rolled back.
        Inside a group commit (see :meth:`write`) it is a savepoint of the group's."""
        try:
            if self._grouped:
                with self._savepoint():
                    yield
            else:
                with self._tx():
                    yield
        except sqlite3.Error as exc:
            raise store_error(exc, self.path) from exc

    @contextlib.contextmanager
    def _savepoint(self) -> Iterator[None]:
        states, present = dict(self._staged_states), dict(self._staged_present)
        self.conn.execute("SAVEPOINT job")
        try:
            yield
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                self.conn.execute("ROLLBACK TO job")
                self.conn.execute("RELEASE job")
            self._staged_states, self._staged_present = states, present
            raise
        self.conn.execute("RELEASE job")

    @contextlib.contextmanager
    def _tx(self) -> Iterator[None]:
        with self._lock:
            self.conn.execute("BEGIN IMMEDIATE")
            self._check_data_version()
            with self._deferred_lock:
                deferred, self._deferred = self._deferred, {}
            try:
                if deferred:
                    self.save_source_states([state for state, _ in deferred.values()])
                    self.conn.executemany(  # the rows exist: their states were just saved
                        _TOUCH_PRESENT,
                        [(utc(at), sid) for sid, (_, at) in deferred.items() if at is not None],
                    )
                yield
                self.conn.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    self.conn.execute("ROLLBACK")
                self._staged_states.clear()
                self._staged_present.clear()
                with self._deferred_lock:  # to be written with the next transaction
                    self._deferred = {**deferred, **self._deferred}
                raise
            self._states.update(self._staged_states)
            # Lines just recorded count as not yet confirmed (read at 0): a ticker that just
            # moved is read whole at its next change, where its region would be read in vain.
            self._present.update((k, (v, 0.0)) for k, v in self._staged_present.items())
            self._staged_states.clear()
            self._staged_present.clear()

    # -- deferred writes -------------------------------------------------------------------

    def defer_state(self, state: SourceState, *, seen_at: datetime | None = None) -> None:
        """Record ``state`` with the next transaction, within FLUSH_AFTER seconds; with
        ``seen_at``, what was on the page is still there (last_seen moves). Event loop only."""
        self._states[state.source_id] = state
        with self._deferred_lock:
            self._deferred[state.source_id] = (state, seen_at)
        if self._flush_handle is None:
            loop = asyncio.get_running_loop()
            self._flush_handle = loop.call_later(FLUSH_AFTER, self._start_flush, loop)

    def _start_flush(self, loop: asyncio.AbstractEventLoop) -> None:
        # Held until done: the loop keeps only a weak reference to a task.
        self._flush_task = loop.create_task(self._flush_later())

    async def _flush_later(self) -> None:
        self._flush_handle = None
        try:
            await self.run(self.flush)
        except (StoreError, RuntimeError) as exc:  # RuntimeError: closed meanwhile
            if not self._flush_failing:  # once, not every second while the disk is full
                _log.error("state_write_failed", error=str(exc))
            self._flush_failing = True
            return
        self._flush_failing = False

    def flush(self) -> None:
        """Write the deferred states now (store thread)."""
        if self._deferred:
            with self.transaction():
                pass


def _settle(future: asyncio.Future[Any], ok: bool, value: Any) -> None:
    if future.done():  # the caller was cancelled; its job ran all the same
        return
    if ok:
        future.set_result(value)
    else:
        future.set_exception(value)
