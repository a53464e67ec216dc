"""Drill 7 (a state file that is not ours): a state file that is corrupt, or not SQLite at all.

``ticker once`` and ``ticker run`` must stop with a non-zero exit and a message naming the file,
and leave its bytes exactly as they were (never "repair" by overwriting someone's data). The
corrupt files keep a valid SQLite header: the magic string only, the whole 100-byte header of a
real ticker state, or its whole first page (schema intact, every table's pages garbage).
"""

from __future__ import annotations

import hashlib
import os
import random
import stat
from pathlib import Path
from typing import Any

import pytest

from ticker.store import SqliteStore

from .harness import Tickers, service_toml, source_toml, timeout, write_config
from .servers import PageServer

pytestmark = pytest.mark.drill

RUN_GRACE = 10.0  # ``run`` must have exited by then


def real_state(path: Path) -> bytes:
    """The bytes of a fresh ticker state with a few rows (schema, WAL mode, checkpointed)."""
    store = SqliteStore.open(path)
    with store.transaction():
        store.conn.executemany(
            "INSERT INTO items (source, key, text, kind, first_seen, last_seen) "
            "VALUES ('news', ?, ?, 'baseline', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')",
            [(f"k{i}", f"line {i} " * 20) for i in range(300)],
        )
    store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    data = path.read_bytes()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return data


def variant(kind: str, tmp_path: Path) -> bytes:
    rng = random.Random(kind)
    real = real_state(tmp_path / "real.db")
    page = int.from_bytes(real[16:18], "big")
    if kind == "magic-then-garbage":
        return b"SQLite format 3\x00" + rng.randbytes(len(real) - 16)
    if kind == "header-then-garbage":
        return real[:100] + rng.randbytes(len(real) - 100)
    if kind == "first-page-then-garbage":
        return real[:page] + rng.randbytes(len(real) - page)
    if kind == "not-sqlite":
        return b"name,text\nnews,this is a CSV file, not a database\n" * 200
    raise AssertionError(kind)


KINDS = ["magic-then-garbage", "header-then-garbage", "first-page-then-garbage", "not-sqlite"]


@timeout(60, 60)
@pytest.mark.parametrize("kind", KINDS)
def test_a_corrupt_or_foreign_state_file_is_refused_and_left_untouched(
    kind: str, tmp_path: Path, pages: PageServer, tickers: Tickers, figures: dict[str, Any]
) -> None:
    pages.set_lines("/news", ["A line on a page that is fine"])
    state = tmp_path / "state.db"
    data = variant(kind, tmp_path)
    state.write_bytes(data)
    digest = hashlib.sha256(data).hexdigest()
    cfg = write_config(tmp_path, service_toml(), source_toml("news", pages.url("/news")))

    once = tickers.command("once", "-c", str(cfg), within=30)
    run = tickers.start(cfg)
    code = run.wait_exit(RUN_GRACE)
    if code is None:
        run.kill9()
    figures.update(
        once_exit=once.proc.returncode,
        once_message=_error_line(once.stderr),
        run_exit=code if code is not None else f"still running after {RUN_GRACE:g}s",
        run_message=_error_line(run.stderr),
        file_unchanged=hashlib.sha256(state.read_bytes()).hexdigest() == digest,
    )
    for name, proc in (("once", once), ("run", run)):
        rc = proc.proc.returncode
        assert rc not in (None, 0, -9), f"ticker {name} did not refuse the file:\n{proc.tail()}"
        assert str(state) in proc.stderr, f"ticker {name} did not name the file:\n{proc.tail()}"
        assert "Traceback" not in proc.stderr
    assert hashlib.sha256(state.read_bytes()).hexdigest() == digest, "the file was modified"


def _error_line(stderr: str) -> str:
    lines = [ln for ln in stderr.splitlines() if "error" in ln.lower()]
    return (lines or [""])[0][:300]


@timeout(60, 60)
def test_run_under_umask_022_keeps_the_state_private_and_follows_no_dangling_symlink(
    tmp_path: Path, pages: PageServer, tickers: Tickers, figures: dict[str, Any]
) -> None:
    """Issue 12, finding 9: ``ticker run`` started from cron or a shell (umask 022) makes the
    state, its -wal and -shm owner-only, and refuses a dangling symlink as the state without
    creating its target. Issue 14: it creates no directory; a missing one is refused."""
    pages.set_lines("/news", ["A line on a page that is fine"])
    old = os.umask(0o022)
    try:
        private = tmp_path / "private"
        state = private / "nested" / "state.db"
        cfg = write_config(
            tmp_path, service_toml(state=str(state)), source_toml("news", pages.url("/news"))
        )
        missing = tickers.start(cfg)
        missing_code = missing.wait_exit(RUN_GRACE)
        if missing_code is None:
            missing.kill9()
        dirs_created = os.path.lexists(private)
        (private / "nested").mkdir(parents=True)  # as the operator (or StateDirectory=) does
        run = tickers.start(cfg)
        run.wait_baseline("news")
        files = [state, Path(f"{state}-wal"), Path(f"{state}-shm")]
        modes = {str(p.relative_to(tmp_path)): oct(_mode(p)) for p in files}
        run.terminate()

        victim = tmp_path / "victim.db"
        (tmp_path / "link.db").symlink_to(victim)
        cfg = write_config(
            tmp_path,
            service_toml(state=str(tmp_path / "link.db")),
            source_toml("news", pages.url("/news")),
        )
        refused = tickers.start(cfg)
        code = refused.wait_exit(RUN_GRACE)
        if code is None:
            refused.kill9()
    finally:
        os.umask(old)
    figures.update(
        modes=modes,
        missing_dir_exit=missing_code,
        missing_dir_message=_error_line(missing.stderr),
        dangling_exit=code,
        dangling_message=_error_line(refused.stderr),
    )
    assert missing_code not in (None, 0), (
        f"ticker run started without its state directory:\n{missing.tail()}"
    )
    assert "does not exist" in missing.stderr
    assert str(private / "nested") in missing.stderr
    assert not dirs_created, "ticker created the missing state directory"
    assert modes == {
        "private/nested/state.db": oct(0o600),
        "private/nested/state.db-wal": oct(0o600),
        "private/nested/state.db-shm": oct(0o600),
    }
    assert code not in (None, 0), f"ticker run followed the dangling symlink:\n{refused.tail()}"
    assert str(tmp_path / "link.db") in refused.stderr
    assert "symlink" in refused.stderr
    assert not os.path.lexists(victim), "the symlink's target was created"


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)
