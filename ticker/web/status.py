"""What the web layer reads of the running service, and how one source's status looks.

``StatusView`` names every member the endpoint reads; the service has them all, so it is a
``StatusView`` as it is (checked by mypy where the service calls ``start_web``) and nothing here
imports it. Members are read at each request, not copied: a reload's new sources and
configuration show at once. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from ticker.views import iso

if TYPE_CHECKING:
    from ticker.config import Config, SourceConfig
    from ticker.health import SourceHealth
    from ticker.metrics import Metrics
    from ticker.model import Recorded


class SourceView(Protocol):
    """One configured source as the service keeps it."""

    @property
    def config(self) -> SourceConfig: ...

    @property
    def health(self) -> SourceHealth: ...


class PollNews(Protocol):
    """What the live page takes from a poll's outcome: the items it recorded."""

    @property
    def new(self) -> Sequence[Recorded]: ...


PollListener = Callable[[str, PollNews], None]


class Subscribers(Protocol):
    """Where a listener subscribes to every poll's outcome (called with the source id)."""

    def append(self, listener: PollListener, /) -> None: ...

    def remove(self, listener: PollListener, /) -> None: ...


class StatusView(Protocol):
    """Everything the endpoint reads of the service (items come from its own reads)."""

    @property
    def config(self) -> Config: ...

    @property
    def sources(self) -> Mapping[str, SourceView]: ...

    @property
    def started_at(self) -> datetime: ...

    @property
    def metrics(self) -> Metrics | None: ...

    @property
    def listeners(self) -> Subscribers: ...

    def scheduler_stalled(self) -> bool: ...


#: /healthz's source, and the live page's (its panel groups by tags; health shows the numbers).
HEALTHZ_SOURCE_KEYS = (
    "id", "name", "state", "last_poll", "last_success", "last_error", "consecutive_failures",
    "interval_s",
)  # fmt: skip
LIVE_SOURCE_KEYS = ("id", "name", "tags", "state", "last_poll", "last_success", "last_error")


def source_view(source_id: str, source: SourceView) -> dict[str, Any]:
    """Everything an output may show of a source's status; each picks its keys (above)."""
    h = source.health
    return {
        "id": source_id,
        "name": source.config.name,
        "tags": list(source.config.tags),
        "state": h.state.value,
        "last_poll": None if h.last_poll is None else iso(h.last_poll),
        "last_success": None if h.last_success is None else iso(h.last_success),
        "last_error": h.last_error,
        "consecutive_failures": h.failures,
        "interval_s": source.config.interval,
    }


def source_names(view: StatusView) -> dict[str, str]:
    return {sid: source.config.name for sid, source in view.sources.items()}
