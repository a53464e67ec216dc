"""Opening the state file: refusals before SQLite touches it, pragmas, schema and migrations.

A file that is not a ticker database is reported and never written (a state file that is not ours);
the state's directory is never created; a new file is created owner-only.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import stat
from pathlib import Path

import structlog

from ticker.errors import StoreError

_log = structlog.get_logger("ticker.store")

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
    # The outbox: a message per planned alert, a delivery row per apprise URL (none lost). URLs
    # carry secrets, so rows name their target by a digest (``target``), never by the URL.
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
    # Stories (the same event told by several sources): each line's story (the id of the
    # story's first line), the line it was matched with and the score; and which channels have
    # been told a story, with the numbers they were told (a different number is news).
    """
    ALTER TABLE items ADD COLUMN story INTEGER;
    ALTER TABLE items ADD COLUMN story_of INTEGER REFERENCES items(id);
    ALTER TABLE items ADD COLUMN story_score REAL;
    CREATE INDEX items_by_story ON items (story) WHERE story IS NOT NULL;
    CREATE TABLE story_channels (
        story INTEGER NOT NULL,
        channel TEXT NOT NULL,
        facts TEXT NOT NULL DEFAULT '',
        PRIMARY KEY (story, channel)
    ) WITHOUT ROWID;
    """,
    # When the lines still on a source's page (gone_since IS NULL) were last seen: a poll that
    # finds the page unchanged moves this one value, not each line's last_seen (a line's own
    # last_seen is written when it changes: recorded, back, or gone). Rewriting every present
    # line's row on each quiet poll rewrote most of the items table into the WAL each second.
    """
    ALTER TABLE sources ADD COLUMN present_seen TEXT;
    """,
]


SCHEMA_VERSION = len(MIGRATIONS)
#: The first schema with stories: a file of an older one is read (read-only) without them.
STORIES_SCHEMA = 4
#: The first schema with ``sources.present_seen``: before it, each line's last_seen was moved.
PRESENT_SEEN_SCHEMA = 5


def connect(file: Path, *, readonly: bool) -> sqlite3.Connection:
    """Check, create (unless ``readonly``) and connect to the state file at ``file``.

    Raises StoreError naming the file when it is not a SQLite database or cannot be created
    (see :func:`state_path_problem`); the file is never overwritten.
    """
    if not readonly and (problem := _path_problem(file)) is not None:
        raise StoreError(problem)
    _check_header(file)
    if readonly:
        uri = f"file:{file.resolve()}?mode=ro"
        return _connect(uri, file, uri=True)
    _create_private(file)
    return _connect(str(file), file)


def configure(conn: sqlite3.Connection, file: Path, *, readonly: bool) -> tuple[int, int]:
    """Set the pragmas and migrate (unless ``readonly``); returns PRAGMA data_version as of now
    and the schema version the file is now at.

    Raises StoreError naming the file when it is corrupt or newer than this ticker.
    """
    try:
        conn.execute("PRAGMA busy_timeout = 5000")
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"state file {str(file)!r} has schema version {version}, newer than this "
                f"ticker understands ({SCHEMA_VERSION}); upgrade ticker"
            )
        if not readonly:
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if mode.lower() != "wal":
                raise StoreError(f"state file {str(file)!r}: cannot use WAL (got {mode!r})")
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute("PRAGMA foreign_keys = ON")
            _migrate(conn, version)
            version = SCHEMA_VERSION
        # Another process's commit from now on empties the caches (see _check_data_version).
        data_version = int(conn.execute("PRAGMA data_version").fetchone()[0])
        # Touch every table's root page: a file damaged past its first page is refused
        # here, with its name, not at the first poll.
        for (table,) in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'"
        ).fetchall():
            conn.execute(f'SELECT 1 FROM "{table}" LIMIT 1').fetchall()
    except sqlite3.DatabaseError as exc:
        raise store_error(exc, file) from exc
    return data_version, version


def _migrate(conn: sqlite3.Connection, version: int) -> None:
    # A transaction a step, as the store's own would be (no cache or deferred write exists yet).
    for target in range(version, SCHEMA_VERSION):
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in _statements(MIGRATIONS[target]):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {target + 1}")
            conn.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            raise


def _connect(target: str, file: Path, *, uri: bool = False) -> sqlite3.Connection:
    try:
        conn = sqlite3.connect(
            target, uri=uri, isolation_level=None, check_same_thread=False, timeout=5.0
        )
    except sqlite3.Error as exc:
        raise store_error(exc, file) from exc
    conn.row_factory = sqlite3.Row
    return conn


def _check_header(file: Path) -> None:
    """Refuse, before SQLite touches it, a file that is not a SQLite database (a state file that is
    not ours)."""
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


def store_error(exc: sqlite3.Error, file: Path) -> StoreError:
    """SQLite's error as a StoreError naming the file, with what to do about it."""
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
