"""What the service is handed: the state store, the fetcher, and a factory for the delivery side
(a reload that changes the channels builds a new one). ``ticker.cli.wiring`` builds them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from ticker.alerting.planner import AlertPlanner
    from ticker.alerting.sender import Sender
    from ticker.apprise_channels import AppriseNotifier
    from ticker.config import Config
    from ticker.fetch import AiohttpFetcher
    from ticker.model import Delivery
    from ticker.store import SqliteStore

#: Told of each delivery sent, with its latency from the item's first sighting when known.
OnSent = Callable[["Delivery", float | None], None]


@dataclass(frozen=True, slots=True, kw_only=True)
class DeliverySide:
    """The delivery side of a process: notifier, planner and sender."""

    notifier: AppriseNotifier
    planner: AlertPlanner
    sender: Sender

    def close(self) -> None:
        self.sender.close()


class DeliveryFactory(Protocol):
    """Builds the delivery side of a configuration; None when it has no channels."""

    def __call__(self, config: Config, *, on_sent: OnSent | None = None) -> DeliverySide | None: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class ServiceParts:
    """The adapters a service runs on; whoever built them closes them after the service."""

    store: SqliteStore
    fetcher: AiohttpFetcher
    deliveries: DeliveryFactory
