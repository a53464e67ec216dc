"""The SQLite state: schema, safety with files that are not ours, recording and history."""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ticker.errors import StoreError
from ticker.model import Detection, ItemKind, NewItem, SourceState
from ticker.normalize import item_key
from ticker.store import SCHEMA_VERSION, SqliteStore
from ticker.store.times import parse_utc, utc

T0 = datetime(2026, 1, 5, 8, 0, 0, tzinfo=UTC)
SQLITE_MAGIC = b"SQLite format 3\x00"


@pytest.fixture
def db(tmp_path: Path) -> Path:
    (tmp_path / "state").mkdir()  # ticker creates the state file, never its directory
    return tmp_path / "state" / "ticker.db"


@pytest.fixture
def store(db: Path) -> Iterator[SqliteStore]:
    s = SqliteStore.open(db)
    yield s
    s.close()


def new(*texts: str, link: str | None = None) -> tuple[NewItem, ...]:
    return tuple(NewItem(key=item_key(t), text=t, link=link) for t in texts)


def record(
    store: SqliteStore,
    source: str,
    texts: list[str],
    *,
    now: datetime,
    baseline: bool = False,
    seen: tuple[str, ...] = (),
    gone: tuple[str, ...] = (),
) -> None:
    lines = new(*texts)
    if baseline:  # as ticker.decide makes a baseline's lines
        lines = tuple(replace(n, kind=ItemKind.BASELINE) for n in lines)
    detection = Detection(
        baseline=baseline,
        new=lines,
        seen=tuple(item_key(t) for t in seen),
        gone=tuple(item_key(t) for t in gone),
    )
    with store.transaction():
        store.record_detection(source, detection, now=now)


# -- opening ---------------------------------------------------------------------------------


def test_open_creates_the_schema_in_wal_mode(db: Path, store: SqliteStore) -> None:
    assert db.is_file()
    assert store.conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert store.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    tables = {r[0] for r in store.conn.execute("SELECT name FROM sqlite_master")}
    assert {"sources", "items"} <= tables
    assert store.integrity_check() == "ok"


def test_open_refuses_a_missing_directory_and_creates_none(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "c" / "ticker.db"
    with pytest.raises(StoreError, match="does not exist") as info:
        SqliteStore.open(path)
    assert str(tmp_path / "a" / "b" / "c") in str(info.value)
    assert list(tmp_path.iterdir()) == []


def test_reopen_keeps_data_and_schema(db: Path) -> None:
    s = SqliteStore.open(db)
    record(s, "en", ["first line"], now=T0)
    with s.transaction():
        s.save_source_state(SourceState(source_id="en", etag='"v1"', baseline_done=True))
    s.close()

    again = SqliteStore.open(db)
    try:
        assert [i.text for i in again.history()] == ["first line"]
        assert again.source_state("en").etag == '"v1"'
        assert again.source_state("en").baseline_done
        assert again.conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    finally:
        again.close()


def test_a_file_that_is_not_sqlite_is_refused_and_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "ticker.db"
    path.write_text("hello")
    with pytest.raises(StoreError, match="is not a SQLite database") as info:
        SqliteStore.open(path)
    assert str(path) in str(info.value)
    assert path.read_bytes() == b"hello"
    assert sorted(os.listdir(tmp_path)) == ["ticker.db"]  # no -wal, no -journal


def test_a_non_sqlite_file_is_refused_even_read_only(tmp_path: Path) -> None:
    path = tmp_path / "ticker.db"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)))
    before = path.read_bytes()
    with pytest.raises(StoreError, match="not a SQLite database"):
        SqliteStore.open(path, readonly=True)
    assert path.read_bytes() == before


