"""Converters of one raw TOML value to a typed value: each raises ValueError with a message
for a person, which the loader reports at the value's key path."""

from __future__ import annotations

import json
import re
from typing import Any

from ticker.durations import parse_duration


def join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def kind(value: object) -> str:
    return {dict: "a table", list: "an array", str: "a string", bool: "a boolean"}.get(
        type(value), type(value).__name__
    )


def string(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected a string, got {kind(value)}")
    return value


def strings(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"expected an array of strings, got {kind(value)}")
    return tuple(value)


def positive_int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"expected a whole number of 1 or more, got {value!r}")
    return value


def positive_duration(value: Any) -> float:
    seconds = parse_duration(value)
    if seconds <= 0:
        raise ValueError(f"must be more than zero, got {value!r}")
    return seconds


def optional_duration(value: Any) -> float | None:
    if value in ("off", "", 0):
        return None
    return positive_duration(value)


def story_window(value: Any) -> float:
    """How far back a new line may join a story: "0" turns stories off; a day at most."""
    seconds = parse_duration(value)
    if not 0 <= seconds <= 86400:
        raise ValueError(f'expected a duration from "0" (off) to "1d", got {value!r}')
    return seconds


def threshold(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1:
        raise ValueError(f"expected a score above 0 and at most 1, got {value!r}")
    return float(value)


def fraction(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise ValueError(f"expected a fraction between 0 and 1, got {value!r}")
    return float(value)


_SIZE = re.compile(r"^(\d+(?:\.\d+)?)\s*(b|kb|k|mb|m|gb|g|kib|mib|gib)?$", re.IGNORECASE)
_SIZE_UNITS = {"b": 1, "k": 1024, "kb": 1000, "kib": 1024, "m": 1 << 20, "mb": 1000**2,
               "mib": 1 << 20, "g": 1 << 30, "gb": 1000**3, "gib": 1 << 30}  # fmt: skip


def size(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    m = _SIZE.match(str(value).strip()) if isinstance(value, str) else None
    if not m:
        raise ValueError(f'expected a size such as 5242880 or "5MB", got {value!r}')
    return int(float(m.group(1)) * _SIZE_UNITS[(m.group(2) or "b").lower()])


def boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false, got {value!r}")
    return value


def loopback(host: str) -> bool:
    import ipaddress

    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a name: it may resolve to anything


def listen(value: Any) -> tuple[str, int]:
    text = string(value)
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f'expected "HOST:PORT" such as "127.0.0.1:8787", got {text!r}')
    return (host.strip("[]") or "127.0.0.1", int(port))


def timezone(value: Any) -> str:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    name = string(value)
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f'unknown time zone {name!r} (use an IANA name like "Asia/Beirut")'
        ) from None
    return name


def charset(value: Any) -> str:
    import codecs

    name = string(value)
    try:
        return codecs.lookup(name).name
    except LookupError:
        raise ValueError(f"unknown charset {name!r}") from None


def headers(value: Any) -> dict[str, str]:
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise ValueError(f"expected a table of header names to strings, got {kind(value)}")
    return dict(value)


#: A request body is a query, not an upload.
MAX_BODY = 64 * 1024


def method(value: Any) -> str:
    name = string(value).upper()
    if name not in ("GET", "POST"):
        raise ValueError(f'expected "GET" or "POST", got {value!r}')
    return name


def body(value: Any) -> tuple[str, bool]:
    """A request body: a string as is, or a table sent as JSON; (text, is_json)."""
    if isinstance(value, dict):
        text, is_json = json.dumps(value, ensure_ascii=False, separators=(",", ":")), True
    elif isinstance(value, str):
        text, is_json = value, False
    else:
        raise ValueError(f"expected a string or a table (sent as JSON), got {kind(value)}")
    if len(text.encode()) > MAX_BODY:
        raise ValueError(f"a request body of at most {MAX_BODY // 1024} KB, got {len(text)} bytes")
    return text, is_json


_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
TEMPLATE_FIELDS = ("source", "text", "link", "time", "tags", "kind")


def template(value: Any) -> str:
    text = string(value)
    for name in _PLACEHOLDER.findall(text.replace("{{", "").replace("}}", "")):
        if name not in TEMPLATE_FIELDS:
            raise ValueError(
                f"unknown placeholder {{{name}}} in template (use {', '.join(TEMPLATE_FIELDS)})"
            )
    try:
        text.format_map(dict.fromkeys(TEMPLATE_FIELDS, ""))
    except (ValueError, KeyError, IndexError, AttributeError) as exc:
        raise ValueError(
            f"template {text!r} cannot be rendered: {exc} (write a literal brace as {{{{ or }}}})"
        ) from None
    return text
