"""Fixtures of the drills: servers in background threads, ticker processes, and the figures.

Every server and process a drill starts is stopped at teardown, failed drill or not. Each drill
records its figures (kills, duplicates, requests during an outage, peak RSS, loop lag...) with
the ``figures`` fixture; they are printed in the terminal summary and, with
``TICKER_DRILL_REPORT=FILE``, written to FILE as JSON.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from .harness import LONG, Tickers
from .servers import PageServer, Sink, SmtpSink

FIGURES: dict[str, dict[str, Any]] = {}


def _load_apprise_plugins() -> None:
    """apprise loads its plugins lazily, and one imports the deprecated ``imghdr``; with
    ``filterwarnings = error`` that is an error in the drills that build a notifier in-process.
    The warning is apprise's, so it is silenced once, here."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import apprise

        apprise.Apprise().add("json://127.0.0.1/")
        import apprise.plugins.email


_load_apprise_plugins()


@pytest.fixture
def figures(request: pytest.FixtureRequest) -> dict[str, Any]:
    """A dict of the drill's figures, reported at the end of the session."""
    data: dict[str, Any] = {"form": "long" if LONG else "short"}
    FIGURES[request.node.nodeid] = data
    return data


@pytest.fixture
def pages() -> Iterator[PageServer]:
    server = PageServer()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def sinks() -> Iterator[Callable[[str], Sink]]:
    """A factory of webhook sinks: ``sinks("desk")``."""
    made: list[Sink] = []

    def make(name: str = "sink") -> Sink:
        sink = Sink(name)
        made.append(sink)
        return sink

    try:
        yield make
    finally:
        for sink in made:
            sink.close()


@pytest.fixture
def smtp() -> Iterator[SmtpSink]:
    server = SmtpSink()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def tickers(tmp_path: Path) -> Iterator[Tickers]:
    t = Tickers(tmp_path)
    try:
        yield t
    finally:
        t.close()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not FIGURES:
        return
    terminalreporter.section("drill figures")
    for nodeid, data in FIGURES.items():
        terminalreporter.write_line(nodeid.split("::", 1)[-1])
        for key, value in data.items():
            terminalreporter.write_line(f"    {key}: {value}")
    target = os.environ.get("TICKER_DRILL_REPORT")
    if target:
        Path(target).write_text(json.dumps(FIGURES, indent=2, default=str), "utf-8")
