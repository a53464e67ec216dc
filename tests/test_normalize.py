"""An item's identity key and its display text: the rules of README.md "What counts as new"."""

from __future__ import annotations

import pytest
import strategies as ts
from hypothesis import given, settings
from hypothesis import strategies as st

from ticker.normalize import clean_text, item_key

PROPERTY = settings(max_examples=200, deadline=None)

GAZA_AR = "الإعلام الإسرائيلي: مقتل 4 جنود إسرائيليين في قطاع غزة"


def same_key(a: str, b: str) -> None:
    assert item_key(a) == item_key(b), (a, b)


# -- one table per rule: (variant, plain) pairs that must share a key ----------------------------

NFKC = [
    ("ＧＡＺＡ １２", "GAZA 12"),  # fullwidth letters and digits
    ("ﬁve killed", "five killed"),  # ligature
    ("Gaza\u00a0Strip", "Gaza Strip"),  # no-break space
    ("ﻻ يوجد", "لا يوجد"),  # Arabic presentation form of lam-alef
    ("Cafe\u0301 bombed", "Café bombed"),  # decomposed vs precomposed accent
    ("① killed", "1 killed"),
]

CASE_FOLD = [
    ("GAZA MINISTRY OF HEALTH: toll rises", "gaza ministry of health: toll rises"),
    ("Israeli Media: 4 Soldiers Killed", "israeli media: 4 soldiers killed"),
    ("STRASSE closed", "Straße closed"),
    ("ÚLTIMA HORA: Ataque en Gaza", "última hora: ataque en gaza"),
]

WHITESPACE = [
    ("  Sirens   sound\tin\n the   Galilee  ", "Sirens sound in the Galilee"),
    ("Sirens\r\nsound", "Sirens sound"),
    ("Sirens\u2009sound\u3000now", "Sirens sound now"),
    ("Sirens\u2028sound", "Sirens sound"),
    ("Sirens\u202fsound", "Sirens sound"),
    # Unicode White_Space that are also C0/C1 controls: vertical tab, form feed, next line.
    ("Sirens\x0bsound", "Sirens sound"),
    ("Sirens\x0csound", "Sirens sound"),
    ("Sirens\x85sound", "Sirens sound"),
]

QUOTES_AND_DASHES = [
    ("Israel’s army", "Israel's army"),
    ("the “technical fence”", 'the "technical fence"'),
    ("the «technical fence»", 'the "technical fence"'),
    ("the „technical fence‟", 'the "technical fence"'),
    ("the ‘technical fence’", "the 'technical fence'"),
    ("Gaza – Rafah", "Gaza - Rafah"),
    ("Gaza — Rafah", "Gaza - Rafah"),
    ("Gaza—Rafah", "Gaza - Rafah"),
    ("Gaza − Rafah", "Gaza-Rafah"),
    ("Gaza ‐ Rafah", "Gaza-Rafah"),
    # U+00B4 is in normalize's quote table: Spanish keyboards type it as an apostrophe.
    ("Israel´s army", "Israel's army"),
]

INVISIBLE = [
    ("Gaza\u200b Strip", "Gaza Strip"),  # zero-width space
    ("Ga\u200bza", "Gaza"),
    ("Ga\u200cza\u200d", "Gaza"),  # ZWNJ, ZWJ
    ("\ufeffGaza", "Gaza"),  # BOM
    ("Ga\u2060za", "Gaza"),  # word joiner
    ("\u200eGaza\u200f", "Gaza"),  # LRM, RLM
    ("غزة\u061c", "غزة"),  # Arabic letter mark
    ("\u202bغزة\u202c", "غزة"),  # RLE ... PDF
    ("\u2067غزة\u2069", "غزة"),  # RLI ... PDI
    ("غــــزة", "غزة"),  # tatweel U+0640
    ("قطـاع غـزة", "قطاع غزة"),
]

