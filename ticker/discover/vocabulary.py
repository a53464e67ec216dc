"""The words sites use for a ticker, and for what only looks like one, in many languages.

Two vocabularies: the words of class, id, role, aria and data attributes (``breakingNews``,
``news-ticker``, ``ultimaOra``: split into tokens at case changes and punctuation) and the words
of a visible caption ("Breaking News", "Última hora", "عاجل", "快讯"). Each word weighs how
strongly it says "ticker"; the second table says "menu, footer, most read, stock prices".
Generic vocabulary only: no site's own class names.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping

STRONG = 3.0
MEDIUM = 1.5
WEAK = 0.5

# Attribute words, compact (no separators), lowercase. A multi-word entry matches adjacent
# tokens joined ("breaking" + "news"), or one token holding it whole ("breakingnews").
ATTR_WORDS: Mapping[str, float] = {
    **dict.fromkeys(
        (
            "ticker",
            "newsticker",
            "liveticker",
            "breaking",
            "breakingnews",
            "marquee",
            "urgent",
            "urgente",
            "urgentes",
            "urgence",
            "eilmeldung",
            "eilmeldungen",
            "sondermeldung",
            "newsflash",
            "flashnews",
            "flashinfo",
            "lastminute",
            "ultimaora",
            "ultimahora",
            "ultimominuto",
            "derniereminute",
            "sondakika",
            "kuaixun",
            "sokuho",
            "srochno",
            "ajel",
            "aajel",
            "akhbarajela",
            "breakingbar",
            "newscrawl",
            "headlineticker",
            "plantao",
            "terkini",
            "beritaterkini",
            "justin",
            "tinmoi",
            "haberbandi",
            "habertikeri",
        ),
        STRONG,
    ),
    **dict.fromkeys(
        (
            "latest",
            "latestnews",
            "newsbar",
            "headlinebar",
            "headlinesbar",
            "scroller",
            "scrolling",
            "crawl",
            "crawler",
            "liveblog",
            "livefeed",
            "newsfeed",
            "flash",
            "ultimas",
            "ultime",
            "dernieres",
            "neueste",
            "aktuelles",
            "live",
            "rolling",
            "newsstrip",
            "newsline",
            "topbar",
            "alertbar",
            "alert",
            "bulletin",
        ),
        MEDIUM,
    ),
    **dict.fromkeys(("slider", "carousel", "headlines", "news", "roll", "scroll"), WEAK),
}
# Words that say "not a ticker": navigation, page furniture, rankings, prices, ads.
ATTR_PENALTIES: Mapping[str, float] = {
    **dict.fromkeys(
        (
            "menu",
            "nav",
            "navbar",
            "navigation",
            "breadcrumb",
            "breadcrumbs",
            "footer",
            "mostread",
            "mostpopular",
            "mostviewed",
            "mostshared",
            "mostcommented",
            "popular",
            "trending",
            "related",
            "recommended",
            "recommendations",
            "meistgelesen",
            "masleidas",
            "masleido",
            "masvisto",
            "piuletti",
            "piulette",
            "pluslus",
            "ranking",
            "stock",
            "stocks",
            "market",
            "markets",
            "quote",
            "quotes",
            "crypto",
            "currency",
            "forex",
            "weather",
            "cookie",
            "consent",
            "sitemap",
            "pagination",
            "comments",
            "newsletter",
            "subscribe",
            "sponsor",
            "sponsored",
            "advert",
            "advertisement",
            "social",
            "share",
            "sharing",
            "tags",
            "taglist",
            "sidenav",
            "megamenu",
            "dropdown",
            "submenu",
            "toolbar",
            "login",
            "search",
            "promo",
            "partner",
            "partners",
        ),
        2.0,
    ),
    **dict.fromkeys(("more", "also", "read", "top", "ad", "ads", "widget"), 0.0),
}

# Caption words, matched on NFKC-lowercased text with spaces collapsed. Scripts without word
# spaces (Arabic words are spaced, CJK are not) match as substrings; Latin ones as words.
LABEL_WORDS: Mapping[str, float] = {
    **dict.fromkeys(
        (
            "breaking",
            "breaking news",
            "ticker",
            "newsticker",
            "news ticker",
            "liveticker",
            "eilmeldung",
            "eilmeldungen",
            "sondermeldung",
            "ultima ora",
            "ultim'ora",
            "última hora",
            "ultima hora",
            "último minuto",
            "ultimo minuto",
            "urgente",
            "urgent",
            "dernière minute",
            "derniere minute",
            "flash info",
            "news flash",
            "newsflash",
            "son dakika",
            "berita terkini",
            "terkini",
            "just in",
            "срочно",
            "молния",
            "快讯",
            "快訊",
            "速報",
            "速报",
            "突发",
            "突發",
            "عاجل",
            "اخبار عاجلة",
            "أخبار عاجلة",
            "الأخبار العاجلة",
            "breaking now",
            "plantão",
            "tin nóng",
        ),
        STRONG,
    ),
    **dict.fromkeys(
        (
            "latest",
            "the latest",
            "latest news",
            "live",
            "news feed",
            "neueste",
            "aktuell",
            "últimas noticias",
            "ultime notizie",
            "dernières infos",
            "最新",
            "آخر الأخبار",
            "آخر الاخبار",
            "top news",
        ),
        MEDIUM,
    ),
}
LABEL_PENALTIES: Mapping[str, float] = dict.fromkeys(
    (
        "most read",
        "most popular",
        "most viewed",
        "trending",
        "popular",
        "related",
        "recommended",
        "more from",
        "you may also like",
        "meistgelesen",
        "meist gelesen",
        "más leídas",
        "más leído",
        "lo más",
        "più lette",
        "più letti",
        "les plus lus",
        "أكثر قراءة",
        "اكثر قراءة",
        "الأكثر قراءة",
        "الأكثر",
        "热门",
        "排行",
        "人気",
        "ランキング",
        "markets",
        "stocks",
        "weather",
        "advertisement",
        "anzeige",
        "publicidad",
    ),
    2.0,
)

_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])")
_SPLIT = re.compile(r"[\W_]+")
# Only an attribute string holding one of these is tokenised: most elements hold none.
_ATTR_HINT = re.compile(
    "|".join(
        sorted(
            {w[:6] for w in (*ATTR_WORDS, *ATTR_PENALTIES) if len(w) >= 2},
            key=len,
            reverse=True,
        )
    )
)


def tokens(value: str) -> list[str]:
    """``"topRightTickerHolder mh-ticker_item"`` -> ``["top", "right", "ticker", ...]``."""
    return [t for t in _SPLIT.split(_CAMEL.sub(" ", value).lower()) if t]


def _word_weight(words: Iterable[str], table: Mapping[str, float]) -> tuple[float, str | None]:
    """The heaviest entry of ``table`` among the tokens and adjacent pairs and triples."""
    toks = list(words)
    best, which = 0.0, None
    for i in range(len(toks)):
        joined = ""
        for j in range(i, min(i + 3, len(toks))):
            joined += toks[j]
            weight = table.get(joined)
            if weight is None and j == i:
                weight = _compound(joined, table)
            if weight is not None and weight > best:
                best, which = weight, joined
    return best, which


def _compound(token: str, table: Mapping[str, float]) -> float | None:
    """A token that holds a long entry whole: ``newsticker``, ``articlesmostread``."""
    if token.endswith("ticker") and not token.endswith("sticker"):
        return table.get("ticker")
    for entry, weight in table.items():
        if len(entry) >= 7 and entry in token and weight > 0:
            return weight
    return None


def attr_text(attrib: Mapping[str, str]) -> str:
    """The attribute values that name what an element is: class, id, role, aria, data values."""
    parts = []
    for name, value in attrib.items():
        if len(value) > 200:
            continue
        named = name in ("class", "id", "role", "aria-label", "aria-roledescription", "title")
        data = name.startswith("data-") and len(value) <= 60 and not value.startswith(("{", "["))
        if named or data:
            parts.append(value)
    return " ".join(parts)


def attr_scores(text: str) -> tuple[float, float, str | None]:
    """(ticker weight, penalty weight, the ticker word) of an element's attribute text."""
    if not text or not _ATTR_HINT.search(_SPLIT.sub("", text.lower())):
        return 0.0, 0.0, None
    toks = tokens(text)
    good, word = _word_weight(toks, ATTR_WORDS)
    bad, _ = _word_weight(toks, ATTR_PENALTIES)
    return good, bad, word


