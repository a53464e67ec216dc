"""The state on disk is private (issue 12, finding 9): under the umask cron or a shell gives
(022), the state file, its -wal and -shm are owner-only, and a symlink is never followed into a
new file. ticker creates no directory (issue 14): a missing one is refused, since a mistyped path
would start a new, empty history. Real files under a tmp dir, ticker as a subprocess.
"""

from __future__ import annotations

import asyncio
import json
import os
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import PageServer, en_page, run_ticker, write_config

from ticker.errors import StoreError
from ticker.store import SqliteStore

LINES = ["Israeli media: 4 Israeli soldiers killed", "Palestinian sources: several injured"]


@pytest.fixture(autouse=True)
def umask_022() -> Iterator[None]:
    """The umask of cron and of a login shell; restored after the test."""
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def present(path: Path) -> bool:
    """Anything at ``path``, a dangling symlink included."""
    return os.path.lexists(path)


def config(tmp_path: Path, state: str, url: str) -> Path:
    return write_config(
        tmp_path,
        f'[service]\nstate = "{state}"\n\n[[sources]]\nid = "en"\nurl = "{url}"\n'
        'items = "css:.ticker__item"\n',
    )


async def once(cfg: Path) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(run_ticker, "once", "-c", str(cfg), "--log-format", "json")


def events(stderr: str, name: str) -> list[dict[str, Any]]:
    found = []
    for line in stderr.splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if isinstance(event, dict) and event.get("event") == name:
            found.append(event)
    return found


def seeded(path: Path) -> None:
    """A real ticker state with one row at ``path``."""
    store = SqliteStore.open(path)
    with store.transaction():
        store.conn.execute(
            "INSERT INTO items (source, key, text, kind, first_seen, last_seen) "
            "VALUES ('en', 'k', 'a line', 'baseline', '2026-01-01T00:00:00Z', "
            "'2026-01-01T00:00:00Z')"
        )
    store.close()


def sources_in(path: Path) -> int:
    store = SqliteStore.open(path, readonly=True)
    try:
        return int(store.conn.execute("SELECT count(*) FROM sources").fetchone()[0])
    finally:
        store.close()


async def test_ticker_once_creates_an_owner_only_state_but_no_directory(
    page_server: PageServer, tmp_path: Path
) -> None:
    page_server.set("/en", en_page(LINES))
    cfg = config(tmp_path, "private/nested/state.db", page_server.url("/en"))

    refused = await once(cfg)

    assert refused.returncode == 1, refused.stderr
    assert f"the state directory {str(tmp_path / 'private' / 'nested')!r} does not exist" in (
        refused.stderr
    )
    assert "Traceback" not in refused.stderr
    assert not present(tmp_path / "private")
    assert page_server.hits("/en") == 0  # refused before any poll

    (tmp_path / "private" / "nested").mkdir(parents=True)
    result = await once(cfg)

    assert result.returncode == 0, result.stderr
    state = tmp_path / "private" / "nested" / "state.db"
    assert oct(mode(state)) == oct(0o600)
    for extra in ("-wal", "-shm"):  # removed at close; if left, private too
        side = Path(f"{state}{extra}")
        assert not present(side) or mode(side) == 0o600
    assert not events(result.stderr, "state_file_world_readable")


def test_wal_and_shm_follow_the_main_file_mode(tmp_path: Path) -> None:
    state = tmp_path / "state.db"
    store = SqliteStore.open(state)
    try:
        with store.transaction():
            store.conn.execute(
                "INSERT INTO items (source, key, text, kind, first_seen, last_seen) "
                "VALUES ('en', 'k', 'a line', 'new', '2026-01-01T00:00:00Z', "
                "'2026-01-01T00:00:00Z')"
            )
        # Both exist while the store is open (WAL mode); SQLite gives them the main file's mode.
        modes = {s: oct(mode(Path(f"{state}{s}"))) for s in ("", "-wal", "-shm")}
    finally:
        store.close()
    assert modes == {"": oct(0o600), "-wal": oct(0o600), "-shm": oct(0o600)}


async def test_a_dangling_symlink_as_the_state_is_refused_and_a_live_one_followed(
    page_server: PageServer, tmp_path: Path
) -> None:
    page_server.set("/en", en_page(LINES))
    target = tmp_path / "elsewhere" / "victim.db"
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "state.db").symlink_to(target)
    cfg = config(tmp_path, "state.db", page_server.url("/en"))

    result = await once(cfg)

    assert result.returncode == 1, result.stderr
    assert str(tmp_path / "state.db") in result.stderr
    assert "symlink" in result.stderr
    assert "Traceback" not in result.stderr
    assert not present(target)
    assert list((tmp_path / "elsewhere").iterdir()) == []
    assert (tmp_path / "state.db").is_symlink()
    assert page_server.hits("/en") == 0  # refused before any poll

    # A symlink to an existing state is followed: an admin may keep the state elsewhere.
    seeded(target)
    again = await once(cfg)

    assert again.returncode == 0, again.stderr
    assert (tmp_path / "state.db").is_symlink()
    assert sources_in(target) == 1  # the poll was recorded in the symlink's target


def test_a_dangling_symlink_in_the_directories_is_refused(tmp_path: Path) -> None:
    (tmp_path / "dir").symlink_to(tmp_path / "missing")
    with pytest.raises(StoreError, match="symlink") as info:
        SqliteStore.open(tmp_path / "dir" / "sub" / "state.db")
    assert str(tmp_path / "dir") in str(info.value)
    assert not present(tmp_path / "missing")


def test_readonly_opens_create_nothing_and_refuse_a_dangling_symlink(tmp_path: Path) -> None:
    missing = tmp_path / "no" / "state.db"
    with pytest.raises(StoreError):
        SqliteStore.open(missing, readonly=True)
    assert not present(tmp_path / "no")

    link = tmp_path / "link.db"
    link.symlink_to(tmp_path / "target.db")
    with pytest.raises(StoreError, match="symlink") as info:
        SqliteStore.open(link, readonly=True)
    assert str(link) in str(info.value)
    assert not present(tmp_path / "target.db")


async def test_an_existing_state_keeps_its_mode_and_world_readable_is_warned(
    page_server: PageServer, tmp_path: Path
) -> None:
    page_server.set("/en", en_page(LINES))
    group = tmp_path / "group" / "state.db"
    world = tmp_path / "world" / "state.db"
    for path, chosen in ((group, 0o640), (world, 0o644)):
        path.parent.mkdir()
        seeded(path)
        path.chmod(chosen)

    by_group = await once(config(tmp_path / "group", "state.db", page_server.url("/en")))
    by_world = await once(config(tmp_path / "world", "state.db", page_server.url("/en")))

    assert by_group.returncode == 0, by_group.stderr
    assert by_world.returncode == 0, by_world.stderr
    assert oct(mode(group)) == oct(0o640)  # group access may be deliberate: kept, no warning
    assert not events(by_group.stderr, "state_file_world_readable")
    assert oct(mode(world)) == oct(0o644)  # kept, but said once
    [warning] = events(by_world.stderr, "state_file_world_readable")
    assert warning["path"] == str(world)
    assert warning["mode"] == "0o644"
    assert "chmod 600" in warning["hint"]
