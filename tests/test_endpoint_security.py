"""Who may ask the endpoint of ``ticker run``, and what one request may cost (issue 12).

Findings 1, 2, 6 and 7: one request with a catastrophic regular expression froze the process, a
route pattern met by a hostile line froze every poll, any ``Host`` was answered (DNS rebinding),
there was no token, the security headers were on some routes only, and a source URL's password
and ``?api_key=`` were served in ``last_error``.

``ticker run`` runs as a subprocess with ``[service] listen`` on a free 127.0.0.1 port, polling
the local page server every second (the fixtures and helpers of test_live); ``ticker validate``
runs as a user runs it. The long, loaded forms are the drill tests/drills/test_endpoint_freeze.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest
from conftest import PageServer, en_page, run_ticker, write_config
from sinks import WebhookSink
from test_live import (  # noqa: F401 -- fixtures used by name
    BASE,
    NEW,
    SSE_TIMEOUT,
    Live,
    TickerProcess,
    events,
    free_port,
    live_toml,
    source_toml,
    start_live_fixture,
    ticker_processes_fixture,
)

from ticker.log import Redactor
from ticker.redact import public_url, scrub_url_secrets

# Python's re backtracks on this for 2**n steps over a run of n word characters and spaces
# with no "@" after it: every stored line of the fixture is such a run.
EVIL = r"([\w\s]|[\w\s])*@"
PROMPT = 5.0  # seconds: a new line is recorded in ~1-2 s with a 1 s interval; generous bound
TOKEN = "wall-screen-token-5f2c9a7e"
HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


def assert_security_headers(headers: Any, what: str) -> None:
    for name, value in HEADERS.items():
        assert headers.get(name) == value, f"{what}: {name} is {headers.get(name)!r}"
    csp = headers.get("Content-Security-Policy", "")
    assert "default-src 'none'" in csp, f"{what}: CSP {csp!r}"
    assert "frame-ancestors 'none'" in csp, f"{what}: CSP {csp!r}"


async def raw_request(port: int, target: str, *, read_head: bool) -> asyncio.StreamWriter:
    """Send ``GET target`` on a socket of its own and never read the answer (an ``<img>`` tag
    does as much); with ``read_head``, first wait for the response head (a live stream that is
    registered). The caller closes the writer."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
    await writer.drain()
    if read_head:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert head.startswith(b"HTTP/1.1 200"), head
    return writer


async def healthz_answers(live: Live) -> bool:
    async with live.http.get(live.base + "/healthz", timeout=aiohttp.ClientTimeout(total=2)) as r:
        return r.status == 200


# -- 1. one request, one line: no freeze -----------------------------------------------------


@pytest.mark.parametrize("path", ["/api/items", "/events"])
async def test_one_catastrophic_query_freezes_neither_polling_nor_the_endpoint(
    page_server: PageServer, start_live: Callable[..., Awaitable[Live]], path: str
) -> None:
    page_server.set("/en", en_page(BASE))
    live = await start_live(source_toml("en", page_server.url("/en")))
    async with events(live) as stream:
        # /api/items searches the stored lines (baselines included) at once; /events is
        # matched against the next new line when it is broadcast.
        hostile = await raw_request(
            live.port,
            f"{path}?baseline=1&q={quote(EVIL, safe='')}",
            read_head=path == "/events",
        )
        try:
            await asyncio.sleep(0.3)  # the search has started
            page_server.set("/en", en_page([NEW[1], *BASE]))
            await stream.item(NEW[1], within=PROMPT)
            await live.until(lambda: healthz_answers(live), "/healthz", within=PROMPT)
            await live.recorded(NEW[1], within=PROMPT)
        finally:
            hostile.close()
    # The text was searched for as text: nothing holds it.
    assert (await live.items(q=EVIL, baseline="1"))["items"] == []


