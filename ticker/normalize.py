"""An item's identity: its text normalized by the rules of README.md "What counts as new".

Two lines that differ only in case, spacing, punctuation style (typographic quotes and dashes,
a trailing full stop), invisible marks or a leading "BREAKING:" label share one key, so a
cosmetic change never alerts. The functions are pure and idempotent.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Callable

# Zero-width characters, bidi marks and embeddings/overrides/isolates, the BOM, soft hyphen,
# Arabic tatweel and the Mongolian vowel separator: they change bytes, never meaning.
_INVISIBLE = dict.fromkeys(
    map(
        ord,
        "\u00ad\u034f\u061c\u0640\u115f\u1160\u17b4\u17b5\u180e"
        "\u200b\u200c\u200d\u200e\u200f\u202a\u202b\u202c\u202d\u202e"
        "\u2060\u2061\u2062\u2063\u2064\u2066\u2067\u2068\u2069\ufeff",
    )
)
_QUOTES = dict.fromkeys(map(ord, "'\"`´‘’‚‛“”„‟′″‹›«»「」『』〝〞＂＇"), '"')
_DASHES = dict.fromkeys(map(ord, "‐‑‒–—―−﹘﹣－⁃"), "-")
_TABLE = {**_INVISIBLE, **_QUOTES, **_DASHES}

_SPACED_DASH = re.compile(r"\s*-\s*")
# A leading label ("BREAKING:", "Urgent -", "عاجل |") or a bullet says nothing about the news.
# A dash separates a label only with a space beside it ("Flash-floods hit ..." keeps its word),
# and a dash or star is a bullet only before a space or a letter ("-5 degrees" keeps its sign).
_LABEL = re.compile(
    r"^(?:(?:breaking(?:\s+news)?|just\s+in|urgent|update|developing|flash|alert|"
    r"ultima\s+hora|última\s+hora|urgente|عاجل|خبر\s+عاجل|عاجل\s+جدا)"
    r"(?:\s*[:|!]+|\s+-+|-+(?=\s))\s*"
    r"|[•·∙●◦▪▫■□►▶▸‣⁌⁍]+\s*|[*>\-]+(?:\s+|(?=[^\W\d])))",
)
# A trailing full stop (Latin, CJK, Urdu) and the spaces around it; only single spaces are left
# by the time it is cut, so rstrip of these does what r"[\s.。۔]+$" would.
_STOPS = " .。۔"

#: Items longer than this are cut (bounded extraction): the identity of a ticker line lives in its
#: start.
MAX_KEY_CHARS = 1000


# Never text: lone surrogates (a JSON "\ud800" escape; no UTF-8 can hold one, so SQLite could
# not store the line) and the 66 noncharacters (U+FFFE and U+FFFF are not even XML: one in a
# stored line made the Atom feed unparseable). Astral characters (emoji) are valid and stay.
_NOT_TEXT = (
    *range(0xD800, 0xE000),
    *range(0xFDD0, 0xFDF0),
    *(plane + last for plane in range(0, 0x110000, 0x10000) for last in (0xFFFE, 0xFFFF)),
)
# What XML 1.0 forbids (the C0 controls but tab, LF and CR) and what is never text.
_NOT_XML = dict.fromkeys((*(c for c in range(0x20) if c not in (9, 10, 13)), *_NOT_TEXT))

# C0 and C1 controls (NUL, ESC, ...) except those that separate words (tab, VT, FF, NEL...:
# collapsed to one space), the embeddings, overrides and isolates that can reorder what a
# reader sees (the LRM/RLM marks stay), and what is never text. Clean text is valid XML.
_UNSAFE = {
    **{c: None for c in (*range(0x20), *range(0x7F, 0xA0)) if not chr(c).isspace()},
    **dict.fromkeys((*range(0x202A, 0x202F), *range(0x2066, 0x206A))),
    **dict.fromkeys(_NOT_TEXT),
}


_CONTROLS = {c: None for c in (*range(0x20), *range(0x7F, 0xA0)) if not chr(c).isspace()}


@functools.lru_cache(maxsize=4096)
def clean_text(text: str) -> str:
    """Text as shown to people: Unicode NFC, whitespace collapsed, control characters, bidi
    overrides, lone surrogates and noncharacters removed (control characters removed), so that it is
    valid UTF-8 and valid XML text. Scripts, punctuation and emoji are otherwise kept exactly."""
    text = unicodedata.normalize("NFC", text)
    if not text.isprintable():  # every character _UNSAFE removes is unprintable
        text = text.translate(_UNSAFE)
    # str.split() and re's \s agree on what whitespace is (Py_UNICODE_ISSPACE).
    return " ".join(text.split())


def xml_safe(text: str) -> str:
    """``text`` without what XML 1.0 forbids nor what is never text (lone surrogates,
    noncharacters): for values kept as given, such as links, so they store and serve."""
    return text if text.isprintable() else text.translate(_NOT_XML)


@functools.lru_cache(maxsize=4096)  # pure, and a ticker shows the same lines poll after poll
def item_key(text: str) -> str:
    """The identity key of a ticker line. Pure and idempotent:
    ``item_key(item_key(x)) == item_key(x)``."""
    return fixed_point(_one_pass, text)


def fixed_point(step: Callable[[str], str], text: str) -> str:
    """``step`` applied until the text stops changing (at most 8 times)."""
    previous = None
    # Each pass can expose another label ("BREAKING: • Urgent: ..."); a fixed point is reached
    # in a few passes because every pass that changes the text makes it shorter or canonical.
    for _ in range(8):
        if text == previous:
            break
        previous = text
        text = step(text)
    return text


def _one_pass(text: str) -> str:
    # The same steps as the rules say, with the cheap shortcuts a line of ASCII allows (a
    # ticker of 1,000 sources shows ~10,000 distinct lines: the cache cannot hold them all).
    if text.isascii():
        # In ASCII, _TABLE maps only the quotes, NFKC changes nothing and casefold is lower.
        text = text.replace("'", '"').replace("`", '"').lower()
    else:
        # Quotes and dashes first: NFKC would split some (´ into a space and an accent).
        text = text.translate(_TABLE)
        text = unicodedata.normalize("NFKC", text)
        text = unicodedata.normalize("NFKC", text.casefold())
        text = text.translate(_TABLE)
    # Controls go, except those that separate words (VT, FF, NEL): they become spaces below.
    if not text.isprintable():  # every control is unprintable
        text = text.translate(_CONTROLS)
    text = " ".join(text.split())  # as _SPACE.sub(" ", text).strip(): the same whitespace
    while True:
        stripped = _LABEL.sub("", text, count=1).strip()
        if stripped == text or not stripped:
            break
        text = stripped
    # From here the only whitespace left is single spaces.
    if " -" in text or "- " in text:
        text = _SPACED_DASH.sub("-", text)
    text = text.rstrip(_STOPS)  # as _TRAILING_STOP
    return text[:MAX_KEY_CHARS]
