"""Does a poll's cost grow with history? The same polls over a small state and a large one.

The large state gets ``rows`` synthetic rows written straight into ``items`` with sqlite3
``executemany`` before the run: most for other sources (1,000 rows each, ten still present),
and 1,000 old, long-gone rows for each polled source itself, outside the re-alert window. A
third state adds 200 lines that left within the window for each polled source, the most
``detection_inputs`` reads back for edit detection (its LIMIT): that cost is bounded, not flat.

Two measures per state: the pipeline's CPU ms per poll (fetch included), and the database
work alone, run directly on the store's connection (µs per poll), which is far less noisy: its
rounds are taken in turn on the three states, so a change in the machine's load falls on all
alike. ``read`` (``detection_inputs`` alone, no commit) is the part that could grow with
history; the transactions include a commit with ``synchronous = FULL``, whose fsync costs CPU
in the kernel too.
"""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.configs import build_config
from bench.measure import median
from bench.pipeline import configure_logging, run_pass
from bench.server import FixtureClient
from ticker.cli.wiring import fetch_settings
from ticker.decide import Validators, decide, gone_after
from ticker.fetch import AiohttpFetcher
from ticker.model import PageItem
from ticker.store import SqliteStore
from ticker.store.times import utc

OTHER_ROWS_PER_SOURCE = 1000
OWN_OLD_ROWS = 1000
RECENT_GONE = 200


@dataclass(frozen=True, slots=True, kw_only=True)
class StateFigures:
    """One state size: rows in ``items``, pipeline CPU ms per poll by row, DB µs per poll."""

    label: str
    rows: int
    fill_s: float
    pipeline_ms: dict[str, float]
    db_us: dict[str, float]
    plans: dict[str, list[str]]


def _synthetic_rows(
    total: int, own: Sequence[str], *, own_old: int, recent_gone: int, now: datetime
) -> Iterator[tuple[object, ...]]:
    """Rows for ``items``: (source, key, text, link, kind, first_seen, last_seen, gone_since)."""
    old = utc(now - timedelta(days=30))
    older = utc(now - timedelta(days=31))
    recent = [utc(now - timedelta(minutes=1 + i)) for i in range(recent_gone)]
    written = 0
    for sid in own:
        for j in range(own_old):
            text = f"archived line {j} of {sid}: a story that left the ticker a month ago"
            yield (sid, text.lower(), text, None, "new", older, old, old)
        for j in range(recent_gone):
            text = f"recent line {j} of {sid}: {j * 7919} people moved, officials said"
            yield (sid, text.lower(), text, None, "new", older, recent[j], recent[j])
        written += own_old + recent_gone
    j = 0
    while written < total:
        sid = f"other-{j // OTHER_ROWS_PER_SOURCE}"
        present = j % OTHER_ROWS_PER_SOURCE >= OTHER_ROWS_PER_SOURCE - 10
        text = f"{sid} line {j}: something happened somewhere, sources said"
        yield (sid, text.lower(), text, None, "new", older, old, None if present else old)
        j += 1
        written += 1


def fill_history(path: Path, rows: int, own: Sequence[str], *, recent_gone: int) -> float:
    """Create the state with ticker's schema and write ``rows`` synthetic rows; seconds taken."""
    SqliteStore.open(path).close()  # ticker's own migrations
    if rows <= 0:
        return 0.0
    started = time.perf_counter()
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA synchronous = OFF")
        conn.execute("BEGIN")
        # Bulk loads go faster without the indexes; they are rebuilt from the schema's own SQL.
        indexes = conn.execute(
            "SELECT name, sql FROM sqlite_master "
            "WHERE type = 'index' AND tbl_name = 'items' AND sql IS NOT NULL"
        ).fetchall()
        for name, _ in indexes:
            conn.execute(f'DROP INDEX "{name}"')
        conn.executemany(
            "INSERT INTO items (source, key, text, link, kind, first_seen, last_seen, gone_since)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            _synthetic_rows(
                rows,
                own,
                own_old=min(OWN_OLD_ROWS, rows // max(len(own), 1) // 2),
                recent_gone=recent_gone,
                now=datetime.now(UTC),
            ),
        )
        for _, sql in indexes:
            conn.execute(sql)
        conn.execute("COMMIT")
    finally:
        conn.close()
    return time.perf_counter() - started


