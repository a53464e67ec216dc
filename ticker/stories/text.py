"""A headline as the story scorer reads it: folded words, stems, numbers and dates.

English and Arabic are read alike after folding: Unicode NFKC and casefold for everything;
for Arabic the orthographic variants a desk sees between outlets (alef forms, taa marbuta, alef
maqsura, diacritics, tatweel, attached conjunctions, prepositions and the article), and
Arabic-Indic and Persian digits as ASCII. Stems come from the Snowball stemmers (English and
Arabic), so "kills", "killed" and "killing" are one word. Pure: text in, values out.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass

import snowballstemmer  # type: ignore[import-untyped]

_EN = snowballstemmer.stemmer("english")
_AR = snowballstemmer.stemmer("arabic")

# Folding, applied after NFKC and casefold. Arabic: alef forms to bare alef, taa marbuta to haa,
# alef maqsura to yaa; harakat (U+064B-U+065F), the superscript alef (U+0670) and tatweel
# (U+0640) dropped; Arabic-Indic (U+0660-) and Persian (U+06F0-) digits to ASCII; the Arabic
# decimal and thousands separators and typographic apostrophes to their ASCII forms.
_FOLD: dict[int, str | None] = {
    **dict.fromkeys(map(ord, "أإآٱ"), "ا"),
    ord("ة"): "ه",
    ord("ى"): "ي",
    **dict.fromkeys(range(0x064B, 0x0660)),
    0x0670: None,
    0x0640: None,
    **{0x0660 + d: str(d) for d in range(10)},
    **{0x06F0 + d: str(d) for d in range(10)},
    0x066B: ".",
    0x066C: ",",
    **dict.fromkeys(map(ord, "’‘`´ʼ"), "'"),
}

_TOKEN = re.compile(r"\d+(?:[.,]\d+)*|[^\W\d_]+")
_WORD = re.compile(r"[^\W\d_]+")
_ACRONYM = re.compile(r"\b(?:[^\W\d_]\.){2,}")  # "u.s." -> "us", "u.n." -> "un"
_POSSESSIVE = re.compile(r"'s\b")

_ARABIC_LETTER = re.compile(r"[\u0621-\u064a]")


# Words that carry no event: English function words and headline filler, Arabic particles
# (folded forms). Kept short on purpose: a content word wrongly dropped costs recall only.
def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


STOPWORDS = _words(
    """a an the of in on at to for from by with and or but as is are was were be been being
    has have had it its this that these those he she they we you i his her their our your
    after over into about amid says said say will would can could may might not no new up out
    than then so if who what when where why how which more most vs via
    في من علي الي عن مع ان او ثم قد لا ما هذا هذه ذلك التي الذي الذين كان كانت هو هي هم بعد
    قبل عند حتي كل بين"""
)

# Number words, read as the figure they name ("kills ten" is "kills 10"). "one" is left out:
# it is more often a pronoun ("one of the ...") than a count.
_UNITS = "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen"
_TEENS = "fifteen sixteen seventeen eighteen nineteen twenty"
_TENS = "_ _ _ thirty forty fifty sixty seventy eighty ninety"
NUMBER_WORDS = {
    **{w: str(n) for n, w in enumerate(f"{_UNITS} {_TEENS}".split(" ")) if w != "one"},
    **{w: str(10 * n) for n, w in enumerate(_TENS.split(" ")) if w != "_"},
    "hundred": "100",
    # Arabic, folded: two to ten, both genders where they differ.
    "اثنان": "2",
    "اثنين": "2",
    "ثلاث": "3",
    "ثلاثه": "3",
    "اربع": "4",
    "اربعه": "4",
    "خمس": "5",
    "خمسه": "5",
    "سته": "6",
    "سبع": "7",
    "سبعه": "7",
    "ثماني": "8",
    "ثمانيه": "8",
    "تسع": "9",
    "تسعه": "9",
    "عشر": "10",
    "عشره": "10",
}

# Day and month names: two lines naming different days report different days' news. "may" and
# "march" are left out (a modal and a verb far more often than a month).
DATE_WORDS = _words(
    """monday tuesday wednesday thursday friday saturday sunday january february april june
    july august september october november december"""
)

# Headline abbreviations of the compass points ("N Korea", "S. Sudan", "W. Bank").
_COMPASS = {"n": "north", "s": "south", "e": "east", "w": "west"}

# Latin-script leftovers of figures ("86th", "$965m", "4.1bn") and single letters carry nothing.
_NOISE = _words("st nd rd th bn mn pct")

# Attached Arabic prefixes, longest first: a conjunction or preposition with the article, then
# the article; stripped when two letters or more remain ("الجو" -> "جو"). A bare conjunction
# (و, ف) is stripped when three or more remain. A bare preposition (ب, ل, ك) is left alone: too
# many words begin with those letters ("لبنان", "بيروت", "كتاب"), and before a definite noun it
# comes with the article, which the forms above take.
_AR_PREFIXES = ("وبال", "وال", "فال", "بال", "كال", "ولل", "فلل", "لل", "ال")
_AR_CONJUNCTIONS = "وف"
_AR_MIN_AFTER_ARTICLE = 2
_AR_MIN_AFTER_CONJUNCTION = 3

# Synonym groups of headline English, mapped to one word each (after stemming): the same event
# is told with these interchangeably. Only words that are near-equivalent in headlines.
_SYNONYMS = (
    "kill killed kills killing dead die dies died death deaths",
    "quake earthquake tremor",
    "blast explosion explode explodes exploded",
    "us usa america american americans",
    "uk britain british",
    "pm premier",
    "vote votes voting election elections poll polls ballot",
    "approve approves approved ok oks okay",
    "rise rises rose climb climbs gain gains up",
    "fall falls fell drop drops slip slips decline declines down slide slides",
    "biggest largest",
    "big large",
    "detain detains detained arrest arrests arrested",
    "quit quits resign resigns resigned",
    "hit hits strike strikes rock rocks batter batters pound pounds",
    "hurt injure injures injured wound wounds wounded",
    "free frees freed release releases released",
    "jail jails jailed prison prisons imprison",
    "chief head chair",
    "back backs support supports endorse endorses",
    "rescue rescues save saves",
    "seize seizes seized capture captures captured",
    "unveil unveils launch launches",
    "sick ill",
)


@functools.lru_cache(maxsize=1 << 15)
def stem(word: str) -> str:
    """The Snowball stem of a folded word (Arabic or English by its letters). Cached: the
    Snowball stemmers are pure Python, and headlines repeat their words."""
    if _ARABIC_LETTER.match(word):
        stemmed: str = _AR.stemWord(word)
        return stemmed if len(stemmed) >= 2 else word
    stemmed = _EN.stemWord(word)
    return _CANONICAL.get(stemmed, stemmed)


# Each synonym's stem -> the group's first word.
_CANONICAL: dict[str, str] = {
    _EN.stemWord(w): group.split()[0] for group in _SYNONYMS for w in group.split()
}


def fold(text: str) -> str:
    """NFKC, casefold and the Arabic folds; acronyms' dots and English possessives dropped."""
    folded = unicodedata.normalize("NFKC", text).casefold().translate(_FOLD)
    folded = _ACRONYM.sub(lambda m: m.group(0).replace(".", ""), folded)
    return _POSSESSIVE.sub("", folded)


