"""Poll one source: fetch -> extract -> detect -> record, deciding first and acting after.

Every outcome, failure included, is returned as a :class:`PollOutcome` and logged as one
``poll`` event; nothing here raises for a bad page, so one failing source never stops another.
"""

from __future__ import annotations

import asyncio
import codecs
import functools
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
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
from ticker.log import scrub_url_secrets
from ticker.model import Detection, SourceState
from ticker.store import Recorded, SqliteStore

if TYPE_CHECKING:
    from ticker.alerts import AlertPlanner

log = structlog.get_logger("ticker.poll")

#: UTF-8 pages up to this size are read on the event loop (~5 ms at most); bigger ones, and
#: pages that need the charset chain, in a parser thread.
PARSE_INLINE_BYTES = 512 * 1024

#: How often a page is read whole though its ticker's region shows the same lines (seconds).
WHOLE_PAGE_EVERY = 60.0

# Parsing threads: as many as cores (lxml parses without the GIL); more only contend.
_PARSERS = ThreadPoolExecutor(
    max_workers=max(2, min(4, os.cpu_count() or 2)), thread_name_prefix="ticker-parse"
)

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
    if expected is not None:
        region = _region(source, result, expected)
        if region is not None:
            return region
    return _read_as_sent(source, result) or _read_decoded(source, result)


def _read_as_sent(source: SourceConfig, result: FetchResult) -> PageReading | None:
    """The whole page read as the UTF-8 bytes it came as; None when it is not UTF-8 (or the
    source names a charset, or is JSON): then it takes the charset chain, _read_decoded."""
    if source.charset is not None or source.is_json:
        return None
    # Most of the web is UTF-8, which the charset chain tries first anyway: such a page goes to
    # the parser as it came (decoding it only to check cost 140 µs), and libxml2 flags a byte
    # that is not UTF-8.
    return _whole(source, result, _utf8_doc(result.body), encoding="utf-8", replacements=0)


def _utf8_doc(body: bytes) -> bytes:
    return body[3:] if body.startswith(codecs.BOM_UTF8) else body


def _read_decoded(source: SourceConfig, result: FetchResult) -> PageReading:
    decoded = decode_body(result.body, header_charset=result.charset, override=source.charset)
    reading = _whole(
        source,
        result,
        decoded.text,
        encoding=decoded.encoding,
        replacements=decoded.replacements,
    )
    assert reading is not None  # text is never flagged
    return reading


def _region(
    source: SourceConfig, result: FetchResult, expected: frozenset[str]
) -> PageReading | None:
    """The ticker's region of a UTF-8 page when it shows exactly ``expected``, else None."""
    if source.charset is not None or source.is_json:
        return None  # pages read through the charset chain are read whole
    region = extract_region(
        _utf8_doc(result.body),
        items=source.items,
        text_sel=source.text,
        link=source.link,
        canary=source.canary,
        base_url=result.url,
    )
    if region is not None and frozenset(keyed(region.items)) == expected:
        return PageReading(extraction=region, encoding="utf-8", replacements=0)
    return None


def _whole(
    source: SourceConfig,
    result: FetchResult,
    doc: str | bytes,
    *,
    encoding: str,
    replacements: int,
) -> PageReading | None:
    """The whole page read; None when bytes given as UTF-8 were not."""
    page = parse_page(doc, is_json=source.is_json)
    if getattr(page, "bad_utf8", False):
        return None
    extraction = extract(
        page,
        items=source.items,
        text=source.text,
        link=source.link,
        canary=source.canary,
        base_url=result.url,
    )
    return PageReading(extraction=extraction, encoding=encoding, replacements=replacements)


@functools.lru_cache(maxsize=4096)
def _salt(selectors: tuple[object, ...]) -> bytes:
    return repr(selectors).encode()


def digest_salt(source: SourceConfig) -> bytes:
    """What the body digest (of the body as received, see ``FetchResult.wire_digest``) is salted
    with: the selectors and charset, so that an identical page read a new way (an edited
    selector) is read again. An identical page needs no inflating nor parsing."""
    return _salt((source.items, source.text, source.link, source.canary, source.charset))


