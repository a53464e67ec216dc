"""Per-host politeness: a gate of places for one host that a slow request cannot hold."""

from __future__ import annotations

import asyncio
import collections


class _Ticket:
    """One request holding a place at a :class:`HostGate`."""

    __slots__ = ("counted", "slow_at")

    def __init__(self, slow_at: float) -> None:
        self.counted = True
        self.slow_at = slow_at  # the loop's time from which it no longer counts


class HostGate:
    """Per-host politeness that a slow request cannot hold: at most ``limit`` requests at once,
    not counting those in flight longer than ``slow_after``, and never more than ``ceiling``.

    A plain semaphore of ``limit`` let two 8 s answers hold a host's both places while its
    other sources waited behind them (9.3 s measured). Places are handed over in arrival order.
    A request stops counting when a newcomer looks (no timer of its own: a timer a request cost
    a heap push and a cancel on the loop for every poll), and a timer runs only while someone
    waits.
    """

    def __init__(self, limit: int, ceiling: int, slow_after: float) -> None:
        self.limit = limit
        self.ceiling = max(ceiling, limit)
        self.slow_after = slow_after
        self.counted = 0  # requests in flight that count against ``limit``
        self.open = 0  # all requests in flight
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()
        # Tickets in the order they started (so by slow_at); released ones leave from the front.
        self._started: collections.deque[_Ticket] = collections.deque()
        self._timer: asyncio.TimerHandle | None = None

    def _room(self) -> bool:
        return self.counted < self.limit and self.open < self.ceiling

    async def acquire(self) -> _Ticket:
        loop = asyncio.get_running_loop()
        self._uncount_slow(loop.time())
        if self._waiters or not self._room():
            fut = loop.create_future()
            self._waiters.append(fut)
            self._arm(loop)
            try:
                await fut
            except asyncio.CancelledError:
                if fut.done() and not fut.cancelled():  # handed a place, then cancelled
                    self.open -= 1
                    self.counted -= 1
                    self._hand_over()
                raise
        else:
            self.counted += 1
            self.open += 1
        ticket = _Ticket(loop.time() + self.slow_after)
        if self.slow_after > 0:
            self._started.append(ticket)
            self._arm(loop)  # others may still wait: a place handed over starts a new clock
        return ticket

    def release(self, ticket: _Ticket) -> None:
        self.open -= 1
        if ticket.counted:
            ticket.counted = False  # it leaves ``_started`` when it reaches the front
            self.counted -= 1
        self._hand_over()

    def _uncount_slow(self, now: float) -> None:
        """Requests in flight since ``slow_after`` stop counting; released ones are dropped."""
        started = self._started
        while started and (not started[0].counted or started[0].slow_at <= now):
            ticket = started.popleft()
            if ticket.counted:
                ticket.counted = False
                self.counted -= 1

    def _arm(self, loop: asyncio.AbstractEventLoop) -> None:
        """While someone waits: a timer for when the oldest request still counting turns slow."""
        if self._timer is None and self._started and self._waiters:
            self._timer = loop.call_at(self._started[0].slow_at, self._on_timer, loop)

    def _on_timer(self, loop: asyncio.AbstractEventLoop) -> None:
        self._timer = None
        self._uncount_slow(loop.time())
        self._hand_over()
        self._arm(loop)

    def _hand_over(self) -> None:
        # The place is taken for the waiter here, so a newcomer cannot barge in before it runs.
        while self._waiters and self._room():
            fut = self._waiters.popleft()
            if fut.done():  # its task was cancelled while waiting
                continue
            self.counted += 1
            self.open += 1
            fut.set_result(None)
