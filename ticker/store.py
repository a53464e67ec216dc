"""SQLite state: every item ever seen, per-source state; schema versioned, WAL, one writer thread.

The store owns one connection used only from its own single worker thread, so database work never
blocks the event loop (S1) and writes are serialized without locks. A poll's database work is one
transaction (``with store.transaction():``) whose cost depends on the page, not on the history.
A file that is not a ticker database is reported and never written (S3).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import re
import sqlite3
import stat
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import structlog

from ticker.errors import StoreError
from ticker.model import Detection, ItemKind, KnownItem, NewItem, RecordedItem, SourceState
from ticker.store_outbox import OutboxMixin
from ticker.storetime import opt_utc as _opt_utc
from ticker.storetime import parse_utc, utc

_log = structlog.get_logger("ticker.store")

P = ParamSpec("P")
R = TypeVar("R")

_SQLITE_MAGIC = b"SQLite format 3\x00"

# Forward migrations: MIGRATIONS[n] takes a database from user_version n to n + 1.
MIGRATIONS: list[str] = [
    """
    CREATE TABLE sources (
        id TEXT PRIMARY KEY,
        etag TEXT,
        last_modified TEXT,
        body_digest TEXT,
        last_success TEXT,
        last_attempt TEXT,
        consecutive_failures INTEGER NOT NULL DEFAULT 0,
        last_error TEXT,
        baseline_done INTEGER NOT NULL DEFAULT 0
    );
    -- One row per occurrence of a line: a line back after a long absence is a new row.
    CREATE TABLE items (
        id INTEGER PRIMARY KEY,
        source TEXT NOT NULL,
        key TEXT NOT NULL,
        text TEXT NOT NULL,
        link TEXT,
        kind TEXT NOT NULL,
        update_of INTEGER REFERENCES items(id),
        first_seen TEXT NOT NULL,
        last_seen TEXT NOT NULL,
        gone_since TEXT
    );
    CREATE INDEX items_by_key ON items (source, key, id);
    CREATE INDEX items_present ON items (source) WHERE gone_since IS NULL;
    CREATE INDEX items_by_gone ON items (source, gone_since) WHERE gone_since IS NOT NULL;
    CREATE INDEX items_by_time ON items (first_seen);
    """,
    # The outbox: a message per planned alert, a delivery row per apprise URL (P1). URLs carry
    # secrets, so rows name their target by a digest (``target``), never by the URL.
    """
    CREATE TABLE messages (
        id INTEGER PRIMARY KEY,
        channel TEXT NOT NULL,
        kind TEXT NOT NULL,
        source TEXT,
        title TEXT NOT NULL,
        body TEXT NOT NULL,
        item_ids TEXT NOT NULL DEFAULT '[]',
        first_seen TEXT,
        created TEXT NOT NULL
    );
    CREATE TABLE deliveries (
        id INTEGER PRIMARY KEY,
        message INTEGER NOT NULL REFERENCES messages(id),
        channel TEXT NOT NULL,
        target TEXT NOT NULL,
        target_label TEXT NOT NULL,
        state TEXT NOT NULL DEFAULT 'pending',
        attempts INTEGER NOT NULL DEFAULT 0,
        strikes INTEGER NOT NULL DEFAULT 0,
        next_attempt TEXT NOT NULL,
        last_error TEXT,
        created TEXT NOT NULL,
        done_at TEXT
    );
    CREATE INDEX deliveries_due ON deliveries (next_attempt, id) WHERE state = 'pending';
    CREATE INDEX deliveries_by_state ON deliveries (state, id);
    CREATE INDEX deliveries_by_message ON deliveries (message);
    """,
    # The latency a newsroom cares about, per item: first seen -> first delivered anywhere.
    """
    ALTER TABLE items ADD COLUMN first_delivered TEXT;
    """,
]

#: How long "still there" writes (304s, unchanged pages, failures) wait to share a transaction.
FLUSH_AFTER = 1.0

SCHEMA_VERSION = len(MIGRATIONS)


@dataclass(frozen=True, slots=True, kw_only=True)
class DetectionInputs:
    """What detection needs from the state for one page."""

    known: dict[str, KnownItem]
    present: set[str]
    recently_gone: list[KnownItem]


@dataclass(frozen=True, slots=True, kw_only=True)
class Recorded:
    """A new item as committed: its row id and first-seen time."""

    id: int
    item: NewItem
    first_seen: datetime


class SqliteStore(OutboxMixin):
    """The state database. Construct with :meth:`open`; call methods through :meth:`run`."""

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self.conn = conn
        self.path = path
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ticker-store")
        self._lock = threading.Lock()
        # What this process last committed (or deferred) per source, so that a poll reads its
        # state without a trip to the store's thread. ticker run is the one writer of its
        # state; another process's commit (PRAGMA data_version) empties these caches.
        self._states: dict[str, SourceState] = {}
        # Page keys at the last recorded poll, and when a whole-page read last showed them.
        self._present: dict[str, tuple[frozenset[str], float]] = {}
        self._staged_states: dict[str, SourceState] = {}
        self._staged_present: dict[str, frozenset[str]] = {}
        self._data_version: int | None = None
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

    # -- lifecycle -----------------------------------------------------------------------

    @classmethod
    def open(cls, path: str | os.PathLike[str], *, readonly: bool = False) -> SqliteStore:
        """Open (creating and migrating unless ``readonly``) the state database at ``path``.

        Raises StoreError naming the file when it is not a SQLite database, is corrupt, is
        newer than this ticker, or cannot be created (see :func:`state_path_problem`: its
        directory is never created); the file is never overwritten.
        """
        file = Path(path)
        if not readonly and (problem := _path_problem(file)) is not None:
            raise StoreError(problem)
        _check_header(file)
        if readonly:
            uri = f"file:{file.resolve()}?mode=ro"
            conn = _connect(uri, file, uri=True)
        else:
            _create_private(file)
            conn = _connect(str(file), file)
        store = cls(conn, file)
        try:
            store._configure(readonly=readonly)
        except BaseException:
            conn.close()
            raise
        return store

    def _configure(self, *, readonly: bool) -> None:
        try:
            self.conn.execute("PRAGMA busy_timeout = 5000")
            version = self.conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"state file {str(self.path)!r} has schema version {version}, newer than this "
                    f"ticker understands ({SCHEMA_VERSION}); upgrade ticker"
                )
            if not readonly:
                mode = self.conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                if mode.lower() != "wal":
                    raise StoreError(
                        f"state file {str(self.path)!r}: cannot use WAL (got {mode!r})"
                    )
                self.conn.execute("PRAGMA synchronous = FULL")
                self.conn.execute("PRAGMA foreign_keys = ON")
                self._migrate(version)
            # Another process's commit from now on empties the caches (see _check_data_version).
            self._data_version = self.conn.execute("PRAGMA data_version").fetchone()[0]
            # Touch every table's root page: a file damaged past its first page is refused
            # here, with its name, not at the first poll.
            for (table,) in self.conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'"
            ).fetchall():
                self.conn.execute(f'SELECT 1 FROM "{table}" LIMIT 1').fetchall()
        except sqlite3.DatabaseError as exc:
            raise _store_error(exc, self.path) from exc

    def _migrate(self, version: int) -> None:
        for target in range(version, SCHEMA_VERSION):
            with self._tx():
                for statement in _statements(MIGRATIONS[target]):
                    self.conn.execute(statement)
                self.conn.execute(f"PRAGMA user_version = {target + 1}")

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
            raise _store_error(exc, self.path) from exc

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
            raise _store_error(exc, self.path) from exc

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
                    self.conn.executemany(
                        _TOUCH_PRESENT,
                        [(utc(at), sid) for sid, (_, at) in deferred.items() if at is not None],
                    )
                    self.save_source_states([state for state, _ in deferred.values()])
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
            read_at = time.monotonic()
            self._present.update((k, (v, read_at)) for k, v in self._staged_present.items())
            self._staged_states.clear()
            self._staged_present.clear()

    def _check_data_version(self) -> None:
        version = self.conn.execute("PRAGMA data_version").fetchone()[0]
        if self._data_version is not None and version != self._data_version:
            self._states.clear()  # another process wrote: read the state afresh
            self._present.clear()
        self._data_version = version

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

    def cached_state(self, source_id: str) -> SourceState | None:
        """The source's state if this process knows it, without touching the database."""
        return self._states.get(source_id)

    def present_keys(self, source_id: str) -> tuple[frozenset[str], float] | None:
        """The keys of the lines on the page at the source's last recorded poll, if known, and
        when (``time.monotonic()``) a read of the whole page last showed exactly them."""
        return self._present.get(source_id)

    def whole_page_read(self, source_id: str, keys: frozenset[str]) -> None:
        """A read of the whole page showed ``keys`` again, as recorded. Event loop only."""
        known = self._present.get(source_id)
        if known is not None and known[0] == keys:
            self._present[source_id] = (keys, time.monotonic())

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

    # -- items ---------------------------------------------------------------------------

    def detection_inputs(
        self, source_id: str, keys: Sequence[str], *, gone_after: datetime
    ) -> DetectionInputs:
        """The latest occurrence of each page key, the keys shown last time, and the lines that
        left since ``gone_after``. Every query uses an index bounded by the page or the window."""
        known: dict[str, KnownItem] = {}
        for chunk in _chunks(list(keys), 500):
            marks = ",".join("?" * len(chunk))
            rows = self.conn.execute(
                f"SELECT * FROM items WHERE source = ? AND key IN ({marks}) ORDER BY id",
                (source_id, *chunk),
            )
            for row in rows:
                known[row["key"]] = _known(row)  # ORDER BY id: the latest occurrence wins
        page = set(keys)
        present: set[str] = set()
        # Lines shown last time and missing now have just left: they are edit candidates too.
        leaving: list[KnownItem] = []
        for row in self.conn.execute(
            "SELECT * FROM items WHERE source = ? AND gone_since IS NULL", (source_id,)
        ):
            present.add(row["key"])
            if row["key"] not in page:
                leaving.append(_known(row))
        gone = leaving + [
            _known(r)
            for r in self.conn.execute(
                "SELECT * FROM items WHERE source = ? AND gone_since IS NOT NULL "
                "AND gone_since >= ? ORDER BY gone_since DESC LIMIT 200",
                (source_id, utc(gone_after)),
            )
        ]
        return DetectionInputs(known=known, present=present, recently_gone=gone)

    def record_detection(
        self, source_id: str, detection: Detection, *, now: datetime
    ) -> list[Recorded]:
        """Apply a detection: move last_seen, mark gone lines, insert new occurrences."""
        stamp = utc(now)
        self._staged_present[source_id] = frozenset(detection.page_keys)
        if detection.seen:
            for chunk in _chunks(list(detection.seen), 500):
                marks = ",".join("?" * len(chunk))
                self.conn.execute(
                    "UPDATE items SET last_seen = ?, gone_since = NULL WHERE id IN ("
                    f"SELECT max(id) FROM items WHERE source = ? AND key IN ({marks}) "
                    "GROUP BY key)",
                    (stamp, source_id, *chunk),
                )
        if detection.gone:
            for chunk in _chunks(list(detection.gone), 500):
                marks = ",".join("?" * len(chunk))
                self.conn.execute(
                    f"UPDATE items SET gone_since = ? WHERE source = ? "
                    f"AND gone_since IS NULL AND key IN ({marks})",
                    (stamp, source_id, *chunk),
                )
        # A line back after a long absence gets a new row; its earlier occurrence stays closed.
        # One statement for all the new rows, their ids given as SQLite would give them (this
        # transaction holds the write lock): each statement is a trip through the GIL, which
        # the event loop's thread wants too.
        out: list[Recorded] = []
        if not detection.new:
            return out
        (next_id,) = self.conn.execute("SELECT coalesce(max(id), 0) + 1 FROM items").fetchone()
        # 100 rows of 9 values stay under the 999 variables an SQLite before 3.32 allows.
        for chunk in _chunks(list(detection.new), 100):
            rows: list[object] = []
            for item in chunk:
                kind = ItemKind.BASELINE if detection.baseline else item.kind
                update_of = None if item.update_of is None else item.update_of.id
                rows += (next_id, source_id, item.key, item.text, item.link, kind.value)
                rows += (update_of, stamp, stamp)
                out.append(Recorded(id=next_id, item=item, first_seen=now))
                next_id += 1
            self.conn.execute(
                "INSERT INTO items (id, source, key, text, link, kind, update_of, first_seen, "
                "last_seen) VALUES " + ",".join(["(?, ?, ?, ?, ?, ?, ?, ?, ?)"] * len(chunk)),
                rows,
            )
        return out

    def touch_present(self, source_id: str, *, now: datetime) -> None:
        """The page did not change (304 or same body): what was on it is still there."""
        self.conn.execute(_TOUCH_PRESENT, (utc(now), source_id))

    def history(
        self,
        *,
        sources: Sequence[str] = (),
        since: datetime | None = None,
        until: datetime | None = None,
        grep: re.Pattern[str] | None = None,
        limit: int | None = None,
        newest_first: bool = False,
        before_id: int | None = None,
        include_baseline: bool = True,
    ) -> Iterator[RecordedItem]:
        """Recorded items in first-seen order (or newest first), filtered; ``before_id`` pages
        back through a newest-first listing."""
        sql, args = history_query(
            sources=sources,
            since=since,
            until=until,
            newest_first=newest_first,
            before_id=before_id,
            include_baseline=include_baseline,
        )
        if limit is not None and limit <= 0:
            return
        count = 0
        for row in self.conn.execute(sql, args):
            if grep is not None and not grep.search(row["text"]):
                continue
            yield recorded_item(row)
            count += 1
            if limit is not None and count >= limit:
                return

    def timeline(self, *, since: datetime) -> list[tuple[str, str, int]]:
        """(source, hour "YYYY-MM-DDTHH", count) of items first seen since ``since``, baselines
        excluded: what broke, hour by hour."""
        return timeline(self.conn, since=since)

    def integrity_check(self) -> str:
        return str(self.conn.execute("PRAGMA integrity_check").fetchone()[0])


