"""Stories (issue 15): how well the score tells one event from two, and what matching costs.

``python -m bench.stories`` reads the labelled headline pairs of ``../shared/headlines/`` (see
its README): it re-derives the raw threshold on the English ``dev`` split (the lowest raw
similarity at which dev precision reaches ``DEV_PRECISION``), prints precision, recall and F1 at
the default threshold on ``dev`` and on ``train`` (the held-out figure), and the Arabic pairs;
then the median cost of :meth:`StoryWindow.match` per new line against a window of 2,000 real
headlines, as the median of 3 runs, and against a full window of the service row's lines
alike. ``--json PATH`` writes the figures.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ticker.stories.similarity import (
    DEFAULT_THRESHOLD,
    DEV_PRECISION,
    RAW_THRESHOLD,
    Features,
    features,
    raw_similarity,
    score,
)
from ticker.stories.text import stem
from ticker.stories.window import StoryWindow

ROOT = Path(__file__).resolve().parents[1]
HEADLINES = (ROOT / ".." / "shared" / "headlines").resolve()
WINDOW_LINES = 2000
RUNS = 3


@dataclass(frozen=True, slots=True, kw_only=True)
class Pair:
    a: str
    b: str
    same: bool
    lang: str
    split: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Figures:
    """Precision, recall and F1 of one set of pairs at one threshold, with the counts."""

    pairs: int
    positives: int
    true_pos: int
    false_pos: int
    precision: float
    recall: float
    f1: float


def load_pairs(name: str, folder: Path = HEADLINES) -> list[Pair]:
    """The pairs of ``folder/name`` (JSON lines); raises OSError when it is absent."""
    out = []
    with (folder / name).open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                row = json.loads(line)
                out.append(
                    Pair(
                        a=row["a"],
                        b=row["b"],
                        same=bool(row["same_event"]),
                        lang=row["lang"],
                        split=row["split"],
                    )
                )
    return out


def figures(scores: Sequence[float], labels: Sequence[bool], threshold: float) -> Figures:
    """Pairs scoring at or above ``threshold`` are said to be one story; precision is 1.0 when
    none is."""
    tp = sum(1 for s, same in zip(scores, labels, strict=True) if s >= threshold and same)
    fp = sum(1 for s, same in zip(scores, labels, strict=True) if s >= threshold and not same)
    positives = sum(labels)
    p = tp / (tp + fp) if tp + fp else 1.0
    r = tp / positives if positives else 0.0
    return Figures(
        pairs=len(labels),
        positives=positives,
        true_pos=tp,
        false_pos=fp,
        precision=round(p, 4),
        recall=round(r, 4),
        f1=round(2 * p * r / (p + r) if p + r else 0.0, 4),
    )


def raw_of(a: str, b: str) -> float:
    """The raw similarity as :func:`score_features` sees it, with the figures rule applied
    (halved when the figures differ): what the dev threshold is chosen on."""
    return _raw(features(a), features(b))


def _raw(fa: Features, fb: Features) -> float:
    if fb.forms < fa.forms:
        fa, fb = fb, fa
    raw = raw_similarity(fa, fb)
    both = fa.numbers and fb.numbers
    if both and not (fa.numbers <= fb.numbers or fb.numbers <= fa.numbers):
        raw *= 0.5
    return raw


def choose_raw_threshold(raws: Sequence[float], labels: Sequence[bool], precision: float) -> float:
    """The lowest observed raw value at which precision is at least ``precision``."""
    for t in sorted(set(raws)):
        f = figures(raws, labels, t)
        if f.true_pos and f.precision >= precision:
            return t
    return 1.0


def quality() -> dict[str, Any]:
    """The figures on the labelled pairs (see the module docstring)."""
    en = load_pairs("en_pairs.jsonl")
    ar = load_pairs("ar_pairs.jsonl")
    dev = [p for p in en if p.split == "dev"]
    train = [p for p in en if p.split == "train"]
    chosen = choose_raw_threshold(
        [raw_of(p.a, p.b) for p in dev], [p.same for p in dev], DEV_PRECISION
    )
    out: dict[str, Any] = {
        "threshold": DEFAULT_THRESHOLD,
        "raw_threshold": RAW_THRESHOLD,
        "raw_threshold_rederived_on_dev": round(chosen, 4),
        "dev_precision_target": DEV_PRECISION,
    }
    for name, pairs in (
        ("en_dev", dev),
        ("en_train", train),
        ("ar_ar", [p for p in ar if p.lang == "ar-ar"]),
        ("ar_en", [p for p in ar if p.lang == "ar-en"]),
    ):
        scores = [score(p.a, p.b) for p in pairs]
        out[name] = asdict(figures(scores, [p.same for p in pairs], DEFAULT_THRESHOLD))
    return out


def window_lines() -> list[str]:
    """Distinct real headlines, in file order: the window's content and the new lines."""
    seen: dict[str, None] = {}
    for p in load_pairs("en_pairs.jsonl") + load_pairs("ar_pairs.jsonl"):
        seen.setdefault(p.a)
        seen.setdefault(p.b)
    return list(seen)


