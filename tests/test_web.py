"""The HTTP endpoint of ``ticker run`` (``[service] listen``), queried as a client would.

The service runs as a subprocess against the local page server (see test_service); the tests
read /healthz, /metrics, /items.json and /feed.atom with a real HTTP client and parse the answers
with the parsers their consumers use: json, prometheus-client's and feedparser.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import feedparser
from conftest import PageServer, en_page, write_config
from prometheus_client.parser import text_string_to_metric_families
from sinks import WebhookSink, free_port
from test_service import (
    BASE,
    NEW,
    TickerProcess,
    baseline,
    broken_layout,
    channel_toml,
    counted,
    service_toml,
    source_toml,
)

from ticker.config import Config, SourceConfig, parse_config
from ticker.health import SourceHealth
from ticker.model import ItemKind, NewItem, Recorded
from ticker.web import start_web


class Endpoint:
    """The service's HTTP endpoint at ``127.0.0.1:port``."""

    def __init__(self, session: aiohttp.ClientSession, port: int) -> None:
        self.session = session
        self.base = f"http://127.0.0.1:{port}"

    async def get(self, path: str, **params: Any) -> tuple[int, str, str]:
        """(status, content type, body) of GET path."""
        async with self.session.get(self.base + path, params=params or None) as resp:
            return resp.status, resp.headers.get("Content-Type", ""), await resp.text()

    async def json(self, path: str, **params: Any) -> tuple[int, Any]:
        async with self.session.get(self.base + path, params=params or None) as resp:
            return resp.status, await resp.json()

    async def up(self, within: float = 10.0) -> None:
        deadline = time.monotonic() + within
        while True:
            try:
                await self.get("/healthz")
                return
            except aiohttp.ClientConnectionError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.05)


def listen_toml(port: int, extra: str = "") -> str:
    return service_toml(f'listen = "127.0.0.1:{port}"\n{extra}')


async def started(
    ticker_run: Callable[..., TickerProcess],
    http: aiohttp.ClientSession,
    cfg: Path,
    port: int,
) -> tuple[TickerProcess, Endpoint]:
    tp = ticker_run(cfg)
    endpoint = Endpoint(http, port)
    await endpoint.up()
    return tp, endpoint


# -- /healthz --------------------------------------------------------------------------------


async def test_healthz_lists_each_sources_state_last_success_and_last_error(
    page_server: PageServer,
    tmp_path: Path,
    ticker_run: Callable[..., TickerProcess],
    http: aiohttp.ClientSession,
) -> None:
    page_server.set("/en", en_page(BASE))
    page_server.set("/down", "down for maintenance", status=500)
    port = free_port()
    cfg = write_config(
        tmp_path,
        listen_toml(port, "failing_after = 2\n")
        + source_toml("en", page_server.url("/en"))
        + source_toml("down", page_server.url("/down")),
    )
    tp, endpoint = await started(ticker_run, http, cfg, port)
    await baseline(tp, "en")
    await tp.until(lambda: len(tp.polls("down")) >= 2, "two failed polls of /down")
    await asyncio.sleep(0.2)

    status, body = await endpoint.json("/healthz")
    assert status == 200, body  # failing is not broken: the service itself is healthy
    assert body["status"] == "ok"
    assert body["scheduler_stalled"] is False
    sources = {s["id"]: s for s in body["sources"]}
    assert set(sources) == {"en", "down"}
    en, down = sources["en"], sources["down"]
    assert en["state"] == "ok"
    assert en["name"] == "Source EN"
    assert en["last_success"].endswith("Z")
    assert en["last_error"] is None
    assert down["state"] == "failing"
    assert down["last_success"] is None
    assert "500" in down["last_error"]
    assert down["consecutive_failures"] >= 2
    assert await tp.stop() < 10
    assert tp.proc.returncode == 0


async def test_healthz_is_503_while_a_source_is_broken_and_200_once_it_recovers(
    page_server: PageServer,
    tmp_path: Path,
    ticker_run: Callable[..., TickerProcess],
    http: aiohttp.ClientSession,
) -> None:
    page_server.set("/en", en_page(BASE))
    port = free_port()
    cfg = write_config(
        tmp_path,
        listen_toml(port) + source_toml("en", page_server.url("/en"), 'canary = "css:.ticker"\n'),
    )
    tp, endpoint = await started(ticker_run, http, cfg, port)
    await baseline(tp)
    assert (await endpoint.json("/healthz"))[0] == 200

    page_server.handlers["/en"] = counted(broken_layout(BASE))
    deadline = time.monotonic() + 10
    while (result := await endpoint.json("/healthz"))[0] != 503:
        assert time.monotonic() < deadline, f"no 503 while broken: {result}"
        await asyncio.sleep(0.1)
    _, body = result
    assert body["status"] == "unhealthy"
    assert [s["state"] for s in body["sources"]] == ["broken"]

    del page_server.handlers["/en"]
    deadline = time.monotonic() + 10
    while (result := await endpoint.json("/healthz"))[0] != 200:
        assert time.monotonic() < deadline, f"still unhealthy after the canary returned: {result}"
        await asyncio.sleep(0.1)
    assert [s["state"] for s in result[1]["sources"]] == ["ok"]
    assert await tp.stop() < 10


