"""ticker.fetch.deadline: a request's read and total timeouts on one timer, on a real loop."""

from __future__ import annotations

import asyncio
import contextlib
import time

import pytest

from ticker.fetch.deadline import Deadline


async def _guarded(read: float, total: float, work: float, *, every: float | None = None) -> str:
    """Run ``work`` seconds under a Deadline, with progress every ``every`` seconds: "done",
    or which timeout cut it off."""
    task = asyncio.current_task()
    assert task is not None
    deadline = Deadline(task, first=read, read=read, total=total)
    try:
        end = time.monotonic() + work
        while time.monotonic() < end:
            await asyncio.sleep(every or work)
            deadline.progress()
        return "done"
    except asyncio.CancelledError:
        assert deadline.took_over()
        assert deadline.cut is not None
        return deadline.cut
    finally:
        deadline.close()


async def test_no_answer_is_cut_off_at_its_allowance() -> None:
    started = time.monotonic()
    assert await asyncio.create_task(_guarded(0.1, 5.0, 2.0)) == "answer"
    assert 0.09 < time.monotonic() - started < 1.0


async def test_progress_moves_the_read_deadline_until_the_total() -> None:
    """Progress every 0.03 s keeps a 0.1 s read deadline from falling due; the 0.4 s total
    cuts it off."""
    started = time.monotonic()
    assert await asyncio.create_task(_guarded(0.1, 0.4, 2.0, every=0.03)) == "total"
    assert 0.39 < time.monotonic() - started < 1.2


async def test_work_done_in_time_is_left_alone_and_its_timer_stops() -> None:
    """The same task goes on past the closed deadline's total: a timer left running would
    cancel its later work."""

    async def request_then_more() -> tuple[str, str]:
        first = await _guarded(0.2, 0.5, 0.3, every=0.05)
        await asyncio.sleep(0.4)  # past the total
        return first, "went on"

    assert await asyncio.create_task(request_then_more()) == ("done", "went on")


async def test_a_cancellation_from_outside_at_the_same_moment_is_not_taken_over() -> None:
    """The deadline and a stop cancel the task in the same turn of the loop: the stop's
    cancellation goes on (took_over is False, and the task stays cancelled)."""
    seen: list[bool] = []

    async def request() -> None:
        task = asyncio.current_task()
        assert task is not None
        loop = asyncio.get_running_loop()
        deadline = Deadline(task, first=0.1, read=0.1, total=5.0)
        timer = deadline._handle  # the stop falls due at the very instant of the deadline's timer
        assert timer is not None
        loop.call_at(timer.when(), task.cancel)
        try:
            await asyncio.sleep(2)
        except asyncio.CancelledError:
            seen.append(deadline.took_over())
            raise
        finally:
            deadline.close()

    task = asyncio.create_task(request())
    with pytest.raises(asyncio.CancelledError):
        await task
    assert task.cancelled()
    assert seen == [False]


async def test_a_stall_after_progress_is_cut_off_a_read_timeout_after_the_last_data() -> None:
    """Data every 0.03 s for 0.3 s, then none: cut off at about 0.4 s (the last data plus the
    0.1 s read timeout), long before the 3 s total."""

    async def request() -> str:
        task = asyncio.current_task()
        assert task is not None
        deadline = Deadline(task, first=0.1, read=0.1, total=3.0)
        try:
            for _ in range(10):
                await asyncio.sleep(0.03)
                deadline.progress()
            await asyncio.sleep(5)
            return "done"
        except asyncio.CancelledError:
            assert deadline.took_over()
            return str(deadline.cut)
        finally:
            deadline.close()

    started = time.monotonic()
    assert await asyncio.create_task(request()) == "read"
    assert 0.35 < time.monotonic() - started < 1.5


async def test_the_answer_gets_its_own_allowance_then_the_read_timeout_applies() -> None:
    """0.4 s for the answer (connecting, redirects, the headers), then 0.1 s between pieces:
    an answer at 0.25 s is in time, and the body's silence after it is cut off as "read"; a
    request never answered is cut off at 0.4 s as "answer". Either way the task is left with
    no cancellation pending (``cancelling()`` back to 0)."""

    async def request(answer_after: float) -> tuple[str, float, int]:
        task = asyncio.current_task()
        assert task is not None
        started = time.monotonic()
        deadline = Deadline(task, first=0.4, read=0.1, total=5.0)
        try:
            await asyncio.sleep(answer_after)
            deadline.progress()
            await asyncio.sleep(5)
            return "done", 0.0, 0
        except asyncio.CancelledError:
            assert deadline.took_over()
            return str(deadline.cut), time.monotonic() - started, task.cancelling()
        finally:
            deadline.close()

    cut, after, pending = await asyncio.create_task(request(0.25))
    assert (cut, pending) == ("read", 0)
    assert 0.34 < after < 1.0
    cut, after, pending = await asyncio.create_task(request(3.0))
    assert (cut, pending) == ("answer", 0)
    assert 0.39 < after < 1.0


async def test_a_cancellation_something_swallowed_is_taken_back_on_close() -> None:
    """Were the deadline's cancellation swallowed on its way (the request then ends without
    it), close() takes it back: the task is not left marked as being cancelled."""

    async def request() -> int:
        task = asyncio.current_task()
        assert task is not None
        deadline = Deadline(task, first=0.05, read=0.05, total=5.0)
        try:
            with contextlib.suppress(asyncio.CancelledError):  # as a careless library might
                await asyncio.sleep(1)
            assert deadline.cut == "answer"
        finally:
            deadline.close()
        return task.cancelling()

    assert await asyncio.create_task(request()) == 0
