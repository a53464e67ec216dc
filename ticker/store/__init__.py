"""SQLite state: every item ever seen, per-source state; schema versioned, WAL, one writer thread.

``connection`` opens the file (refusals, pragmas, migrations); ``writer`` runs every write on the
store's one thread (group commit, deferred flush); ``state`` caches each source's state;
``items`` and ``outbox`` are the queries; ``reads`` serves the HTTP endpoint on a read-only
connection of its own; ``times`` is the stored form of a timestamp.
"""

from ticker.store.connection import SCHEMA_VERSION, state_path_problem
from ticker.store.items import timeline
from ticker.store.reads import (
    MAX_QUERY,
    SCAN_LIMIT,
    EndpointReads,
    Page,
    ReadRefused,
    outbox_stats,
    search_page,
)
from ticker.store.sqlite import SqliteStore
from ticker.store.writer import FLUSH_AFTER

__all__ = [
    "FLUSH_AFTER",
    "MAX_QUERY",
    "SCAN_LIMIT",
    "SCHEMA_VERSION",
    "EndpointReads",
    "Page",
    "ReadRefused",
    "SqliteStore",
    "outbox_stats",
    "search_page",
    "state_path_problem",
    "timeline",
]