def history_query(
    *,
    sources: Sequence[str] = (),
    since: datetime | None = None,
    until: datetime | None = None,
    newest_first: bool = False,
    before_id: int | None = None,
    include_baseline: bool = True,
) -> tuple[str, list[object]]:
    """The SQL of a history listing and its arguments (rows for :func:`recorded_item`)."""
    where: list[str] = []
    args: list[object] = []
    if before_id is not None:
        where.append("i.id < ?")
        args.append(before_id)
    if not include_baseline:
        where.append("i.kind != 'baseline'")
    if sources:
        where.append(f"i.source IN ({','.join('?' * len(sources))})")
        args.extend(sources)
    if since is not None:
        where.append("i.first_seen >= ?")
        args.append(utc(since))
    if until is not None:
        where.append("i.first_seen < ?")
        args.append(utc(until))
    sql = (
        "SELECT i.*, u.text AS update_of_text FROM items i "
        "LEFT JOIN items u ON u.id = i.update_of"
        + (f" WHERE {' AND '.join(where)}" if where else "")
        + (
            " ORDER BY i.first_seen DESC, i.id DESC"
            if newest_first
            else " ORDER BY i.first_seen ASC, i.id ASC"
        )
    )
    return sql, args


def recorded_item(row: sqlite3.Row) -> RecordedItem:
    return RecordedItem(
        id=row["id"],
        source_id=row["source"],
        text=row["text"],
        link=row["link"],
        first_seen=parse_utc(row["first_seen"]),
        last_seen=parse_utc(row["last_seen"]),
        kind=ItemKind(row["kind"]),
        update_of_text=row["update_of_text"],
        first_delivered=_opt_utc(row["first_delivered"]),
    )


