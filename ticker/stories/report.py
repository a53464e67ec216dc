"""Stories as the history shows them: lines grouped by story, and who breaks first.

Pure: recorded items in, rows and text out. A story's lines are listed first reporter first,
each later one with its lag in seconds and the line it was matched with (and the score), so a
user can trust or tune ``story_threshold``.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ticker.model import RecordedItem
from ticker.views import csv_text, iso, table


@dataclass(frozen=True, slots=True, kw_only=True)
class Story:
    """One story: its lines, the first reporter's first."""

    id: int
    lines: tuple[RecordedItem, ...]

    @property
    def first(self) -> RecordedItem:
        return self.lines[0]

    def lag(self, line: RecordedItem) -> float:
        """Seconds ``line`` came after the story's first line."""
        return (line.first_seen - self.first.first_seen).total_seconds()

    @property
    def sources(self) -> list[str]:
        """Each source once, in the order they reported the story."""
        return list(dict.fromkeys(line.source_id for line in self.lines))


def stories(items: Iterable[RecordedItem]) -> list[Story]:
    """The stories of these lines (baseline lines, which have none, left out), ordered by
    their first line."""
    groups: dict[int, list[RecordedItem]] = {}
    for it in items:
        if it.story is not None:
            groups.setdefault(it.story, []).append(it)
    out = [
        Story(id=sid, lines=tuple(sorted(lines, key=lambda i: (i.first_seen, i.id))))
        for sid, lines in groups.items()
    ]
    out.sort(key=lambda s: (s.first.first_seen, s.first.id))
    return out


STORY_COLUMNS = ("story", "first_seen", "lag_s", "source", "kind", "text", "matched", "score")


def story_records(groups: Sequence[Story]) -> Iterable[dict[str, object]]:
    """One record a line, story by story: STORY_COLUMNS."""
    for story in groups:
        for line in story.lines:
            yield {
                "story": story.id,
                "first_seen": iso(line.first_seen),
                "lag_s": round(story.lag(line), 1),
                "source": line.source_id,
                "kind": line.kind.value,
                "text": line.text,
                "matched": line.story_of_text,
                "score": line.story_score,
            }


def stories_jsonl(groups: Sequence[Story]) -> Iterable[str]:
    """One JSON object a story: its id, first reporter and time, and its lines."""
    records = list(story_records(groups))
    by_story: dict[object, list[dict[str, object]]] = {}
    for r in records:
        by_story.setdefault(r["story"], []).append(
            {k: v for k, v in r.items() if k not in ("story",)}
        )
    for story in groups:
        yield json.dumps(
            {
                "story": story.id,
                "first_seen": iso(story.first.first_seen),
                "first_source": story.first.source_id,
                "sources": story.sources,
                "lines": by_story[story.id],
            },
            ensure_ascii=False,
        )


def stories_csv(groups: Sequence[Story]) -> Iterable[str]:
    rows = (
        tuple("" if r[c] is None else str(r[c]) for c in STORY_COLUMNS)
        for r in story_records(groups)
    )
    return csv_text(STORY_COLUMNS, rows)


def stories_table(groups: Sequence[Story]) -> str:
    """Each story: a heading, then its lines ("+42s" after the first), and under a joined line
    the line it matched and the score."""
    out: list[str] = []
    for story in groups:
        sources = story.sources
        out.append(
            f"story {story.id}  {iso(story.first.first_seen)}  {len(story.lines)} line(s), "
            f"{len(sources)} source(s): {', '.join(sources)}"
        )
        rows = [(f"+{story.lag(line):.0f}s", line.source_id, line.text) for line in story.lines]
        body = table(("lag", "source", "text"), rows).splitlines()[1:]
        for line, text in zip(story.lines, body, strict=True):
            out.append("  " + text)
            if line.story_of_text is not None:
                score = "" if line.story_score is None else f", score {line.story_score:.2f}"
                out.append(f"      (matched: {line.story_of_text}{score})")
    return "\n".join(out)


@dataclass(frozen=True, slots=True, kw_only=True)
class Leads:
    """Who breaks first: for one source, the stories it reported, how many first, and its lag
    behind the first reporter on the others (seconds)."""

    source: str
    stories: int
    first: int
    lags: tuple[float, ...]

    def record(self) -> dict[str, object]:
        lags = sorted(self.lags)
        return {
            "source": self.source,
            "stories": self.stories,
            "first": self.first,
            "later": len(lags),
            "lag_median_s": round(statistics.median(lags), 1) if lags else None,
            "lag_p90_s": round(lags[int(0.9 * (len(lags) - 1))], 1) if lags else None,
            "lag_max_s": round(lags[-1], 1) if lags else None,
        }


LEADS_COLUMNS = (
    "source", "stories", "first", "later", "lag_median_s", "lag_p90_s", "lag_max_s",
)  # fmt: skip


def leads(groups: Sequence[Story], *, shared_only: bool = True) -> list[Leads]:
    """Per source, over the stories more than one source reported (``shared_only``): a story
    only one source told says nothing of who is first."""
    counted: dict[str, list[int]] = {}
    lags: dict[str, list[float]] = {}
    for story in groups:
        if shared_only and len(story.sources) < 2:
            continue
        first_source = story.first.source_id
        seen: set[str] = set()
        for line in story.lines:
            if line.source_id in seen:
                continue
            seen.add(line.source_id)
            c = counted.setdefault(line.source_id, [0, 0])
            c[0] += 1
            if line.source_id == first_source:
                c[1] += 1
            else:
                lags.setdefault(line.source_id, []).append(story.lag(line))
    out = [
        Leads(source=src, stories=c[0], first=c[1], lags=tuple(lags.get(src, ())))
        for src, c in counted.items()
    ]
    out.sort(key=lambda x: (-x.first, -x.stories, x.source))
    return out


def leads_table(rows: Sequence[Leads]) -> str:
    if not rows:
        return ""
    records = [r.record() for r in rows]
    cells = [
        tuple("-" if rec[c] is None else str(rec[c]) for c in LEADS_COLUMNS) for rec in records
    ]
    # The last column is left free by ``table``: keep the source there, where names vary.
    order = (*LEADS_COLUMNS[1:], LEADS_COLUMNS[0])
    return table(order, [(*c[1:], c[0]) for c in cells])


def leads_jsonl(rows: Sequence[Leads]) -> Iterable[str]:
    for r in rows:
        yield json.dumps(r.record(), ensure_ascii=False)


def leads_csv(rows: Sequence[Leads]) -> Iterable[str]:
    return csv_text(
        LEADS_COLUMNS,
        (
            tuple("" if rec[c] is None else str(rec[c]) for c in LEADS_COLUMNS)
            for rec in (r.record() for r in rows)
        ),
    )
