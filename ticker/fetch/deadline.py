"""A request's read and total timeouts on one timer of the event loop.

aiohttp's ``sock_read`` re-arms a timer on every piece of data the socket delivers (a cancel, a
new handle, a push on the loop's heap), and its ``total`` is a timer of its own: three timers
for a 304, about 10 µs of a poll's CPU here. A :class:`Deadline` keeps one: progress only moves
a number, and the timer, set for the earlier of the two deadlines, looks at it when it fires and
sets itself again for the read deadline that progress moved. A stalled request is cut off at
the same moment.
"""

from __future__ import annotations

import asyncio

#: A timer may run this early (the loop's clock resolution): early by less counts as due.
_SLACK = 0.001


class Deadline:
    """The read and total timeouts of the request ``task`` runs, from now.

    The request is cancelled when ``read`` seconds pass without :meth:`progress` (waiting for
    the headers, then between two pieces of the body) or ``total`` seconds pass in all. The
    caller turns that cancellation into its timeout error with :meth:`took_over`, and calls
    :meth:`close` when the request ends, however it ends.
    """

    __slots__ = ("_cancelling", "_handle", "_last", "_loop", "_read", "_task", "_total_at", "cut")

    def __init__(self, task: asyncio.Task[object], *, read: float, total: float) -> None:
        loop = task.get_loop()
        now = loop.time()
        self._loop, self._task, self._read = loop, task, read
        self._last = now
        self._total_at = now + total
        self._cancelling = task.cancelling()
        self.cut: str | None = None  # "read" or "total": which one cut the request off
        self._handle: asyncio.TimerHandle | None = loop.call_at(
            min(now + read, self._total_at), self._fire
        )

    def progress(self) -> None:
        """Data arrived: the read deadline moves (the timer learns it when it fires)."""
        self._last = self._loop.time()

    def _fire(self) -> None:
        now = self._loop.time() + _SLACK
        read_at = self._last + self._read
        if now >= self._total_at:
            self.cut = "total"
        elif now >= read_at:
            self.cut = "read"
        else:
            self._handle = self._loop.call_at(min(read_at, self._total_at), self._fire)
            return
        self._handle = None
        self._task.cancel()

    def took_over(self) -> bool:
        """After a CancelledError: True when it was this deadline's doing alone (the
        cancellation is then taken back); False when the task was cancelled from outside too,
        whose cancellation must go on."""
        return self.cut is not None and self._task.uncancel() <= self._cancelling

    def close(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
