"""A request's read and total timeouts on one timer of the event loop.

aiohttp's ``sock_read`` re-arms a timer on every piece of data the socket delivers (a cancel, a
new handle, a push on the loop's heap), and its ``total`` is a timer of its own: three timers
for a 304, about 10 µs of a poll's CPU here. A :class:`Deadline` keeps one: progress only moves
a number, and the timer, set for the earlier of the deadlines, looks at it when it fires and
sets itself again for the deadline that progress moved.
"""

from __future__ import annotations

import asyncio

#: A timer may run this early (the loop's clock resolution): early by less counts as due.
_SLACK = 0.001


class Deadline:
    """The timeouts of the request ``task`` runs, from now: an ``answer`` within ``first``
    seconds (connecting, any redirects and the final response's headers), then no more than
    ``read`` seconds between two :meth:`progress` (pieces of the body), and ``total`` seconds in
    all.

    The request is cancelled when one falls due. The caller turns that cancellation into its
    timeout error with :meth:`took_over`, and calls :meth:`close` when the request ends,
    however it ends.
    """

    __slots__ = (
        "_answer_at",
        "_cancelling",
        "_handle",
        "_last",
        "_loop",
        "_read",
        "_settled",
        "_task",
        "_total_at",
        "answered",
        "cut",
    )

    def __init__(
        self, task: asyncio.Task[object], *, first: float, read: float, total: float
    ) -> None:
        loop = task.get_loop()
        now = loop.time()
        self._loop, self._task, self._read = loop, task, read
        self._last = now
        self._answer_at = now + first
        self._total_at = now + total
        self._cancelling = task.cancelling()
        self.answered = False
        self._settled = False  # the cancellation this deadline made is accounted for
        self.cut: str | None = None  # "answer", "read" or "total": which one cut it off
        # Never later than a read deadline could be: an answer may come at any moment.
        self._handle: asyncio.TimerHandle | None = loop.call_at(
            min(now + read, self._answer_at, self._total_at), self._fire
        )

    def progress(self) -> None:
        """The answer's headers, or a piece of the body, arrived: the read deadline moves (the
        timer learns it when it fires)."""
        self._last = self._loop.time()
        self.answered = True

    def _fire(self) -> None:
        now = self._loop.time()
        due = now + _SLACK
        if due >= self._total_at:
            self.cut = "total"
        elif self.answered and due >= self._last + self._read:
            self.cut = "read"
        elif not self.answered and due >= self._answer_at:
            self.cut = "answer"
        else:
            # Until the answer, a look every ``read`` seconds: its read deadline may come first.
            if self.answered:
                at = self._last + self._read
            else:
                at = min(now + self._read, self._answer_at)
            self._handle = self._loop.call_at(min(at, self._total_at), self._fire)
            return
        self._handle = None
        self._task.cancel()

    def took_over(self) -> bool:
        """After a CancelledError: True when it was this deadline's doing alone (the
        cancellation is then taken back); False when the task was cancelled from outside too,
        whose cancellation must go on."""
        if self.cut is None:
            return False
        self._settled = True
        return self._task.uncancel() <= self._cancelling

    def close(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        if self.cut is not None and not self._settled:
            # Cancelled, yet the request ended otherwise (something swallowed the
            # cancellation): take it back, or the task would stay marked as cancelling.
            self._settled = True
            self._task.uncancel()
