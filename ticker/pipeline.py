"""Poll one source: fetch -> extract -> detect -> record, deciding first and acting after.

Every outcome, failure included, is returned as a :class:`PollOutcome` and logged as one
``poll`` event; nothing here raises for a bad page, so one failing source never stops another.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import structlog

from ticker.config import SourceConfig
from ticker.decode import decode_body
from ticker.detect import detect, keyed
from ticker.errors import ExtractError, FetchError, StoreError
from ticker.extract import Extraction, extract, parse_page
from ticker.fetch import AiohttpFetcher, FetchResult, check_content_type
from ticker.model import Detection, SourceState
from ticker.store import Recorded, SqliteStore

if TYPE_CHECKING:
    from ticker.alerts import AlertPlanner

log = structlog.get_logger("ticker.poll")

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True, kw_only=True)
class PollOutcome:
    """What one poll of one source came to.

    ``status``: ``ok`` (page parsed), ``not_modified`` (304), ``unchanged`` (same body as
    before, not parsed), ``error`` (fetch, parse or store failed; see ``error``).
    """

    source_id: str
    status: str
    items: int = 0
    new: tuple[Recorded, ...] = ()
    baseline: bool = False
    error: str | None = None
    error_kind: str | None = None
    retry_after: float | None = None
    canary_found: bool | None = None
    duration: float = 0.0
    processing: float = 0.0  # seconds from the response received to the state committed


@dataclass(frozen=True, slots=True, kw_only=True)
class PageReading:
    """A page read with a source's selectors: the extraction and how the text was decoded."""

    extraction: Extraction
    encoding: str
    replacements: int


def read_page(source: SourceConfig, result: FetchResult) -> PageReading:
    """Decode and extract a fetched page. Raises ExtractError (JSON sources with bad JSON)."""
    decoded = decode_body(result.body, header_charset=result.charset, override=source.charset)
    page = parse_page(decoded.text, is_json=source.is_json)
    extraction = extract(
        page,
        items=source.items,
        text=source.text,
        link=source.link,
        canary=source.canary,
        base_url=result.url,
    )
    return PageReading(
        extraction=extraction, encoding=decoded.encoding, replacements=decoded.replacements
    )


def body_digest(source: SourceConfig, body: bytes) -> str:
    """A digest of the body and the selectors: an identical page read the same way again needs
    no parsing (sites without validators), while an edited selector forces a fresh read."""
    h = hashlib.blake2b(body, digest_size=16)
    h.update(repr((source.items, source.text, source.link, source.canary, source.charset)).encode())
    return h.hexdigest()


async def poll_source(
    source: SourceConfig,
    *,
    fetcher: AiohttpFetcher,
    store: SqliteStore,
    planner: AlertPlanner | None = None,
    clock: Clock = utcnow,
) -> PollOutcome:
    """Poll one source once and record what it shows, queueing its alerts (with ``planner``)
    in the same transaction as its items (P1). Never raises for a source's trouble."""
    started = time.perf_counter()
    bound = log.bind(source=source.id)
    outcome: PollOutcome
    try:
        state = await store.run(store.source_state, source.id)
        result = await fetcher.fetch(
            source.url,
            etag=state.etag,
            last_modified=state.last_modified,
            headers=source.headers,
        )
        outcome = await _process(source, state, result, store=store, planner=planner, clock=clock)
    except (FetchError, ExtractError) as exc:
        outcome = await _failed(source, state, exc, store=store, clock=clock)
    except StoreError as exc:
        # The state could not be written: nothing was recorded, so nothing may be alerted.
        outcome = PollOutcome(
            source_id=source.id, status="error", error=str(exc), error_kind="store"
        )
    outcome = replace(outcome, duration=time.perf_counter() - started)
    _log_poll(bound, outcome)
    return outcome


