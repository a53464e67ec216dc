"""One hostile item among good ones, served to ``ticker run`` by a real local page server.

An item nested thousands of elements deep, a lone surrogate escape in a JSON source, characters
XML forbids, a link no URL parser accepts: the other lines of the page are still recorded and
alerted, stored text is valid UTF-8 and valid XML, and whatever still raises in a poll is a
failed poll (counted, backed off, in ``/healthz``, alerted), never a silent one.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import sqlite3
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import feedparser
import pytest
from aiohttp import web
from conftest import PageServer, en_page, write_config
from sinks import WebhookSink, free_port
from test_service import (
    BASE,
    NEW,
    TickerProcess,
    baseline,
    channel_toml,
    service_toml,
    source_toml,
    titles,
)
from test_web import listen_toml, started

DEEP_LINE = "Deep item: sirens heard across the north"


def json_source_toml(sid: str, url: str, items: str = "jmespath:items[*].t") -> str:
    return (
        f'\n[[sources]]\nid = "{sid}"\nname = "Source {sid.upper()}"\nurl = "{url}"\n'
        f'interval = "1s"\nitems = "{items}"\n'
    )


def json_body(texts: list[str]) -> str:
    """A JSON feed of ``texts``; each written as given, escapes included (``\\ud800``)."""
    return '{"items": [' + ", ".join(f'{{"t": "{t}"}}' for t in texts) + "]}"


def stored_texts(state: Path) -> list[str]:
    """The text of every item in the state file, read as SQLite gives it (UTF-8 decoded)."""
    with sqlite3.connect(f"file:{state}?mode=ro", uri=True) as db:
        return [row[0] for row in db.execute("SELECT text FROM items ORDER BY id")]


def crashes(tp: TickerProcess) -> list[dict[str, object]]:
    return tp.events("poll_crashed")


# -- (a) an item nested deep ---------------------------------------------------------------------


@pytest.mark.parametrize("depth", [1_000, 10_000])
async def test_an_item_nested_deep_does_not_stop_the_new_line_beside_it(
    depth: int,
    page_server: PageServer,
    tmp_path: Path,
    ticker_run: Callable[..., TickerProcess],
    sink: WebhookSink,
) -> None:
    """Before: the text walk recursed, RecursionError on every poll, no line of the source
    alerted and nothing but a log line to say so."""
    page_server.set("/en", en_page(BASE))
    cfg = write_config(
        tmp_path,
        service_toml()
        + source_toml("en", page_server.url("/en"))
        + channel_toml("desk", sink.url("/desk")),
    )
    tp = ticker_run(cfg)
    await baseline(tp)
    deep = "<span>" * depth + DEEP_LINE + "</span>" * depth
    # The new line comes first: libxml2 keeps 2,048 levels and drops what follows them.
    page_server.set("/en", en_page([NEW[0], deep, *BASE]))
    await tp.until(
        lambda: any(NEW[0] in h.message for h in sink.delivered()), "the new line at the sink"
    )
    polls = len(tp.polls("en"))
    await tp.until(lambda: len(tp.polls("en")) >= polls + 2, "two more polls")
    assert await tp.stop() < 10
    assert tp.proc.returncode == 0

    assert crashes(tp) == []
    assert tp.events("items_skipped") == []  # read, not passed over
    assert all(p["status"] != "error" for p in tp.polls("en")), tp.polls("en")
    messages = [h.message for h in sink.delivered()]
    if depth < 2_048:  # within what libxml2 builds: the deep item is read whole, and alerted
        assert any(DEEP_LINE in m for m in messages), messages
    else:  # beyond it the parser dropped the rest of the page: said so
        assert tp.events("page_truncated")
    assert sum(NEW[0] in m for m in messages) == 1


async def test_an_item_with_a_link_no_parser_accepts_keeps_its_line_and_the_others(
    page_server: PageServer,
    tmp_path: Path,
    ticker_run: Callable[..., TickerProcess],
) -> None:
    """Before: urljoin raised ValueError ("Invalid IPv6 URL") and the whole poll with it."""
    linked = [f'<a href="/news/{n}">{t}</a>' for n, t in enumerate(BASE)]
    page_server.set("/en", en_page(linked))
    extra = 'link = "css:a::attr(href)"\n'
    cfg = write_config(tmp_path, service_toml() + source_toml("en", page_server.url("/en"), extra))
    tp = ticker_run(cfg)
    await baseline(tp)
    page_server.set(
        "/en",
        en_page(['<a href="http://[broken/x">' + NEW[1] + "</a>", f'<a href="/n">{NEW[0]}</a>']),
    )
    await tp.until(lambda: {NEW[0], NEW[1]} <= set(tp.texts()), "both new lines")
    assert await tp.stop() < 10
    items = {i["text"]: i for i in tp.items()}
    assert items[NEW[0]]["link"] == page_server.url("/n")
    assert items[NEW[1]].get("link") is None  # the line, without the link that is no URL
    assert crashes(tp) == []


# -- (b) a lone surrogate in a JSON source -------------------------------------------------------


async def test_a_lone_surrogate_in_a_json_source_does_not_stop_the_item_beside_it(
    page_server: PageServer,
    tmp_path: Path,
    ticker_run: Callable[..., TickerProcess],
) -> None:
    """Before: the line could not be encoded as UTF-8 for SQLite (UnicodeEncodeError) on every
    poll, and the normal item beside it was never recorded."""
    base = ["Calm line one", "Calm line two"]
    page_server.set("/j", json_body(base), content_type="application/json")
    cfg = write_config(tmp_path, service_toml() + json_source_toml("j", page_server.url("/j")))
    tp = ticker_run(cfg)
    await baseline(tp, "j")
    page_server.set(
        "/j",
        json_body(["Lone \\ud800 surrogate \\udfff line", "A normal new line", *base]),
        content_type="application/json",
    )
    await tp.until(lambda: "A normal new line" in tp.texts(), "the normal new item")
    polls = len(tp.polls("j"))
    await tp.until(lambda: len(tp.polls("j")) >= polls + 1, "one more poll")
    assert await tp.stop() < 10
    assert tp.proc.returncode == 0

    assert crashes(tp) == []
    assert sorted(tp.texts()) == ["A normal new line", "Lone surrogate line"]
    stored = stored_texts(tmp_path / "state.db")
    assert "Lone surrogate line" in stored
    assert all(not 0xD800 <= ord(c) <= 0xDFFF for t in stored for c in t)


# -- (c) what XML forbids ------------------------------------------------------------------------

ARABIC = "عاجل: صفارات الإنذار تدوي في الشمال 🚨"


async def test_characters_xml_forbids_never_reach_the_state_nor_the_atom_feed(
    page_server: PageServer,
    tmp_path: Path,
    ticker_run: Callable[..., TickerProcess],
    http: aiohttp.ClientSession,
) -> None:
    """Before: a line holding U+FFFE was stored as is and /feed.atom no XML parser accepted
    ("PCDATA invalid Char value 65534") while it was among the newest items."""
    page_server.set("/en", en_page(BASE))
    page_server.set("/j", json_body(["Calm line"]), content_type="application/json")
    port = free_port()
    cfg = write_config(
        tmp_path,
        listen_toml(port)
        + source_toml("en", page_server.url("/en"))
        + json_source_toml("j", page_server.url("/j")),
    )
    tp, endpoint = await started(ticker_run, http, cfg, port)
    await baseline(tp, "en")
    await baseline(tp, "j")
    # HTML: U+FFFE as its UTF-8 bytes and U+FFFF as a character reference; JSON: escapes.
    page_server.set("/en", en_page(["Sirens \ufffe in Metula &#xFFFF; now", ARABIC, *BASE]))
    page_server.set(
        "/j",
        json_body(
            [
                "Ctrl \\u0001 and \\ufffe and \\uffff and \\ud83d\\udea8 here",
                "Plane 1 \U0001fffe noncharacter",
                "Calm line",
            ]
        ),
        content_type="application/json",
    )
    expected = {
        "Sirens in Metula now",
        ARABIC,
        "Ctrl and and and 🚨 here",
        "Plane 1 noncharacter",
    }
    await tp.until(lambda: len(tp.texts()) >= 4, "the four new lines")

    status, _, text = await endpoint.get("/feed.atom")
    assert status == 200
    root = ET.fromstring(text.encode("utf-8"))  # strict XML 1.0: raises on U+FFFE
    assert set(tp.texts()) == expected
    ns = {"a": "http://www.w3.org/2005/Atom"}
    feed_titles = {e.findtext("a:title", namespaces=ns) for e in root.findall("a:entry", ns)}
    assert expected <= feed_titles
    feed = feedparser.parse(text)
    assert not feed.bozo, feed.get("bozo_exception")
    assert await tp.stop() < 10
    assert tp.proc.returncode == 0

    forbidden = {0x01, 0xFFFE, 0xFFFF, 0x1FFFE}
    stored = stored_texts(tmp_path / "state.db")
    assert expected <= set(stored)
    assert not [t for t in stored if forbidden & {ord(c) for c in t}]
    assert crashes(tp) == []


# -- (d) what still raises is a failed poll ------------------------------------------------------


@dataclass
class TimedJson:
    """A JSON page that records when each request came, and whether its body was good."""

    body: str
    good: bool = True
    times: list[tuple[float, bool]] = field(default_factory=list)

    async def __call__(self, request: web.Request) -> web.Response:
        self.times.append((time.monotonic(), self.good))
        return web.Response(text=self.body, content_type="application/json")


def dated(items: list[tuple[str, object]]) -> str:
    return json.dumps({"items": [{"t": t, "at": at} for t, at in items]})


async def test_an_unexpected_exception_in_a_poll_is_a_failed_poll(
    page_server: PageServer,
    tmp_path: Path,
    ticker_run: Callable[..., TickerProcess],
    http: aiohttp.ClientSession,
    sink: WebhookSink,
) -> None:
    """A JSON feed whose dates turn to strings makes ``sort_by`` raise JMESPathTypeError, which
    nothing in a poll expects. Before: logged as ``poll_crashed`` only, /healthz said ok with 0
    failures, no backoff and no alert."""
    good = dated([("Second calm line", 2), ("First calm line", 1)])
    page = TimedJson(good)
    page_server.handlers["/j"] = page
    port = free_port()
    items = "jmespath:reverse(sort_by(items, &at))[*].t"
    cfg = write_config(
        tmp_path,
        listen_toml(port, 'failing_after = 2\nhealth_channels = ["ops"]\n')
        + json_source_toml("j", page_server.url("/j"), items)
        + channel_toml("ops", sink.url("/ops")),
    )
    tp, endpoint = await started(ticker_run, http, cfg, port)
    await baseline(tp, "j")
    page.body, page.good = dated([("Hostile line", "secret-looking page text"), ("Fine", 3)]), False
    await tp.until(lambda: titles(sink, "is failing"), "the failing alert", within=15)
    await tp.until(lambda: sum(not ok for _, ok in page.times) >= 3, "a third failed poll")

    status, body = await endpoint.json("/healthz")
    [source] = body["sources"]
    assert source["state"] == "failing", body
    assert source["consecutive_failures"] >= 2
    assert "JMESPathTypeError" in source["last_error"]
    assert "secret-looking" not in source["last_error"]  # the type, not the message
    [failing] = [h for h in sink.delivered() if "is failing" in h.title]
    assert "JMESPathTypeError" in failing.message
    assert "secret-looking" not in failing.message
    # Backoff: 1 s, then 2 s, then 4 s between failed polls, not the 1 s interval.
    failed = [t for t, ok in page.times if not ok]
    gaps = [b - a for a, b in itertools.pairwise(failed)]
    assert gaps[1] > 1.6, gaps

    # Counted in the state as well (written within a second), as any failed poll is.
    await tp.until(lambda: state_failures(tmp_path / "state.db") >= 2, "the failures stored")

    page.body, page.good = dated([("A new line after the fix", 9), ("Fine", 3)]), True
    await tp.until(lambda: titles(sink, "is OK again"), "the recovery alert", within=15)
    await asyncio.sleep(0.2)
    status, body = await endpoint.json("/healthz")
    assert status == 200
    assert body["sources"][0]["consecutive_failures"] == 0
    assert await tp.stop() < 10
    assert tp.proc.returncode == 0

    [crash, *_] = crashes(tp)
    assert crash["source"] == "j"
    assert "JMESPathTypeError" in str(crash.get("exception", "")), crash  # the traceback
    errors = [p for p in tp.polls("j") if p["status"] == "error"]
    assert errors
    assert all(p["error_kind"] == "crash" for p in errors)
    assert state_failures(tmp_path / "state.db") == 0  # recovered


def state_failures(state: Path) -> int:
    with sqlite3.connect(f"file:{state}?mode=ro", uri=True) as db:
        row = db.execute("SELECT consecutive_failures FROM sources WHERE id = 'j'").fetchone()
    return 0 if row is None else int(row[0])
