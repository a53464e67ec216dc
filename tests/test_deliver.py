"""The sender (ticker.alerting.sender) against real parts: a SqliteStore in tmp_path, the real
apprise notifier, JSON webhooks to a local sink, e-mail to a local SMTP server.

Backoffs are scaled down (``backoff_base`` 0.05 s) so outages of a fraction of a second show
the breaker's behaviour; assertions count requests and rows rather than timing them exactly.
Channels are paced at 100 ms unless a test is about pacing.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sinks import Hit, SmtpServer, WebhookSink, async_wait_for

from ticker.alerting.sender import Dead, DeliveryPolicy, Sender
from ticker.apprise_channels import AppriseNotifier
from ticker.config import parse_config
from ticker.model import Delivery, OutgoingMessage
from ticker.store import SqliteStore

FAST = DeliveryPolicy(
    give_up_after=3600.0, max_strikes=2, backoff_base=0.05, backoff_cap=0.4, send_timeout=3.0
)


@dataclass
class Rig:
    """A store, a notifier for some channels, and a sender between them."""

    store: SqliteStore
    notifier: AppriseNotifier
    sender: Sender
    dead: list[Dead] = field(default_factory=list)
    now: Callable[[], datetime] = lambda: datetime.now(UTC)

    async def queue(self, channel: str, *bodies: str, title: str = "Al Mayadeen English") -> None:
        targets = [(t.key, t.redacted) for t in self.notifier.by_channel[channel]]
        messages = [
            OutgoingMessage(channel=channel, kind="item", title=title, body=b, targets=targets)
            for b in bodies
        ]

        def write() -> None:
            with self.store.transaction():
                self.store.queue_messages(messages, now=self.now())

        await self.store.run(write)

    async def rows(self, *states: str) -> list[Delivery]:
        return await self.store.run(
            self.store.deliveries, states=states or ("pending", "sent", "dead")
        )

    async def pending(self) -> int:
        count, _ = await self.store.run(self.store.outbox_stats)
        return count


@asynccontextmanager
async def rig(
    tmp_path: Path,
    channels: dict[str, Sequence[str]],
    *,
    min_interval: str = "100ms",
    policy: DeliveryPolicy = FAST,
    clock: Callable[[], datetime] | None = None,
    send_timeout: float = 5.0,
) -> AsyncIterator[Rig]:
    toml = '[service]\nstate = "s.db"\n[[sources]]\nid = "en"\nurl = "https://example.org/"\n'
    toml += 'items = "css:li"\n'
    for cid, urls in channels.items():
        toml += f'[[channels]]\nid = "{cid}"\nurls = {json.dumps(list(urls))}\n'
        toml += f'min_interval = "{min_interval}"\n'
    config = parse_config(toml, path=tmp_path / "t.toml", env={})
    notifier = AppriseNotifier(config.channels, timeout=send_timeout)
    store = SqliteStore.open(tmp_path / "state.db")
    dead: list[Dead] = []
    now = clock or (lambda: datetime.now(UTC))

    def on_dead(d: Dead) -> list[OutgoingMessage]:
        dead.append(d)
        return []  # no health channel here

    sender = Sender(store, notifier, policy=policy, clock=now, on_dead=on_dead)
    try:
        yield Rig(store=store, notifier=notifier, sender=sender, dead=dead, now=now)
    finally:
        await sender.wait_in_flight(5)
        sender.close()
        store.close()


@asynccontextmanager
async def running(sender: Sender) -> AsyncIterator[None]:
    stop = asyncio.Event()
    task = asyncio.create_task(sender.run(stop, tick=0.02))
    try:
        yield
    finally:
        stop.set()
        await task
        await sender.wait_in_flight(5)


def messages_of(hits: Sequence[Hit]) -> list[str]:
    return [h.message for h in hits]


# -- the plain path ------------------------------------------------------------------------------


async def test_drain_delivers_each_row_once_in_order(tmp_path: Path) -> None:
    async with WebhookSink() as sink, rig(tmp_path, {"desk": [sink.url("/desk")]}) as r:
        await r.queue("desk", "one", "two", "three")
        left = await r.sender.drain(deadline=time.monotonic() + 10)
        assert left == 0
        assert messages_of(sink.delivered()) == ["one", "two", "three"]
        assert [h.title for h in sink.delivered()] == ["Al Mayadeen English"] * 3
        rows = await r.rows()
        assert [(row.state, row.attempts) for row in rows] == [("sent", 1)] * 3
        assert len(sink.hits()) == 3


async def test_drain_returns_quickly_leaving_a_failing_channels_rows_pending(
    tmp_path: Path,
) -> None:
    async with WebhookSink(status=500) as sink, rig(tmp_path, {"desk": [sink.url("/d")]}) as r:
        await r.queue("desk", "one", "two")
        started = time.monotonic()
        left = await r.sender.drain(deadline=time.monotonic() + 30)
        assert time.monotonic() - started < 5
        assert left == 2
        assert len(sink.hits()) == 1  # one probe, not one request per row
        assert r.dead == []


async def test_pending_rows_survive_a_new_sender(tmp_path: Path) -> None:
    """A restart: the rows a failing channel left pending go out through the next sender."""
    async with WebhookSink(status=500) as sink:
        async with rig(tmp_path, {"desk": [sink.url("/d")]}) as r:
            await r.queue("desk", "kept")
            assert await r.sender.drain(deadline=time.monotonic() + 5) == 1
        sink.set_status(200)
        await asyncio.sleep(FAST.backoff_base)  # the row's retry time has come
        async with rig(tmp_path, {"desk": [sink.url("/d")]}) as r:
            assert await r.sender.drain(deadline=time.monotonic() + 5) == 0
    assert messages_of(sink.delivered()) == ["kept"]


# -- outages, breaker and isolation (one send in flight per URL, circuit breaker) -----------


async def test_a_channel_down_for_a_while_gets_every_message_exactly_once_after_it_recovers(
    tmp_path: Path,
) -> None:
    bodies = [f"item {n}" for n in range(12)]
    async with WebhookSink(status=500) as sink, rig(tmp_path, {"desk": [sink.url("/d")]}) as r:
        await r.queue("desk", *bodies)
        async with running(r.sender):
            await asyncio.sleep(0.6)
            assert sink.delivered() == []
            assert await r.pending() == 12  # nothing lost while down
            outage_requests = len(sink.hits())
            sink.set_status(200)
            assert await async_wait_for(
                lambda: set(messages_of(sink.delivered())) == set(bodies), within=10
            )
        assert sorted(messages_of(sink.delivered())) == sorted(bodies)  # each exactly once
        # one probe per backoff window, not 12 rows retried on every pass
        assert 2 <= outage_requests <= 8
        assert len(sink.failed()) <= 9
        assert await r.pending() == 0
        assert r.dead == []


async def test_an_outage_charges_no_strikes_to_the_rows_it_held_up(tmp_path: Path) -> None:
    """Dead letters: a strike means "this row fails while its channel works". Rows that failed only
    because the whole channel was down are not the message's fault; were they charged, a
    flapping channel would turn ordinary alerts into dead letters."""
    async with WebhookSink(status=500) as sink, rig(tmp_path, {"desk": [sink.url("/d")]}) as r:
        await r.queue("desk", *(f"item {n}" for n in range(5)))
        async with running(r.sender):
            await asyncio.sleep(0.4)
            sink.set_status(200)
            assert await async_wait_for(lambda: len(sink.delivered()) >= 5, within=10)
        assert [(row.body, row.strikes) for row in await r.rows()] == [
            (f"item {n}", 0) for n in range(5)
        ]


async def test_a_failing_channel_does_not_slow_a_working_one(tmp_path: Path) -> None:
    async with (
        WebhookSink() as sink,
        rig(tmp_path, {"down": [sink.url("/down")], "up": [sink.url("/up")]}) as r,
    ):
        sink.set_status(500, path="/down")
        bodies = [f"item {n}" for n in range(10)]
        await r.queue("down", *bodies)
        await r.queue("up", *bodies)
        started = time.monotonic()
        async with running(r.sender):
            assert await async_wait_for(
                lambda: set(messages_of(sink.delivered("/up"))) == set(bodies), within=10
            )
            elapsed = time.monotonic() - started
        assert messages_of(sink.delivered("/up")) == bodies
        assert elapsed < 3  # ten sends 100 ms apart, whatever the other channel does
        assert len(sink.hits("/down")) <= 6  # probed, not hammered
        assert len(await r.rows("pending")) == 10
        assert r.dead == []


async def test_a_hanging_channel_does_not_delay_another(tmp_path: Path) -> None:
    async with WebhookSink() as sink:
        sink.set_hang(True, path="/hang")
        channels = {"hung": [sink.url("/hang") + "?rto=1"], "ok": [sink.url("/ok")]}
        async with rig(tmp_path, channels, send_timeout=2) as r:
            await r.queue("hung", "stuck 1", "stuck 2")
            await r.queue("ok", "a", "b", "c")
            started = time.monotonic()
            async with running(r.sender):
                assert await async_wait_for(lambda: len(sink.delivered("/ok")) == 3, within=10)
                elapsed = time.monotonic() - started
                assert len(sink.hits("/hang")) == 1  # in flight, and only one
            # delivered while the hanging send still waited for its 1 s read timeout
            assert elapsed < 0.9
            assert messages_of(sink.delivered("/ok")) == ["a", "b", "c"]
            assert not any(row.channel == "hung" for row in await r.rows("sent"))


async def test_many_hanging_urls_do_not_starve_a_healthy_channel(tmp_path: Path) -> None:
    """'channel isolation' with more hung URLs than apprise's shared worker pool has threads (cpus +
    4): each target's send must run in a thread of ticker's own, so none waits behind the hung
    ones."""
    shared_pool = min(32, (os.cpu_count() or 1) + 4)
    count = shared_pool + 2
    async with WebhookSink() as sink:
        hung = [sink.url(f"/hang{n}") + "?rto=2" for n in range(count)]
        sink.set_hang(True)
        channels = {"hung": hung, "ok": [sink.url("/ok")]}
        async with rig(tmp_path, channels, send_timeout=3) as r:
            await r.queue("hung", "stuck")
            async with running(r.sender):
                # every hanging URL has a send in flight (or as many as apprise lets through)
                assert await async_wait_for(lambda: len(sink.hits()) >= shared_pool, within=10)
                await asyncio.sleep(0.1)
                sink.set_hang(False)  # the hung requests stay hung; new ones are answered
                await r.queue("ok", "a")
                r.sender.wake()
                started = time.monotonic()
                assert await async_wait_for(lambda: len(sink.delivered("/ok")) == 1, within=10)
                elapsed = time.monotonic() - started
            assert elapsed < 1.5, f"the healthy channel waited {elapsed:.2f} s"


async def test_at_most_one_send_in_flight_per_url(tmp_path: Path) -> None:
    """Sends take 0.2 s, four times the pacing: the next row waits for the one in flight."""
    expected = {*(f"a{n}" for n in range(4)), *(f"b{n}" for n in range(4))}
    async with WebhookSink(delay=0.2) as sink:
        channels = {"a": [sink.url("/a")], "b": [sink.url("/b")]}
        async with rig(tmp_path, channels, min_interval="50ms") as r:  # pacing < send time
            await r.queue("a", *(f"a{n}" for n in range(4)))
            await r.queue("b", *(f"b{n}" for n in range(4)))
            async with running(r.sender):
                assert await async_wait_for(
                    lambda: set(messages_of(sink.delivered())) == expected, within=10
                )
    assert sink.max_in_flight == {"/a": 1, "/b": 1}
    assert sink.max_in_flight_total == 2  # the two URLs did go in parallel


# -- poison messages and giving up (dead letters) --------------------------------------------------


async def test_a_poison_message_dies_after_max_strikes_while_the_rest_flow(
    tmp_path: Path,
) -> None:
    async with (
        WebhookSink(reject={"POISON": 400}) as sink,
        rig(tmp_path, {"desk": [sink.url("/d")]}) as r,
    ):
        await r.queue("desk", "good 0", "POISON pill", "good 1")
        sent = 2

        async def trickle() -> None:  # a channel that keeps working: new items keep coming
            nonlocal sent
            while not r.dead and sent < 80:
                await asyncio.sleep(0.05)
                await r.queue("desk", f"good {sent}")
                sent += 1

        async with running(r.sender):
            feeder = asyncio.create_task(trickle())
            assert await async_wait_for(lambda: bool(r.dead), within=10)
            await feeder
            assert await async_wait_for(lambda: len(sink.delivered()) >= sent, within=15)
        [dead] = r.dead
        assert dead.delivery.body == "POISON pill"
        assert dead.reason == "2 strikes"
        [row] = await r.rows("dead")
        assert row.body == "POISON pill"
        assert row.strikes == 2
        assert "400" in (row.last_error or "")
        assert sorted(messages_of(sink.delivered())) == sorted(f"good {n}" for n in range(sent))
        assert await r.pending() == 0


async def test_rate_limiting_never_kills_a_message(tmp_path: Path) -> None:
    """A 429 says "slow down", not "this message is bad": rate limits queue, never drop. Here
    the channel's flood control happens to refuse the same message twice (max_strikes = 2)."""
    async with (
        WebhookSink(script={"item 1": [429, 429]}) as sink,
        rig(tmp_path, {"desk": [sink.url("/d")]}) as r,
    ):
        bodies = [f"item {n}" for n in range(8)]
        await r.queue("desk", *bodies)
        async with running(r.sender):
            await async_wait_for(
                lambda: set(messages_of(sink.delivered())) == set(bodies) or bool(r.dead),
                within=10,
            )
        assert [h.status for h in sink.hits() if h.message == "item 1"][:2] == [429, 429]
        assert r.dead == []
        assert sorted(messages_of(sink.delivered())) == sorted(bodies)


