"""The text of each message: items and digests rendered as plain text, the test message.

Messages are plain text: page text is data, so it is never written into markup here. The notifier
hands it to apprise as text, which escapes it for each target (Telegram HTML, Slack, e-mail).
The labels of updated and returning lines live here only; the Atom feed uses them too.
"""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from ticker.alerting.routing import AlertItem, Planned
from ticker.model import Message

#: What a single message may carry of one item's text (length caps); the link is added beyond it.
MAX_ITEM_CHARS = 1000

_KIND_LABELS = {"update": "Update: ", "return": "Again: "}

DEFAULT_TEMPLATE = "{text}\n{link}\n{time}"


def format_time(ts: datetime, timezone: str | None = None) -> str:
    """ "2026-11-27 10:52 UTC", plus the local time when a display time zone is set."""
    ts = ts.astimezone(UTC)
    text = ts.strftime("%Y-%m-%d %H:%M UTC")
    if timezone:
        local = ts.astimezone(ZoneInfo(timezone))
        text += f" ({local.strftime('%H:%M')} {timezone})"
    return text


def safe_text(text: str, limit: int = MAX_ITEM_CHARS) -> str:
    """Page text made safe to send (length caps, control characters removed): control characters and
    bidi overrides removed (Arabic and every script otherwise intact), and cut at ``limit``
    characters."""
    cleaned = "".join(
        ch
        for ch in text
        if ch == "\n"
        or not (
            unicodedata.category(ch) == "Cc"
            or "\u202a" <= ch <= "\u202e"
            or "\u2066" <= ch <= "\u2069"
        )
    )
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1].rstrip() + "…"


def render(
    planned: Planned, *, template: str | None = None, timezone: str | None = None
) -> Message:
    """The title and plain-text body of a planned message."""
    items = planned.items
    first = items[0]
    if not planned.is_digest:
        return Message(title=first.source_name, body=_render_item(first, template, timezone))
    sources = sorted({i.source_name for i in items})
    title = f"{', '.join(sources)}: {planned.total or len(items)} new items"
    if planned.parts > 1:
        title += f" ({planned.part}/{planned.parts})"
    lines = []
    for item in items:
        line = f"• {kind_label(item.kind)}{safe_text(item.text)}"
        if item.link:
            line += f"\n  {item.link}"
        lines.append(line)
    lines.append(format_time(first.first_seen, timezone))
    return Message(title=title, body="\n".join(lines))


def kind_label(kind: str) -> str:
    """What an alert and the feed put before a line that is not simply new ("Update: ")."""
    return _KIND_LABELS.get(kind, "")


def _render_item(item: AlertItem, template: str | None, timezone: str | None) -> str:
    text = kind_label(item.kind) + safe_text(item.text)
    if item.kind == "update" and item.update_of:
        text += f"\n(was: {safe_text(item.update_of, 300)})"
    fields = {
        "source": item.source_name,
        "text": text,
        "link": item.link or "",
        "time": format_time(item.first_seen, timezone),
        "tags": ", ".join(item.tags),
        "kind": item.kind,
    }
    body = (template or DEFAULT_TEMPLATE).format_map(fields)
    # An empty {link} leaves a blank line; drop blank lines the template did not mean.
    return "\n".join(line for line in body.splitlines() if line.strip())


def notify_test_message(channel_id: str, now: datetime) -> Message:
    return Message(
        title="ticker test message",
        body=f"This is a test of channel {channel_id!r} from ticker, sent {format_time(now)}.",
    )
