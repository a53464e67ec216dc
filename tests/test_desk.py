"""The desk and the researcher (issue 14): where `ticker check` says a line goes and why, the
Atom feed without the install-time baseline, and `history` showing the same fields in every format.

The CLI runs as a subprocess against a real local page server (and a real webhook sink for
deliveries); the feed is read from a running `ticker run` with a real HTTP client and feedparser.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import feedparser
import pytest
from conftest import PageServer, en_page, run_ticker, write_config
from hypothesis import given, settings
from hypothesis import strategies as st
from sinks import WebhookSink, free_port
from test_service import BASE, NEW, TickerProcess, baseline, service_toml, source_toml

from ticker.alerting.routing import AlertItem, channels_for, explain_routes, route_matches
from ticker.config import ChannelConfig, RouteConfig
from ticker.patterns import compile_linear

SOLDIERS_5 = BASE[2].replace("4 Israeli", "5 Israeli")  # an edit of BASE[2]: an update
SPORTS = "Gaza sports: the league resumes after a two-year pause"
WEATHER = "Weather: a storm is expected over the coast tonight"

ROUTES = """
[[channels]]
id = "desk"
urls = ["json://127.0.0.1:9/desk"]

[[channels]]
id = "sport"
urls = ["json://127.0.0.1:9/sport"]

[[routes]]
channels = ["desk"]
match = ["(?i)gaza", "(?i)lebanon"]
exclude = ["(?i)sports"]

[[routes]]
channels = ["sport"]
match = ["(?i)league"]