def timeline(conn: sqlite3.Connection, *, since: datetime) -> list[tuple[str, str, int]]:
    """(source, hour "YYYY-MM-DDTHH", count) of items first seen since ``since``, baselines
    excluded: what broke, hour by hour."""
    rows = conn.execute(
        "SELECT source, substr(first_seen, 1, 13) AS hour, count(*) FROM items "
        "WHERE first_seen >= ? AND kind != 'baseline' GROUP BY source, hour",
        (utc(since),),
    )
    return [(r[0], r[1], int(r[2])) for r in rows]


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
_TOUCH_PRESENT = "UPDATE items SET last_seen = ? WHERE source = ? AND gone_since IS NULL"


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


def _settle(future: asyncio.Future[Any], ok: bool, value: Any) -> None:
    if future.done():  # the caller was cancelled; its job ran all the same
        return
    if ok:
        future.set_result(value)
    else:
        future.set_exception(value)


def _connect(target: str, file: Path, *, uri: bool = False) -> sqlite3.Connection:
    try:
        conn = sqlite3.connect(
            target, uri=uri, isolation_level=None, check_same_thread=False, timeout=5.0
        )
    except sqlite3.Error as exc:
        raise _store_error(exc, file) from exc
    conn.row_factory = sqlite3.Row
    return conn


