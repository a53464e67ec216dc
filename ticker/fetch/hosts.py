"""Per-host politeness: a gate of places for one host that a slow request cannot hold."""

from __future__ import annotations

import asyncio
import collections


class _Ticket:
    """One request holding a place at a :class:`HostGate`."""

    __slots__ = ("counted", "timer")

    def __init__(self) -> None:
        self.counted = True
        self.timer: asyncio.TimerHandle | None = None


class HostGate:
    """Per-host politeness that a slow request cannot hold: at most ``limit`` requests at once,
    not counting those in flight longer than ``slow_after``, and never more than ``ceiling``.

    A plain semaphore of ``limit`` let two 8 s answers hold a host's both places while its
    other sources waited behind them (9.3 s measured). Places are handed over in arrival order.
    """

    def __init__(self, limit: int, ceiling: int, slow_after: float) -> None:
        self.limit = limit
        self.ceiling = max(ceiling, limit)
        self.slow_after = slow_after
        self.counted = 0  # requests in flight that count against ``limit``
        self.open = 0  # all requests in flight
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()

    def _room(self) -> bool:
        return self.counted < self.limit and self.open < self.ceiling

    async def acquire(self) -> _Ticket:
        if self._waiters or not self._room():
            fut = asyncio.get_running_loop().create_future()
            self._waiters.append(fut)
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
        ticket = _Ticket()
        if self.slow_after > 0:
            ticket.timer = asyncio.get_running_loop().call_later(
                self.slow_after, self._uncount, ticket
            )
        return ticket

    def release(self, ticket: _Ticket) -> None:
        if ticket.timer is not None:
            ticket.timer.cancel()
        self.open -= 1
        if ticket.counted:
            self.counted -= 1
        self._hand_over()

    def _uncount(self, ticket: _Ticket) -> None:
        if ticket.counted:
            ticket.counted = False
            self.counted -= 1
            self._hand_over()

    def _hand_over(self) -> None:
        # The place is taken for the waiter here, so a newcomer cannot barge in before it runs.
        while self._waiters and self._room():
            fut = self._waiters.popleft()
            if fut.done():  # its task was cancelled while waiting
                continue
            self.counted += 1
            self.open += 1
            fut.set_result(None)
