"""MemoryStore: a ``StateStore`` in dicts, for tests and the bench (never ``ticker run``).

The real store's contract, without SQLite: a write's effects are visible once it returns; a failed
transaction (an inner one: a savepoint) leaves nothing, caches included; deferred writes are
written at once. ``tests/test_inprocess.py`` runs one scenario against it and ``SqliteStore``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import ParamSpec, TypeVar

from ticker.decide import RECENTLY_GONE_LIMIT
from ticker.model import (
    Delivery,
    Detection,
    DetectionInputs,
    KnownItem,
    OutgoingMessage,
    Recorded,
    SourceState,
    StoryLine,
    StoryLink,
)

P = ParamSpec("P")
R = TypeVar("R")


@dataclass(frozen=True, slots=True, kw_only=True)
class _Item:
    id: int
    source: str
    known: KnownItem
    kind: str
    first_delivered: datetime | None = None
    story: StoryLink | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class _Tables:
    """Everything a transaction may change, copied on entry and put back on failure."""

    sources: dict[str, SourceState]
    states: dict[str, SourceState]  # what this process knows (the real store's cache)
    items: dict[int, _Item]
    deliveries: dict[int, Delivery]
    staged_present: dict[str, frozenset[str]]
    story_channels: dict[tuple[int, str], frozenset[str]]

    def copy(self) -> _Tables:
        return _Tables(
            sources=dict(self.sources),
            states=dict(self.states),
            items=dict(self.items),
            deliveries=dict(self.deliveries),
            staged_present=dict(self.staged_present),
            story_channels=dict(self.story_channels),
        )


class MemoryStore:
    """A ``StateStore`` in memory, for tests: the pipeline's and the sender's queries on dicts."""

    def __init__(self) -> None:
        self._t = _Tables(
            sources={}, states={}, items={}, deliveries={}, staged_present={}, story_channels={}
        )
        self._present: dict[str, tuple[frozenset[str], float]] = {}
        self._whole_read: dict[str, float] = {}
        self._next_message = 1
        self._depth = 0

    async def run(self, fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        await asyncio.sleep(0)  # a suspension point, as the trip to the real store's thread
        return fn(*args, **kwargs)

    async def write(self, fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        return await self.run(fn, *args, **kwargs)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """All or nothing; nested, an inner one is a savepoint of the outer."""
        saved, message = self._t.copy(), self._next_message
        self._depth += 1
        try:
            yield
        except BaseException:
            self._t, self._next_message = saved, message
            raise
        finally:
            self._depth -= 1
        if self._depth == 0:
            self._publish()

    def _publish(self) -> None:
        self._present.update((k, (v, 0.0)) for k, v in self._t.staged_present.items())
        self._t.staged_present.clear()

    # -- a source's state ------------------------------------------------------------------

    def cached_state(self, source_id: str) -> SourceState | None:
        return self._t.states.get(source_id)

    def source_state(self, source_id: str) -> SourceState:
        state = self._t.states.get(source_id) or self._t.sources.get(source_id)
        if state is None:
            state = SourceState(source_id=source_id)
        self._t.states[source_id] = state
        return state

    def source_states(self) -> list[SourceState]:
        return [self._t.sources[k] for k in sorted(self._t.sources)]

    def save_source_state(self, state: SourceState) -> None:
        self._t.sources[state.source_id] = state
        self._t.states[state.source_id] = state

    def defer_state(self, state: SourceState, *, seen_at: datetime | None = None) -> None:
        """Written at once (the real store's flush, FLUSH_AFTER later, with no delay)."""
        self.save_source_state(state)
        if seen_at is not None:
            for row in self._rows(state.source_id):
                if row.known.gone_since is None:
                    self._put(row, last_seen=seen_at)

    def flush(self) -> None:
        """Nothing deferred is ever left (see :meth:`defer_state`)."""

    def present_keys(self, source_id: str) -> tuple[frozenset[str], float] | None:
        return self._present.get(source_id)

    def confirm_present(self, source_id: str, keys: frozenset[str]) -> None:
        known = self._present.get(source_id)
        if known is not None and known[0] == keys:
            self._present[source_id] = (keys, time.monotonic())

    def note_whole_read(self, source_id: str) -> None:
        self._whole_read[source_id] = time.monotonic()

    def whole_read_at(self, source_id: str) -> float:
        return self._whole_read.get(source_id, float("-inf"))

    # -- items -----------------------------------------------------------------------------

    def _rows(self, source_id: str) -> list[_Item]:
        return [r for r in self._t.items.values() if r.source == source_id]

    def _put(self, row: _Item, **known: object) -> None:
        self._t.items[row.id] = replace(row, known=replace(row.known, **known))  # type: ignore[arg-type]

    def _latest(self, source_id: str) -> dict[str, _Item]:
        latest: dict[str, _Item] = {}
        for row in self._rows(source_id):  # in id order: the latest occurrence wins
            latest[row.known.key] = row
        return latest

    def detection_inputs(
        self,
        source_id: str,
        keys: Sequence[str],
        *,
        gone_after: datetime,
        recent_limit: int = RECENTLY_GONE_LIMIT,
    ) -> DetectionInputs:
        latest = self._latest(source_id)
        known = {k: latest[k].known for k in keys if k in latest}
        page = set(keys)
        rows = self._rows(source_id)
        present = {r.known.key for r in rows if r.known.gone_since is None}
        leaving = [r.known for r in rows if r.known.gone_since is None and r.known.key not in page]
        gone = [
            r for r in rows if r.known.gone_since is not None and r.known.gone_since >= gone_after
        ]
        gone.sort(key=lambda r: (r.known.gone_since, r.id), reverse=True)
        recent = [r.known for r in gone[:recent_limit]]
        return DetectionInputs(known=known, present=present, recently_gone=leaving + recent)

    def record_detection(
        self, source_id: str, detection: Detection, *, now: datetime
    ) -> list[Recorded]:
        self._t.staged_present[source_id] = frozenset(detection.page_keys)
        if self._depth == 0:
            self._publish()
        latest = self._latest(source_id)
        for key in detection.seen:
            if key in latest:
                self._put(latest[key], last_seen=now, gone_since=None)
        gone = set(detection.gone)
        for row in self._rows(source_id):
            if row.known.gone_since is None and row.known.key in gone:
                self._put(row, gone_since=now)
        out: list[Recorded] = []
        next_id = max(self._t.items, default=0) + 1
        for item in detection.new:
            self._t.items[next_id] = _Item(
                id=next_id,
                source=source_id,
                known=KnownItem(
                    id=next_id,
                    key=item.key,
                    text=item.text,
                    link=item.link,
                    first_seen=now,
                    last_seen=now,
                    gone_since=None,
                ),
                kind=item.kind.value,
            )
            out.append(Recorded(id=next_id, item=item, first_seen=now))
            next_id += 1
        return out

    def first_delivered(self, item_id: int) -> datetime | None:
        return self._t.items[item_id].first_delivered

    # -- stories ---------------------------------------------------------------------------

    def story_lines(self, *, since: datetime, limit: int) -> list[StoryLine]:
        rows = [
            r for r in self._t.items.values() if r.story is not None and r.known.first_seen >= since
        ]
        rows.sort(key=lambda r: (r.known.first_seen, r.id))
        return [
            StoryLine(
                id=r.id,
                story=r.story.story,
                source_id=r.source,
                text=r.known.text,
                first_seen=r.known.first_seen,
            )
            for r in rows[-limit:]
            if r.story is not None
        ]

    def story_of(self, item_id: int) -> int | None:
        row = self._t.items.get(item_id)
        return None if row is None or row.story is None else row.story.story

    def save_story_links(self, links: Iterable[tuple[int, StoryLink]]) -> None:
        for item_id, link in links:
            self._t.items[item_id] = replace(self._t.items[item_id], story=link)

    def story_channels(self, stories: Sequence[int]) -> dict[int, dict[str, frozenset[str]]]:
        out: dict[int, dict[str, frozenset[str]]] = {}
        wanted = set(stories)
        for (story, channel), facts in self._t.story_channels.items():
            if story in wanted:
                out.setdefault(story, {})[channel] = facts
        return out

    def add_story_channels(self, told: Mapping[tuple[int, str], frozenset[str]]) -> None:
        for key, facts in told.items():
            self._t.story_channels[key] = facts | self._t.story_channels.get(key, frozenset())

    # -- the outbox ------------------------------------------------------------------------

    def queue_messages(self, messages: Sequence[OutgoingMessage], *, now: datetime) -> int:
        count = 0
        for msg in messages:
            message_id, self._next_message = self._next_message, self._next_message + 1
            for key, label in msg.targets:
                row_id = max(self._t.deliveries, default=0) + 1
                self._t.deliveries[row_id] = Delivery(
                    id=row_id,
                    message_id=message_id,
                    channel=msg.channel,
                    target=key,
                    target_label=label,
                    state="pending",
                    attempts=0,
                    strikes=0,
                    next_attempt=now,
                    created=now,
                    kind=msg.kind,
                    title=msg.title,
                    body=msg.body,
                    source=msg.source,
                    first_seen=msg.first_seen,
                    item_ids=tuple(msg.item_ids),
                )
                count += 1
        return count

    def _where(self, test: Callable[[Delivery], bool]) -> list[Delivery]:
        return [d for _, d in sorted(self._t.deliveries.items()) if test(d)]

    def due_deliveries(self, *, now: datetime, limit: int = 500) -> list[Delivery]:
        return self._where(lambda d: d.state == "pending" and d.next_attempt <= now)[:limit]

    def delivery(self, delivery_id: int) -> Delivery | None:
        return self._t.deliveries.get(delivery_id)

    def deliveries(self, *, states: Sequence[str], limit: int = 1000) -> list[Delivery]:
        return self._where(lambda d: d.state in states)[:limit]

    def expired_deliveries(self, *, created_before: datetime) -> list[Delivery]:
        return self._where(lambda d: d.state == "pending" and d.created < created_before)

    def _update(self, delivery_id: int, *, pending_only: bool = True, **fields: object) -> None:
        row = self._t.deliveries.get(delivery_id)
        if row is not None and (row.state == "pending" or not pending_only):
            self._t.deliveries[delivery_id] = replace(row, **fields)  # type: ignore[arg-type]

    def mark_sent(self, delivery_id: int, *, now: datetime, item_ids: Sequence[int] = ()) -> None:
        row = self._t.deliveries.get(delivery_id)
        if row is not None:  # as the real store: whatever the row's state
            self._update(
                delivery_id,
                pending_only=False,
                state="sent",
                attempts=row.attempts + 1,
                done_at=now,
                last_error=None,
            )
        for item_id in item_ids:
            item = self._t.items.get(item_id)
            if item is not None and item.first_delivered is None:
                self._t.items[item_id] = replace(item, first_delivered=now)

    def mark_failed(
        self, delivery_id: int, *, error: str, next_attempt: datetime, strike: bool = False
    ) -> None:
        row = self._t.deliveries.get(delivery_id)
        if row is not None:
            self._update(
                delivery_id,
                attempts=row.attempts + 1,
                strikes=row.strikes + int(strike),
                last_error=error,
                next_attempt=next_attempt,
            )

    def add_strike(self, delivery_id: int, *, next_attempt: datetime) -> int:
        row = self._t.deliveries.get(delivery_id)
        if row is None:
            return 0
        self._update(delivery_id, strikes=row.strikes + 1, next_attempt=next_attempt)
        return self._t.deliveries[delivery_id].strikes

    def mark_dead(self, delivery_id: int, *, now: datetime, reason: str) -> None:
        row = self._t.deliveries.get(delivery_id)
        if row is not None:
            before = "" if row.last_error is None else row.last_error + "; "
            self._update(delivery_id, state="dead", done_at=now, last_error=before + reason)

    def outbox_stats(self) -> tuple[int, datetime | None]:
        pending = self._where(lambda d: d.state == "pending")
        return len(pending), min((d.created for d in pending), default=None)
