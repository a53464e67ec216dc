"""``ticker run`` as a user runs it: a subprocess polling a real local page server.

The tests are ``async`` so the page server (and the webhook sink) keep serving on the test's
event loop while the service runs; every wait is an ``asyncio.sleep`` poll of what the process
wrote (stdout: items as JSON lines; stderr: JSON log events) or of what the servers received.
Each process is killed at teardown if a test leaves it running.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from conftest import PageServer, en_page, write_config
from sinks import WebhookSink

REPO = Path(__file__).resolve().parent.parent

BASE = [
    "Gaza Ministry of Health: We renew our urgent appeal to protect healthcare institutions",
    "Palestinian sources: Several displaced Palestinians injured west of Rafah",
    "Israeli media: 4 Israeli soldiers killed in the Gaza Strip",
]
NEW = [
    "Al Mayadeen's correspondent in South Lebanon: An Israeli force breaches the fence",
    "Lebanese Health Ministry: 3 martyrs in an Israeli strike on the town of Khiam",
    "Yemeni Armed Forces: We targeted a ship in the Red Sea with drones",
]


# -- the process -----------------------------------------------------------------------------


@dataclass
class TickerProcess:
    """One ``python -m ticker run`` child; its stdout and stderr go to files read as it runs."""

    proc: subprocess.Popen[bytes]
    stdout_path: Path
    stderr_path: Path
    started: float

    @property
    def stdout(self) -> str:
        return self.stdout_path.read_text("utf-8", errors="replace")

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text("utf-8", errors="replace")

    def items(self) -> list[dict[str, Any]]:
        """The items printed on stdout (one JSON object a line), complete lines only."""
        text = self.stdout
        complete = text[: text.rfind("\n") + 1]
        return [json.loads(line) for line in complete.splitlines() if line.strip()]

    def texts(self) -> list[str]:
        return [str(item["text"]) for item in self.items()]

    def events(self, name: str | None = None) -> list[dict[str, Any]]:
        """The JSON log events on stderr (``name``: only those of that event)."""
        out = []
        for line in self.stderr.splitlines():
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if isinstance(event, dict) and (name is None or event.get("event") == name):
                out.append(event)
        return out

    def polls(self, source: str | None = None) -> list[dict[str, Any]]:
        return [e for e in self.events("poll") if source is None or e.get("source") == source]

    def send(self, sig: signal.Signals) -> None:
        self.proc.send_signal(sig)

    async def until(
        self, predicate: Callable[[], object], what: str, within: float = 10.0
    ) -> float:
        """Wait until ``predicate()`` holds; the seconds it took. Fails (with the process's
        stderr) on timeout or if the process exits first."""
        start = time.monotonic()
        while True:
            if predicate():
                return time.monotonic() - start
            if self.proc.poll() is not None:
                if predicate():
                    return time.monotonic() - start
                pytest.fail(
                    f"ticker exited ({self.proc.returncode}) while waiting for {what}\n"
                    f"stderr:\n{self.stderr[-4000:]}"
                )
            if time.monotonic() - start > within:
                pytest.fail(f"timed out after {within}s waiting for {what}\n{self.stderr[-4000:]}")
            await asyncio.sleep(0.05)

    async def stop(self, sig: signal.Signals = signal.SIGTERM, within: float = 15.0) -> float:
        """Send ``sig`` and wait for the exit; the seconds the process took to exit."""
        start = time.monotonic()
        self.send(sig)
        try:
            await asyncio.to_thread(self.proc.wait, within)
        except subprocess.TimeoutExpired:
            pytest.fail(f"ticker did not exit within {within}s of {sig.name}\n{self.stderr}")
        return time.monotonic() - start

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)


def start_ticker(
    config: Path, *, env: dict[str, str] | None = None, logs: Path | None = None
) -> TickerProcess:
    """Start ``python -m ticker run -c CONFIG`` with JSON logs at DEBUG (every poll a ``poll``
    event, which the tests wait on); output files beside the config."""
    where = logs or config.parent
    n = len(list(where.glob("stdout-*.txt")))
    out_path, err_path = where / f"stdout-{n}.txt", where / f"stderr-{n}.txt"
    with out_path.open("wb") as out, err_path.open("wb") as err:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "ticker",
                "run",
                "-c",
                str(config),
                "--log-format",
                "json",
                "--log-level",
                "debug",
            ],
            stdout=out,
            stderr=err,
            env={**os.environ, **(env or {})},
            cwd=REPO,
        )
    return TickerProcess(proc, out_path, err_path, time.monotonic())


def processes() -> Iterator[Callable[..., TickerProcess]]:
    """The body of a fixture that starts ticker processes and kills any left at teardown."""
    started: list[TickerProcess] = []

    def start(config: Path, **kwargs: Any) -> TickerProcess:
        tp = start_ticker(config, **kwargs)
        started.append(tp)
        return tp

    yield start
    for tp in started:
        tp.kill()


# -- configuration ---------------------------------------------------------------------------


def source_toml(sid: str, url: str, extra: str = "") -> str:
    return (
        f'\n[[sources]]\nid = "{sid}"\nname = "Source {sid.upper()}"\nurl = "{url}"\n'
        f'interval = "1s"\nitems = "css:.ticker__item"\n{extra}'
    )


def service_toml(extra: str = "") -> str:
    return f'[service]\nstate = "state.db"\njitter = 0\nstop_timeout = "5s"\n{extra}'


def channel_toml(cid: str, url: str) -> str:
    return f'\n[[channels]]\nid = "{cid}"\nurls = ["{url}"]\n'


def counted(body: str) -> Callable[[web.Request], Any]:
    """A handler serving ``body`` with a counter comment: every answer differs (parsed again)."""
    n = 0

    async def handler(request: web.Request) -> web.Response:
        nonlocal n
        n += 1
        return web.Response(text=f"{body}<!-- {n} -->", content_type="text/html")

    return handler


def broken_layout(lines: list[str]) -> str:
    """The page after a redesign: the ticker is still there, under other class names."""
    return (
        en_page(lines)
        .replace('class="ticker"', 'class="newsbar"')
        .replace("ticker__item", "newsbar__item")
    )


async def baseline(tp: TickerProcess, source: str = "en") -> None:
    await tp.until(
        lambda: any(p.get("baseline") for p in tp.polls(source)), f"the baseline poll of {source}"
    )


# -- polling ---------------------------------------------------------------------------------


async def test_run_makes_its_first_request_within_two_seconds(
    page_server: PageServer, tmp_path: Path, ticker_run: Callable[..., TickerProcess]
) -> None:
    page_server.set("/en", en_page(BASE))
    tp = ticker_run(
        write_config(tmp_path, service_toml() + source_toml("en", page_server.url("/en")))
    )
    await tp.until(lambda: page_server.hits("/en") >= 1, "the first request")
    # About 0.7 s on an idle machine (interpreter start, imports, state open); 3 s under load.
    assert time.monotonic() - tp.started < 3.0
    await baseline(tp)
    assert tp.stdout == ""  # the first poll is a baseline: nothing printed
    assert await tp.stop() < 10
    assert tp.proc.returncode == 0


async def test_items_appearing_over_time_are_printed_once_each_within_about_an_interval(
    page_server: PageServer, tmp_path: Path, ticker_run: Callable[..., TickerProcess]
) -> None:
    page_server.set("/en", en_page(BASE))
    tp = ticker_run(
        write_config(tmp_path, service_toml() + source_toml("en", page_server.url("/en")))
    )
    await baseline(tp)
    shown = list(BASE)
    for text in NEW:
        shown.insert(0, text)  # a ticker shows its newest line first
        page_server.set("/en", en_page(shown))
        took = await tp.until(lambda t=text: t in tp.texts(), f"{text!r} on stdout")  # type: ignore[misc]
        assert took < 2.5, f"{text!r} took {took:.2f}s with a 1s interval"
    # The ticker scrolls: lines reorder, two leave, then come back. Nothing is new.
    polls = len(tp.polls("en"))
    for page in (list(reversed(shown))[2:], shown):
        page_server.set("/en", en_page(page))
        await tp.until(lambda n=polls: len(tp.polls("en")) > n, "another poll")  # type: ignore[misc]
        polls = len(tp.polls("en"))
    await tp.until(lambda n=polls: len(tp.polls("en")) > n, "another poll")  # type: ignore[misc]
    assert await tp.stop() < 10
    assert tp.proc.returncode == 0
    items = tp.items()
    assert [i["text"] for i in items] == NEW
    for item in items:
        assert item["source"] == "en"
        assert item["link"] is None
        assert item["first_seen"].endswith("Z")


async def test_a_source_failing_does_not_delay_another(
    page_server: PageServer, tmp_path: Path, ticker_run: Callable[..., TickerProcess]
) -> None:
    release = asyncio.Event()

    async def hang(request: web.Request) -> web.Response:
        await release.wait()
        return web.Response(status=503)

    page_server.handlers["/slow"] = hang
    page_server.set("/en", en_page(BASE))
    cfg = write_config(
        tmp_path,
        service_toml()
        + source_toml("slow", page_server.url("/slow"))
        + source_toml("en", page_server.url("/en")),
    )
    tp = ticker_run(cfg)
    try:
        await baseline(tp)
        page_server.set("/en", en_page([NEW[0], *BASE]))
        took = await tp.until(lambda: NEW[0] in tp.texts(), "the new item while /slow hangs")
        assert took < 2.5
    finally:
        release.set()


# -- stopping --------------------------------------------------------------------------------


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
async def test_a_stop_signal_exits_0_within_the_stop_timeout(
    page_server: PageServer,
    tmp_path: Path,
    ticker_run: Callable[..., TickerProcess],
    sig: signal.Signals,
) -> None:
    page_server.set("/en", en_page(BASE))
    cfg = write_config(
        tmp_path,
        '[service]\nstate = "state.db"\njitter = 0\n' + source_toml("en", page_server.url("/en")),
    )  # the default stop timeout: 10 s
    tp = ticker_run(cfg)
    await baseline(tp)
    took = await tp.stop(sig)
    assert tp.proc.returncode == 0, tp.stderr
    assert took < 10
    assert [e["signal"] for e in tp.events("stop_requested")] == [sig.name]
    assert tp.events("service_stopped")
    assert "Traceback" not in tp.stderr


async def test_sigterm_lets_an_in_flight_poll_finish_and_report_its_item(
    page_server: PageServer, tmp_path: Path, ticker_run: Callable[..., TickerProcess]
) -> None:
    """Stopping: the poll under way when SIGTERM arrives completes; its new item is not lost."""
    page_server.set("/en", en_page(BASE))
    slow_started = asyncio.Event()

    async def slow(request: web.Request) -> web.Response:
        slow_started.set()
        await asyncio.sleep(1.5)
        return web.Response(text=en_page([NEW[0], *BASE]), content_type="text/html")

    tp = ticker_run(
        write_config(tmp_path, service_toml() + source_toml("en", page_server.url("/en")))
    )
    await baseline(tp)
    page_server.handlers["/en"] = slow
    await asyncio.wait_for(slow_started.wait(), 5)
    took = await tp.stop()
    assert tp.proc.returncode == 0, tp.stderr
    assert 1.0 < took < 5
    assert tp.texts() == [NEW[0]]


async def test_sigterm_abandons_a_hanging_poll_at_the_stop_timeout(
    page_server: PageServer, tmp_path: Path, ticker_run: Callable[..., TickerProcess]
) -> None:
    page_server.set("/en", en_page(BASE))
    release = asyncio.Event()
    hanging = asyncio.Event()

    async def hang(request: web.Request) -> web.Response:
        hanging.set()
        await release.wait()
        return web.Response(status=503)

    cfg = write_config(
        tmp_path,
        '[service]\nstate = "state.db"\njitter = 0\nstop_timeout = "2s"\n'
        + source_toml("en", page_server.url("/en")),
    )
    tp = ticker_run(cfg)
    try:
        await baseline(tp)
        page_server.handlers["/en"] = hang
        await asyncio.wait_for(hanging.wait(), 5)
        took = await tp.stop()
        assert tp.proc.returncode == 0, tp.stderr
        assert 1.5 < took < 5, f"exit took {took:.2f}s with stop_timeout 2s"
    finally:
        release.set()


# -- reloading -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("broken", "problem"),
    [
        ("this is [not toml\n", "not valid TOML"),
        (
            '[service]\nstate = "state.db"\n[[sources]]\nid = "en"\nurl = "x"\ninterval = "soon"\n',
            "sources[0].",
        ),
    ],
    ids=["garbage", "invalid"],
)
async def test_sighup_with_a_broken_config_keeps_running_on_the_old_one(
    page_server: PageServer,
    tmp_path: Path,
    ticker_run: Callable[..., TickerProcess],
    broken: str,
    problem: str,
) -> None:
    page_server.set("/en", en_page(BASE))
    cfg = write_config(tmp_path, service_toml() + source_toml("en", page_server.url("/en")))
    tp = ticker_run(cfg)
    await baseline(tp)
    cfg.write_text(broken, "utf-8")
    tp.send(signal.SIGHUP)
    await tp.until(lambda: tp.events("reload_failed"), "a reload_failed event")
    [failed] = tp.events("reload_failed")
    assert failed["level"] == "error"
    assert failed["problems"], failed
    assert any(problem in p for p in failed["problems"]), failed["problems"]
    assert not tp.events("reloaded")
    # Still polling, on the old configuration.
    page_server.set("/en", en_page([NEW[0], *BASE]))
    await tp.until(lambda: NEW[0] in tp.texts(), "a new item after the failed reload")
    assert tp.proc.poll() is None
    assert await tp.stop() < 10
    assert tp.proc.returncode == 0


async def test_sighup_with_a_channel_url_apprise_cannot_use_keeps_the_old_config(
    page_server: PageServer, tmp_path: Path, ticker_run: Callable[..., TickerProcess]
) -> None:
    page_server.set("/en", en_page(BASE))
    source = source_toml("en", page_server.url("/en"))
    cfg = write_config(tmp_path, service_toml() + source)
    tp = ticker_run(cfg)
    await baseline(tp)
    bad = '[[channels]]\nid = "desk"\nurls = ["jsn://127.0.0.1/hook"]\n'
    cfg.write_text(service_toml() + source + bad, "utf-8")
    tp.send(signal.SIGHUP)
    await tp.until(lambda: tp.events("reload_failed"), "a reload_failed event")
    [failed] = tp.events("reload_failed")
    assert any("channels[0].urls[0]" in p and "jsn://" in p for p in failed["problems"]), failed
    assert not tp.events("reloaded")
    page_server.set("/en", en_page([NEW[0], *BASE]))
    await tp.until(lambda: NEW[0] in tp.texts(), "a new item after the refused reload")
    assert await tp.stop() < 10


async def test_sighup_with_a_valid_config_adding_a_source_starts_polling_it(
    page_server: PageServer, tmp_path: Path, ticker_run: Callable[..., TickerProcess]
) -> None:
    page_server.set("/a", en_page(BASE))
    page_server.set("/b", en_page(["B one: first line of the second page"]))
    cfg = write_config(tmp_path, service_toml() + source_toml("a", page_server.url("/a")))
    tp = ticker_run(cfg)
    await baseline(tp, "a")
    assert page_server.hits("/b") == 0
    cfg.write_text(
        service_toml()
        + source_toml("a", page_server.url("/a"))
        + source_toml("b", page_server.url("/b")),
        "utf-8",
    )
    tp.send(signal.SIGHUP)
    await tp.until(lambda: tp.events("reloaded"), "a reloaded event")
    assert tp.events("reloaded")[0]["sources"] == 2
    await baseline(tp, "b")
    page_server.set("/b", en_page([NEW[1], "B one: first line of the second page"]))
    page_server.set("/a", en_page([NEW[0], *BASE]))
    await tp.until(lambda: len(tp.items()) >= 2, "an item from each source")
    assert sorted((i["source"], i["text"]) for i in tp.items()) == [("a", NEW[0]), ("b", NEW[1])]
    assert await tp.stop() < 10
    assert tp.proc.returncode == 0


# -- health alerts ---------------------------------------------------------------------------


def titles(sink: WebhookSink, needle: str) -> list[str]:
    return [h.title for h in sink.delivered() if needle in h.title]


@dataclass
class Timed:
    """A page whose status tests switch, recording when each request came."""

    body: str
    status: int = 200
    times: list[tuple[float, int]] = field(default_factory=list)

    async def __call__(self, request: web.Request) -> web.Response:
        self.times.append((time.monotonic(), self.status))
        if self.status != 200:
            return web.Response(status=self.status, text="server error")
        return web.Response(text=self.body, content_type="text/html")


async def test_a_failing_then_recovering_source_alerts_failing_once_and_ok_once(
    page_server: PageServer,
    tmp_path: Path,
    ticker_run: Callable[..., TickerProcess],
    sink: WebhookSink,
) -> None:
    page = Timed(en_page(BASE))
    page_server.handlers["/en"] = page
    cfg = write_config(
        tmp_path,
        service_toml('failing_after = 2\nhealth_channels = ["ops"]\n')
        + source_toml("en", page_server.url("/en"))
        + channel_toml("ops", sink.url("/ops")),
    )
    tp = ticker_run(cfg)
    await baseline(tp)
    page.status = 500
    await tp.until(lambda: titles(sink, "is failing"), "the failing alert", within=15)
    page.status = 200
    await tp.until(lambda: titles(sink, "is OK again"), "the recovery alert", within=15)
    ok_polls = len(tp.polls("en"))
    await tp.until(lambda: len(tp.polls("en")) >= ok_polls + 1, "one more poll")
    await asyncio.sleep(0.2)

    assert titles(sink, "is failing") == ["ticker: Source EN is failing"]
    assert titles(sink, "is OK again") == ["ticker: Source EN is OK again"]
    assert len(sink.hits()) == 2, [h.title for h in sink.hits()]
    [failing] = [h for h in sink.delivered() if "is failing" in h.title]
    assert "2 consecutive fetch errors" in failing.message
    assert "500" in failing.message
    [health_event] = [e for e in tp.events("source_health") if e["state"] == "failing"]
    assert health_event["source"] == "en"

    # Backoff: after two failures the source waited twice its interval, and went back to its
    # interval once it answered again.
    fail_times = [t for t, s in page.times if s == 500]
    first_ok = next(t for t, s in page.times if s == 200 and t > fail_times[-1])
    assert first_ok - fail_times[-1] > 1.6  # 2 s after the second failure, not 1 s
    ok_times = [t for t, s in page.times if s == 200][-2:]
    assert all(b - a < 1.6 for a, b in itertools.pairwise(ok_times)), ok_times
    assert await tp.stop() < 10
    assert tp.proc.returncode == 0


async def test_a_canary_that_stops_matching_for_three_polls_alerts_broken_once(
    page_server: PageServer,
    tmp_path: Path,
    ticker_run: Callable[..., TickerProcess],
    sink: WebhookSink,
) -> None:
    page_server.set("/en", en_page(BASE))
    cfg = write_config(
        tmp_path,
        service_toml('health_channels = ["ops"]\n')
        + source_toml("en", page_server.url("/en"), 'canary = "css:.ticker"\n')
        + channel_toml("ops", sink.url("/ops")),
    )
    tp = ticker_run(cfg)
    await baseline(tp)
    polls = len(tp.polls("en"))
    page_server.handlers["/en"] = counted(broken_layout(BASE))
    await tp.until(lambda: titles(sink, "is broken"), "the broken alert", within=10)
    # The redesigned page is parsed once (canary missing), then served identical: those polls
    # show the same broken page, so they count as misses too.
    since_change = tp.polls("en")[polls:]
    assert since_change[0].get("canary_found") is False
    assert len(since_change) >= 3
    # It stays broken for more polls: no second alert.
    polls = len(tp.polls("en"))
    await tp.until(lambda: len(tp.polls("en")) >= polls + 1, "one more poll")
    assert titles(sink, "is broken") == ["ticker: Source EN is broken"]
    [broken] = sink.delivered()
    assert "canary" in broken.message
    # The layout comes back: one recovery alert.
    del page_server.handlers["/en"]
    await tp.until(lambda: titles(sink, "is OK again"), "the recovery alert", within=10)
    polls = len(tp.polls("en"))
    await tp.until(lambda: len(tp.polls("en")) >= polls + 1, "one more poll")
    await asyncio.sleep(0.2)
    assert [h.title for h in sink.delivered()] == [
        "ticker: Source EN is broken",
        "ticker: Source EN is OK again",
    ]
    assert tp.stdout == ""  # the redesigned page showed no new items
    assert await tp.stop() < 10


async def test_a_broken_layout_that_stays_the_same_is_still_reported(
    page_server: PageServer,
    tmp_path: Path,
    ticker_run: Callable[..., TickerProcess],
    sink: WebhookSink,
) -> None:
    """A redesign that then stays byte-identical (or is answered 304) is a broken source too:
    the canary is missing from every poll, not only from the first one after the change."""
    page_server.set("/en", en_page(BASE))
    cfg = write_config(
        tmp_path,
        service_toml('health_channels = ["ops"]\n')
        + source_toml("en", page_server.url("/en"), 'canary = "css:.ticker"\n')
        + channel_toml("ops", sink.url("/ops")),
    )
    tp = ticker_run(cfg)
    await baseline(tp)
    page_server.set("/en", broken_layout(BASE))  # the same bytes on every poll from now on
    polls = len(tp.polls("en"))
    await tp.until(lambda: len(tp.polls("en")) >= polls + 4, "four polls of the redesigned page")
    await asyncio.sleep(0.3)
    assert titles(sink, "is broken") == ["ticker: Source EN is broken"], [
        (p["status"], p.get("canary_found")) for p in tp.polls("en")
    ]


async def test_a_ticker_that_stays_the_same_is_not_quiet(
    page_server: PageServer,
    tmp_path: Path,
    ticker_run: Callable[..., TickerProcess],
    sink: WebhookSink,
) -> None:
    """ "Quiet" means no items at all for stale_after; a page answered unchanged (304 or the same
    bytes) still shows the items it showed, so it is not quiet."""
    page_server.set("/en", en_page(BASE))
    cfg = write_config(
        tmp_path,
        service_toml('health_channels = ["ops"]\n')
        + source_toml("en", page_server.url("/en"), 'stale_after = "1500ms"\n')
        + channel_toml("ops", sink.url("/ops")),
    )
    tp = ticker_run(cfg)
    await baseline(tp)
    polls = len(tp.polls("en"))
    await tp.until(lambda: len(tp.polls("en")) >= polls + 3, "three unchanged polls")
    await asyncio.sleep(0.3)
    assert [h.title for h in sink.hits()] == [], [(p["status"], p["items"]) for p in tp.polls()]


# -- delivery --------------------------------------------------------------------------------


async def test_new_items_are_delivered_to_a_channel_once_each(
    page_server: PageServer,
    tmp_path: Path,
    ticker_run: Callable[..., TickerProcess],
    sink: WebhookSink,
) -> None:
    page_server.set("/en", en_page(BASE))
    cfg = write_config(
        tmp_path,
        service_toml()
        + source_toml("en", page_server.url("/en"))
        + channel_toml("desk", sink.url("/desk")),
    )
    tp = ticker_run(cfg)
    await baseline(tp)
    shown = list(BASE)
    for text in NEW[:2]:
        shown.insert(0, text)
        page_server.set("/en", en_page(shown))
        took = await tp.until(
            lambda t=text: any(t in h.message for h in sink.delivered()),  # type: ignore[misc]
            f"{text!r} at the sink",
        )
        assert took < 3.0, f"{text!r} took {took:.2f}s with a 1s interval"
    page_server.set("/en", en_page(list(reversed(shown))))
    polls = len(tp.polls("en"))
    await tp.until(lambda: len(tp.polls("en")) >= polls + 2, "two more polls")
    await asyncio.sleep(0.2)
    assert await tp.stop() < 10
    assert tp.proc.returncode == 0
    delivered = sink.delivered("/desk")
    assert len(sink.hits()) == 2
    for text in NEW[:2]:
        [hit] = [h for h in delivered if text in h.message]
        assert "Source EN" in hit.title + hit.message
    assert tp.stdout == ""  # with a channel configured, nothing is printed


# -- systemd notifications -------------------------------------------------------------------


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    """A datagram socket standing in for systemd's $NOTIFY_SOCKET (a short path: 108 bytes)."""
    path = tmp_path / "notify.sock"
    short_dir = None
    if len(str(path)) > 100:
        short_dir = tempfile.mkdtemp(prefix="tn")
        path = Path(short_dir) / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.setblocking(False)
    try:
        yield sock, str(path)
    finally:
        sock.close()
        path.unlink(missing_ok=True)
        if short_dir is not None:
            os.rmdir(short_dir)


