"""How well ``ticker discover`` finds tickers: ``python -m bench.discover [--runs N] [--json F]``.

On ``../shared/tickerpages`` (16 pages with a ticker, 6 without; lines and a CSS hint per page
in expected.json) and ``../shared/realpages`` (25 real pages, all without a ticker but one,
whose README names its breaking banner): per page, whether the best candidate is the ticker,
its line precision and recall against the expected lines (scored as tickerpages/README.md says:
NFKC, whitespace collapsed, "+++" dropped, a near match counts), whether its selector picks the
hint's nodes, and the time of the static and in-page script passes (median of ``--runs``).
"""

from __future__ import annotations

import argparse
import difflib
import json
import statistics
import sys
import time
import unicodedata
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from parsel import Selector

from ticker.discover import PROPOSE, Candidate, discover
from ticker.extract.selectors import compile_selector, select

ROOT = Path(__file__).resolve().parents[1]
SHARED = (ROOT / ".." / "shared").resolve()
TICKERPAGES = SHARED / "tickerpages"
REALPAGES = SHARED / "realpages"
# The one real page whose README says it holds a ticker (a one-line breaking banner); its lines
# are not written down, so it counts as found when a candidate is proposed on it.
REAL_WITH_TICKER = frozenset({"mercurynews.com.2023.01.16.letters-1119.html"})
NEAR = 0.9  # character similarity at which a predicted line matches an expected one


def norm(line: str) -> str:
    text = unicodedata.normalize("NFKC", line).replace("+++", " ")
    return " ".join(text.split()).strip()


def _match(a: str, b: str) -> bool:
    return a == b or difflib.SequenceMatcher(None, a, b).ratio() >= NEAR


@dataclass(frozen=True, slots=True)
class PageResult:
    file: str
    kind: str  # positive, negative, real-negative, real-positive
    found: bool  # positive: best candidate holds an expected line; negative: nothing proposed
    precision: float | None
    recall: float | None
    order_kept: bool | None
    hint_nodes: bool | None
    confidence: float | None
    items: str | None
    candidates: int
    seconds: float


def score_lines(got: Sequence[str], want: Sequence[str]) -> tuple[float, float, bool]:
    g = [norm(x) for x in got]
    w = [norm(x) for x in want]
    hits_g = [any(_match(x, y) for y in w) for x in g]
    hits_w = [any(_match(y, x) for x in g) for y in w]
    precision = sum(hits_g) / len(g) if g else 0.0
    recall = sum(hits_w) / len(w) if w else 0.0
    matched = [
        next(i for i, y in enumerate(w) if _match(x, y))
        for x, h in zip(g, hits_g, strict=True)
        if h
    ]
    return precision, recall, matched == sorted(matched)


def hint_nodes(page: str, cand: Candidate, hint: str) -> bool:
    """Whether the candidate's items are the hint's nodes, one each: the hint's node is the
    item or inside it."""
    sel = Selector(text=page)
    hinted = [n.root for n in sel.css(hint.replace("::text", ""))]
    items = list(select(sel.root, compile_selector(cand.items), False))
    if len(items) != len(hinted):
        return False
    for item, node in zip(items, hinted, strict=True):
        inside = item is node or any(a is item for a in node.iterancestors())
        if not inside and not any(a is node for a in item.iterancestors()):
            return False
    return True


def timed(page: str, url: str, runs: int) -> tuple[list[Candidate], float]:
    times = []
    cands: list[Candidate] = []
    for _ in range(runs):
        start = time.perf_counter()
        cands = discover(page, url)
        times.append(time.perf_counter() - start)
    return cands, statistics.median(times)


def evaluate(runs: int = 3) -> list[PageResult]:
    out: list[PageResult] = []
    for entry in json.loads((TICKERPAGES / "expected.json").read_text("utf-8")):
        page = (TICKERPAGES / entry["file"]).read_text(entry["encoding"])
        cands, seconds = timed(page, entry["url"], runs)
        best = cands[0] if cands else None
        if entry["ticker_lines"]:
            p, r, order = score_lines(best.lines, entry["ticker_lines"]) if best else (0, 0, False)
            hint = hint_nodes(page, best, entry["css_hint"]) if best else False
            out.append(
                PageResult(
                    entry["file"],
                    "positive",
                    p > 0 and r > 0,
                    p,
                    r,
                    order,
                    hint,
                    best.confidence if best else None,
                    best.items if best else None,
                    len(cands),
                    seconds,
                )
            )
        else:
            out.append(_negative(entry["file"], "negative", cands, seconds))
    for path in sorted(REALPAGES.glob("*.html")):
        page = path.read_text("utf-8", errors="replace")
        cands, seconds = timed(page, "https://example.org/", runs)
        if path.name in REAL_WITH_TICKER:
            best = cands[0] if cands else None
            ok = best is not None and best.confidence >= PROPOSE
            out.append(
                PageResult(
                    path.name,
                    "real-positive",
                    ok,
                    None,
                    None,
                    None,
                    None,
                    best.confidence if best else None,
                    best.items if best else None,
                    len(cands),
                    seconds,
                )
            )
        else:
            out.append(_negative(path.name, "real-negative", cands, seconds))
    return out