async def poll_source(
    source: SourceConfig,
    *,
    fetcher: AiohttpFetcher,
    store: SqliteStore,
    planner: AlertPlanner | None = None,
    clock: Clock = utcnow,
) -> PollOutcome:
    """Poll one source once and record what it shows, queueing its alerts (with ``planner``)
    in the same transaction as its items (P1). Never raises (but for cancellation): an
    unexpected exception is a failed poll too, of kind ``crash``, logged with its traceback."""
    started = time.perf_counter()
    outcome: PollOutcome
    state: SourceState | None = None
    try:
        cached = store.cached_state(source.id)
        state = cached if cached is not None else await store.run(store.source_state, source.id)
        result = await fetcher.fetch(
            source.url,
            etag=state.etag,
            last_modified=state.last_modified,
            headers=source.headers,
            digest_salt=digest_salt(source),
            known_digest=state.body_digest if state.baseline_done else None,
        )
        outcome = await _process(source, state, result, store=store, planner=planner, clock=clock)
    except (FetchError, ExtractError) as exc:
        outcome = _failed(source, state, exc, store=store, clock=clock)
    except StoreError as exc:
        # The state could not be written: nothing was recorded, so nothing may be alerted.
        outcome = PollOutcome(
            source_id=source.id, status="error", error=str(exc), error_kind="store"
        )
    except Exception as exc:
        # A bug or an input nothing foresaw: a failure of this source like any other (counted,
        # backed off, in health), never a silent one. Its message could quote the URL or the
        # page: the error told is the exception's type only, the traceback goes to the log.
        log.exception("poll_crashed", source=source.id)
        outcome = _failed(source, state, exc, store=store, clock=clock)
    outcome = replace(outcome, duration=time.perf_counter() - started)
    _log_poll(source.id, outcome, present=store.present_keys(source.id))
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
    if result.not_modified or result.same_body:
        status = "not_modified" if result.not_modified else "unchanged"
        return _still_there(source, state, result, store=store, now=now, status=status)
    present = store.present_keys(source.id) if state.baseline_done else None
    expected = None if present is None else present[0]
    # The region may only confirm lines a whole-page read showed within the minute: what a
    # slice cannot see (an element left open before it) costs at most that long.
    fresh = present is not None and time.monotonic() - present[1] < WHOLE_PAGE_EVERY
    reason = check_content_type(result.content_type, is_json=source.is_json)
    if reason is not None:
        raise FetchError(reason, kind="content")
    reading = None
    if fresh and expected is not None:
        # The region is a few KB (~0.3 ms): read right here, it costs less than the trip to a
        # parser thread, which under load tripled its CPU.
        reading = _region(source, result, expected)
    if reading is None:
        loop = asyncio.get_running_loop()
        if len(result.body) <= PARSE_INLINE_BYTES:
            # A UTF-8 page of usual size (~1 ms per 100 KB) is read right here. In a parser
            # thread the same read cost twice the CPU (the threads contend for the GIL), and
            # fetched bodies queued up for the threads in a burst (hundreds of MB at 5,000).
            reading = _read_as_sent(source, result)
            if reading is None:
                # The charset chain (detection, a decode, a second parse) is tens of ms.
                reading = await loop.run_in_executor(_PARSERS, _read_decoded, source, result)
        else:
            # A big page is many milliseconds of parsing: in a worker thread it does not hold
            # up the event loop's timers, sends and other polls (L1); lxml lets go of the GIL.
            reading = await loop.run_in_executor(_PARSERS, read_page, source, result)
    if reading.extraction.truncated:
        log.warning(
            "page_truncated",
            source=source.id,
            reason="nested deeper than 2,048 levels; the parser dropped the rest of the page",
        )
    if reading.extraction.skipped:
        log.warning(
            "items_skipped",
            source=source.id,
            count=len(reading.extraction.skipped),
            errors=sorted(set(reading.extraction.skipped)),
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
        if not reading.extraction.region:
            store.whole_page_read(source.id, expected)
        # The same lines as last time (the body changed elsewhere: ads, tokens): nothing to
        # decide, so no transaction of its own.
        return _still_there(
            source,
            state,
            result,
            store=store,
            now=now,
            status="ok",
            items=len(page),
            canary_found=reading.extraction.canary_found,
        )
    new_state = replace(
        state,
        etag=result.etag,
        last_modified=result.last_modified,
        body_digest=result.wire_digest,
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

    detection, recorded = await store.write(record)
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
    items: int = 0,
    canary_found: bool | None = None,
) -> PollOutcome:
    """The page shows what it showed last time: the state moves on (validators, digests,
    last_success, each line's last_seen) in a deferred write shared with other polls."""
    new_state = replace(
        state,
        etag=result.etag or state.etag,
        last_modified=result.last_modified or state.last_modified,
        body_digest=result.wire_digest or state.body_digest,
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
    state: SourceState | None,
    exc: Exception,
    *,
    store: SqliteStore,
    clock: Clock,
) -> PollOutcome:
    """A failed poll; ``exc`` other than FetchError and ExtractError is a crash."""
    if isinstance(exc, FetchError | ExtractError):
        message, kind = str(exc), getattr(exc, "kind", "extract")
    else:
        message, kind = crash_message(exc), "crash"
    # Served in /healthz, the live page and health alerts: no credential or query value.
    message = scrub_url_secrets(message, source.url)
    if state is not None:  # else the state could not even be read: nothing to move on
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
        error_kind=kind,
        retry_after=getattr(exc, "retry_after", None),
    )


def crash_message(exc: BaseException) -> str:
    """What health and alerts say of an unexpected exception: its type, never its message
    (which may quote a URL with its credentials, or hostile page text)."""
    return f"poll crashed: unexpected {type(exc).__name__}; see the log"


def _log_poll(
    source_id: str, outcome: PollOutcome, *, present: tuple[frozenset[str], float] | None
) -> None:
    """One ``poll`` event. ``items``: the lines on the page; a page not read again (304, same
    body) still shows the lines last read (``present``, the store's), unknown until a page is
    read in this process, and then null (unknown) rather than 0."""
    items: int | None = outcome.items
    if outcome.status in ("not_modified", "unchanged"):
        items = None if present is None else len(present[0])
    fields: dict[str, object] = {
        "source": source_id,
        "status": outcome.status,
        "items": items,
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
