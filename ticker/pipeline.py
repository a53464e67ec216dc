"""Poll one source: fetch -> extract -> detect -> record, deciding first and acting after.

Every outcome, failure included, is returned as a :class:`PollOutcome` and logged as one
``poll`` event; nothing here raises for a bad page, so one failing source never stops another.
"""

from __future__ import annotations

import asyncio
import codecs
import functools
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
from ticker.extract import Extraction, extract, extract_region, parse_page
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


def read_page(
    source: SourceConfig, result: FetchResult, *, expected: frozenset[str] | None = None
) -> PageReading:
    """Decode and extract a fetched page. Raises ExtractError (JSON sources with bad JSON).

    With ``expected`` (the keys of the lines the page showed last time), the ticker's region is
    read first, and only trusted when it shows exactly those lines: a page that may hold
    anything new is always read whole, so the shortcut can never cause nor hide an alert.
    """
    decoded = decode_body(result.body, header_charset=result.charset, override=source.charset)
    doc: str | bytes = decoded.text
    if decoded.encoding == "utf-8" and not decoded.replacements:
        # Valid UTF-8 goes to the parser as it came: no decode-and-encode round trip.
        body = result.body
        doc = body[3:] if body.startswith(codecs.BOM_UTF8) else body
    if expected is not None and not source.is_json:
        region = extract_region(
            doc,
            items=source.items,
            text_sel=source.text,
            link=source.link,
            canary=source.canary,
            base_url=result.url,
        )
        if region is not None and frozenset(keyed(region.items)) == expected:
            return PageReading(
                extraction=region, encoding=decoded.encoding, replacements=decoded.replacements
            )
    page = parse_page(doc, is_json=source.is_json)
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


@functools.lru_cache(maxsize=4096)
def _salt(selectors: tuple[object, ...]) -> bytes:
    return repr(selectors).encode()


def digest_salt(source: SourceConfig) -> bytes:
    """What a body digest is salted with: the selectors and charset, so that an identical page
    read a new way (an edited selector) is read again."""
    return _salt((source.items, source.text, source.link, source.canary, source.charset))


def body_digest(source: SourceConfig, body: bytes) -> str:
    """A digest of the body and the selectors: an identical page read the same way again needs
    no parsing (sites without validators). For a body sent uncompressed it equals the
    fetcher's ``wire_digest``."""
    return hashlib.sha256(digest_salt(source) + body).hexdigest()


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
    outcome: PollOutcome
    try:
        cached = store.cached_state(source.id)
        state = cached if cached is not None else await store.run(store.source_state, source.id)
        result = await fetcher.fetch(
            source.url,
            etag=state.etag,
            last_modified=state.last_modified,
            headers=source.headers,
            digest_salt=digest_salt(source),
            known_digest=state.wire_digest if state.baseline_done else None,
        )
        outcome = await _process(source, state, result, store=store, planner=planner, clock=clock)
    except (FetchError, ExtractError) as exc:
        outcome = _failed(source, state, exc, store=store, clock=clock)
    except StoreError as exc:
        # The state could not be written: nothing was recorded, so nothing may be alerted.
        outcome = PollOutcome(
            source_id=source.id, status="error", error=str(exc), error_kind="store"
        )
    outcome = replace(outcome, duration=time.perf_counter() - started)
    _log_poll(source.id, outcome)
    return outcome


@dataclass(frozen=True, slots=True, kw_only=True)
class _Read:
    """What the worker thread made of a body: its digest, and the page unless it was the same."""

    digest: str
    reading: PageReading | None


def _read(
    source: SourceConfig,
    state: SourceState,
    result: FetchResult,
    expected: frozenset[str] | None,
) -> _Read:
    # Compressed bodies differ on the wire for many reasons; the same page inflated is the same.
    digest = body_digest(source, result.body) if result.compressed else result.wire_digest
    if state.baseline_done and digest == state.body_digest:
        return _Read(digest=digest, reading=None)
    reason = check_content_type(result.content_type, is_json=source.is_json)
    if reason is not None:
        raise FetchError(reason, kind="content")
    return _Read(digest=digest, reading=read_page(source, result, expected=expected))


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
    if result.not_modified or result.same_body:
        status = "not_modified" if result.not_modified else "unchanged"
        return _still_there(source, state, result, store=store, now=now, status=status)
    expected = store.present_keys(source.id) if state.baseline_done else None
    # Inflating, hashing and parsing are the CPU-heavy steps; in a worker thread they do not
    # hold up the event loop's timers, sends and other polls (L1), and lxml lets go of the GIL.
    read = await asyncio.to_thread(_read, source, state, result, expected)
    if read.reading is None:
        return _still_there(
            source, state, result, store=store, now=now, status="unchanged", digest=read.digest
        )
    reading = read.reading
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
    if expected is not None and frozenset(page) == expected:
        # The same lines as last time (the body changed elsewhere: ads, tokens): nothing to
        # decide, so no transaction of its own.
        return _still_there(
            source,
            state,
            result,
            store=store,
            now=now,
            status="ok",
            digest=read.digest,
            items=len(page),
            canary_found=reading.extraction.canary_found,
        )
    new_state = replace(
        state,
        etag=result.etag,
        last_modified=result.last_modified,
        body_digest=read.digest,
        wire_digest=result.wire_digest,
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


def _still_there(
    source: SourceConfig,
    state: SourceState,
    result: FetchResult,
    *,
    store: SqliteStore,
    now: datetime,
    status: str,
    digest: str | None = None,
    items: int = 0,
    canary_found: bool | None = None,
) -> PollOutcome:
    """The page shows what it showed last time: the state moves on (validators, digests,
    last_success, each line's last_seen) in a deferred write shared with other polls."""
    new_state = replace(
        state,
        etag=result.etag or state.etag,
        last_modified=result.last_modified or state.last_modified,
        body_digest=digest or state.body_digest,
        wire_digest=result.wire_digest or state.wire_digest,
        last_success=now,
        last_attempt=now,
        consecutive_failures=0,
        last_error=None,
    )
    store.defer_state(new_state, seen_at=now)
    return PollOutcome(
        source_id=source.id,
        status=status,
        items=items,
        canary_found=canary_found,
        processing=time.perf_counter() - result.received_at,
    )


def _failed(
    source: SourceConfig,
    state: SourceState,
    exc: FetchError | ExtractError,
    *,
    store: SqliteStore,
    clock: Clock,
) -> PollOutcome:
    message = str(exc)
    new_state = replace(
        state,
        last_attempt=clock(),
        consecutive_failures=state.consecutive_failures + 1,
        last_error=message,
    )
    store.defer_state(new_state)
    return PollOutcome(
        source_id=source.id,
        status="error",
        error=message,
        error_kind=getattr(exc, "kind", "extract"),
        retry_after=getattr(exc, "retry_after", None),
    )


def _log_poll(source_id: str, outcome: PollOutcome) -> None:
    fields: dict[str, object] = {
        "source": source_id,
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
        log.warning("poll", **fields, error=outcome.error, error_kind=outcome.error_kind)
    else:
        log.info("poll", **fields)
