"""Deferred "still there" writes: one commit for many polls, and nothing a crash can cost.

``SqliteStore.defer_state`` keeps a source's state (and, with ``seen_at``, its lines' last_seen)
in memory and writes it with the next transaction, a flush ``FLUSH_AFTER`` seconds later, an
explicit ``flush`` or ``close``. Every check here reads the database file through a separate,
plain ``sqlite3`` connection: what another process, or the next start after a crash, would see.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from conftest import PageServer, en_page, run_ticker, write_config
from sinks import async_wait_for

from ticker.cli.wiring import fetch_settings
from ticker.config import Config, parse_config
from ticker.fetch import AiohttpFetcher
from ticker.model import Detection, NewItem, SourceState
from ticker.normalize import item_key
from ticker.pipeline import PollOutcome, poll_source
from ticker.store import FLUSH_AFTER, SqliteStore
from ticker.store.times import utc

T0 = datetime(2026, 1, 5, 8, 0, 0, tzinfo=UTC)
LINES = [
    "Sirens sound in Metula and Kiryat Shmona",
    "Israeli media: 4 Israeli soldiers killed in the Gaza Strip",
    "Airstrike reported on the southern suburb of Beirut",
]
ADDED = "Al Mayadeen's correspondent in South Lebanon: an Israeli force breaches the fence"
PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")


@pytest.fixture(autouse=True)
def _no_proxy_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fetcher honours proxy variables; keep the tester's own away from 127.0.0.1."""
    for name in PROXY_VARS:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


# -- reading the file as another process would -----------------------------------------------


def read_rows(db: Path, sql: str, *args: object) -> list[dict[str, Any]]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute(sql, args)]
    finally:
        conn.close()


def source_row(db: Path, source_id: str) -> dict[str, Any] | None:
    rows = read_rows(db, "SELECT * FROM sources WHERE id = ?", source_id)
    return rows[0] if rows else None


#: Each line's last_seen as the file tells it: a line still on the page (gone_since NULL) was
#: seen when its source's present lines last were (sources.present_seen), if that is later.
LAST_SEEN = (
    "SELECT i.id, i.key, i.text, i.first_seen, i.gone_since, "
    "CASE WHEN i.gone_since IS NULL AND s.present_seen > i.last_seen "
    "THEN s.present_seen ELSE i.last_seen END AS last_seen "
    "FROM items i LEFT JOIN sources s ON s.id = i.source"
)


def last_seen(db: Path, source_id: str) -> dict[str, str]:
    rows = read_rows(db, LAST_SEEN + " WHERE i.source = ?", source_id)
    return {r["text"]: r["last_seen"] for r in rows}


def write_externally(db: Path, sql: str, *args: object) -> None:
    """Another process's commit: its own connection, its own transaction."""
    conn = sqlite3.connect(db, timeout=5)
    try:
        with conn:
            conn.execute(sql, args)
    finally:
        conn.close()


def stamp(row: dict[str, Any] | None, column: str = "last_success") -> datetime | None:
    if row is None or row[column] is None:
        return None
    return datetime.fromisoformat(str(row[column]).replace("Z", "+00:00"))


# -- the store on its own ----------------------------------------------------------------------


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "state.db"


@pytest.fixture
def store(db: Path) -> Iterator[SqliteStore]:
    s = SqliteStore.open(db)
    yield s
    s.close()


def state(source_id: str = "en", *, at: datetime = T0, **fields: Any) -> SourceState:
    values: dict[str, Any] = {
        "etag": '"v1"',
        "body_digest": "b" * 64,
        "last_success": at,
        "last_attempt": at,
        "baseline_done": True,
    }
    values.update(fields)
    return SourceState(source_id=source_id, **values)


def seed(store: SqliteStore, source_id: str, texts: list[str], *, now: datetime) -> None:
    """A baseline of ``texts`` and a committed state, as a first poll leaves them."""
    detection = Detection(
        baseline=True,
        new=tuple(NewItem(key=item_key(t), text=t, link=None) for t in texts),
        page_keys=tuple(item_key(t) for t in texts),
    )
    with store.transaction():
        store.record_detection(source_id, detection, now=now)
        store.save_source_state(state(source_id, at=now))


