"""Item queries: what detection needs for one page, recording its outcome, the history.

Every query of a poll uses an index bounded by the page or the re-alert window, so a poll's
cost depends on the page, not on the history.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from ticker.decide import RECENTLY_GONE_LIMIT
from ticker.model import (
    Detection,
    DetectionInputs,
    ItemKind,
    KnownItem,
    Recorded,
    RecordedItem,
)
from ticker.store.connection import PRESENT_SEEN_SCHEMA, STORIES_SCHEMA
from ticker.store.times import opt_utc, parse_utc, utc


class ItemQueries:
    """Item queries of :class:`ticker.store.SqliteStore` (same connection, same thread)."""

    conn: sqlite3.Connection
    _staged_present: dict[str, frozenset[str]]
    schema_version: int

    def detection_inputs(
        self,
        source_id: str,
        keys: Sequence[str],
        *,
        gone_after: datetime,
        recent_limit: int = RECENTLY_GONE_LIMIT,
    ) -> DetectionInputs:
        """The latest occurrence of each page key, the keys shown last time, and the lines that
        left since ``gone_after``. Every query uses an index bounded by the page or the window."""
        seen = self.present_seen(source_id)
        page = set(keys)
        known: dict[str, KnownItem] = {}
        present: set[str] = set()
        # Lines shown last time and missing now have just left: they are edit candidates too.
        leaving: list[KnownItem] = []
        # A line still on the page is its key's latest occurrence (an occurrence is closed
        # before a new one opens): most of a page is known from these rows alone.
        for row in self.conn.execute(
            "SELECT * FROM items WHERE source = ? AND gone_since IS NULL ORDER BY id", (source_id,)
        ):
            key = row["key"]
            present.add(key)
            if key in page:
                known[key] = _known(row, seen)
            else:
                leaving.append(_known(row, seen))
        # The rest of the page's keys: new lines, or lines seen before that had left.
        for chunk in _chunks([k for k in keys if k not in present], 500):
            marks = ",".join("?" * len(chunk))
            rows = self.conn.execute(
                f"SELECT * FROM items WHERE source = ? AND key IN ({marks}) ORDER BY id",
                (source_id, *chunk),
            )
            for row in rows:
                known[row["key"]] = _known(row, seen)  # ORDER BY id: the latest occurrence wins
        # Up to ``recent_limit`` rows on every page with a new line (a busy ticker has them
        # after a few hours): plain tuples, built positionally (a Row's lookups by name were
        # half of the read).
        recent = self.conn.cursor()
        recent.row_factory = None
        recent.execute(
            "SELECT id, key, text, link, first_seen, last_seen, gone_since FROM items "
            "WHERE source = ? AND gone_since IS NOT NULL AND gone_since >= ? "
            "ORDER BY gone_since DESC LIMIT ?",
            (source_id, utc(gone_after), recent_limit),
        )
        gone = leaving + [
            KnownItem(
                id=item_id,
                key=key,
                text=text,
                link=link,
                first_seen=parse_utc(first_seen),
                last_seen=parse_utc(last_seen),  # gone: its own
                gone_since=parse_utc(gone_since),
            )
            for item_id, key, text, link, first_seen, last_seen, gone_since in recent
        ]
        return DetectionInputs(known=known, present=present, recently_gone=gone)

    def present_seen(self, source_id: str) -> str | None:
        """When the lines still on the source's page were last seen (stored text), if ever."""
        if self.schema_version < PRESENT_SEEN_SCHEMA:  # an older file, read as it is
            return None
        row = self.conn.execute(
            "SELECT present_seen FROM sources WHERE id = ?", (source_id,)
        ).fetchone()
        return None if row is None else row[0]

    def record_detection(
        self, source_id: str, detection: Detection, *, now: datetime
    ) -> list[Recorded]:
        """Apply a detection: lines back on the page, lines gone (each keeps the last time it
        was seen), new occurrences; the page's lines are all seen now (``present_seen``)."""
        stamp = utc(now)
        self._staged_present[source_id] = frozenset(detection.page_keys)
        if detection.back:
            # Only a line that was gone needs its row changed: a present line's last_seen is
            # the source's present_seen, moved below.
            for chunk in _chunks(list(detection.back), 500):
                marks = ",".join("?" * len(chunk))
                self.conn.execute(
                    "UPDATE items SET last_seen = ?, gone_since = NULL WHERE id IN ("
                    f"SELECT max(id) FROM items WHERE source = ? AND key IN ({marks}) "
                    "GROUP BY key) AND gone_since IS NOT NULL",
                    (stamp, source_id, *chunk),
                )
        if detection.gone:
            # A line that left was last seen when the page's lines last were.
            for chunk in _chunks(list(detection.gone), 500):
                marks = ",".join("?" * len(chunk))
                self.conn.execute(
                    "UPDATE items SET gone_since = ?, last_seen = max(last_seen, coalesce("
                    "(SELECT present_seen FROM sources WHERE id = items.source), last_seen)) "
                    f"WHERE source = ? AND gone_since IS NULL AND key IN ({marks})",
                    (stamp, source_id, *chunk),
                )
        self.conn.execute(_MOVE_PRESENT_SEEN, (source_id, stamp))
        # A line back after a long absence gets a new row; its earlier occurrence stays closed.
        # One statement for all the new rows, their ids given as SQLite would give them (this
        # transaction holds the write lock): each statement is a trip through the GIL, which
        # the event loop's thread wants too.
        out: list[Recorded] = []
        if not detection.new:
            return out
        (next_id,) = self.conn.execute("SELECT coalesce(max(id), 0) + 1 FROM items").fetchone()
        # 100 rows of 9 values stay under the 999 variables an SQLite before 3.32 allows.
        for chunk in _chunks(list(detection.new), 100):
            rows: list[object] = []
            for item in chunk:
                kind = item.kind  # BASELINE for a baseline's lines (ticker.decide)
                update_of = None if item.update_of is None else item.update_of.id
                rows += (next_id, source_id, item.key, item.text, item.link, kind.value)
                rows += (update_of, stamp, stamp)
                out.append(Recorded(id=next_id, item=item, first_seen=now))
                next_id += 1
            self.conn.execute(
                "INSERT INTO items (id, source, key, text, link, kind, update_of, first_seen, "
                "last_seen) VALUES " + ",".join(["(?, ?, ?, ?, ?, ?, ?, ?, ?)"] * len(chunk)),
                rows,
            )
        return out

    def history(
        self,
        *,
        sources: Sequence[str] = (),
        since: datetime | None = None,
        until: datetime | None = None,
        grep: re.Pattern[str] | None = None,
        limit: int | None = None,
        newest_first: bool = False,
        before_id: int | None = None,
        include_baseline: bool = True,
    ) -> Iterator[RecordedItem]:
        """Recorded items in first-seen order (or newest first), filtered; ``before_id`` pages
        back through a newest-first listing."""
        sql, args = history_query(
            sources=sources,
            since=since,
            until=until,
            newest_first=newest_first,
            before_id=before_id,
            include_baseline=include_baseline,
            stories=self.schema_version >= STORIES_SCHEMA,
            present_seen=self.schema_version >= PRESENT_SEEN_SCHEMA,
        )
        if limit is not None and limit <= 0:
            return
        count = 0
        for row in self.conn.execute(sql, args):
            if grep is not None and not grep.search(row["text"]):
                continue
            yield recorded_item(row)
            count += 1
            if limit is not None and count >= limit:
                return

    def timeline(self, *, since: datetime) -> list[tuple[str, str, int]]:
        """(source, hour "YYYY-MM-DDTHH", count) of items first seen since ``since``, baselines
        excluded: what broke, hour by hour."""
        return timeline(self.conn, since=since)


