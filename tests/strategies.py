"""Hypothesis strategies for ticker lines, their cosmetic variants and the pages they make up.

A "headline" is a one-line ticker item made of words in Latin (accented included) and Arabic
script, optionally led by a source ("Israeli media: ...") and holding quoted words and spaced
dashes. The variant strategies change such a line only cosmetically, the way a site re-renders it:
README.md "What counts as new" says none of these changes is news.
"""

from __future__ import annotations

from collections.abc import Callable

from hypothesis import strategies as st

from ticker.model import PageItem

# Letters whose case round-trips under casefold (no Turkish dotless i: casefold("ı") != "i").
LATIN = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZéèáíóúñüçàÉÁÑÜÇ"
DIGITS = "0123456789٠١٢٣٤٥٦٧٨٩"
# Arabic letters U+0621..U+063A and U+0641..U+064A: everything but the tatweel (U+0640).
ARABIC = "".join(chr(c) for c in range(0x0621, 0x063B)) + "".join(
    chr(c) for c in range(0x0641, 0x064B)
)

# Straight and typographic quotes that must share a key. U+00B4 (acute accent, used as an
# apostrophe on Spanish keyboards) is left out here and checked on its own in test_normalize.
QUOTES = "'\"‘’“”«»„‚"
DASHES = "-‐‒–—―−"
# Whitespace a page may carry between words. Whitespace that is also a control character
# (VT, FF, NEL) is checked on its own in test_normalize.
SPACES = [" ", "  ", "\t", "\n", "\r\n", "\u00a0", "\u2009", "\u202f", "\u3000", " \n\t "]
ZERO_WIDTH = ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u200e", "\u200f", "\u061c"]
LABELS = ["BREAKING: ", "Breaking News - ", "BREAKING NEWS: ", "عاجل: ", "• ", "- ", "Urgent | "]

words = st.text(alphabet=LATIN + DIGITS + ARABIC, min_size=1, max_size=10).filter(
    lambda w: any(ch.isalpha() for ch in w)
)


@st.composite
def _word_or_quoted(draw: st.DrawFn) -> str:
    word = draw(words)
    if draw(st.integers(0, 5)) == 0:
        return f'"{word}"'
    return word


@st.composite
def headlines(draw: st.DrawFn) -> str:
    """A one-line ticker item: single spaces, a letter first, maybe "Source: ..." and " - "."""
    body = draw(st.lists(_word_or_quoted(), min_size=1, max_size=12))
    if draw(st.booleans()) and len(body) > 2:
        at = draw(st.integers(1, len(body) - 1))
        body.insert(at, "-")
    text = " ".join(body)
    if draw(st.booleans()):
        text = f"{draw(words)} {draw(words)}: {text}"
    return draw(words) + " " + text


@st.composite
def recased(draw: st.DrawFn, text: str) -> str:
    """``text`` with the case of random letters changed."""
    upper = draw(st.integers(0, 2 ** len(text) - 1))
    lower = draw(st.integers(0, 2 ** len(text) - 1))
    out = []
    for i, ch in enumerate(text):
        if upper >> i & 1:
            ch = ch.upper()
        elif lower >> i & 1:
            ch = ch.lower()
        out.append(ch)
    return "".join(out)


@st.composite
def respaced(draw: st.DrawFn, text: str) -> str:
    """``text`` with every space replaced by some run of whitespace, and some around it."""
    parts = text.split(" ")
    out = draw(st.sampled_from(["", *SPACES]))
    for i, part in enumerate(parts):
        if i:
            out += draw(st.sampled_from(SPACES))
        out += part
    return out + draw(st.sampled_from(["", *SPACES]))


@st.composite
def with_invisibles(draw: st.DrawFn, text: str) -> str:
    """``text`` with zero-width characters and bidi marks inserted at random places."""
    chars = list(text)
    for _ in range(draw(st.integers(1, 5))):
        at = draw(st.integers(0, len(chars)))
        chars.insert(at, draw(st.sampled_from(ZERO_WIDTH)))
    return "".join(chars)


@st.composite
def requoted(draw: st.DrawFn, text: str) -> str:
    """``text`` with each quote swapped for another quote and each dash for another dash."""
    out = []
    for ch in text:
        if ch in QUOTES:
            ch = draw(st.sampled_from(QUOTES))
        elif ch in DASHES:
            ch = draw(st.sampled_from(DASHES))
        out.append(ch)
    return "".join(out)


@st.composite
def labelled(draw: st.DrawFn, text: str) -> str:
    """``text`` led by a label such as "BREAKING: " or a bullet."""
    return draw(st.sampled_from(LABELS)) + text


@st.composite
def cosmetic(draw: st.DrawFn, text: str) -> str:
    """``text`` after any combination of the cosmetic changes above."""
    for change in draw(st.lists(st.sampled_from(COSMETIC_CHANGES), max_size=5)):
        text = draw(change(text))
    return text


COSMETIC_CHANGES: list[Callable[[str], st.SearchStrategy[str]]] = [
    recased,
    respaced,
    with_invisibles,
    requoted,
    labelled,
]


def variant_pairs(
    change: Callable[[str], st.SearchStrategy[str]],
) -> st.SearchStrategy[tuple[str, str]]:
    """(headline, the headline after ``change``)."""
    return headlines().flatmap(lambda text: st.tuples(st.just(text), change(text)))


# A small pool of lines, so that pages drawn from it overlap and lines come back; it holds two
# edits ("4 killed" -> "5 killed") and lines sharing a prefix ("Gaza Ministry of Health: ...").
POOL = [
    "Israeli media: 4 Israeli soldiers killed in the Gaza Strip",
    "Israeli media: 5 Israeli soldiers killed in the Gaza Strip",
    "Gaza Ministry of Health: We renew our urgent appeal to protect healthcare institutions",
    "Gaza Ministry of Health: The death toll from the aggression rises to 40,005 martyrs",
    "Sirens sound in the Upper Galilee",
    "Al Mayadeen's correspondent in South Lebanon: An Israeli force breaches the fence",
    "Palestinian sources: Several displaced Palestinians were injured west of Rafah",
    "الإعلام الإسرائيلي: مقتل 4 جنود إسرائيليين في قطاع غزة",
    "الإعلام الإسرائيلي: مقتل 5 جنود إسرائيليين في قطاع غزة",
    "وزارة الصحة في غزة: نجدد مناشدتنا العاجلة للجهات المعنية",
    "Iranian Foreign Minister arrives in Beirut",
    "Yemeni Armed Forces: We targeted a ship in the Red Sea",
]


def _dressed(line: str) -> list[str]:
    """Fixed cosmetic variants of a pool line (random ones are exercised in test_normalize)."""
    return [
        line,
        line.upper(),
        "BREAKING: " + line,
        "• " + line.replace(" ", "  ") + " ",
        line.replace("'", "’").replace(" ", " \u200b", 2),
        "عاجل: " + line.replace("ا", "ـا", 1),
    ]


DRESSED = {line: _dressed(line) for line in POOL}


@st.composite
def page_lines(draw: st.DrawFn) -> list[str]:
    """The lines of one page: some of POOL in any order, some dressed up cosmetically, some
    repeated (tickers often list a line twice)."""
    chosen = draw(st.lists(st.sampled_from(POOL), max_size=8))
    return [draw(st.sampled_from(DRESSED[line])) for line in chosen]


def pages() -> st.SearchStrategy[list[PageItem]]:
    """A page as extracted: its items, with links on some."""
    return page_lines().map(
        lambda lines: [
            PageItem(text=t, link=f"/news/{i}" if i % 2 else None) for i, t in enumerate(lines)
        ]
    )
