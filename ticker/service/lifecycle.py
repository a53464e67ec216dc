"""``ticker run``: the long-running service, its lifecycle and each poll's course.

Lifecycle through one AsyncExitStack (sender, web endpoint, scheduler; the state and the fetcher
are handed in, built and closed by ``ticker.cli.wiring``), torn down in reverse. SIGTERM/SIGINT
stop scheduling and let in-flight polls and sends finish within ``stop_timeout``; SIGHUP re-reads
the configuration (see ``reload``) and rebuilds the delivery side and the endpoint. Under
systemd: READY=1 once the first schedule is set, WATCHDOG=1 from the event loop while it makes
progress (see ``watchdog``).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import random
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog

from ticker.config import Config
from ticker.pipeline import PollOutcome, crash_message, poll_source, reload_stories, utcnow
from ticker.sdnotify import SystemdNotifier
from ticker.service.endpoint import Endpoint
from ticker.service.health_alerts import (
    StorageWatch,
    observe_health,
    record_metrics,
    restore_health,
    tell_health,
)
from ticker.service.reload import carry_over, read_new_config
from ticker.service.scheduling import (
    HostPacer,
    PollScheduler,
    SourceRuntime,
    reschedule,
    schedule_all,
)
from ticker.service.summary import PollTally, summarize
from ticker.service.watchdog import measure_loop_lag, watchdog
from ticker.stories.desk import StoryDesk, desk_for
from ticker.views import item_json

if TYPE_CHECKING:
    from ticker.fetch import AiohttpFetcher
    from ticker.metrics import Metrics
    from ticker.model import Delivery
    from ticker.service.parts import DeliveryFactory, DeliverySide, ServiceParts
    from ticker.store import SqliteStore
    from ticker.web import HttpEndpoint

log = structlog.get_logger("ticker.service")

#: Container allocations (net of those freed) between two collections of the young generation;
#: CPython's default is 700. A poll allocates and frees hundreds of containers (aiohttp's
#: request and response, the outcome, the state): at 700, 1,000 sources every 10 s set off four
#: young collections a second, and the older generations' walks of everything the process holds
#: came with them, 0.13 s of CPU a minute (5% of the service's; 0.03 s at this value).
#: Reference counting frees all but cycles at once; a cycle now waits from seconds to a minute
#: (nothing is frozen: an endpoint or a delivery side a reload replaces is collected too).
GC_YOUNG = 10_000


def tune_gc() -> None:
    """The young generation collected less often (:data:`GC_YOUNG`)."""
    gc.set_threshold(GC_YOUNG, *gc.get_threshold()[1:])


class Service:
    """The service of one configuration file::

    service = Service(path, config, out=print_line)
    service.install_signals()
    await service.run(parts)  # parts: the state, the fetcher, the delivery factory
    """

    def __init__(self, path: Path, config: Config, *, out: Callable[[str], None]) -> None:
        self.path = path
        self.config = config
        self.out = out
        self.sources: dict[str, SourceRuntime] = {
            s.id: SourceRuntime(config=s) for s in config.sources
        }
        self.stop_event = asyncio.Event()
        self.started_at = utcnow()
        self.systemd = SystemdNotifier()
        self.rng = random.Random()
        self.pacer = HostPacer(config.service.host_spacing)
        self.metrics: Metrics | None = None
        self.delivery: DeliverySide | None = None
        self.stories: StoryDesk | None = None
        self.store: SqliteStore
        self.fetcher: AiohttpFetcher
        self.scheduler = PollScheduler(self._poll_job, rng=self.rng)
        self.tally = PollTally()
        self._deliveries: DeliveryFactory
        self._inflight: set[asyncio.Task[Any]] = set()
        self._sender_task: asyncio.Task[None] | None = None
        self._sender_stop = asyncio.Event()
        self._scheduler_stopped = False
        self.storage = StorageWatch()
        self.listeners: list[Callable[[str, PollOutcome], None]] = []
        self._setup_done = asyncio.Event()
        self._reload_pending = False
        self.endpoint = Endpoint(self._start_web, lambda: self.config)
        self._background: set[asyncio.Task[None]] = set()

    # -- lifecycle -------------------------------------------------------------------------

    async def run(self, parts: ServiceParts) -> int:
        """Run on ``parts`` until a stop signal; 0 after a graceful stop. The caller closes
        the parts afterwards (and installs the signals first: see install_signals)."""
        self.store, self.fetcher, self._deliveries = parts.store, parts.fetcher, parts.deliveries
        async with contextlib.AsyncExitStack() as stack:
            await restore_health(self.store, self.sources)
            await self._start_stories(self.config)
            self._start_delivery(self.config)
            stack.push_async_callback(self._stop_delivery)
            # The first source is polled now, while the rest of the service is set up (the
            # metrics' and the endpoint's imports): news is worth those milliseconds. Its
            # result is taken in once everything is ready (_setup_done).
            early = await self._poll_first()
            from ticker.metrics import Metrics

            self.metrics = Metrics()
            stack.push_async_callback(self.endpoint.stop)
            if self.config.service.listen is not None:
                await self.endpoint.bind(self.config.service.listen)
            self._schedule_all(first_run=True, polled=early)
            self.scheduler.start()
            stack.callback(self._shutdown_scheduler)
            self._setup_done.set()
            if self._reload_pending:
                self.reload()
            self.systemd.notify("READY=1", f"STATUS=polling {len(self.sources)} source(s)")
            log.info(
                "service_started",
                sources=len(self.sources),
                channels=len(self.config.channels),
                listen=_listen_text(self.config),
            )
            tune_gc()
            pinging = asyncio.create_task(watchdog(self.systemd, self.scheduler_stalled))
            stack.callback(pinging.cancel)
            lag = asyncio.create_task(measure_loop_lag(self.metrics))
            stack.callback(lag.cancel)
            summaries = asyncio.create_task(summarize(self.tally))
            stack.callback(summaries.cancel)
            await self.stop_event.wait()
            self.systemd.notify("STOPPING=1")
            await self._graceful_stop()
        log.info("service_stopped")
        return 0

    def install_signals(self) -> None:
        """SIGTERM and SIGINT stop, SIGHUP reloads. Installed before the parts are built: a
        stop asked for during set-up (the first poll runs early) is a clean stop once set-up is
        done, not a kill."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._on_stop_signal, sig)
        loop.add_signal_handler(signal.SIGHUP, self.reload)

    def _on_stop_signal(self, sig: signal.Signals) -> None:
        log.info("stop_requested", signal=sig.name)
        self.stop_event.set()

    def _shutdown_scheduler(self) -> None:
        if self._scheduler_stopped:
            return
        self._scheduler_stopped = True
        self.scheduler.shutdown()

    async def _graceful_stop(self) -> None:
        """Stop polling, let in-flight polls then sends finish within the stop timeout."""
        deadline = time.monotonic() + self.config.service.stop_timeout
        # No new poll starts; a poll in flight should finish and record what it found.
        self.scheduler.pause()
        if self._inflight:
            _, pending = await asyncio.wait(
                set(self._inflight), timeout=max(0.0, deadline - time.monotonic())
            )
            for task in pending:
                task.cancel()
        self._shutdown_scheduler()
        if self.delivery is not None:
            # Items committed by the last polls get their chance to go out now.
            self.delivery.sender.wake()
            await asyncio.sleep(0)
            await self.delivery.sender.wait_in_flight(max(0.0, deadline - time.monotonic()))

    async def _start_web(self, host: str, port: int) -> HttpEndpoint:
        from ticker.web import start_web

        return await start_web(self, host, port)

    # -- delivery ----------------------------------------------------------------------------

    def _start_delivery(self, config: Config) -> None:
        self.delivery = self._deliveries(config, on_sent=self._on_sent)
        if self.delivery is not None:
            self._sender_stop = asyncio.Event()
            self._sender_task = asyncio.create_task(self.delivery.sender.run(self._sender_stop))

    async def _stop_delivery(self) -> None:
        self._sender_stop.set()
        if self._sender_task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(self._sender_task, timeout=2)
        if self.delivery is not None:
            self.delivery.close()

    async def _swap_delivery(self, config: Config) -> None:
        old_task, old = self._sender_task, self.delivery
        self._sender_stop.set()
        if old_task is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(old_task, timeout=2)
        if old is not None:
            await old.sender.wait_in_flight(5)
            old.close()
        self._start_delivery(config)

    def _on_sent(self, row: Delivery, latency: float | None) -> None:
        if self.metrics is not None:
            self.metrics.deliveries.labels(row.channel, "sent").inc()
            if latency is not None and row.kind in ("item", "digest"):
                self.metrics.latency.labels(row.channel).observe(latency)

    # -- scheduling ----------------------------------------------------------------------

    async def _poll_first(self) -> str | None:
        """Start polling the first source at once (see run) and give it up to 50 ms of the
        loop to get its request out before the set-up goes on; its id, or None."""
        first = next(iter(self.sources), None)
        if first is not None:  # _poll_job counts itself in flight, as every poll does
            await asyncio.wait({asyncio.create_task(self._poll_job(first))}, timeout=0.05)
        return first

    def _schedule_all(self, *, first_run: bool, polled: str | None = None) -> None:
        schedule_all(
            self.scheduler,
            self.sources,
            jitter=self.config.service.jitter,
            rng=self.rng,
            first_run=first_run,
            polled=polled,
        )

    def scheduler_stalled(self) -> bool:
        """True when a poll is overdue by more than twice its interval (plus a margin), or
        the schedule stopped while the service was not stopping."""
        if not self.scheduler.running:
            return self._setup_done.is_set() and not self.stop_event.is_set()
        return self.scheduler.overdue(self.sources)

    async def _poll_job(self, source_id: str) -> None:
        rt = self.sources.get(source_id)
        if rt is None or rt.polling or self.stop_event.is_set():
            return  # rt.polling: the early first poll (see run) is still running
        task = asyncio.current_task()
        if task is not None:
            self._inflight.add(task)
        rt.polling = True
        try:
            await self.pacer.wait(rt.config.url)
            outcome = await poll_source(
                rt.config,
                fetcher=self.fetcher,
                store=self.store,
                planner=None if self.delivery is None else self.delivery.planner,
                stories=self.stories,
            )
            await self._setup_done.wait()  # only the first poll (see run) can be quicker
            await self._after_poll(rt, outcome)
        except Exception as exc:
            # A bug in one poll must not stop the service, nor pass unseen: poll_source turns
            # its own into failed polls; one here (pacing, health, a listener) is one as well.
            log.exception("poll_crashed", source=source_id)
            crashed = PollOutcome(
                source_id=source_id, status="error", error=crash_message(exc), error_kind="crash"
            )
            try:
                await self._after_poll(rt, crashed)
            except Exception:
                log.exception("poll_crash_unreported", source=source_id)
        finally:
            rt.polling = False
            if task is not None:
                self._inflight.discard(task)

    async def _after_poll(self, rt: SourceRuntime, outcome: PollOutcome) -> None:
        rt.last_outcome = outcome
        source = rt.config
        self.tally.count(outcome)
        if (outcome.error_kind == "store") != self.storage.failing:  # rare: no await a poll
            await self.storage.observe(
                outcome, config=self.config, store=self.store, delivery=self.delivery
            )
        if outcome.new:
            if self.delivery is not None:
                self.delivery.sender.wake()
            else:
                for rec in outcome.new:
                    self.out(
                        item_json(
                            source=source.id,
                            text=rec.item.text,
                            link=rec.item.link,
                            first_seen=rec.first_seen,
                            kind=rec.item.kind.value,
                            update_of=None
                            if rec.item.update_of is None
                            else rec.item.update_of.text,
                        )
                    )
        record_metrics(self.metrics, rt, outcome)
        transition = observe_health(rt, outcome, config=self.config, metrics=self.metrics)
        if transition is not None:
            await tell_health(
                rt, transition, config=self.config, store=self.store, delivery=self.delivery
            )
        reschedule(self.scheduler, rt, outcome)
        for listener in list(self.listeners):
            listener(source.id, outcome)

    async def _start_stories(self, config: Config) -> None:
        """The stories desk of ``config``, loaded with the recent lines the store holds (so a
        story formed before a restart is the same story after it); kept when unchanged."""
        s = config.service
        current = self.stories
        if current is not None and (current.window, current.threshold) == (
            s.story_window,
            s.story_threshold,
        ):
            return
        desk = desk_for(s.story_window, s.story_threshold)
        if desk is not None:
            await reload_stories(desk, self.store, utcnow)
        self.stories = desk

    # -- reload --------------------------------------------------------------------------

    def reload(self) -> None:
        """SIGHUP: re-read the configuration; keep the old one if the new one is invalid."""
        if not self._setup_done.is_set():
            self._reload_pending = True  # applied as soon as the service has started
            return
        new = read_new_config(self.path, self.config)
        if new is None:
            return
        old_ids = set(self.sources)
        self.config = new
        self.sources = carry_over(self.sources, new)
        for sid in old_ids - set(self.sources):
            self.scheduler.remove(sid)
        self._schedule_all(first_run=False)
        for job in (self._swap_delivery(new), self.endpoint.swap(), self._start_stories(new)):
            task = asyncio.get_running_loop().create_task(job)
            self._background.add(task)  # a task only the loop refers to may be collected
            task.add_done_callback(self._background.discard)
        log.info("reloaded", sources=len(self.sources), channels=len(new.channels))


def _listen_text(config: Config) -> str | None:
    if config.service.listen is None:
        return None
    host, port = config.service.listen
    return f"{host}:{port}"
