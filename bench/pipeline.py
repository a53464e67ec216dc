"""The real pipeline: ``ticker.pipeline.poll_source`` over N sources, driven like ``ticker run``.

Each pass polls every source at once with ``asyncio.gather``, exactly what the service does on
its first tick (every job is due at start): one shared ``AiohttpFetcher`` (the service's
concurrency of 32 connections), one ``SqliteStore`` on disk with its single writer thread,
and ticker's own JSON logging (written to /dev/null, so formatting still costs what it costs).
A paced phase then polls change-mode pages one after another at a steady rate (the load of
1,000 sources at 10 s), for the processing latency of a service that is not in a burst.

Rows, each the median over passes of CPU ms per poll (every thread of this process):

- ``cold``: first poll of a fresh state, 200, page parsed, baseline recorded (one sample per
  mode, four in all);
- ``304``: validators mode, conditional GET answered 304;
- ``identical``: same body, no validators: the body digest matches, nothing parsed;
- ``nonce``: the body changed outside the ticker: parsed, every item seen again;
- ``change``: the issue's change mode, a tenth of the pages with a new line per pass;
- ``new_item``: every page shows one new line (parse, detect, insert, mark one gone).
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench.configs import CONCURRENCY, build_config
from bench.limit import LimitFigures, measure_limit
from bench.measure import PassFigures, measured, median, peak_rss_mb, percentile, rss_mb
from bench.server import FixtureClient
from ticker.cli.wiring import fetch_settings
from ticker.config import SourceConfig
from ticker.fetch import AiohttpFetcher
from ticker.pipeline import PollOutcome, poll_source
from ticker.store import SqliteStore

ROWS = ("cold", "304", "identical", "nonce", "change", "new_item")
#: What each row's steady passes must come to, so a broken run is never reported as fast.
EXPECTED = {
    "cold": "ok",
    "304": "not_modified",
    "identical": "unchanged",
    "nonce": "ok",
    "new_item": "ok",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class RowFigures:
    """One row of the table at one N: medians over its passes."""

    cpu_ms: float
    polls_per_s: float
    p50_ms: float
    p99_ms: float
    passes: tuple[float, ...]  # CPU ms per poll of each pass
    statuses: dict[str, int]
    new: int


@dataclass(frozen=True, slots=True, kw_only=True)
class PacedFigures:
    """Change-mode sources polled one after another at ``rate`` polls/s (the soak's load of
    1,000 sources at 10 s is 100/s), a tenth of the pages getting a new line per cycle."""

    rate: float
    polls: int
    parsed: int  # polls that found a changed page and parsed it
    cpu_ms: float
    p50_ms: float
    p99_ms: float
    parsed_p50_ms: float
    parsed_p99_ms: float
    late_starts: int  # launches more than 100 ms behind the schedule (the loop was busy)


@dataclass(frozen=True, slots=True, kw_only=True)
class PipelineFigures:
    n: int
    rows: dict[str, RowFigures]
    paced: PacedFigures
    peak_rss_mb: float
    rss_before_mb: float
    errors: list[str] = field(default_factory=list)


def configure_logging() -> None:
    """ticker's own JSON logging, as under systemd, into /dev/null."""
    from ticker import log

    log.configure(fmt="json", level="info", stream=open(os.devnull, "w"))  # noqa: SIM115


async def run_pass(
    sources: Sequence[SourceConfig], fetcher: AiohttpFetcher, store: SqliteStore
) -> PassFigures:
    """Poll every source once, all at once; CPU and wall of the whole pass."""
    with measured() as span:
        outcomes = await asyncio.gather(
            *(poll_source(s, fetcher=fetcher, store=store) for s in sources)
        )
        # The "still there" writes wait up to a second to share one transaction; the pass
        # pays for them here, as the service does a second later.
        await store.run(store.flush)
    return PassFigures(
        polls=len(outcomes),
        cpu=span.cpu,
        wall=span.wall,
        latencies=tuple(o.processing for o in outcomes if o.status != "error"),
        statuses=dict(Counter(o.status for o in outcomes)),
        new=sum(len(o.new) for o in outcomes),
        errors=tuple(f"{o.source_id}: {o.error}" for o in outcomes if o.error)[:3],
    )


def _row(passes: Sequence[PassFigures]) -> RowFigures:
    latencies = [x for p in passes for x in p.latencies]
    statuses: Counter[str] = Counter()
    for p in passes:
        statuses.update(p.statuses)
    return RowFigures(
        cpu_ms=median([p.cpu_ms for p in passes]),
        polls_per_s=median([p.rate for p in passes]),
        p50_ms=1000 * percentile(latencies, 0.50),
        p99_ms=1000 * percentile(latencies, 0.99),
        passes=tuple(round(p.cpu_ms, 4) for p in passes),
        statuses=dict(statuses),
        new=sum(p.new for p in passes),
    )