@pytest.mark.parametrize(
    "tail",
    [b"garbage" * 600, bytes(range(256)) * 16, b"\x00" * 4080],
    ids=["text", "bytes", "zeros"],
)
def test_a_corrupt_sqlite_file_is_refused_and_left_untouched(tmp_path: Path, tail: bytes) -> None:
    path = tmp_path / "ticker.db"
    path.write_bytes(SQLITE_MAGIC + tail)
    before = path.read_bytes()
    with pytest.raises(StoreError) as info:
        SqliteStore.open(path)
    assert str(path) in str(info.value)
    assert path.read_bytes() == before


def test_a_database_with_corrupt_pages_is_refused_and_left_untouched(db: Path) -> None:
    s = SqliteStore.open(db)
    s.close()
    data = bytearray(db.read_bytes())
    data[100:] = b"\xff" * (len(data) - 100)  # keep the 100-byte header, ruin the schema page
    db.write_bytes(bytes(data))
    with pytest.raises(StoreError, match="corrupt") as info:
        SqliteStore.open(db)
    assert str(db) in str(info.value)
    assert db.read_bytes() == bytes(data)


def test_a_database_from_a_newer_ticker_is_refused(db: Path) -> None:
    conn = sqlite3.connect(db)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    before = db.read_bytes()
    with pytest.raises(StoreError, match="newer than this ticker"):
        SqliteStore.open(db)
    assert db.read_bytes() == before


def test_a_state_path_whose_parent_is_a_file_is_a_store_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    with pytest.raises(StoreError) as info:
        SqliteStore.open(blocker / "ticker.db")
    assert "not-a-dir" in str(info.value)
    assert blocker.read_text() == "x"


def test_a_state_path_that_is_a_directory_is_a_store_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="is a directory"):
        SqliteStore.open(tmp_path)


# Run as root (as CI is), the open runs in a child that keeps uid 0 but loses the capabilities
# that let root ignore file permissions, so the directory is read-only to it as to any user. (A
# child under another uid cannot start here: the interpreter lives under root's 0700 home.)
_OPEN_IN_A_CHILD = """
import sys
from pathlib import Path
from {store} import SqliteStore
from {errors} import StoreError
try:
    SqliteStore.open(Path(sys.argv[1])).close()
except StoreError as exc:
    print(exc)
else:
    sys.exit("the store opened in a directory it cannot write")
"""
WITHOUT_DAC_OVERRIDE = [
    "setpriv",
    "--bounding-set=-dac_override,-dac_read_search",
    "--inh-caps=-all",
    "--",
]


