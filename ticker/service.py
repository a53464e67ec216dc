"""``ticker run``: the long-running service.

Lifecycle through one AsyncExitStack (state, fetcher, sender, web endpoint, scheduler), torn down
in reverse. One APScheduler job per source at its interval with jitter; never two polls of one
source at once (max_instances=1), an overrunning poll is coalesced; a failing source backs off
exponentially and returns to its interval on the first success. SIGTERM/SIGINT stop scheduling
and let in-flight polls and sends finish within ``stop_timeout``; SIGHUP re-reads the
configuration and keeps the old one when the new one is invalid, and rebuilds the endpoint when
its listen, token or hostnames changed (on its old address if the new one cannot be bound).
Under systemd: READY=1 once the first schedule is set, WATCHDOG=1 from the event loop while it
makes progress.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import errno
import random
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import structlog

from ticker.config import Config, SourceConfig, load_config
from ticker.errors import ConfigError
from ticker.fetch import AiohttpFetcher
from ticker.health import Health, Observation, SourceHealth, alert_message, observe
from ticker.log import scrub_url_secrets
from ticker.views import item_json
from ticker.pipeline import PollOutcome, crash_message, poll_source, utcnow
from ticker.route import Message
from ticker.runtime import DeliverySide, build_delivery, fetch_settings
from ticker.sdnotify import SystemdNotifier
from ticker.store import SqliteStore

if TYPE_CHECKING:
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    from ticker.httpserver import HttpEndpoint
    from ticker.metrics import Metrics
    from ticker.store_outbox import Delivery

log = structlog.get_logger("ticker.service")

#: A failing source waits at most this long between polls (unless Retry-After asks for more).
MAX_BACKOFF = 900.0


class HostPacer:
    """A minimum spacing between requests to one host (``[service] host_spacing``)."""

    def __init__(self, spacing: float) -> None:
        self.spacing = spacing
        self._next: dict[str, float] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def wait(self, url: str) -> None:
        if self.spacing <= 0:
            return
        host = urlsplit(url).hostname or ""
        async with self._locks.setdefault(host, asyncio.Lock()):
            delay = self._next.get(host, 0.0) - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            self._next[host] = time.monotonic() + self.spacing


def failure_delay(interval: float, failures: int, retry_after: float | None) -> float:
    """Seconds until the next poll of a source after ``failures`` consecutive errors."""
    delay: float = min(max(interval, MAX_BACKOFF), interval * 2.0 ** max(failures - 1, 0))
    if retry_after is not None:
        delay = max(delay, retry_after)
    return delay


@dataclass(slots=True)
class SourceRuntime:
    """What the service keeps in memory about a source between polls."""

    config: SourceConfig
    health: SourceHealth = field(default_factory=SourceHealth)
    failures: int = 0
    last_outcome: PollOutcome | None = None
    polling: bool = False
    # The last parse: a 304 or an identical body shows the same page again.
    last_items: int = 0
    last_canary: bool | None = None


class Service:
    """The service of one configuration file; ``await Service(path, config).run()``."""

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
        self.store: SqliteStore
        self.fetcher: AiohttpFetcher
        self.scheduler: AsyncIOScheduler
        self._inflight: set[asyncio.Task[Any]] = set()
        self._sender_task: asyncio.Task[None] | None = None
        self._sender_stop = asyncio.Event()
        self._scheduler_stopped = False
        self.storage_failing = False
        self.listeners: list[Callable[[str, PollOutcome], None]] = []
        self._setup_done = asyncio.Event()
        self._reload_pending = False
        # The endpoint, the address it is bound to and the settings it was built with: a
        # reload rebuilds it when these change (see _swap_endpoint).
        self._endpoint: HttpEndpoint | None = None
        self._endpoint_listen: tuple[str, int] | None = None
        self._endpoint_settings: tuple[object, ...] | None = None
        self._endpoint_lock = asyncio.Lock()
        self._endpoint_closed = False
        self._background: set[asyncio.Task[None]] = set()

    # -- lifecycle -------------------------------------------------------------------------

    async def run(self) -> int:
        # Signals first: a stop asked for during set-up (the first poll runs early) is a clean
        # stop once set-up is done, not a kill.
        self._install_signals()
        async with contextlib.AsyncExitStack() as stack:
            self.store = SqliteStore.open(self.config.service.state)
            stack.callback(self.store.close)
            await self._restore_health()
            self.fetcher = await stack.enter_async_context(
                AiohttpFetcher(fetch_settings(self.config))
            )
            self._start_delivery(self.config)
            stack.push_async_callback(self._stop_delivery)
            # The first source is polled now, while the rest of the service is set up (the
            # scheduler's import alone scans every installed package): news is worth those
            # milliseconds. Its result is taken in once everything is ready (_setup_done).
            early = await self._poll_first()
            from apscheduler.schedulers.asyncio import AsyncIOScheduler

            from ticker.metrics import Metrics

            self.metrics = Metrics()
            stack.push_async_callback(self._stop_endpoint)
            if self.config.service.listen is not None:
                await self._bind(self.config.service.listen)
            self.scheduler = AsyncIOScheduler(timezone="UTC")
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
            watchdog = asyncio.create_task(self._watchdog())
            stack.callback(watchdog.cancel)
            lag = asyncio.create_task(self._measure_loop_lag())
            stack.callback(lag.cancel)
            await self.stop_event.wait()
            self.systemd.notify("STOPPING=1")
            await self._graceful_stop()
        log.info("service_stopped")
        return 0

    def _install_signals(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._on_stop_signal, sig)
        loop.add_signal_handler(signal.SIGHUP, self.reload)

    def _on_stop_signal(self, sig: signal.Signals) -> None:
        log.info("stop_requested", signal=sig.name)
        self.stop_event.set()

    def _shutdown_scheduler(self) -> None:
        if self._scheduler_stopped or not hasattr(self, "scheduler"):
            return
        self._scheduler_stopped = True
        with contextlib.suppress(Exception):
            self.scheduler.shutdown(wait=False)

    async def _graceful_stop(self) -> None:
        """Stop polling, let in-flight polls then sends finish within the stop timeout."""
        deadline = time.monotonic() + self.config.service.stop_timeout
        # Pause, not shut down: APScheduler's shutdown cancels running jobs, and a poll in
        # flight should finish and record what it found.
        with contextlib.suppress(Exception):
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

    async def _watchdog(self) -> None:
        interval = self.systemd.watchdog_interval
        if interval is None:
            return
        while True:
            # This task runs on the event loop: a wedged loop sends no ping and systemd restarts.
            if not self.scheduler_stalled():
                self.systemd.notify("WATCHDOG=1")
            await asyncio.sleep(interval)

    async def _measure_loop_lag(self, period: float = 0.25) -> None:
        """L1: how late the loop runs a timer; a blocked loop delays every poll and send."""
        while True:
            started = time.monotonic()
            await asyncio.sleep(period)
            lag = max(0.0, time.monotonic() - started - period)
            if self.metrics is not None:
                self.metrics.loop_lag.observe(lag)
            if lag > 0.5:
                log.warning("loop_lag", lag_s=round(lag, 3))

    # -- delivery ----------------------------------------------------------------------------

    def _start_delivery(self, config: Config) -> None:
        self.delivery = build_delivery(config, self.store, on_sent=self._on_sent)
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
        from apscheduler.triggers.interval import IntervalTrigger

        now = utcnow()
        count = max(1, len(self.sources))
        for n, (sid, rt) in enumerate(self.sources.items()):
            interval = rt.config.interval
            jitter = interval * self.config.service.jitter
            # At start the first source is polled at once and the rest spread over (at most)
            # ten seconds, so a thousand sources do not all fire in the same instant.
            spread = min(interval, 10.0) * n / count
            if sid == polled:
                spread = interval  # polled just now, by _poll_first
            first = now + timedelta(seconds=spread if first_run else self.rng.uniform(0, jitter))
            self.scheduler.add_job(
                self._poll_job,
                trigger=IntervalTrigger(seconds=interval, jitter=jitter or None, timezone="UTC"),
                args=[sid],
                id=sid,
                name=f"poll {sid}",
                max_instances=1,
                coalesce=True,
                misfire_grace_time=max(1, int(interval)),
                next_run_time=first,
                replace_existing=True,
            )

    def scheduler_stalled(self) -> bool:
        """True when a job is overdue by more than twice its interval (plus a margin)."""
        if not hasattr(self, "scheduler") or not self.scheduler.running:
            return not self.stop_event.is_set() and hasattr(self, "scheduler")
        now = utcnow()
        for job in self.scheduler.get_jobs():
            rt = self.sources.get(job.id)
            if rt is None or job.next_run_time is None or rt.polling:
                continue
            if now - job.next_run_time > timedelta(seconds=2 * rt.config.interval + 30):
                return True
        return False

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
        await self._storage_health(outcome)
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
        self._record_metrics(source, outcome)
        await self._update_health(rt, outcome)
        self._reschedule(rt, outcome)
        for listener in list(self.listeners):
            listener(source.id, outcome)

    def _reschedule(self, rt: SourceRuntime, outcome: PollOutcome) -> None:
        if outcome.status == "error" and outcome.error_kind != "store":
            rt.failures += 1
            delay = failure_delay(rt.config.interval, rt.failures, outcome.retry_after)
            if delay > rt.config.interval:
                self._move_next_run(rt.config.id, delay)
        elif rt.failures:
            rt.failures = 0
            self._move_next_run(rt.config.id, rt.config.interval)

    def _move_next_run(self, source_id: str, delay: float) -> None:
        with contextlib.suppress(Exception):  # the job may be gone after a reload
            self.scheduler.modify_job(source_id, next_run_time=utcnow() + timedelta(seconds=delay))

    def _record_metrics(self, source: SourceConfig, outcome: PollOutcome) -> None:
        m = self.metrics
        if m is None:
            return
        m.polls.labels(source.id, outcome.status).inc()
        m.poll_duration.labels(source.id).observe(outcome.duration)
        if outcome.status == "ok":
            m.items_seen.labels(source.id).set(outcome.items)
        if outcome.new:
            m.items_new.labels(source.id).inc(len(outcome.new))

    # -- health ------------------------------------------------------------------------------

    async def _restore_health(self) -> None:
        states = await self.store.run(self.store.source_states)
        for st in states:
            rt = self.sources.get(st.source_id)
            if rt is not None:
                rt.failures = st.consecutive_failures
                rt.health = SourceHealth(
                    failures=st.consecutive_failures,
                    last_success=st.last_success,
                    # Written before errors were scrubbed, an old row may quote a secret.
                    last_error=None
                    if st.last_error is None
                    else scrub_url_secrets(st.last_error, rt.config.url),
                    last_poll=st.last_attempt,
                )

    async def _update_health(self, rt: SourceRuntime, outcome: PollOutcome) -> None:
        if outcome.error_kind == "store":
            return  # the state's trouble, told once by _storage_health, not each source's
        if outcome.status == "ok":
            rt.last_items, rt.last_canary = outcome.items, outcome.canary_found
        seen_page = outcome.status in ("ok", "not_modified", "unchanged")
        obs = Observation(
            ok=outcome.status != "error",
            parsed=seen_page,
            items=rt.last_items if seen_page else 0,
            canary_found=rt.last_canary if seen_page else None,
            error=outcome.error,
        )
        now = utcnow()
        rt.health, transition = observe(
            rt.health,
            obs,
            now=now,
            failing_after=self.config.service.failing_after,
            stale_after=rt.config.stale_after,
        )
        if self.metrics is not None:
            for state in Health:
                self.metrics.source_health.labels(rt.config.id, state.value).set(
                    1 if rt.health.state is state else 0
                )
        if transition is None:
            return
        log.warning(
            "source_health",
            source=rt.config.id,
            state=transition.current.value,
            previous=transition.previous.value,
            reason=transition.reason,
        )
        if self.delivery is None:
            return
        messages = self.delivery.planner.health(
            alert_message(rt.config.name, transition), source=rt.config.id
        )
        if not messages:
            return

        def queue() -> None:
            with self.store.transaction():
                self.store.queue_messages(messages, now=now)

        try:
            await self.store.run(queue)
        except Exception as exc:
            log.error("health_alert_not_queued", source=rt.config.id, error=str(exc))
        else:
            self.delivery.sender.wake()

    async def _storage_health(self, outcome: PollOutcome) -> None:
        """S2: the state cannot be written (disk full, read-only): nothing was recorded, so
        nothing is alerted; say so once, directly (the outbox lives on that same disk)."""
        failing = outcome.error_kind == "store"
        if failing == self.storage_failing:
            return
        self.storage_failing = failing
        state = str(self.config.service.state)
        if failing:
            log.error("storage_failing", state=state, error=outcome.error)
            message = Message(
                title="ticker: cannot write its state",
                body=f"ticker cannot write {state}: {outcome.error}. Polling goes on; new items "
                "will be detected and alerted once the state can be written again.",
            )
            await self._send_direct(message)
        else:
            log.warning("storage_recovered", state=state)
            if self.delivery is not None:
                messages = self.delivery.planner.health(
                    Message(
                        title="ticker: state writable again",
                        body=f"ticker writes {state} again; detection and alerts resumed.",
                    ),
                    source=None,
                )

                def queue() -> None:
                    with self.store.transaction():
                        self.store.queue_messages(messages, now=utcnow())

                with contextlib.suppress(Exception):
                    await self.store.run(queue)
                    self.delivery.sender.wake()

    async def _send_direct(self, message: Message) -> None:
        """Best effort, outside the outbox, to the health channels' URLs."""
        if self.delivery is None:
            return
        notifier = self.delivery.notifier
        keys = [
            t.key for cid in self.config.service.health_channels for t in notifier.by_channel[cid]
        ]
        results = await asyncio.gather(
            *(
                asyncio.to_thread(notifier.send, key, title=message.title, body=message.body)
                for key in keys
            )
        )
        for key, result in zip(keys, results, strict=True):
            if not result.ok:
                log.error(
                    "health_alert_failed", target=notifier.targets[key].redacted, error=result.error
                )

    # -- reload --------------------------------------------------------------------------

    def reload(self) -> None:
        """SIGHUP: re-read the configuration; keep the old one if the new one is invalid."""
        if not self._setup_done.is_set():
            self._reload_pending = True  # applied as soon as the service has started
            return
        try:
            new = load_config(self.path)
        except ConfigError as exc:
            log.error(
                "reload_failed",
                problems=[str(p) for p in exc.problems],
                note="still running on the previous configuration",
            )
            return
        from ticker.notify import channel_url_problems

        # A URL apprise cannot use would stop every delivery once the old sender is gone.
        unusable = channel_url_problems(new.channels)
        if unusable:
            log.error(
                "reload_failed",
                problems=[str(p) for p in unusable],
                note="still running on the previous configuration",
            )
            return
        if new.service.state != self.config.service.state:
            log.warning("reload_state_ignored", note="a new state path needs a restart")
            # Everything else (the endpoint's reads included) goes on with the state in use.
            new = dataclasses.replace(
                new, service=dataclasses.replace(new.service, state=self.config.service.state)
            )
        from ticker.log import REDACTOR

        REDACTOR.add_urls(
            (url for c in new.channels for url in c.urls),
            sources=(s.url for s in new.sources),
            secrets=[new.service.token] if new.service.token else [],
        )
        old_ids = set(self.sources)
        self.config = new
        kept = {s.id: self.sources[s.id] for s in new.sources if s.id in self.sources}
        self.sources = {
            s.id: SourceRuntime(
                config=s,
                health=kept[s.id].health if s.id in kept else SourceHealth(),
                failures=kept[s.id].failures if s.id in kept else 0,
            )
            for s in new.sources
        }
        for sid in old_ids - set(self.sources):
            with contextlib.suppress(Exception):
                self.scheduler.remove_job(sid)
        self._schedule_all(first_run=False)
        for job in (self._swap_delivery(new), self._swap_endpoint()):
            task = asyncio.get_running_loop().create_task(job)
            self._background.add(task)  # a task only the loop refers to may be collected
            task.add_done_callback(self._background.discard)
        log.info("reloaded", sources=len(self.sources), channels=len(new.channels))

    # -- endpoint ----------------------------------------------------------------------------

    async def _bind(self, listen: tuple[str, int]) -> None:
        """Serve the endpoint on ``listen``, built from the configuration now in use (its token
        and hostnames). Raises OSError when the address cannot be bound."""
        from ticker.web import start_web

        self._endpoint = await start_web(self, *listen)
        self._endpoint_listen = listen
        self._endpoint_settings = endpoint_settings(self.config)

    async def _stop_endpoint(self) -> None:
        async with self._endpoint_lock:
            self._endpoint_closed = True  # a reload's swap still to come must not bind again
            await self._unbind()

    async def _unbind(self) -> None:
        endpoint, self._endpoint, self._endpoint_listen = self._endpoint, None, None
        self._endpoint_settings = None
        if endpoint is not None:
            await endpoint.cleanup()

    async def _swap_endpoint(self) -> None:
        """Reload: serve the endpoint as the configuration now says (address, token, hostnames,
        connection cap). A new address is bound before the old one is let go; one that cannot
        be bound leaves the endpoint where it was, with the reason logged. Live streams of the
        old endpoint are closed (their clients reconnect, and a changed token then applies)."""
        async with self._endpoint_lock:
            config = self.config
            if self._endpoint_closed or endpoint_settings(config) == self._endpoint_settings:
                return
            old_listen, listen = self._endpoint_listen, config.service.listen
            changed = [
                name
                for name, was, now in zip(
                    ("listen", "token", "hostnames", "max_connections"),
                    self._endpoint_settings or (None,) * 4,
                    endpoint_settings(config),
                    strict=True,
                )
                if was != now
            ]
            if listen is None:
                await self._unbind()
                log.info("endpoint_stopped", previous=_address(old_listen), note="no listen")
                return
            old = self._endpoint
            try:
                await self._bind(listen)
            except OSError as exc:
                # Bound to the same port, the old endpoint itself may hold the address (a new
                # token, or 127.0.0.1 -> 0.0.0.0): let it go, then bind, or take it back.
                if not (
                    old is not None
                    and old_listen is not None
                    and exc.errno == errno.EADDRINUSE
                    and old_listen[1] == listen[1]
                ):
                    self._listen_failed(listen, old_listen, exc)
                    return
                await self._unbind()
                try:
                    await self._bind(listen)
                except OSError as again:
                    self._listen_failed(listen, old_listen, again)
                    try:
                        await self._bind(old_listen)  # the new token and hostnames apply
                    except OSError as lost:
                        log.error(
                            "endpoint_down",
                            listen=_address(old_listen),
                            error=str(lost),
                            note="the endpoint could not take its address back; "
                            "fix [service] listen and reload",
                        )
                    return
            else:
                if old is not None:
                    await old.cleanup()
            log.info(
                "endpoint_reloaded",
                listen=_address(listen),
                previous=_address(old_listen),
                changed=changed,
            )

    def _listen_failed(
        self, listen: tuple[str, int], old: tuple[str, int] | None, exc: OSError
    ) -> None:
        log.error(
            "reload_listen_failed",
            listen=_address(listen),
            error=exc.strerror or str(exc),
            note=f"the endpoint stays on {_address(old)}"
            if old is not None
            else "the endpoint is not serving",
        )

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


def endpoint_settings(config: Config) -> tuple[object, ...]:
    """What the endpoint is built from: a reload that changes any of it rebuilds it."""
    s = config.service
    return (s.listen, s.token, s.hostnames, s.max_connections)


def _address(listen: tuple[str, int] | None) -> str | None:
    return None if listen is None else f"{listen[0]}:{listen[1]}"


def _listen_text(config: Config) -> str | None:
    if config.service.listen is None:
        return None
    host, port = config.service.listen
    return f"{host}:{port}"


def stdout_line(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()