def history_query(
    *,
    sources: Sequence[str] = (),
    since: datetime | None = None,
    until: datetime | None = None,
    newest_first: bool = False,
    before_id: int | None = None,
    include_baseline: bool = True,
    stories: bool = True,
    present_seen: bool = True,
) -> tuple[str, list[object]]:
    """The SQL of a history listing and its arguments (rows for :func:`recorded_item`).
    ``stories=False`` (``present_seen=False``) for a file of a schema before stories (before
    ``sources.present_seen``), read as it is (read-only)."""
    where: list[str] = []
    args: list[object] = []
    if before_id is not None:
        where.append("i.id < ?")
        args.append(before_id)
    if not include_baseline:
        where.append("i.kind != 'baseline'")
    if sources:
        where.append(f"i.source IN ({','.join('?' * len(sources))})")
        args.extend(sources)
    if since is not None:
        where.append("i.first_seen >= ?")
        args.append(utc(since))
    if until is not None:
        where.append("i.first_seen < ?")
        args.append(utc(until))
    story_columns = (
        "m.text AS story_of_text FROM items i LEFT JOIN items m ON m.id = i.story_of"
        if stories
        else "NULL AS story, NULL AS story_score, NULL AS story_of_text FROM items i"
    )
    seen_column, seen_join = (
        ("s.present_seen AS present_seen", " LEFT JOIN sources s ON s.id = i.source")
        if present_seen
        else ("NULL AS present_seen", "")
    )
    sql = (
        f"SELECT i.*, u.text AS update_of_text, {seen_column}, {story_columns} "
        "LEFT JOIN items u ON u.id = i.update_of"
        + seen_join
        + (f" WHERE {' AND '.join(where)}" if where else "")
        + (
            " ORDER BY i.first_seen DESC, i.id DESC"
            if newest_first
            else " ORDER BY i.first_seen ASC, i.id ASC"
        )
    )
    return sql, args