async def test_a_route_pattern_that_backtracks_in_re_meets_a_hostile_line_without_a_freeze(
    page_server: PageServer, start_live: Callable[..., Awaitable[Live]]
) -> None:
    # (a+)+$ against "a" * 5,000 + "!" is 2**5000 steps in Python's re; ticker runs route
    # patterns in a linear-time engine, so the poll that meets the line ends.
    hostile = "a" * 5000 + "!"
    normal = "Talks resume in Doha after a week of delays, officials say, in Ramallah and Jenna"
    page_server.set("/en", en_page(BASE))
    async with WebhookSink() as sink:
        channels = (
            f'\n[[channels]]\nid = "desk"\nurls = ["{sink.url("/desk")}"]\n'
            '\n[[routes]]\nchannels = ["desk"]\nmatch = ["(a+)+$"]\n'
        )
        live = await start_live(source_toml("en", page_server.url("/en")), channels=channels)
        page_server.set("/en", en_page([hostile, normal, *BASE]))
        await live.recorded(normal, within=PROMPT)
        stored = [t for t in await live.texts() if t.startswith("aaaa")]
        assert len(stored) == 1  # kept, cut to ticker's 1,000 characters with an ellipsis
        assert not stored[0].endswith("a")  # so (a+)+$ must fail on it: the slow case in re

        async def delivered() -> bool:
            return any(normal in h.message for h in sink.delivered())

        await live.until(delivered, "the normal line at the desk", within=PROMPT)
        await live.another_poll("en")  # polling goes on
        assert await healthz_answers(live)
        await asyncio.sleep(0.5)
        assert not any("aaaa" in h.message for h in sink.hits())


ROUTE_CONFIG = """
[service]
state = "state.db"

[[sources]]
id = "en"
url = "https://example.com/"
items = "css:.ticker__item"

[[channels]]
id = "desk"
urls = ["json://127.0.0.1:1/desk"]

[[routes]]
channels = ["desk"]
match = [{patterns}]
"""


@pytest.mark.parametrize(
    ("pattern", "why"),
    [(r"(a+)\1", "a backreference"), ("(?=a)a+", "a lookahead"), ("(?>a+)b", "an atomic group")],
)
async def test_validate_refuses_a_route_pattern_that_needs_backtracking(
    tmp_path: Path, pattern: str, why: str
) -> None:
    cfg = write_config(tmp_path, ROUTE_CONFIG.format(patterns=f'"(?i)gaza", {json.dumps(pattern)}'))
    done = await asyncio.to_thread(run_ticker, "validate", "-c", str(cfg))
    assert done.returncode == 2, done.stdout + done.stderr
    problems = [ln.strip() for ln in done.stderr.splitlines() if ln.startswith("  ")]
    assert len(problems) == 1, done.stderr
    assert problems[0].startswith("routes[0].match[1]:"), problems
    assert why in problems[0]
    assert "linear time" in problems[0]


async def test_validate_accepts_a_pattern_that_only_re_would_run_for_ever(tmp_path: Path) -> None:
    patterns = ", ".join(json.dumps(p) for p in ["(a+)+$", r"([\w\s]|[\w\s])*@", "(?i)(a|b)+x"])
    cfg = write_config(tmp_path, ROUTE_CONFIG.format(patterns=patterns))
    done = await asyncio.to_thread(run_ticker, "validate", "-c", str(cfg))
    assert done.returncode == 0, done.stderr


# -- 3. Host and token -----------------------------------------------------------------------


async def status_of(
    session: aiohttp.ClientSession, url: str, **kwargs: Any
) -> tuple[int, Any, str]:
    async with session.get(url, timeout=aiohttp.ClientTimeout(total=10), **kwargs) as resp:
        # A live stream answers 200 and stays open: its head is enough.
        body = "" if resp.content_type == "text/event-stream" else await resp.text()
        return resp.status, resp.headers, body


async def test_a_host_other_than_an_address_localhost_or_a_configured_name_is_421(
    page_server: PageServer, start_live: Callable[..., Awaitable[Live]]
) -> None:
    page_server.set("/en", en_page(BASE))
    live = await start_live(
        source_toml("en", page_server.url("/en")), service='hostnames = ["wall.example"]\n'
    )
    port = live.port
    for host in (
        "evil.example",
        f"evil.example:{port}",
        "127.0.0.1.evil.example",
        "wall.example.x",
    ):
        for path in ("/", "/api/items", "/events", "/healthz"):
            status, _, body = await status_of(live.http, live.base + path, headers={"Host": host})
            assert status == 421, (host, path, status)
            assert "hostnames" in json.loads(body)["error"]
    for host in (
        f"127.0.0.1:{port}",
        "127.0.0.1",
        f"localhost:{port}",
        f"wall.example:{port}",
        "WALL.example",
        f"[::1]:{port}",
    ):
        for path in ("/", "/api/items"):
            status, _, _ = await status_of(live.http, live.base + path, headers={"Host": host})
            assert status == 200, (host, path, status)


