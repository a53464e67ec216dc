"""Formatting for people and programs: JSON lines, CSV and aligned tables. Pure: values to text."""

from __future__ import annotations

import csv
import io
import json
import unicodedata
from collections.abc import Iterable, Sequence
from datetime import datetime

from ticker.model import RecordedItem


def iso(ts: datetime) -> str:
    """An ISO 8601 UTC time with a ``Z``, to the second: what people and parsers both read."""
    return ts.strftime("%Y-%m-%dT%H:%M:%SZ")


def item_json(
    *,
    source: str,
    text: str,
    link: str | None,
    first_seen: datetime,
    kind: str = "new",
    update_of: str | None = None,
    last_seen: datetime | None = None,
    delivered_after_s: float | None = None,
) -> str:
    """One item as a JSON line: ``source``, ``text``, ``link``, ``first_seen`` (the contract of
    product.md), plus ``kind`` and, for an edited line, the text it replaced."""
    obj: dict[str, object] = {
        "source": source,
        "text": text,
        "link": link,
        "first_seen": iso(first_seen),
        "kind": kind,
    }
    if last_seen is not None:
        obj["last_seen"] = iso(last_seen)
    if update_of is not None:
        obj["update_of"] = update_of
    if delivered_after_s is not None:
        obj["delivered_after_s"] = delivered_after_s
    return json.dumps(obj, ensure_ascii=False)


HISTORY_COLUMNS = (
    "first_seen", "last_seen", "source", "kind", "text", "link", "update_of", "delivered_after_s",
)  # fmt: skip


def history_rows(items: Iterable[RecordedItem]) -> Iterable[tuple[str, ...]]:
    for it in items:
        yield (
            iso(it.first_seen),
            iso(it.last_seen),
            it.source_id,
            it.kind.value,
            it.text,
            it.link or "",
            it.update_of_text or "",
            _latency(it),
        )


def _latency(it: RecordedItem) -> str:
    """Seconds from first seen to first delivered, the figure a newsroom cares about."""
    if it.first_delivered is None:
        return ""
    return f"{(it.first_delivered - it.first_seen).total_seconds():.1f}"


def history_jsonl(items: Iterable[RecordedItem]) -> Iterable[str]:
    for it in items:
        yield item_json(
            source=it.source_id,
            text=it.text,
            link=it.link,
            first_seen=it.first_seen,
            last_seen=it.last_seen,
            kind=it.kind.value,
            update_of=it.update_of_text,
            delivered_after_s=float(_latency(it)) if it.first_delivered else None,
        )


def csv_text(header: Sequence[str], rows: Iterable[Sequence[str]]) -> Iterable[str]:
    """CSV lines (RFC 4180, quoted as needed), header first; a spreadsheet opens it as is."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    yield buf.getvalue()
    for row in rows:
        buf.seek(0)
        buf.truncate()
        writer.writerow(row)
        yield buf.getvalue()


def width(text: str) -> int:
    """Columns a string takes in a terminal (wide East Asian characters count two)."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def table(header: Sequence[str], rows: Sequence[Sequence[str]], *, max_last: int = 0) -> str:
    """An aligned text table; the last column is left free (it holds the long text)."""
    rows = [tuple(r) for r in rows]
    widths = [max([width(header[i]), *(width(r[i]) for r in rows)]) for i in range(len(header) - 1)]
    lines = []
    for row in [tuple(header), *rows]:
        cells = [c + " " * (widths[i] - width(c)) for i, c in enumerate(row[:-1])]
        last = row[-1]
        if max_last and len(last) > max_last:
            last = last[: max_last - 1] + "…"
        lines.append("  ".join([*cells, last]).rstrip())
    return "\n".join(lines)