def recorded_item(row: sqlite3.Row) -> RecordedItem:
    return RecordedItem(
        id=row["id"],
        source_id=row["source"],
        text=row["text"],
        link=row["link"],
        first_seen=parse_utc(row["first_seen"]),
        last_seen=parse_utc(last_seen(row, row["present_seen"])),
        kind=ItemKind(row["kind"]),
        update_of_text=row["update_of_text"],
        first_delivered=opt_utc(row["first_delivered"]),
        story=row["story"],
        story_of_text=row["story_of_text"],
        story_score=row["story_score"],
    )


def timeline(conn: sqlite3.Connection, *, since: datetime) -> list[tuple[str, str, int]]:
    """(source, hour "YYYY-MM-DDTHH", count) of items first seen since ``since``, baselines
    excluded: what broke, hour by hour."""
    rows = conn.execute(
        "SELECT source, substr(first_seen, 1, 13) AS hour, count(*) FROM items "
        "WHERE first_seen >= ? AND kind != 'baseline' GROUP BY source, hour",
        (utc(since),),
    )
    return [(r[0], r[1], int(r[2])) for r in rows]


def _chunks(seq: list[Any], size: int) -> Iterator[list[Any]]:
    for i in range(0, len(seq), size):
        yield seq[i : i + size]


def last_seen(row: sqlite3.Row, present_seen: str | None) -> str:
    """An item row's last_seen: a line still on the page was seen when its source's present
    lines last were (``sources.present_seen``), if that is later than its own."""
    own: str = row["last_seen"]
    if row["gone_since"] is None and present_seen is not None and present_seen > own:
        return present_seen  # fixed-width UTC text: text order is time order
    return own


def _known(row: sqlite3.Row, present_seen: str | None) -> KnownItem:
    return KnownItem(
        id=row["id"],
        key=row["key"],
        text=row["text"],
        link=row["link"],
        first_seen=parse_utc(row["first_seen"]),
        last_seen=parse_utc(last_seen(row, present_seen)),
        gone_since=opt_utc(row["gone_since"]),
    )


# The row exists once the source has been polled; before (a first page), it is made here and
# its state written right after, in the same transaction.
_MOVE_PRESENT_SEEN = """
    INSERT INTO sources (id, present_seen) VALUES (?, ?)
    ON CONFLICT (id) DO UPDATE SET present_seen = excluded.present_seen
"""