async def _process(
    source: SourceConfig,
    state: SourceState,
    result: FetchResult,
    *,
    store: SqliteStore,
    planner: AlertPlanner | None,
    clock: Clock,
) -> PollOutcome:
    now = clock()
    digest = None if result.not_modified else body_digest(source, result.body)
    if result.not_modified or (state.baseline_done and state.body_digest == digest):
        status = "not_modified" if result.not_modified else "unchanged"
        new_state = replace(
            state,
            etag=result.etag or state.etag,
            last_modified=result.last_modified or state.last_modified,
            last_success=now,
            last_attempt=now,
            consecutive_failures=0,
            last_error=None,
        )
        await store.run(_touch, store, new_state, now)
        return PollOutcome(
            source_id=source.id,
            status=status,
            processing=time.perf_counter() - result.received_at,
        )
    reason = check_content_type(result.content_type, is_json=source.is_json)
    if reason is not None:
        raise FetchError(reason, kind="content")
    # Parsing is the one CPU-heavy step (milliseconds per page); in a worker thread it does not
    # hold up the event loop's timers, sends and other polls (L1), and lxml lets go of the GIL.
    reading = await asyncio.to_thread(read_page, source, result)
    if reading.extraction.truncated:
        log.warning(
            "page_truncated",
            source=source.id,
            reason="nested deeper than 2,048 levels; the parser dropped the rest of the page",
        )
    if reading.replacements:
        log.warning(
            "undecodable_bytes",
            source=source.id,
            encoding=reading.encoding,
            replacements=reading.replacements,
        )
    page = keyed(reading.extraction.items)
    new_state = replace(
        state,
        etag=result.etag,
        last_modified=result.last_modified,
        body_digest=digest,
        last_success=now,
        last_attempt=now,
        consecutive_failures=0,
        last_error=None,
        baseline_done=True,
    )

    def record() -> tuple[Detection, list[Recorded]]:
        # Runs in the store's thread: read, decide and write in one transaction.
        with store.transaction():
            inputs = store.detection_inputs(
                source.id, list(page), gone_after=now - timedelta(seconds=source.realert_after)
            )
            detection = detect(
                page=page,
                known=inputs.known,
                present=inputs.present,
                recently_gone=inputs.recently_gone,
                now=now,
                realert_after=timedelta(seconds=source.realert_after),
                baseline=not state.baseline_done,
            )
            recorded = store.record_detection(source.id, detection, now=now)
            if planner is not None and recorded and not detection.baseline:
                store.queue_messages(planner.for_items(source, recorded), now=now)
            store.save_source_state(new_state)
        return detection, recorded

    detection, recorded = await store.run(record)
    return PollOutcome(
        source_id=source.id,
        status="ok",
        items=len(page),
        new=() if detection.baseline else tuple(recorded),
        baseline=detection.baseline,
        canary_found=reading.extraction.canary_found,
        processing=time.perf_counter() - result.received_at,
    )


def _touch(store: SqliteStore, state: SourceState, now: datetime) -> None:
    with store.transaction():
        store.touch_present(state.source_id, now=now)
        store.save_source_state(state)


async def _failed(
    source: SourceConfig,
    state: SourceState,
    exc: FetchError | ExtractError,
    *,
    store: SqliteStore,
    clock: Clock,
) -> PollOutcome:
    now = clock()
    message = str(exc)
    new_state = replace(
        state,
        last_attempt=now,
        consecutive_failures=state.consecutive_failures + 1,
        last_error=message,
    )

    def save() -> None:
        with store.transaction():
            store.save_source_state(new_state)

    try:
        await store.run(save)
    except StoreError as store_exc:
        log.error("state_write_failed", source=source.id, error=str(store_exc))
    return PollOutcome(
        source_id=source.id,
        status="error",
        error=message,
        error_kind=getattr(exc, "kind", "extract"),
        retry_after=getattr(exc, "retry_after", None),
    )


def _log_poll(bound: structlog.typing.FilteringBoundLogger, outcome: PollOutcome) -> None:
    fields: dict[str, object] = {
        "status": outcome.status,
        "items": outcome.items,
        "new": len(outcome.new),
        "duration_ms": round(outcome.duration * 1000, 1),
    }
    if outcome.baseline:
        fields["baseline"] = True
    if outcome.canary_found is False:
        fields["canary_found"] = False
    if outcome.error is not None:
        bound.warning("poll", **fields, error=outcome.error, error_kind=outcome.error_kind)
    else:
        bound.info("poll", **fields)
