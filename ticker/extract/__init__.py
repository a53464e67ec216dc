"""From a page to its ticker items, with parsel: ``css:``, ``xpath:`` and ``jmespath:`` selectors.

``selectors`` compiles them (a bad one is a configuration error, never a crash at poll time),
``items`` reads a parsed page's items within bounds, ``region`` reads only the ticker's region of
a page when its selectors allow it.
"""

from ticker.extract.items import (
    MAX_CHARS,
    MAX_ITEMS,
    Extraction,
    Page,
    absolute_link,
    embedded_page,
    extract,
    parse_page,
)
from ticker.extract.region import REGION_MARGIN, extract_prefix, extract_region, ticker_region
from ticker.extract.selectors import KINDS, Kind, Selector, compile_selector

__all__ = [
    "KINDS",
    "MAX_CHARS",
    "MAX_ITEMS",
    "REGION_MARGIN",
    "Extraction",
    "Kind",
    "Page",
    "Selector",
    "absolute_link",
    "compile_selector",
    "embedded_page",
    "extract",
    "extract_prefix",
    "extract_region",
    "parse_page",
    "ticker_region",
]