# -- /metrics --------------------------------------------------------------------------------


def samples(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """Prometheus text, parsed by prometheus-client: sample name -> [(labels, value)]."""
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out.setdefault(sample.name, []).append((dict(sample.labels), sample.value))
    return out


def value(found: dict[str, list[tuple[dict[str, str], float]]], name: str, **labels: str) -> float:
    matching = [v for lab, v in found.get(name, []) if labels.items() <= lab.items()]
    assert matching, f"no sample {name}{labels} in {sorted(found)}"
    return sum(matching)


async def test_metrics_parse_and_count_polls_items_outbox_and_delivery_latency(
    page_server: PageServer,
    tmp_path: Path,
    ticker_run: Callable[..., TickerProcess],
    http: aiohttp.ClientSession,
) -> None:
    page_server.set("/en", en_page(BASE))
    port = free_port()
    async with WebhookSink() as sink:
        cfg = write_config(
            tmp_path,
            listen_toml(port)
            + source_toml("en", page_server.url("/en"))
            + channel_toml("desk", sink.url("/desk")),
        )
        tp, endpoint = await started(ticker_run, http, cfg, port)
        await baseline(tp)
        page_server.set("/en", en_page([NEW[0], *BASE]))
        await tp.until(lambda: sink.delivered(), "the delivery of the new item")
        await asyncio.sleep(0.3)
        status, content_type, text = await endpoint.get("/metrics")
        assert await tp.stop() < 10

    assert status == 200
    assert content_type.startswith("text/plain")
    found = samples(text)
    assert value(found, "ticker_polls_total", source="en", outcome="ok") >= 2
    assert value(found, "ticker_poll_duration_seconds_count", source="en") >= 2
    assert value(found, "ticker_poll_duration_seconds_bucket", source="en", le="+Inf") >= 2
    assert value(found, "ticker_items_new_total", source="en") == 1
    assert value(found, "ticker_outbox_pending") == 0
    assert value(found, "ticker_delivery_latency_seconds_count", channel="desk") == 1
    latency = value(found, "ticker_delivery_latency_seconds_sum", channel="desk")
    assert 0 <= latency < 5
    assert value(found, "ticker_deliveries_total", channel="desk", outcome="sent") == 1


# -- /items.json -----------------------------------------------------------------------------


async def test_items_json_returns_items_newest_first_filtered_by_limit_source_and_since(
    page_server: PageServer,
    tmp_path: Path,
    ticker_run: Callable[..., TickerProcess],
    http: aiohttp.ClientSession,
) -> None:
    b_base = "B one: the first line of the second page"
    page_server.set("/a", en_page(BASE))
    page_server.set("/b", en_page([b_base]))
    port = free_port()
    cfg = write_config(
        tmp_path,
        listen_toml(port)
        + source_toml("a", page_server.url("/a"))
        + source_toml("b", page_server.url("/b")),
    )
    tp, endpoint = await started(ticker_run, http, cfg, port)
    await baseline(tp, "a")
    await baseline(tp, "b")
    pages = {"a": list(BASE), "b": [b_base]}
    for text, sid in ((NEW[0], "a"), (NEW[1], "b"), (NEW[2], "a")):
        if text == NEW[1]:
            await asyncio.sleep(1.1)  # "since" is to the second: NEW[0] in an earlier one
        pages[sid].insert(0, text)
        page_server.set(f"/{sid}", en_page(pages[sid]))
        await tp.until(lambda t=text: t in tp.texts(), f"{text!r}")  # type: ignore[misc]

    status, body = await endpoint.json("/items.json")
    assert status == 200
    items = body["items"]
    assert [i["text"] for i in items[:3]] == [NEW[2], NEW[1], NEW[0]]
    assert sorted(i["text"] for i in items[3:]) == sorted([*BASE, b_base])
    times = [i["first_seen"] for i in items]
    assert times == sorted(times, reverse=True)
    newest = items[0]
    assert newest["source"] == "a"
    assert newest["source_name"] == "Source A"
    assert newest["kind"] == "new"
    assert newest["first_seen"].endswith("Z")

    _, body = await endpoint.json("/items.json", limit="2")
    assert [i["text"] for i in body["items"]] == [NEW[2], NEW[1]]

    _, body = await endpoint.json("/items.json", source="a")
    texts = [i["text"] for i in body["items"]]
    assert texts[:2] == [NEW[2], NEW[0]]
    assert sorted(texts[2:]) == sorted(BASE)
    assert {i["source"] for i in body["items"]} == {"a"}

    _, body = await endpoint.json("/items.json", source="b", limit="1")
    assert [i["text"] for i in body["items"]] == [NEW[1]]

    since = next(i["first_seen"] for i in items if i["text"] == NEW[1])
    _, body = await endpoint.json("/items.json", since=since)
    assert [i["text"] for i in body["items"]] == [NEW[2], NEW[1]]

    _, body = await endpoint.json("/items.json", since="1h")
    assert len(body["items"]) == len(items)

    assert (await endpoint.get("/items.json", since="yesterday-ish"))[0] == 400
    assert (await endpoint.get("/items.json", limit="many"))[0] == 400
    assert await tp.stop() < 10


# -- /feed.atom ------------------------------------------------------------------------------


async def test_feed_atom_parses_newest_first_with_ids_stable_across_a_restart(
    page_server: PageServer,
    tmp_path: Path,
    ticker_run: Callable[..., TickerProcess],
    http: aiohttp.ClientSession,
) -> None:
    hostile = 'Sirens <b>sound</b> & "alerts" in <script>x</script> the north'
    page_server.set("/en", en_page(BASE))
    port = free_port()
    cfg = write_config(tmp_path, listen_toml(port) + source_toml("en", page_server.url("/en")))
    tp, endpoint = await started(ticker_run, http, cfg, port)
    await baseline(tp)
    page_server.set("/en", en_page([NEW[0], *BASE]))
    await tp.until(lambda: NEW[0] in tp.texts(), "the first new item")
    page_server.set(
        "/en", en_page([hostile.replace("&", "&amp;").replace("<", "&lt;"), NEW[0], *BASE])
    )
    await tp.until(lambda: len(tp.texts()) == 2, "the second new item")

    # baseline=1: the first poll's lines too (left out by default: see test_desk).
    status, content_type, text = await endpoint.get("/feed.atom", baseline="1")
    assert status == 200
    assert content_type.startswith("application/atom+xml")
    feed = feedparser.parse(text)
    assert not feed.bozo, feed.get("bozo_exception")
    assert feed.version == "atom10"
    assert feed.feed.id
    titles = [e.title for e in feed.entries]
    assert titles[:2] == [hostile, NEW[0]]  # newest first; page text is data, not markup
    assert sorted(titles[2:]) == sorted(BASE)
    assert feed.entries[0].content[0].value == hostile
    updated = [e.updated_parsed for e in feed.entries]
    assert updated == sorted(updated, reverse=True)
    ids = [e.id for e in feed.entries]
    assert len(set(ids)) == len(ids)
    assert all(i.startswith("urn:uuid:") for i in ids)
    assert await tp.stop() < 10
    assert tp.proc.returncode == 0

    # The same state file, a new process: the same feed id and the same entry ids.
    tp2, endpoint = await started(ticker_run, http, cfg, port)
    await tp2.until(lambda: tp2.polls("en"), "a poll after the restart")
    status, _, text2 = await endpoint.get("/feed.atom", baseline="1")
    again = feedparser.parse(text2)
    assert status == 200
    assert not again.bozo
    assert again.feed.id == feed.feed.id
    assert {e.title: e.id for e in again.entries} == {e.title: e.id for e in feed.entries}
    assert tp2.stdout == ""  # nothing is new after a restart
    assert await tp2.stop() < 10


# -- the status view -------------------------------------------------------------------------


@dataclass
class _Source:
    config: SourceConfig
    health: SourceHealth = field(default_factory=SourceHealth)


@dataclass
class _Polled:
    new: tuple[Recorded, ...]


@dataclass
class _View:
    """A StatusView of a service that is not running: the endpoint needs nothing more."""

    config: Config
    sources: dict[str, _Source]
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    metrics: None = None
    listeners: list[Callable[[str, Any], None]] = field(default_factory=list)

    def scheduler_stalled(self) -> bool:
        return False


async def test_the_endpoint_runs_on_a_status_view_and_stops_listening_when_stopped(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    config = parse_config(
        service_toml() + source_toml("en", "http://127.0.0.1:9/en", 'tags = ["world"]\n'),
        path=tmp_path / "ticker.toml",
        env={},
    )
    view = _View(config, {"en": _Source(config.sources[0])})
    port = free_port()
    server = await start_web(view, "127.0.0.1", port)
    try:
        assert len(view.listeners) == 1  # the live page's hub
        async with http.get(f"http://127.0.0.1:{port}/events") as stream:
            assert await stream.content.readline() == b"retry: 3000\n"
            assert await stream.content.readline() == b": connected\n"
            first_seen = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
            item = NewItem(key="k", text="Dam breaks", link=None, kind=ItemKind.NEW)
            view.listeners[0]("en", _Polled((Recorded(id=7, item=item, first_seen=first_seen),)))
            frames = []
            while len(frames) < 2:
                line = await stream.content.readline()
                if line.startswith(b"data: "):
                    frames.append(json.loads(line[6:]))
        assert frames[0] == {
            "id": 7,
            "source": "en",
            "source_name": "Source EN",
            "tags": ["world"],
            "text": "Dam breaks",
            "link": None,
            "kind": "new",
            "first_seen": "2024-05-01T12:00:00Z",
            "update_of": None,
            "story": None,  # stories off in this view
        }
        assert list(frames[1]) == [
            "id", "name", "tags", "state", "last_poll", "last_success", "last_error",
        ]  # fmt: skip
    finally:
        await server.cleanup()
    # A reload's new endpoint brings its own hub: the old one must not stay subscribed.
    assert view.listeners == []