async def test_a_row_not_delivered_within_give_up_after_is_dead(tmp_path: Path) -> None:
    clock = [datetime(2026, 11, 27, 10, 0, tzinfo=UTC)]
    async with (
        WebhookSink(status=500) as sink,
        rig(tmp_path, {"desk": [sink.url("/d")]}, clock=lambda: clock[0]) as r,
    ):
        await r.queue("desk", "never made it")
        assert await r.sender.drain(deadline=time.monotonic() + 5) == 1
        assert len(sink.hits()) == 1
        assert r.dead == []

        clock[0] += timedelta(seconds=FAST.give_up_after + 1)
        assert await r.sender.drain(deadline=time.monotonic() + 5) == 0
        [dead] = r.dead
        assert dead.delivery.body == "never made it"
        assert "give_up_after" in dead.reason
        [row] = await r.rows("dead")
        assert "500" in (row.last_error or "")
        assert "give_up_after" in (row.last_error or "")

        sink.set_status(200)
        clock[0] += timedelta(hours=1)
        await r.sender.drain(deadline=time.monotonic() + 5)
        assert len(sink.hits()) == 1  # a dead row is not sent again by itself


# -- pacing --------------------------------------------------------------------------------------


async def test_min_interval_spaces_the_sends_of_a_channel(tmp_path: Path) -> None:
    async with (
        WebhookSink() as sink,
        rig(tmp_path, {"desk": [sink.url("/d")]}, min_interval="250ms") as r,
    ):
        await r.queue("desk", "a", "b", "c", "d")
        async with running(r.sender):
            assert await async_wait_for(lambda: len(sink.delivered()) == 4, within=10)
    starts = [h.started for h in sink.delivered()]
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert messages_of(sink.delivered()) == ["a", "b", "c", "d"]
    assert min(gaps) >= 0.25 * 0.8


