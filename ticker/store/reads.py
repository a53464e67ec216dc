"""Reads for the HTTP endpoint, kept away from the writer.

Anyone who can reach the endpoint chooses what these reads do, so they never run on the store's
writer thread (a slow read there delays every poll's commit and every delivery) nor on the event
loop: they run on a read-only connection of their own, in a thread of their own, each under a
time budget, with a bounded number waiting. A search scans at most ``SCAN_LIMIT`` rows and says
where it stopped, so a search over a year of lines costs what one over a day does.
"""

from __future__ import annotations

import asyncio
import functools
import sqlite3
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Concatenate, ParamSpec, TypeVar

from ticker.errors import StoreError
from ticker.model import RecordedItem
from ticker.store.items import history_query, recorded_item
from ticker.store.times import opt_utc

P = ParamSpec("P")
R = TypeVar("R")

READ_BUDGET = 1.0  # seconds of one read before it is interrupted
MAX_WAITING = 8  # reads queued behind the running one before new ones are refused
SCAN_LIMIT = 20_000  # rows one search looks at
MAX_QUERY = 200  # characters of a search


class ReadRefused(StoreError):
    """The endpoint's read was refused (too many waiting) or cut (over its time budget)."""

    def __init__(self, message: str, *, retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class Page:
    items: list[RecordedItem]
    next_before: int | None  # the id to page back from, None when nothing is left


class EndpointReads:
    """A read-only connection to the state file, in its own thread, for the HTTP endpoint."""

    def __init__(
        self, path: Path, *, budget: float = READ_BUDGET, max_waiting: int = MAX_WAITING
    ) -> None:
        self.path = path
        self.budget = budget
        self.max_waiting = max_waiting
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ticker-reads")
        self._conn: sqlite3.Connection | None = None
        self._deadline = 0.0
        self._pending = 0

    async def run(
        self,
        fn: Callable[Concatenate[sqlite3.Connection, P], R],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> R:
        """Run ``fn(conn, ...)`` on the read connection within the time budget.

        Raises ReadRefused when too many reads wait or this one runs over its budget, and
        StoreError for SQLite's other errors."""
        if self._pending > self.max_waiting:
            raise ReadRefused("the endpoint is busy with other reads; try again shortly")
        self._pending += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(
                self._executor, functools.partial(self._call, fn, *args, **kwargs)
            )
        finally:
            self._pending -= 1

    def _call(
        self,
        fn: Callable[Concatenate[sqlite3.Connection, P], R],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> R:
        conn = self._connection()
        self._deadline = time.monotonic() + self.budget
        try:
            return fn(conn, *args, **kwargs)
        except sqlite3.OperationalError as exc:
            if "interrupted" in str(exc):
                raise ReadRefused(
                    f"the read took longer than {self.budget:g} s; narrow it (since=, source=)"
                ) from None
            raise StoreError(f"state file {str(self.path)!r}: {exc}") from exc
        except sqlite3.Error as exc:
            raise StoreError(f"state file {str(self.path)!r}: {exc}") from exc

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            uri = f"{self.path.resolve().as_uri()}?mode=ro"
            conn = sqlite3.connect(uri, uri=True)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA query_only = 1")
            conn.execute("PRAGMA busy_timeout = 1000")
            # Every 10,000 virtual machine steps: past the deadline, the statement is stopped.
            conn.set_progress_handler(self._over_budget, 10_000)
            self._conn = conn
        return self._conn

    def _over_budget(self) -> int:
        return int(time.monotonic() > self._deadline)

    def over_budget(self) -> bool:
        """For loops in Python over rows: the same deadline as SQLite's own steps."""
        return time.monotonic() > self._deadline

    def close(self) -> None:
        def shut() -> None:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

        self._executor.submit(shut).result()
        self._executor.shutdown(wait=True)


def search_page(
    conn: sqlite3.Connection,
    reads: EndpointReads,
    *,
    sources: Sequence[str] = (),
    contains: str | None = None,
    since: datetime | None = None,
    limit: int,
    before_id: int | None = None,
    include_baseline: bool = True,
    scan_limit: int = SCAN_LIMIT,
) -> Page:
    """Newest first, at most ``limit`` items whose text holds ``contains`` (case-folded),
    looking at no more than ``scan_limit`` rows; ``next_before`` continues where it stopped."""
    sql, args = history_query(
        sources=sources,
        since=since,
        newest_first=True,
        before_id=before_id,
        include_baseline=include_baseline,
    )
    needle = None if contains is None else contains.casefold()
    items: list[RecordedItem] = []
    scanned = 0
    last_id: int | None = None
    for row in conn.execute(sql, args):
        if (
            len(items) >= limit
            or scanned >= scan_limit
            or (scanned % 1000 == 999 and reads.over_budget())
        ):
            # Something is left: page on from the last row looked at.
            return Page(items, last_id)
        scanned += 1
        last_id = row["id"]
        if needle is not None and needle not in row["text"].casefold():
            continue
        items.append(recorded_item(row))
    return Page(items, None)


def outbox_stats(conn: sqlite3.Connection) -> tuple[int, datetime | None]:
    """Pending deliveries and the creation time of the oldest."""
    count, oldest = conn.execute(
        "SELECT count(*), min(created) FROM deliveries WHERE state = 'pending'"
    ).fetchone()
    return int(count), opt_utc(oldest)
