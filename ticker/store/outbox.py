"""The outbox half of the SQLite state: messages and their per-URL deliveries (none lost, one
transaction, one send in flight per URL, circuit breaker, dead letters).

A delivery row is ``pending`` until its URL accepted it (``sent``) or it is given up (``dead``).
Rows are written in the same transaction as the items they alert, so a crash between detection
and sending loses nothing: the row is still pending after the restart.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from datetime import datetime

from ticker.model import Delivery, OutgoingMessage
from ticker.store.times import opt_utc, parse_utc, utc

_SELECT = (
    "SELECT d.*, m.kind, m.title, m.body, m.source, m.first_seen, m.item_ids "
    "FROM deliveries d JOIN messages m ON m.id = d.message"
)


class OutboxMixin:
    """Outbox queries of :class:`ticker.store.SqliteStore` (same connection, same thread)."""

    conn: sqlite3.Connection

    def queue_messages(self, messages: Sequence[OutgoingMessage], *, now: datetime) -> int:
        """Insert messages and one pending delivery per target; call inside a transaction."""
        stamp = utc(now)
        count = 0
        for msg in messages:
            cur = self.conn.execute(
                "INSERT INTO messages (channel, kind, source, title, body, item_ids, first_seen, "
                "created) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    msg.channel,
                    msg.kind,
                    msg.source,
                    msg.title,
                    msg.body,
                    json.dumps(list(msg.item_ids)),
                    None if msg.first_seen is None else utc(msg.first_seen),
                    stamp,
                ),
            )
            self.conn.executemany(
                "INSERT INTO deliveries (message, channel, target, target_label, next_attempt, "
                "created) VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (cur.lastrowid, msg.channel, key, label, stamp, stamp)
                    for key, label in msg.targets
                ],
            )
            count += len(msg.targets)
        return count

    def due_deliveries(self, *, now: datetime, limit: int = 500) -> list[Delivery]:
        """Pending deliveries whose time has come, oldest first."""
        rows = self.conn.execute(
            f"{_SELECT} WHERE d.state = 'pending' AND d.next_attempt <= ? ORDER BY d.id LIMIT ?",
            (utc(now), limit),
        )
        return [_delivery(r) for r in rows]

    def delivery(self, delivery_id: int) -> Delivery | None:
        row = self.conn.execute(f"{_SELECT} WHERE d.id = ?", (delivery_id,)).fetchone()
        return None if row is None else _delivery(row)

    def deliveries(self, *, states: Sequence[str], limit: int = 1000) -> list[Delivery]:
        marks = ",".join("?" * len(states))
        rows = self.conn.execute(
            f"{_SELECT} WHERE d.state IN ({marks}) ORDER BY d.id LIMIT ?", (*states, limit)
        )
        return [_delivery(r) for r in rows]

    def mark_sent(self, delivery_id: int, *, now: datetime, item_ids: Sequence[int] = ()) -> None:
        self.conn.execute(
            "UPDATE deliveries SET state = 'sent', attempts = attempts + 1, done_at = ?, "
            "last_error = NULL WHERE id = ?",
            (utc(now), delivery_id),
        )
        if item_ids:
            marks = ",".join("?" * len(item_ids))
            self.conn.execute(
                f"UPDATE items SET first_delivered = ? WHERE id IN ({marks}) "
                "AND first_delivered IS NULL",
                (utc(now), *item_ids),
            )

    def mark_failed(
        self, delivery_id: int, *, error: str, next_attempt: datetime, strike: bool = False
    ) -> None:
        self.conn.execute(
            "UPDATE deliveries SET attempts = attempts + 1, strikes = strikes + ?, "
            "last_error = ?, next_attempt = ? WHERE id = ? AND state = 'pending'",
            (int(strike), error, utc(next_attempt), delivery_id),
        )

    def add_strike(self, delivery_id: int, *, next_attempt: datetime) -> int:
        """Charge a row a strike (its channel works, it does not); returns its strikes."""
        self.conn.execute(
            "UPDATE deliveries SET strikes = strikes + 1, next_attempt = ? "
            "WHERE id = ? AND state = 'pending'",
            (utc(next_attempt), delivery_id),
        )
        row = self.conn.execute(
            "SELECT strikes FROM deliveries WHERE id = ?", (delivery_id,)
        ).fetchone()
        return 0 if row is None else int(row[0])

    def mark_dead(self, delivery_id: int, *, now: datetime, reason: str) -> None:
        self.conn.execute(
            "UPDATE deliveries SET state = 'dead', done_at = ?, "
            "last_error = coalesce(last_error || '; ', '') || ? WHERE id = ? AND state = 'pending'",
            (utc(now), reason, delivery_id),
        )

    def expired_deliveries(self, *, created_before: datetime) -> list[Delivery]:
        rows = self.conn.execute(
            f"{_SELECT} WHERE d.state = 'pending' AND d.created < ? ORDER BY d.id",
            (utc(created_before),),
        )
        return [_delivery(r) for r in rows]

    def make_due(self, *, now: datetime) -> int:
        """Every pending delivery due now (``once``: the cron schedule is the retry schedule)."""
        cur = self.conn.execute(
            "UPDATE deliveries SET next_attempt = ? WHERE state = 'pending' AND next_attempt > ?",
            (utc(now), utc(now)),
        )
        return cur.rowcount

    def requeue(self, *, dead: bool, now: datetime) -> int:
        """Make pending (or dead, with ``dead``) deliveries due now; returns how many."""
        state = "dead" if dead else "pending"
        cur = self.conn.execute(
            "UPDATE deliveries SET state = 'pending', next_attempt = ?, strikes = 0, "
            "created = CASE WHEN state = 'dead' THEN ? ELSE created END WHERE state = ?",
            (utc(now), utc(now), state),
        )
        return cur.rowcount

    def outbox_stats(self) -> tuple[int, datetime | None]:
        """Pending deliveries and the creation time of the oldest."""
        count, oldest = self.conn.execute(
            "SELECT count(*), min(created) FROM deliveries WHERE state = 'pending'"
        ).fetchone()
        return int(count), opt_utc(oldest)


def _delivery(row: sqlite3.Row) -> Delivery:
    return Delivery(
        id=row["id"],
        message_id=row["message"],
        channel=row["channel"],
        target=row["target"],
        target_label=row["target_label"],
        state=row["state"],
        attempts=row["attempts"],
        strikes=row["strikes"],
        next_attempt=parse_utc(row["next_attempt"]),
        created=parse_utc(row["created"]),
        kind=row["kind"],
        title=row["title"],
        body=row["body"],
        source=row["source"],
        first_seen=opt_utc(row["first_seen"]),
        item_ids=tuple(json.loads(row["item_ids"])),
        last_error=row["last_error"],
        done_at=opt_utc(row["done_at"]),
    )