def match_cost(lines: Sequence[str], size: int = WINDOW_LINES) -> dict[str, float]:
    """One run: a window of ``size`` lines from 20 sources, first seen over 30 minutes; every
    other line of the corpus matched against it as a new line of another source. Medians and
    p90 in ms per new line; how many matched."""
    held, probes = lines[:size], lines[size:]
    if len(probes) < 100:  # a small corpus: probe with the held lines themselves
        probes = lines[: min(len(lines), 1000)]
    now = 1_800.0
    window = StoryWindow(1_800.0, max_lines=size)
    for i, text in enumerate(held):
        window.add(i, i, f"source-{i % 20}", text, now * i / len(held))
    costs = []
    matched = 0
    for text in probes:
        t0 = time.perf_counter()
        m = window.match("source-new", text, now, DEFAULT_THRESHOLD, updates=True)
        costs.append((time.perf_counter() - t0) * 1000)
        matched += m is not None
    costs.sort()
    return {
        "window_lines": float(len(window)),
        "new_lines": float(len(probes)),
        "matched": float(matched),
        "median_ms": statistics.median(costs),
        "p90_ms": costs[int(0.9 * (len(costs) - 1))],
    }


def cost() -> dict[str, Any]:
    """Medians of :data:`RUNS` runs of :func:`match_cost`; the first run's median apart."""
    lines = window_lines()
    stem.cache_clear()  # the first run starts cold, as a fresh process does
    runs = [match_cost(lines) for _ in range(RUNS)]
    return {
        "runs": RUNS,
        **{k: statistics.median(r[k] for r in runs) for k in runs[0]},
        # The first run starts with the stem cache empty: its new lines' words are mostly unseen.
        "first_run_median_ms": runs[0]["median_ms"],
        "target_ms": 0.2,
        "flood": flood_cost(),
    }


FLOOD_LINES = 5000


def flood_cost(size: int = FLOOD_LINES, probes: int = 600) -> dict[str, float]:
    """Matching against a full window of lines alike: the service row's pages (the same ten
    headlines with a page number and figures, one source each), ``size`` lines held, then
    ``probes`` new lines matched and held as ``ticker run`` does. Median and p90 ms a line."""
    from bench.pages import PageTemplate  # the bench's fixture pages

    template, rng = PageTemplate(), random.Random(1)
    version = dict.fromkeys(range(1000), 0)

    def line() -> tuple[str, str]:
        page = rng.randrange(1000)
        version[page] += 1
        return f"s{page}", template.line(page, version[page] + 9)

    window = StoryWindow(1_800.0, max_lines=size)
    for i in range(size):
        source, text = line()
        window.add(i, i, source, text, i * 0.1)
    costs = []
    for i in range(size, size + probes):
        source, text = line()
        t0 = time.perf_counter()
        m = window.match(source, text, i * 0.1, DEFAULT_THRESHOLD, updates=True)
        costs.append((time.perf_counter() - t0) * 1000)
        window.add(i, i if m is None else m.story_id, source, text, i * 0.1)
    costs.sort()
    return {
        "window_lines": float(len(window)),
        "median_ms": statistics.median(costs),
        "p90_ms": costs[int(0.9 * (len(costs) - 1))],
        "window_mb": _window_mb(size, line),
    }


def _window_mb(size: int, line: Callable[[], tuple[str, str]]) -> float:
    """The memory a full window of ``size`` lines holds (tracemalloc, a window of its own, the
    features cache emptied first), in MB."""
    features.cache_clear()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        window = StoryWindow(1_800.0, max_lines=size)
        for i in range(size):
            source, text = line()
            window.add(i, i, source, text, i * 0.1)
        return (tracemalloc.get_traced_memory()[0] - before) / 1e6
    finally:
        tracemalloc.stop()


def render(q: dict[str, Any], c: dict[str, Any]) -> str:
    rows = [
        f"story score, threshold {q['threshold']} (raw {q['raw_threshold']}; re-derived on "
        f"en dev at precision >= {q['dev_precision_target']}: "
        f"{q['raw_threshold_rederived_on_dev']})",
        f"{'pairs':<10}{'n':>6}{'same':>6}{'tp':>6}{'fp':>5}{'P':>8}{'R':>8}{'F1':>8}",
    ]
    for name in ("en_dev", "en_train", "ar_ar", "ar_en"):
        f = q[name]
        rows.append(
            f"{name:<10}{f['pairs']:>6}{f['positives']:>6}{f['true_pos']:>6}{f['false_pos']:>5}"
            f"{f['precision']:>8.3f}{f['recall']:>8.3f}{f['f1']:>8.3f}"
        )
    rows.append(
        f"match cost against {c['window_lines']:.0f} lines: median {c['median_ms']:.3f} ms, "
        f"p90 {c['p90_ms']:.3f} ms per new line ({c['new_lines']:.0f} new lines, "
        f"{c['matched']:.0f} matched; medians of {c['runs']} runs, the first "
        f"{c['first_run_median_ms']:.3f} ms; target {c['target_ms']} ms)"
    )
    f = c["flood"]
    rows.append(
        f"match cost against a flood of {f['window_lines']:.0f} lines alike (the service row's "
        f"pages): median {f['median_ms']:.3f} ms, p90 {f['p90_ms']:.3f} ms per new line; the "
        f"full window holds {f['window_mb']:.1f} MB"
    )
    return "\n".join(rows)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.stories", description=__doc__)
    parser.add_argument("--json", type=Path, metavar="PATH", help="write the figures as JSON")
    args = parser.parse_args(argv)
    if not HEADLINES.is_dir():
        print(f"{HEADLINES} is not present (the shared data beside the repository)")
        return 2
    q, c = quality(), cost()
    print(render(q, c))
    if args.json is not None:
        args.json.write_text(json.dumps({"quality": q, "cost": c}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