def _check_header(file: Path) -> None:
    """Refuse, before SQLite touches it, a file that is not a SQLite database (S3)."""
    try:
        with file.open("rb") as fh:
            head = fh.read(16)
    except FileNotFoundError:
        if file.is_symlink():
            raise _dangling(file) from None
        return
    except IsADirectoryError:
        raise StoreError(f"state path {str(file)!r} is a directory; name a file") from None
    except OSError as exc:
        raise StoreError(f"cannot read state file {str(file)!r}: {exc.strerror}") from exc
    if head and head != _SQLITE_MAGIC:
        raise StoreError(
            f"state file {str(file)!r} is not a SQLite database; ticker will not overwrite it "
            "(move it away, or point [service] state at another file)"
        )


def state_path_problem(file: Path) -> str | None:
    """Why ``ticker run`` could not open or create the state file at ``file``, or None.

    The same words :meth:`SqliteStore.open` refuses with; reads only, creates nothing.
    """
    if (problem := _path_problem(file)) is not None:
        return problem
    try:
        _check_header(file)
    except StoreError as exc:
        return str(exc)
    return None


def _path_problem(file: Path) -> str | None:
    """The state's directory must exist: ticker never creates it, since a typo in the path
    would otherwise start a new, empty history (under systemd, ``StateDirectory=`` makes it).
    Writability is ``os.access`` for the user running this check: root passes it everywhere
    but on read-only or immutable files and directories."""
    directory = file.parent
    if not directory.is_dir():
        blocker = directory
        while not os.path.lexists(blocker) and blocker.parent != blocker:
            blocker = blocker.parent
        if blocker.is_symlink() and not blocker.exists():
            return str(_dangling(blocker, what="directory"))
        if os.path.lexists(blocker) and not blocker.is_dir():
            return (
                f"the state directory {str(directory)!r} cannot exist: {str(blocker)!r} is a "
                "file, not a directory (point [service] state elsewhere)"
            )
        return (
            f"the state directory {str(directory)!r} does not exist, and ticker does not create "
            "it (a mistyped path would start a new, empty history): create it "
            f"('install -d -m 700 {directory}') or correct [service] state"
        )
    if file.is_symlink() and not file.exists():
        return str(_dangling(file))
    if file.is_dir():
        return f"state path {str(file)!r} is a directory; name a file"
    who = f"the user running ticker (uid {os.getuid()})"
    if file.exists() and not os.access(file, os.R_OK | os.W_OK):
        return f"state file {str(file)!r} is not readable and writable by {who}"
    if not os.access(directory, os.W_OK | os.X_OK):
        # SQLite creates -wal and -shm beside the file, even when the file exists.
        return f"the state directory {str(directory)!r} is not writable by {who}"
    return None