def transaction(store: SqliteStore) -> None:
    with store.transaction():
        pass


async def test_defer_state_updates_the_cache_at_once_and_the_file_later(
    store: SqliteStore, db: Path
) -> None:
    seed(store, "en", LINES, now=T0)
    later = state(at=T0 + timedelta(seconds=30), etag='"v2"')
    store.defer_state(later, seen_at=T0 + timedelta(seconds=30))
    assert store.cached_state("en") == later
    row = source_row(db, "en")
    assert row is not None
    assert stamp(row) == T0
    assert row["etag"] == '"v1"'
    assert set(last_seen(db, "en").values()) == {utc(T0)}


async def test_the_next_transaction_writes_the_deferred_state_first(
    store: SqliteStore, db: Path
) -> None:
    seed(store, "en", LINES, now=T0)
    seed(store, "ar", ["سطر أول"], now=T0)
    t1 = T0 + timedelta(seconds=30)
    store.defer_state(state(at=t1, etag='"v2"', body_digest="x" * 64), seen_at=t1)
    await store.run(transaction, store)
    row = source_row(db, "en")
    assert row is not None
    assert stamp(row) == t1
    assert (row["etag"], row["body_digest"]) == ('"v2"', "x" * 64)
    assert set(last_seen(db, "en").values()) == {utc(t1)}
    assert set(last_seen(db, "ar").values()) == {utc(T0)}  # another source's lines stay put


async def test_seen_at_moves_only_the_lines_still_on_the_page(store: SqliteStore, db: Path) -> None:
    seed(store, "en", LINES, now=T0)
    t1, t2 = T0 + timedelta(seconds=10), T0 + timedelta(seconds=20)
    gone = Detection(baseline=False, gone=(item_key(LINES[0]),), seen=(item_key(LINES[1]),))
    with store.transaction():
        store.record_detection("en", gone, now=t1)
    store.defer_state(state(at=t2), seen_at=t2)
    await store.run(store.flush)
    seen = last_seen(db, "en")
    assert seen[LINES[0]] == utc(T0)  # gone at t1: not "still there" at t2
    assert seen[LINES[1]] == utc(t2)
    assert seen[LINES[2]] == utc(t2)
    gone_since = read_rows(db, "SELECT gone_since FROM items WHERE text = ?", LINES[0])
    assert gone_since == [{"gone_since": utc(t1)}]


async def test_a_line_that_leaves_keeps_the_last_time_the_page_showed_it(
    store: SqliteStore, db: Path
) -> None:
    seed(store, "en", LINES, now=T0)
    t1, t2, t3 = (T0 + timedelta(seconds=s) for s in (10, 20, 30))
    store.defer_state(state(at=t1), seen_at=t1)  # a quiet poll: all still there at t1
    await store.run(store.flush)
    keys = [item_key(line) for line in LINES]
    with store.transaction():
        store.record_detection(
            "en", Detection(baseline=False, gone=(keys[0],), seen=tuple(keys[1:])), now=t2
        )
    seen = last_seen(db, "en")
    assert seen[LINES[0]] == utc(t1)  # the last poll that showed it, not the one that missed it
    assert seen[LINES[1]] == seen[LINES[2]] == utc(t2)
    with store.transaction():  # back within the re-alert window: the same row, seen again
        back = Detection(baseline=False, seen=tuple(keys), back=(keys[0],))
        store.record_detection("en", back, now=t3)
    assert {i.text: i.last_seen for i in store.history()} == dict.fromkeys(LINES, t3)
    rows = read_rows(db, "SELECT gone_since FROM items WHERE source = 'en'")
    assert rows == [{"gone_since": None}] * len(LINES)


async def test_a_quiet_flush_writes_the_source_row_and_no_line(
    store: SqliteStore, db: Path
) -> None:
    """What stays on the page moves one value per source: a flush used to rewrite each
    present line's row, most of the items table into the WAL every second at 1,000 sources."""
    seed(store, "en", LINES, now=T0)
    before = read_rows(db, "SELECT * FROM items ORDER BY id")
    t1 = T0 + timedelta(seconds=10)
    store.defer_state(state(at=t1), seen_at=t1)
    await store.run(store.flush)
    assert read_rows(db, "SELECT * FROM items ORDER BY id") == before
    assert set(last_seen(db, "en").values()) == {utc(t1)}
    assert {i.last_seen for i in store.history()} == {t1}


