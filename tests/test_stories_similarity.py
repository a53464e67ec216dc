"""The stories core (issue 15): the same-event score and the window of recent lines.

The figures on the labelled headline pairs of ``../shared/headlines/`` are asserted against the
issue's targets; a run without that data skips them, and fails in CI.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, fields

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from shared_data import SHARED, need

from ticker.stories import DEFAULT_THRESHOLD, StoryWindow, features, same, score, score_features
from ticker.stories.similarity import (
    RAW_THRESHOLD,
    Features,
    calibrate,
    raw_threshold,
    words_only,
)
from ticker.stories.text import fold, read, strip_arabic
from ticker.stories.window import RECENT

HEADLINES = SHARED / "headlines"


@dataclass(frozen=True)
class Pair:
    a: str
    b: str
    same: bool
    lang: str
    split: str


def pairs(name: str) -> list[Pair]:
    path = need(HEADLINES / name)
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    return [Pair(r["a"], r["b"], r["same_event"], r["lang"], r["split"]) for r in rows]


def precision_recall(rows: list[Pair], threshold: float = DEFAULT_THRESHOLD) -> tuple[float, float]:
    said = [score(p.a, p.b) >= threshold for p in rows]
    tp = sum(1 for s, p in zip(said, rows, strict=True) if s and p.same)
    fp = sum(1 for s, p in zip(said, rows, strict=True) if s and not p.same)
    return tp / max(1, tp + fp), tp / max(1, sum(p.same for p in rows))


# --- Arabic folding -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("variant", "plain"),
    [
        ("أحمد", "احمد"),  # alef with hamza above
        ("إسرائيل", "اسرائيل"),  # alef with hamza below
        ("آلاف", "الاف"),  # alef with madda
        ("ٱلله", "الله"),  # alef wasla
        ("مدرسة", "مدرسه"),  # taa marbuta
        ("على", "علي"),  # alef maqsura
        ("قُتِلَ", "قتل"),  # harakat
        ("هٰذا", "هذا"),  # superscript alef
        ("قـــتل", "قتل"),  # tatweel
        ("٢٥", "25"),  # Arabic-Indic digits
        ("۲۵", "25"),  # Persian digits
    ],
)
def test_arabic_orthographic_variants_fold_to_one_spelling(variant: str, plain: str) -> None:
    assert fold(variant) == fold(plain)


@pytest.mark.parametrize(
    ("word", "bare"),
    [
        ("المدارس", "مدارس"),
        ("والمدارس", "مدارس"),
        ("بالمدرسه", "مدرسه"),
        ("للمدارس", "مدارس"),
        ("فالحكومه", "حكومه"),
        ("وقال", "قال"),
        ("الجو", "جو"),  # two letters remain after the article
        ("ولد", "ولد"),  # a bare conjunction only when three letters remain
        ("لبنان", "لبنان"),  # a bare preposition is never stripped
        ("بيروت", "بيروت"),
    ],
)
def test_arabic_prefixes_are_stripped_conservatively(word: str, bare: str) -> None:
    assert strip_arabic(word) == bare


def test_arabic_headlines_that_differ_only_in_spelling_score_one() -> None:
    a = "قُتِلَ خمسةُ أشخاصٍ في غارةٍ إسرائيليةٍ على جنوب لبنان"
    b = "قتل خمسه اشخاص في غاره اسرائيليه علي جنوب لبنان"
    assert score(a, b) == 1.0
    assert features(a).numbers == frozenset({"5"})


def test_arabic_digits_and_number_words_are_the_same_figures() -> None:
    assert read("مقتل ٥ جنود").numbers == read("مقتل 5 جنود").numbers == {"5"}
    assert read("مقتل ۵ جنود").numbers == {"5"}
    assert read("مقتل خمسة جنود").numbers == {"5"}


def test_arabic_lines_with_different_figures_are_different_reports() -> None:
    assert not same("مقتل ٤ جنود في هجوم على دمشق", "مقتل ٥ جنود في هجوم على دمشق")


# --- figures --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("4 killed in Baghdad bombing", "5 killed in Baghdad bombing"),
        ("7 killed in attacks in Iraq", "27 killed in attacks in Iraq"),
        ("Quake of magnitude 6.1 hits Papua", "Quake of magnitude 6.6 hits Papua"),
        ("Four killed in Baghdad bombing", "5 killed in Baghdad bombing"),
    ],
)
def test_lines_whose_figures_differ_score_at_most_half(a: str, b: str) -> None:
    assert score(a, b) <= 0.5 < DEFAULT_THRESHOLD
    assert not same(a, b)


def test_figures_in_words_and_digits_agree() -> None:
    assert same("Fire in Beijing kills 10", "Fire in Beijing kills ten")
    assert read("1,000 prisoners escape").numbers == read("1000 prisoners escape").numbers


def test_a_figure_only_one_line_states_is_no_contradiction() -> None:
    """Stating the toll where the other line does not, or one more figure, is a detail."""
    assert same("Israeli strike kills 5 in southern Lebanon", "Israeli strike kills 5 in Lebanon")
    assert score("Syria death toll tops 100,000", "Syria death toll tops 100,000 in 2013") > 0.5


# --- English ---------------------------------------------------------------------------------


PARAPHRASES = [
    ("Sheryl Crow says has benign brain tumor", "Sheryl Crow Has a Benign Brain Tumor"),
    (
        "Syrian army retakes Crusader castle from rebels",
        "Syrian army retakes historic Crusader castle",
    ),
    ("Fidel Castro celebrates 86th birthday", "Castro celebrates 86th birthday Monday"),
    (
        "6.6 quake rocks Indonesia's Papua: USGS",
        "6.6 quake rocks Indonesia's Papua: US Geological Survey",
    ),
    (
        "Israeli strike kills 5 in southern Lebanon",
        "5 killed in Israeli airstrike on south Lebanon",
    ),
]


@pytest.mark.parametrize(("a", "b"), PARAPHRASES)
def test_paraphrases_of_one_event_are_the_same_story(a: str, b: str) -> None:
    assert same(a, b), score(a, b)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Indonesian president to visit UK", "Indonesian president to visit Australia"),
        ("Chinese shares close higher Tuesday", "Chinese stocks close lower Thursday"),
        ("Heavy Fighting Reported in Syria's Aleppo", "Heavy fighting reported in Damascus"),
        ("Indian stocks open lower", "Indian stocks close lower"),
        ("10 Things to Know for Wednesday", "10 Things to Know for Thursday"),
    ],
)
def test_lines_naming_different_places_days_or_opposites_are_different_stories(
    a: str, b: str
) -> None:
    assert not same(a, b), score(a, b)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=60), st.text(max_size=60))
def test_the_score_is_symmetric_bounded_and_deterministic(a: str, b: str) -> None:
    s = score(a, b)
    assert 0.0 <= s <= 1.0
    assert s == score(b, a) == score_features(features(a), features(b))


def test_a_line_is_the_same_as_itself_and_an_empty_line_as_nothing() -> None:
    line = "Massive Hurricane Sandy bears down on U.S. East Coast"
    assert score(line, line) == 1.0
    assert score("", line) == score("", "") == score("!!", "...") == 0.0


def test_the_calibration_puts_the_dev_operating_point_at_the_default_threshold() -> None:
    assert calibrate(RAW_THRESHOLD) == pytest.approx(DEFAULT_THRESHOLD)
    assert calibrate(0.0) == 0.0
    assert calibrate(1.0) == pytest.approx(1.0)
    grid = [i / 100 for i in range(101)]
    assert all(calibrate(x) < calibrate(y) for x, y in itertools.pairwise(grid))
    for s in (0.1, 0.5, 0.8, 0.9, 1.0):
        assert calibrate(raw_threshold(s)) == pytest.approx(s)


# --- measured on the labelled pairs ------------------------------------------------------


def test_english_precision_and_recall_meet_the_targets_at_the_default_threshold() -> None:
    """Issue 15: precision >= 0.95 and recall >= 0.65 on English (train: not used to choose
    the threshold); dev, where the threshold was chosen, holds too."""
    en = pairs("en_pairs.jsonl")
    for split in ("train", "dev"):
        p, r = precision_recall([x for x in en if x.split == split])
        assert p >= 0.95, (split, p, r)
        assert r >= 0.65, (split, p, r)


def test_arabic_pairs_are_matched_with_fair_precision() -> None:
    """The Arabic pairs are image captions, not news (README): a guard against regressions of
    the Arabic reading, not a tuned figure."""
    ar = [x for x in pairs("ar_pairs.jsonl") if x.lang == "ar-ar"]
    p, r = precision_recall(ar)
    assert p >= 0.7
    assert r >= 0.5


# --- the window -------------------------------------------------------------------------------

STRIKE = "Israeli strike kills 5 in southern Lebanon"
STRIKE_TOO = "5 killed in Israeli airstrike on south Lebanon"
OTHER = "Chinese shares close higher on Tuesday"


def test_a_new_line_joins_the_matching_line_of_another_source() -> None:
    w = StoryWindow(1800)
    w.add(1, 10, "a", STRIKE, 100.0)
    w.add(2, 20, "a", OTHER, 110.0)
    m = w.match("b", STRIKE_TOO, 200.0, DEFAULT_THRESHOLD)
    assert m is not None
    assert (m.story_id, m.line_id, m.text) == (10, 1, STRIKE)
    assert m.score == pytest.approx(score(STRIKE_TOO, STRIKE))


def test_lines_of_the_same_source_are_never_matched() -> None:
    w = StoryWindow(1800)
    w.add(1, 10, "a", STRIKE, 100.0)
    assert w.match("a", STRIKE_TOO, 200.0, DEFAULT_THRESHOLD) is None
    assert w.match("a", STRIKE, 200.0, DEFAULT_THRESHOLD) is None


def test_lines_outside_the_window_are_not_matched_and_expire() -> None:
    w = StoryWindow(60)
    w.add(1, 10, "a", STRIKE, 100.0)
    assert w.match("b", STRIKE_TOO, 160.0, DEFAULT_THRESHOLD) is not None
    assert w.match("b", STRIKE_TOO, 160.5, DEFAULT_THRESHOLD) is None  # not yet expired, too old
    w.expire(160.0)
    assert len(w) == 1
    w.expire(161.0)
    assert len(w) == 0
    assert not w._index  # nothing of the line is left behind


def test_the_window_holds_at_most_max_lines_the_oldest_going_first() -> None:
    w = StoryWindow(10_000, max_lines=3)
    for i in range(10):
        w.add(i, i, "a", f"{STRIKE} update number {i}", float(i))
    assert len(w) == 3
    m = w.match("b", STRIKE_TOO, 20.0, 0.0)
    assert m is not None
    assert m.line_id in {7, 8, 9}


def test_a_line_added_again_replaces_the_old_one() -> None:
    w = StoryWindow(60)
    w.add(1, 10, "a", OTHER, 100.0)
    w.add(1, 11, "a", STRIKE, 150.0)
    assert len(w) == 1
    w.expire(200.0)  # the first entry's time has passed, the line's has not
    m = w.match("b", STRIKE_TOO, 200.0, DEFAULT_THRESHOLD)
    assert m is not None
    assert m.story_id == 11


def test_the_best_match_wins_and_ties_go_to_the_first_seen_then_the_lowest_id() -> None:
    w = StoryWindow(1800)
    w.add(5, 50, "c", STRIKE, 120.0)
    w.add(4, 40, "b", STRIKE, 120.0)
    w.add(3, 30, "a", STRIKE, 130.0)
    w.add(9, 90, "d", "Israeli strike kills 5 in southern Lebanon village, army says", 100.0)
    for _ in range(3):
        m = w.match("e", STRIKE, 200.0, DEFAULT_THRESHOLD)
        assert m is not None
        assert (m.line_id, m.score) == (4, 1.0)


def test_the_index_finds_what_scoring_every_line_finds() -> None:
    """The key filter loses nothing here: the best match equals the best of all lines scored
    (a crowded word nominates only its recent lines, and no word of these 500 is crowded
    enough to lose a match)."""
    en = pairs("en_pairs.jsonl")
    texts = list(dict.fromkeys([p.a for p in en] + [p.b for p in en]))
    held, probes = texts[:500], [p.b for p in en[:150]]
    w = StoryWindow(1e9)
    for i, text in enumerate(held):
        w.add(i, i, f"s{i % 7}", text, float(i))
    feats = [features(t) for t in held]
    for threshold in (0.6, DEFAULT_THRESHOLD):
        for text in probes:
            f = features(text)
            best = max(
                ((score_features(f, g), -i) for i, g in enumerate(feats)),
                default=(0.0, 0),
            )
            m = w.match("new", text, 1e6, threshold)
            if best[0] >= threshold:
                assert m is not None
                assert m.score == best[0]
            else:
                assert m is None


def test_in_a_flood_of_lines_alike_a_new_line_joins_their_story_among_the_recent_ones() -> None:
    """Every word and figure of the new line is on hundreds of lines (crowded): they nominate
    only their most recent lines, which still hold the story, and the best of those wins."""
    w = StoryWindow(1e9)
    flood = 400
    for i in range(flood):
        w.add(i, 7, f"s{i}", f"Sirens sound in Metula and Kiryat Shmona, alert {i % 3}", float(i))
    m = w.match("new", "Sirens sound in Kiryat Shmona and Metula, alert 1", 1e6, DEFAULT_THRESHOLD)
    assert m is not None
    assert (m.story_id, m.score) == (7, 1.0)
    # One of the recent lines (the last 64 of each word, of each figure: every third line states
    # "1"), not the first of the 400.
    assert m.line_id >= flood - RECENT * 3
    assert m.line_id % 3 == 1


def test_a_source_s_own_flood_does_not_crowd_out_another_source_s_line_of_the_story() -> None:
    """Crowded words nominate the recent lines of other sources: 200 lines of source A's own
    sirens do not hide B's earlier line, which A's new line joins."""
    w = StoryWindow(1e9)
    lid = 0
    for i in range(1800):
        w.add(lid, lid, f"o{i % 50}", f"Market update {i}: shares of company{i} rose", float(lid))
        lid += 1
    w.add(lid, 999, "B", "Rocket sirens sound across Metula and Kiryat Shmona", float(lid))
    lid += 1
    for i in range(200):
        text = f"Rocket sirens sound across Metula and Kiryat Shmona wave{i}"
        w.add(lid, 5000 + i, "A", text, float(lid))
        lid += 1
    m = w.match("A", "Rocket sirens sound across Metula and Kiryat Shmona", 1e6, DEFAULT_THRESHOLD)
    assert m is not None
    assert (m.story_id, m.score) == (999, 1.0)


def test_a_line_without_figures_is_its_own_words_only_and_keeps_the_rest_otherwise() -> None:
    plain = features(OTHER)
    assert words_only(plain) is plain
    f = features(STRIKE)
    bare = words_only(f)
    assert (bare.numbers, bare.size) == (frozenset(), f.size - len(f.numbers))
    for field in fields(Features):
        if field.name not in ("numbers", "size"):
            assert getattr(bare, field.name) == getattr(f, field.name), field.name


def test_the_window_refuses_nonsense_sizes() -> None:
    with pytest.raises(ValueError, match="window_seconds"):
        StoryWindow(-1)
    with pytest.raises(ValueError, match="max_lines"):
        StoryWindow(60, max_lines=0)


def test_in_a_flood_the_lines_that_share_the_most_are_the_ones_scored() -> None:
    """300 lines alike from 300 sources all pass the bound (their words are crowded): the
    scored ones are those sharing the most with the new line, so the one identical line among
    them wins, not the first of many near misses."""
    w = StoryWindow(1e9)
    for i in range(300):
        text = f"Rocket sirens sound across Metula and Kiryat Shmona wave{i}"
        if i == 290:
            text = "Rocket sirens sound across Metula and Kiryat Shmona tonight"
        w.add(i, 1000 + i, f"s{i}", text, float(i))
    m = w.match("new", "Rocket sirens sound across Metula and Kiryat Shmona tonight", 1e6, 0.5)
    assert m is not None
    assert (m.line_id, m.story_id, m.score) == (290, 1290, 1.0)
