"""``python -m bench``: start the fixture server, measure, print the table, write the JSON.

Every measurement runs in a fresh child process (spawned), so each has its own warm-up and its
own peak memory; the fixture server runs in another, and its CPU never counts.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.child import run_in_child
from bench.configs import CONCURRENCY, PER_HOST
from bench.experiments import experiments_worker
from bench.growth import growth_worker
from bench.pipeline import limit_worker, pipeline_worker
from bench.report import add_ratios, render, targets, to_jsonable, write_json
from bench.server import FixtureServer

DRIVER = "asyncio.gather of poll_source per pass, as ticker run's first tick"


def _ints(text: str) -> list[int]:
    try:
        values = [int(x.replace("_", "")) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected numbers separated by commas, got {text!r}"
        ) from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected positive numbers, got {text!r}")
    return values


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bench",
        description="Measure ticker's pipeline beside its limit (issue 5). The full run: "
        "python -m bench --n 100,1000,5000 --soak 600",
    )
    p.add_argument(
        "--n",
        type=_ints,
        default=[100],
        metavar="N[,N...]",
        help="numbers of sources (default: 100)",
    )
    p.add_argument("--passes", type=int, default=3, help="measured passes per mode (default 3)")
    p.add_argument(
        "--paced-polls",
        type=int,
        default=300,
        help="polls of the paced latency phase (default 1000)",
    )
    p.add_argument(
        "--paced-rate",
        type=float,
        default=100.0,
        help="polls/s of the paced phase: 1,000 sources at 10 s (default 100)",
    )
    p.add_argument(
        "--growth-rows",
        type=int,
        default=1_000_000,
        help="rows of history in the large state (default 1,000,000)",
    )
    p.add_argument(
        "--growth-sources",
        type=int,
        default=50,
        help="sources per mode in the growth check (default 50)",
    )
    p.add_argument("--startup-runs", type=int, default=5, help="runs per start-up figure")
    p.add_argument(
        "--startup-sources",
        type=_ints,
        default=[1, 1000],
        metavar="N[,N...]",
        help="configuration sizes for 'ticker run' to first request (default 1,1000)",
    )
    p.add_argument(
        "--experiment-pages",
        type=int,
        default=40,
        help="pages in the locate and breakdown experiments (default 40)",
    )
    p.add_argument(
        "--soak",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="run the soak for SECONDS (default: off)",
    )
    p.add_argument(
        "--service-sources",
        type=int,
        default=1000,
        help="the service row: ticker run and the steady limit on this many live pages "
        "(default 1000)",
    )
    p.add_argument("--service-interval", type=float, default=10.0, metavar="SECONDS")
    p.add_argument(
        "--service-warmup", type=float, default=25.0, metavar="SECONDS", help="default 25"
    )
    p.add_argument(
        "--service-seconds",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="the measured window, a tenth of the pages changing per interval (default 60)",
    )
    p.add_argument(
        "--service-quiet",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="then a window with nothing changing, every poll a 304 (default 30)",
    )
    p.add_argument("--soak-sources", type=int, default=1000)
    p.add_argument("--soak-interval", type=float, default=10.0, metavar="SECONDS")
    p.add_argument(
        "--skip",
        default="",
        metavar="PART[,PART...]",
        help="leave out parts: pipeline (and the limit), growth, experiments, startup, "
        "service (the service row: ticker run beside the steady limit, ~2.5 min)",
    )
    p.add_argument("--json", type=Path, metavar="PATH", help="also write the figures as JSON")
    p.add_argument(
        "--workdir",
        default=tempfile.gettempdir(),
        help="where state databases go (on disk; default the temp directory)",
    )
    p.add_argument(
        "--smoke", action="store_true", help="a tiny run (N=20, seconds) that exercises every part"
    )
    return p


def _smoke(args: argparse.Namespace) -> None:
    args.n = [20]
    args.passes = 2
    args.paced_polls = 40
    args.growth_rows = 20_000
    args.growth_sources = 10
    args.startup_runs = 2
    args.startup_sources = [1, 20]
    args.experiment_pages = 5
    args.service_sources = 20
    args.service_interval = 1.0
    args.service_warmup = 3.0
    args.service_seconds = 4.0
    args.service_quiet = 2.0


def _progress(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.smoke:
        _smoke(args)
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    # The fixture server is local: never reach it through a proxy from the environment.
    os.environ["NO_PROXY"] = ",".join(filter(None, [os.environ.get("NO_PROXY"), "127.0.0.1"]))
    pages = max(
        [*args.n, args.growth_sources, *args.startup_sources, args.soak_sources]
        + ([] if "service" in skip else [args.service_sources])
    )
    results: dict[str, Any] = {
        "meta": {
            "python": f"Python {platform.python_version()}",
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "loadavg_at_start": list(os.getloadavg()),
            "started": datetime.now(UTC).isoformat(timespec="seconds"),
            "driver": DRIVER,
            "concurrency": CONCURRENCY,
            "per_host": PER_HOST,
            "args": {k: str(v) for k, v in vars(args).items()},
        },
        "runs": [],
        "growth": None,
        "experiments": None,
        "startup": None,
        "service": None,
        "soak": None,
    }
    with FixtureServer(pages) as client:
        _progress(f"fixture server on 127.0.0.1:{client.port}, {pages} pages per mode")
        for n in [] if "pipeline" in skip else args.n:
            _progress(f"N={n}: the limit")
            limit = run_in_child(limit_worker, client.port, n, args.passes)
            _progress(f"N={n}: the pipeline")
            figures = run_in_child(
                pipeline_worker,
                client.port,
                n,
                args.passes,
                args.paced_polls,
                args.paced_rate,
                args.workdir,
            )
            run = to_jsonable(figures)
            run["limit"] = to_jsonable(limit)
            add_ratios(run)
            results["runs"].append(run)
        if "growth" not in skip:
            _progress(f"DB growth: {args.growth_rows:,} rows")
            states = run_in_child(
                growth_worker,
                client.port,
                args.growth_rows,
                args.growth_sources,
                args.passes,
                args.workdir,
            )
            results["growth"] = to_jsonable(states)
        if "experiments" not in skip:
            _progress("experiments: locating the ticker, the read path, digests")
            exp = run_in_child(experiments_worker, args.experiment_pages, max(args.passes, 3))
            results["experiments"] = to_jsonable(exp)
        if "startup" not in skip:
            from bench.startup import measure_startup

            _progress("start-up: --help and time to first request")
            startup = measure_startup(
                client,
                runs=args.startup_runs,
                source_counts=tuple(args.startup_sources),
                workdir=args.workdir,
            )
            results["startup"] = to_jsonable(startup)
        if "service" not in skip:
            from bench.service_row import run_service_row

            _progress(
                f"service row: ticker run and the steady limit, {args.service_sources} sources "
                f"@ {args.service_interval:g}s"
            )
            service = run_service_row(
                client,
                sources=args.service_sources,
                interval=args.service_interval,
                warmup=args.service_warmup,
                seconds=args.service_seconds,
                quiet=args.service_quiet,
                workdir=args.workdir,
            )
            results["service"] = to_jsonable(service)
        if args.soak > 0:
            from bench.soak import run_soak

            _progress(
                f"soak: {args.soak_sources} sources @ {args.soak_interval:g}s for {args.soak:g}s"
            )
            soak = run_soak(
                client,
                seconds=args.soak,
                sources=args.soak_sources,
                interval=args.soak_interval,
                workdir=args.workdir,
            )
            results["soak"] = to_jsonable(soak)
    results["meta"]["loadavg_at_end"] = list(os.getloadavg())
    results["targets"] = targets(results)
    print(render(results))
    if args.json is not None:
        write_json(results, args.json)
        _progress(f"JSON written to {args.json}")
    return 0
