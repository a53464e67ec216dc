"""Medians of several runs: ``python -m bench.median run1.json run2.json run3.json``.

Every number is replaced by the median of the same figure across the runs (targets are checked
again on the medians), and the table is printed as ``python -m bench`` prints it. ``--json``
writes the merged figures, with the number of runs under ``meta.runs_merged``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.report import add_ratios, render, targets, write_json


def merge(values: Sequence[Any]) -> Any:
    """The median of numbers, element-wise for lists of one length, key-wise for dicts; the
    first value otherwise (text, lists of different lengths)."""
    first = values[0]
    if isinstance(first, bool):
        return all(values)
    if isinstance(first, (int, float)) and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) for v in values
    ):
        if all(isinstance(v, int) for v in values):
            return statistics.median_low(values)  # counts stay whole numbers
        return statistics.median(values)
    if isinstance(first, dict) and all(isinstance(v, dict) for v in values):
        keys = [k for k in first if all(k in v for v in values)]
        return {k: merge([v[k] for v in values]) for k in keys}
    if isinstance(first, list) and all(
        isinstance(v, list) and len(v) == len(first) for v in values
    ):
        return [merge(list(column)) for column in zip(*values, strict=True)]
    return first


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.median", description=__doc__)
    parser.add_argument("runs", nargs="+", type=Path, help="JSON files of python -m bench")
    parser.add_argument("--json", type=Path, metavar="PATH", help="write the medians as JSON")
    args = parser.parse_args(argv)
    runs = [json.loads(p.read_text(encoding="utf-8")) for p in args.runs]
    merged: dict[str, Any] = merge(runs)
    merged["meta"]["runs_merged"] = len(runs)
    for run in merged.get("runs") or []:
        add_ratios(run)  # the ratio of the medians, not the median of the ratios
    merged["targets"] = targets(merged)
    print(f"medians of {len(runs)} run(s)")
    print(render(merged))
    if args.json is not None:
        write_json(merged, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
