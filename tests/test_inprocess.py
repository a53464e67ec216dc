"""The pipeline, detection and delivery in-process, on the ports' twins (ticker.memory).

``poll_source`` and the ``Sender`` run against a ``MemoryStore``, a ``ScriptedFetcher`` and a
``RecordingNotifier``: no server, no file, no process. The contract test at the end runs one
scenario against the ``MemoryStore`` and the real ``SqliteStore`` and compares every answer, so
the twin cannot drift from the store it stands in for. What only a process shows (signals,
systemd, crash drills, the browser) stays in the subprocess tests.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sinks import async_wait_for

from ticker.alerting.planner import AlertPlanner
from ticker.alerting.sender import DeliveryPolicy, Sender
from ticker.config import Config, SourceConfig, parse_config
from ticker.decide import Validators, decide, gone_after
from ticker.errors import FetchError
from ticker.memory import NOT_MODIFIED, MemoryStore, Page, RecordingNotifier, ScriptedFetcher
from ticker.model import ItemKind, OutgoingMessage, PageItem, SendResult
from ticker.normalize import item_key
from ticker.pipeline import PollOutcome, crash_message, poll_source
from ticker.ports import StateStore
from ticker.store import SqliteStore

T0 = datetime(2026, 1, 1, 12, tzinfo=UTC)
URL_A = "https://a.example/news"
URL_B = "https://b.example/news"

SOLDIERS_4 = "Israeli media: 4 Israeli soldiers killed in the Gaza Strip"
SOLDIERS_5 = "Israeli media: 5 Israeli soldiers killed in the Gaza Strip"
SIRENS = "Sirens sound in the Upper Galilee"
FENCE = "Al Mayadeen's correspondent in South Lebanon: An Israeli force breaches the fence"
TOLL = "Gaza Ministry of Health: The death toll from the aggression rises to 40,005 martyrs"

CONFIG = f"""
[service]
state = "state.db"
[[sources]]
id = "a"
url = "{URL_A}"
items = "css:li"
realert_after = "1h"
[[sources]]
id = "b"
url = "{URL_B}"
items = "css:li"
realert_after = "1h"
[[channels]]
id = "desk"
urls = ["json://127.0.0.1:9/"]
"""

FAST = DeliveryPolicy(give_up_after=3600.0, max_strikes=3, backoff_base=0.01, backoff_cap=0.05)


class Clock:
    """The pipeline's and the sender's clock, moved by the test."""

    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def page(*lines: str, nonce: str = "") -> str:
    """A ticker page; ``nonce`` changes the body (an ad, a token) but not the lines."""
    items = "".join(f"<li>{line}</li>" for line in lines)
    return f"<html><body><!--{nonce}--><ul>{items}</ul></body></html>"


@pytest.fixture(scope="module")
def config() -> Config:
    return parse_config(CONFIG, path=Path("/nonexistent/ticker.toml"), env={})


class Rig:
    """One source's polls on the twins, with the planner queueing its alerts."""

    def __init__(self, config: Config, store: StateStore | None = None) -> None:
        self.config = config
        self.store: StateStore = store if store is not None else MemoryStore()
        self.fetcher = ScriptedFetcher()
        self.notifier = RecordingNotifier.for_channels("desk")
        self.planner = AlertPlanner(config, self.notifier.by_channel)
        self.clock = Clock()

    def source(self, source_id: str = "a") -> SourceConfig:
        return next(s for s in self.config.sources if s.id == source_id)

    async def poll(self, source_id: str = "a", *answers: Page | Exception | str) -> PollOutcome:
        source = self.source(source_id)
        if answers:
            self.fetcher.script(source.url, *answers)
        return await poll_source(
            source, fetcher=self.fetcher, store=self.store, planner=self.planner, clock=self.clock
        )

    async def pending(self) -> int:
        count, _ = await self.store.run(self.store.outbox_stats)
        return count


def texts(outcome: PollOutcome) -> list[tuple[ItemKind, str]]:
    return [(r.item.kind, r.item.text) for r in outcome.new]


# -- the pipeline ----------------------------------------------------------------------------


async def test_the_first_poll_is_a_baseline_recorded_and_never_alerted(config: Config) -> None:
    rig = Rig(config)
    outcome = await rig.poll("a", page(SIRENS, FENCE))
    assert (outcome.status, outcome.baseline, outcome.items, outcome.new) == ("ok", True, 2, ())
    state = rig.store.source_state("a")
    assert state.baseline_done
    assert state.last_success == T0
    assert await rig.pending() == 0
    present = rig.store.present_keys("a")
    assert present is not None
    assert present[0] == {item_key(SIRENS), item_key(FENCE)}


