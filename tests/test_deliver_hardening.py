"""Delivery under a hostile or broken webhook (issue 12, finding 8), through the real apprise
notifier to a real aiohttp sink on 127.0.0.1.

Found: a webhook answering 429 with ``Retry-After: 3600`` got 6 requests in 52 s; a webhook that
answers after 60 s got the same message 5 times in 55 s (a read timeout was a plain failure) and
the rows behind it were never tried, because the oldest row was always the one retried.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiohttp import web
from sinks import WebhookSink, async_wait_for
from structlog.testing import capture_logs
from test_deliver import rig, running

from ticker.apprise_channels import AppriseNotifier
from ticker.config import parse_config
from ticker.model import SendResult


@dataclass
class Seen:
    message: str
    started: float
    status: int | None = None  # None: never answered


@dataclass
class HostileHook:
    """A JSON webhook whose answer depends on the message: a status with headers, or no answer
    at all (held until the sink closes) for bodies containing a marker; 200 otherwise."""

    answers: dict[str, tuple[int, dict[str, str]]] = field(default_factory=dict)
    hang_on: set[str] = field(default_factory=set)
    seen: list[Seen] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.port = 0
        self._closing = asyncio.Event()
        self._runner: web.AppRunner | None = None

    def url(self, query: str = "") -> str:
        return f"json://127.0.0.1:{self.port}/hook{query}"

    def of(self, needle: str) -> list[Seen]:
        return [s for s in self.seen if needle in s.message]

    def delivered(self) -> list[str]:
        return [s.message for s in self.seen if s.status == 200]

    async def _handle(self, request: web.Request) -> web.Response:
        message = str(json.loads(await request.text()).get("message", ""))
        hit = Seen(message=message, started=time.monotonic())
        self.seen.append(hit)
        if any(marker in message for marker in self.hang_on):
            await self._closing.wait()
            return web.Response(status=503)
        status, headers = next(
            (answer for marker, answer in self.answers.items() if marker in message), (200, {})
        )
        hit.status = status
        return web.Response(status=status, headers=headers, text="ok")

    @asynccontextmanager
    async def serve(self) -> AsyncIterator[HostileHook]:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        assert site._server is not None
        self.port = int(site._server.sockets[0].getsockname()[1])  # type: ignore[union-attr]
        try:
            yield self
        finally:
            self._closing.set()
            await self._runner.cleanup()


def http_date(after: timedelta) -> str:
    return email.utils.format_datetime(datetime.now(UTC) + after, usegmt=True)


# -- what the notifier sees of the HTTP response ------------------------------------------------


async def test_a_send_reports_the_status_and_retry_after_of_the_response(tmp_path: Path) -> None:
    hook = HostileHook(answers={"slow down": (429, {"Retry-After": "3600"})}, hang_on={"HANG"})
    async with hook.serve():
        toml = (
            '[service]\nstate = "s.db"\n[[sources]]\nid = "en"\nurl = "https://example.org/"\n'
            f'items = "css:li"\n[[channels]]\nid = "desk"\nurls = ["{hook.url("?rto=1")}"]\n'
        )
        notifier = AppriseNotifier(parse_config(toml, path=tmp_path / "t.toml", env={}).channels)
        [key] = notifier.targets

        def send(body: str) -> SendResult:
            return notifier.send(key, title="t", body=body)

        limited = await asyncio.to_thread(send, "slow down")
        hung = await asyncio.to_thread(send, "HANG")
        fine = await asyncio.to_thread(send, "fine")
    assert limited.status == 429
    assert limited.retry_after == 3600.0
    assert not limited.timed_out
    assert hung.timed_out
    assert hung.status is None
    assert "outcome unknown" in (hung.error or "")
    assert fine.ok


# -- Retry-After ----------------------------------------------------------------------------------


@pytest.mark.parametrize("retry_after", ["3600", "http-date"])
async def test_a_429_with_retry_after_an_hour_gets_no_second_request(
    tmp_path: Path, retry_after: str
) -> None:
    value = http_date(timedelta(hours=1)) if retry_after == "http-date" else retry_after
    hook = HostileHook(answers={"": (429, {"Retry-After": value})})
    async with hook.serve(), rig(tmp_path, {"desk": [hook.url()]}) as r:
        await r.queue("desk", "first line", "second line")
        async with running(r.sender):
            assert await async_wait_for(lambda: len(hook.seen) >= 1, within=5)
            await asyncio.sleep(3.0)  # FAST backs off 0.05-0.4 s: dozens of retries unasked
        assert len(hook.seen) == 1, [round(s.started - hook.seen[0].started, 2) for s in hook.seen]
        rows = await r.rows("pending")
        assert [row.body for row in rows] == ["first line", "second line"]  # nothing lost
        held = rows[0].next_attempt - datetime.now(UTC)
        assert held > timedelta(minutes=55)
        assert r.dead == []


async def test_a_short_retry_after_is_waited_out_then_the_rows_flow(tmp_path: Path) -> None:
    hook = HostileHook(answers={"limited": (429, {"Retry-After": "1"})})
    async with hook.serve(), rig(tmp_path, {"desk": [hook.url()]}) as r:
        await r.queue("desk", "limited once", "next")
        async with running(r.sender):
            assert await async_wait_for(lambda: len(hook.seen) >= 1, within=5)
            hook.answers.clear()
            assert await async_wait_for(lambda: len(hook.delivered()) == 2, within=10)
        gap = hook.seen[1].started - hook.seen[0].started
        assert gap >= 0.95, f"asked to wait 1 s, sent again after {gap:.2f} s"
        assert sorted(hook.delivered()) == ["limited once", "next"]
        assert await r.pending() == 0


# -- read timeouts are unknown outcomes, and one stuck row does not block the others ------------


async def test_a_timed_out_send_is_not_resent_in_a_loop_and_the_rows_behind_it_flow(
    tmp_path: Path,
) -> None:
    hook = HostileHook(hang_on={"STUCK"})
    async with hook.serve():
        channels = {"desk": [hook.url("?rto=1")]}
        async with rig(tmp_path, channels, send_timeout=3) as r:
            await r.queue("desk", "STUCK line", "after 1", "after 2")
            with capture_logs() as logs:
                async with running(r.sender):
                    assert await async_wait_for(lambda: len(hook.delivered()) == 2, within=10), (
                        hook.seen
                    )
                    await asyncio.sleep(2.0)  # a window of several read timeouts (1 s each)
            assert hook.delivered() == ["after 1", "after 2"]
            assert len(hook.of("STUCK")) == 1, "the same message was resent after a timeout"
            [stuck] = await r.rows("pending")
            assert stuck.body == "STUCK line"
            assert stuck.strikes == 0
            assert stuck.next_attempt - datetime.now(UTC) > timedelta(seconds=60)
            assert (r.sender.stats.timed_out, r.sender.stats.failed) == (1, 0)
            outcomes = [e["outcome"] for e in logs if e["event"] == "delivery"]
            assert sorted(outcomes) == ["sent", "sent", "timeout"]
            assert r.dead == []


async def test_a_message_that_alone_keeps_failing_does_not_hold_up_its_channel(
    tmp_path: Path,
) -> None:
    """A 5xx for one message only: the channel works, so the rows behind it are sent, and the
    failing row is retried on its own growing backoff (not charged strikes: 'dead letters' is for
    4xx)."""
    async with (
        WebhookSink(reject={"BROKEN": 500}) as sink,
        rig(tmp_path, {"desk": [sink.url("/d")]}) as r,
    ):
        bodies = [f"item {n}" for n in range(4)]
        await r.queue("desk", "BROKEN line", *bodies)
        async with running(r.sender):
            assert await async_wait_for(lambda: len(sink.delivered()) == 4, within=10)
            await asyncio.sleep(1.0)
        assert [h.message for h in sink.delivered()] == bodies  # in order, behind the stuck one
        retries = [h for h in sink.hits() if h.message == "BROKEN line"]
        # Retried on its own backoff (FAST: 0.05 s doubling to a 0.4 s cap), not in a busy loop.
        assert 1 <= len(retries) <= 15
        [row] = await r.rows("pending")
        assert row.body == "BROKEN line"
        assert row.strikes == 0
        assert r.dead == []
