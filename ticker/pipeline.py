"""Poll one source: fetch -> extract -> detect -> record, deciding first and acting after.

Every outcome, failure included, is returned as a :class:`PollOutcome` and logged as one
``poll`` event; nothing here raises for a bad page, so one failing source never stops another.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import structlog

from ticker.config import SourceConfig
from ticker.decide import Validators, decide, failed, gone_after, unchanged
from ticker.detect import keyed
from ticker.errors import ExtractError, FetchError, StoreError
from ticker.fetch import FetchResult, check_content_type
from ticker.model import Detection, Recorded, SourceState
from ticker.ports import Fetcher, StateStore
from ticker.reading import read
from ticker.redact import scrub_url_secrets

if TYPE_CHECKING:
    from ticker.alerting.planner import AlertPlanner
    from ticker.stories.desk import StoryDesk

log = structlog.get_logger("ticker.poll")

#: How often a page is read whole though its ticker's region shows the same lines (seconds).
WHOLE_PAGE_EVERY = 60.0

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


@functools.lru_cache(maxsize=4096)
def _salt(selectors: tuple[object, ...]) -> bytes:
    return repr(selectors).encode()


def digest_salt(source: SourceConfig) -> bytes:
    """What the body digest (of the body as received, see ``FetchResult.wire_digest``) is salted
    with: the selectors and charset, so that an identical page read a new way (an edited
    selector) is read again. An identical page needs no inflating nor parsing."""
    read = (source.items, source.text, source.link, source.canary, source.charset)
    # A POST's body is part of what is read (the same digest for another query is no news).
    return _salt(read if source.body is None else (*read, source.body))


async def poll_source(
    source: SourceConfig,
    *,
    fetcher: Fetcher,
    store: StateStore,
    planner: AlertPlanner | None = None,
    stories: StoryDesk | None = None,
    clock: Clock = utcnow,
    log_every_poll: bool = False,
) -> PollOutcome:
    """Poll one source once and record what it shows, queueing its alerts (with ``planner``)
    in the same transaction as its items (none lost), each new line in its story (with
    ``stories``). Never raises (but for cancellation): an unexpected exception is a failed poll
    too, of kind ``crash``, logged with its traceback."""
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
            method=source.method,
            body=source.body,
            render=source.render,
        )
        outcome = await _process(
            source, state, result, store=store, planner=planner, stories=stories, clock=clock
        )
    except (FetchError, ExtractError) as exc:
        outcome = _failed(source, state, exc, store=store, clock=clock)
    except StoreError as exc:
        # The state could not be written: nothing was recorded, so nothing may be alerted, and
        # the stories window forgets what it was told of lines that were not kept.
        if stories is not None:
            await reload_stories(stories, store, clock)
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
    _log_poll(source.id, outcome, store=store, every=log_every_poll)
    return outcome


async def _process(
    source: SourceConfig,
    state: SourceState,
    result: FetchResult,
    *,
    store: StateStore,
    planner: AlertPlanner | None,
    stories: StoryDesk | None,
    clock: Clock,
) -> PollOutcome:
    now = clock()
    if result.not_modified or result.same_body:
        status = "not_modified" if result.not_modified else "unchanged"
        return _still_there(source, state, result, store=store, now=now, status=status)
    present = store.present_keys(source.id) if state.baseline_done else None
    expected = None if present is None else present[0]
    # A changed page is read whole if the last whole read is a minute old: what a part of it
    # cannot see (a line after the ticker's last anchor; for the region, an element left open
    # before it) waits that long, or for the page's next change (a 304 reads nothing). In
    # between, a changed body is read up to just past its ticker (all that comes before
    # parsed: the lines it shows are the page's), or by its region alone when that shows
    # exactly the lines a read of the page confirmed since they last changed (lines that
    # just changed are not: a busy ticker is not read twice, region then page).
    partial = state.baseline_done and (
        time.monotonic() - store.whole_read_at(source.id) < WHOLE_PAGE_EVERY
    )
    confirmed = partial and present is not None and present[1] > 0.0
    reason = check_content_type(result.content_type, is_json=source.is_json)
    if reason is not None:
        raise FetchError(reason, kind="content")
    reading = await read(source, result, expected=expected if confirmed else None, prefix=partial)
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
    whole = not (reading.extraction.region or reading.extraction.prefix)
    if expected is not None and frozenset(page) == expected:
        if not reading.extraction.region:  # a region confirms nothing (see above)
            store.confirm_present(source.id, expected)
        if whole:
            store.note_whole_read(source.id)
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
    window = timedelta(seconds=source.realert_after)

    def record() -> tuple[Detection, list[Recorded]]:
        # Runs in the store's thread: read the inputs, decide, and write in one transaction.
        with store.transaction():
            inputs = store.detection_inputs(
                source.id, list(page), gone_after=gone_after(now, window)
            )
            decision = decide(
                page=page,
                inputs=inputs,
                state=state,
                validators=_validators(result),
                now=now,
                realert_after=window,
            )
            detection = decision.detection
            recorded = store.record_detection(source.id, detection, now=now)
            told: dict[int, dict[str, frozenset[str]]] = {}
            if stories is not None and recorded and not detection.baseline:
                recorded = stories.assign(source.id, recorded, now=now, story_of=store.story_of)
                links = [(r.id, r.story) for r in recorded if r.story is not None]
                store.save_story_links(links)
                # Only a story a line joins can have been told already.
                told = store.story_channels([k.story for _, k in links if k.matched is not None])
            if planner is not None and recorded and not detection.baseline:
                messages, newly_told = planner.for_items(source, recorded, told=told)
                store.queue_messages(messages, now=now)
                store.add_story_channels(newly_told)
            store.save_source_state(decision.state)
        if stories is not None and not detection.baseline:
            stories.remember(source.id, recorded)
        return detection, recorded

    detection, recorded = await store.write(record)
    if whole:  # only once what it showed is recorded: a failed write is read whole again
        store.note_whole_read(source.id)
    return PollOutcome(
        source_id=source.id,
        status="ok",
        items=len(page),
        new=() if detection.baseline else tuple(recorded),
        baseline=detection.baseline,
        canary_found=reading.extraction.canary_found,
        processing=time.perf_counter() - result.received_at,
    )


async def reload_stories(stories: StoryDesk, store: StateStore, clock: Clock) -> None:
    """The stories window from what the store holds (after a failed write, or at start)."""

    def reload() -> None:
        stories.reload(store.story_lines(since=stories.since(clock()), limit=stories.max_lines))

    with contextlib.suppress(StoreError):
        await store.run(reload)


def _validators(result: FetchResult) -> Validators:
    return Validators(
        etag=result.etag, last_modified=result.last_modified, body_digest=result.wire_digest
    )


def _still_there(
    source: SourceConfig,
    state: SourceState,
    result: FetchResult,
    *,
    store: StateStore,
    now: datetime,
    status: str,
    items: int = 0,
    canary_found: bool | None = None,
) -> PollOutcome:
    """The page shows what it showed last time: the state moves on (validators, digests,
    last_success, each line's last_seen) in a deferred write shared with other polls."""
    store.defer_state(unchanged(state, _validators(result), now=now), seen_at=now)
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
    store: StateStore,
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
        store.defer_state(failed(state, message, now=clock()))
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


def _log_poll(source_id: str, outcome: PollOutcome, *, store: StateStore, every: bool) -> None:
    """One ``poll`` event: WARNING for a failed poll; INFO for one that found new lines or
    took the baseline (or for every poll, with ``every``: ``ticker once``); DEBUG for the rest,
    which ``ticker run`` counts in its ``poll_summary`` instead (an INFO line per quiet poll was
    6,000 lines a minute at 1,000 sources). ``items``: the lines on the page; a page not read
    again (304, same body) still shows the lines last read (the store's ``present_keys``),
    unknown until a page is read in this process, and then null (unknown) rather than 0."""
    notable = every or bool(outcome.new) or outcome.baseline
    if outcome.error is None and not notable and not log.is_enabled_for(logging.DEBUG):
        return  # nothing to build for a line nobody will see
    items: int | None = outcome.items
    if outcome.status in ("not_modified", "unchanged"):
        present = store.present_keys(source_id)
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
    elif notable:
        log.info("poll", **fields)
    else:
        log.debug("poll", **fields)