class Notifications:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.messages: list[tuple[float, str]] = []

    def drain(self) -> None:
        while True:
            try:
                data = self.sock.recv(4096)
            except BlockingIOError:
                return
            self.messages.append((time.monotonic(), data.decode()))

    def fields(self) -> list[str]:
        self.drain()
        return [f for _, m in self.messages for f in m.split("\n")]

    def index(self, field: str) -> int:
        return self.fields().index(field)


async def test_ready_watchdog_and_stopping_reach_the_notify_socket(
    page_server: PageServer,
    tmp_path: Path,
    ticker_run: Callable[..., TickerProcess],
    notify_socket: tuple[socket.socket, str],
) -> None:
    sock, path = notify_socket
    page_server.set("/en", en_page(BASE))
    cfg = write_config(tmp_path, service_toml() + source_toml("en", page_server.url("/en")))
    tp = ticker_run(cfg, env={"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "1000000"})
    seen = Notifications(sock)
    await tp.until(lambda: "READY=1" in seen.fields(), "READY=1")
    assert any(f.startswith("STATUS=") for f in seen.fields())
    await tp.until(lambda: seen.fields().count("WATCHDOG=1") >= 2, "two WATCHDOG=1 pings")
    assert seen.index("READY=1") < seen.index("WATCHDOG=1")
    pings = [t for t, m in seen.messages if m == "WATCHDOG=1"]
    assert pings[1] - pings[0] < 1.0  # within WATCHDOG_USEC (1 s): every half of it
    assert await tp.stop() < 10
    assert tp.proc.returncode == 0
    assert "STOPPING=1" in seen.fields()
    assert seen.index("STOPPING=1") > seen.index("READY=1")


@pytest.mark.parametrize("problem", ["config", "state"])
async def test_no_ready_when_the_config_or_the_state_cannot_be_used(
    tmp_path: Path,
    ticker_run: Callable[..., TickerProcess],
    notify_socket: tuple[socket.socket, str],
    problem: str,
) -> None:
    """Readiness and watchdog: READY=1 only after the configuration validates and the state
    opens."""
    sock, path = notify_socket
    if problem == "config":
        cfg = write_config(tmp_path, service_toml() + '\n[[sources]]\nid = "BAD ID"\n')
        expected_rc = 2
    else:
        (tmp_path / "state.db").write_bytes(b"this is not an SQLite database" * 100)
        cfg = write_config(tmp_path, service_toml() + source_toml("en", "http://127.0.0.1:9/en"))
        expected_rc = 1
    tp = ticker_run(cfg, env={"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "1000000"})
    await asyncio.to_thread(tp.proc.wait, 20)
    assert tp.proc.returncode == expected_rc, tp.stderr
    seen = Notifications(sock)
    assert "READY=1" not in seen.fields()
    if problem == "state":
        assert "state.db" in tp.stderr
        assert (tmp_path / "state.db").read_bytes().startswith(b"this is not an SQLite")
