"""How items look to people and programs: one item view that every output starts from (stdout
JSON lines, history in three formats, /items.json, the live page), plus CSV and aligned tables.
Pure: values to text."""

from __future__ import annotations

import csv
import io
import json
import unicodedata
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from ticker.model import Recorded, RecordedItem


def iso(ts: datetime) -> str:
    """An ISO 8601 UTC time with a ``Z``, to the second: what people and parsers both read."""
    return ts.strftime("%Y-%m-%dT%H:%M:%SZ")


def item_view(
    item: RecordedItem, *, source_name: str | None = None, tags: Sequence[str] = ()
) -> dict[str, Any]:
    """Everything an output may show of a recorded item; each output picks its keys (see
    ``ITEMS_JSON_KEYS``, ``LIVE_KEYS``) so that a field means the same wherever it appears."""
    return {
        "id": item.id,
        "source": item.source_id,
        "source_name": item.source_id if source_name is None else source_name,
        "tags": list(tags),
        "text": item.text,
        "link": item.link,
        "kind": item.kind.value,
        "first_seen": iso(item.first_seen),
        "last_seen": iso(item.last_seen),
        "update_of": item.update_of_text,
        "delivered_after_s": _latency(item),
        "story": item.story,
    }


def just_recorded(source_id: str, rec: Recorded) -> RecordedItem:
    """An item a poll has just committed, as the history will show it: seen once, not yet
    delivered. The live page shows it with the same view as an item it reads."""
    item = rec.item
    return RecordedItem(
        id=rec.id,
        source_id=source_id,
        text=item.text,
        link=item.link,
        first_seen=rec.first_seen,
        last_seen=rec.first_seen,
        kind=item.kind,
        update_of_text=None if item.update_of is None else item.update_of.text,
        story=None if rec.story is None else rec.story.story,
        story_of_text=None if rec.story is None else rec.story.matched_text,
        story_score=None if rec.story is None else rec.story.score,
    )


def pick(view: dict[str, Any], keys: Sequence[str]) -> dict[str, Any]:
    return {k: view[k] for k in keys}


#: /items.json's item, and the live page's (its cards carry tags, not last_seen).
ITEMS_JSON_KEYS = (
    "id", "source", "source_name", "text", "link", "kind", "first_seen", "last_seen", "update_of",
    "story",
)  # fmt: skip
LIVE_KEYS = (
    "id", "source", "source_name", "tags", "text", "link", "kind", "first_seen", "update_of",
    "story",
)  # fmt: skip


def item_json(
    *,
    source: str,
    text: str,
    link: str | None,
    first_seen: datetime,
    kind: str = "new",
    update_of: str | None = None,
) -> str:
    """One item as a JSON line: ``source``, ``text``, ``link``, ``first_seen`` (the contract of
    the README), plus ``kind`` and, for an edited line, the text it replaced."""
    obj: dict[str, object] = {
        "source": source,
        "text": text,
        "link": link,
        "first_seen": iso(first_seen),
        "kind": kind,
    }
    if update_of is not None:
        obj["update_of"] = update_of
    return json.dumps(obj, ensure_ascii=False)


HISTORY_COLUMNS = (
    "first_seen", "last_seen", "source", "kind", "text", "link", "update_of", "delivered_after_s",
    "story",
)  # fmt: skip
#: The table's columns (a terminal's width); an update's replaced line follows on its own line.
HISTORY_TABLE_COLUMNS = ("first_seen", "source", "kind", "delivered_after_s", "text")


def history_record(it: RecordedItem) -> dict[str, str | float | None]:
    """One recorded item as the three history formats share it: HISTORY_COLUMNS, None for
    what it lacks (no replaced line, never delivered)."""
    return {
        "first_seen": iso(it.first_seen),
        "last_seen": iso(it.last_seen),
        "source": it.source_id,
        "kind": it.kind.value,
        "text": it.text,
        "link": it.link,
        "update_of": it.update_of_text,
        "delivered_after_s": _latency(it),
        "story": None if it.story is None else str(it.story),
    }


def _latency(it: RecordedItem) -> float | None:
    """Seconds from first seen to first delivered, the figure a newsroom cares about."""
    if it.first_delivered is None:
        return None
    return round((it.first_delivered - it.first_seen).total_seconds(), 1)


def _cell(value: str | float | None, none: str = "") -> str:
    if value is None:
        return none
    return f"{value:.1f}" if isinstance(value, float) else value


def history_rows(items: Iterable[RecordedItem]) -> Iterable[tuple[str, ...]]:
    """CSV rows: HISTORY_COLUMNS, empty for what an item lacks."""
    for it in items:
        record = history_record(it)
        yield tuple(_cell(record[c]) for c in HISTORY_COLUMNS)


def history_jsonl(items: Iterable[RecordedItem]) -> Iterable[str]:
    """JSON lines: every key of HISTORY_COLUMNS, null for what an item lacks (as CSV's empty
    cell), in the order of ``once``'s lines."""
    order = (
        "source", "text", "link", "first_seen", "kind", "last_seen", "update_of",
        "delivered_after_s", "story",
    )  # fmt: skip
    for it in items:
        record = history_record(it) | {"story": it.story}
        yield json.dumps({k: record[k] for k in order}, ensure_ascii=False)


def history_table(items: Iterable[RecordedItem]) -> str:
    """An aligned table of HISTORY_TABLE_COLUMNS ("-": never delivered); below an update, the
    line it replaced. Empty when there are no items."""
    records = [history_record(it) for it in items]
    if not records:
        return ""
    rows = [tuple(_cell(r[c], "-") for c in HISTORY_TABLE_COLUMNS) for r in records]
    header, *lines = table(HISTORY_TABLE_COLUMNS, rows).splitlines()
    # The replaced line sits under the text column, where the eye compares it with the new one.
    fixed = range(len(HISTORY_TABLE_COLUMNS) - 1)
    indent = " " * sum(max(width(x[i]) for x in (HISTORY_TABLE_COLUMNS, *rows)) + 2 for i in fixed)
    out = [header]
    for line, record in zip(lines, records, strict=True):
        out.append(line)
        if record["update_of"] is not None:
            out.append(f"{indent}(was: {record['update_of']})")
    return "\n".join(out)


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


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """An aligned text table; the last column is left free (it holds the long text)."""
    rows = [tuple(r) for r in rows]
    widths = [max([width(header[i]), *(width(r[i]) for r in rows)]) for i in range(len(header) - 1)]
    lines = []
    for row in [tuple(header), *rows]:
        cells = [c + " " * (widths[i] - width(c)) for i, c in enumerate(row[:-1])]
        lines.append("  ".join([*cells, row[-1]]).rstrip())
    return "\n".join(lines)