def fold(text: str) -> str:
    """Text for comparing words: NFKC, lowercase, spaces collapsed, edge punctuation off."""
    text = unicodedata.normalize("NFKC", text).lower()
    return " ".join(text.split()).strip(" :|-–—·•>»+*!")


def _label_weight(text: str, table: Mapping[str, float]) -> float:
    best = 0.0
    padded = f" {text} "
    words = len(text.split())
    for entry, weight in table.items():
        if weight <= best or words > len(entry.split()) + 2:  # a caption, not a sentence
            continue
        if entry.isascii() or " " in entry or _is_latin(entry):
            if f" {entry} " in padded or padded.startswith(f" {entry}"):
                best = weight
        elif entry in text:
            best = weight
    return best


def _is_latin(word: str) -> bool:
    return all(ord(c) < 0x250 or not c.isalpha() for c in word)


def label_scores(text: str) -> tuple[float, float]:
    """(ticker weight, penalty weight) of a short caption such as "Breaking News"."""
    folded = fold(text)
    if not folded or len(folded) > 40:
        return 0.0, 0.0
    folded = re.sub(r"[^\w\s']+", " ", folded)
    folded = " ".join(folded.split())
    return _label_weight(folded, LABEL_WORDS), _label_weight(folded, LABEL_PENALTIES)
