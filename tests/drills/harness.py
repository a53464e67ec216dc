"""The drills' harness: ``ticker`` as a subprocess, configuration text, unique lines, counting.

Short form by default (CI); long form with ``TICKER_DRILL_LONG=1``. Each drill counts from the
receivers' side: the sinks record what arrived, the harness turns their messages back into the
unique tokens of the lines a page showed.
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest

LONG = os.environ.get("TICKER_DRILL_LONG", "") == "1"
REPO = Path(__file__).resolve().parents[2]
CLK_TCK = os.sysconf("SC_CLK_TCK")


T = TypeVar("T")


def pick(short: T, long: T) -> T:
    """The short-form value, or the long-form one with ``TICKER_DRILL_LONG=1``."""
    return long if LONG else short


def timeout(short: float, long: float) -> pytest.MarkDecorator:
    return pytest.mark.timeout(pick(short, long))


# -- the process -----------------------------------------------------------------------------


class Ticker:
    """One ``python -m ticker ARGS`` child, JSON logs on stderr; output kept in files."""

    def __init__(
        self, args: Sequence[str], *, workdir: Path, env: dict[str, str] | None = None
    ) -> None:
        n = len(list(workdir.glob("ticker-*.err")))
        self.out_path = workdir / f"ticker-{n}.out"
        self.err_path = workdir / f"ticker-{n}.err"
        self.args = list(args)
        with self.out_path.open("wb") as out, self.err_path.open("wb") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "ticker", *args, "--log-format", "json"],
                stdout=out,
                stderr=err,
                env={**os.environ, **(env or {})},
                cwd=REPO,
            )
        self.pid = self.proc.pid
        self.started = time.monotonic()

    # -- output ----------------------------------------------------------------------------

    @property
    def stdout(self) -> str:
        return self.out_path.read_text("utf-8", errors="replace")

    @property
    def stderr(self) -> str:
        return self.err_path.read_text("utf-8", errors="replace")

    def events(self, name: str | None = None, **match: Any) -> list[dict[str, Any]]:
        """The JSON log events (``name`` and ``match``: only those with these values)."""
        out = []
        for line in self.stderr.splitlines():
            if not line.startswith("{"):
                continue
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if name is not None and event.get("event") != name:
                continue
            if all(event.get(k) == v for k, v in match.items()):
                out.append(event)
        return out

    def tail(self, n: int = 3000) -> str:
        return self.stderr[-n:]

    # -- waiting ---------------------------------------------------------------------------

    def alive(self) -> bool:
        return self.proc.poll() is None

    def wait_for(
        self, predicate: Callable[[], object], what: str, within: float = 15.0, step: float = 0.05
    ) -> float:
        """Wait until ``predicate()``; the seconds it took. Fails on timeout or an early exit."""
        start = time.monotonic()
        while True:
            if predicate():
                return time.monotonic() - start
            if not self.alive():
                if predicate():
                    return time.monotonic() - start
                pytest.fail(
                    f"ticker exited ({self.proc.returncode}) while waiting for {what}\n"
                    f"{self.tail()}"
                )
            if time.monotonic() - start > within:
                pytest.fail(f"timed out after {within:g}s waiting for {what}\n{self.tail()}")
            time.sleep(step)

    def until(self, predicate: Callable[[], object], within: float, step: float = 0.05) -> bool:
        """Wait until ``predicate()`` (True) or ``within`` seconds or the process's exit (False)."""
        deadline = time.monotonic() + within
        while not predicate():
            if time.monotonic() > deadline or not self.alive():
                return bool(predicate())
            time.sleep(step)
        return True

    def wait_baseline(self, source: str, within: float = 20.0) -> None:
        self.wait_for(
            lambda: self.events("poll", source=source, baseline=True),
            f"the baseline poll of {source!r}",
            within,
        )

    # -- ending ----------------------------------------------------------------------------

    def kill9(self) -> None:
        if self.alive():
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def terminate(self, within: float = 20.0) -> float:
        """SIGTERM and wait; the seconds until the exit (fails if it does not exit)."""
        start = time.monotonic()
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(within)
        except subprocess.TimeoutExpired:
            self.kill9()
            pytest.fail(f"ticker did not exit within {within:g}s of SIGTERM\n{self.tail()}")
        return time.monotonic() - start

    def wait_exit(self, within: float) -> int | None:
        try:
            return self.proc.wait(within)
        except subprocess.TimeoutExpired:
            return None

    # -- resources -------------------------------------------------------------------------

    def status_kb(self, field_name: str) -> int | None:
        """A ``/proc/PID/status`` figure in kB (VmRSS, VmHWM), None once the process is gone."""
        try:
            text = Path(f"/proc/{self.pid}/status").read_text()
        except OSError:
            return None
        m = re.search(rf"^{field_name}:\s+(\d+) kB", text, re.MULTILINE)
        return int(m.group(1)) if m else None

    def cpu_seconds(self) -> float | None:
        """User + system CPU time so far, from ``/proc/PID/stat``."""
        try:
            text = Path(f"/proc/{self.pid}/stat").read_text()
        except OSError:
            return None
        fields = text[text.rindex(")") + 2 :].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK


