"""Values that cross module boundaries: frozen, keyword-only, valid once built."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime


class ItemKind(enum.StrEnum):
    """Why an item is alerted."""

    NEW = "new"  # never seen on this source
    UPDATE = "update"  # a material edit of a recent line (a near-duplicate)
    RETURN = "return"  # the same line back after an absence longer than realert_after
    BASELINE = "baseline"  # on the page at the first successful poll: recorded, not alerted


@dataclass(frozen=True, slots=True, kw_only=True)
class PageItem:
    """One ticker item as extracted from a page (text cleaned, not yet normalized)."""

    text: str
    link: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class KnownItem:
    """What the state knows of an item of one source (its latest occurrence)."""

    id: int
    key: str
    text: str
    link: str | None
    first_seen: datetime
    last_seen: datetime
    gone_since: datetime | None  # first successful poll that no longer showed it


@dataclass(frozen=True, slots=True, kw_only=True)
class NewItem:
    """An item to record and alert: a new line, an edit of a recent line, or a return."""

    key: str
    text: str
    link: str | None
    kind: ItemKind = ItemKind.NEW
    update_of: KnownItem | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Detection:
    """What one poll's page means against what is known: decided first, recorded after."""

    baseline: bool
    new: tuple[NewItem, ...] = ()
    seen: tuple[str, ...] = ()  # keys present again (last_seen moves to now)
    back: tuple[str, ...] = ()  # those of ``seen`` whose latest occurrence had left the page
    gone: tuple[str, ...] = ()  # keys present before and missing now (gone_since = now)
    page_keys: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class SourceState:
    """Per-source state kept between polls."""

    source_id: str
    etag: str | None = None
    last_modified: str | None = None
    body_digest: str | None = None  # of the body as received (compressed), with the selectors
    last_success: datetime | None = None
    last_attempt: datetime | None = None
    consecutive_failures: int = 0
    last_error: str | None = None
    baseline_done: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordedItem:
    """An item as the history shows it."""

    id: int
    source_id: str
    text: str
    link: str | None
    first_seen: datetime
    last_seen: datetime
    kind: ItemKind
    update_of_text: str | None = None
    first_delivered: datetime | None = None  # first delivery to any channel
    tags: tuple[str, ...] = field(default=())
    story: int | None = None  # the story's id (its first line's id); None: a baseline line
    story_of_text: str | None = None  # the line of another source it was matched with
    story_score: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Message:
    """The title and plain-text body of an alert, a health alert or a test message."""

    title: str
    body: str


@dataclass(frozen=True, slots=True, kw_only=True)
class SendResult:
    """The outcome of one send on one URL.

    ``ok``: the notifier reported success. Otherwise ``error`` says why; ``status`` is the HTTP
    status of the last response (429 asks us to slow down; other 4xx are the message's fault);
    ``retry_after`` the seconds its ``Retry-After`` asked for (capped at an hour); ``timed_out``
    that no answer came in time, so the message may have arrived (an unknown outcome).
    """

    ok: bool
    error: str | None = None
    status: int | None = None
    timed_out: bool = False
    retry_after: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class DetectionInputs:
    """What detection needs from the state for one page."""

    known: dict[str, KnownItem]
    present: set[str]
    recently_gone: list[KnownItem]


@dataclass(frozen=True, slots=True, kw_only=True)
class StoryLink:
    """The story a new line belongs to, and why (see ``ticker.stories``)."""

    story: int  # the story's id: the row id of its first line
    matched: int | None = None  # the other source's line it matched; None: it starts the story
    matched_text: str | None = None
    score: float | None = None
    facts: frozenset[str] = frozenset()  # the numbers it states: a different one is news
    started: datetime | None = None  # when the story's first line was first seen


@dataclass(frozen=True, slots=True, kw_only=True)
class StoryLine:
    """A recorded line as the stories window holds it."""

    id: int
    story: int
    source_id: str
    text: str
    first_seen: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class Recorded:
    """A new item as committed: its row id and first-seen time (and its story, once known)."""

    id: int
    item: NewItem
    first_seen: datetime
    story: StoryLink | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class OutgoingMessage:
    """A rendered message to queue for one channel, with the targets (URL keys) it goes to."""

    channel: str
    kind: str  # item, digest, health, test
    title: str
    body: str
    targets: Sequence[tuple[str, str]]  # (target key, redacted label)
    source: str | None = None
    item_ids: Sequence[int] = ()
    first_seen: datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Delivery:
    """One pending, sent or dead delivery of a message to one URL."""

    id: int
    message_id: int
    channel: str
    target: str
    target_label: str
    state: str
    attempts: int
    strikes: int
    next_attempt: datetime
    created: datetime
    kind: str
    title: str
    body: str
    source: str | None
    first_seen: datetime | None
    item_ids: tuple[int, ...] = ()
    last_error: str | None = None
    done_at: datetime | None = None
