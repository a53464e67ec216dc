"""structlog configuration, and the redaction of secrets from everything logged (X1).

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
from urllib.parse import unquote, urlsplit

import structlog

_TOKEN_SHAPES = [
    re.compile(r"\b\d{6,12}:[A-Za-z0-9_-]{30,}\b"),  # Telegram bot token
    re.compile(r"(?<=hooks\.slack\.com/services/)[A-Za-z0-9/_-]+"),
    re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}\b"),  # Slack API tokens
    re.compile(r"(?<=://)[^/\s:@]+:[^@\s/]+(?=@)"),  # user:password@ in any URL
]
MASK = "***"
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


def secret_parts(url: str) -> set[str]:
    """Every part of an apprise URL that may be a secret (all but the scheme and public hosts)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return {url}
    out = {url}
    for piece in (parts.username, parts.password, parts.query):
        if piece:
            out.add(piece)
            out.add(unquote(piece))
    if host_is_secret(parts.scheme, parts.hostname or ""):
        out.add(parts.netloc.rpartition("@")[2])
    for segment in parts.path.split("/"):
        if len(segment) >= 6:
            out.add(segment)
            out.add(unquote(segment))
    for pair in parts.query.split("&"):
        _, _, value = pair.partition("=")
        if len(value) >= 6:
            out.add(value)
            out.add(unquote(value))
    out.discard("")
    return out


#: Schemes whose host is a server's name; elsewhere (tgram://TOKEN/CHAT, slack://A/B/C) the
#: "host" is often the token itself.
PUBLIC_HOST_SCHEMES = frozenset(
    {"http", "https", "mailto", "mailtos", "json", "jsons", "xml", "xmls", "form", "forms"}
)


def host_is_secret(scheme: str, host: str) -> bool:
    """Whether an apprise URL's host may be a secret: any host of a scheme outside
    PUBLIC_HOST_SCHEMES, and a dotless name (a token-like word, not a server) within it."""
    if scheme.lower() not in PUBLIC_HOST_SCHEMES:
        return True
    return bool(host) and "." not in host and ":" not in host and host != "localhost"


def source_secret_parts(url: str) -> set[str]:
    """The parts of a source's URL that may be secret: user, password and query values (an
    ``?api_key=``). Values shorter than 4 characters are left: too short to be a key, and
    masking them everywhere would garble every message."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return set()
    out: set[str] = set()
    for piece in (parts.username, parts.password):
        if piece:
            out.update((piece, unquote(piece)))
    for pair in parts.query.split("&"):
        value = pair.partition("=")[2]
        if len(value) >= 4:
            out.update((value, unquote(value)))
    return {p for p in out if len(p) >= 4}


def public_url(url: str) -> str:
    """A URL fit to show: no user or password, every query value masked
    (``https://u:p@h/x?key=1&b=2`` -> ``https://h/x?key=***&b=***``)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return MASK
    netloc = f"[{host}]" if ":" in host else host
    if port is not None:
        netloc += f":{port}"
    query = "&".join(
        f"{name}={MASK}" if sep else name
        for name, sep, _ in (pair.partition("=") for pair in parts.query.split("&") if pair)
    )
    return parts._replace(netloc=netloc, query=query, fragment="").geturl()


_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>]+")


def scrub_url_secrets(text: str, url: str) -> str:
    """``text`` (an error message about a source) with every URL in it made public and the
    source URL's secret parts masked wherever else they appear (a library may quote a host
    or a query value on its own)."""
    text = _URL.sub(lambda m: public_url(m.group(0)), text)
    for secret in sorted(source_secret_parts(url), key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


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
    for name in ("apprise", "urllib3", "aiohttp", "asyncio", "apscheduler", "charset_normalizer"):
        logging.getLogger(name).setLevel(max(library_level, numeric))
    # apprise's own lines repeat the delivery event ticker logs for each send (which quotes
    # apprise's reason, captured per send in its result) and show ticker's internal URL
    # parameters: below debug they stay with that capture. The NullHandler keeps logging's
    # last-resort handler from printing them anyway.
    apprise_log = logging.getLogger("apprise")
    apprise_log.propagate = debug
    if not any(isinstance(h, logging.NullHandler) for h in apprise_log.handlers):
        apprise_log.addHandler(logging.NullHandler())
