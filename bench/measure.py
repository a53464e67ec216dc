"""Measuring helpers: CPU and wall time of a block, percentiles, and this process's memory."""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass(slots=True)
class Span:
    """CPU seconds of this process (every thread) and wall seconds of a measured block."""

    cpu: float = 0.0
    wall: float = 0.0


@contextmanager
def measured() -> Iterator[Span]:
    """Measure the block: ``with measured() as span: ...``; CPU is ``time.process_time``, so
    the fixture server (another process) never counts."""
    span = Span()
    c0, w0 = time.process_time(), time.perf_counter()
    try:
        yield span
    finally:
        span.cpu = time.process_time() - c0
        span.wall = time.perf_counter() - w0


@dataclass(frozen=True, slots=True, kw_only=True)
class PassFigures:
    """One pass over N pages: CPU per page, throughput, and the per-poll latencies."""

    polls: int
    cpu: float
    wall: float
    latencies: tuple[float, ...] = ()
    statuses: dict[str, int] = field(default_factory=dict)
    new: int = 0
    errors: tuple[str, ...] = ()

    @property
    def cpu_ms(self) -> float:
        return 1000 * self.cpu / max(self.polls, 1)

    @property
    def rate(self) -> float:
        return self.polls / self.wall if self.wall > 0 else 0.0


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else 0.0


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0..1) by the nearest-rank method; 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q * len(ordered) + 0.5) - 1))
    return ordered[rank]


def proc_status_kb(field_name: str, pid: int | str = "self") -> int:
    """A ``VmRSS``/``VmHWM``-style field of /proc/PID/status in kB (0 when unavailable)."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith(field_name + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def peak_rss_mb(pid: int | str = "self") -> float:
    """Peak resident memory (VmHWM) in MiB; ru_maxrss when /proc is not there."""
    kb = proc_status_kb("VmHWM", pid)
    if not kb and pid == "self":
        import resource

        kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb / 1024


def rss_mb(pid: int | str = "self") -> float:
    return proc_status_kb("VmRSS", pid) / 1024


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process from /proc/PID/stat, in seconds."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rpartition(")")[2].split()
    # After the command name: state is field 3, utime 14 and stime 15 (1-based, man 5 proc).
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def written_bytes(pid: int) -> int:
    """Bytes a process has handed to write calls (``wchar`` of /proc/PID/io: its log lines
    and the state file's WAL and checkpoints, before the page cache); 0 when unavailable."""
    try:
        with open(f"/proc/{pid}/io") as fh:
            for line in fh:
                if line.startswith("wchar:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0