class Tickers:
    """Starts ticker processes for a test and kills whatever is left at teardown."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.started: list[Ticker] = []

    def start(self, config: Path, *args: str, env: dict[str, str] | None = None) -> Ticker:
        t = Ticker(["run", "-c", str(config), *args], workdir=self.workdir, env=env)
        self.started.append(t)
        return t

    def command(
        self, *args: str, env: dict[str, str] | None = None, within: float = 60.0
    ) -> Ticker:
        """Run a command to its end (``once``, ``outbox``, ...); the finished process."""
        t = Ticker(list(args), workdir=self.workdir, env=env)
        self.started.append(t)
        if t.wait_exit(within) is None:
            t.kill9()
            pytest.fail(f"ticker {' '.join(args)} did not finish within {within:g}s\n{t.tail()}")
        return t

    def all_output(self) -> str:
        return "\n".join(t.stdout + "\n" + t.stderr for t in self.started)

    def close(self) -> None:
        for t in self.started:
            t.kill9()


# -- configuration ---------------------------------------------------------------------------


def q(value: str) -> str:
    """A TOML basic string (JSON escapes are valid TOML)."""
    return json.dumps(value)


def service_toml(**settings: Any) -> str:
    """``[service]`` with the drills' defaults (state beside the config, no jitter)."""
    values: dict[str, Any] = {"state": "state.db", "jitter": 0, "stop_timeout": "5s"}
    values.update(settings)
    lines = ["[service]"]
    for key, value in values.items():
        if value is None:
            continue
        if isinstance(value, bool):
            lines.append(f"{key} = {'true' if value else 'false'}")
        elif isinstance(value, (int, float)):
            lines.append(f"{key} = {value}")
        elif isinstance(value, (list, tuple)):
            lines.append(f"{key} = [{', '.join(q(v) for v in value)}]")
        else:
            lines.append(f"{key} = {q(str(value))}")
    return "\n".join(lines) + "\n"


def source_toml(sid: str, url: str, *, interval: str = "1s", **extra: str) -> str:
    text = (
        f"\n[[sources]]\nid = {q(sid)}\nname = {q('Source ' + sid)}\nurl = {q(url)}\n"
        f'interval = {q(interval)}\nitems = "css:.ticker__item"\n'
    )
    return text + "".join(f"{k} = {q(v)}\n" for k, v in extra.items())


def channel_toml(cid: str, *urls: str, min_interval: str | None = None) -> str:
    text = f"\n[[channels]]\nid = {q(cid)}\nurls = [{', '.join(q(u) for u in urls)}]\n"
    if min_interval is not None:
        text += f"min_interval = {q(min_interval)}\n"
    return text


def write_config(workdir: Path, *parts: str) -> Path:
    path = workdir / "ticker.toml"
    path.write_text("".join(parts), "utf-8")
    path.chmod(0o600)
    return path


# -- lines and tokens ------------------------------------------------------------------------