async def test_an_email_burst_drains_at_our_pace_not_apprises(tmp_path: Path) -> None:
    """apprise's e-mail plugin sleeps 5.5 s between sends; ticker's own pacing replaces it."""
    with SmtpServer() as smtp:
        async with rig(tmp_path, {"mail": [smtp.url()]}, min_interval="100ms") as r:
            bodies = [f"item {n}" for n in range(4)]
            await r.queue("mail", *bodies)
            started = time.monotonic()
            assert await r.sender.drain(deadline=time.monotonic() + 20) == 0
            elapsed = time.monotonic() - started
    assert [m.body.strip() for m in smtp.messages] == bodies
    assert elapsed < 5.5


async def test_default_pacing_applies_without_min_interval(tmp_path: Path) -> None:
    """Without min_interval a JSON webhook is paced at the fallback rate (0.2 s)."""
    async with WebhookSink() as sink:
        toml = (
            '[service]\nstate = "s.db"\n[[sources]]\nid = "en"\nurl = "https://example.org/"\n'
            f'items = "css:li"\n[[channels]]\nid = "desk"\nurls = ["{sink.url("/d")}"]\n'
        )
        config = parse_config(toml, path=tmp_path / "t.toml", env={})
        notifier = AppriseNotifier(config.channels, timeout=5)
        [target] = notifier.targets.values()
        assert target.pacing == 0.2
        store = SqliteStore.open(tmp_path / "state.db")
        sender = Sender(store, notifier, policy=FAST, clock=lambda: datetime.now(UTC))
        try:
            rows = [
                OutgoingMessage(
                    channel="desk", kind="item", title="t", body=b, targets=[(target.key, "x")]
                )
                for b in ("a", "b", "c")
            ]

            def write() -> None:
                with store.transaction():
                    store.queue_messages(rows, now=datetime.now(UTC))

            await store.run(write)
            assert await sender.drain(deadline=time.monotonic() + 10) == 0
        finally:
            sender.close()
            store.close()
    starts = [h.started for h in sink.delivered()]
    assert len(starts) == 3
    assert starts[-1] - starts[0] >= 2 * 0.2 * 0.8


