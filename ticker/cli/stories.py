"""ticker story-test, and the history grouped by story (``--stories``, ``--leads``)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterable

from ticker.cli.common import load, out
from ticker.cli.exits import EXIT_OK, EXIT_USAGE
from ticker.errors import ConfigError
from ticker.model import RecordedItem
from ticker.stories import report
from ticker.stories.similarity import DEFAULT_THRESHOLD, score

#: A line longer than this is not a headline: only its start is scored.
MAX_LINE = 2000


def story_test(args: argparse.Namespace) -> int:
    """Two lines: the score and the decision at the threshold. None: JSON pairs on stdin."""
    threshold = load(args).service.story_threshold if args.config else DEFAULT_THRESHOLD
    if len(args.lines) == 2:
        a, b = (line[:MAX_LINE] for line in args.lines)
        s = score(a, b)
        verdict = "same story" if s >= threshold else "not the same story"
        out(f"{s:.3f}  {verdict} (threshold {threshold:.2f})")
        return EXIT_OK
    if args.lines:
        raise ConfigError(
            'story-test takes two lines ("LINE A" "LINE B"), or none to read JSON pairs '
            '{"a": ..., "b": ...} from stdin, one a line'
        )
    bad = 0
    for number, raw in enumerate(sys.stdin, 1):
        try:
            pair = json.loads(raw)
            a, b = pair["a"], pair["b"]
            if not isinstance(a, str) or not isinstance(b, str):
                raise TypeError
        except (ValueError, KeyError, TypeError):
            # The output keeps one line per input line, so answers stay beside their pairs.
            bad += 1
            print(
                f'error: stdin line {number}: expected {{"a": "...", "b": "..."}} (two strings)',
                file=sys.stderr,
            )
            out(json.dumps({"score": None, "same": None, "error": "not a pair"}))
            continue
        s = score(a[:MAX_LINE], b[:MAX_LINE])
        out(json.dumps({"score": round(s, 4), "same": s >= threshold}))
    return EXIT_USAGE if bad else EXIT_OK


def grouped_history(items: Iterable[RecordedItem], *, fmt: str, leads: bool) -> None:
    """``history --stories`` or ``--leads`` in the chosen format."""
    groups = report.stories(items)
    if leads:
        rows = report.leads(groups)
        _emit(fmt, lambda: report.leads_jsonl(rows), lambda: report.leads_csv(rows),
              lambda: report.leads_table(rows))  # fmt: skip
    else:
        _emit(fmt, lambda: report.stories_jsonl(groups), lambda: report.stories_csv(groups),
              lambda: report.stories_table(groups))  # fmt: skip


def _emit(
    fmt: str,
    jsonl: Callable[[], Iterable[str]],
    csv: Callable[[], Iterable[str]],
    table: Callable[[], str],
) -> None:
    if fmt == "jsonl":
        for line in jsonl():
            out(line)
    elif fmt == "csv":
        for chunk in csv():
            sys.stdout.write(chunk)
    elif text := table():
        out(text)
