"""Group commit: writes queued while the store's thread is busy share one commit, yet each is
all or nothing on its own, and every caller hears back only once its work is committed."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ticker.errors import StoreError
from ticker.model import SourceState
from ticker.store import SqliteStore

T0 = datetime(2026, 1, 5, 8, 0, 0, tzinfo=UTC)


def rows(path: Path) -> list[str]:
    """Source ids committed to the file, read through a connection of its own."""
    with sqlite3.connect(path) as conn:
        return [r[0] for r in conn.execute("SELECT id FROM sources ORDER BY id")]


def save(store: SqliteStore, source_id: str, *, fail: bool = False) -> str:
    with store.transaction():
        store.save_source_state(SourceState(source_id=source_id, last_success=T0))
        if fail:
            raise ValueError(f"job {source_id} gives up")
    return source_id


async def hold(store: SqliteStore, gate: threading.Event) -> asyncio.Future[bool]:
    """Occupy the store's thread until ``gate`` is set; return once it is held."""
    held = threading.Event()

    def wait() -> bool:
        held.set()
        return gate.wait(10)

    blocker = asyncio.ensure_future(store.run(wait))
    assert await asyncio.to_thread(held.wait, 10), "the store's thread never took the job"
    return blocker


async def test_queued_writes_commit_together_and_each_caller_gets_its_result(
    tmp_path: Path,
) -> None:
    path = tmp_path / "state.db"
    store = SqliteStore.open(path)
    gate = threading.Event()
    commits: list[int] = []
    store.conn.set_trace_callback(lambda sql: commits.append(1) if sql == "COMMIT" else None)
    try:
        # Hold the store's thread so that the next writes queue up behind it.
        blocker = await hold(store, gate)
        commits.clear()
        writes = [asyncio.ensure_future(store.write(save, store, f"s{i}")) for i in range(20)]
        await asyncio.sleep(0)  # one loop turn: every write has queued behind the held thread
        assert not any(w.done() for w in writes)  # nobody is answered before the commit
        gate.set()
        await blocker
        assert await asyncio.gather(*writes) == [f"s{i}" for i in range(20)]
    finally:
        store.close()
    assert len(commits) <= 2  # the first drain may take one job alone, the rest share one
    assert rows(path) == sorted(f"s{i}" for i in range(20))


async def test_a_failing_job_is_undone_alone(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    store = SqliteStore.open(path)
    gate = threading.Event()
    try:
        blocker = await hold(store, gate)
        good = asyncio.ensure_future(store.write(save, store, "good"))
        bad = asyncio.ensure_future(store.write(save, store, "bad", fail=True))
        also = asyncio.ensure_future(store.write(save, store, "also"))
        await asyncio.sleep(0)  # one loop turn: all three have queued behind the held thread
        gate.set()
        await blocker
        assert await good == "good"
        with pytest.raises(ValueError, match="gives up"):
            await bad
        assert await also == "also"
        # What the failed job staged never reaches the in-memory state either.
        assert store.cached_state("bad") is None
        assert store.cached_state("good") is not None
    finally:
        store.close()
    assert rows(path) == ["also", "good"]


async def test_a_write_to_a_closed_store_is_a_store_error(tmp_path: Path) -> None:
    store = SqliteStore.open(tmp_path / "state.db")
    store.close()
    with pytest.raises(StoreError, match="closed"):
        await store.write(save, store, "late")


async def test_writes_of_one_loop_turn_share_a_commit_with_the_store_idle(
    tmp_path: Path,
) -> None:
    """Polls read on the event loop queue their writes one after another in a turn; the drain
    starts on the next turn, so they share one commit even though the store's thread is idle
    (sent at once, the first would be committed alone, and so on: a commit per poll)."""
    path = tmp_path / "state.db"
    store = SqliteStore.open(path)
    commits: list[int] = []
    store.conn.set_trace_callback(lambda sql: commits.append(1) if sql == "COMMIT" else None)

    async def poll(i: int) -> str:
        threading.Event().wait(0.005)  # the loop busy a moment, as reading a page keeps it
        return await store.write(save, store, f"s{i}")

    try:
        # Ten polls whose responses came in together: the loop runs them in one turn.
        writes = [asyncio.ensure_future(poll(i)) for i in range(10)]
        assert await asyncio.gather(*writes) == [f"s{i}" for i in range(10)]
    finally:
        store.close()
    assert len(commits) <= 2
    assert rows(path) == sorted(f"s{i}" for i in range(10))


def test_a_write_queued_as_the_store_closes_is_committed(tmp_path: Path) -> None:
    """close() commits what was queued for a drain the loop never got to start."""
    path = tmp_path / "state.db"
    store = SqliteStore.open(path)
    loop = asyncio.new_event_loop()
    try:
        task = loop.create_task(store.write(save, store, "queued"))
        loop.call_soon(loop.stop)
        loop.run_forever()  # the task queues its write; the drain's start is still pending
        store.close()
        assert rows(path) == ["queued"]
        loop.run_until_complete(task)  # its caller hears back too
        assert task.result() == "queued"
    finally:
        loop.close()