async def test_a_deferred_failure_moves_no_last_seen(store: SqliteStore, db: Path) -> None:
    seed(store, "en", LINES, now=T0)
    t1 = T0 + timedelta(seconds=30)
    failed = state(at=T0, last_attempt=t1, consecutive_failures=1, last_error="HTTP 503")
    store.defer_state(failed)
    await store.run(store.flush)
    row = source_row(db, "en")
    assert row is not None
    assert (row["consecutive_failures"], row["last_error"]) == (1, "HTTP 503")
    assert stamp(row, "last_attempt") == t1
    assert set(last_seen(db, "en").values()) == {utc(T0)}


async def test_a_flush_about_a_second_later_writes_the_deferred_state(
    store: SqliteStore, db: Path
) -> None:
    seed(store, "en", LINES, now=T0)
    t1 = T0 + timedelta(seconds=30)
    started = time.monotonic()
    store.defer_state(state(at=t1), seen_at=t1)
    await asyncio.sleep(FLUSH_AFTER / 2)
    assert stamp(source_row(db, "en")) == T0  # not yet
    assert await async_wait_for(lambda: stamp(source_row(db, "en")) == t1, within=FLUSH_AFTER + 5)
    assert time.monotonic() - started >= FLUSH_AFTER * 0.9
    assert set(last_seen(db, "en").values()) == {utc(t1)}

    # The timer is one-shot: a later deferral schedules a flush of its own.
    t2 = t1 + timedelta(seconds=30)
    store.defer_state(state(at=t2), seen_at=t2)
    assert await async_wait_for(lambda: stamp(source_row(db, "en")) == t2, within=FLUSH_AFTER + 5)


async def test_many_deferrals_share_one_flush_and_the_latest_state_wins(
    store: SqliteStore, db: Path
) -> None:
    for n in range(5):
        seed(store, f"s{n}", [f"line of s{n}"], now=T0)
    for second in range(1, 4):
        for n in range(5):
            at = T0 + timedelta(seconds=second)
            store.defer_state(state(f"s{n}", at=at, etag=f'"{second}"'), seen_at=at)
    await store.run(store.flush)
    for n in range(5):
        row = source_row(db, f"s{n}")
        assert row is not None
        assert (stamp(row), row["etag"]) == (T0 + timedelta(seconds=3), '"3"')
    await store.run(store.flush)  # nothing left to write: no error, nothing changes
    assert stamp(source_row(db, "s0")) == T0 + timedelta(seconds=3)


async def test_flush_in_the_store_thread_writes_the_deferred_state_now(
    store: SqliteStore, db: Path
) -> None:
    t1 = T0 + timedelta(seconds=30)
    store.defer_state(state(at=t1))
    assert source_row(db, "en") is None
    await store.run(store.flush)
    assert stamp(source_row(db, "en")) == t1


async def test_close_writes_the_deferred_state(db: Path) -> None:
    s = SqliteStore.open(db)
    seed(s, "en", LINES, now=T0)
    t1 = T0 + timedelta(seconds=30)
    s.defer_state(state(at=t1), seen_at=t1)
    s.close()
    assert stamp(source_row(db, "en")) == t1
    assert set(last_seen(db, "en").values()) == {utc(t1)}
    reopened = SqliteStore.open(db)
    try:
        assert reopened.source_state("en") == state(at=t1)
    finally:
        reopened.close()


class Boom(Exception):
    pass


async def test_a_failed_transaction_keeps_the_deferred_writes_for_the_next(
    store: SqliteStore, db: Path
) -> None:
    seed(store, "en", LINES, now=T0)
    t1 = T0 + timedelta(seconds=30)
    deferred = state(at=t1, etag='"deferred"')
    store.defer_state(deferred, seen_at=t1)

    def failing() -> None:
        with store.transaction():
            store.save_source_state(state("other", etag='"rolled back"'))
            store.save_source_state(state(at=t1, etag='"rolled back"'))
            raise Boom

    with pytest.raises(Boom):
        await store.run(failing)
    assert stamp(source_row(db, "en")) == T0
    assert source_row(db, "other") is None
    assert store.cached_state("en") == deferred
    assert store.cached_state("other") is None

    await store.run(transaction, store)
    row = source_row(db, "en")
    assert row is not None
    assert (stamp(row), row["etag"]) == (t1, '"deferred"')
    assert set(last_seen(db, "en").values()) == {utc(t1)}
    assert store.cached_state("en") == deferred


