"""structlog configuration, and the redaction of secrets from everything logged (no secret in a
log).

Only this module configures logging. Logs go to stderr: a console renderer on a terminal, JSON
lines otherwise (journald, files). Apprise URLs carry tokens and passwords, so every string in
every event passes a redactor that knows the configured secrets and the usual token shapes, and
the chatty libraries are held at WARNING unless debugging is asked for.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable, MutableMapping
from typing import Any, TextIO

import structlog

from ticker.redact import MASK, secret_parts, source_secret_parts

_TOKEN_SHAPES = [
    re.compile(r"\b\d{6,12}:[A-Za-z0-9_-]{30,}\b"),  # Telegram bot token
    re.compile(r"(?<=hooks\.slack\.com/services/)[A-Za-z0-9/_-]+"),
    re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}\b"),  # Slack API tokens
    re.compile(r"(?<=://)[^/\s:@]+:[^@\s/]+(?=@)"),  # user:password@ in any URL
]
_SHORT = 64  # characters: strings up to this long are remembered once redacted
_SHORT_KEPT = 4096


class Redactor:
    """Replaces known secrets and token-shaped strings in log events."""

    def __init__(self) -> None:
        self._secrets: set[str] = set()
        self._pattern = _compile(set())
        # Short strings recur in every event (event names, statuses, source ids): each is
        # scanned once per set of secrets, not once per event.
        self._short: dict[str, str] = {}

    def add_urls(
        self, urls: Iterable[str], *, sources: Iterable[str] = (), secrets: Iterable[str] = ()
    ) -> None:
        """Learn the secret parts of apprise URLs (credentials, host-as-token, path segments),
        of source URLs (credentials and query values only: a page's path is public) and other
        ``secrets`` whole (the endpoint's token)."""
        self._secrets.update(secrets)
        for url in urls:
            self._secrets.update(secret_parts(url))
        for url in sources:
            self._secrets.update(source_secret_parts(url))
        self._pattern = _compile(self._secrets)
        # After the new pattern: a string remembered meanwhile under the old one is forgotten.
        self._short = {}

    def redact(self, text: str) -> str:
        # Nothing shorter than the shortest secret (4) can hold one: most fields of an event.
        if len(text) < 4:
            return text
        if len(text) > _SHORT:
            return self._pattern.sub(MASK, text)
        short = self._short
        done = short.get(text)
        if done is None:
            done = self._pattern.sub(MASK, text)
            if len(short) >= _SHORT_KEPT:
                short.clear()
            short[text] = done
        return done

    def __call__(
        self, logger: Any, method: str, event: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        for key, value in event.items():
            if key in _OURS:
                continue
            if isinstance(value, str):
                event[key] = self.redact(value)
            elif isinstance(value, BaseException):
                event[key] = self.redact(str(value))
        return event


# Fields structlog itself adds: never a secret.
_OURS = frozenset(("timestamp", "level"))


def _compile(secrets: set[str]) -> re.Pattern[str]:
    """One pattern for the known secrets (longest first) and every token shape: one scan of
    each string instead of five."""
    ordered = sorted((s for s in secrets if len(s) >= 4), key=len, reverse=True)
    return re.compile("|".join([*map(re.escape, ordered), *(p.pattern for p in _TOKEN_SHAPES)]))


REDACTOR = Redactor()


def configure(*, fmt: str = "auto", level: str = "info", stream: TextIO | None = None) -> None:
    """Configure structlog and stdlib logging. ``fmt``: auto, console or json."""
    stream = stream or sys.stderr
    if fmt == "auto":
        fmt = "console" if stream.isatty() else "json"
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        numeric = logging.INFO
    # The redactor runs once, last before rendering, after anything that makes new strings.
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: Any = (
        structlog.dev.ConsoleRenderer(colors=stream.isatty())
        if fmt == "console"
        else structlog.processors.JSONRenderer()
    )
    structlog.configure(
        processors=[
            *shared,
            structlog.processors.format_exc_info,
            REDACTOR,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(stream),
        # A logger bound once per module, not rebuilt for every event (18 µs of a 43 µs poll
        # event): configure() runs once per process, before anything logs.
        cache_logger_on_first_use=True,
    )
    # Libraries log through stdlib logging; their DEBUG lines print tokens in URLs, so they stay
    # at WARNING unless the user asks for debug, and still pass the redactor.
    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                REDACTOR,
                renderer,
            ],
            foreign_pre_chain=shared,
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(numeric)
    debug = numeric <= logging.DEBUG
    library_level = logging.DEBUG if debug else logging.WARNING
    for name in ("apprise", "urllib3", "aiohttp", "asyncio", "charset_normalizer"):
        logging.getLogger(name).setLevel(max(library_level, numeric))
    # apprise's own lines repeat the delivery event ticker logs for each send (which quotes
    # apprise's reason, captured per send in its result) and show ticker's internal URL
    # parameters: below debug they stay with that capture. The NullHandler keeps logging's
    # last-resort handler from printing them anyway.
    apprise_log = logging.getLogger("apprise")
    apprise_log.propagate = debug
    if not any(isinstance(h, logging.NullHandler) for h in apprise_log.handlers):
        apprise_log.addHandler(logging.NullHandler())