# -- exactly once per send, without a crash -----------------------------------------------------


@pytest.mark.parametrize(("delay", "min_interval"), [(0.0, "0s"), (0.06, "20ms")])
async def test_a_row_is_sent_once_when_sends_outlast_the_pacing(
    tmp_path: Path, delay: float, min_interval: str
) -> None:
    """'bounded duplicates' allows an extra copy only after a crash or an unknown outcome. A send
    that takes longer than the channel's pacing (a slow SMTP server, min_interval = "0s") must not
    let a scheduling pass that read the outbox before the send was recorded start the row again."""
    rows = 16
    async with WebhookSink(delay=delay) as sink:
        channels = {f"c{n}": [sink.url(f"/c{n}")] for n in range(6)}
        expected = {cid: sorted(f"{cid} item {n:02d}" for n in range(rows)) for cid in channels}
        async with rig(tmp_path, channels, min_interval=min_interval) as r:
            for cid in channels:
                await r.queue(cid, *expected[cid])
            async with running(r.sender):
                assert await async_wait_for(lambda: len(sink.delivered()) >= 6 * rows, within=15)
                await asyncio.sleep(0.3)  # time for any extra copy to arrive
            assert await r.pending() == 0
    for cid in channels:
        got = sorted(messages_of(sink.delivered(f"/{cid}")))
        assert got == expected[cid], f"{cid}: {len(got)} sends for {rows} rows"