async def _paced(
    client: FixtureClient,
    sources: Sequence[SourceConfig],
    fetcher: AiohttpFetcher,
    store: SqliteStore,
    *,
    rate: float,
    count: int,
) -> PacedFigures:
    loop = asyncio.get_running_loop()
    tasks: list[asyncio.Task[PollOutcome]] = []
    advances: list[asyncio.Task[int]] = []
    late = 0
    with measured() as span:
        start = loop.time()
        for k in range(count):
            if k % len(sources) == 0:
                # A tenth of the pages (spread evenly) change at the start of each cycle.
                advances.append(asyncio.create_task(asyncio.to_thread(client.advance, 0.1)))
            delay = start + k / rate - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            elif delay < -0.1:
                late += 1
            source = sources[k % len(sources)]
            tasks.append(asyncio.create_task(poll_source(source, fetcher=fetcher, store=store)))
        outcomes = await asyncio.gather(*tasks)
        await asyncio.gather(*advances)
        await store.run(store.flush)
    latencies = [o.processing for o in outcomes if o.status != "error"]
    parsed = [o.processing for o in outcomes if o.status == "ok"]
    return PacedFigures(
        rate=rate,
        polls=len(outcomes),
        parsed=len(parsed),
        cpu_ms=1000 * span.cpu / max(len(outcomes), 1),
        p50_ms=1000 * percentile(latencies, 0.50),
        p99_ms=1000 * percentile(latencies, 0.99),
        parsed_p50_ms=1000 * percentile(parsed, 0.50),
        parsed_p99_ms=1000 * percentile(parsed, 0.99),
        late_starts=late,
    )


async def measure_pipeline(
    client: FixtureClient,
    n: int,
    *,
    passes: int,
    paced_polls: int,
    paced_rate: float,
    workdir: Path,
) -> PipelineFigures:
    """Every row at one N, each mode on a fresh state database of its own."""
    rss_before = rss_mb()
    collected: dict[str, list[PassFigures]] = {row: [] for row in ROWS}
    errors: list[str] = []
    paced: PacedFigures | None = None
    for mode in ("change", "identical", "nonce", "validators"):
        config = build_config(client.urls(mode, n), workdir / f"{mode}-{n}.db")
        sources = list(config.sources)
        store = SqliteStore.open(config.service.state)
        try:
            async with AiohttpFetcher(fetch_settings(config)) as fetcher:
                # Open the connections first, as the limit's warm-up pass does: "cold" is a
                # fresh state, not a fresh TCP handshake.
                await asyncio.gather(*(fetcher.fetch(s.url) for s in sources[:CONCURRENCY]))
                plan: list[tuple[str, float | None]] = [("cold", None)]
                steady = {"validators": "304"}.get(mode, mode)
                plan += [(steady, 0.1 if mode == "change" else None)] * passes
                if mode == "change":
                    plan += [("new_item", 1.0)] * passes
                for row, fraction in plan:
                    if fraction is not None:
                        client.advance(fraction)  # outside the measured pass
                    figures = await run_pass(sources, fetcher, store)
                    collected[row].append(figures)
                    errors.extend(figures.errors)
                if mode == "change":
                    paced = await _paced(
                        client, sources, fetcher, store, rate=paced_rate, count=paced_polls
                    )
        finally:
            store.close()
    rows = {row: _row(collected[row]) for row in ROWS}
    for row, status in EXPECTED.items():
        got = rows[row].statuses
        if set(got) != {status}:
            errors.append(f"{row}: expected every poll {status!r}, got {got}")
    assert paced is not None
    return PipelineFigures(
        n=n,
        rows=rows,
        paced=paced,
        peak_rss_mb=peak_rss_mb(),
        rss_before_mb=rss_before,
        errors=errors,
    )


def pipeline_worker(
    port: int, n: int, passes: int, paced_polls: int, paced_rate: float, workdir: str
) -> PipelineFigures:
    """Entry of the child process that measures the pipeline at one N."""
    configure_logging()
    with tempfile.TemporaryDirectory(dir=workdir, prefix=f"pipeline-{n}-") as tmp:
        return asyncio.run(
            measure_pipeline(
                FixtureClient(port),
                n,
                passes=passes,
                paced_polls=paced_polls,
                paced_rate=paced_rate,
                workdir=Path(tmp),
            )
        )


def limit_worker(port: int, n: int, passes: int) -> LimitFigures:
    """Entry of the child process that measures the limit at one N."""
    client = FixtureClient(port)
    return asyncio.run(
        measure_limit(
            client.urls("identical", n),
            client.urls("nonce", n),
            client.urls("validators", n),
            passes=passes,
            concurrency=CONCURRENCY,
            urls_change=client.urls("change", n),
            advance=client.advance,
        )
    )