WORDS = [
    "army",
    "border",
    "ceasefire",
    "convoy",
    "council",
    "court",
    "crossing",
    "delegation",
    "drone",
    "envoy",
    "evacuation",
    "harbour",
    "hospital",
    "inquiry",
    "militia",
    "ministry",
    "navy",
    "negotiators",
    "observers",
    "parliament",
    "patrol",
    "protest",
    "refugees",
    "reporters",
    "rescue",
    "satellite",
    "senate",
    "shelter",
    "sirens",
    "strike",
    "summit",
    "tanker",
    "tribunal",
    "truce",
    "tunnel",
    "uprising",
    "village",
    "volunteers",
    "warehouse",
    "airport",
    "blackout",
    "bridge",
    "cabinet",
    "checkpoint",
    "clinic",
    "corridor",
    "embassy",
    "flotilla",
    "governor",
    "highway",
    "lighthouse",
    "market",
    "monastery",
    "orchard",
    "pipeline",
    "railway",
    "reservoir",
    "stadium",
]


@dataclass
class Feed:
    """Unique ticker lines ``<tag>NNNN word word ...`` and when each appeared on the page."""

    tag: str
    rng: random.Random = field(default_factory=lambda: random.Random(7))
    lines: list[str] = field(default_factory=list)
    appeared: dict[str, float] = field(default_factory=dict)  # token -> monotonic time

    def make(self) -> str:
        n = len(self.lines) + 1
        return f"{self.tag}{n:04d} " + " ".join(self.rng.sample(WORDS, 6))

    def add(self, count: int = 1) -> list[str]:
        new = []
        for _ in range(count):
            new.append(self.make())
            self.lines.append(new[-1])
        return new

    def mark(self, lines: Iterable[str], when: float) -> None:
        for line in lines:
            self.appeared[token_of(line)] = when

    def shown(self, window: int = 100) -> list[str]:
        """What the ticker shows: the newest ``window`` lines, newest first."""
        return list(reversed(self.lines[-window:]))

    def tokens(self) -> list[str]:
        return [token_of(line) for line in self.lines]

    def pattern(self) -> re.Pattern[str]:
        return re.compile(rf"\b({re.escape(self.tag)}\d{{4}})\b")


def token_of(line: str) -> str:
    return line.split(" ", 1)[0]


def tokens_in(message: str, pattern: re.Pattern[str]) -> list[str]:
    """The line tokens a message carries; an update's "(was: ...)" quote does not count."""
    kept = "\n".join(ln for ln in message.splitlines() if not ln.lstrip().startswith("(was:"))
    return pattern.findall(kept)


@dataclass
class Tally:
    """What one channel received of a feed."""

    counts: Counter[str]
    messages: int
    resent_messages: int  # identical messages received again (a send repeated)
    split_items: int  # items that arrived in two *different* messages (double detection)

    def missing(self, expected: Iterable[str]) -> list[str]:
        return [t for t in expected if self.counts[t] == 0]

    @property
    def duplicates(self) -> int:
        return sum(n - 1 for n in self.counts.values() if n > 1)

    @property
    def max_copies(self) -> int:
        return max(self.counts.values(), default=0)


def tally(messages: Sequence[tuple[str, str]], pattern: re.Pattern[str]) -> Tally:
    """Count the tokens in (title, message) pairs received by one channel."""
    counts: Counter[str] = Counter()
    seen_in: dict[str, set[tuple[str, str]]] = {}
    for msg in messages:
        for tok in tokens_in(msg[1], pattern):
            counts[tok] += 1
            seen_in.setdefault(tok, set()).add(msg)
    distinct = len(set(messages))
    return Tally(
        counts=counts,
        messages=len(messages),
        resent_messages=len(messages) - distinct,
        split_items=sum(1 for s in seen_in.values() if len(s) > 1),
    )


# -- state -----------------------------------------------------------------------------------


def query(state: Path, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    """Read the state database (ticker stopped, or reading beside it in WAL mode)."""
    conn = sqlite3.connect(f"file:{state}?mode=ro", uri=True, timeout=10)
    try:
        return list(conn.execute(sql, args))
    finally:
        conn.close()


def integrity(state: Path) -> str:
    return str(query(state, "PRAGMA integrity_check")[0][0])


# -- figures ---------------------------------------------------------------------------------


def percentile(values: Sequence[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


def mb(kb: int | None) -> float | None:
    return None if kb is None else round(kb / 1024, 1)
