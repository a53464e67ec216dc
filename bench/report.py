"""The figures as a table for people and as JSON, with each of issue 5's targets checked.

The JSON is the whole record (every pass, every sample); the table is what a person reads.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

#: Which limit loop each row is compared with: the plain parse for a cold poll, and for every
#: steady row the steady loop (conditional GET, digest check, parse only a changed page) on the
#: same pages (bench/limit.py).
LIMIT_OF = {
    "cold": "parse_ms",
    "304": "steady_304_ms",
    "identical": "steady_identical_ms",
    "nonce": "steady_nonce_ms",
    "change": "steady_change_ms",
    "new_item": "steady_new_item_ms",
}
ROW_TITLES = {
    "cold": "cold (200, parsed, baseline)",
    "304": "304 not modified",
    "identical": "identical body, no validators",
    "nonce": "nonce body, ticker unchanged",
    "change": "change mode (10% new line)",
    "new_item": "new line on every page",
}
LIMIT_TITLES = {
    "parse_ms": "limit",
    "steady_304_ms": "steady",
    "steady_identical_ms": "steady",
    "steady_nonce_ms": "steady",
    "steady_change_ms": "steady",
    "steady_new_item_ms": "steady",
}


def to_jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, float):
        return round(value, 4)
    return value


def write_json(results: dict[str, Any], path: Path) -> None:
    path.write_text(json.dumps(to_jsonable(results), indent=2) + "\n", encoding="utf-8")


def add_ratios(run: dict[str, Any]) -> None:
    """Each row gets ``limit_ms`` (its limit loop) and ``ratio`` (CPU per poll over it)."""
    limit = run["limit"]
    for name, row in run["rows"].items():
        limit_ms = limit.get(LIMIT_OF[name], 0.0)
        row["limit_ms"] = limit_ms
        row["ratio"] = row["cpu_ms"] / limit_ms if limit_ms else 0.0


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target of issue 5 against the figure reached (the largest N for per-N figures)."""
    out: list[dict[str, Any]] = []

    def add(name: str, target: str, value: float | None, unit: str, met: bool | None) -> None:
        out.append({"figure": name, "target": target, "value": value, "unit": unit, "met": met})

    runs = results.get("runs") or []
    if runs:
        top = max(runs, key=lambda r: r["n"])
        rows, n = top["rows"], top["n"]
        add(f"cold poll, x limit (N={n})", "<= 1.25x", rows["cold"]["ratio"], "x",
            rows["cold"]["ratio"] <= 1.25)  # fmt: skip
        add(f"304 poll, CPU (N={n})", "<= 0.3 ms", rows["304"]["cpu_ms"], "ms",
            rows["304"]["cpu_ms"] <= 0.3)  # fmt: skip
        add(f"identical body, CPU (N={n})", "<= 0.5 ms", rows["identical"]["cpu_ms"], "ms",
            rows["identical"]["cpu_ms"] <= 0.5)  # fmt: skip
        add(f"nonce body, x limit (N={n})", "<= 1.25x", rows["nonce"]["ratio"], "x",
            rows["nonce"]["ratio"] <= 1.25)  # fmt: skip
        paced = top["paced"]
        add(f"processing p99, paced {paced['rate']:g}/s, all polls (N={n})", "<= 20 ms",
            paced["p99_ms"], "ms", paced["p99_ms"] <= 20)  # fmt: skip
        add(f"processing p99, paced {paced['rate']:g}/s, parsed polls (N={n})", "<= 20 ms",
            paced["parsed_p99_ms"], "ms", paced["parsed_p99_ms"] <= 20)  # fmt: skip
        worst = max(rows[r]["p99_ms"] for r in rows)
        add(f"processing p99, worst burst pass (N={n})", "<= 20 ms", worst, "ms", worst <= 20)
    growth = results.get("growth")
    if growth:
        small, large = growth[0], growth[1]
        for key in [k for k in ("read", "seen", "touch") if k in small["db_us"]]:
            ratio = large["db_us"][key] / small["db_us"][key] if small["db_us"][key] else 0.0
            add(f"DB work '{key}', {large['rows']:,} rows / {small['rows']:,} rows",
                "flat (~1x)", ratio, "x", ratio <= 1.5)  # fmt: skip
    startup = results.get("startup")
    if startup:
        add("ticker --help, wall", "<= 150 ms", startup["help_ms"], "ms", startup["help_ms"] <= 150)
        for count, ms in startup["first_request_ms"].items():
            add(f"ticker run, first request ({count} sources)", "<= 500 ms", ms, "ms", ms <= 500)
    service = results.get("service")
    if service:
        label = f"ticker run, {service['sources']:,} sources @ {service['interval']:g}s"
        changing, quiet = service["changing"], service["quiet"]
        add(f"{label}, a tenth changing: CPU x steady limit", "<= 1.5x", changing["ratio"], "x",
            changing["ratio"] <= 1.5)  # fmt: skip
        add(f"{label}, nothing changing: CPU per 304 poll", "<= 1.0 ms",
            quiet["ticker_ms_per_poll"], "ms", quiet["ticker_ms_per_poll"] <= 1.0)  # fmt: skip
    soak = results.get("soak")
    if soak:
        label = f"soak {soak['sources']} sources @ {soak['interval']:g}s, {soak['seconds']:.0f}s"
        add(f"{label}: CPU after warm-up", "<= 50% of a core", soak["cpu_pct_steady"], "%",
            soak["cpu_pct_steady"] <= 50)  # fmt: skip
        add(f"{label}: peak RSS", "<= 80 MB", soak["peak_rss_mb"], "MiB", soak["peak_rss_mb"] <= 80)
        add(f"{label}: RSS slope after warm-up", "flat", soak["rss_slope_mb_per_min"], "MiB/min",
            soak["rss_slope_mb_per_min"] <= 0.5)  # fmt: skip
        growth = soak["rss_late_mb"] - soak["rss_early_mb"]
        add(f"{label}: RSS median, 2nd half - 1st half after warm-up", "flat", growth, "MiB",
            growth <= 2)  # fmt: skip
        add(
            f"{label}: polls late > 1 interval",
            "0",
            soak["late_polls"],
            "",
            soak["late_polls"] == 0,
        )
    return out


