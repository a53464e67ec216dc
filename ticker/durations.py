"""Durations as people write them: "500ms", "30s", "5m", "1h", "1d", "1h30m" or seconds."""

from __future__ import annotations

import email.utils
import re
from datetime import UTC, datetime, timedelta

from ticker.errors import ConfigError

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)")


def parse_duration(value: object) -> float:
    """Seconds in ``value``; raises ValueError with an example of the accepted forms."""
    if isinstance(value, bool):
        raise ValueError(f'expected a duration such as "30s", got {value!r}')
    if isinstance(value, (int, float)):
        if value < 0:
            raise ValueError(f"a duration cannot be negative, got {value!r}")
        return float(value)
    if isinstance(value, str):
        text = value.strip().lower().replace(" ", "")
        try:
            return parse_duration(float(text))
        except ValueError:
            pass
        pos, total = 0, 0.0
        for m in _PART.finditer(text):
            if m.start() != pos:
                break
            total += float(m.group(1)) * _UNITS[m.group(2)]
            pos = m.end()
        if text and pos == len(text):
            return total
    raise ValueError(
        f'invalid duration {value!r}: use a number of seconds or "500ms", "30s", "5m", "1h", "1d"'
    )


def format_duration(seconds: float) -> str:
    """The short form of a duration, for messages: 90 -> "1m30s"."""
    if seconds < 1:
        return f"{round(seconds * 1000)}ms"
    out, rest = [], round(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if rest >= size:
            out.append(f"{rest // size}{unit}")
            rest %= size
    return "".join(out) or "0s"


def parse_time(value: str, *, now: datetime) -> datetime:
    """An ISO date or time (UTC unless it says otherwise), or an age such as "2h" (ago)."""
    text = value.strip()
    try:
        return now - timedelta(seconds=parse_duration(text))
    except ValueError:
        pass
    try:
        ts = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(
            f'invalid time {value!r}: use an ISO date or time ("2026-11-27", '
            f'"2026-11-27T08:00Z") or an age ("90m", "2h", "7d")'
        ) from None
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


MAX_RETRY_AFTER = 3600.0  # a Retry-After longer than an hour is taken as an hour


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (seconds or an HTTP date), capped at an hour."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return min(float(value), MAX_RETRY_AFTER)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    delta = (when - (now or datetime.now(UTC))).total_seconds()
    return min(max(delta, 0.0), MAX_RETRY_AFTER)
