"""Drill (issue 12, findings 1 and 2): what anyone who can reach the endpoint may make it do.

1. One request freezes nothing: ``GET /api/items?q=([\\w\\s]|[\\w\\s])*@`` and an ``/events``
   stream with the same ``q`` (fire-and-forget, as an ``<img>`` tag sends them), and a line that
   makes the route pattern ``(a+)+$`` backtrack in Python's ``re``, round after round: each new
   line still reaches the webhook and ``/healthz`` still answers within a few seconds.
2. Searches over a large history stay off the writer: 50,000 stored rows (300,000 in the long
   form), 20 clients searching ``q=zzzz`` (a full scan) without pause while lines arrive: each
   line reaches the webhook within a few seconds; every search answers 200 or 503 (busy), none
   hangs; a search pages on with ``next_before`` and finds every matching row exactly once.
"""

from __future__ import annotations

import json
import socket
import sqlite3
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import pytest

from ticker.store import SCAN_LIMIT, SqliteStore
from ticker.store.times import utc

from .harness import (
    Feed,
    Ticker,
    Tickers,
    channel_toml,
    percentile,
    pick,
    q,
    query,
    service_toml,
    source_toml,
    timeout,
    token_of,
    write_config,
)
from .servers import PageServer, Sink, free_port

pytestmark = pytest.mark.drill

EVIL = r"([\w\s]|[\w\s])*@"
HOSTILE_LINE = "a" * 5000 + "!"  # (a+)+$ in Python's re: 2**n steps on this
LATENCY = 5.0  # seconds from a line on the page to the webhook (1 s interval): generous
CALM = ["A calm line shown before the drill began, with words and no at sign in it"]


def get(base: str, path: str, params: dict[str, str] | None = None) -> tuple[int, Any]:
    """(status, JSON body or None) of GET; 5xx and 4xx are answers too."""
    url = base + path + (f"?{urlencode(params)}" if params else "")
    try:
        with urllib.request.urlopen(url, timeout=15) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, None


def wait_up(t: Ticker, base: str) -> None:
    def up() -> bool:
        try:
            return get(base, "/healthz")[0] in (200, 503)
        except OSError:
            return False

    t.wait_for(up, "the endpoint")