async def test_a_deferral_made_after_a_failed_transaction_wins_over_the_kept_one(
    store: SqliteStore, db: Path
) -> None:
    store.defer_state(state(at=T0, etag='"old"'))

    def failing() -> None:
        with store.transaction():
            raise Boom

    with pytest.raises(Boom):
        await store.run(failing)
    store.defer_state(state(at=T0 + timedelta(seconds=1), etag='"new"'))
    await store.run(store.flush)
    row = source_row(db, "en")
    assert row is not None
    assert row["etag"] == '"new"'


def test_states_saved_in_a_committed_transaction_reach_the_cache(store: SqliteStore) -> None:
    committed = state(at=T0, etag='"c"')
    with store.transaction():
        store.save_source_state(committed)
    assert store.cached_state("en") == committed


def test_another_writer_makes_the_store_drop_its_cache(store: SqliteStore, db: Path) -> None:
    seed(store, "en", LINES, now=T0)
    assert store.cached_state("en") == state(at=T0)
    write_externally(db, "UPDATE sources SET etag = '\"theirs\"' WHERE id = 'en'")
    transaction(store)
    assert store.cached_state("en") is None
    assert store.source_state("en").etag == '"theirs"'
    # Our own commits are not another writer's: the cache is kept from then on.
    transaction(store)
    assert store.cached_state("en") is not None


def test_a_store_opened_on_an_existing_file_notices_another_writer(db: Path) -> None:
    """The state as this process read it right after opening, then another process's commit
    before this process's first transaction: that transaction must drop the stale cache."""
    first = SqliteStore.open(db)
    seed(first, "en", LINES, now=T0)
    first.close()

    store = SqliteStore.open(db)
    try:
        assert store.source_state("en").etag == '"v1"'
        write_externally(db, "UPDATE sources SET etag = '\"theirs\"' WHERE id = 'en'")
        transaction(store)
        assert store.source_state("en").etag == '"theirs"', (
            "a commit by another process between open and the first transaction went unnoticed"
        )
    finally:
        store.close()


# -- the pipeline ------------------------------------------------------------------------------


def config_for(tmp_path: Path, url: str) -> Config:
    text = (
        "[service]\n"
        f"state = {json.dumps(str(tmp_path / 'state.db'))}\n"
        "[[sources]]\n"
        'id = "en"\n'
        f"url = {json.dumps(url)}\n"
        'items = "css:.ticker__item"\n'
        'canary = "css:.ticker"\n'
    )
    return parse_config(text, path=tmp_path / "ticker.toml", env={})


class Clock:
    """The pipeline's ``now``, advanced by the test."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def tick(self, seconds: float = 30) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


class Rig:
    """poll_source as the service runs it: one fetcher, one store, the test's clock."""

    def __init__(self, config: Config, fetcher: AiohttpFetcher, store: SqliteStore) -> None:
        self.source = config.sources[0]
        self.fetcher = fetcher
        self.store = store
        self.db = Path(config.service.state)
        self.clock = Clock()

    async def poll(self) -> PollOutcome:
        outcome = await poll_source(
            self.source, fetcher=self.fetcher, store=self.store, clock=self.clock
        )
        assert outcome.error is None, outcome.error
        return outcome

    def items(self) -> list[dict[str, Any]]:
        return read_rows(self.db, LAST_SEEN + " WHERE i.source = 'en' ORDER BY i.id")


@pytest.fixture
async def rig(page_server: PageServer, tmp_path: Path) -> AsyncIterator[Rig]:
    config = config_for(tmp_path, page_server.url("/en"))
    store = SqliteStore.open(config.service.state)
    try:
        async with AiohttpFetcher(fetch_settings(config)) as fetcher:
            yield Rig(config, fetcher, store)
    finally:
        store.close()


