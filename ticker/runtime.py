"""Composition shared by ``once`` and ``run``: the fetcher settings and the delivery side."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ticker.config import Config
from ticker.fetch import FetchSettings
from ticker.pipeline import utcnow
from ticker.route import Message
from ticker.store import SqliteStore

if TYPE_CHECKING:
    from ticker.alerts import AlertPlanner
    from ticker.deliver import Dead, Sender
    from ticker.notify import AppriseNotifier
    from ticker.store_outbox import Delivery, OutgoingMessage


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


@dataclass(frozen=True, slots=True, kw_only=True)
class DeliverySide:
    """The delivery side of a process: notifier, planner and sender (None without channels)."""

    notifier: AppriseNotifier
    planner: AlertPlanner
    sender: Sender

    def close(self) -> None:
        self.sender.close()


def build_delivery(
    config: Config,
    store: SqliteStore,
    *,
    on_sent: Callable[[Delivery, float | None], None] | None = None,
) -> DeliverySide | None:
    """Build the notifier, planner and sender of a configuration that has channels."""
    if not config.channels:
        return None
    from ticker.alerts import AlertPlanner
    from ticker.deliver import DeliveryPolicy, Sender
    from ticker.notify import AppriseNotifier

    notifier = AppriseNotifier(config.channels)
    targets = {
        cid: [(t.key, t.redacted) for t in targets] for cid, targets in notifier.by_channel.items()
    }
    planner = AlertPlanner(config, targets)
    policy = DeliveryPolicy(
        give_up_after=config.service.give_up_after, max_strikes=config.service.max_strikes
    )

    def on_dead(dead: Dead) -> list[OutgoingMessage]:
        # A delivery given up is told on the health channels, never on the failing one (D4).
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

    sender = Sender(store, notifier, policy=policy, clock=utcnow, on_dead=on_dead, on_sent=on_sent)
    return DeliverySide(notifier=notifier, planner=planner, sender=sender)
