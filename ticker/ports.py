"""The ports: what the pipeline and the sender use of the fetcher, the state and the notifier.

Each Protocol lists exactly what its callers use, no more, so a second implementation (the
in-memory twins of ``ticker.memory``, a store of another kind) knows what it must provide. The
real adapters (``AiohttpFetcher``, ``SqliteStore``, ``AppriseNotifier``) satisfy them
structurally; the check at the bottom makes ``mypy ticker`` prove it.

What always holds for a ``StateStore``: a write's effects are visible once it returns; a failed
``transaction()`` leaves nothing of its work (not even in the caches); ``run``/``write`` run a
function where the store's work may be done (a thread of its own) and return its result.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import TYPE_CHECKING, ParamSpec, Protocol, TypeVar

from ticker.fetch import FetchResult
from ticker.model import (
    Delivery,
    Detection,
    DetectionInputs,
    OutgoingMessage,
    Recorded,
    SendResult,
    SourceState,
    StoryLine,
    StoryLink,
)

P = ParamSpec("P")
R = TypeVar("R")


class Fetcher(Protocol):
    """Gets a page (what ``pipeline.poll_source`` uses of ``AiohttpFetcher``)."""

    async def fetch(
        self,
        url: str,
        *,
        etag: str | None = None,
        last_modified: str | None = None,
        headers: Mapping[str, str] | None = None,
        digest_salt: bytes = b"",
        known_digest: str | None = None,
        method: str = "GET",
        body: str | None = None,
        render: bool = False,
    ) -> FetchResult:
        """A 200 with a body, a 304, or ``same_body`` when the body's ``wire_digest`` is
        ``known_digest``; with ``render``, the page as a browser draws it. Raises FetchError."""
        ...


class StateStore(Protocol):
    """The state (what the pipeline and the sender use of ``SqliteStore``)."""

    async def run(self, fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        """``fn(*args, **kwargs)`` where the store's work is done. Raises StoreError."""
        ...

    async def write(self, fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        """Like ``run``, for work that writes in ``with store.transaction():``."""
        ...

    def transaction(self) -> AbstractContextManager[None]:
        """All or nothing: on an exception, none of the work inside is kept."""
        ...

    # -- a source's state (the pipeline) ---------------------------------------------------

    def cached_state(self, source_id: str) -> SourceState | None: ...

    def source_state(self, source_id: str) -> SourceState: ...

    def save_source_state(self, state: SourceState) -> None: ...

    def defer_state(self, state: SourceState, *, seen_at: datetime | None = None) -> None:
        """Record ``state`` soon (a crash may lose it); with ``seen_at``, the lines on the page
        at the last recorded poll were seen again then. Event loop only."""
        ...

    def present_keys(self, source_id: str) -> tuple[frozenset[str], float] | None:
        """The keys recorded at the last poll and when (``time.monotonic()``) a read of the
        page (not of its region) last showed exactly them again (0.0 until one has: lines
        that just changed are not confirmed by their region); None until a poll is recorded
        in this process."""
        ...

    def confirm_present(self, source_id: str, keys: frozenset[str]) -> None:
        """A read of the page (not of its region) showed ``keys`` again: the present keys are
        confirmed if they are these. Event loop only."""
        ...

    def note_whole_read(self, source_id: str) -> None:
        """The whole page was read, and what it showed is recorded. Event loop only."""
        ...

    def whole_read_at(self, source_id: str) -> float:
        """When (``time.monotonic()``) the whole page was last read; -inf if never."""
        ...

    # -- items (the pipeline, inside a transaction) ----------------------------------------

    def detection_inputs(
        self, source_id: str, keys: Sequence[str], *, gone_after: datetime
    ) -> DetectionInputs: ...

    def record_detection(
        self, source_id: str, detection: Detection, *, now: datetime
    ) -> list[Recorded]: ...

    # -- stories (the pipeline, inside a transaction; the window's reload) ------------------

    def story_lines(self, *, since: datetime, limit: int) -> list[StoryLine]: ...

    def story_of(self, item_id: int) -> int | None: ...

    def save_story_links(self, links: Iterable[tuple[int, StoryLink]]) -> None: ...

    def story_channels(self, stories: Sequence[int]) -> dict[int, dict[str, frozenset[str]]]: ...

    def add_story_channels(self, told: Mapping[tuple[int, str], frozenset[str]]) -> None: ...

    # -- the outbox (the pipeline queues, the sender drains) -------------------------------

    def queue_messages(self, messages: Sequence[OutgoingMessage], *, now: datetime) -> int: ...

    def due_deliveries(self, *, now: datetime) -> list[Delivery]: ...

    def delivery(self, delivery_id: int) -> Delivery | None: ...

    def expired_deliveries(self, *, created_before: datetime) -> list[Delivery]: ...

    def mark_sent(
        self, delivery_id: int, *, now: datetime, item_ids: Sequence[int] = ()
    ) -> None: ...

    def mark_failed(self, delivery_id: int, *, error: str, next_attempt: datetime) -> None: ...

    def add_strike(self, delivery_id: int, *, next_attempt: datetime) -> int: ...

    def mark_dead(self, delivery_id: int, *, now: datetime, reason: str) -> None: ...

    def outbox_stats(self) -> tuple[int, datetime | None]: ...


class ChannelTarget(Protocol):
    """One URL of a channel, as the sender sees it."""

    @property
    def redacted(self) -> str: ...  # its label in logs: never the URL

    @property
    def pacing(self) -> float: ...  # seconds between two sends at least


class Notifier(Protocol):
    """Sends one message to one URL (what the sender uses of ``AppriseNotifier``)."""

    @property
    def targets(self) -> Mapping[str, ChannelTarget]: ...

    def send(self, key: str, *, title: str, body: str) -> SendResult:
        """Blocking (the sender calls it in a thread of its own); never raises for a
        channel's trouble."""
        ...


if TYPE_CHECKING:
    from ticker.apprise_channels import AppriseNotifier
    from ticker.fetch import AiohttpFetcher
    from ticker.memory import MemoryStore, RecordingNotifier, ScriptedFetcher
    from ticker.store import SqliteStore

    def _adapters_satisfy_the_ports(
        sqlite: SqliteStore,
        aiohttp: AiohttpFetcher,
        apprise: AppriseNotifier,
        memory: MemoryStore,
        scripted: ScriptedFetcher,
        recording: RecordingNotifier,
    ) -> tuple[StateStore, Fetcher, Notifier, StateStore, Fetcher, Notifier]:
        """Never called: mypy fails here when an implementation drifts from its port."""
        return sqlite, aiohttp, apprise, memory, scripted, recording