def strip_arabic(word: str) -> str:
    """An Arabic word without its attached article (and the conjunction or preposition before
    it) or its bare conjunction."""
    for prefix in _AR_PREFIXES:
        if word.startswith(prefix) and len(word) - len(prefix) >= _AR_MIN_AFTER_ARTICLE:
            return word[len(prefix) :]
    if word[:1] in _AR_CONJUNCTIONS and len(word) - 1 >= _AR_MIN_AFTER_CONJUNCTION:
        return word[1:]
    return word


def number(token: str) -> str:
    """A figure as one spelling: "1,000" and "01000" are "1000"; "6.60" stays "6.60"."""
    whole, _, fraction = token.replace(",", "").partition(".")
    whole = whole.lstrip("0") or "0"
    return f"{whole}.{fraction}" if fraction else whole


@dataclass(frozen=True, slots=True)
class Reading:
    """What a line says, folded: its words as (stem, surface form) pairs, in order, and the
    figures and dates it names."""

    words: tuple[tuple[str, str], ...]
    surface: tuple[str, ...]  # every folded word, stopwords included (place names)
    numbers: frozenset[str]
    dates: frozenset[str]


def read(text: str) -> Reading:
    """Fold ``text`` and read its words, figures and dates. Always succeeds (an empty line has
    no words)."""
    folded = fold(text)
    words: list[tuple[str, str]] = []
    numbers: set[str] = set()
    dates: set[str] = set()
    for m in _TOKEN.finditer(folded):
        token = m.group(0)
        if token[0].isdigit():
            numbers.add(number(token))
            continue
        arabic = bool(_ARABIC_LETTER.match(token))
        if arabic:
            if token in STOPWORDS:
                continue
            bare = strip_arabic(token)
            figure = NUMBER_WORDS.get(token) or NUMBER_WORDS.get(bare)
            if figure is not None:
                numbers.add(figure)
                continue
            if bare in STOPWORDS:
                continue
            token = bare
        else:
            if token in NUMBER_WORDS:
                numbers.add(NUMBER_WORDS[token])
                continue
            token = _COMPASS.get(token, token)
            if token in STOPWORDS or token in _NOISE or len(token) < 2:
                continue
            if token in DATE_WORDS:
                dates.add(token)
        words.append((stem(token), token))
    surface = tuple(
        strip_arabic(w) if _ARABIC_LETTER.match(w) else w for w in _WORD.findall(folded)
    )
    return Reading(
        words=tuple(words), surface=surface, numbers=frozenset(numbers), dates=frozenset(dates)
    )
