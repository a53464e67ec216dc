"""What the service tells about its own health: each source's health restored at start and
observed after each poll (a change of state is logged and alerted on the health channels), the
state file that cannot be written (told once, outside the outbox), and the poll metrics."""

from __future__ import annotations

import asyncio
import contextlib
import shlex
from collections.abc import Mapping
from typing import TYPE_CHECKING

import structlog

from ticker.config import Config
from ticker.health import (
    Health,
    Observation,
    SourceHealth,
    Transition,
    alert_message,
    observe,
)
from ticker.model import ItemKind, Message
from ticker.pipeline import PollOutcome, utcnow
from ticker.redact import scrub_url_secrets
from ticker.service.scheduling import SourceRuntime

if TYPE_CHECKING:
    from ticker.metrics import Metrics
    from ticker.service.parts import DeliverySide
    from ticker.store import SqliteStore

log = structlog.get_logger("ticker.service")


async def restore_health(store: SqliteStore, sources: Mapping[str, SourceRuntime]) -> None:
    """Each source's health and failure count as the state last recorded them."""
    states = await store.run(store.source_states)
    for st in states:
        rt = sources.get(st.source_id)
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


def record_metrics(metrics: Metrics | None, rt: SourceRuntime, outcome: PollOutcome) -> None:
    m = metrics
    if m is None:
        return
    source_id = rt.config.id
    # The source's children are looked up once (labels() takes a lock and builds a key).
    children = rt.metric_children
    if children is None or children[0] is not m:
        children = rt.metric_children = (
            m,
            {},
            m.poll_duration.labels(source_id),
            m.items_seen.labels(source_id),
        )
    _, polls, duration, items_seen = children
    counter = polls.get(outcome.status)
    if counter is None:
        counter = polls[outcome.status] = m.polls.labels(source_id, outcome.status)
    counter.inc()
    duration.observe(outcome.duration)
    if outcome.status == "ok":
        items_seen.set(outcome.items)
    if outcome.new:
        m.items_new.labels(source_id).inc(len(outcome.new))
    for rec in outcome.new:
        link = rec.story
        if link is None or rec.item.kind is ItemKind.UPDATE:
            continue  # stories off; or an edit, which stays in its line's story
        if link.story == rec.id:
            m.story_lines.labels(source_id, "first").inc()
        elif link.started is not None:
            m.story_lines.labels(source_id, "joined").inc()
            m.story_lag.labels(source_id).observe((rec.first_seen - link.started).total_seconds())


def observe_health(
    rt: SourceRuntime, outcome: PollOutcome, *, config: Config, metrics: Metrics | None
) -> Transition | None:
    """Observe a poll's outcome in its source's health: the change of state to tell, if any."""
    if outcome.error_kind == "store":
        return None  # the state's trouble, told once by StorageWatch, not each source's
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
        failing_after=config.service.failing_after,
        stale_after=rt.config.stale_after,
    )
    if metrics is not None and rt.health_shown is not rt.health.state:
        # Set when the state changes, not on every poll (five gauges a poll add up).
        rt.health_shown = rt.health.state
        for state in Health:
            metrics.source_health.labels(rt.config.id, state.value).set(
                1 if rt.health.state is state else 0
            )
    return transition


async def tell_health(
    rt: SourceRuntime,
    transition: Transition,
    *,
    config: Config,
    store: SqliteStore,
    delivery: DeliverySide | None,
) -> None:
    """A change of a source's health: logged, and alerted on the health channels."""
    now = utcnow()
    log.warning(
        "source_health",
        source=rt.config.id,
        state=transition.current.value,
        previous=transition.previous.value,
        reason=transition.reason,
    )
    if delivery is None:
        return
    messages = delivery.planner.health(
        alert_message(
            rt.config.name,
            transition,
            repair=f"ticker discover --source {rt.config.id} -c {shlex.quote(str(config.path))}",
        ),
        source=rt.config.id,
    )
    if not messages:
        return

    def queue() -> None:
        with store.transaction():
            store.queue_messages(messages, now=now)

    try:
        await store.run(queue)
    except Exception as exc:
        log.error("health_alert_not_queued", source=rt.config.id, error=str(exc))
    else:
        delivery.sender.wake()


class StorageWatch:
    """Disk full: the state cannot be written (disk full, read-only): nothing was recorded, so
    nothing is alerted; say so once, directly (the outbox lives on that same disk)."""

    def __init__(self) -> None:
        self.failing = False

    async def observe(
        self,
        outcome: PollOutcome,
        *,
        config: Config,
        store: SqliteStore,
        delivery: DeliverySide | None,
    ) -> None:
        failing = outcome.error_kind == "store"
        if failing == self.failing:
            return
        self.failing = failing
        state = str(config.service.state)
        if failing:
            log.error("storage_failing", state=state, error=outcome.error)
            message = Message(
                title="ticker: cannot write its state",
                body=f"ticker cannot write {state}: {outcome.error}. Polling goes on; new items "
                "will be detected and alerted once the state can be written again.",
            )
            await send_direct(message, config=config, delivery=delivery)
        else:
            log.warning("storage_recovered", state=state)
            if delivery is not None:
                messages = delivery.planner.health(
                    Message(
                        title="ticker: state writable again",
                        body=f"ticker writes {state} again; detection and alerts resumed.",
                    ),
                    source=None,
                )

                def queue() -> None:
                    with store.transaction():
                        store.queue_messages(messages, now=utcnow())

                with contextlib.suppress(Exception):
                    await store.run(queue)
                    delivery.sender.wake()


async def send_direct(message: Message, *, config: Config, delivery: DeliverySide | None) -> None:
    """Best effort, outside the outbox, to the health channels' URLs."""
    if delivery is None:
        return
    notifier = delivery.notifier
    keys = [t.key for cid in config.service.health_channels for t in notifier.by_channel[cid]]
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