[[routes]]
channels = ["desk"]
sources = ["other"]
"""


async def ticker(*args: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(run_ticker, *args)


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


# -- check: where each line would go, and why -------------------------------------------------


def names(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def routing_of(stdout: str) -> dict[str, list[str]]:
    """The check table's lines: each item's text -> the routing lines printed under it."""
    out: dict[str, list[str]] = {}
    current = ""
    for line in stdout.splitlines()[2:]:
        if line.startswith(" "):
            out[current].append(line.strip())
        else:
            current = line.split(None, 1)[1]
            out[current] = []
    return out


async def test_check_shows_the_routes_and_channels_of_each_line_and_what_decided(
    page_server: PageServer, tmp_path: Path
) -> None:
    page_server.set("/en", en_page([SPORTS, WEATHER, BASE[0]]))
    other = source_toml("other", page_server.url("/other"))  # route 3 listens to it alone
    cfg = write_config(
        tmp_path, service_toml() + source_toml("en", page_server.url("/en")) + other + ROUTES
    )

    table = await ticker("check", "-c", str(cfg), "en")
    assert table.returncode == 0, table.stderr
    assert routing_of(table.stdout) == {
        BASE[0]: [
            "-> desk (routes[0]: match '(?i)gaza')",
            "x routes[1]: no match among ['(?i)league']",
            "x routes[2]: source 'en' is not among ['other']",
            "=> desk",
        ],
        SPORTS: [
            "x routes[0]: excluded by '(?i)sports'",
            "-> sport (routes[1]: match '(?i)league')",
            "x routes[2]: source 'en' is not among ['other']",
            "=> sport",
        ],
        WEATHER: [
            "x routes[0]: no match among ['(?i)gaza', '(?i)lebanon']",
            "x routes[1]: no match among ['(?i)league']",
            "x routes[2]: source 'en' is not among ['other']",
            "x no route reaches a channel: this line would not be alerted",
        ],
    }

    jsonl = await ticker("check", "-c", str(cfg), "--format", "jsonl", "en")
    assert jsonl.returncode == 0, jsonl.stderr
    lines = {i["text"]: i for i in json_lines(jsonl.stdout)}
    assert lines[SPORTS]["channels"] == ["sport"]
    assert lines[WEATHER]["channels"] == []
    assert lines[BASE[0]]["routes"][0] == {
        "route": 0,
        "reached": True,
        "channels": ["desk"],
        "why": "match '(?i)gaza'",
    }
    assert names(tmp_path) == ["ticker.toml"]  # a dry run still writes nothing


async def test_check_without_routes_sends_every_line_to_every_channel(
    page_server: PageServer, tmp_path: Path
) -> None:
    page_server.set("/en", en_page(BASE))
    channel = '\n[[channels]]\nid = "desk"\nurls = ["json://127.0.0.1:9/desk"]\n'
    cfg = write_config(
        tmp_path, service_toml() + source_toml("en", page_server.url("/en")) + channel
    )
    result = await ticker("check", "-c", str(cfg))
    assert result.returncode == 0, result.stderr
    assert routing_of(result.stdout) == {t: ["-> every channel (no routes)"] for t in BASE}
    jsonl = await ticker("check", "-c", str(cfg), "--format", "jsonl")
    assert [i["channels"] for i in json_lines(jsonl.stdout)] == [["desk"]] * 3


# The explanation check prints must be the decision routing makes: generated routes and lines.
WORDS = ("gaza", "Gaza", "sports", "league", "storm", "rafah", "عاجل")
PATTERNS = ("(?i)gaza", "sports", "league|storm", "^rafah", "عاجل", "x^")
CHANNELS = tuple(ChannelConfig(id=c, urls=("json://127.0.0.1/",)) for c in ("a", "b", "c"))
COMPILED = {p: compile_linear(p) for p in PATTERNS}

routes_st = st.builds(
    RouteConfig,
    channels=st.lists(st.sampled_from("abc"), min_size=1, max_size=3, unique=True).map(tuple),
    sources=st.lists(st.sampled_from(("en", "es")), max_size=2, unique=True).map(tuple),
    tags=st.lists(st.sampled_from(("mena", "latam")), max_size=2, unique=True).map(tuple),
    match=st.lists(st.sampled_from(PATTERNS), max_size=3, unique=True).map(
        lambda ps: tuple(COMPILED[p] for p in ps)
    ),
    exclude=st.lists(st.sampled_from(PATTERNS), max_size=2, unique=True).map(
        lambda ps: tuple(COMPILED[p] for p in ps)
    ),
)


def alert(text: str, source: str, tags: tuple[str, ...]) -> AlertItem:
    return AlertItem(
        item_id=1,
        source_id=source,
        source_name=source,
        text=text,
        link=None,
        first_seen=datetime(2026, 1, 1, tzinfo=UTC),
        tags=tags,
    )


@settings(max_examples=300, deadline=None)
@given(
    routes=st.lists(routes_st, max_size=4),
    words=st.lists(st.sampled_from(WORDS), max_size=5),
    source=st.sampled_from(("en", "es")),
    tags=st.lists(st.sampled_from(("mena", "latam")), unique=True).map(tuple),
)
def test_the_explanation_agrees_with_routing(
    routes: list[RouteConfig], words: list[str], source: str, tags: tuple[str, ...]
) -> None:
    item = alert(" ".join(words), source, tags)
    explained = explain_routes(item, routes, CHANNELS)
    assert list(explained.channels) == channels_for(item, routes, CHANNELS)
    assert [v.reached for v in explained.verdicts] == [route_matches(r, item) for r in routes]
    for verdict, route in zip(explained.verdicts, routes, strict=True):
        # The pattern named is one that really decided: it is the route's, and it matches.
        if verdict.why.startswith("excluded by "):
            named = verdict.why.removeprefix("excluded by ").strip("'")
            assert named in [p.pattern for p in route.exclude]
            assert COMPILED[named].search(item.text)
        if verdict.reached and route.match:
            named = verdict.why.rsplit("match ", 1)[1].strip("'")
            assert COMPILED[named].search(item.text)


# -- the Atom feed leaves the baseline out -------------------------------------------------------


async def test_feed_atom_leaves_out_baseline_lines_unless_asked(
    page_server: PageServer,
    tmp_path: Path,
    ticker_run: Callable[..., TickerProcess],
    http: aiohttp.ClientSession,
) -> None:
    page_server.set("/en", en_page(BASE))
    port = free_port()
    cfg = write_config(
        tmp_path,
        service_toml(f'listen = "127.0.0.1:{port}"\n') + source_toml("en", page_server.url("/en")),
    )
    tp = ticker_run(cfg)
    await baseline(tp)
    page_server.set("/en", en_page([NEW[0], *BASE]))
    await tp.until(lambda: NEW[0] in tp.texts(), "the new item")
    base_url = f"http://127.0.0.1:{port}"

    async def feed(**params: str) -> Any:
        async with http.get(f"{base_url}/feed.atom", params=params) as resp:
            assert resp.status == 200
            parsed = feedparser.parse(await resp.text())
        assert not parsed.bozo, parsed.get("bozo_exception")
        return parsed

    default = await feed()
    assert [e.title for e in default.entries] == [NEW[0]]
    everything = await feed(baseline="1")
    assert everything.entries[0].title == NEW[0]
    assert sorted(e.title for e in everything.entries[1:]) == sorted(BASE)
    # The same entry keeps its id whichever view it is in.
    assert everything.entries[0].id == default.entries[0].id

    # /items.json is the record for programs: it keeps every line, baseline included.
    async with http.get(f"{base_url}/items.json") as resp:
        items = (await resp.json())["items"]
    assert {i["text"]: i["kind"] for i in items} == {
        NEW[0]: "new",
        **dict.fromkeys(BASE, "baseline"),
    }
    assert await tp.stop() < 10


# -- history: the same fields in every format ---------------------------------------------------


async def test_history_table_shows_delivery_latency_and_the_replaced_line(
    page_server: PageServer, tmp_path: Path
) -> None:
    page_server.set("/en", en_page(BASE))
    with WebhookSink.in_thread() as sink:
        channel = f'\n[[channels]]\nid = "desk"\nurls = ["{sink.url()}"]\n'
        cfg = write_config(
            tmp_path, service_toml() + source_toml("en", page_server.url("/en")) + channel
        )
        assert (await ticker("once", "-c", str(cfg))).returncode == 0
        page_server.set("/en", en_page([NEW[0], BASE[0], BASE[1], SOLDIERS_5]))
        sent = await ticker("once", "-c", str(cfg))
        assert sent.returncode == 0, sent.stderr
        assert len(sink.delivered()) == 2

    table = await ticker("history", "-c", str(cfg), "--format", "table")
    assert table.returncode == 0, table.stderr
    header, *lines = table.stdout.splitlines()
    assert header.split() == ["first_seen", "source", "kind", "delivered_after_s", "text"]
    cells = {ln.split(None, 4)[4]: ln.split(None, 4) for ln in lines if not ln.startswith(" ")}
    assert cells[BASE[0]][3] == "-"  # a baseline line is never delivered
    for text in (NEW[0], SOLDIERS_5):
        assert 0.0 <= float(cells[text][3]) < 60
    assert cells[SOLDIERS_5][2] == "update"
    # The replaced line follows its update, under the text column.
    update_at = lines.index(next(ln for ln in lines if ln.endswith(SOLDIERS_5)))
    assert lines[update_at + 1].strip() == f"(was: {BASE[2]})"
    assert lines[update_at + 1].index("(") == lines[update_at].index(SOLDIERS_5)

    # csv and jsonl carry the same fields and the same values.
    csv_out = await ticker("history", "-c", str(cfg), "--format", "csv")
    rows = {r["text"]: r for r in csv.DictReader(io.StringIO(csv_out.stdout))}
    jsonl = {
        i["text"]: i
        for i in json_lines((await ticker("history", "-c", str(cfg), "--format", "jsonl")).stdout)
    }
    assert set(rows) == set(jsonl) == {*BASE, NEW[0], SOLDIERS_5}
    for text, row in rows.items():
        assert set(row) == set(jsonl[text])
        for key, value in row.items():
            expected = jsonl[text][key]
            if key == "delivered_after_s" and expected is not None:
                assert float(value) == expected
                assert value == cells[text][3]
            elif key == "story" and expected is not None:
                assert value == str(expected)  # a number in JSON
            else:
                assert value == ("" if expected is None else expected), key
    assert rows[SOLDIERS_5]["update_of"] == BASE[2]
    assert jsonl[BASE[0]]["update_of"] is None
    assert jsonl[BASE[0]]["delivered_after_s"] is None


NO_CHANNEL = "x no route reaches a channel: this line would not be alerted"


@pytest.mark.parametrize(
    ("route", "lines"),
    [
        (
            RouteConfig(channels=("a",), tags=("latam",)),
            ["x routes[0]: source 'en' has none of the tags ['latam']", NO_CHANNEL],
        ),
        (
            RouteConfig(
                channels=("a", "b"),
                sources=("en",),
                tags=("latam", "mena"),
                match=(COMPILED["sports"], COMPILED["(?i)gaza"]),
            ),
            ["-> a, b (routes[0]: source 'en', tag 'mena', match '(?i)gaza')"],
        ),
        (RouteConfig(channels=("c",)), ["-> c (routes[0]: every line)"]),
        (
            RouteConfig(channels=("c",), exclude=(COMPILED["sports"], COMPILED["league|storm"])),
            ["x routes[0]: excluded by 'league|storm'", NO_CHANNEL],
        ),
    ],
)
def test_each_verdict_names_what_decided(route: RouteConfig, lines: list[str]) -> None:
    item = alert("Gaza: a storm over the coast", "en", ("mena",))
    assert explain_routes(item, [route], CHANNELS).lines() == lines
