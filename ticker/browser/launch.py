"""Starting the system's Chromium under Playwright, and measuring what it costs.

Playwright is an optional extra and Chromium is the system's (Debian's ``chromium`` package):
ticker never downloads a browser. Both are looked up only when a browser is first needed, and
their absence is a ``BrowserUnavailable`` whose message says what to install.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from ticker.errors import FetchError

if TYPE_CHECKING:
    from playwright.async_api import Browser, Playwright

INSTALL_HINT = (
    "pip install 'ticker-news[browser]' (Playwright), and Debian's chromium package "
    "(apt install chromium); ticker uses the system's Chromium and never downloads one"
)
#: Looked up on PATH in this order, after $TICKER_CHROMIUM.
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
#: Headless, no GPU, nothing running in the background, no crash reporter left behind.
ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-default-apps",
    "--disable-extensions",
    "--disable-sync",
    "--disable-breakpad",
    "--disable-crash-reporter",
    "--no-first-run",
    "--mute-audio",
)
LAUNCH_TIMEOUT = 30.0


class BrowserUnavailable(FetchError):
    """Playwright is not installed or no Chromium was found; the message says what to install.

    A FetchError (kind ``render``) so that a ``render = true`` source without a browser fails
    like any other source; a TickerError for the commands.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message, kind="render")


def playwright_missing() -> str | None:
    """Why Playwright cannot be imported (what to install), or None when it can."""
    try:
        import playwright.async_api  # noqa: F401  (only whether it imports)
    except ImportError as exc:
        return f"Playwright is not installed ({exc}); {INSTALL_HINT}"
    return None


def find_chromium() -> Path:
    """The system Chromium: $TICKER_CHROMIUM, else the first of CHROMIUM_NAMES on PATH.

    Raises BrowserUnavailable when there is none."""
    named = os.environ.get("TICKER_CHROMIUM", "").strip()
    if named:
        path = Path(named)
        if path.is_file() and os.access(path, os.X_OK):
            return path
        raise BrowserUnavailable(f"TICKER_CHROMIUM={named!r} is not an executable file")
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return Path(found)
    raise BrowserUnavailable(
        f"no Chromium found (looked for {', '.join(CHROMIUM_NAMES)} on PATH and "
        f"$TICKER_CHROMIUM); {INSTALL_HINT}"
    )


def browser_problem() -> str | None:
    """What stops a browser from starting here (checked offline), or None."""
    missing = playwright_missing()
    if missing is not None:
        return missing
    try:
        find_chromium()
    except BrowserUnavailable as exc:
        return str(exc)
    return None


async def start_playwright() -> Playwright:
    """Playwright's driver, started. Raises BrowserUnavailable without the extra."""
    missing = playwright_missing()
    if missing is not None:
        raise BrowserUnavailable(missing)
    from playwright.async_api import Error, async_playwright

    try:
        return await async_playwright().start()
    except (Error, OSError) as exc:
        raise BrowserUnavailable(f"Playwright's driver did not start: {exc}") from exc


async def launch(pw: Playwright, executable: Path) -> Browser:
    """A headless Chromium from ``executable``. Raises BrowserUnavailable when it will not
    start (a broken install, no memory)."""
    from playwright.async_api import Error

    try:
        return await pw.chromium.launch(
            executable_path=str(executable),
            args=list(ARGS),
            headless=True,
            timeout=LAUNCH_TIMEOUT * 1000,
            handle_sigint=False,
            handle_sigterm=False,
            handle_sighup=False,
        )
    except Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise BrowserUnavailable(f"Chromium ({executable}) did not start: {first}") from exc


# -- what the browser costs ------------------------------------------------------------------


def _stat(pid: str) -> tuple[int, str, int] | None:
    """(parent pid, command name, resident pages) of a process, or None once it is gone."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            stat = f.read()
    except OSError:
        return None
    close = stat.rfind(")")
    comm = stat[stat.find("(") + 1 : close]
    fields = stat[close + 2 :].split()
    try:
        return int(fields[1]), comm, int(fields[21])
    except (IndexError, ValueError):
        return None


def _pss(pid: int) -> int | None:
    """Bytes of the process's proportional set size (its share of shared pages), or None
    where smaps_rollup cannot be read."""
    try:
        with open(f"/proc/{pid}/smaps_rollup", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def browser_memory(root: int | None = None) -> int:
    """Bytes held by the Chromium processes descended from ``root`` (this process by default):
    the browser, its zygotes, renderers and utilities. 0 where /proc is missing.

    Each process counts its PSS (shared pages divided among those sharing them): a plain sum
    of RSS counts Chromium's ~70 MB of shared binary once per process, near 600 MB for one idle
    browser of eight processes that hold about 200 MB. RSS is the fallback where PSS cannot
    be read."""
    root = os.getpid() if root is None else root
    try:
        pids = [p for p in os.listdir("/proc") if p.isdigit()]
    except OSError:
        return 0
    table: dict[int, tuple[int, str, int]] = {}
    for name in pids:
        st = _stat(name)
        if st is not None:
            table[int(name)] = st
    children: dict[int, list[int]] = {}
    for pid, (ppid, _, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    page = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
    total, stack = 0, list(children.get(root, []))
    while stack:
        child = stack.pop()
        _, comm, pages = table[child]
        if "chrom" in comm.lower():
            pss = _pss(child)
            total += pages * page if pss is None else pss
        stack.extend(children.get(child, []))
    return total
