"""Values that cross module boundaries: frozen, keyword-only, valid once built."""

from __future__ import annotations

import enum
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