async def test_a_new_line_is_recorded_and_queued_once(config: Config) -> None:
    rig = Rig(config)
    await rig.poll("a", page(SIRENS, FENCE))
    rig.clock.advance(minutes=1)
    outcome = await rig.poll("a", page(TOLL, SIRENS, FENCE))
    assert texts(outcome) == [(ItemKind.NEW, TOLL)]
    assert await rig.pending() == 1
    rig.clock.advance(minutes=1)
    again = await rig.poll("a", page(SIRENS, TOLL, FENCE, nonce="reordered"))
    assert again.status == "ok"
    assert again.new == ()
    assert await rig.pending() == 1


async def test_a_304_moves_the_state_on_and_reads_nothing(config: Config) -> None:
    rig = Rig(config)
    await rig.poll("a", Page(body=page(SIRENS).encode(), etag='"v1"'), NOT_MODIFIED)
    rig.clock.advance(minutes=1)
    outcome = await rig.poll("a")
    assert (outcome.status, outcome.new) == ("not_modified", ())
    assert rig.fetcher.requests[-1].etag == '"v1"'  # a conditional GET
    state = rig.store.source_state("a")
    assert state.etag == '"v1"'
    assert state.last_success == T0 + timedelta(minutes=1)
    inputs = rig.store.detection_inputs("a", [item_key(SIRENS)], gone_after=T0)
    assert inputs.known[item_key(SIRENS)].last_seen == rig.clock.now  # still on the page


async def test_an_identical_body_is_not_read_again(config: Config) -> None:
    rig = Rig(config)
    first = await rig.poll("a", page(SIRENS, FENCE))
    rig.clock.advance(minutes=1)
    second = await rig.poll("a")
    assert first.status == "ok"
    assert second.status == "unchanged"
    assert rig.fetcher.requests[-1].known_digest == rig.store.source_state("a").body_digest
    assert second.new == ()
    assert await rig.pending() == 0


async def test_errors_are_counted_and_a_success_clears_them(config: Config) -> None:
    rig = Rig(config)
    await rig.poll("a", page(SIRENS))
    error = FetchError("HTTP 503 Service Unavailable", kind="http", status=503, retry_after=30)
    rig.fetcher.script(URL_A, error, error, page(SIRENS, nonce="back"))
    outcomes = [await rig.poll("a") for _ in range(2)]
    assert [(o.status, o.error_kind, o.retry_after) for o in outcomes] == [
        ("error", "http", 30),
        ("error", "http", 30),
    ]
    state = rig.store.source_state("a")
    assert state.consecutive_failures == 2
    assert state.last_error == "HTTP 503 Service Unavailable"
    assert state.last_success == T0
    ok = await rig.poll("a")
    assert ok.status == "ok"
    assert rig.store.source_state("a").consecutive_failures == 0


async def test_an_edited_line_is_one_update(config: Config) -> None:
    rig = Rig(config)
    await rig.poll("a", page(SOLDIERS_4, SIRENS))
    rig.clock.advance(minutes=2)
    outcome = await rig.poll("a", page(SOLDIERS_5, SIRENS))
    assert texts(outcome) == [(ItemKind.UPDATE, SOLDIERS_5)]
    update_of = outcome.new[0].item.update_of
    assert update_of is not None
    assert update_of.text == SOLDIERS_4


async def test_a_line_back_after_realert_after_is_a_return_and_within_it_nothing(
    config: Config,
) -> None:
    rig = Rig(config)
    await rig.poll("a", page(SIRENS, FENCE))
    rig.clock.advance(minutes=1)
    await rig.poll("a", page(FENCE))  # SIRENS leaves
    rig.clock.advance(minutes=30)
    assert (await rig.poll("a", page(SIRENS, FENCE))).new == ()  # back within the hour
    rig.clock.advance(minutes=1)
    await rig.poll("a", page(FENCE))  # leaves again
    rig.clock.advance(hours=2)
    outcome = await rig.poll("a", page(SIRENS, FENCE))
    assert texts(outcome) == [(ItemKind.RETURN, SIRENS)]


async def test_a_crash_is_a_failure_of_its_source_only(config: Config) -> None:
    rig = Rig(config)
    rig.fetcher.script(URL_A, RuntimeError("bug at https://user:secret@a.example/"))
    rig.fetcher.script(URL_B, page(SIRENS))
    crashed, fine = await asyncio.gather(rig.poll("a"), rig.poll("b"))
    assert (crashed.status, crashed.error_kind) == ("error", "crash")
    assert crashed.error == crash_message(RuntimeError())
    assert "secret" not in crashed.error
    assert fine.status == "ok"
    assert fine.baseline
    a, b = rig.store.source_state("a"), rig.store.source_state("b")
    assert (a.consecutive_failures, a.last_error, a.baseline_done) == (1, crashed.error, False)
    assert (b.consecutive_failures, b.baseline_done) == (0, True)


