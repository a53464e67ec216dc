"""In-memory twins of the ports (``ticker.ports``), for tests and the bench: never used by
``ticker run``.

- ``MemoryStore``: a ``StateStore`` in dicts, with the real store's contract (a write's effects
  are visible once it returns; a failed transaction leaves nothing, caches included).
  ``tests/test_inprocess.py`` runs one scenario against it and ``SqliteStore`` so it cannot drift.
- ``ScriptedFetcher``: a ``Fetcher`` answering each URL from a script: pages, 304s, errors.
- ``RecordingNotifier``: a ``Notifier`` that records sends and fails the ones scripted.

No thread, no socket, no file: the pipeline and the sender run on them in milliseconds.
"""

from ticker.memory.fetcher import NOT_MODIFIED, Answer, Page, Request, ScriptedFetcher
from ticker.memory.notifier import MemoryTarget, RecordingNotifier, Sent
from ticker.memory.store import MemoryStore

__all__ = [
    "NOT_MODIFIED",
    "Answer",
    "MemoryStore",
    "MemoryTarget",
    "Page",
    "RecordingNotifier",
    "Request",
    "ScriptedFetcher",
    "Sent",
]