async def test_an_unchanged_page_moves_last_success_only_at_the_flush(
    rig: Rig, page_server: PageServer
) -> None:
    page_server.set("/en", en_page(LINES))
    first = await rig.poll()
    assert (first.status, first.baseline, first.items) == ("ok", True, len(LINES))
    assert stamp(source_row(rig.db, "en")) == T0

    t1 = rig.clock.tick()
    second = await rig.poll()
    assert second.status == "unchanged"
    assert stamp(source_row(rig.db, "en")) == T0  # deferred: not written yet
    assert rig.store.cached_state("en").last_success == t1  # type: ignore[union-attr]
    await rig.store.run(rig.store.flush)
    assert stamp(source_row(rig.db, "en")) == t1
    assert {r["last_seen"] for r in rig.items()} == {utc(t1)}
    assert page_server.hits("/en") == 2


async def test_a_304_is_not_modified_and_written_at_the_flush(
    rig: Rig, page_server: PageServer
) -> None:
    body = en_page(LINES).encode()

    async def with_etag(request: web.Request) -> web.Response:
        if request.headers.get("If-None-Match") == '"p1"':
            return web.Response(status=304, headers={"ETag": '"p1"'})
        return web.Response(
            body=body, content_type="text/html", charset="utf-8", headers={"ETag": '"p1"'}
        )

    page_server.handlers["/en"] = with_etag
    assert (await rig.poll()).status == "ok"
    row = source_row(rig.db, "en")
    assert row is not None
    assert row["etag"] == '"p1"'
    t1 = rig.clock.tick()
    assert (await rig.poll()).status == "not_modified"
    assert page_server.requests[-1].headers.get("If-None-Match") == '"p1"'
    assert stamp(source_row(rig.db, "en")) == T0
    await rig.store.run(rig.store.flush)
    assert stamp(source_row(rig.db, "en")) == t1
    assert {r["last_seen"] for r in rig.items()} == {utc(t1)}


async def test_a_body_changed_outside_the_ticker_is_ok_with_no_new_items(
    rig: Rig, page_server: PageServer
) -> None:
    page = en_page(LINES)
    page_server.set("/en", page)
    await rig.poll()
    for nonce in range(3):
        page_server.set("/en", page.replace("</body>", f"<!-- nonce {nonce} --></body>"))
        t = rig.clock.tick()
        outcome = await rig.poll()
        assert (outcome.status, outcome.items, outcome.new) == ("ok", len(LINES), ())
        assert outcome.canary_found is True
        await rig.store.run(rig.store.flush)
        assert stamp(source_row(rig.db, "en")) == t
    assert [r["text"] for r in rig.items()] == LINES
    assert all(r["gone_since"] is None for r in rig.items())


async def test_one_new_line_is_recorded_at_once(rig: Rig, page_server: PageServer) -> None:
    page_server.set("/en", en_page(LINES))
    await rig.poll()
    rig.clock.tick()
    await rig.poll()  # unchanged: a deferred write is pending
    page_server.set("/en", en_page([ADDED, *LINES]))
    t2 = rig.clock.tick()
    outcome = await rig.poll()
    assert outcome.status == "ok"
    assert [r.item.text for r in outcome.new] == [ADDED]
    # No flush: the new line's transaction is committed with the poll.
    rows = rig.items()
    assert [r["text"] for r in rows] == [*LINES, ADDED]
    assert rows[-1]["first_seen"] == utc(t2)
    assert outcome.new[0].id == rows[-1]["id"]
    assert stamp(source_row(rig.db, "en")) == t2
    rig.clock.tick()
    again = await rig.poll()
    assert (again.status, again.new) == ("unchanged", ())


# -- ticker as a process: once, and run killed with SIGKILL ----------------------------------


def cli_config(tmp_path: Path, url: str, interval: str = "1s") -> Path:
    return write_config(
        tmp_path,
        '[service]\nstate = "state.db"\njitter = 0\n'
        f'\n[[sources]]\nid = "en"\nurl = "{url}"\ninterval = "{interval}"\n'
        'items = "css:.ticker__item"\ncanary = "css:.ticker"\n',
    )


def poll_events(stderr: str) -> list[dict[str, Any]]:
    events = []
    for line in stderr.splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if isinstance(event, dict) and event.get("event") == "poll":
            events.append(event)
    return events


