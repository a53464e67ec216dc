"""The cost of recording a changed page as a source's history of lines that left grows:
``python -m bench.gone``.

A ticker whose lines leave every minute or two holds up to ``RECENTLY_GONE_LIMIT`` (200) lines
gone within ``realert_after`` (6 h) after a few hours; every page with a new line reads them
all, the candidates for an edit of the new line. The service row, a minute on a fresh state,
never sees them. Here one source's state is rolled forward a line at a time (one new line in,
the oldest of ten out) until ``gone`` lines have left, then each further record transaction
(``detection_inputs``, ``decide``, ``record_detection``, the state: what ``ticker run`` does for
a page with a new line, stories aside) is timed with ``time.thread_time``. Lines are either
distinct words, or one template ("Sirens sound in X and Y ...") whose lines are all near
each other: the hard case for edit detection.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.growth import record_page
from ticker.detect import keyed
from ticker.model import PageItem
from ticker.store import SqliteStore

GONE = (0, 50, 200)


def _lines(count: int, *, templated: bool, seed: int) -> list[str]:
    rng = random.Random(seed)
    if templated:
        towns = [f"town{j}" for j in range(300)]
        return [
            f"Sirens sound in {rng.choice(towns)} and {rng.choice(towns)} in the north"
            for _ in range(count)
        ]
    vocab = [f"w{j}" for j in range(3000)]
    return [" ".join(rng.choice(vocab) for _ in range(12)) for _ in range(count)]


def record_ms(gone: int, *, templated: bool, rounds: int) -> float:
    """Median CPU ms of one record transaction once ``gone`` lines have left the page."""
    lines = _lines(10 + gone + rounds + 1, templated=templated, seed=gone)
    with tempfile.TemporaryDirectory(prefix="bench-gone-") as tmp:
        store = SqliteStore.open(Path(tmp) / "state.db")
        try:
            now = datetime(2026, 1, 1, tzinfo=UTC)

            def record(first: int) -> None:
                page = keyed(PageItem(text=t) for t in lines[first : first + 10])
                record_page(store, "s", page, now=now)

            for first in range(gone + 1):
                now += timedelta(seconds=30)
                record(first)
            costs = []
            for first in range(gone + 1, gone + 1 + rounds):
                now += timedelta(seconds=30)
                t0 = time.thread_time()
                record(first)
                costs.append(time.thread_time() - t0)
        finally:
            store.close()
    return 1000 * statistics.median(costs)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.gone", description=__doc__)
    parser.add_argument("--rounds", type=int, default=60, help="records timed per row")
    args = parser.parse_args(argv)
    header = "".join(f"{f'{g} gone':>12}" for g in GONE)
    print(f"{'lines':<10}{header}   (ms of CPU a record)")
    for templated in (False, True):
        costs = [record_ms(g, templated=templated, rounds=args.rounds) for g in GONE]
        name = "templated" if templated else "distinct"
        print(f"{name:<10}" + "".join(f"{c:>12.3f}" for c in costs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