# -- delivery --------------------------------------------------------------------------------


@asynccontextmanager
async def sending(rig: Rig, *, clock: Callable[[], datetime]) -> AsyncIterator[Sender]:
    sender = Sender(rig.store, rig.notifier, policy=FAST, clock=clock)
    stop = asyncio.Event()
    task = asyncio.create_task(sender.run(stop, tick=0.01))
    try:
        yield sender
    finally:
        stop.set()
        await task
        await sender.wait_in_flight(5)
        sender.close()


async def queue(rig: Rig, body: str) -> None:
    targets = rig.notifier.by_channel["desk"]
    message = OutgoingMessage(channel="desk", kind="item", title="t", body=body, targets=targets)

    def write() -> None:
        with rig.store.transaction():
            rig.store.queue_messages([message], now=datetime.now(UTC))

    await rig.store.run(write)


async def test_a_new_line_reaches_the_notifier_once(config: Config) -> None:
    rig = Rig(config)
    await rig.poll("a", page(SIRENS))
    sender = Sender(rig.store, rig.notifier, policy=FAST, clock=rig.clock)
    try:
        for nonce in ("new", "again", "same lines, another body"):
            rig.clock.advance(minutes=1)
            await rig.poll("a", page(TOLL, SIRENS, nonce=nonce))
            assert await sender.drain(deadline=time.monotonic() + 5) == 0
    finally:
        sender.close()
    assert len(rig.notifier.calls) == 1
    assert TOLL in rig.notifier.sent[0].body
    assert isinstance(rig.store, MemoryStore)
    (row,) = rig.store.deliveries(states=("sent",))
    assert rig.store.first_delivered(row.item_ids[0]) == rig.clock.now - timedelta(minutes=2)


async def test_a_failed_send_is_retried_until_it_goes_through(config: Config) -> None:
    rig = Rig(config)
    down = SendResult(ok=False, error="HTTP 500", status=500)
    rig.notifier.fail("desk-0", down, down)
    await queue(rig, "sirens")
    async with sending(rig, clock=lambda: datetime.now(UTC)):
        assert await async_wait_for(lambda: len(rig.notifier.sent) == 1)
    assert [c.result.ok for c in rig.notifier.calls] == [False, False, True]
    assert isinstance(rig.store, MemoryStore)
    (row,) = rig.store.deliveries(states=("pending", "sent", "dead"))
    assert (row.state, row.attempts, row.strikes) == ("sent", 3, 0)


async def test_retry_after_holds_the_url_for_the_time_asked(config: Config) -> None:
    rig = Rig(config)
    slow_down = SendResult(ok=False, error="slow down", status=429, retry_after=0.4)
    rig.notifier.fail("desk-0", slow_down)
    await queue(rig, "first")
    async with sending(rig, clock=lambda: datetime.now(UTC)) as sender:
        assert await async_wait_for(lambda: len(rig.notifier.calls) == 1)
        await queue(rig, "second")  # another row: the URL is held for it too
        sender.wake()
        assert await async_wait_for(lambda: len(rig.notifier.sent) == 2)
    refused, *after = rig.notifier.calls
    assert sorted(c.body for c in after) == ["first", "second"]
    # Nothing went to the URL before the 0.4 s it asked for (a lower bound: never flaky).
    assert min(c.at for c in after) - refused.at >= 0.4
    assert isinstance(rig.store, MemoryStore)
    first = rig.store.delivery(1)
    assert first is not None
    assert (first.state, first.attempts, first.strikes) == ("sent", 2, 0)


# -- the contract: the twin answers as the real store does -----------------------------------