def _record(store: SqliteStore, sid: str, keys: Sequence[str]) -> None:
    record_page(store, sid, {k: PageItem(text=k) for k in keys})


def record_page(
    store: SqliteStore, sid: str, page: Mapping[str, PageItem], *, now: datetime | None = None
) -> None:
    """What the pipeline's ``record`` does for a parsed ``page`` (stories aside), at ``now``."""
    now = datetime.now(UTC) if now is None else now
    state = replace(store.source_state(sid), baseline_done=True)
    window = timedelta(hours=6)
    with store.transaction():
        inputs = store.detection_inputs(sid, list(page), gone_after=gone_after(now, window))
        decision = decide(
            page=page,
            inputs=inputs,
            state=state,
            validators=Validators(),
            now=now,
            realert_after=window,
        )
        store.record_detection(sid, decision.detection, now=now)
        store.save_source_state(decision.state)


def _touch(store: SqliteStore, sid: str) -> None:
    """What the pipeline does for a 304 or an identical body."""
    now = datetime.now(UTC)
    state = store.source_state(sid)
    with store.transaction():
        # What the deferred "still there" write runs (the store has no call for it alone).
        store.conn.execute(_PLANS["touch"], (utc(now), sid))
        store.save_source_state(replace(state, last_success=now, last_attempt=now))


class DbWork:
    """The database work of a poll alone, run in this thread on one state: µs per poll.

    ``read`` is ``detection_inputs`` alone (no write, no fsync: the part that could grow with
    history); ``seen``, ``new_item`` and ``touch`` are whole transactions as the pipeline runs
    them, commit and fsync included.
    """

    def __init__(self, store: SqliteStore, source_ids: Sequence[str]) -> None:
        self.store = store
        self.ids = list(source_ids)
        self.shown = {
            sid: [
                r[0]
                for r in store.conn.execute(
                    "SELECT key FROM items WHERE source = ? AND gone_since IS NULL ORDER BY id",
                    (sid,),
                )
            ]
            for sid in self.ids
        }
        self.samples: dict[str, list[float]] = {"read": [], "seen": [], "new_item": [], "touch": []}
        self.rounds = 0

    def one_round(self) -> None:
        store, ids = self.store, self.ids
        gone_after = datetime.now(UTC) - timedelta(hours=6)
        c0 = time.thread_time()
        for sid in ids:
            store.detection_inputs(sid, self.shown[sid], gone_after=gone_after)
        c1 = time.thread_time()
        for sid in ids:
            _record(store, sid, self.shown[sid])
        c2 = time.thread_time()
        for sid in ids:
            self.shown[sid] = [*self.shown[sid][1:], f"fresh line {self.rounds} of {sid}: said"]
            _record(store, sid, self.shown[sid])
        c3 = time.thread_time()
        for sid in ids:
            _touch(store, sid)
        c4 = time.thread_time()
        spans = {"read": c1 - c0, "seen": c2 - c1, "new_item": c3 - c2, "touch": c4 - c3}
        for name, span in spans.items():
            self.samples[name].append(1e6 * span / len(ids))
        self.rounds += 1

    def medians(self) -> dict[str, float]:
        return {name: median(values) for name, values in self.samples.items()}


def interleaved_db_work(
    stores: dict[str, SqliteStore], source_ids: Sequence[str], rounds: int
) -> dict[str, dict[str, float]]:
    """Rounds taken in turn on every state (A B C A B C ...), so that a change in the
    machine's load falls on all of them alike; medians per state."""
    works = {label: DbWork(store, source_ids) for label, store in stores.items()}
    for _ in range(rounds):
        for work in works.values():
            work.one_round()
    return {label: work.medians() for label, work in works.items()}


