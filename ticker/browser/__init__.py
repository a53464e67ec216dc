"""The browser adapter: Playwright driving the system's Chromium (the optional ``browser`` extra).

``Renderer`` reads ``render = true`` sources through one shared, bounded browser; ``record``
loads a page once and keeps its traffic, for ``ticker discover --browser``
(``ticker.browser.discover``). Playwright is imported only when a browser is first needed;
without it, or without a Chromium, ``BrowserUnavailable`` says what to install, and
``browser_problem`` says it offline (``ticker validate``).
"""

from __future__ import annotations

from ticker.browser.launch import (
    INSTALL_HINT,
    BrowserUnavailable,
    browser_memory,
    browser_problem,
    find_chromium,
    playwright_missing,
)
from ticker.browser.recorder import Exchange, Frame, Recording, record
from ticker.browser.renderer import Rendered, Renderer

__all__ = [
    "INSTALL_HINT",
    "BrowserUnavailable",
    "Exchange",
    "Frame",
    "Recording",
    "Rendered",
    "Renderer",
    "browser_memory",
    "browser_problem",
    "find_chromium",
    "playwright_missing",
    "record",
]