def open_error_in_a_read_only_directory(db: Path) -> str:
    """The StoreError message of opening ``db`` when its directory cannot be written."""
    if os.geteuid() != 0:
        with pytest.raises(StoreError) as info:
            SqliteStore.open(db)
        return str(info.value)
    if shutil.which("setpriv") is None and not os.environ.get("CI"):
        pytest.skip("root ignores directory permissions and setpriv is not installed")
    script = _OPEN_IN_A_CHILD.format(store=SqliteStore.__module__, errors=StoreError.__module__)
    done = subprocess.run(
        [*WITHOUT_DAC_OVERRIDE, sys.executable, "-c", script, str(db)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_a_read_only_directory_is_a_store_error(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        assert "locked" in open_error_in_a_read_only_directory(locked / "ticker.db")
        assert list(locked.iterdir()) == []
    finally:
        locked.chmod(0o700)


def test_read_only_open_does_not_create_a_file(db: Path) -> None:
    with pytest.raises(StoreError):
        SqliteStore.open(db, readonly=True)
    assert list(db.parent.iterdir()) == []


def test_read_only_open_reads_but_cannot_write(db: Path) -> None:
    s = SqliteStore.open(db)
    record(s, "en", ["a line"], now=T0)
    s.close()
    before = db.read_bytes()
    ro = SqliteStore.open(db, readonly=True)
    try:
        assert [i.text for i in ro.history()] == ["a line"]
        with pytest.raises(StoreError), ro.transaction():
            ro.save_source_state(SourceState(source_id="en"))
    finally:
        ro.close()
    assert db.read_bytes() == before


# -- transactions and source state -----------------------------------------------------------


def test_transaction_rolls_back_on_error(store: SqliteStore) -> None:
    def doomed() -> None:
        with store.transaction():
            store.record_detection("en", Detection(baseline=False, new=new("doomed")), now=T0)
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        doomed()
    assert list(store.history()) == []


def test_source_state_round_trips(store: SqliteStore) -> None:
    assert store.source_state("en") == SourceState(source_id="en")
    state = SourceState(
        source_id="en",
        etag='W/"abc"',
        last_modified="Mon, 05 Jan 2026 08:00:00 GMT",
        body_digest="d1",
        last_success=T0,
        last_attempt=T0 + timedelta(seconds=1),
        consecutive_failures=2,
        last_error="HTTP 500",
        baseline_done=True,
    )
    with store.transaction():
        store.save_source_state(state)
    assert store.source_state("en") == state
    updated = SourceState(source_id="en", consecutive_failures=0)
    with store.transaction():
        store.save_source_state(updated)
    assert store.source_state("en") == updated
    assert store.source_states() == [updated]


async def test_run_executes_in_the_store_thread(store: SqliteStore) -> None:
    import threading

    name = await store.run(lambda: threading.current_thread().name)
    assert name.startswith("ticker-store")
    assert (await store.run(store.source_state, "en")).source_id == "en"


# -- recording -------------------------------------------------------------------------------


def test_each_line_is_recorded_with_the_kind_decided(store: SqliteStore) -> None:
    # What counts as new (a baseline included) is ticker.decide's: the store records it.
    lines = tuple(replace(n, kind=ItemKind.BASELINE) for n in new("one", "two"))
    detection = Detection(baseline=True, new=lines)
    with store.transaction():
        recorded = store.record_detection("en", detection, now=T0)
    assert [r.item.text for r in recorded] == ["one", "two"]
    assert all(r.first_seen == T0 for r in recorded)
    assert [i.kind for i in store.history()] == [ItemKind.BASELINE, ItemKind.BASELINE]


def test_detection_inputs_reflect_what_was_recorded(store: SqliteStore) -> None:
    record(store, "en", ["stays", "leaves"], now=T0, baseline=True)
    record(store, "en", [], now=T0 + timedelta(seconds=30), seen=("stays", "leaves"))
    record(store, "en", [], now=T0 + timedelta(minutes=1), seen=("stays",), gone=("leaves",))
    inputs = store.detection_inputs(
        "en", [item_key("stays"), item_key("leaves"), item_key("never")], gone_after=T0
    )
    assert set(inputs.known) == {item_key("stays"), item_key("leaves")}
    assert inputs.present == {item_key("stays")}
    assert [k.key for k in inputs.recently_gone] == [item_key("leaves")]
    # Read by two queries (the page's keys, the lines that left): the same line either way.
    assert inputs.recently_gone == [inputs.known[item_key("leaves")]]
    assert inputs.recently_gone[0].last_seen == T0 + timedelta(seconds=30)  # last shown
    assert inputs.known[item_key("leaves")].gone_since == T0 + timedelta(minutes=1)
    assert inputs.known[item_key("stays")].last_seen == T0 + timedelta(minutes=1)
    # An hour on, "leaves" left too long ago to be edited; "stays", missing from this page,
    # is leaving now and so is a candidate for an edit.
    later = store.detection_inputs("en", [], gone_after=T0 + timedelta(hours=1))
    assert [k.key for k in later.recently_gone] == [item_key("stays")]
    assert store.detection_inputs("other", [item_key("stays")], gone_after=T0).known == {}


def test_a_returning_line_gets_a_new_occurrence(store: SqliteStore) -> None:
    record(store, "en", ["sirens sound"], now=T0, baseline=True)
    record(store, "en", [], now=T0 + timedelta(minutes=1), gone=("sirens sound",))
    back = Detection(
        baseline=False,
        new=(NewItem(key=item_key("sirens sound"), text="Sirens sound", link=None,
                     kind=ItemKind.RETURN),),
    )  # fmt: skip
    with store.transaction():
        store.record_detection("en", back, now=T0 + timedelta(hours=8))
    rows = list(store.history())
    assert [(r.text, r.kind) for r in rows] == [
        ("sirens sound", ItemKind.BASELINE),
        ("Sirens sound", ItemKind.RETURN),
    ]
    inputs = store.detection_inputs("en", [item_key("sirens sound")], gone_after=T0)
    assert inputs.known[item_key("sirens sound")].text == "Sirens sound"  # the latest wins
    assert inputs.known[item_key("sirens sound")].gone_since is None


def test_an_update_remembers_the_line_it_replaced(store: SqliteStore) -> None:
    record(store, "en", ["4 soldiers killed"], now=T0, baseline=True)
    old = store.detection_inputs("en", [item_key("4 soldiers killed")], gone_after=T0).known
    edit = NewItem(
        key=item_key("5 soldiers killed"),
        text="5 soldiers killed",
        link=None,
        kind=ItemKind.UPDATE,
        update_of=old[item_key("4 soldiers killed")],
    )
    with store.transaction():
        store.record_detection("en", Detection(baseline=False, new=(edit,)), now=T0)
    last = list(store.history())[-1]
    assert (last.kind, last.update_of_text) == (ItemKind.UPDATE, "4 soldiers killed")


# -- history ---------------------------------------------------------------------------------


@pytest.fixture
def filled(store: SqliteStore) -> SqliteStore:
    record(store, "en", ["Gaza: strikes on Rafah", "Lebanon: sirens"], now=T0, baseline=True)
    record(store, "ar", ["غارة على غزة"], now=T0 + timedelta(minutes=30))
    record(store, "en", ["Gaza: aid trucks enter"], now=T0 + timedelta(hours=1))
    record(store, "es", ["Última hora: Gaza"], now=T0 + timedelta(hours=2))
    return store


def texts(items: object) -> list[str]:
    return [i.text for i in items]  # type: ignore[attr-defined]


def test_history_is_in_first_seen_order(filled: SqliteStore) -> None:
    assert texts(filled.history()) == [
        "Gaza: strikes on Rafah",
        "Lebanon: sirens",
        "غارة على غزة",
        "Gaza: aid trucks enter",
        "Última hora: Gaza",
    ]


def test_history_newest_first(filled: SqliteStore) -> None:
    assert texts(filled.history(newest_first=True))[:2] == [
        "Última hora: Gaza",
        "Gaza: aid trucks enter",
    ]


def test_history_by_source(filled: SqliteStore) -> None:
    assert texts(filled.history(sources=["ar"])) == ["غارة على غزة"]
    assert len(list(filled.history(sources=["en", "es"]))) == 4
    assert list(filled.history(sources=["nope"])) == []


def test_history_since_is_inclusive_and_until_exclusive(filled: SqliteStore) -> None:
    one_hour = T0 + timedelta(hours=1)
    assert texts(filled.history(since=one_hour)) == ["Gaza: aid trucks enter", "Última hora: Gaza"]
    assert texts(filled.history(until=one_hour)) == [
        "Gaza: strikes on Rafah",
        "Lebanon: sirens",
        "غارة على غزة",
    ]
    window = filled.history(since=T0 + timedelta(minutes=1), until=one_hour)
    assert texts(window) == ["غارة على غزة"]


def test_history_since_accepts_other_time_zones(filled: SqliteStore) -> None:
    from zoneinfo import ZoneInfo

    beirut = (T0 + timedelta(hours=1)).astimezone(ZoneInfo("Asia/Beirut"))
    assert len(list(filled.history(since=beirut))) == 2


def test_history_grep(filled: SqliteStore) -> None:
    assert texts(filled.history(grep=re.compile("(?i)gaza"))) == [
        "Gaza: strikes on Rafah",
        "Gaza: aid trucks enter",
        "Última hora: Gaza",
    ]
    assert texts(filled.history(grep=re.compile("غزة"))) == ["غارة على غزة"]


def test_history_limit_applies_after_the_filters(filled: SqliteStore) -> None:
    grep = re.compile("Gaza")
    assert texts(filled.history(grep=grep, limit=2)) == [
        "Gaza: strikes on Rafah",
        "Gaza: aid trucks enter",
    ]
    assert texts(filled.history(grep=grep, limit=1, newest_first=True)) == ["Última hora: Gaza"]


def test_history_limit_zero_gives_nothing(filled: SqliteStore) -> None:
    """`ticker history --limit 0` asks for at most 0 items."""
    assert list(filled.history(limit=0)) == []


def test_history_items_carry_their_fields(filled: SqliteStore) -> None:
    item = next(iter(filled.history(sources=["es"])))
    assert item.source_id == "es"
    assert item.first_seen == T0 + timedelta(hours=2)
    assert item.last_seen == item.first_seen
    assert item.first_seen.tzinfo is not None
    assert item.kind is ItemKind.NEW
    assert item.link is None


def test_links_are_stored(store: SqliteStore) -> None:
    detection = Detection(baseline=False, new=new("linked", link="https://e.com/1"))
    with store.transaction():
        store.record_detection("en", detection, now=T0)
    assert next(iter(store.history())).link == "https://e.com/1"


def test_stored_times_are_utc_text_that_sorts_as_time() -> None:
    a = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    b = a + timedelta(microseconds=1)
    assert utc(a) < utc(b)
    assert parse_utc(utc(a)) == a
    from zoneinfo import ZoneInfo

    assert utc(a.astimezone(ZoneInfo("America/New_York"))) == utc(a)


def test_many_keys_are_queried_in_chunks(store: SqliteStore) -> None:
    lines = [f"line number {i}" for i in range(1200)]
    record(store, "en", lines, now=T0, baseline=True)
    inputs = store.detection_inputs("en", [item_key(t) for t in lines], gone_after=T0)
    assert len(inputs.known) == 1200
    record(store, "en", [], now=T0 + timedelta(minutes=1), seen=tuple(lines))
    assert all(i.last_seen == T0 + timedelta(minutes=1) for i in store.history())


def test_recorded_ids_are_the_ids_of_the_rows_written(store: SqliteStore) -> None:
    """New rows go in one statement with their ids given: each id handed back (alerts and
    updates refer to it) is the row holding that line, across sources, chunks and rollbacks."""
    record(store, "en", ["first", "second"], now=T0, baseline=True)

    def undone() -> None:
        with store.transaction():
            store.record_detection("ar", Detection(baseline=False, new=new("undone")), now=T0)
            raise sqlite3.OperationalError("disk I/O error")

    with pytest.raises(StoreError):
        undone()
    lines = [f"line number {i}" for i in range(1203)]  # thirteen chunks of rows
    with store.transaction():
        recorded = store.record_detection("ar", Detection(baseline=False, new=new(*lines)), now=T0)
        recorded += store.record_detection(
            "en", Detection(baseline=False, new=new("third")), now=T0
        )
    rows = dict(store.conn.execute("SELECT id, text FROM items").fetchall())
    assert {r.id: r.item.text for r in recorded}.items() <= rows.items()
    assert len(rows) == 2 + 1203 + 1
    assert len({r.id for r in recorded}) == len(recorded)


def test_many_new_lines_fit_the_variable_limit_of_an_older_sqlite(store: SqliteStore) -> None:
    """SQLite before 3.32 allows 999 variables a statement; a page of 200 new lines (the most
    extraction keeps) and 600 keys queried must fit it."""
    store.conn.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 999)
    lines = [f"line number {i}" for i in range(600)]
    record(store, "en", lines[:200], now=T0, baseline=True)
    record(store, "en", lines[200:], now=T0 + timedelta(minutes=1), seen=tuple(lines[:200]))
    inputs = store.detection_inputs("en", [item_key(t) for t in lines], gone_after=T0)
    assert len(inputs.known) == 600
