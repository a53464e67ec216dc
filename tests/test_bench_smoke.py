"""The benchmark keeps working: a tiny run (N = 20) reports every figure. Timings are never
asserted here; the figures belong in the issue note and the README."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
ROWS = ("cold", "304", "identical", "nonce", "change", "new_item")


@pytest.fixture(scope="module")
def figures(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("bench") / "bench.json"
    cmd = [sys.executable, "-m", "bench", "--smoke", "--json", str(out)]
    cmd += ["--soak", "4", "--soak-sources", "20", "--soak-interval", "1"]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "Targets (issue 5)" in proc.stdout
    data: dict[str, Any] = json.loads(out.read_text())
    return data


def positive(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0


@pytest.mark.timeout(300)
def test_every_mode_has_cpu_ratio_rate_and_latency(figures: dict[str, Any]) -> None:
    (run,) = figures["runs"]
    assert run["n"] == 20
    assert run["errors"] == []
    limits = ("parse_ms", "parse_nonce_ms", "get_ms", "get_304_ms", "get_304_trust_env_ms")
    limits += tuple(f"steady_{row}_ms" for row in ("304", "identical", "nonce", "change"))
    limits += ("steady_new_item_ms",)
    for key in (*limits, "polls_per_s"):
        assert positive(run["limit"][key]), key
    assert run["limit"]["items_per_page"] == 10
    for row in ROWS:
        for key in ("cpu_ms", "limit_ms", "ratio", "polls_per_s", "p50_ms", "p99_ms"):
            assert positive(run["rows"][row][key]), (row, key)
    for key in ("cpu_ms", "p50_ms", "p99_ms", "parsed", "parsed_p50_ms", "parsed_p99_ms"):
        assert positive(run["paced"][key]), key
    assert positive(run["peak_rss_mb"])


@pytest.mark.timeout(300)
def test_each_mode_took_the_path_it_measures(figures: dict[str, Any]) -> None:
    rows = figures["runs"][0]["rows"]
    assert set(rows["304"]["statuses"]) == {"not_modified"}
    assert set(rows["identical"]["statuses"]) == {"unchanged"}
    assert set(rows["nonce"]["statuses"]) == {"ok"}
    assert rows["nonce"]["new"] == 0
    assert rows["new_item"]["new"] == rows["new_item"]["statuses"]["ok"]
    assert rows["change"]["statuses"]["ok"] < rows["change"]["statuses"]["unchanged"]


@pytest.mark.timeout(300)
def test_growth_startup_experiments_and_soak_are_reported(figures: dict[str, Any]) -> None:
    small, large, recent = figures["growth"]
    assert large["rows"] > small["rows"]
    assert recent["rows"] > large["rows"]
    for state in (small, large, recent):
        for key in ("nonce", "304", "new_item"):
            assert positive(state["pipeline_ms"][key]), (state["label"], key)
        for key in ("read", "seen", "new_item", "touch"):
            assert positive(state["db_us"][key]), (state["label"], key)
    startup = figures["startup"]
    assert positive(startup["help_ms"])
    assert positive(startup["help_uncached_ms"])
    assert set(startup["first_request_ms"]) == {"1", "20"}
    assert all(positive(v) for v in startup["first_request_ms"].values())
    exp = figures["experiments"]
    assert all(v["same"] and positive(v["us"]) for v in exp["locate"].values())
    assert all(v["same"] for v in exp["cheaper"].values())
    assert all(positive(v) for v in exp["breakdown"].values())
    soak = figures["soak"]
    for key in ("cpu_pct", "peak_rss_mb", "rss_end_mb", "polls"):
        assert positive(soak[key]), key
    assert soak["polls_per_source_min"] >= 1
    assert soak["log_lines_per_min"] >= 0
    assert soak["log_events"]["service_started"] == 1
    assert {t["figure"].split(" (")[0] for t in figures["targets"]} >= {
        "cold poll, x limit",
        "304 poll, CPU",
        "identical body, CPU",
        "nonce body, x limit",
        "ticker --help, wall",
    }


@pytest.mark.timeout(300)
def test_the_service_row_measures_ticker_run_beside_the_steady_limit(
    figures: dict[str, Any],
) -> None:
    service = figures["service"]
    assert service["sources"] == 20
    assert service["page_bytes"] > 140_000
    for name in ("changing", "quiet"):
        window = service[name]
        assert positive(window["ticker_polls"]), name
        assert positive(window["limit_polls"]), name
        # CPU is read from /proc in clock ticks (10 ms): at the smoke's size a window of 304s
        # can cost the limit less than one tick, so only the changing window must show CPU.
        for key in ("ticker_ms_per_poll", "limit_ms_per_poll", "ratio"):
            assert window[key] >= 0, (name, key)
    changing = service["changing"]
    assert changing["written_mb_per_min"] > 0  # new lines are committed to the state file
    assert positive(changing["ticker_ms_per_poll"])
    assert positive(changing["limit_ms_per_poll"])
    assert positive(changing["ratio"])
    # Nothing changes in the quiet window: both loops only ever hear 304.
    assert service["quiet"]["ticker_304"] == service["quiet"]["ticker_polls"]
    assert service["quiet"]["limit_304"] == service["quiet"]["limit_polls"]
    assert service["changing"]["ticker_304"] < service["changing"]["ticker_polls"]


@pytest.mark.timeout(120)
def test_bench_gone_prints_a_record_cost_for_each_history() -> None:
    cmd = [sys.executable, "-m", "bench.gone", "--rounds", "2"]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=110)
    assert proc.returncode == 0, proc.stderr
    header, *rows = proc.stdout.splitlines()
    assert "200 gone" in header
    assert [row.split()[0] for row in rows] == ["distinct", "templated"]
    for row in rows:
        costs = [float(x) for x in row.split()[1:]]
        assert len(costs) == 3, row
        assert all(c > 0 for c in costs), row
