"""The soak: ``ticker run`` as a subprocess with 1,000 sources at 10 s against ``change`` pages.

Every few seconds the process's CPU (utime + stime from /proc/PID/stat), RSS (VmRSS from
/proc/PID/status) and the lines it has logged (its journal, at the default level) are sampled;
once per interval a tenth of the pages get a new line. Lateness comes from the fixture server,
which keeps the time of each request of this run per page (whatever the service logs): per
source, the gaps between polls. A gap over (2 + jitter) intervals means some poll came more than
one interval late (or was skipped); APScheduler's "missed" and "skipped" warnings are counted
too. Errors are the service's ``poll`` events of status ``error`` (logged at WARNING).
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
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from bench.configs import write_config
from bench.measure import cpu_seconds, peak_rss_mb, rss_mb
from bench.server import FixtureClient

JITTER = 0.1  # the service's default [service] jitter
TAG = "soak"  # the fixture server tells this run's requests by it


@dataclass(frozen=True, slots=True, kw_only=True)
class Sample:
    t: float  # seconds since start
    cpu: float  # CPU seconds of the ticker process so far
    rss_mb: float
    load1: float  # the machine's 1-minute load average: other work skews CPU time too
    log_lines: int = 0  # lines the service has logged so far


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
    log_lines_per_min: float  # the service's log lines per minute after the warm-up
    log_events: dict[str, int]  # the events logged, by name, over the whole run
    samples: tuple[Sample, ...]


class LineCounter:
    """Lines written so far to a file another process appends to, read incrementally."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        self.lines = 0

    def count(self) -> int:
        with self.path.open("rb") as fh:
            fh.seek(self.offset)
            chunk = fh.read()
        self.offset += len(chunk)
        self.lines += chunk.count(b"\n")
        return self.lines


def _sample(pid: int, t: float, lines: LineCounter) -> Sample:
    return Sample(
        t=t,
        cpu=cpu_seconds(pid),
        rss_mb=rss_mb(pid),
        load1=os.getloadavg()[0],
        log_lines=lines.count(),
    )


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


def _read_log(path: Path) -> tuple[int, int, dict[str, int]]:
    """Failed polls, APScheduler's missed/skipped warnings, and the events by name."""
    errors, warnings, events = 0, 0, Counter[str]()
    with path.open(encoding="utf-8", errors="replace") as fh:
        for line in fh:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if not isinstance(event, dict):
                continue
            text = str(event.get("event", ""))
            events[text if len(text) <= 40 else "(other)"] += 1
            if text == "poll" and event.get("status") == "error":
                errors += 1
            elif "was missed by" in text or "maximum number of running instances" in text:
                warnings += 1
    return errors, warnings, dict(events)


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
            client.urls("change", sources, tag=TAG),
            base / "state.db",
            base / "ticker.toml",
            interval=f"{interval:g}s",
        )
        log_path, out_path = base / "stderr.jsonl", base / "stdout.jsonl"
        cmd = [sys.executable, "-m", "ticker", "run", "-c", str(config), "--log-format", "json"]
        with log_path.open("wb") as err, out_path.open("wb") as out:
            lines = LineCounter(log_path)
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
                        samples.append(_sample(proc.pid, now - started, lines))
                        next_sample += sample_every
                    time.sleep(min(next_sample, next_advance, started + seconds) - now)
                end = _sample(proc.pid, time.monotonic() - started, lines)
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
        errors, warnings, events = _read_log(log_path)
        new_items = sum(1 for line in out_path.read_bytes().splitlines() if line.strip())
    times = client.request_times(TAG)
    starts = {f"s{page}": [t - started for t in v] for page, v in times.items()}
    return _figures(
        samples,
        starts,
        errors,
        warnings,
        events,
        new_items,
        seconds,
        sources,
        interval,
        warmup,
        peak,
    )


def _figures(
    samples: list[Sample],
    starts: dict[str, list[float]],
    errors: int,
    warnings: int,
    events: dict[str, int],
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
        polls=sum(len(v) for v in starts.values()),
        polls_per_source_min=min(counts, default=0),
        polls_per_source_max=max(counts, default=0),
        polls_expected_per_source=seconds / interval,
        first_round_s=max((min(v) for v in starts.values()), default=first) - first,
        max_gap_s=max(gaps, default=0.0),
        late_polls=sum(1 for g in gaps if g > (2 + JITTER) * interval),
        gaps_over_interval=sum(1 for g in gaps if g > (1 + JITTER) * interval + 1),
        missed_or_skipped=warnings,
        errors=errors,
        new_items=new_items,
        log_lines_per_min=60 * (end.log_lines - warm.log_lines) / (end.t - warm.t)
        if end.t > warm.t
        else 0.0,
        log_events=events,
        samples=tuple(samples),
    )