def _fmt(value: float | None, digits: int = 2) -> str:
    if value is None:
        return "-"
    return f"{value:,.{digits}f}"


def _table(header: list[str], rows: Iterable[list[str]]) -> list[str]:
    body = [header, *rows]
    widths = [max(len(r[i]) for r in body) for i in range(len(header))]
    lines = []
    for k, r in enumerate(body):
        cells = [
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
        if k == 0:
            lines.append("  ".join("-" * w for w in widths))
    return lines


def render(results: dict[str, Any]) -> str:
    out: list[str] = []
    meta = results["meta"]
    out.append(f"ticker benchmark  ({meta['python']}, {meta['cpus']} CPUs, {meta['driver']})")
    for run in results.get("runs") or []:
        limit = run["limit"]
        out.append("")
        out.append(
            f"N = {run['n']}: limit {limit['parse_ms']:.2f} ms/page "
            f"(nonce pages {limit['parse_nonce_ms']:.2f}), bare GET {limit['get_ms']:.2f}, "
            f"bare 304 {limit['get_304_ms']:.2f} ({_fmt(limit.get('get_304_trust_env_ms'))} with "
            f"trust_env); limit {limit['polls_per_s']:,.0f} pages/s; "
            f"steady limit (conditional GET, digest, parse if changed): "
            f"304 {_fmt(limit.get('steady_304_ms'), 3)}, "
            f"identical {_fmt(limit.get('steady_identical_ms'), 3)}, "
            f"nonce {_fmt(limit.get('steady_nonce_ms'), 3)}, "
            f"10% {_fmt(limit.get('steady_change_ms'), 3)}, "
            f"every page {_fmt(limit.get('steady_new_item_ms'), 3)}; "
            f"peak RSS {run['peak_rss_mb']:.1f} MiB (at start {run['rss_before_mb']:.1f})"
        )
        rows = []
        for name, row in run["rows"].items():
            rows.append([
                ROW_TITLES[name], _fmt(row["cpu_ms"], 3),
                f"{_fmt(row['limit_ms'], 3)} {LIMIT_TITLES[LIMIT_OF[name]]}",
                _fmt(row["ratio"]) + "x", _fmt(row["polls_per_s"], 0),
                _fmt(row["p50_ms"], 1), _fmt(row["p99_ms"], 1),
            ])  # fmt: skip
        paced = run["paced"]
        rows.append([
            f"change mode paced at {paced['rate']:g}/s", _fmt(paced["cpu_ms"], 3), "", "",
            "", _fmt(paced["p50_ms"], 1), _fmt(paced["p99_ms"], 1),
        ])  # fmt: skip
        rows.append([
            f"  of which parsed ({paced['parsed']})", "", "", "", "",
            _fmt(paced["parsed_p50_ms"], 1), _fmt(paced["parsed_p99_ms"], 1),
        ])  # fmt: skip
        out += _table(["mode", "CPU ms/poll", "vs", "ratio", "polls/s", "p50 ms", "p99 ms"], rows)
        for error in run["errors"]:
            out.append(f"  ! {error}")
    growth = results.get("growth")
    if growth:
        out.append("")
        out.append("DB growth: CPU per poll by size of history (pipeline ms; DB work alone µs)")
        rows = [
            [
                f"{g['label']} ({g['rows']:,} rows)",
                *(_fmt(g["pipeline_ms"].get(k), 3) for k in ("nonce", "304", "new_item")),
                *(_fmt(g["db_us"].get(k), 0) for k in ("read", "seen", "new_item", "touch")),
            ]
            for g in growth
        ]
        out += _table(
            ["state", "nonce ms", "304 ms", "new line ms", "DB read µs", "DB seen µs",
             "DB new µs", "DB touch µs"],
            rows,
        )  # fmt: skip
    exp = results.get("experiments")
    if exp:
        out.append("")
        out.append(
            f"Locating the ticker ({exp['pages']} pages of {exp['page_bytes']:,} bytes; region "
            f"{exp['region_bytes']:,} bytes): µs CPU per page"
        )
        base = next(iter(exp["locate"].values()))["us"]
        out += _table(
            ["variant", "µs/page", "vs limit", "same lines"],
            [
                [name, _fmt(v["us"], 0), _fmt(v["us"] / base) + "x", "yes" if v["same"] else "NO"]
                for name, v in exp["locate"].items()
            ],
        )
        out.append("")
        out.append("ticker's read path per page (µs) and cheaper equivalents")
        out += _table(["step", "µs/page"], [[k, _fmt(v, 0)] for k, v in exp["breakdown"].items()])
        out += _table(
            ["cheaper equivalent", "µs/page", "same result"],
            [
                [k, _fmt(v["us"], 0), "yes" if v["same"] else "NO"]
                for k, v in exp["cheaper"].items()
            ],
        )
        out.append(
            "digest of a body, µs: "
            + ", ".join(f"{k} {_fmt(v, 0)}" for k, v in exp["digest_us"].items())
        )
    startup = results.get("startup")
    if startup:
        out.append("")
        firsts = ", ".join(
            f"{k} source(s) {_fmt(v, 0)} ms" for k, v in startup["first_request_ms"].items()
        )
        out.append(
            f"Start-up: '{startup['help_command']} --help' {_fmt(startup['help_ms'], 0)} ms wall "
            f"(python -c pass {_fmt(startup['python_ms'], 0)} ms; without a bytecode cache "
            f"{_fmt(startup['help_uncached_ms'], 0)} ms); "
            f"'ticker run' first request: {firsts}"
        )
    service = results.get("service")
    if service:
        out.append("")
        out.append(
            f"ticker run beside the steady limit, the same {service['sources']:,} pages "
            f"({service['page_bytes'] / 1000:.0f} KB, ETag) every {service['interval']:g}s, "
            f"after {service['warmup_s']:.0f}s of warm-up; service RSS {service['rss_mb']:.1f} MiB"
        )
        rows = []
        for name, title in (("changing", "a tenth changing"), ("quiet", "nothing changing")):
            w = service[name]
            rows.append([
                title, f"{w['seconds']:.0f}",
                f"{w['ticker_polls']:,} ({w['ticker_304']:,})",
                f"{w['limit_polls']:,} ({w['limit_304']:,})",
                _fmt(w["ticker_ms_per_poll"], 3), _fmt(w["limit_ms_per_poll"], 3),
                _fmt(w["ratio"]) + "x", _fmt(w["ticker_cpu_pct"], 1), _fmt(w["limit_cpu_pct"], 1),
                _fmt(w["log_lines_per_min"], 0), _fmt(w.get("written_mb_per_min"), 1),
            ])  # fmt: skip
        out += _table(
            ["window", "s", "polls (304)", "limit polls (304)", "ms/poll", "limit ms/poll",
             "ratio", "CPU %", "limit CPU %", "log lines/min", "written MB/min"],
            rows,
        )  # fmt: skip
    soak = results.get("soak")
    if soak:
        out.append("")
        out.append(
            f"Soak: {soak['sources']} sources @ {soak['interval']:g}s for {soak['seconds']:.0f}s: "
            f"CPU {soak['cpu_pct']:.1f}% of a core ({soak['cpu_pct_steady']:.1f}% after "
            f"{soak['warmup_s']:.0f}s), peak RSS {soak['peak_rss_mb']:.1f} MiB, RSS "
            f"{soak['rss_warm_mb']:.1f} at {soak['warmup_s']:.0f}s -> "
            f"{soak['rss_end_mb']:.1f} at the end, medians {soak['rss_early_mb']:.1f} -> "
            f"{soak['rss_late_mb']:.1f} MiB over the two halves after warm-up "
            f"({soak['rss_slope_mb_per_min']:+.2f} MiB/min); "
            f"polls {soak['polls']:,} "
            f"({soak['polls_per_source_min']}-{soak['polls_per_source_max']} per source, "
            f"{soak['polls_expected_per_source']:.1f} expected); max gap {soak['max_gap_s']:.1f}s, "
            f"late {soak['late_polls']}, over-interval gaps {soak['gaps_over_interval']}, "
            f"missed/skipped {soak['missed_or_skipped']}; "
            f"errors {soak['errors']}, new items {soak['new_items']}; "
            f"log lines {_fmt(soak.get('log_lines_per_min'), 0)}/min after warm-up"
        )
        if soak.get("cpu_pct_by_minute"):
            out.append(
                "  CPU % of a core by minute: "
                + " ".join(f"{x:.0f}" for x in soak["cpu_pct_by_minute"])
            )
    checks = results.get("targets") or []
    if checks:
        out.append("")
        out.append("Targets (issue 5)")
        out += _table(
            ["figure", "target", "reached", "met"],
            [
                [
                    t["figure"], t["target"],
                    f"{_fmt(t['value'])} {t['unit']}".strip(),
                    "yes" if t["met"] else "no",
                ]
                for t in checks
            ],
        )  # fmt: skip
    return "\n".join(out)
