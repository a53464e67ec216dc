"""``python -m bench.render``: what ``render = true`` costs (issue 17).

Two measurements against a local page server (its own process, never counted): the saved
Al Mayadeen English homepage (97 KB) whose ticker lines exist only once a script has drawn them.

1. **Per rendered poll**: ``pipeline.poll_source`` of one ``render = true`` source, in this
   process, through the fetcher with a ``Renderer`` attached, the browser already started (the
   steady state; its launch is reported apart). CPU seconds are this process's and every
   process under it (Playwright's driver, Chromium's browser, zygotes and renderers, with the
   children they reaped); memory is sampled every 10 ms during the poll: this process's RSS
   and the memory of the processes under it (PSS summed: Playwright's driver, about 130 MB, and
   Chromium's processes, counting the pages they share once).
   Medians of ``--polls`` polls, each of a page with one more line.
2. **The service**: ``ticker run`` as a subprocess with five rendered sources every 60 s for
   ``--minutes`` minutes, a new line on every page each minute. Every ``--sample`` seconds its
   memory is sampled: the service's RSS, the PSS of its driver and browser, and their total,
   printed in MB.

``--json FILE`` writes the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from multiprocessing.connection import Connection
from pathlib import Path

from bench.measure import rss_mb

REPO = Path(__file__).resolve().parent.parent
PAGE = REPO / "tests" / "data" / "almayadeen-en.html"
BASE_LINES = [
    "Gaza Ministry of Health: We renew our urgent appeal to protect healthcare institutions",
    "Palestinian sources: Several displaced Palestinians injured west of Rafah",
    "Israeli media: 4 Israeli soldiers killed in the Gaza Strip",
]


# -- the page server (a process of its own) --------------------------------------------------


def scripted(lines: Sequence[str]) -> str:
    """The saved page with its ticker emptied; a script draws ``lines`` into it (the HTML
    carries them reversed, so only a browser reads them)."""
    html = PAGE.read_text("utf-8")
    start = html.index('<div class="ticker">') + len('<div class="ticker">')
    end = html.index("</div></div>", start)
    encoded = json.dumps([line[::-1] for line in lines])
    script = (
        f"<script>for (const s of {encoded}) {{ const d = document.createElement('div');"
        " d.className = 'ticker__item'; d.textContent = [...s].reverse().join('');"
        " document.querySelector('.ticker').appendChild(d); }</script>"
    )
    page = html[:start] + html[end:]
    at = page.rfind("</body>")
    return page[:at] + script + page[at:] if at >= 0 else page + script


def _lines(n: int) -> list[str]:
    return [f"Update {k}: the council meets again on day {k} of the talks" for k in range(n, 0, -1)]


def _serve(conn: Connection) -> None:
    from aiohttp import web

    started = time.monotonic()
    hits: dict[str, int] = {}

    async def each_request(request: web.Request) -> web.Response:
        # /poll/NAME: one more line at every request (each poll reads a changed page).
        name = request.match_info["name"]
        hits[name] = hits.get(name, 0) + 1
        body = scripted([*_lines(hits[name]), *BASE_LINES])
        return web.Response(text=body, content_type="text/html")

    async def each_minute(request: web.Request) -> web.Response:
        # /minute/NAME: one more line every minute (what the service soak polls).
        n = 1 + int((time.monotonic() - started) // 60)
        return web.Response(text=scripted([*_lines(n), *BASE_LINES]), content_type="text/html")

    async def main() -> None:
        app = web.Application()
        app.router.add_get("/poll/{name}", each_request)
        app.router.add_get("/minute/{name}", each_minute)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        conn.send(port)
        await asyncio.get_running_loop().run_in_executor(None, conn.recv)  # until told to stop
        await runner.cleanup()

    asyncio.run(main())


class PageServer:
    """The page server in a spawned process; ``url(path)``; stopped on exit."""

    def __enter__(self) -> PageServer:
        ctx = multiprocessing.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(target=_serve, args=(child,), daemon=True)
        self._proc.start()
        self.port = self._conn.recv()
        return self

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def __exit__(self, *exc: object) -> None:
        self._conn.send("stop")
        self._proc.join(10)
        if self._proc.is_alive():
            self._proc.kill()


# -- process trees ---------------------------------------------------------------------------


def _table() -> dict[int, tuple[int, list[str]]]:
    out: dict[int, tuple[int, list[str]]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as fh:
                stat = fh.read()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        out[int(name)] = (int(fields[1]), fields)
    return out


def _pss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as fh:
            for line in fh:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) / 1024
    except (OSError, ValueError):
        pass
    return 0.0


def tree_mb(root: int) -> float:
    """MB held by ``root``'s descendants (Playwright's driver and Chromium's processes): their
    PSS summed, so the pages they share are counted once."""
    table = _table()
    total, stack = 0.0, [root]
    while stack:
        parent = stack.pop()
        for pid, (ppid, _) in table.items():
            if ppid == parent:
                stack.append(pid)
                total += _pss_mb(pid)
    return total


def tree_cpu(root: int) -> float:
    """CPU seconds of ``root``'s descendants: utime + stime, and cutime + cstime (the
    children they reaped: a renderer that exited with its context still counts)."""
    table = _table()
    tick = os.sysconf("SC_CLK_TCK")
    total, stack = 0, [root]
    while stack:
        parent = stack.pop()
        for pid, (ppid, fields) in table.items():
            if ppid == parent:
                stack.append(pid)
                total += sum(int(fields[i]) for i in (11, 12, 13, 14))
    return total / tick


# -- 1. per rendered poll --------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class PollFigures:
    polls: int
    launch_s: float  # the browser's first start (wall), not in the per-poll figures
    cpu_s_median: float  # this process and the browser, per poll
    cpu_s_python_median: float  # this process alone
    wall_s_median: float
    peak_python_rss_mb_median: float
    peak_browser_mb_median: float  # PSS of the driver's and the browser's processes
    peak_total_mb_median: float
    peak_total_mb_max: float
    new_per_poll: float


class _Sampler:
    """Samples memory every 10 ms in a thread while a poll runs; keeps the peaks."""

    def __init__(self) -> None:
        self.python = self.browser = self.total = 0.0
        self.cpu = 0.0  # the sampler's own CPU seconds, taken off the poll's
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        start = time.thread_time()
        while not self._stop.is_set():
            py, br = rss_mb(), tree_mb(os.getpid())
            self.python, self.browser = max(self.python, py), max(self.browser, br)
            self.total = max(self.total, py + br)
            self._stop.wait(0.01)
        self.cpu = time.thread_time() - start

    def __enter__(self) -> _Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


async def _polls(url: str, polls: int) -> PollFigures:
    from ticker.browser import Renderer
    from ticker.config import parse_config
    from ticker.fetch import AiohttpFetcher, FetchSettings
    from ticker.memory import MemoryStore
    from ticker.pipeline import poll_source

    config = parse_config(
        f'[[sources]]\nid = "tv"\nurl = "{url}"\nitems = "css:.ticker__item"\nrender = true\n',
        path=Path("bench.toml"),
        env={},
    )
    [source] = config.sources
    store = MemoryStore()
    me = os.getpid()
    cpu, cpu_py, wall, py, br, tot, new = [], [], [], [], [], [], []
    async with AiohttpFetcher(FetchSettings(user_agent="bench")) as fetcher:
        renderer = Renderer(concurrency=1)
        fetcher.renderer = renderer
        async with renderer:
            t0 = time.perf_counter()
            await poll_source(source, fetcher=fetcher, store=store)  # the baseline, and launch
            launch = time.perf_counter() - t0
            for _ in range(polls):
                tree0, p0, w0 = tree_cpu(me), time.process_time(), time.perf_counter()
                with _Sampler() as sampler:
                    outcome = await poll_source(source, fetcher=fetcher, store=store)
                if outcome.status == "error":
                    raise RuntimeError(f"a rendered poll failed: {outcome.error}")
                own = time.process_time() - p0 - sampler.cpu
                cpu.append(own + tree_cpu(me) - tree0)
                cpu_py.append(own)
                wall.append(time.perf_counter() - w0)
                py.append(sampler.python)
                br.append(sampler.browser)
                tot.append(sampler.total)
                new.append(len(outcome.new))
    med = statistics.median
    return PollFigures(
        polls=polls,
        launch_s=round(launch, 3),
        cpu_s_median=round(med(cpu), 3),
        cpu_s_python_median=round(med(cpu_py), 3),
        wall_s_median=round(med(wall), 3),
        peak_python_rss_mb_median=round(med(py), 1),
        peak_browser_mb_median=round(med(br), 1),
        peak_total_mb_median=round(med(tot), 1),
        peak_total_mb_max=round(max(tot), 1),
        new_per_poll=round(sum(new) / len(new), 2),
    )


def measure_polls(url: str, polls: int) -> PollFigures:
    return asyncio.run(_polls(url, polls))


# -- 2. the service --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ServiceSample:
    t: float
    service_rss_mb: float
    browser_mb: float

    @property
    def total_mb(self) -> float:
        return self.service_rss_mb + self.browser_mb


@dataclass(frozen=True, slots=True, kw_only=True)
class ServiceFigures:
    minutes: float
    sources: int
    polls: int
    errors: int
    new_items: int
    browser_launches: int
    samples: tuple[ServiceSample, ...]
    cpu_s: float  # the service and its browser over the run

    def per_minute(self) -> list[tuple[int, float, float, float]]:
        """(minute, median service RSS, median browser MB, max total MB) of each minute."""
        out = []
        for m in range(int(self.minutes + 0.999)):
            inside = [
                s
                for s in self.samples
                if 60 * m <= s.t < 60 * (m + 1) and s.service_rss_mb >= 10  # started
            ]
            if inside:
                out.append(
                    (
                        m + 1,
                        round(statistics.median(s.service_rss_mb for s in inside), 1),
                        round(statistics.median(s.browser_mb for s in inside), 1),
                        round(max(s.total_mb for s in inside), 1),
                    )
                )
        return out


def run_service(
    server: PageServer, *, minutes: float, sources: int, every: float
) -> ServiceFigures:
    with tempfile.TemporaryDirectory(prefix="render-soak-") as tmp:
        base = Path(tmp)
        config = ["[service]", f"state = {json.dumps(str(base / 'state.db'))}", ""]
        for i in range(sources):
            config += [
                "[[sources]]",
                f'id = "tv{i}"',
                f"url = {json.dumps(server.url(f'/minute/tv{i}'))}",
                'interval = "60s"',
                'items = "css:.ticker__item"',
                "render = true",
                "",
            ]
        path = base / "ticker.toml"
        path.write_text("\n".join(config), "utf-8")
        err_path, out_path = base / "stderr.jsonl", base / "stdout.jsonl"
        cmd = [sys.executable, "-m", "ticker", "run", "-c", str(path), "--log-format", "json"]
        samples: list[ServiceSample] = []
        with err_path.open("wb") as err, out_path.open("wb") as out:
            started = time.monotonic()
            proc = subprocess.Popen(cmd, stdout=out, stderr=err, cwd=REPO)
            cpu = 0.0
            try:
                while (now := time.monotonic()) < started + 60 * minutes:
                    if proc.poll() is not None:
                        raise RuntimeError(f"ticker run exited early ({proc.returncode})")
                    sample = ServiceSample(
                        t=round(now - started, 1),
                        service_rss_mb=round(rss_mb(proc.pid), 1),
                        browser_mb=round(tree_mb(proc.pid), 1),
                    )
                    samples.append(sample)
                    print(
                        f"  t={sample.t:6.1f}s  service RSS {sample.service_rss_mb:6.1f} MB  "
                        f"driver+browser {sample.browser_mb:6.1f} MB  "
                        f"total {sample.total_mb:6.1f} MB",
                        flush=True,
                    )
                    time.sleep(min(every, max(0.0, started + 60 * minutes - time.monotonic())))
                cpu = _own_cpu(proc.pid) + tree_cpu(proc.pid)
            finally:
                if proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
                    try:
                        proc.wait(30)
                    except subprocess.TimeoutExpired:
                        proc.kill()
                        proc.wait()
        polls = errors = launches = 0
        for line in err_path.read_text("utf-8", errors="replace").splitlines():
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if isinstance(event, dict) and event.get("event") == "poll":
                polls += 1
                errors += event.get("error") is not None
            elif isinstance(event, dict) and event.get("event") == "browser_restart":
                launches += 1
        new_items = sum(1 for line in out_path.read_bytes().splitlines() if line.strip())
    return ServiceFigures(
        minutes=minutes,
        sources=sources,
        polls=polls,
        errors=errors,
        new_items=new_items,
        browser_launches=launches + 1,
        samples=tuple(samples),
        cpu_s=round(cpu, 1),
    )


def _own_cpu(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# -- the command -----------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.render", description=__doc__)
    parser.add_argument("--polls", type=int, default=7, help="rendered polls measured (7)")
    parser.add_argument("--minutes", type=float, default=10.0, help="service run (10)")
    parser.add_argument("--sources", type=int, default=5, help="rendered sources (5)")
    parser.add_argument("--sample", type=float, default=15.0, help="seconds between samples")
    parser.add_argument("--json", type=Path, help="write the figures to this file")
    args = parser.parse_args(argv)
    from ticker.browser import browser_problem

    if (problem := browser_problem()) is not None:
        print(f"bench.render needs the browser: {problem}", file=sys.stderr)
        return 2
    with PageServer() as server:
        print(f"1. per rendered poll ({args.polls} polls, a 97 KB page, browser warm)", flush=True)
        from bench.child import run_in_child

        polls: PollFigures = run_in_child(measure_polls, server.url("/poll/tv"), args.polls)
        for key, value in asdict(polls).items():
            print(f"  {key:<28} {value}")
        print(
            f"2. ticker run: {args.sources} rendered sources every 60 s for {args.minutes:g} min",
            flush=True,
        )
        service = run_service(server, minutes=args.minutes, sources=args.sources, every=args.sample)
    print("  minute  service RSS MB (median)  driver+browser MB (median)  total MB (max)")
    for minute, svc, brw, tot in service.per_minute():
        print(f"  {minute:>6}  {svc:>23}  {brw:>26}  {tot:>14}")
    totals = [s.total_mb for s in service.samples if s.t >= 60] or [
        s.total_mb for s in service.samples if s.service_rss_mb >= 10
    ]
    print(
        f"  polls {service.polls}, errors {service.errors}, new items {service.new_items}, "
        f"browser launches {service.browser_launches}, CPU {service.cpu_s} s; total after the "
        f"first minute {min(totals):.1f}-{max(totals):.1f} MB"
    )
    if args.json:
        figures = {"per_poll": asdict(polls), "service": asdict(service)}
        args.json.write_text(json.dumps(figures, indent=2), "utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
