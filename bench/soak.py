"""The soak: ``ticker run`` as a subprocess with 1,000 sources at 10 s against ``change`` pages.

Every few seconds the process's CPU (utime + stime from /proc/PID/stat) and RSS (VmRSS from
/proc/PID/status) are sampled; once per interval a tenth of the pages get a new line. Lateness
comes from the service's own JSON ``poll`` events on stderr: per source, the gaps between poll
starts (event time minus its duration). A gap over (2 + jitter) intervals means some poll came
more than one interval late (or was skipped); APScheduler's "missed" and "skipped" warnings are
counted too.
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from bench.configs import write_config
from bench.measure import cpu_seconds, peak_rss_mb, percentile, rss_mb
from bench.server import FixtureClient

JITTER = 0.1  # the service's default [service] jitter


@dataclass(frozen=True, slots=True, kw_only=True)
class Sample:
    t: float  # seconds since start
    cpu: float  # CPU seconds of the ticker process so far
    rss_mb: float
    load1: float  # the machine's 1-minute load average: other work skews CPU time too


@dataclass(frozen=True, slots=True, kw_only=True)
class SoakFigures:
    seconds: float
    sources: int
    interval: float
    cpu_pct: float  # % of one core over the whole run
    cpu_pct_steady: float  # % of one core after the warm-up (the first minute)
    cpu_pct_by_minute: tuple[float, ...]  # a rise here is work growing with history
    warmup_s: float
    peak_rss_mb: float
    rss_warm_mb: float  # RSS at the end of the warm-up
    rss_end_mb: float
    rss_early_mb: float  # median RSS over the first half after the warm-up
    rss_late_mb: float  # median RSS over the second half: flat memory keeps the two equal
    rss_slope_mb_per_min: float  # Theil-Sen slope after the warm-up (robust to GC spikes)
    polls: int
    polls_per_source_min: int
    polls_per_source_max: int
    polls_expected_per_source: float
    first_round_s: float  # until every source had polled once
    max_gap_s: float
    late_polls: int  # gaps over (2 + jitter) intervals
    gaps_over_interval: int  # gaps over (1 + jitter) intervals + 1 s: some poll was late
    missed_or_skipped: int  # APScheduler's misfire and max-instances warnings
    errors: int
    new_items: int  # JSON lines on stdout
    duration_p50_ms: float
    duration_p99_ms: float
    samples: tuple[Sample, ...]


def _sample(pid: int, t: float) -> Sample:
    return Sample(t=t, cpu=cpu_seconds(pid), rss_mb=rss_mb(pid), load1=os.getloadavg()[0])


def _by_minute(samples: list[Sample]) -> tuple[float, ...]:
    """% of one core in each whole minute of the run (the last, partial one left out)."""
    out = []
    for m in range(int(samples[-1].t // 60)):
        a = min(samples, key=lambda s: abs(s.t - 60 * m))
        b = min(samples, key=lambda s: abs(s.t - 60 * (m + 1)))
        if b.t > a.t:
            out.append(round(100 * (b.cpu - a.cpu) / (b.t - a.t), 1))
    return tuple(out)


def _slope(points: list[tuple[float, float]]) -> float:
    """Theil-Sen: the median of the pairwise slopes, which a few spikes do not move."""
    slopes = [
        (y2 - y1) / (x2 - x1)
        for i, (x1, y1) in enumerate(points)
        for x2, y2 in points[i + 1 :]
        if x2 > x1
    ]
    return statistics.median(slopes) if slopes else 0.0


def _read_log(path: Path) -> tuple[list[dict[str, object]], int]:
    polls, warnings = [], 0
    with path.open(encoding="utf-8", errors="replace") as fh:
        for line in fh:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if not isinstance(event, dict):
                continue
            text = str(event.get("event", ""))
            if text == "poll":
                polls.append(event)
            elif "was missed by" in text or "maximum number of running instances" in text:
                warnings += 1
    return polls, warnings


def run_soak(
    client: FixtureClient,
    *,
    seconds: float,
    sources: int,
    interval: float,
    workdir: str,
    sample_every: float = 2.0,
) -> SoakFigures:
    warmup = min(60.0, seconds / 2)
    with tempfile.TemporaryDirectory(dir=workdir, prefix="soak-") as tmp:
        base = Path(tmp)
        config = write_config(
            client.urls("change", sources),
            base / "state.db",
            base / "ticker.toml",
            interval=f"{interval:g}s",
        )
        log_path, out_path = base / "stderr.jsonl", base / "stdout.jsonl"
        cmd = [sys.executable, "-m", "ticker", "run", "-c", str(config), "--log-format", "json"]
        with log_path.open("wb") as err, out_path.open("wb") as out:
            started = time.monotonic()
            proc = subprocess.Popen(cmd, stdout=out, stderr=err)
            samples: list[Sample] = []
            next_sample, next_advance = started, started + interval
            try:
                while (now := time.monotonic()) < started + seconds:
                    if proc.poll() is not None:
                        raise RuntimeError(f"ticker run exited early with {proc.returncode}")
                    if now >= next_advance:
                        client.advance(0.1)
                        next_advance += interval
                    if now >= next_sample:
                        samples.append(_sample(proc.pid, now - started))
                        next_sample += sample_every
                    time.sleep(min(next_sample, next_advance, started + seconds) - now)
                end = _sample(proc.pid, time.monotonic() - started)
                samples.append(end)
                peak = peak_rss_mb(proc.pid)
            finally:
                if proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
                    try:
                        proc.wait(30)
                    except subprocess.TimeoutExpired:
                        proc.kill()
                        proc.wait()
        polls, warnings = _read_log(log_path)
        new_items = sum(1 for line in out_path.read_bytes().splitlines() if line.strip())
    return _figures(samples, polls, warnings, new_items, seconds, sources, interval, warmup, peak)


def _figures(
    samples: list[Sample],
    polls: list[dict[str, object]],
    warnings: int,
    new_items: int,
    seconds: float,
    sources: int,
    interval: float,
    warmup: float,
    peak: float,
) -> SoakFigures:
    end = samples[-1]
    warm = min(samples, key=lambda s: abs(s.t - warmup))
    after = [s.rss_mb for s in samples if s.t >= warm.t] or [end.rss_mb]
    half = max(1, len(after) // 2)
    starts: dict[str, list[float]] = defaultdict(list)
    durations = []
    for event in polls:
        stamp = datetime.fromisoformat(str(event["timestamp"])).timestamp()
        duration = float(str(event.get("duration_ms", 0))) / 1000
        starts[str(event.get("source"))].append(stamp - duration)
        durations.append(duration)
    first = min((min(v) for v in starts.values()), default=0.0)
    gaps = [b - a for v in starts.values() for a, b in zip(sorted(v), sorted(v)[1:], strict=False)]
    counts = [len(starts.get(f"s{i}", [])) for i in range(sources)]
    return SoakFigures(
        seconds=end.t,
        sources=sources,
        interval=interval,
        cpu_pct=100 * end.cpu / end.t if end.t else 0.0,
        cpu_pct_steady=100 * (end.cpu - warm.cpu) / (end.t - warm.t) if end.t > warm.t else 0.0,
        cpu_pct_by_minute=_by_minute(samples),
        warmup_s=warm.t,
        peak_rss_mb=peak,
        rss_warm_mb=warm.rss_mb,
        rss_end_mb=end.rss_mb,
        rss_early_mb=statistics.median(after[:half]),
        rss_late_mb=statistics.median(after[half:] or after),
        rss_slope_mb_per_min=60 * _slope([(s.t, s.rss_mb) for s in samples if s.t >= warm.t]),
        polls=len(polls),
        polls_per_source_min=min(counts, default=0),
        polls_per_source_max=max(counts, default=0),
        polls_expected_per_source=seconds / interval,
        first_round_s=max((min(v) for v in starts.values()), default=first) - first,
        max_gap_s=max(gaps, default=0.0),
        late_polls=sum(1 for g in gaps if g > (2 + JITTER) * interval),
        gaps_over_interval=sum(1 for g in gaps if g > (1 + JITTER) * interval + 1),
        missed_or_skipped=warnings,
        errors=sum(1 for e in polls if e.get("status") == "error"),
        new_items=new_items,
        duration_p50_ms=1000 * percentile(durations, 0.5),
        duration_p99_ms=1000 * percentile(durations, 0.99),
        samples=tuple(samples),
    )