LABELS = [
    ("BREAKING: Sirens sound in Metula", "Sirens sound in Metula"),
    ("Breaking: Sirens sound in Metula", "Sirens sound in Metula"),
    ("BREAKING : Sirens sound in Metula", "Sirens sound in Metula"),
    ("Breaking News - Sirens sound in Metula", "Sirens sound in Metula"),
    ("Breaking news: Sirens sound in Metula", "Sirens sound in Metula"),
    ("BREAKING — Sirens sound in Metula", "Sirens sound in Metula"),
    ("Urgent | Sirens sound in Metula", "Sirens sound in Metula"),
    ("عاجل: " + GAZA_AR, GAZA_AR),
    ("عاجل | " + GAZA_AR, GAZA_AR),
    ("عــاجل: " + GAZA_AR, GAZA_AR),  # label with tatweel
    ("• Sirens sound in Metula", "Sirens sound in Metula"),
    ("- Sirens sound in Metula", "Sirens sound in Metula"),
    ("–Sirens sound in Metula", "Sirens sound in Metula"),
    ("BREAKING: • Sirens sound in Metula", "Sirens sound in Metula"),  # label then bullet
    ("Última hora: Ataque en Gaza", "Ataque en Gaza"),
]

RULES = {
    "nfkc": NFKC,
    "case_fold": CASE_FOLD,
    "whitespace_collapse": WHITESPACE,
    "quotes_and_dashes_unified": QUOTES_AND_DASHES,
    "invisible_marks_removed": INVISIBLE,
    "leading_label_dropped": LABELS,
}


@pytest.mark.parametrize(
    ("variant", "plain"),
    [
        pytest.param(v, p, id=f"{rule}-{i}")
        for rule, rows in RULES.items()
        for i, (v, p) in enumerate(rows)
    ],
)
def test_cosmetic_variant_shares_the_key(variant: str, plain: str) -> None:
    """Each rule of "What counts as new": the variant and the plain line are one item."""
    same_key(variant, plain)


# -- what the key keeps --------------------------------------------------------------------------

DIFFERENT = [
    ("Israeli media: 4 Israeli soldiers killed", "Israeli media: 5 Israeli soldiers killed"),
    ("Gaza Ministry of Health: toll rises", "Gaza Ministry of Health: hospital shelled"),
    ("مقتل 4 جنود", "مقتل 5 جنود"),
    ("Sirens sound in Metula", "Sirens sound in Nahariya"),
]


@pytest.mark.parametrize(("a", "b"), DIFFERENT)
def test_material_difference_changes_the_key(a: str, b: str) -> None:
    """Words and numbers are identity: lines that differ in them have different keys."""
    assert item_key(a) != item_key(b)


def test_arabic_text_is_otherwise_kept_intact() -> None:
    """Normalization removes marks and labels from Arabic text but keeps every letter in order."""
    assert item_key(GAZA_AR) == GAZA_AR
    assert item_key("عاجل: " + GAZA_AR) == GAZA_AR
    assert item_key("\u200f" + GAZA_AR + "\u200f") == GAZA_AR


def test_label_word_inside_the_line_is_kept() -> None:
    """Only a leading label is dropped; the same word later in the line is content."""
    assert "breaking" in item_key("Ceasefire talks: Egypt says breaking: no deal")
    assert item_key("Breaking the siege: aid convoy reaches Gaza").startswith("breaking the siege")


def test_line_that_is_only_a_label_keeps_a_key() -> None:
    """A line that is nothing but a label does not normalize to an empty key."""
    assert item_key("BREAKING:") != ""


def test_key_is_case_folded_and_collapsed() -> None:
    """The key itself: lower case, one space between words, no leading/trailing space."""
    assert item_key("  BREAKING:  Israeli   Media: 4 Soldiers  ") == "israeli media: 4 soldiers"


# -- clean_text: what people see -----------------------------------------------------------------