def event_time(event: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(str(event["timestamp"]).replace("Z", "+00:00"))


async def test_once_twice_leaves_the_second_runs_last_success(
    page_server: PageServer, tmp_path: Path
) -> None:
    page_server.set("/en", en_page(LINES))
    cfg = cli_config(tmp_path, page_server.url("/en"))
    db = tmp_path / "state.db"
    first = await asyncio.to_thread(run_ticker, "once", "-c", str(cfg))
    assert first.returncode == 0, first.stderr
    after_first = stamp(source_row(db, "en"))
    assert after_first is not None

    before = datetime.now(UTC) - timedelta(seconds=1)
    second = await asyncio.to_thread(run_ticker, "once", "-c", str(cfg))
    after = datetime.now(UTC) + timedelta(seconds=1)
    assert second.returncode == 0, second.stderr
    assert second.stdout == ""
    assert [e["status"] for e in poll_events(second.stderr)] == ["unchanged"]
    row = source_row(db, "en")
    assert row is not None
    last = stamp(row)
    assert last is not None
    assert last > after_first
    assert before <= last <= after
    assert {r["last_seen"] for r in read_rows(db, LAST_SEEN)} == {row["last_success"]}


def start_run(cfg: Path, err_path: Path) -> subprocess.Popen[bytes]:
    """``ticker run`` as a child process, its JSON logs in ``err_path``."""
    env = {k: v for k, v in os.environ.items() if k.upper() not in PROXY_VARS}
    with err_path.open("wb") as err:
        return subprocess.Popen(
            # DEBUG: every poll a ``poll`` event, which the test counts.
            [
                sys.executable,
                "-m",
                "ticker",
                "run",
                "-c",
                str(cfg),
                "--log-format",
                "json",
                "--log-level",
                "debug",
            ],
            stdout=subprocess.DEVNULL,
            stderr=err,
            env=env,
            cwd=cfg.parent,
        )


async def test_run_killed_with_sigkill_loses_about_a_second_and_no_items(
    page_server: PageServer, tmp_path: Path
) -> None:
    page_server.set("/en", en_page(LINES))
    cfg = cli_config(tmp_path, page_server.url("/en"))
    db = tmp_path / "state.db"
    err_path = tmp_path / "run.err"
    proc = await asyncio.to_thread(start_run, cfg, err_path)
    try:

        def unchanged_polls() -> int:
            text = err_path.read_text("utf-8", errors="replace")
            return sum(1 for e in poll_events(text) if e.get("status") == "unchanged")

        assert await async_wait_for(lambda: unchanged_polls() >= 4, within=20, interval=0.05), (
            err_path.read_text("utf-8", errors="replace")
        )
    finally:
        proc.send_signal(signal.SIGKILL)
        await asyncio.to_thread(proc.wait, 10)
    assert proc.returncode == -signal.SIGKILL

    events = poll_events(err_path.read_text("utf-8", errors="replace"))
    assert events[0]["status"] == "ok"
    assert all(e["status"] == "unchanged" for e in events[1:])
    last_poll = event_time(events[-1])
    row = source_row(db, "en")
    assert row is not None
    written = stamp(row)
    assert written is not None
    # Only the writes deferred since the last flush are lost: about FLUSH_AFTER, plus a poll
    # (and slack for a loaded machine delaying the flush).
    assert last_poll - written <= timedelta(seconds=3 * FLUSH_AFTER + 0.5), (
        f"last poll logged at {last_poll}, last_success written {written}"
    )
    assert written > event_time(events[0])  # a deferred write did reach the file

    count = len(read_rows(db, "SELECT id FROM items"))
    assert count == len(LINES)
    after = await asyncio.to_thread(run_ticker, "once", "-c", str(cfg), cwd=tmp_path)
    assert after.returncode == 0, after.stderr
    assert after.stdout == ""
    rows = read_rows(db, "SELECT key, text, gone_since FROM items ORDER BY id")
    assert [r["text"] for r in rows] == LINES
    assert len({r["key"] for r in rows}) == len(rows)
    assert all(r["gone_since"] is None for r in rows)
    integrity = read_rows(db, "PRAGMA integrity_check")
    assert next(iter(integrity[0].values())) == "ok"