async def start_with_token(
    page_server: PageServer,
    tmp_path: Path,
    ticker_processes: Callable[..., TickerProcess],
    *,
    service: str = "",
) -> tuple[Live, aiohttp.ClientSession]:
    """``ticker run`` with ``[service] token``; a Live whose session carries the token, and a
    session of its own that carries none (closed by the caller)."""
    page_server.set("/en", en_page(BASE))
    port = free_port()
    cfg = write_config(
        tmp_path,
        live_toml(
            port, source_toml("en", page_server.url("/en")), service=f'token = "{TOKEN}"\n{service}'
        ),
    )
    authed = aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(total=10), headers={"Authorization": f"Bearer {TOKEN}"}
    )
    live = Live(ticker_processes(cfg), authed, port, cfg)
    await live.polled("en")
    return live, authed


@pytest.fixture(name="token_live")
async def token_live_fixture(
    page_server: PageServer,
    tmp_path: Path,
    ticker_processes: Callable[..., TickerProcess],
) -> AsyncIterator[Live]:
    live, authed = await start_with_token(page_server, tmp_path, ticker_processes)
    try:
        yield live
    finally:
        await authed.close()


async def test_with_a_token_every_request_needs_it_and_a_page_url_token_becomes_a_cookie(
    token_live: Live, http: aiohttp.ClientSession
) -> None:
    base = token_live.base
    for path in ("/", "/api/items", "/api/sources", "/events", "/healthz", "/static/app.js"):
        status, headers, _ = await status_of(http, base + path)
        assert status == 401, path
        assert headers["WWW-Authenticate"].startswith("Bearer"), path
        for wrong in ({"headers": {"Authorization": "Bearer nope"}}, {"params": {"token": "x"}}):
            status, headers, _ = await status_of(http, base + path, **wrong)
            assert status == 401, (path, wrong)
            assert "Set-Cookie" not in headers
    # Almost the token: still 401 (and the comparison is not a prefix match).
    almost = {"Authorization": f"Bearer {TOKEN[:-1]}"}
    assert (await status_of(http, base + "/api/items", headers=almost))[0] == 401
    assert (await status_of(http, base + "/", headers={"Authorization": f"Basic {TOKEN}"}))[
        0
    ] == 401

    bearer = {"Authorization": f"Bearer {TOKEN}"}
    for path in ("/", "/api/items", "/events", "/healthz", "/metrics"):
        assert (await status_of(http, base + path, headers=bearer))[0] == 200, path

    # A wall screen's URL: /?token=T, then the page's own requests carry only the cookie.
    status, headers, html = await status_of(http, base + "/", params={"token": TOKEN})
    assert status == 200
    assert "<script" in html
    set_cookie = headers.getall("Set-Cookie")
    assert len(set_cookie) == 1, set_cookie
    cookie = SimpleCookie(set_cookie[0])["ticker_token"]
    assert cookie.value == TOKEN
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Strict"
    assert cookie["path"] == "/"
    jar = {"Cookie": f"ticker_token={cookie.value}"}
    for path in ("/api/items", "/api/sources", "/static/app.js", "/timeline.svg", "/events"):
        status, headers, _ = await status_of(http, base + path, headers=jar)
        assert status == 200, path
    _, headers, _ = await status_of(http, base + "/events", headers=jar)
    assert headers["Content-Type"].startswith("text/event-stream")
    wrong_jar = {"Cookie": "ticker_token=" + "x" * len(TOKEN)}
    assert (await status_of(http, base + "/api/items", headers=wrong_jar))[0] == 401
    # A feed opened with ?token= does not write the token into its body (its self link).
    status, _, feed = await status_of(
        http, base + "/feed.atom", params={"token": TOKEN, "baseline": "1"}
    )
    assert status == 200
    assert TOKEN not in feed
    assert "baseline=1" in feed


# -- 4. validate: the endpoint beyond loopback -----------------------------------------------


def endpoint_config(service: str) -> str:
    return (
        f'[service]\nstate = "state.db"\n{service}\n'
        '[[sources]]\nid = "en"\nurl = "https://example.com/"\nitems = "css:.ticker__item"\n'
    )


