"""The service row: ``ticker run`` itself in its steady state, against the steady limit loop
polling the same pages in the same minute.

``ticker run`` (a subprocess, JSON logs at the default level, as under systemd) and
``python -m bench.steady`` (the best plain aiohttp + parsel loop: conditional GET, parse only a
changed page) both poll the same ``live`` pages (~150 KB, ETag and Last-Modified) every interval;
a tenth of the pages gain a line every interval. After a warm-up, each process's CPU (utime +
stime from /proc/PID/stat) is taken over the measured window, and the fixture server counts
each one's answers (200 and 304), so each CPU figure is divided by the polls it made. A second,
quiet window follows in which no page changes: every poll is a 304, which gives a 304 poll's
CPU in the service.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench.configs import write_config
from bench.measure import cpu_seconds, rss_mb, written_bytes
from bench.pages import PageTemplate
from bench.server import LIVE_BYTES, FixtureClient

TICKER, LIMIT = "svc", "lim"


@dataclass(frozen=True, slots=True, kw_only=True)
class Mark:
    """Both processes at one moment: CPU so far, answers so far, the service's log lines."""

    t: float
    ticker_cpu: float
    limit_cpu: float
    ticker_answers: dict[int, int]
    limit_answers: dict[int, int]
    log_lines: int
    ticker_written: int  # bytes the service has written (its state file, its log)


@dataclass(frozen=True, slots=True, kw_only=True)
class WindowFigures:
    """One measured window: the service against the limit loop over the same seconds."""

    seconds: float
    ticker_polls: int
    ticker_304: int
    limit_polls: int
    limit_304: int
    ticker_cpu_s: float
    limit_cpu_s: float
    ticker_ms_per_poll: float
    limit_ms_per_poll: float
    ratio: float  # CPU per poll of the service over the limit's
    ticker_cpu_pct: float  # % of one core
    limit_cpu_pct: float
    log_lines_per_min: float
    written_mb_per_min: float  # the service's writes (state file and log), MB a minute


@dataclass(frozen=True, slots=True, kw_only=True)
class ServiceFigures:
    sources: int
    interval: float
    page_bytes: int
    warmup_s: float
    changing: WindowFigures  # a tenth of the pages gain a line every interval
    quiet: WindowFigures  # nothing changes: every poll a 304
    rss_mb: float  # the service's RSS at the end


def _lines(path: Path) -> int:
    with path.open("rb") as fh:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 20), b""))


def _mark(client: FixtureClient, ticker: int, limit: int, log: Path, t: float) -> Mark:
    return Mark(
        t=t,
        ticker_cpu=cpu_seconds(ticker),
        limit_cpu=cpu_seconds(limit),
        ticker_answers=client.answers(TICKER),
        limit_answers=client.answers(LIMIT),
        log_lines=_lines(log),
        ticker_written=written_bytes(ticker),
    )


def _window(a: Mark, b: Mark) -> WindowFigures:
    def polls(answers_a: dict[int, int], answers_b: dict[int, int], status: int | None) -> int:
        keys = set(answers_b) if status is None else {status}
        return sum(answers_b.get(k, 0) - answers_a.get(k, 0) for k in keys)

    seconds = b.t - a.t
    t_polls = polls(a.ticker_answers, b.ticker_answers, None)
    l_polls = polls(a.limit_answers, b.limit_answers, None)
    t_cpu, l_cpu = b.ticker_cpu - a.ticker_cpu, b.limit_cpu - a.limit_cpu
    t_ms = 1000 * t_cpu / max(t_polls, 1)
    l_ms = 1000 * l_cpu / max(l_polls, 1)
    return WindowFigures(
        seconds=seconds,
        ticker_polls=t_polls,
        ticker_304=polls(a.ticker_answers, b.ticker_answers, 304),
        limit_polls=l_polls,
        limit_304=polls(a.limit_answers, b.limit_answers, 304),
        ticker_cpu_s=t_cpu,
        limit_cpu_s=l_cpu,
        ticker_ms_per_poll=t_ms,
        limit_ms_per_poll=l_ms,
        ratio=t_ms / l_ms if l_ms else 0.0,
        ticker_cpu_pct=100 * t_cpu / seconds if seconds else 0.0,
        limit_cpu_pct=100 * l_cpu / seconds if seconds else 0.0,
        log_lines_per_min=60 * (b.log_lines - a.log_lines) / seconds if seconds else 0.0,
        written_mb_per_min=(
            60 * (b.ticker_written - a.ticker_written) / seconds / 1e6 if seconds else 0.0
        ),
    )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def run_service_row(
    client: FixtureClient,
    *,
    sources: int,
    interval: float,
    warmup: float,
    seconds: float,
    quiet: float,
    workdir: str,
) -> ServiceFigures:
    """Both processes started together; ``warmup`` seconds, then the changing window of
    ``seconds``, one interval (and a second) for the last changes to be read, then the quiet
    window of ``quiet`` seconds."""
    with tempfile.TemporaryDirectory(dir=workdir, prefix="service-") as tmp:
        base = Path(tmp)
        config = write_config(
            client.urls("live", sources, tag=TICKER),
            base / "state.db",
            base / "ticker.toml",
            interval=f"{interval:g}s",
        )
        log_path = base / "stderr.jsonl"
        ticker_cmd = [sys.executable, "-m", "ticker", "run", "-c", str(config)]
        limit_cmd = [sys.executable, "-m", "bench.steady", str(client.port), LIMIT]
        limit_cmd += [str(sources), f"{interval:g}"]
        with log_path.open("wb") as err:
            started = time.monotonic()
            ticker = subprocess.Popen(
                [*ticker_cmd, "--log-format", "json"], stdout=subprocess.DEVNULL, stderr=err
            )
            limit = subprocess.Popen(limit_cmd)
            try:
                changing_from = started + warmup
                changing_to = changing_from + seconds
                quiet_from = changing_to + interval + 1.0
                quiet_to = quiet_from + quiet
                marks: dict[str, Mark] = {}
                next_advance = started + interval
                for name, at in (
                    ("changing_from", changing_from),
                    ("changing_to", changing_to),
                    ("quiet_from", quiet_from),
                    ("quiet_to", quiet_to),
                ):
                    while (now := time.monotonic()) < at:
                        for what, proc in (("ticker run", ticker), ("the limit", limit)):
                            if proc.poll() is not None:
                                raise RuntimeError(f"{what} exited with {proc.returncode}")
                        if now >= next_advance and now < changing_to:
                            client.advance(0.1)
                            next_advance += interval
                        wake = min(at, next_advance) if next_advance < changing_to else at
                        time.sleep(max(0.0, wake - time.monotonic()))
                    marks[name] = _mark(client, ticker.pid, limit.pid, log_path, now - started)
                rss = rss_mb(ticker.pid)
            finally:
                _stop(ticker)
                _stop(limit)
    page = PageTemplate(pad_to=LIVE_BYTES)
    size = len(b"".join(page.body(page.ticker(0, 0)).identity))
    return ServiceFigures(
        sources=sources,
        interval=interval,
        page_bytes=size,
        warmup_s=warmup,
        changing=_window(marks["changing_from"], marks["changing_to"]),
        quiet=_window(marks["quiet_from"], marks["quiet_to"]),
        rss_mb=rss,
    )
