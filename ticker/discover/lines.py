"""What a ticker line looks like: a headline, not a date, a menu word, a teaser or a paragraph."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

# Dates and times in the shapes news pages print them: 20:49, 4:53 pm, 04.05.2020, 2020-10-26,
# 26/10/2020, "October 26, 2020", "26 Oct", "vor 5 Minuten", "2 hours ago", "منذ", "前".
_DATE = re.compile(
    r"\b\d{1,2}:\d{2}(?::\d{2})?\s*(?:am|pm|uhr|h)?\b"
    r"|\b\d{1,4}[./-]\d{1,2}[./-]\d{1,4}\b"
    r"|\b(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?\s+\d{1,2}\b"
    r"|\b\d{1,2}\.?\s+(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\b"
    r"|\b\d+\s*(?:min|mins|minutes|minuten|hours?|hrs?|stunden?|days?|tagen?)\b"
    r"|\b(?:ago|vor|hace|il y a|منذ)\b|\d+\s*(?:分钟|小時|小时|分前|時間前)前?",
    re.IGNORECASE,
)
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]")
_LETTER = re.compile(r"[^\W\d_]")

MAX_LINE = 220  # longer is a teaser or a paragraph


def headline_score(text: str) -> float:
    """How much ``text`` looks like one headline: about 1 for a good one, below 0 for a date,
    a one-word menu entry or a paragraph."""
    n = len(text)
    if n < 4 or not _LETTER.search(text):
        return -3.0
    cjk = len(_CJK.findall(text))
    words = len(text.split()) if cjk < 4 else max(1, n // 3)
    if n > MAX_LINE:
        score = -1.0
    elif 20 <= n <= 140 or (cjk >= 8 and n <= 100):
        score = 1.0
    elif n > 140:
        score = 0.3
    elif n >= 12 or cjk >= 5:
        score = 0.4
    else:
        score = -0.8
    if words < 3:
        score -= 0.7
    dates = _DATE.findall(text)
    if dates:
        dated = sum(len(d) for d in dates)
        score -= 2.5 if dated * 2 >= n else 0.7
    return score


def headline_like(text: str) -> bool:
    return headline_score(text) >= 0.3


def lines_quality(lines: Sequence[str]) -> float:
    """Mean headline score of ``lines``, less for repeated lines; -3 for none."""
    if not lines:
        return -3.0
    mean = sum(headline_score(line) for line in lines) / len(lines)
    distinct = len(set(lines)) / len(lines)
    return mean - (1.0 - distinct)


def comparable(text: str) -> str:
    """A line as a person would compare it: NFKC, case folded, whitespace collapsed, and the
    decorations around it ("+++", bullets, quotes) off."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = re.sub(r"[+*•·|]{2,}|[\"'“”„«»‘’]", " ", text)
    return " ".join(text.split()).strip(" .:-–—")