@pytest.mark.parametrize(
    ("service", "key", "words"),
    [
        ('listen = "0.0.0.0:8787"', "service.listen", "allow_remote"),
        ('listen = "192.168.1.20:8787"', "service.listen", "allow_remote"),
        ('listen = "[::]:8787"', "service.listen", "allow_remote"),
        ('listen = "wall.example:8787"', "service.listen", "allow_remote"),
        ('listen = "0.0.0.0:8787"\nallow_remote = true', "service.token", "needs a token"),
        ('listen = "0.0.0.0:8787"\nallow_remote = true\ntoken = ""', "service.token", "token"),
        (
            'listen = "0.0.0.0:8787"\nallow_remote = true\ntoken = "0123456789abcde"',
            "service.token",
            "too short",
        ),
        ('listen = "127.0.0.1:8787"\ntoken = "short"', "service.token", "too short"),
        (
            'listen = "127.0.0.1:8787"\nallow_remote = "yes"',
            "service.allow_remote",
            "true or false",
        ),
    ],
)
async def test_validate_refuses_an_endpoint_open_to_the_network_without_a_token(
    tmp_path: Path, service: str, key: str, words: str
) -> None:
    cfg = write_config(tmp_path, endpoint_config(service))
    done = await asyncio.to_thread(run_ticker, "validate", "-c", str(cfg))
    assert done.returncode == 2, done.stdout + done.stderr
    problems = [ln.strip() for ln in done.stderr.splitlines() if ln.startswith("  ")]
    assert [p.split(":", 1)[0] for p in problems] == [key], done.stderr
    assert words in problems[0]
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    "service",
    [
        'listen = "127.0.0.1:8787"',
        'listen = "[::1]:8787"',
        'listen = "localhost:8787"',
        'listen = "127.0.0.1:8787"\ntoken = "0123456789abcdef"',
        'listen = "0.0.0.0:8787"\nallow_remote = true\ntoken = "0123456789abcdef"',
        'listen = "0.0.0.0:8787"\nallow_remote = true\ntoken = "${TICKER_TEST_TOKEN}"\n'
        'hostnames = ["wall.example"]',
    ],
)
async def test_validate_accepts_loopback_or_remote_with_a_token(
    tmp_path: Path, service: str
) -> None:
    cfg = write_config(tmp_path, endpoint_config(service))
    done = await asyncio.to_thread(
        run_ticker, "validate", "-c", str(cfg), env={"TICKER_TEST_TOKEN": "f" * 32}
    )
    assert done.returncode == 0, done.stderr
    assert "f" * 32 not in done.stdout + done.stderr
    assert "0123456789abcdef" not in done.stdout + done.stderr


# -- 5. the same headers on every answer -----------------------------------------------------


async def test_every_answer_carries_the_security_headers(
    token_live: Live, http: aiohttp.ClientSession
) -> None:
    base = token_live.base
    authed = token_live.http
    paths = [
        "/",
        "/static/app.js",
        "/api/items",
        "/api/sources",
        "/items.json",
        "/feed.atom",
        "/healthz",
        "/metrics",
        "/timeline.svg",
        "/events",
    ]
    for path in paths:
        status, headers, _ = await status_of(authed, base + path)
        assert status == 200, path
        assert_security_headers(headers, path)
    errors: list[tuple[str, aiohttp.ClientSession, dict[str, Any], int]] = [
        ("/no/such/page", authed, {}, 404),
        ("/favicon.ico", authed, {}, 204),
        ("/api/items", authed, {"params": {"q": "x" * 201}}, 400),
        ("/items.json", authed, {"params": {"limit": "many"}}, 400),
        ("/api/items", http, {}, 401),
        ("/events", http, {}, 401),
        ("/healthz", http, {}, 401),
        ("/api/items", authed, {"headers": {"Host": "evil.example"}}, 421),
        ("/healthz", http, {"headers": {"Host": "evil.example"}}, 421),
    ]
    for path, session, kwargs, expected in errors:
        status, headers, _ = await status_of(session, base + path, **kwargs)
        assert status == expected, (path, kwargs, status)
        assert_security_headers(headers, f"{path} {expected}")


# -- 6. a source's secrets are never served --------------------------------------------------


