"""What is new on a page: README.md "What counts as new", decided by the pure detect()."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import strategies as ts
from hypothesis import given, settings
from hypothesis import strategies as st

from ticker.decide import Validators, decide, unchanged
from ticker.detect import EDIT_SIMILARITY, detect, edit_similarity, is_alerting, keyed
from ticker.model import (
    Detection,
    DetectionInputs,
    ItemKind,
    KnownItem,
    PageItem,
    SourceState,
)
from ticker.normalize import item_key
from ticker.store import SqliteStore

PROPERTY = settings(max_examples=200, deadline=None)

T0 = datetime(2026, 1, 1, tzinfo=UTC)
NOW = T0 + timedelta(days=1)
WINDOW = timedelta(hours=6)

SOLDIERS_4 = "Israeli media: 4 Israeli soldiers killed in the Gaza Strip"
SOLDIERS_5 = "Israeli media: 5 Israeli soldiers killed in the Gaza Strip"
MOH_APPEAL = (
    "Gaza Ministry of Health: We renew our urgent appeal to the relevant authorities to "
    "intervene and protect healthcare institutions"
)
MOH_COLLAPSE = (
    "Gaza Ministry of Health: We warn against reaching the point of a complete collapse of the "
    "healthcare system in the southern part of the Strip"
)
MOH_TOLL = "Gaza Ministry of Health: The death toll from the aggression rises to 40,005 martyrs"
SIRENS = "Sirens sound in the Upper Galilee"
FENCE = "Al Mayadeen's correspondent in South Lebanon: An Israeli force breaches the fence"

_ids = itertools.count(1)


# -- helpers: inputs as the state would hold them ------------------------------------------------


def page_of(*lines: str, links: bool = False) -> dict[str, PageItem]:
    """A page keyed the way the pipeline keys it."""
    return keyed(
        PageItem(text=t, link=f"https://example.org/news/{i}" if links else None)
        for i, t in enumerate(lines)
    )


def known_item(
    text: str,
    *,
    first_seen: datetime = T0,
    last_seen: datetime | None = None,
    gone_since: datetime | None = None,
    link: str | None = None,
) -> KnownItem:
    """What the state knows of a line: on the page now unless ``gone_since`` is given."""
    return KnownItem(
        id=next(_ids),
        key=item_key(text),
        text=text,
        link=link,
        first_seen=first_seen,
        last_seen=last_seen or gone_since or NOW - timedelta(seconds=30),
        gone_since=gone_since,
    )


def gone_item(text: str, ago: timedelta) -> KnownItem:
    """A line that left the page ``ago`` before NOW."""
    return known_item(text, gone_since=NOW - ago, last_seen=NOW - ago - timedelta(seconds=30))


def run(
    page: dict[str, PageItem],
    *,
    known: Iterable[KnownItem] = (),
    present: Iterable[str] = (),
    recently_gone: Sequence[KnownItem] = (),
    now: datetime = NOW,
    baseline: bool = False,
) -> Detection:
    """detect() with ``known`` given as items (keyed here) and a 6h realert_after."""
    return detect(
        page=page,
        known={k.key: k for k in known},
        present=present,
        recently_gone=recently_gone,
        now=now,
        realert_after=WINDOW,
        baseline=baseline,
    )


def new_keys(detection: Detection) -> set[str]:
    return {n.key for n in detection.new}


def on_page(*texts: str) -> tuple[list[KnownItem], set[str]]:
    """``known`` and ``present`` for lines the previous poll showed."""
    items = [known_item(t) for t in texts]
    return items, {k.key for k in items}


@dataclass
class Ledger:
    """An in-memory twin of the state, for runs of polls: one row per occurrence of a line.

    It feeds decide() what the store would: the latest occurrence of each page key, the
    keys the previous poll showed, and the lines that left the page (in this poll, or within
    realert_after) as edit candidates. It applies a detection the way the store does: seen lines
    are present again, gone lines get ``gone_since``, new items are new rows.
    """

    window: timedelta = WINDOW
    rows: list[KnownItem] = field(default_factory=list)
    polls: int = 0
    clock: datetime = T0  # the time of the latest poll

    def inputs(self, page: dict[str, PageItem], now: datetime) -> DetectionInputs:
        known = {r.key: r for r in self.rows if r.key in page}  # later rows win
        present = {r.key for r in self.rows if r.gone_since is None}
        leaving = [r for r in self.rows if r.gone_since is None and r.key not in page]
        gone = [
            r for r in self.rows if r.gone_since is not None and r.gone_since >= now - self.window
        ]
        return DetectionInputs(known=known, present=present, recently_gone=leaving + gone)

    def detect(self, items: Iterable[PageItem], now: datetime) -> Detection:
        """What detect() makes of a page now, without recording it."""
        page = keyed(items)
        state = SourceState(source_id="en", baseline_done=self.polls > 0)
        return decide(
            page=page,
            inputs=self.inputs(page, now),
            state=state,
            validators=Validators(),
            now=now,
            realert_after=self.window,
        ).detection

    def poll(self, items: Iterable[PageItem], now: datetime) -> Detection:
        detection = self.detect(items, now)
        self.apply(detection, now)
        self.polls += 1
        self.clock = now
        return detection

    def apply(self, detection: Detection, now: datetime) -> None:
        latest = {r.key: i for i, r in enumerate(self.rows)}
        back = set(detection.back)
        for key in detection.seen:
            i = latest[key]
            # ``back`` names exactly the seen lines that had left (the store changes only theirs)
            assert (self.rows[i].gone_since is not None) == (key in back), key
            self.rows[i] = replace(self.rows[i], last_seen=now, gone_since=None)
        gone = set(detection.gone)
        for i, r in enumerate(self.rows):
            if r.key in gone and r.gone_since is None:
                self.rows[i] = replace(r, gone_since=now)
        for n in detection.new:
            self.rows.append(
                KnownItem(
                    id=next(_ids),
                    key=n.key,
                    text=n.text,
                    link=n.link,
                    first_seen=now,
                    last_seen=now,
                    gone_since=None,
                )
            )


def items(*lines: str) -> list[PageItem]:
    return [PageItem(text=t) for t in lines]


# -- baseline ------------------------------------------------------------------------------------


def test_a_baseline_s_lines_are_of_kind_baseline() -> None:
    detection = run(page_of(SOLDIERS_4, SIRENS), baseline=True)
    assert {n.kind for n in detection.new} == {ItemKind.BASELINE}


def test_baseline_records_every_item_and_alerts_nothing() -> None:
    page = page_of(SOLDIERS_4, MOH_APPEAL, SIRENS, links=True)
    detection = run(page, baseline=True)
    assert detection.baseline
    assert not is_alerting(detection)
    assert new_keys(detection) == set(page)
    assert {(n.text, n.link) for n in detection.new} == {(i.text, i.link) for i in page.values()}
    assert detection.page_keys == tuple(page)


def test_baseline_over_known_lines_records_only_the_unknown_ones() -> None:
    known, present = on_page(SOLDIERS_4)
    detection = run(page_of(SOLDIERS_4, SIRENS), known=known, present=present, baseline=True)
    assert not is_alerting(detection)
    assert new_keys(detection) == {item_key(SIRENS)}
    assert detection.seen == (item_key(SOLDIERS_4),)


# -- nothing new ---------------------------------------------------------------------------------


def test_page_diffed_against_itself_is_never_new() -> None:
    lines = (SOLDIERS_4, MOH_APPEAL, MOH_COLLAPSE, SIRENS)
    known, present = on_page(*lines)
    detection = run(page_of(*lines), known=known, present=present)
    assert detection.new == ()
    assert not is_alerting(detection)
    assert set(detection.seen) == present
    assert detection.back == ()
    assert detection.gone == ()


def test_reordered_page_is_not_new() -> None:
    known, present = on_page(SOLDIERS_4, MOH_APPEAL, SIRENS, FENCE)
    detection = run(page_of(FENCE, SIRENS, SOLDIERS_4, MOH_APPEAL), known=known, present=present)
    assert detection.new == ()
    assert set(detection.seen) == present


def test_scrolled_ticker_alerts_only_the_line_that_scrolled_in() -> None:
    known, present = on_page(SOLDIERS_4, MOH_APPEAL, SIRENS)
    detection = run(page_of(MOH_APPEAL, SIRENS, FENCE), known=known, present=present)
    assert [(n.key, n.kind) for n in detection.new] == [(item_key(FENCE), ItemKind.NEW)]
    assert detection.gone == (item_key(SOLDIERS_4),)


@pytest.mark.parametrize(
    "variant",
    [
        "BREAKING: Israeli media: 4 Israeli soldiers killed in the Gaza Strip",
        "ISRAELI MEDIA: 4 ISRAELI SOLDIERS KILLED IN THE GAZA STRIP",
        "  Israeli  media:\u00a04 Israeli soldiers killed in the Gaza\u200b Strip. ",
        "• Israeli media: 4 Israeli soldiers killed in the Gaza Strip",
    ],
)
def test_cosmetic_variant_of_a_known_line_is_seen_not_new(variant: str) -> None:
    known, present = on_page(SOLDIERS_4)
    detection = run(page_of(variant), known=known, present=present)
    assert detection.new == ()
    assert detection.seen == (item_key(SOLDIERS_4),)


def test_line_back_within_realert_after_is_not_new() -> None:
    """A CDN serving an older page for a while brings lines back: the same event."""
    for away in (timedelta(minutes=1), timedelta(hours=5, minutes=59), WINDOW):
        back = gone_item(SIRENS, away)
        detection = run(page_of(SIRENS), known=[back], present=())
        assert detection.new == (), away
        assert detection.seen == detection.back == (back.key,), away


def test_empty_page_is_fine_and_everything_present_is_gone() -> None:
    known, present = on_page(SOLDIERS_4, MOH_APPEAL, SIRENS)
    detection = run({}, known=known, present=present)
    assert detection.new == ()
    assert detection.seen == ()
    assert set(detection.gone) == present
    assert detection.page_keys == ()


def test_empty_baseline_is_fine() -> None:
    detection = run({}, baseline=True)
    assert detection == Detection(baseline=True)


# -- new events ----------------------------------------------------------------------------------


def test_unknown_line_is_new_with_its_text_and_link() -> None:
    page = keyed([PageItem(text=f"  {SIRENS} ", link="https://example.org/n/1")])
    detection = run(page)
    [item] = detection.new
    assert item.kind is ItemKind.NEW
    assert item.key == item_key(SIRENS)
    assert item.text == f"  {SIRENS} "  # the page's text, not the key
    assert item.link == "https://example.org/n/1"
    assert item.update_of is None
    assert is_alerting(detection)


def test_line_back_after_longer_absence_is_a_return() -> None:
    """Tickers repeat lines such as "Sirens sound in ...": after realert_after it is news."""
    back = gone_item(SIRENS, WINDOW + timedelta(seconds=1))
    detection = run(page_of(SIRENS, links=True), known=[back], present=())
    [item] = detection.new
    assert item.kind is ItemKind.RETURN
    assert item.key == back.key
    assert item.link == "https://example.org/news/0"
    assert detection.seen == ()


# -- edits ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (SOLDIERS_4, SOLDIERS_5),
        (
            "الإعلام الإسرائيلي: مقتل 4 جنود إسرائيليين في قطاع غزة",
            "الإعلام الإسرائيلي: مقتل 5 جنود إسرائيليين في قطاع غزة",
        ),
        (MOH_TOLL, MOH_TOLL.replace("40,005", "40,035")),
    ],
)
def test_edit_of_a_line_that_left_is_an_update_of_it(old: str, new: str) -> None:
    left = gone_item(old, timedelta(minutes=2))
    detection = run(page_of(new), present=(), recently_gone=[left])
    [item] = detection.new
    assert item.kind is ItemKind.UPDATE
    assert item.update_of == left
    assert item.key == item_key(new)
    assert item.text == new


def test_edit_replacing_the_line_in_the_same_poll_is_an_update() -> None:
    """The usual edit: the previous poll showed "4 killed", this one shows "5 killed"."""
    old = known_item(SOLDIERS_4)
    detection = run(page_of(SOLDIERS_5), present={old.key}, recently_gone=[old])
    [item] = detection.new
    assert item.kind is ItemKind.UPDATE
    assert item.update_of == old
    assert detection.gone == (old.key,)


def test_lines_sharing_a_prefix_are_two_new_items() -> None:
    """Two "Gaza Ministry of Health: ..." statements are two items, not an edit."""
    detection = run(page_of(MOH_APPEAL, MOH_COLLAPSE))
    assert [n.kind for n in detection.new] == [ItemKind.NEW, ItemKind.NEW]
    assert new_keys(detection) == {item_key(MOH_APPEAL), item_key(MOH_COLLAPSE)}


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (MOH_APPEAL, MOH_COLLAPSE),
        (MOH_COLLAPSE, MOH_TOLL),
        # The rules' example of a line tickers repeat: another town is another event.
        ("Sirens sound in Metula", "Sirens sound in Nahariya"),
    ],
)
def test_new_statement_after_another_left_is_new_not_an_update(old: str, new: str) -> None:
    """A line that merely shares a prefix with one that just left is a new item."""
    left = gone_item(old, timedelta(minutes=2))
    detection = run(page_of(new), recently_gone=[left])
    [item] = detection.new
    assert item.kind is ItemKind.NEW
    assert item.update_of is None


def test_edit_counts_only_against_a_line_that_left_the_page() -> None:
    """With "4 killed" still on the ticker, a "5 killed" line beside it is a separate item."""
    still_there = known_item(SOLDIERS_4)
    detection = run(
        page_of(SOLDIERS_4, SOLDIERS_5),
        known=[still_there],
        present={still_there.key},
        recently_gone=[still_there],
    )
    [item] = detection.new
    assert item.key == item_key(SOLDIERS_5)
    assert item.kind is ItemKind.NEW
    assert item.update_of is None


def test_line_that_left_is_the_original_of_one_update_only() -> None:
    left = gone_item(SOLDIERS_4, timedelta(minutes=2))
    detection = run(page_of(SOLDIERS_5, SOLDIERS_4.replace("4", "6")), recently_gone=[left])
    assert sorted(n.kind for n in detection.new) == sorted([ItemKind.UPDATE, ItemKind.NEW])


def test_edit_is_matched_to_the_closest_line_that_left() -> None:
    four = gone_item(SOLDIERS_4, timedelta(minutes=2))
    other = gone_item("Israeli media: 4 Israeli soldiers wounded in Khan Younis", timedelta(1))
    detection = run(page_of(SOLDIERS_5), recently_gone=[other, four])
    [item] = detection.new
    assert item.update_of == four


@pytest.mark.parametrize(
    ("a", "b", "is_edit"),
    [
        (SOLDIERS_4, SOLDIERS_5, True),
        (MOH_APPEAL, MOH_COLLAPSE, False),
        (MOH_COLLAPSE, MOH_TOLL, False),
        (SIRENS, FENCE, False),
    ],
)
def test_edit_similarity_separates_edits_from_shared_prefixes(
    a: str, b: str, is_edit: bool
) -> None:
    ratio = edit_similarity(item_key(a), item_key(b))
    assert (ratio >= 0.75) is is_edit, ratio


def test_keyed_drops_repeats_and_empty_lines_first_occurrence_winning() -> None:
    page = keyed(
        [
            PageItem(text=SIRENS, link="/a"),
            PageItem(text="BREAKING: " + SIRENS.upper(), link="/b"),
            PageItem(text="\u200b "),
        ]
    )
    assert list(page) == [item_key(SIRENS)]
    assert page[item_key(SIRENS)].link == "/a"


# -- detect as the pipeline feeds it -------------------------------------------------------------


def test_line_replaced_between_two_polls_is_an_update_with_the_store_inputs(
    tmp_path: Path,
) -> None:
    """The edit rule end to end through SqliteStore.detection_inputs, as pipeline.py calls it:
    poll 1 shows "4 soldiers killed", poll 2 (30s later) shows "5 soldiers killed" instead."""
    store = SqliteStore.open(tmp_path / "state.db")
    try:
        detections: list[Detection] = []
        for now, lines in [
            (T0, [SOLDIERS_4, SIRENS]),
            (T0 + timedelta(seconds=30), [SOLDIERS_5, SIRENS]),
        ]:
            page = page_of(*lines)
            with store.transaction():
                inputs = store.detection_inputs("src", list(page), gone_after=now - WINDOW)
                detection = detect(
                    page=page,
                    known=inputs.known,
                    present=inputs.present,
                    recently_gone=inputs.recently_gone,
                    now=now,
                    realert_after=WINDOW,
                    baseline=not detections,
                )
                store.record_detection("src", detection, now=now)
            detections.append(detection)
    finally:
        store.close()
    [item] = detections[1].new
    assert item.key == item_key(SOLDIERS_5)
    assert item.kind is ItemKind.UPDATE
    assert item.update_of is not None
    assert item.update_of.key == item_key(SOLDIERS_4)


# -- runs of polls -------------------------------------------------------------------------------


def test_ledger_run_of_a_typical_hour() -> None:
    """Baseline, scroll, reorder, an edit, a CDN flashback and a late repeat, poll by poll."""
    ledger = Ledger()
    t = T0
    steps = [
        ([SOLDIERS_4, MOH_APPEAL, SIRENS], []),
        ([SIRENS, MOH_APPEAL, SOLDIERS_4], []),  # reordered
        ([MOH_APPEAL, SOLDIERS_4, FENCE], [(FENCE, ItemKind.NEW)]),  # scrolled
        ([MOH_APPEAL, SOLDIERS_5, FENCE], [(SOLDIERS_5, ItemKind.UPDATE)]),  # edited
        ([SOLDIERS_4, MOH_APPEAL, SIRENS], []),  # stale CDN copy
        ([MOH_APPEAL, SOLDIERS_5, FENCE], []),  # fresh again
    ]
    for lines, expected in steps:
        t += timedelta(seconds=30)
        detection = ledger.poll(items(*lines), t)
        alerts = detection.new if is_alerting(detection) else ()
        assert [(n.key, n.kind) for n in alerts] == [
            (item_key(text), kind) for text, kind in expected
        ], lines
    t += WINDOW + timedelta(minutes=1)
    detection = ledger.poll(items(MOH_APPEAL, SOLDIERS_5, FENCE, SIRENS), t)
    assert [(n.key, n.kind) for n in detection.new] == [(item_key(SIRENS), ItemKind.RETURN)]


# -- properties ----------------------------------------------------------------------------------

# Gaps between polls: a few under realert_after, some over it so that lines come back as news.
SHORT_STEPS = st.sampled_from([timedelta(seconds=s) for s in (1, 30, 90, 600)])
ANY_STEPS = st.sampled_from(
    [timedelta(seconds=30), timedelta(minutes=10), timedelta(hours=2), WINDOW, timedelta(hours=7)]
)


@st.composite
def histories(draw: st.DrawFn, steps: st.SearchStrategy[timedelta] = ANY_STEPS) -> Ledger:
    """A ledger after a few polls of random pages (the first being the baseline)."""
    ledger = Ledger()
    t = T0
    for page in draw(st.lists(ts.pages(), min_size=1, max_size=5)):
        t += draw(steps)
        ledger.poll(page, t)
    return ledger


@PROPERTY
@given(histories(), st.data())
def test_page_order_does_not_change_the_new_keys(ledger: Ledger, data: st.DataObject) -> None:
    page = data.draw(ts.pages())
    shuffled = data.draw(st.permutations(page))
    now = ledger.clock + data.draw(ANY_STEPS)
    a = ledger.detect(page, now)
    b = ledger.detect(shuffled, now)
    assert new_keys(a) == new_keys(b)
    assert set(a.seen) == set(b.seen)
    assert set(a.gone) == set(b.gone)


@PROPERTY
@given(histories(), ts.pages(), SHORT_STEPS, ANY_STEPS)
def test_same_page_twice_in_a_row_is_not_new_the_second_time(
    ledger: Ledger, page: list[PageItem], gap: timedelta, second_gap: timedelta
) -> None:
    now = ledger.clock + gap
    ledger.poll(page, now)
    again = ledger.poll(page, now + second_gap)
    assert again.new == ()
    assert set(again.seen) == set(keyed(page))
    assert again.gone == ()


@PROPERTY
@given(ts.pages())
def test_baseline_then_same_page_is_never_new(page: list[PageItem]) -> None:
    ledger = Ledger()
    first = ledger.poll(page, T0)
    assert not is_alerting(first)
    assert ledger.poll(page, T0 + timedelta(seconds=30)).new == ()


@PROPERTY
@given(histories(), ts.pages(), ANY_STEPS)
def test_every_page_item_is_either_new_or_seen(
    ledger: Ledger, page: list[PageItem], gap: timedelta
) -> None:
    detection = ledger.poll(page, ledger.clock + gap)
    keys = set(keyed(page))
    assert new_keys(detection) | set(detection.seen) == keys
    assert not new_keys(detection) & set(detection.seen)
    assert len(detection.new) == len(new_keys(detection))
    assert not set(detection.gone) & keys


@PROPERTY
@given(st.lists(st.tuples(ts.pages(), SHORT_STEPS), min_size=2, max_size=10))
def test_no_item_alerts_twice_within_realert_after(
    polls: list[tuple[list[PageItem], timedelta]],
) -> None:
    ledger = Ledger()
    t = T0
    recorded: set[str] = set()
    for page, gap in polls:
        t += gap
        detection = ledger.poll(page, t)
        keys = new_keys(detection)
        assert not keys & recorded, "alerted twice"
        recorded |= keys
    assert t - T0 < WINDOW


@PROPERTY
@given(st.lists(st.tuples(ts.pages(), ANY_STEPS), min_size=2, max_size=10))
def test_item_alerts_again_only_as_a_return_after_a_long_absence(
    polls: list[tuple[list[PageItem], timedelta]],
) -> None:
    ledger = Ledger()
    t = T0
    recorded: set[str] = set()
    on_page_now: set[str] = set()
    gone_since: dict[str, datetime] = {}
    for page, gap in polls:
        t += gap
        detection = ledger.poll(page, t)
        for n in detection.new:
            if n.key in recorded:
                assert n.kind is ItemKind.RETURN, n
                assert n.key not in on_page_now
                assert t - gone_since[n.key] > WINDOW
        recorded |= new_keys(detection)
        keys = set(keyed(page))
        for key in on_page_now - keys:
            gone_since[key] = t
        on_page_now = keys


def test_an_unchanged_page_moves_only_the_success_fields_and_keeps_the_rest() -> None:
    # unchanged() builds its state field by field (it runs for every 304): a field added to
    # SourceState and forgotten there would be reset to its default on every quiet poll.
    before = SourceState(
        source_id="s",
        etag='"e1"',
        last_modified="Mon, 07 Dec 2026 08:00:00 GMT",
        body_digest="d1",
        last_success=T0,
        last_attempt=T0,
        consecutive_failures=2,
        last_error="HTTP 500",
        baseline_done=True,
    )
    now = T0 + timedelta(minutes=1)
    after = unchanged(before, Validators(etag='"e2"'), now=now)
    # Every field is given a value unlike its default above: a new one must be added there
    # (and to unchanged()) for this test to pass.
    assert {f.name for f in fields(SourceState)} == {
        "source_id",
        "etag",
        "last_modified",
        "body_digest",
        "last_success",
        "last_attempt",
        "consecutive_failures",
        "last_error",
        "baseline_done",
    }
    moved = {"etag", "last_success", "last_attempt", "consecutive_failures", "last_error"}
    assert (after.etag, after.last_success, after.last_attempt) == ('"e2"', now, now)
    assert (after.consecutive_failures, after.last_error) == (0, None)
    for f in fields(SourceState):
        if f.name not in moved:
            assert getattr(after, f.name) == getattr(before, f.name), f.name


# Lines of one template, figures and repeated words: many candidates close to each other.
_EDIT_WORDS = st.sampled_from(["sirens", "sound", "in", "metula", "gaza", "the", "4", "5", "12"])
_EDIT_LINE = st.lists(_EDIT_WORDS, min_size=1, max_size=9).map(" ".join)


@settings(max_examples=300, deadline=None)
@given(new=_EDIT_LINE, left=st.lists(_EDIT_LINE, max_size=12, unique=True))
def test_the_edit_found_is_the_best_sequence_match_of_the_lines_that_left(
    new: str, left: list[str]
) -> None:
    """The bounds that spare the sequence match change nothing: the line taken as edited is
    the first of the best-scoring lines that left, as a match against every one would find."""
    gone = [
        gone_item(text, timedelta(minutes=5)) for text in left if item_key(text) != item_key(new)
    ]
    gone = list({g.key: g for g in gone}.values())
    detection = run(page_of(new), recently_gone=gone)
    best, best_ratio = None, 0.0
    for candidate in gone:
        ratio = edit_similarity(item_key(new), candidate.key)
        if ratio > best_ratio:
            best, best_ratio = candidate, ratio
    expected = best if best_ratio >= EDIT_SIMILARITY else None
    (item,) = detection.new
    assert item.update_of == expected
