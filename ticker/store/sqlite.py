"""SqliteStore: the writer, the state cache, the item, outbox and story queries, one connection."""

from __future__ import annotations

import os
from pathlib import Path

from ticker.store.connection import configure, connect
from ticker.store.items import ItemQueries
from ticker.store.outbox import OutboxMixin
from ticker.store.stories import StoryQueries
from ticker.store.writer import StoreWriter


class SqliteStore(StoreWriter, ItemQueries, OutboxMixin, StoryQueries):
    """The state database. Construct with :meth:`open`; call methods through :meth:`run`."""

    @classmethod
    def open(cls, path: str | os.PathLike[str], *, readonly: bool = False) -> SqliteStore:
        """Open (creating and migrating unless ``readonly``) the state database at ``path``.

        Raises StoreError naming the file when it is not a SQLite database, is corrupt, is
        newer than this ticker, or cannot be created (see :func:`state_path_problem`: its
        directory is never created); the file is never overwritten.
        """
        file = Path(path)
        conn = connect(file, readonly=readonly)
        try:
            data_version, schema_version = configure(conn, file, readonly=readonly)
        except BaseException:
            conn.close()
            raise
        store = cls(conn, file)
        store._data_version = data_version
        store.schema_version = schema_version
        return store

    def integrity_check(self) -> str:
        return str(self.conn.execute("PRAGMA integrity_check").fetchone()[0])
