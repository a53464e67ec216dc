"""Timestamps as the state stores them: UTC text of fixed width, so text order is time order."""

from __future__ import annotations

from datetime import UTC, datetime

_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def utc(ts: datetime) -> str:
    return ts.astimezone(UTC).strftime(_FORMAT)


def parse_utc(text: str) -> datetime:
    # fromisoformat reads the stored form ("...Z" included) 40x faster than strptime.
    return datetime.fromisoformat(text)


def opt_utc(text: str | None) -> datetime | None:
    return None if text is None else parse_utc(text)