async def scenario(store: MemoryStore | SqliteStore, config: Config) -> list[object]:
    """Polls of every kind, a failed transaction, and the outbox's every move; returns all the
    store answered, to compare across implementations."""
    rig = Rig(config, store)
    trace: list[object] = []
    keys = [item_key(t) for t in (SOLDIERS_4, SOLDIERS_5, SIRENS, FENCE, TOLL)]

    async def look() -> list[object]:
        await store.run(store.flush)  # the real store's deferred writes, written now
        present = store.present_keys("a")
        inputs = await store.run(store.detection_inputs, "a", keys, gone_after=T0)
        return [
            await store.run(store.source_state, "a"),
            await store.run(store.source_state, "b"),
            None if present is None else sorted(present[0]),
            inputs.known,
            sorted(inputs.present),
            inputs.recently_gone,
            await store.run(store.outbox_stats),
            await store.run(store.deliveries, states=("pending", "sent", "dead")),
        ]

    async def poll(source_id: str, *answers: Page | Exception | str) -> None:
        rig.clock.advance(minutes=1)
        o = await rig.poll(source_id, *answers)
        trace.append([o.status, o.baseline, o.error, o.error_kind, o.new, *await look()])

    await poll("a", Page(body=page(SOLDIERS_4, SIRENS, FENCE).encode(), etag='"v1"'))
    await poll("a", page(TOLL, SOLDIERS_4, SIRENS, FENCE))
    await poll("a", NOT_MODIFIED)
    await poll("a", page(TOLL, SOLDIERS_4, SIRENS, FENCE))  # the same body
    await poll("a", FetchError("HTTP 502 Bad Gateway", kind="http", status=502))
    await poll("a", page(TOLL, SOLDIERS_5, SIRENS, FENCE))  # an edit
    await poll("a", page(TOLL, SOLDIERS_5, FENCE))  # SIRENS leaves
    rig.clock.advance(hours=2)
    await poll("a", page(TOLL, SOLDIERS_5, SIRENS, FENCE))  # and returns
    await poll("b", ValueError("a bug"))
    await poll("b", page(SIRENS))

    # A failed transaction leaves nothing: rows, outbox, state and caches as they were.
    before = await look()
    now = rig.clock()
    state = await store.run(store.source_state, "a")
    doomed_message = OutgoingMessage(
        channel="desk", kind="item", title="t", body="doomed", targets=[("desk-0", "desk#0")]
    )

    def fail() -> None:
        with store.transaction():
            inputs = store.detection_inputs("a", ["doomed"], gone_after=gone_after(now, WINDOW))
            decision = decide(
                page={"doomed": PageItem(text="doomed")},
                inputs=inputs,
                state=state,
                validators=Validators(),
                now=now,
                realert_after=WINDOW,
            )
            store.record_detection("a", decision.detection, now=now)
            store.queue_messages([doomed_message], now=now)
            store.save_source_state(decision.state)
            raise RuntimeError("doomed")

    with pytest.raises(RuntimeError, match="doomed"):
        await store.write(fail)
    assert await look() == before
    trace.append(before)

    # The outbox: every move the sender makes.
    two = [("desk-0", "desk#0"), ("desk-1", "desk#1")]
    extra = [
        OutgoingMessage(
            channel="desk", kind="health", title="h", body=f"b{i}", targets=two, source=None
        )
        for i in range(2)
    ]
    later = now + timedelta(minutes=5)

    def moves() -> list[object]:
        with store.transaction():
            out: list[object] = [store.queue_messages(extra, now=later)]
            out.append(store.due_deliveries(now=later))
            store.mark_failed(1, error="HTTP 500", next_attempt=later + timedelta(minutes=1))
            out.append(store.add_strike(2, next_attempt=later + timedelta(seconds=5)))
            out.append(store.add_strike(2, next_attempt=later + timedelta(seconds=9)))
            out.append(store.add_strike(999, next_attempt=later))
            store.mark_dead(2, now=later, reason="2 strikes")
            store.mark_dead(1, now=later, reason="given up")
            store.mark_failed(1, error="after death", next_attempt=later)  # dead: unchanged
            store.mark_sent(3, now=later, item_ids=[4, 5])
            store.mark_sent(4, now=later + timedelta(seconds=1), item_ids=[4])  # kept first
        out.append(store.due_deliveries(now=later + timedelta(minutes=2)))
        out.append(store.due_deliveries(now=later, limit=1))
        out.append(store.delivery(3))
        out.append(store.delivery(999))
        out.append(store.expired_deliveries(created_before=later))
        out.append(store.expired_deliveries(created_before=later + timedelta(seconds=1)))
        return out

    trace.append(await store.run(moves))
    trace.append(await look())
    trace.append([await first_delivered(store, i) for i in range(1, 8)])
    return trace


WINDOW = timedelta(hours=1)


async def first_delivered(store: MemoryStore | SqliteStore, item_id: int) -> datetime | None:
    if isinstance(store, MemoryStore):
        return store.first_delivered(item_id)
    rows = await store.run(lambda: list(store.history()))
    return next(r.first_delivered for r in rows if r.id == item_id)


async def test_the_memory_store_answers_as_the_sqlite_store_does(
    tmp_path: Path, config: Config
) -> None:
    memory = await scenario(MemoryStore(), config)
    sqlite = SqliteStore.open(tmp_path / "state.db")
    try:
        real = await scenario(sqlite, config)
    finally:
        sqlite.close()
    assert len(memory) == len(real)
    for step, (twin, truth) in enumerate(zip(memory, real, strict=True)):
        assert twin == truth, f"step {step}"