def _create_private(file: Path) -> None:
    """Create the state file owner-only (0600), whatever the umask: it holds every alert and
    each source's errors. Created with O_EXCL|O_NOFOLLOW before SQLite opens it, so a symlink
    is never followed into a new file and there is no moment when the file exists with looser
    modes; SQLite gives -wal and -shm the main file's mode. An existing file keeps its mode
    (group access may be deliberate). Its directory must exist (see _path_problem)."""
    if os.path.lexists(file):
        _warn_if_world_readable(file)
        return
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(file, flags, 0o600)
    except FileExistsError:
        # Created meanwhile by another ticker (fine), or a symlink put there (O_EXCL never
        # follows one: refused when dangling, like the check before).
        if file.is_symlink() and not file.exists():
            raise _dangling(file) from None
        return
    except OSError as exc:
        raise StoreError(
            f"cannot create the state file {str(file)!r}: {exc.strerror} "
            f"(check that the directory {str(file.parent)!r} is writable)"
        ) from exc
    try:
        os.fchmod(fd, 0o600)  # exact, whatever bits the umask removed or left
    finally:
        os.close(fd)


def _dangling(link: Path, *, what: str = "file") -> StoreError:
    try:
        target = os.readlink(link)
    except OSError:
        target = "?"
    return StoreError(
        f"state {what} {str(link)!r} is a symlink to {target!r}, which does not exist; ticker "
        f"will not create a {what} through a symlink (fix or remove the symlink, or point "
        "[service] state at a real path)"
    )


