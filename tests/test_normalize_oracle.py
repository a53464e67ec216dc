"""The fast normalization against the plain one it replaced: the same key for every text.

``item_key`` and ``clean_text`` take shortcuts (an ASCII path, whitespace by ``str.split``,
``rstrip`` for the trailing stop) because a service polling 1,000 sources meets more distinct
lines than its cache holds. The plain step-by-step versions below are the rules as first
written; any text on which the two disagree is a bug in a shortcut.
"""

from __future__ import annotations

import re
import unicodedata

import pytest
import strategies as ts
from hypothesis import example, given, settings
from hypothesis import strategies as st

from ticker import normalize
from ticker.normalize import MAX_KEY_CHARS, clean_text, fixed_point, item_key

PROPERTY = settings(max_examples=1500, deadline=None)

_SPACE = re.compile(r"\s+")
_TRAILING_STOP = re.compile(r"[\s.。۔]+$")


def plain_pass(text: str) -> str:
    text = text.translate(normalize._TABLE)
    text = unicodedata.normalize("NFKC", text)
    text = unicodedata.normalize("NFKC", text.casefold())
    text = text.translate(normalize._TABLE)
    text = text.translate(normalize._CONTROLS)
    text = _SPACE.sub(" ", text).strip()
    while True:
        stripped = normalize._LABEL.sub("", text, count=1).strip()
        if stripped == text or not stripped:
            break
        text = stripped
    text = normalize._SPACED_DASH.sub("-", text)
    text = _TRAILING_STOP.sub("", text)
    return text[:MAX_KEY_CHARS]


def plain_key(text: str) -> str:
    return fixed_point(plain_pass, text)  # the loop is not what changed: only the pass


def plain_clean(text: str) -> str:
    text = unicodedata.normalize("NFC", text).translate(normalize._UNSAFE)
    return _SPACE.sub(" ", text).strip()


# Every character a rule names, and the whitespace, controls and marks around them.
SPECIAL = (
    "".join(chr(c) for c in normalize._TABLE)
    + "".join(chr(c) for c in normalize._UNSAFE)
    + " \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f\x85\xa0\u1680\u2000\u2028\u2029\u202f\u205f\u3000"
    + ".。۔:|!-*>•·▪►BREAKINGbreaking NEWSnews urgent Urgent عاجل جدا خبر"
    + "ßİıﬁ①ＧＡ\u0301éÉ"
    + "\x00\x01\x1b\x7f\x80\x9f"
)
texts = st.one_of(
    st.text(alphabet=SPECIAL, max_size=40),
    st.text(max_size=40),
    st.text(alphabet=st.characters(max_codepoint=127), max_size=60),
    ts.headlines(),
)


@PROPERTY
@given(texts)
@example("BREAKING: 'Gaza' - Rafah .")
@example("Sirens\x0bsound\x85now. . .")
@example("- -5 degrees")
@example("x" * (MAX_KEY_CHARS - 1) + " .y")
@example("BREAKING:\x00 news")
@example("Ab\u00b4c \u2212 d")
def test_item_key_equals_the_plain_rules(text: str) -> None:
    assert item_key.__wrapped__(text) == plain_key(text)


@PROPERTY
@given(texts)
@example("\u202egaza\u202c  \x00strip\n")
@example("a\x85b\u2028c")
def test_clean_text_equals_the_plain_rules(text: str) -> None:
    assert clean_text.__wrapped__(text) == plain_clean(text)


@pytest.mark.parametrize(
    "text",
    [
        "Israeli Media: 4 Soldiers Killed.",
        "It's the `end` -- or not",
        "URGENT | \u201cSirens\u201d \u2013 Metula\u3002",
        "عاجل: الإعلام الإسرائيلي: مقتل 4 جنود ۔",
    ],
)
def test_known_lines(text: str) -> None:
    assert item_key(text) == plain_key(text)
    assert clean_text(text) == plain_clean(text)
