"""The sender: drains the outbox, one send in flight per URL, paced, with a breaker per URL.

- One send in flight per URL: at most one send in flight per target (apprise URL); a send that does
  not answer in time is "unknown" and retried (at-least-once), but only after ``unknown_wait`` (it
  may have arrived: 'bounded duplicates'), and its target stays busy until its thread returns, so a
  hanging channel ties up one thread of our own pool, never the others' (channel isolation).
- Circuit breaker: a failing target is probed once per backoff window (exponential, jittered,
  capped) instead of every row being retried; a ``Retry-After`` lengthens the window to the time
  asked. A failed row waits at least that window and its own backoff, and the probe that ends the
  window is another row when one is due: one stuck message never holds up the rest of its channel.
- Dead letters: a row is charged a strike only when its target otherwise succeeds (the probe after
  its failure went through); after ``max_strikes`` strikes, or ``give_up_after``, it is dead.
- Pacing: our pacing per target replaces apprise's per-plugin sleeps; a 429 slows the target down.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import structlog

from ticker.errors import StoreError
from ticker.model import Delivery, OutgoingMessage, SendResult
from ticker.ports import Notifier, StateStore

log = structlog.get_logger("ticker.deliver")  # the name logs have always carried

Clock = Callable[[], datetime]


@dataclass(frozen=True, slots=True, kw_only=True)
class DeliveryPolicy:
    give_up_after: float = 24 * 3600.0
    max_strikes: int = 5
    backoff_base: float = 2.0
    backoff_cap: float = 600.0
    send_timeout: float = 30.0
    unknown_wait: float = 300.0  # a row whose send timed out (may have arrived) waits this long


@dataclass(slots=True)
class _TargetState:
    busy: bool = False
    failures: int = 0
    open_until: float = 0.0  # monotonic time before which the breaker stays open
    next_send: float = 0.0  # pacing: monotonic time of the next allowed send
    suspect: int | None = None  # a row the channel rejected (4xx): a strike if others pass
    message_fault: bool = False  # the last failure was a rejection of one message
    slow: float = 1.0  # pacing multiplier raised by 429s
    last_failed: int | None = None  # the row whose failure opened the breaker: probe another


@dataclass(frozen=True, slots=True, kw_only=True)
class Dead:
    """A delivery given up: the health alert names it."""

    delivery: Delivery
    reason: str


@dataclass(slots=True)
class SenderStats:
    sent: int = 0
    failed: int = 0
    timed_out: int = 0  # unknown outcomes, apart from plain failures
    dead: int = 0
    latencies: list[float] = field(default_factory=list)


def message_fault(result: SendResult) -> bool:
    """A failure that says "this message", not "this channel": a 4xx other than 408 and 429."""
    return (
        result.status is not None and 400 <= result.status < 500 and result.status not in (408, 429)
    )


def backoff(failures: int, policy: DeliveryPolicy, rng: random.Random) -> float:
    """Seconds before the next probe of a target that failed ``failures`` times in a row."""
    raw = min(policy.backoff_cap, policy.backoff_base * 2.0 ** max(failures - 1, 0))
    return raw * (0.5 + rng.random() / 2)  # full jitter would allow ~0 s: keep half the window


class Sender:
    """Delivers due outbox rows. ``wake()`` after queueing; ``run()`` until stopped."""

    def __init__(
        self,
        store: StateStore,
        notifier: Notifier,
        *,
        policy: DeliveryPolicy,
        clock: Clock,
        on_dead: Callable[[Dead], Sequence[OutgoingMessage]] | None = None,
        on_sent: Callable[[Delivery, float | None], None] | None = None,
        on_failed: Callable[[Delivery, SendResult], None] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.store = store
        self.notifier = notifier
        self.policy = policy
        self.clock = clock
        self.on_dead = on_dead
        self.on_sent = on_sent
        self.on_failed = on_failed
        self.rng = rng or random.Random()
        self.stats = SenderStats()
        self._targets: dict[str, _TargetState] = {}
        self._wake = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._next_due = float("inf")
        # Sends that succeeded but could not be recorded (a full disk): never resent meanwhile.
        self._unrecorded: dict[int, tuple[datetime, tuple[int, ...]]] = {}
        # One thread per target at most: a hung send can never starve another channel.
        self._pool = ThreadPoolExecutor(
            max_workers=max(1, len(notifier.targets)), thread_name_prefix="ticker-send"
        )

    def wake(self) -> None:
        self._wake.set()

    def close(self) -> None:
        # Threads stuck in a hung send are not waited for; apprise's own timeouts end them.
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _state(self, key: str) -> _TargetState:
        return self._targets.setdefault(key, _TargetState())

    async def run(self, stop: asyncio.Event, *, tick: float = 1.0) -> None:
        """Deliver until ``stop`` is set; then return without waiting for hung sends."""
        while not stop.is_set():
            try:
                await self.step()
            except StoreError as exc:
                log.error("outbox_read_failed", error=str(exc))
            self._wake.clear()
            # Sleep until woken, or until a target's pacing or backoff ends, whichever is first:
            # a paced burst drains at its pace, not at the tick.
            wait = min(tick, max(0.005, self._next_due - time.monotonic()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=wait)

    async def drain(self, *, deadline: float) -> int:
        """Deliver what can be delivered now (for ``once``); returns rows still pending."""
        while time.monotonic() < deadline:
            started = await self.step()
            if not started and not self._tasks:
                break
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=0.2)
        await self.wait_in_flight(max(0.0, deadline - time.monotonic()))
        count, _ = await self.store.run(self.store.outbox_stats)
        return count

    async def wait_in_flight(self, seconds: float) -> None:
        """Let sends in flight finish, up to ``seconds`` (graceful stop)."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=seconds)

    async def step(self) -> int:
        """One scheduling pass: start at most one send per ready target. Returns how many
        targets are busy or about to send (sending, or waiting only for pacing); targets whose
        breaker is open do not count, so ``drain`` ends when only failing targets are left."""
        now = self.clock()
        self._next_due = float("inf")
        await self._flush_unrecorded()
        await self._expire(now)
        due = [
            r
            for r in await self.store.run(self.store.due_deliveries, now=now)
            if r.id not in self._unrecorded
        ]
        by_target: dict[str, list[Delivery]] = {}
        for row in due:
            by_target.setdefault(row.target, []).append(row)
        started = 0
        mono = time.monotonic()
        for key, rows in by_target.items():
            st = self._state(key)
            if st.busy:
                started += 1
                continue
            fresh = [r for r in rows if r.id not in (st.suspect, st.last_failed)]
            # A breaker opened by one rejected message (a 4xx) lets other messages through:
            # the channel itself may be fine, and a new alert must not wait out the backoff.
            if st.open_until > mono and not (st.message_fault and fresh):
                self._next_due = min(self._next_due, st.open_until)
                continue
            if st.next_send > mono:
                self._next_due = min(self._next_due, st.next_send)
                started += 1  # waiting for pacing, not idle
                continue
            row = fresh[0] if fresh else rows[0]
            self._start(key, st, row)
            started += 1
        return started

    def _start(self, key: str, st: _TargetState, row: Delivery) -> None:
        st.busy = True
        target = self.notifier.targets.get(key)
        pacing = (target.pacing if target else 0.0) * st.slow
        st.next_send = time.monotonic() + pacing
        task = asyncio.create_task(self._send(key, st, row))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send(self, key: str, st: _TargetState, row: Delivery) -> None:
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(
            self._pool,
            lambda: self.notifier.send(key, title=row.title, body=row.body),
        )
        returned = True
        try:
            result = await asyncio.wait_for(
                asyncio.shield(future), timeout=self.policy.send_timeout + 5
            )
        except TimeoutError:
            returned = False
            result = SendResult(
                ok=False, error="no answer in time (outcome unknown)", timed_out=True
            )
        try:
            await self._record(key, st, row, result)
        except StoreError as exc:
            log.error("outbox_write_failed", delivery=row.id, error=str(exc))
        finally:
            # The target stays busy until its outcome is committed (else a pass that read the
            # row as still due would send it again) and until the send's thread has returned
            # (never two sends in flight on one URL).
            if returned:
                self._release(st)
            else:
                future.add_done_callback(lambda _f: self._release(st))

    def _release(self, st: _TargetState) -> None:
        st.busy = False
        self.wake()

    async def _record(self, key: str, st: _TargetState, row: Delivery, result: SendResult) -> None:
        now = self.clock()
        target = self.notifier.targets.get(key)
        label = target.redacted if target else row.target_label
        fields = {"delivery": row.id, "channel": row.channel, "target": label, "kind": row.kind}
        if result.ok:
            suspect = st.suspect if st.suspect != row.id else None
            st.failures, st.open_until, st.suspect, st.message_fault = 0, 0.0, None, False
            st.last_failed = None
            st.slow = max(1.0, st.slow / 2)
            latency = None if row.first_seen is None else (now - row.first_seen).total_seconds()

            def sent() -> int:
                with self.store.transaction():
                    self.store.mark_sent(row.id, now=now, item_ids=row.item_ids)
                    if suspect is None:
                        return 0
                    # Its channel works and it did not: a strike (dead letters), and a later retry.
                    return self.store.add_strike(
                        suspect, next_attempt=now + timedelta(seconds=self._row_delay())
                    )

            try:
                strikes = await self.store.run(sent)
            except StoreError:
                # Delivered, but the state cannot say so yet: remember it, record it later.
                self._unrecorded[row.id] = (now, row.item_ids)
                raise
            self.stats.sent += 1
            if latency is not None:
                self.stats.latencies.append(latency)
            log.info(
                "delivery",
                **fields,
                outcome="sent",
                attempts=row.attempts + 1,
                latency_s=None if latency is None else round(latency, 3),
            )
            if self.on_sent is not None:
                self.on_sent(row, latency)
            if suspect is not None and strikes >= self.policy.max_strikes:
                await self._kill(row_id=suspect, now=now, reason=f"{strikes} strikes")
            return
        st.failures += 1
        if result.status == 429:
            st.slow = min(st.slow * 2, 60.0)
        wait = backoff(st.failures, self.policy, self.rng)
        if result.retry_after is not None:
            wait = max(wait, result.retry_after)  # nothing to this URL before the time it asked
        st.open_until = time.monotonic() + wait
        st.last_failed = row.id
        # The row waits out the window and its own backoff, growing with its attempts: a message
        # that alone keeps failing is retried ever more rarely while the rows behind it flow.
        row_wait = max(wait, backoff(row.attempts + 1, self.policy, self.rng))
        if result.timed_out:
            # It may have arrived (bounded duplicates): wait before sending it again.
            row_wait = max(row_wait, self.policy.unknown_wait)
        # Only a rejection of this message (a 4xx other than 408/429) may make it a suspect,
        # charged a strike if the channel then takes another message. An outage, a timeout or
        # rate limiting is the channel's trouble: it delays messages, never kills them.
        st.message_fault = message_fault(result)
        st.suspect = row.id if st.message_fault else None
        if result.timed_out:
            self.stats.timed_out += 1
        else:
            self.stats.failed += 1

        def failed() -> None:
            with self.store.transaction():
                self.store.mark_failed(
                    row.id,
                    error=result.error or "failed",
                    next_attempt=now + timedelta(seconds=row_wait),
                )

        await self.store.run(failed)
        log.warning(
            "delivery",
            **fields,
            outcome="timeout" if result.timed_out else "failed",
            error=result.error,
            http_status=result.status,
            attempts=row.attempts + 1,
            retry_in_s=round(row_wait, 1),
            target_paused_s=round(wait, 1),
        )
        if self.on_failed is not None:
            self.on_failed(row, result)

    async def _flush_unrecorded(self) -> None:
        if not self._unrecorded:
            return
        pending = dict(self._unrecorded)

        def record() -> None:
            with self.store.transaction():
                for row_id, (when, item_ids) in pending.items():
                    self.store.mark_sent(row_id, now=when, item_ids=item_ids)

        try:
            await self.store.run(record)
        except StoreError:
            return  # still full: they stay remembered, and unsent again
        for row_id in pending:
            self._unrecorded.pop(row_id, None)

    def _row_delay(self) -> float:
        return self.policy.backoff_base * (1 + self.rng.random())

    async def _kill(self, *, row_id: int, now: datetime, reason: str) -> None:
        row = await self.store.run(self.store.delivery, row_id)
        if row is None or row.state != "pending":
            return
        await self._give_up([row], now=now, reason=reason)

    async def _expire(self, now: datetime) -> None:
        cutoff = now - timedelta(seconds=self.policy.give_up_after)
        expired = await self.store.run(self.store.expired_deliveries, created_before=cutoff)
        if expired:
            await self._give_up(expired, now=now, reason="not delivered within give_up_after")

    async def _give_up(self, rows: Sequence[Delivery], *, now: datetime, reason: str) -> None:
        """Mark rows dead and queue their health alerts in the same transaction (dead letters)."""
        alerts: list[OutgoingMessage] = []
        for row in rows:
            if self.on_dead is not None and row.kind != "health":
                alerts.extend(self.on_dead(Dead(delivery=row, reason=reason)))

        def dead() -> None:
            with self.store.transaction():
                for row in rows:
                    self.store.mark_dead(row.id, now=now, reason=reason)
                if alerts:
                    self.store.queue_messages(alerts, now=now)

        await self.store.run(dead)
        for row in rows:
            self.stats.dead += 1
            log.error(
                "delivery_dead",
                delivery=row.id,
                channel=row.channel,
                target=row.target_label,
                reason=reason,
                last_error=row.last_error,
            )
        if alerts:
            self.wake()
