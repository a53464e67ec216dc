"""Start-up: ``ticker --help`` wall time, and how soon ``ticker run`` makes its first request.

Installed Python code runs from cached bytecode; an environment with PYTHONDONTWRITEBYTECODE
compiles every module on every start. The figures are taken with a bytecode cache (in a
temporary PYTHONPYCACHEPREFIX, warmed by a first run, so the checkout is not written to), and
``--help`` is also timed as this environment runs it (``help_uncached_ms``).

The first request is timed from outside: the clock starts just before the process is spawned
and stops when the fixture server sees the first request carrying this run's token
(``time.monotonic()`` is one system-wide clock on Linux, so the two processes agree).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from bench.configs import write_config
from bench.measure import median
from bench.server import FixtureClient


@dataclass(frozen=True, slots=True, kw_only=True)
class StartupFigures:
    """Medians in ms; ``help_command`` says what was run for ``ticker --help``."""

    help_ms: float
    help_runs: tuple[float, ...]
    help_command: str
    help_uncached_ms: float  # as this environment runs it (see the module docstring)
    python_ms: float  # ``python -c pass``: the floor of any Python CLI here
    first_request_ms: dict[int, float]  # by number of sources in the configuration
    first_request_runs: dict[int, tuple[float, ...]]


def _wall(cmd: list[str], env: dict[str, str] | None = None) -> float:
    started = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, env=env)
    return 1000 * (time.perf_counter() - started)


def cached_env(pycache: Path) -> dict[str, str]:
    """This environment with bytecode written to and read from ``pycache``."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(pycache)
    return env


def ticker_command() -> list[str]:
    """The installed ``ticker`` script when there is one (what users run), else -m ticker."""
    script = shutil.which("ticker")
    return [script] if script else [sys.executable, "-m", "ticker"]


def help_times(runs: int, env: dict[str, str]) -> tuple[list[float], list[float], list[float], str]:
    cmd = [*ticker_command(), "--help"]
    _wall(cmd, env)  # warm the page cache and the bytecode cache
    helps = [_wall(cmd, env) for _ in range(runs)]
    uncached = [_wall(cmd) for _ in range(runs)]
    pythons = [_wall([sys.executable, "-c", "pass"], env) for _ in range(runs)]
    return helps, uncached, pythons, " ".join(Path(c).name if "/" in c else c for c in cmd[:-1])


def first_request(
    client: FixtureClient, sources: int, workdir: Path, env: dict[str, str] | None = None
) -> float:
    """ms from spawning ``python -m ticker run -c cfg`` to the server seeing a request."""
    run = uuid.uuid4().hex
    urls = [client.url("identical", i, run=run) for i in range(sources)]
    config = write_config(urls, workdir / f"{run}.db", workdir / f"{run}.toml")
    cmd = [sys.executable, "-m", "ticker", "run", "-c", str(config), "--log-format", "json"]
    started = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        deadline = started + 60
        while time.monotonic() < deadline:
            hit = client.startup_hit(run)
            if hit.first is not None:
                return 1000 * (hit.first - started)
            if proc.poll() is not None:
                raise RuntimeError(f"ticker run exited with {proc.returncode} before polling")
            time.sleep(0.005)
        raise RuntimeError("ticker run made no request within 60 s")
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def measure_startup(
    client: FixtureClient, *, runs: int, source_counts: tuple[int, ...], workdir: str
) -> StartupFigures:
    firsts: dict[int, list[float]] = {}
    with tempfile.TemporaryDirectory(dir=workdir, prefix="startup-") as tmp:
        env = cached_env(Path(tmp) / "pycache")
        helps, uncached, pythons, command = help_times(runs, env)
        for count in source_counts:
            state = Path(tmp) / f"state-{count}"
            state.mkdir()
            first_request(client, count, state, env)  # warm-up: bytecode, page cache
            firsts[count] = [first_request(client, count, state, env) for _ in range(runs)]
    return StartupFigures(
        help_ms=median(helps),
        help_runs=tuple(round(x, 1) for x in helps),
        help_command=command,
        help_uncached_ms=median(uncached),
        python_ms=median(pythons),
        first_request_ms={k: median(v) for k, v in firsts.items()},
        first_request_runs={k: tuple(round(x, 1) for x in v) for k, v in firsts.items()},
    )