_PLANS = {
    "known": "SELECT * FROM items WHERE source = ? AND key IN (?, ?) ORDER BY id",
    "present": "SELECT key FROM items WHERE source = ? AND gone_since IS NULL",
    "recently_gone": "SELECT * FROM items WHERE source = ? AND gone_since IS NOT NULL "
    "AND gone_since >= ? ORDER BY gone_since DESC LIMIT 200",
    # The deferred "still there" write (ticker.store.writer): one value per source.
    "touch": "UPDATE sources SET present_seen = ? WHERE id = ?",
}


def _plans(store: SqliteStore) -> dict[str, list[str]]:
    out = {}
    for name, sql in _PLANS.items():
        args = (sql.count("?") - 1) * ["x"]
        rows = store.conn.execute(f"EXPLAIN QUERY PLAN {sql}", ["s0", *args]).fetchall()
        out[name] = [str(r[3]) for r in rows]
    return out


def add_recent(path: Path, own: Sequence[str], count: int) -> None:
    """Give each of ``own`` ``count`` lines that left the page within the last hours."""
    now = datetime.now(UTC)
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("BEGIN")
        conn.executemany(
            "INSERT INTO items (source, key, text, link, kind, first_seen, last_seen, gone_since)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            _synthetic_rows(len(own) * count, own, own_old=0, recent_gone=count, now=now),
        )
        conn.execute("COMMIT")
    finally:
        conn.close()


async def _measure_state(
    client: FixtureClient, label: str, path: Path, sources: int, passes: int, fill_s: float
) -> StateFigures:
    """Poll ``sources`` sources of each mode over the state at ``path`` (ids s0..s3n-1)."""
    modes = (("nonce", "nonce"), ("validators", "304"), ("change", "new_item"))
    urls = [u for mode, _ in modes for u in client.urls(mode, sources)]
    config = build_config(urls, path)
    groups = {
        row: config.sources[k * sources : (k + 1) * sources] for k, (_, row) in enumerate(modes)
    }
    pipeline: dict[str, float] = {}
    store = SqliteStore.open(path)
    try:
        async with AiohttpFetcher(fetch_settings(config)) as fetcher:
            await run_pass(config.sources, fetcher, store)  # the baseline of every source
            for row, group in groups.items():
                samples = []
                for _ in range(passes):
                    if row == "new_item":
                        client.advance(1.0)
                    samples.append((await run_pass(group, fetcher, store)).cpu_ms)
                pipeline[row] = median(samples)
        plans = _plans(store)
        total = store.conn.execute("SELECT count(*) FROM items").fetchone()[0]
    finally:
        store.close()
    return StateFigures(
        label=label, rows=total, fill_s=fill_s, pipeline_ms=pipeline, db_us={}, plans=plans
    )


def growth_worker(
    port: int, rows: int, sources: int, passes: int, workdir: str
) -> list[StateFigures]:
    """Entry of the child process: a small state, a large one, and the large one with recent
    history for every polled source; then the database work alone on the three, interleaved."""
    configure_logging()
    client = FixtureClient(port)
    own = [f"s{i}" for i in range(3 * sources)]
    out = []
    with tempfile.TemporaryDirectory(dir=workdir, prefix="growth-") as tmp:
        base = Path(tmp)
        paths = {label: base / f"{label}.db" for label in ("small", "large", "large+recent")}
        fill_history(paths["small"], 0, own, recent_gone=0)
        out.append(asyncio.run(_measure_state(client, "small", paths["small"], sources, passes, 0)))
        template = base / "template.db"
        fill_s = fill_history(template, rows, own, recent_gone=0)
        for label in ("large", "large+recent"):
            shutil.copyfile(template, paths[label])
            if label == "large+recent":
                add_recent(paths[label], own, RECENT_GONE)
            out.append(
                asyncio.run(_measure_state(client, label, paths[label], sources, passes, fill_s))
            )
        template.unlink()
        stores = {label: SqliteStore.open(path) for label, path in paths.items()}
        try:
            db_us = interleaved_db_work(stores, own[:sources], rounds=max(2 * passes, 6))
        finally:
            for store in stores.values():
                store.close()
    return [replace(state, db_us=db_us[state.label]) for state in out]