@contextlib.asynccontextmanager
async def broken_http_server() -> AsyncIterator[int]:
    """A server whose answers aiohttp cannot parse: its error quotes the URL it asked."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(Exception):
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\nhello")
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


async def test_a_source_urls_password_and_query_values_are_never_served_or_logged(
    page_server: PageServer, start_live: Callable[..., Awaitable[Live]]
) -> None:
    secrets = ("hunter2pass", "SECRETKEY123", "bob:")
    page_server.set("/x", "down", status=500)
    async with broken_http_server() as broken:
        urls = {
            "garbled": f"http://bob:hunter2pass@127.0.0.1:{broken}/x?api_key=SECRETKEY123&n=1",
            "refused": f"http://bob:hunter2pass@127.0.0.1:{free_port()}/x?api_key=SECRETKEY123",
            "down": page_server.url("/x").replace("http://", "http://bob:hunter2pass@")
            + "?api_key=SECRETKEY123",
        }
        live = await start_live(
            "".join(source_toml(sid, url) for sid, url in urls.items()),
            service="failing_after = 1\n",
        )
        async with events(live) as stream:
            await live.another_poll("garbled")
            await asyncio.sleep(1.2)  # source frames after a failed poll of each
        sources = await live.sources()
        for sid in urls:
            assert sources[sid]["last_error"], sid
        # The errors still say what went wrong, and where.
        assert (
            "400" in sources["garbled"]["last_error"]
            or "Content-Length" in (sources["garbled"]["last_error"])
        )
        assert "127.0.0.1" in sources["refused"]["last_error"]
        assert "500" in sources["down"]["last_error"]
        frames = [f for f in stream.raw if "last_error" in f]
        assert frames, stream.raw[-10:]
        for path in ("/healthz", "/api/sources", "/", "/items.json", "/metrics"):
            await live.get(path)
        served = "\n".join(live.seen)
        log = live.tp.stderr
    assert "api_key" in served  # the query's names are kept: only their values are secret
    for secret in secrets:
        assert secret not in served, secret
        assert secret not in log, secret


SOURCE_URL = "http://bob:hunter2pass@127.0.0.1:8080/x?api_key=SECRETKEY123&n=1#top"


def test_public_url_drops_userinfo_and_masks_every_query_value() -> None:
    assert public_url(SOURCE_URL) == "http://127.0.0.1:8080/x?api_key=***&n=***"
    assert (
        public_url("https://u:p@[::1]:8443/feed?k=v&flag") == "https://[::1]:8443/feed?k=***&flag"
    )
    assert public_url("https://example.com/news") == "https://example.com/news"


def test_a_source_error_quoting_its_url_keeps_no_secret() -> None:
    # What aiohttp says of an answer it cannot parse (seen in test 6 above), and a library
    # that quotes a query value on its own.
    message = (
        "ClientResponseError: 400, message='Invalid character in Content-Length', "
        "url='http://127.0.0.1:8080/x?api_key=SECRETKEY123&n=1'; key SECRETKEY123 refused "
        "for bob:hunter2pass"
    )
    scrubbed = scrub_url_secrets(message, SOURCE_URL)
    assert "SECRETKEY123" not in scrubbed
    assert "hunter2pass" not in scrubbed
    assert "http://127.0.0.1:8080/x?api_key=***&n=***" in scrubbed
    assert "Content-Length" in scrubbed


def test_the_log_redactor_masks_source_secrets_and_the_token() -> None:
    redactor = Redactor()
    redactor.add_urls([], sources=[SOURCE_URL], secrets=[TOKEN])
    event = redactor(
        None,
        "warning",
        {"event": "poll", "error": f"refused SECRETKEY123 and hunter2pass for {TOKEN}", "n": 1},
    )
    assert "SECRETKEY123" not in event["error"]
    assert "hunter2pass" not in event["error"]
    assert TOKEN not in event["error"]
    assert event["error"].startswith("refused ***")


# -- 7. the page's search is text ------------------------------------------------------------


async def test_q_is_a_case_folded_substring_of_at_most_200_characters(
    page_server: PageServer, start_live: Callable[..., Awaitable[Live]]
) -> None:
    page_server.set("/en", en_page(BASE))
    live = await start_live(source_toml("en", page_server.url("/en")))
    async with events(live, "q=KHIAM") as shouted, events(live, "q=%28a%2B%29%2B%24") as regex:
        page_server.set("/en", en_page([NEW[1], NEW[2], *BASE]))
        assert (await shouted.item(NEW[1], within=PROMPT))["text"] == NEW[1]
        assert await regex.items_for(1.0) == []
    assert sorted(await live.texts(q="GAZA", baseline="1")) == sorted([BASE[0], BASE[2]])
    assert sorted(await live.texts(q="gAzA sTrIp", baseline="1")) == [BASE[2]]
    assert await live.texts(q="khiam") == [NEW[1]]
    assert await live.texts(q="RED SEA") == [NEW[2]]
    for text in ("(a+)+$", "Khiam|Red Sea", r"\d+", "[", EVIL):
        body = await live.items(q=text, baseline="1")
        assert body["items"] == [], text
        assert body["more"] is False
    assert await live.texts(q="x" * 200) == []
    # Every answer has the same shape, a tag no source has included.
    empty = {"items": [], "more": False, "next_before": None}
    assert await live.items(tag="nosuchtag", q="gaza") == empty
    for path in ("/api/items", "/events"):
        status, headers, body = await live.get(path, {"q": "x" * 201})
        assert status == 400, path
        assert headers["Content-Type"].startswith("application/json")
        error = json.loads(body)["error"]
        assert re.match(r"q: .*200", error), error