def _negative(name: str, kind: str, cands: Sequence[Candidate], seconds: float) -> PageResult:
    top = cands[0] if cands else None
    clean = top is None or top.confidence < PROPOSE
    return PageResult(
        name,
        kind,
        clean,
        None,
        None,
        None,
        None,
        top.confidence if top else None,
        top.items if top else None,
        len(cands),
        seconds,
    )


def summary(results: Sequence[PageResult]) -> dict[str, Any]:
    pos = [r for r in results if r.kind == "positive"]
    neg = [r for r in results if r.kind in ("negative", "real-negative")]
    return {
        "positives": len(pos),
        "positives_found_pct": round(100 * sum(r.found for r in pos) / max(1, len(pos)), 1),
        "positives_proposed_pct": round(
            100 * sum(r.found and (r.confidence or 0) >= PROPOSE for r in pos) / max(1, len(pos)), 1
        ),
        "mean_precision": round(statistics.mean(r.precision or 0 for r in pos), 3) if pos else None,
        "mean_recall": round(statistics.mean(r.recall or 0 for r in pos), 3) if pos else None,
        "hint_nodes_pct": round(100 * sum(bool(r.hint_nodes) for r in pos) / max(1, len(pos)), 1),
        "negatives": len(neg),
        "negatives_clean_pct": round(100 * sum(r.found for r in neg) / max(1, len(neg)), 1),
        "real_with_ticker_found": [r.found for r in results if r.kind == "real-positive"],
        "median_ms": round(1000 * statistics.median(r.seconds for r in results), 1),
        "max_ms": round(1000 * max(r.seconds for r in results), 1),
    }


def _f(x: float | None) -> str:
    return "" if x is None else f"{x:.2f}"


def render(results: Sequence[PageResult], totals: dict[str, Any]) -> str:
    head = f"{'page':46} {'kind':13} {'ok':3} {'P':>5} {'R':>5} {'hint':4} {'conf':>5} {'ms':>6}"
    rows = [f"{head}  best items"]
    for r in results:
        hint = "" if r.hint_nodes is None else ("yes" if r.hint_nodes else "no")
        rows.append(
            f"{r.file[:46]:46} {r.kind:13} {'yes' if r.found else 'NO':3} {_f(r.precision):>5} "
            f"{_f(r.recall):>5} {hint:4} {_f(r.confidence):>5} {1000 * r.seconds:6.1f}  "
            f"{r.items or ''}"
        )
    rows.append("")
    rows.append(
        f"best candidate is the ticker on {totals['positives_found_pct']}% of "
        f"{totals['positives']} positives (target >= 90%); proposed (>= {PROPOSE}) on "
        f"{totals['positives_proposed_pct']}%; mean line precision {totals['mean_precision']}, "
        f"recall {totals['mean_recall']}; selector picks the hint's nodes on "
        f"{totals['hint_nodes_pct']}%"
    )
    rows.append(
        f"no candidate >= {PROPOSE} on {totals['negatives_clean_pct']}% of {totals['negatives']} "
        f"negatives (target >= 90%); real page with a banner found: "
        f"{totals['real_with_ticker_found']}"
    )
    rows.append(
        f"time per page (static + in-page script pass): median {totals['median_ms']} ms, "
        f"max {totals['max_ms']} ms"
    )
    return "\n".join(rows)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.discover", description=__doc__)
    p.add_argument("--runs", type=int, default=3, help="timed runs per page (median kept)")
    p.add_argument("--json", type=Path, help="write the figures as JSON here")
    args = p.parse_args(argv)
    if not TICKERPAGES.is_dir() or not REALPAGES.is_dir():
        print(f"missing {SHARED}: the shared pages beside the repository", file=sys.stderr)
        return 2
    results = evaluate(max(1, args.runs))
    totals = summary(results)
    print(render(results, totals))
    if args.json:
        args.json.write_text(
            json.dumps({"totals": totals, "pages": [asdict(r) for r in results]}, indent=1),
            "utf-8",
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
