"""The one exception tree of ticker.

    TickerError
    ├── ConfigError      the configuration is unusable (exit code 2); carries every problem
    ├── FetchError       a page could not be fetched (per source; never stops the others)
    ├── ExtractError     a page could not be parsed or a selector failed at run time
    ├── StoreError       the state database cannot be opened or written
    └── NotifyError      a channel could not be reached or configured

Library exceptions are translated inside the adapter that meets them and chained with ``from``.
"""

from __future__ import annotations

from dataclasses import dataclass


class TickerError(Exception):
    """Base of every error ticker raises on purpose."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Problem:
    """One configuration problem, located by its key path (``sources[2].items``)."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class ConfigError(TickerError):
    """The configuration cannot be used; ``problems`` lists every reason found."""

    def __init__(self, problems: list[Problem] | str) -> None:
        if isinstance(problems, str):
            problems = [Problem(path="", message=problems)]
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class FetchError(TickerError):
    """A page could not be fetched.

    ``kind`` is a short stable word for logs and metrics (``timeout``, ``dns``, ``connect``,
    ``http``, ``too_large``, ``redirect``, ``content``); ``retry_after`` is the server's
    Retry-After in seconds when it sent one.
    """

    def __init__(
        self,
        message: str,
        *,
        kind: str,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.status = status
        self.retry_after = retry_after


class ExtractError(TickerError):
    """A page could not be parsed with the source's selectors (e.g. invalid JSON)."""


class StoreError(TickerError):
    """The state database cannot be opened, migrated or written."""


class NotifyError(TickerError):
    """A channel could not be configured or reached."""
