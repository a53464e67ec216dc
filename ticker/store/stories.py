"""Story queries: each line's story, the recent lines a new one may join, and which channels
have been told a story (and the numbers they were told).

Every query is bounded: by the stories window (an index on ``first_seen``), by the handful of
lines one poll records, or by the story ids a poll touches.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime

from ticker.model import StoryLine, StoryLink
from ticker.store.times import parse_utc, utc

#: Facts (numbers) are stored space-separated: a number never holds a space.
_SEP = " "


class StoryQueries:
    """Story queries of :class:`ticker.store.SqliteStore` (same connection, same thread)."""

    conn: sqlite3.Connection

    def story_lines(self, *, since: datetime, limit: int) -> list[StoryLine]:
        """The lines with a story first seen since ``since``, oldest first, the newest
        ``limit`` at most: what the stories window holds after a restart."""
        rows = self.conn.execute(
            "SELECT * FROM (SELECT id, story, source, text, first_seen FROM items "
            "WHERE first_seen >= ? AND story IS NOT NULL ORDER BY first_seen DESC, id DESC "
            "LIMIT ?) ORDER BY first_seen, id",
            (utc(since), limit),
        )
        return [
            StoryLine(
                id=r["id"],
                story=r["story"],
                source_id=r["source"],
                text=r["text"],
                first_seen=parse_utc(r["first_seen"]),
            )
            for r in rows
        ]

    def story_of(self, item_id: int) -> int | None:
        """The story of a recorded line (None: a baseline line, or stories were off)."""
        row = self.conn.execute("SELECT story FROM items WHERE id = ?", (item_id,)).fetchone()
        return None if row is None else row[0]

    def save_story_links(self, links: Iterable[tuple[int, StoryLink]]) -> None:
        """Each (line id, link): the line's story, the line it matched and the score."""
        self.conn.executemany(
            "UPDATE items SET story = ?, story_of = ?, story_score = ? WHERE id = ?",
            [(link.story, link.matched, link.score, item_id) for item_id, link in links],
        )

    def story_channels(self, stories: Sequence[int]) -> dict[int, dict[str, frozenset[str]]]:
        """For each story, the channels told of it and the numbers they were told."""
        out: dict[int, dict[str, frozenset[str]]] = {}
        wanted = sorted(set(stories))
        if not wanted:
            return out
        for i in range(0, len(wanted), 500):
            chunk = wanted[i : i + 500]
            rows = self.conn.execute(
                "SELECT story, channel, facts FROM story_channels "
                f"WHERE story IN ({','.join('?' * len(chunk))})",
                chunk,
            )
            for story, channel, facts in rows:
                out.setdefault(story, {})[channel] = frozenset(facts.split())
        return out

    def add_story_channels(self, told: Mapping[tuple[int, str], frozenset[str]]) -> None:
        """Channels now told of stories, with the numbers in what they were sent (added to
        what they had)."""
        if not told:
            return
        current = self.story_channels([story for story, _ in told])
        self.conn.executemany(
            "INSERT OR REPLACE INTO story_channels (story, channel, facts) VALUES (?, ?, ?)",
            [
                (
                    story,
                    channel,
                    _SEP.join(sorted(facts | current.get(story, {}).get(channel, frozenset()))),
                )
                for (story, channel), facts in told.items()
            ],
        )
