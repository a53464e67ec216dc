"""The live page's server side (issue 7), queried over HTTP as a browser or ``curl -N`` would.

``ticker run`` runs as a subprocess with ``[service] listen`` on a free 127.0.0.1 port, polling the
local page server every second; the tests read ``/``, ``/events`` (Server-Sent Events, parsed
frame by frame), ``/api/items``, ``/api/sources`` and ``/timeline.svg`` with aiohttp. Every wait
is a short poll of what the service answers; the process is killed at teardown.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import aiohttp
import pytest
from conftest import PageServer, en_page, write_config

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
OTHER_BASE = ["Football: the league resumes next week after the winter break"]

SSE_TIMEOUT = aiohttp.ClientTimeout(total=None, sock_connect=5, sock_read=None)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- the process -----------------------------------------------------------------------------


@dataclass
class TickerProcess:
    """One ``python -m ticker run`` child; its JSON logs go to a file read as it runs."""

    proc: subprocess.Popen[bytes]
    stderr_path: Path

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text("utf-8", errors="replace")

    def events(self, name: str) -> list[dict[str, Any]]:
        out = []
        for line in self.stderr.splitlines():
            with contextlib.suppress(ValueError):
                event = json.loads(line)
                if isinstance(event, dict) and event.get("event") == name:
                    out.append(event)
        return out

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


def start_ticker(config: Path, env: dict[str, str] | None = None) -> TickerProcess:
    """``python -m ticker run -c CONFIG --log-format json``, as a user starts it."""
    n = len(list(config.parent.glob("stderr-*.txt")))
    err_path = config.parent / f"stderr-{n}.txt"
    with err_path.open("wb") as err, (config.parent / f"stdout-{n}.txt").open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "ticker", "run", "-c", str(config), "--log-format", "json"],
            stdout=out,
            stderr=err,
            env={**os.environ, **(env or {})},
            cwd=REPO,
        )
    return TickerProcess(proc, err_path)


@pytest.fixture(name="ticker_processes")
def ticker_processes_fixture() -> Iterator[Callable[..., TickerProcess]]:
    """Starts ticker processes; stops (then kills) any still running at teardown."""
    started: list[TickerProcess] = []

    def start(config: Path, env: dict[str, str] | None = None) -> TickerProcess:
        tp = start_ticker(config, env)
        started.append(tp)
        return tp

    yield start
    for tp in started:
        tp.kill()


# -- configuration ---------------------------------------------------------------------------


def source_toml(
    sid: str, url: str, *, name: str | None = None, tags: tuple[str, ...] = (), extra: str = ""
) -> str:
    name_toml = json.dumps(name or f"Source {sid.upper()}")  # a JSON string is a TOML string
    return (
        f'\n[[sources]]\nid = "{sid}"\nname = {name_toml}\nurl = "{url}"\n'
        f'interval = "1s"\nitems = "css:.ticker__item"\ntags = {json.dumps(list(tags))}\n{extra}'
    )


def live_toml(port: int, sources: str, *, service: str = "", channels: str = "") -> str:
    return (
        f'[service]\nstate = "state.db"\njitter = 0\nstop_timeout = "5s"\n'
        f'listen = "127.0.0.1:{port}"\n{service}{sources}{channels}'
    )


# -- the endpoint ----------------------------------------------------------------------------


class Live:
    """A running ``ticker run`` and its HTTP endpoint at ``127.0.0.1:port``."""

    def __init__(
        self, tp: TickerProcess, http: aiohttp.ClientSession, port: int, config: Path
    ) -> None:
        self.tp = tp
        self.http = http
        self.port = port
        self.config = config
        self.base = f"http://127.0.0.1:{port}"
        self.seen: list[str] = []  # every response body, for the secret check

    async def get(self, path: str, params: Any = None) -> tuple[int, Any, str]:
        """(status, headers, body text) of GET path."""
        async with self.http.get(self.base + path, params=params) as resp:
            text = await resp.text()
            self.seen.append(text)
            return resp.status, resp.headers, text

    async def items(self, **params: str) -> dict[str, Any]:
        status, headers, text = await self.get("/api/items", params)
        assert status == 200, text
        assert headers["Content-Type"].startswith("application/json")
        return json.loads(text)  # type: ignore[no-any-return]

    async def texts(self, **params: str) -> list[str]:
        return [i["text"] for i in (await self.items(**params))["items"]]

    async def sources(self) -> dict[str, dict[str, Any]]:
        status, _, text = await self.get("/api/sources")
        assert status == 200, text
        return {s["id"]: s for s in json.loads(text)["sources"]}

    async def until(
        self, check: Callable[[], Awaitable[object]], what: str, within: float = 10.0
    ) -> float:
        """Wait until ``await check()`` is truthy; the seconds it took (at most ``within``)."""
        start = time.monotonic()
        while True:
            try:
                if await check():
                    return time.monotonic() - start
            except aiohttp.ClientConnectionError:
                pass
            if self.tp.proc.poll() is not None:
                pytest.fail(f"ticker exited while waiting for {what}\n{self.tp.stderr[-4000:]}")
            if time.monotonic() - start > within:
                log = self.tp.stderr[-3000:]
                pytest.fail(f"timed out after {within}s waiting for {what}\n{log}")
            await asyncio.sleep(0.05)

    async def polled(self, *sids: str) -> None:
        """Wait until each source has been polled once (its baseline is recorded)."""

        async def check() -> bool:
            found = await self.sources()
            return all(found[s]["last_poll"] is not None for s in sids)

        await self.until(check, f"the first poll of {sids}")

    async def another_poll(self, sid: str) -> None:
        before = (await self.sources())[sid]["last_poll"]

        async def check() -> bool:
            return (await self.sources())[sid]["last_poll"] != before

        await self.until(check, f"another poll of {sid}")

    async def recorded(self, text: str, within: float = 10.0) -> float:
        async def check() -> bool:
            return text in await self.texts(limit="200")

        return await self.until(check, f"{text!r} in /api/items", within)


@pytest.fixture(name="start_live")
async def start_live_fixture(
    page_server: PageServer,
    tmp_path: Path,
    http: aiohttp.ClientSession,
    ticker_processes: Callable[..., TickerProcess],
) -> Callable[..., Awaitable[Live]]:
    """Start ``ticker run`` with the given sources (TOML) and wait for their first polls."""

    async def start(
        sources: str, *, service: str = "", channels: str = "", env: dict[str, str] | None = None
    ) -> Live:
        port = free_port()
        cfg = write_config(tmp_path, live_toml(port, sources, service=service, channels=channels))
        live = Live(ticker_processes(cfg, env), http, port, cfg)
        ids = re.findall(r'^id = "([^"]+)"$', sources, re.M)
        await live.polled(*ids)
        return live

    return start


# -- Server-Sent Events ----------------------------------------------------------------------


@dataclass
class Frame:
    event: str
    data: str

    def json(self) -> Any:
        return json.loads(self.data)


@dataclass
class EventStream:
    """An open ``/events`` response, read frame by frame by a background task."""

    resp: aiohttp.ClientResponse
    frames: asyncio.Queue[Frame] = field(default_factory=asyncio.Queue)
    raw: list[str] = field(default_factory=list)
    opened: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None

    async def _read(self) -> None:
        event, data = "message", []
        while line := (await self.resp.content.readline()).decode("utf-8"):
            self.raw.append(line)
            self.opened.set()
            line = line.rstrip("\n")
            if not line:
                if data:
                    await self.frames.put(Frame(event, "\n".join(data)))
                event, data = "message", []
            elif line.startswith(":"):
                continue
            else:
                key, _, value = line.partition(":")
                value = value.removeprefix(" ")
                if key == "event":
                    event = value
                elif key == "data":
                    data.append(value)

    async def next_item(self, within: float) -> dict[str, Any] | None:
        """The next ``item`` frame's JSON, or None if none comes within ``within`` seconds."""
        deadline = time.monotonic() + within
        while (left := deadline - time.monotonic()) > 0:
            try:
                frame = await asyncio.wait_for(self.frames.get(), left)
            except TimeoutError:
                return None
            if frame.event == "item":
                return frame.json()  # type: ignore[no-any-return]
        return None

    async def item(self, text: str, within: float = 5.0) -> dict[str, Any]:
        """Wait for the ``item`` frame of ``text``; fails after ``within`` seconds."""
        deadline = time.monotonic() + within
        while (left := deadline - time.monotonic()) > 0:
            got = await self.next_item(left)
            if got is not None and got["text"] == text:
                return got
        pytest.fail(f"no item frame for {text!r} within {within}s; stream: {self.raw[-10:]}")

    async def items_for(self, seconds: float) -> list[dict[str, Any]]:
        """Every ``item`` frame that arrives in the next ``seconds``."""
        out = []
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            got = await self.next_item(left)
            if got is not None:
                out.append(got)
        return out