CLEAN = [
    pytest.param("Gaza\x00 Strip", "Gaza Strip", id="nul"),
    pytest.param("\x1b[31mGaza\x1b[0m", "[31mGaza[0m", id="esc"),
    pytest.param("Gaza\x07\x7f", "Gaza", id="bel-del"),
    pytest.param("Gaza\x9b Strip", "Gaza Strip", id="c1-csi"),
    pytest.param("\u202egnirts", "gnirts", id="rlo"),
    pytest.param("a\u202ab\u202bc\u202cd\u202de", "abcde", id="embeddings-overrides"),
    pytest.param("\u2066a\u2067b\u2068c\u2069", "abc", id="isolates"),
    pytest.param("  Sirens \n\t sound  ", "Sirens sound", id="whitespace"),
    pytest.param("Sirens\x0csound", "Sirens sound", id="form-feed-is-whitespace"),
    pytest.param(GAZA_AR, GAZA_AR, id="arabic"),
    pytest.param("\u202b" + GAZA_AR + "\u202c", GAZA_AR, id="arabic-in-embedding"),
    pytest.param("عــاجل: غزة", "عــاجل: غزة", id="arabic-tatweel-kept"),
    pytest.param(
        "Israel’s “technical fence” — BREAKING",
        "Israel’s “technical fence” — BREAKING",
        id="punctuation-kept",
    ),
    pytest.param("Cafe\u0301", "Café", id="nfc"),
]


@pytest.mark.parametrize(("raw", "shown"), CLEAN)
def test_clean_text(raw: str, shown: str) -> None:
    """Display text loses control characters and bidi overrides, and keeps scripts as written."""
    assert clean_text(raw) == shown


def test_clean_text_keeps_bidi_marks() -> None:
    """LRM/RLM are not overrides: they only help a renderer and cannot reorder text."""
    assert clean_text("\u200f" + GAZA_AR) == "\u200f" + GAZA_AR


# -- properties ----------------------------------------------------------------------------------


@PROPERTY
@given(st.text())
def test_item_key_is_idempotent_on_any_text(text: str) -> None:
    """item_key(item_key(x)) == item_key(x), for any string at all."""
    key = item_key(text)
    assert item_key(key) == key


@PROPERTY
@given(ts.headlines())
def test_item_key_is_idempotent_on_headlines(text: str) -> None:
    key = item_key(text)
    assert item_key(key) == key


@PROPERTY
@given(st.text())
def test_clean_text_is_idempotent(text: str) -> None:
    shown = clean_text(text)
    assert clean_text(shown) == shown


@PROPERTY
@given(ts.variant_pairs(ts.recased))
def test_key_ignores_case(pair: tuple[str, str]) -> None:
    same_key(*pair)


@PROPERTY
@given(ts.variant_pairs(ts.respaced))
def test_key_ignores_extra_whitespace(pair: tuple[str, str]) -> None:
    same_key(*pair)


@PROPERTY
@given(ts.variant_pairs(ts.with_invisibles))
def test_key_ignores_zero_width_characters(pair: tuple[str, str]) -> None:
    same_key(*pair)


@PROPERTY
@given(ts.variant_pairs(ts.requoted))
def test_key_ignores_quote_and_dash_style(pair: tuple[str, str]) -> None:
    same_key(*pair)


@PROPERTY
@given(ts.variant_pairs(ts.labelled))
def test_key_ignores_a_leading_label(pair: tuple[str, str]) -> None:
    same_key(*pair)


@PROPERTY
@given(ts.variant_pairs(ts.cosmetic))
def test_key_ignores_any_mix_of_cosmetic_changes(pair: tuple[str, str]) -> None:
    same_key(*pair)


@PROPERTY
@given(ts.headlines())
def test_key_of_a_headline_is_not_empty(text: str) -> None:
    """Every real line has an identity (an empty key would be dropped from the page)."""
    assert item_key(text)
