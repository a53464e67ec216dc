"""A page parsed once, within bounds: a hostile 5 MB page is read no further than its first
MAX_PAGE_CHARS characters (a ticker sits near the top, and a truncated page parses)."""

from __future__ import annotations

from typing import Any

from ticker.extract.items import Page, parse_page

MAX_PAGE_CHARS = 2_000_000


def parse(page: str) -> Page:
    """``page`` parsed as ticker's extraction parses it, cut to MAX_PAGE_CHARS."""
    parsed = parse_page(page[:MAX_PAGE_CHARS], is_json=False)
    assert isinstance(parsed, Page)
    return parsed


def parse_html(page: str) -> Any:
    """The root element of ``page``."""
    return parse(page).root