@contextlib.asynccontextmanager
async def events(live: Live, query: str = "") -> AsyncIterator[EventStream]:
    """``GET /events?query``, held open and parsed while the block runs."""
    url = live.base + "/events" + (f"?{query}" if query else "")
    async with live.http.get(url, timeout=SSE_TIMEOUT) as resp:
        assert resp.status == 200, await resp.text()
        assert resp.headers["Content-Type"].startswith("text/event-stream")
        stream = EventStream(resp)
        stream.task = asyncio.create_task(stream._read())
        try:
            # The first bytes are written once the client is registered: wait for them.
            await asyncio.wait_for(stream.opened.wait(), 5)
            yield stream
        finally:
            stream.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, aiohttp.ClientError):
                await stream.task
            live.seen.append("".join(stream.raw))


# -- the page --------------------------------------------------------------------------------


class InlineFinder(HTMLParser):
    """Collects what a strict CSP would block or what would run page text as code."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[dict[str, str | None]] = []
        self.inline_script_bodies: list[str] = []
        self.handlers: list[str] = []
        self.style_attrs: list[str] = []
        self.style_elements = 0
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, _ in attrs:
            if name.lower().startswith("on"):
                self.handlers.append(f"<{tag} {name}>")
            if name.lower() == "style":
                self.style_attrs.append(tag)
            if name.lower() in ("href", "src") and (_ or "").lower().startswith("javascript:"):
                self.handlers.append(f"<{tag} {name}=javascript:>")
        if tag == "script":
            self.scripts.append(dict(attrs))
            self._in_script = True
        if tag == "style":
            self.style_elements += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline_script_bodies.append(data)


def csp_directives(header: str) -> dict[str, list[str]]:
    out = {}
    for part in header.split(";"):
        words = part.split()
        if words:
            out[words[0]] = words[1:]
    return out


async def test_page_has_a_strict_csp_nosniff_and_no_inline_script_or_handlers(
    page_server: PageServer, start_live: Callable[..., Awaitable[Live]]
) -> None:
    page_server.set("/en", en_page(BASE))
    live = await start_live(source_toml("en", page_server.url("/en")))

    status, headers, html = await live.get("/")
    assert status == 200
    assert headers["Content-Type"].startswith("text/html")
    assert headers["X-Content-Type-Options"] == "nosniff"
    csp = headers["Content-Security-Policy"]
    assert "unsafe-inline" not in csp
    assert "unsafe-eval" not in csp
    directives = csp_directives(csp)
    assert directives["default-src"] == ["'none'"]
    assert directives["script-src"] == ["'self'"]
    assert directives["style-src"] == ["'self'"]
    assert directives["frame-ancestors"] == ["'none'"]

    found = InlineFinder()
    found.feed(html)
    assert found.inline_script_bodies == []
    assert found.handlers == []
    assert [s.get("src") for s in found.scripts] == ["/static/app.js"]
    # style-src 'self' would block these too: the page must not rely on them.
    assert found.style_attrs == []
    assert found.style_elements == 0

    for path, kind in (("/static/app.js", "text/javascript"), ("/static/app.css", "text/css")):
        status, headers, _ = await live.get(path)
        assert status == 200, path
        assert headers["Content-Type"].startswith(kind)
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert "Content-Security-Policy" in headers
    _, _, script = await live.get("/static/app.js")
    # Page text reaches the DOM as text only: no HTML sinks, no code built from strings.
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert sink not in script, sink

    for path in ("/static/index.htm", "/static/..%2fweb.py", "/static/ticker.toml"):
        status, _, _ = await live.get(path)
        assert status == 404, path


# -- /events ---------------------------------------------------------------------------------


async def test_events_deliver_a_new_line_as_an_item_frame_within_two_seconds(
    page_server: PageServer, start_live: Callable[..., Awaitable[Live]]
) -> None:
    page_server.set("/en", en_page(BASE))
    page_server.set("/other", en_page(OTHER_BASE))
    live = await start_live(
        source_toml("en", page_server.url("/en"), tags=("mena", "war"))
        + source_toml("other", page_server.url("/other"), tags=("sport",))
    )
    async with (
        events(live) as everything,
        events(live, "source=en") as en,
        events(live, "source=other") as other,
        events(live, "tag=sport") as sport,
        events(live, "q=Khiam") as matching,
        events(live, "q=Rafah") as not_matching,
    ):
        added = time.monotonic()
        page_server.set("/en", en_page([NEW[1], *BASE]))
        item = await everything.item(NEW[1], within=5)
        took = time.monotonic() - added
        assert took < 2.5, f"the item frame came {took:.2f}s after the line, with a 1s interval"
        assert item["source"] == "en"
        assert item["source_name"] == "Source EN"
        assert item["tags"] == ["mena", "war"]
        assert item["kind"] == "new"
        assert item["first_seen"].endswith("Z")
        assert isinstance(item["id"], int)
        assert await en.item(NEW[1], within=2) == item
        assert await matching.item(NEW[1], within=2) == item
        # The filtered-out streams stay open and quiet: no item frames at all.
        for stream in (other, sport, not_matching):
            assert await stream.items_for(1.5) == [], stream.raw
        assert "retry: 3000\n" in everything.raw


async def test_events_carry_source_health_after_each_poll(
    page_server: PageServer, start_live: Callable[..., Awaitable[Live]]
) -> None:
    page_server.set("/en", en_page(BASE))
    live = await start_live(source_toml("en", page_server.url("/en")))
    async with events(live, "source=other") as stream:
        frame = await asyncio.wait_for(stream.frames.get(), 5)
    assert frame.event == "source"
    status = frame.json()
    assert status["id"] == "en"
    assert status["state"] == "ok"
    assert status["last_poll"].endswith("Z")


async def test_events_q_is_text_not_a_regex_and_over_200_characters_is_400_naming_q(
    page_server: PageServer, start_live: Callable[..., Awaitable[Live]]
) -> None:
    # q is searched for as text (issue 12: a regex from a client could freeze the service):
    # what was an invalid regex is a stream like any other.
    page_server.set("/en", en_page(BASE))
    live = await start_live(source_toml("en", page_server.url("/en")))
    async with events(live, "q=%28%5Bunclosed") as stream:
        page_server.set("/en", en_page([NEW[0] + " ([unclosed", *BASE]))
        await stream.item(NEW[0] + " ([unclosed")
    status, headers, body = await live.get("/events", {"q": "x" * 201})
    assert status == 400
    assert headers["Content-Type"].startswith("application/json")
    assert json.loads(body)["error"].startswith("q:")


# -- /api/items ------------------------------------------------------------------------------


async def two_sources_with_news(
    page_server: PageServer, start_live: Callable[..., Awaitable[Live]]
) -> Live:
    page_server.set("/en", en_page(BASE))
    page_server.set("/other", en_page(OTHER_BASE))
    live = await start_live(
        source_toml("en", page_server.url("/en"), tags=("mena",))
        + source_toml("other", page_server.url("/other"), tags=("sport", "mena"))
        + source_toml("third", page_server.url("/other"), tags=("sport",))
    )
    for n in range(len(NEW)):
        page_server.set("/en", en_page([*reversed(NEW[: n + 1]), *BASE]))
        await live.recorded(NEW[n])
    tennis = "Tennis: the final is postponed by rain"
    page_server.set("/other", en_page([tennis, *OTHER_BASE]))
    await live.recorded(tennis)
    # "other" and "third" poll the same page, each on its own schedule: wait for both.
    for _ in range(100):
        if (await live.texts()).count(tennis) == 2:
            break
        await asyncio.sleep(0.1)
    return live


async def test_api_items_are_newest_first_and_filter_by_source_and_tag(
    page_server: PageServer, start_live: Callable[..., Awaitable[Live]]
) -> None:
    live = await two_sources_with_news(page_server, start_live)
    tennis = "Tennis: the final is postponed by rain"
    # "third" polls the same page as "other": it saw the tennis line too.
    assert await live.texts() == [tennis, tennis, *reversed(NEW)]
    body = await live.items(source="en")
    assert [i["text"] for i in body["items"]] == list(reversed(NEW))
    assert {i["source"] for i in body["items"]} == {"en"}
    assert body["more"] is False
    assert [i["source"] for i in (await live.items(source="other"))["items"]] == ["other"]
    sport = (await live.items(tag="sport"))["items"]
    assert sorted(i["source"] for i in sport) == ["other", "third"]  # both poll /other
    assert await live.texts(tag="mena") == [tennis, *reversed(NEW)]
    assert await live.texts(tag="sport", source="en") == []
    assert await live.texts(tag="nosuchtag") == []
    body = await live.items(source="en", limit="1")
    assert body["items"][0]["tags"] == ["mena"]
    assert body["items"][0]["source_name"] == "Source EN"


async def test_api_items_q_is_case_folded_text_not_a_regex(
    page_server: PageServer, start_live: Callable[..., Awaitable[Live]]
) -> None:
    # Not ``history --grep``'s regex any more (issue 12): anyone who can reach the endpoint could
    # make one run for ever. Text, case-folded, as a newsroom types it in the search box.
    live = await two_sources_with_news(page_server, start_live)
    assert await live.texts(q="khiam") == [NEW[1]]
    assert await live.texts(q="RED SEA") == [NEW[2]]
    assert await live.texts(q="israeli") == [NEW[1], NEW[0]]
    assert sorted(await live.texts(q="GAZA", baseline="1")) == sorted([BASE[0], BASE[2]])
    for pattern in ("Khiam|Red Sea", r"^\w+ Health", "(?i)khiam", r"\d+ (Israeli|martyrs)"):
        assert await live.texts(q=pattern, baseline="1") == [], pattern


async def test_api_items_q_over_200_characters_is_400_with_a_json_error_naming_q(
    page_server: PageServer, start_live: Callable[..., Awaitable[Live]]
) -> None:
    page_server.set("/en", en_page(BASE))
    live = await start_live(source_toml("en", page_server.url("/en")))
    assert (await live.items(q="([unclosed"))["items"] == []  # text, not a regex: no error
    status, headers, body = await live.get("/api/items", {"q": "x" * 201})
    assert status == 400
    assert headers["Content-Type"].startswith("application/json")
    error = json.loads(body)["error"]
    assert error.startswith("q:"), error
    assert "200" in error
    for params in ({"before": "abc"}, {"limit": "many"}):
        status, _, _ = await live.get("/api/items", params)
        assert status == 400, params


async def test_api_items_page_back_with_before_and_report_more(
    page_server: PageServer, start_live: Callable[..., Awaitable[Live]]
) -> None:
    page_server.set("/en", en_page(BASE))
    live = await start_live(source_toml("en", page_server.url("/en")))
    lines = [f"Bulletin {n}: the council meets again on day {n}" for n in range(7)]
    shown = list(BASE)
    for line in lines:
        shown.insert(0, line)
        page_server.set("/en", en_page(shown))
        await live.recorded(line)

    pages, before = [], None
    while True:
        params = {"limit": "3"} | ({"before": str(before)} if before is not None else {})
        body = await live.items(**params)
        pages.append(body)
        if not body["more"]:
            break
        before = body["items"][-1]["id"]
        assert len(pages) < 10, "paging does not end"
    assert [len(p["items"]) for p in pages] == [3, 3, 1]
    assert [p["more"] for p in pages] == [True, True, False]
    texts = [i["text"] for p in pages for i in p["items"]]
    assert texts == list(reversed(lines))
    ids = [i["id"] for p in pages for i in p["items"]]
    assert ids == sorted(ids, reverse=True)
    assert (await live.items(before=str(ids[-1])))["items"] == []


async def test_api_items_leave_out_baseline_lines_unless_asked(
    page_server: PageServer, start_live: Callable[..., Awaitable[Live]]
) -> None:
    page_server.set("/en", en_page(BASE))
    live = await start_live(source_toml("en", page_server.url("/en")))
    body = await live.items()
    assert body == {"items": [], "more": False, "next_before": None}
    with_baseline = await live.items(baseline="1")
    assert sorted(i["text"] for i in with_baseline["items"]) == sorted(BASE)
    assert {i["kind"] for i in with_baseline["items"]} == {"baseline"}

    page_server.set("/en", en_page([NEW[0], *BASE]))
    await live.recorded(NEW[0])
    assert await live.texts() == [NEW[0]]
    assert await live.texts(baseline="0") == [NEW[0]]
    assert set(await live.texts(baseline="1")) == {NEW[0], *BASE}
    assert await live.texts(baseline="1", q="Rafah") == [BASE[1]]


HOSTILE = '<script>alert(1)</script> He said "stop" & <img src=x onerror=alert(2)>'
HOSTILE_HTML = HOSTILE.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


async def test_hostile_item_text_comes_back_as_json_data_never_markup(
    page_server: PageServer, start_live: Callable[..., Awaitable[Live]]
) -> None:
    page_server.set("/en", en_page(BASE))
    live = await start_live(
        source_toml("en", page_server.url("/en"), name='Desk <b>"EN"</b> & co', tags=("<i>",))
    )
    async with events(live) as stream:
        page_server.set("/en", en_page([HOSTILE_HTML, *BASE]))
        frame_item = await stream.item(HOSTILE)
    data_lines = [line for line in stream.raw if line.startswith("data:") and "alert(1)" in line]
    assert len(data_lines) == 1
    assert '\\"stop\\"' in data_lines[0]  # the quote is escaped by the JSON encoder
    assert frame_item["source_name"] == 'Desk <b>"EN"</b> & co'

    status, headers, body = await live.get("/api/items")
    assert status == 200
    assert headers["Content-Type"].startswith("application/json")
    assert headers["X-Content-Type-Options"] == "nosniff"  # never sniffed as HTML
    assert '\\"stop\\"' in body
    item = json.loads(body)["items"][0]
    assert item["text"] == HOSTILE
    assert item["source_name"] == 'Desk <b>"EN"</b> & co'
    assert item["tags"] == ["<i>"]

    # The page itself never carries item text; the timeline's SVG escapes the source name.
    _, _, html = await live.get("/")
    assert "alert" not in html
    status, _, svg = await live.get("/timeline.svg")
    root = ElementTree.fromstring(svg)  # well-formed: the name did not break out
    assert "<b>" not in svg
    labels = [t.text or "" for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert 'Desk <b>"EN"</b> & co' in labels


# -- /api/sources ----------------------------------------------------------------------------


async def test_api_sources_show_each_sources_health_last_poll_and_last_error(
    page_server: PageServer, start_live: Callable[..., Awaitable[Live]]
) -> None:
    page_server.set("/en", en_page(BASE))
    page_server.set("/down", "down for maintenance", status=500)
    live = await start_live(
        source_toml("en", page_server.url("/en"), tags=("mena",))
        + source_toml("down", page_server.url("/down"), tags=("sport",)),
        service="failing_after = 2\n",
    )

    async def failing() -> bool:
        return (await live.sources())["down"]["state"] == "failing"

    await live.until(failing, "/down to be failing")
    status, headers, body = await live.get("/api/sources")
    assert status == 200
    assert headers["Content-Type"].startswith("application/json")
    answer = json.loads(body)
    assert answer["tags"] == ["mena", "sport"]
    found = {s["id"]: s for s in answer["sources"]}
    en, down = found["en"], found["down"]
    assert en["name"] == "Source EN"
    assert en["state"] == "ok"
    assert en["tags"] == ["mena"]
    assert en["last_error"] is None
    assert en["last_poll"].endswith("Z")
    assert en["last_success"].endswith("Z")
    assert down["state"] == "failing"
    assert down["last_success"] is None
    assert down["last_poll"].endswith("Z")
    assert "500" in down["last_error"]

    page_server.set("/down", en_page(OTHER_BASE))

    async def recovered() -> bool:
        down = (await live.sources())["down"]
        return down["state"] == "ok" and down["last_error"] is None

    await live.until(recovered, "/down to recover")


# -- /timeline.svg ---------------------------------------------------------------------------


async def test_timeline_is_svg_with_a_bar_for_this_hours_items(
    page_server: PageServer, start_live: Callable[..., Awaitable[Live]]
) -> None:
    page_server.set("/en", en_page(BASE))
    live = await start_live(source_toml("en", page_server.url("/en")))
    status, _, svg = await live.get("/timeline.svg")
    assert status == 200
    root = ElementTree.fromstring(svg)
    bars = [r for r in root.iter("{http://www.w3.org/2000/svg}rect") if r.find("*") is not None]
    assert bars == []  # baselines are not news: no bars yet

    page_server.set("/en", en_page([NEW[1], NEW[0], *BASE]))
    await live.recorded(NEW[1])
    await live.recorded(NEW[0])
    hour = datetime.now(UTC).strftime("%H")
    status, headers, svg = await live.get("/timeline.svg")
    assert status == 200
    assert headers["Content-Type"].startswith("image/svg+xml")
    assert headers["X-Content-Type-Options"] == "nosniff"
    root = ElementTree.fromstring(svg)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    titles = [
        (r.findtext("{http://www.w3.org/2000/svg}title") or "")
        for r in root.iter("{http://www.w3.org/2000/svg}rect")
    ]
    assert f"Source EN: 2 at {hour}:00 UTC" in titles, titles
    bar = next(
        r
        for r in root.iter("{http://www.w3.org/2000/svg}rect")
        if r.findtext("{http://www.w3.org/2000/svg}title", "").startswith("Source EN: 2")
    )
    assert float(bar.get("height", "0")) > 0


# -- secrets ---------------------------------------------------------------------------------


SECRET = "Zq7Hook5ecretTok3n-4f9a1c"


async def test_no_response_carries_a_channel_secret(
    page_server: PageServer, start_live: Callable[..., Awaitable[Live]]
) -> None:
    page_server.set("/en", en_page(BASE))
    page_server.set("/down", "down", status=503)
    live = await start_live(
        source_toml("en", page_server.url("/en")) + source_toml("down", page_server.url("/down")),
        channels='\n[[channels]]\nid = "desk"\nurls = ["json://127.0.0.1:1/${HOOK_SECRET}"]\n',
        service='health_channels = ["desk"]\nfailing_after = 1\n',
        env={"HOOK_SECRET": SECRET},
    )
    async with events(live) as stream:
        page_server.set("/en", en_page([NEW[0], *BASE]))
        await stream.item(NEW[0])

        # The delivery to the channel fails (nothing listens on port 1): errors exist now.
        async def delivery_failed() -> bool:
            return any(e.get("outcome") == "failed" for e in live.tp.events("delivery"))

        await live.until(delivery_failed, "a failed delivery attempt")
        await asyncio.sleep(1.2)  # one more poll: source frames after the failure
    paths = [
        "/",
        "/static/app.js",
        "/static/app.css",
        "/api/items",
        "/api/items?baseline=1&limit=200",
        "/api/items?q=(",
        "/api/sources",
        "/timeline.svg",
        "/healthz",
        "/metrics",
        "/items.json",
        "/feed.atom",
        "/favicon.ico",
        "/no/such/page",
        "/events?q=" + "x" * 201,
    ]
    for path in paths:
        await live.get(path)
    assert len(live.seen) >= len(paths) + 1
    for body in live.seen:
        assert SECRET not in body
        assert "Zq7Hook" not in body


# -- bounds ----------------------------------------------------------------------------------


async def test_sse_clients_beyond_the_bound_of_32_get_503_and_a_freed_slot_is_reused(
    page_server: PageServer, start_live: Callable[..., Awaitable[Live]]
) -> None:
    page_server.set("/en", en_page(BASE))
    live = await start_live(source_toml("en", page_server.url("/en")))
    url = live.base + "/events"
    async with contextlib.AsyncExitStack() as stack:
        streams = [await stack.enter_async_context(events(live)) for _ in range(32)]
        async with live.http.get(url, timeout=SSE_TIMEOUT) as resp:
            assert resp.status == 503
            assert resp.headers["Retry-After"] == "30"
        # One leaves; its slot is free once the server notices (at the next frame, ~1 s).
        streams[0].resp.close()

        async def admitted() -> bool:
            async with live.http.get(url, timeout=SSE_TIMEOUT) as resp:
                return resp.status == 200

        await live.until(admitted, "a freed slot", within=5)


async def test_sse_bound_holds_when_many_clients_connect_at_once(
    page_server: PageServer, start_live: Callable[..., Awaitable[Live]]
) -> None:
    page_server.set("/en", en_page(BASE))
    live = await start_live(source_toml("en", page_server.url("/en")))
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector, timeout=SSE_TIMEOUT) as session:
        responses = await asyncio.gather(*(session.get(live.base + "/events") for _ in range(40)))
        try:
            statuses = sorted(r.status for r in responses)
        finally:
            for r in responses:
                r.close()
    assert statuses.count(200) == 32, statuses
    assert statuses.count(503) == 8, statuses


def never_reading_client(port: int) -> socket.socket:
    """A client that asks for /events and then never reads: a tiny receive window."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", port))
    s.sendall(b"GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n")
    return s