def fire_and_forget(port: int, target: str, *, registered: bool) -> socket.socket:
    """Send ``GET target`` and never read the answer; with ``registered``, wait for the
    response head first (a live stream that is listening)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
    if registered:
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = s.recv(4096)
            assert chunk, head
            head += chunk
        assert head.startswith(b"HTTP/1.1 200"), head
    return s


def delivered_at(sink: Sink, token: str) -> float | None:
    arrived = [h.started for h in sink.delivered() if token in h.message]
    return min(arrived) if arrived else None


def show(pages: PageServer, feed: Feed, extra: list[str]) -> tuple[str, float]:
    """A new line on the page; its token and when it appeared."""
    feed.add()
    pages.set_lines("/news", feed.shown() + extra + CALM)
    return feed.tokens()[-1], time.monotonic()


# -- 1. one request, one line ----------------------------------------------------------------

ROUNDS = pick(2, 10)


@timeout(120, 600)
def test_one_hostile_request_or_line_freezes_nothing(
    tmp_path: Path, pages: PageServer, sinks: Any, tickers: Tickers, figures: dict[str, Any]
) -> None:
    desk = sinks("desk")
    feed = Feed("fz")
    pages.set_lines("/news", CALM)
    port = free_port()
    route = f'\n[[routes]]\nchannels = ["desk"]\nmatch = [{q("(a+)+$")}, {q("^fz[0-9]")}]\n'
    cfg = write_config(
        tmp_path,
        service_toml(listen=f"127.0.0.1:{port}"),
        source_toml("news", pages.url("/news")),
        channel_toml("desk", desk.url("/desk")),
        route,
    )
    t = tickers.start(cfg)
    t.wait_baseline("news")
    base = f"http://127.0.0.1:{port}"
    wait_up(t, base)
    evil = quote(EVIL, safe="")
    latency: list[float] = []
    healthz: list[float] = []
    held: list[socket.socket] = []
    try:
        for n in range(ROUNDS):
            held.append(fire_and_forget(port, f"/events?q={evil}", registered=True))
            held.append(fire_and_forget(port, f"/api/items?baseline=1&q={evil}", registered=False))
            time.sleep(0.3)  # the search has started
            # Every other round the page also shows the line (a+)+$ would backtrack on.
            tok, shown = show(pages, feed, [HOSTILE_LINE] if n % 2 == 0 else [])
            asked = time.monotonic()
            assert get(base, "/healthz")[0] == 200
            healthz.append(time.monotonic() - asked)
            t.wait_for(lambda tok=tok: delivered_at(desk, tok), f"{tok} at the desk", LATENCY)
            latency.append((delivered_at(desk, tok) or 0.0) - shown)
    finally:
        for s in held:
            s.close()
    assert not any("aaaa" in h.message for h in desk.hits())  # it ends in "!": no match
    status, body = get(base, "/api/items", {"baseline": "1", "q": EVIL})
    assert (status, body["items"]) == (200, [])  # searched for as text
    assert t.alive()
    figures.update(
        rounds=ROUNDS,
        hostile_requests=2 * ROUNDS,
        hostile_lines=(ROUNDS + 1) // 2,
        delivery_latency_p50_s=round(percentile(latency, 50), 2),
        delivery_latency_max_s=round(max(latency), 2),
        healthz_max_s=round(max(healthz), 3),
    )
    assert max(latency) < LATENCY
    assert max(healthz) < 2.0


# -- 2. full scans over a large history ------------------------------------------------------

ROWS = pick(50_000, 300_000)
CLIENTS = 20
LINES = pick(3, 20)
GAP = 1.5
EPOCH = datetime(2025, 1, 1, tzinfo=UTC)
NEEDLE_EVERY = 7_919  # a prime: the matching rows fall at no page boundary in particular
NEW_LINES = "SELECT text FROM items WHERE key NOT LIKE 'old%'"


def fill(state: Path, rows: int) -> set[str]:
    """``rows`` old lines of the source (gone long ago), written beside a store created by
    ticker itself; the texts that hold "needle"."""
    SqliteStore.open(state).close()
    needles = set()
    conn = sqlite3.connect(state)
    try:
        with conn:
            batch = []
            for n in range(rows):
                text = f"archived line {n}: the council met again on day {n}"
                if n % NEEDLE_EVERY == 0:
                    text += " needle"
                    needles.add(text)
                stamp = utc(EPOCH + timedelta(seconds=n))  # older than the live lines
                batch.append((f"old{n}", text, stamp, stamp, stamp))
            conn.executemany(
                "INSERT INTO items (source, key, text, kind, first_seen, last_seen, gone_since) "
                "VALUES ('news', ?, ?, 'new', ?, ?, ?)",
                batch,
            )
    finally:
        conn.close()
    return needles


def page_all(base: str, q_text: str) -> tuple[list[dict[str, Any]], int]:
    """Every item a search finds, paging with ``next_before``; and the pages it took."""
    items: list[dict[str, Any]] = []
    params = {"q": q_text, "limit": "200", "baseline": "1"}
    pages = 0
    before: int | None = None
    while True:
        status, body = get(base, "/api/items", params | ({"before": str(before)} if before else {}))
        assert status == 200, (status, before)
        pages += 1
        items += body["items"]
        assert body["more"] is (body["next_before"] is not None)
        if not body["more"]:
            return items, pages
        assert before is None or body["next_before"] < before, "paging went back"
        before = body["next_before"]
        assert pages < 100, "paging does not end"


@timeout(180, 900)
def test_searches_over_a_large_history_stay_off_the_writer(
    tmp_path: Path, pages: PageServer, sinks: Any, tickers: Tickers, figures: dict[str, Any]
) -> None:
    desk = sinks("desk")
    feed = Feed("sc")
    pages.set_lines("/news", CALM)
    started = time.monotonic()
    needles = fill(tmp_path / "state.db", ROWS)
    fill_s = time.monotonic() - started
    port = free_port()
    cfg = write_config(
        tmp_path,
        service_toml(listen=f"127.0.0.1:{port}"),
        source_toml("news", pages.url("/news")),
        channel_toml("desk", desk.url("/desk")),
    )
    t = tickers.start(cfg)
    t.wait_baseline("news")
    base = f"http://127.0.0.1:{port}"
    wait_up(t, base)

    # One search stops after SCAN_LIMIT rows and says where to go on.
    asked = time.monotonic()
    status, body = get(base, "/api/items", {"q": "zzzz"})
    single_search_s = time.monotonic() - asked
    assert status == 200
    assert body["items"] == []
    assert body["more"] is True
    assert isinstance(body["next_before"], int)
    found, search_pages = page_all(base, "NEEDLE")
    assert sorted(i["text"] for i in found) == sorted(needles)  # each once, none skipped
    assert search_pages >= ROWS // SCAN_LIMIT

    stop = threading.Event()
    answers: Counter[int] = Counter()
    took: list[float] = []
    lock = threading.Lock()

    def search() -> None:
        while not stop.is_set():
            asked = time.monotonic()
            status, body = get(base, "/api/items", {"q": "zzzz"})
            with lock:
                answers[status] += 1
                took.append(time.monotonic() - asked)
            if status == 200:
                assert body["items"] == []
                assert body["more"] is True

    latency: list[float] = []
    with ThreadPoolExecutor(CLIENTS) as pool:
        workers = [pool.submit(search) for _ in range(CLIENTS)]
        try:
            time.sleep(1.0)  # the searches are queued and running
            for _ in range(LINES):
                tok, shown = show(pages, feed, [])
                t.wait_for(lambda tok=tok: delivered_at(desk, tok), f"{tok} at the desk", 30)
                latency.append((delivered_at(desk, tok) or 0.0) - shown)
                time.sleep(max(0.0, shown + GAP - time.monotonic()))
        finally:
            stop.set()
        for w in workers:
            w.result()  # a worker's failed assertion fails the drill
    recorded = [token_of(text) for (text,) in query(tmp_path / "state.db", NEW_LINES)]
    assert set(feed.tokens()) <= set(recorded)
    figures.update(
        rows=ROWS,
        fill_s=round(fill_s, 1),
        clients=CLIENTS,
        lines=LINES,
        single_search_s=round(single_search_s, 3),
        searches=sum(answers.values()),
        answers=dict(answers),
        search_p50_s=round(percentile(took, 50), 3),
        search_p99_s=round(percentile(took, 99), 3),
        search_max_s=round(max(took), 3),
        delivery_latency_p50_s=round(percentile(latency, 50), 2),
        delivery_latency_max_s=round(max(latency), 2),
        pages_to_search_all=search_pages,
    )
    assert set(answers) <= {200, 503}, answers
    assert answers[200] > 0
    assert max(took) < 10.0, "a search hung"
    assert max(latency) < LATENCY, latency
