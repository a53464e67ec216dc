"""The composition root: from a Config, the running parts (state store, fetcher, notifier,
planner and sender), built here and nowhere else, and torn down in reverse order.

Commands and the service receive what is built here; nothing else opens the state, a session or
a notifier. The heavy libraries (aiohttp, apprise) are imported by the commands that wire them.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ticker.config import ChannelConfig, Config
from ticker.fetch import AiohttpFetcher, FetchSettings
from ticker.model import Message
from ticker.pipeline import utcnow
from ticker.service.parts import DeliverySide, OnSent, ServiceParts
from ticker.store import SqliteStore

if TYPE_CHECKING:
    from ticker.apprise_channels import AppriseNotifier
    from ticker.browser import Renderer


def fetch_settings(config: Config) -> FetchSettings:
    s = config.service
    return FetchSettings(
        user_agent=s.user_agent,
        connect_timeout=s.connect_timeout,
        read_timeout=s.read_timeout,
        total_timeout=s.total_timeout,
        max_bytes=s.max_bytes,
        concurrency=s.concurrency,
        per_host=s.per_host,
    )


def build_fetcher(settings: FetchSettings) -> AiohttpFetcher:
    """A fetcher with these settings; enter it (``async with``) to open its session."""
    return AiohttpFetcher(settings)


def build_renderer(config: Config) -> Renderer:
    """The shared browser of ``render = true`` sources (started on its first render); enter it
    (``async with``) so that it is closed."""
    from ticker.browser import Renderer

    s = config.service
    return Renderer(concurrency=s.render_concurrency, timeout=s.total_timeout)


def build_notifier(channels: Sequence[ChannelConfig]) -> AppriseNotifier:
    """A notifier of these channels, for a command that sends outside the outbox."""
    from ticker.apprise_channels import AppriseNotifier

    return AppriseNotifier(channels)


@contextlib.contextmanager
def existing_store(config: Config, *, readonly: bool) -> Iterator[SqliteStore | None]:
    """The state store if its file exists (None before the first run: nothing to read, and a
    command that only reads must not create it), closed on the way out."""
    if not config.service.state.exists():
        yield None
        return
    store = SqliteStore.open(config.service.state, readonly=readonly)
    try:
        yield store
    finally:
        store.close()


@contextlib.asynccontextmanager
async def service_parts(config: Config) -> AsyncIterator[ServiceParts]:
    """The state store and an open fetcher, with the factory of the delivery side; torn down
    in reverse (the fetcher's session, then the state)."""
    async with contextlib.AsyncExitStack() as stack:
        store = SqliteStore.open(config.service.state)
        stack.callback(store.close)
        session = await stack.enter_async_context(build_fetcher(fetch_settings(config)))
        if any(s.render for s in config.sources):
            # Closed before the fetcher's session; the browser starts on the first render.
            session.renderer = await stack.enter_async_context(build_renderer(config))

        def deliveries(config: Config, *, on_sent: OnSent | None = None) -> DeliverySide | None:
            return build_delivery(config, store, on_sent=on_sent)

        yield ServiceParts(store=store, fetcher=session, deliveries=deliveries)


@dataclass(frozen=True, slots=True, kw_only=True)
class PassParts:
    """What one pass over the sources (``once``) runs on."""

    store: SqliteStore
    fetcher: AiohttpFetcher
    delivery: DeliverySide | None


@contextlib.asynccontextmanager
async def pass_parts(config: Config) -> AsyncIterator[PassParts]:
    """The service's parts with the delivery side built (None without channels); the sender
    is closed first, then the fetcher, then the state."""
    async with contextlib.AsyncExitStack() as stack:
        parts = await stack.enter_async_context(service_parts(config))
        delivery = parts.deliveries(config)
        if delivery is not None:
            stack.callback(delivery.close)
        yield PassParts(store=parts.store, fetcher=parts.fetcher, delivery=delivery)


def build_delivery(
    config: Config, store: SqliteStore, *, on_sent: OnSent | None = None
) -> DeliverySide | None:
    """Build the notifier, planner and sender of a configuration that has channels."""
    if not config.channels:
        return None
    from ticker.alerting.planner import AlertPlanner
    from ticker.alerting.sender import Dead, DeliveryPolicy, Sender
    from ticker.model import OutgoingMessage

    apprise = build_notifier(config.channels)
    targets = {
        cid: [(t.key, t.redacted) for t in targets] for cid, targets in apprise.by_channel.items()
    }
    planner = AlertPlanner(config, targets)
    policy = DeliveryPolicy(
        give_up_after=config.service.give_up_after, max_strikes=config.service.max_strikes
    )

    def on_dead(dead: Dead) -> list[OutgoingMessage]:
        # A delivery given up is told on the health channels, never on the failing one (dead
        # letters).
        row = dead.delivery
        message = Message(
            title=f"ticker: an alert ({row.kind}) to {row.channel!r} was given up",
            body=(
                f"{row.title}\n{row.body}\n\nTarget {row.target_label}: {dead.reason}; "
                f"last error: {row.last_error or 'none'}. "
                "Run 'ticker outbox retry --dead' to send it again."
            ),
        )
        return planner.health(message, source=row.source, exclude=(row.channel,))

    sender = Sender(store, apprise, policy=policy, clock=utcnow, on_dead=on_dead, on_sent=on_sent)
    return DeliverySide(notifier=apprise, planner=planner, sender=sender)