def _warn_if_world_readable(file: Path) -> None:
    try:
        mode = file.stat().st_mode
    except OSError:
        return  # SQLite's open will report it
    if mode & (stat.S_IROTH | stat.S_IWOTH):
        _log.warning(
            "state_file_world_readable",
            path=str(file),
            mode=oct(stat.S_IMODE(mode)),
            hint=f"other users can read every alert in it; run 'chmod 600 {file}'",
        )


def _store_error(exc: sqlite3.Error, file: Path) -> StoreError:
    text = str(exc)
    if "malformed" in text or "not a database" in text:
        hint = "the file is corrupt; keep it for inspection and restore a backup or move it away"
    elif "readonly" in text or "unable to open" in text:
        hint = f"check that the directory {str(file.parent)!r} exists and is writable"
    elif "disk is full" in text or "full" in text:
        hint = "free some disk space; nothing uncommitted was sent"
    else:
        hint = "see the SQLite message"
    return StoreError(f"state file {str(file)!r}: {text} ({hint})")


def _statements(script: str) -> list[str]:
    """Split a migration script into statements (migrations hold no quoted semicolons)."""
    lines = [ln for ln in script.splitlines() if not ln.strip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


def _chunks(seq: list[Any], size: int) -> Iterator[list[Any]]:
    for i in range(0, len(seq), size):
        yield seq[i : i + size]


def _known(row: sqlite3.Row) -> KnownItem:
    return KnownItem(
        id=row["id"],
        key=row["key"],
        text=row["text"],
        link=row["link"],
        first_seen=parse_utc(row["first_seen"]),
        last_seen=parse_utc(row["last_seen"]),
        gone_since=_opt_utc(row["gone_since"]),
    )


def _source_state(row: sqlite3.Row) -> SourceState:
    return SourceState(
        source_id=row["id"],
        etag=row["etag"],
        last_modified=row["last_modified"],
        body_digest=row["body_digest"],
        last_success=_opt_utc(row["last_success"]),
        last_attempt=_opt_utc(row["last_attempt"]),
        consecutive_failures=row["consecutive_failures"],
        last_error=row["last_error"],
        baseline_done=bool(row["baseline_done"]),
    )