def connection_ends(s: socket.socket, seconds: float) -> bool:
    """Read ``s`` until the server closes or resets it, for at most ``seconds``."""
    s.settimeout(0.5)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if not s.recv(65536):
                return True
        except TimeoutError:
            continue
        except ConnectionResetError:
            return True
    return False


async def test_a_client_that_never_reads_slows_neither_polling_nor_other_clients(
    page_server: PageServer, start_live: Callable[..., Awaitable[Live]]
) -> None:
    # Rounds of news, one source at a time, far more than the slow client's socket buffers and
    # its queue hold: 10 x 197 frames of about 4 kB. Each page keeps its lines, so no line leaves
    # and none is compared as a possible edit.
    sids = [f"s{n}" for n in range(10)]
    for sid in sids:
        page_server.set(f"/{sid}", en_page(BASE))
    live = await start_live("".join(source_toml(sid, page_server.url(f"/{sid}")) for sid in sids))
    slow = await asyncio.to_thread(never_reading_client, live.port)
    try:
        async with events(live) as reader:
            for sid in sids:
                lines = [f"{sid} line {n}: " + "🔴" * 960 + f" end {sid}.{n}" for n in range(197)]
                added = time.monotonic()
                page_server.set(f"/{sid}", en_page([*lines, *BASE]))
                got: set[str] = set()
                while not set(lines) <= got:
                    item = await reader.next_item(5)
                    assert item is not None, f"{sid}: {len(got)} of {len(lines)} reached the reader"
                    got.add(item["text"])
                took = time.monotonic() - added
                assert took < 3, f"{sid}'s news reached the reading client after {took:.1f}s"
            # The slow client was let go; the reader stays, and polling goes on at its pace.
            assert len(live.tp.events("sse_client_dropped")) == 1, "the slow client was kept"
            # ... and its connection closed, not held open by a writer stuck on its socket.
            assert await asyncio.to_thread(connection_ends, slow, 2), "dropped but still open"
            page_server.set("/s0", en_page([NEW[0], *BASE]))
            await reader.item(NEW[0], within=3)
    finally:
        slow.close()
