"""``ticker discover --browser``: a ticker drawn by JavaScript from a GraphQL POST, found as a
plain-HTTP source (issue 17).

A local site whose served HTML holds no line of its ticker: a script POSTs a GraphQL query to
``/graphql`` (which answers 403 without the site's Origin and 415 without a JSON Content-Type)
and draws the answer. ``ticker discover --browser URL --json`` runs as a user runs it, on
Debian's Chromium; the source it proposes is then polled by ``ticker once`` without a browser.
Skipped when /usr/bin/chromium or Playwright is missing; no browser is ever downloaded.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from aiohttp import web
from conftest import PageServer, run_ticker, write_config

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="no /usr/bin/chromium")
pytest.importorskip("playwright.async_api")

ENV = {"TICKER_CHROMIUM": str(CHROMIUM)}
QUERY = "query Breaking { tvBreakingNews(limit: 10) { id headline url } }"
LINES = [
    "Earthquake of magnitude 6.1 strikes off the northern coast",
    "Parliament approves the emergency budget after a night session",
    "Rail workers call off tomorrow's national strike",
    "Floods close the main highway between the two largest cities",
]
NEW = "Central bank raises interest rates by half a point"

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Example TV</title></head>
<body>
<header><nav><a href="/">Home</a> <a href="/world">World</a> <a href="/sport">Sport</a>
</nav></header>
<div class="breaking-news"><span class="label">Breaking</span><ul id="bar"></ul></div>
<main><h1>Welcome to Example TV</h1><p>Live coverage all day.</p>
<img src="/hero.jpg" alt=""></main>
<script>
fetch("/graphql", {
  method: "POST",
  headers: {"Content-Type": "application/json", "X-Client": "web"},
  body: JSON.stringify({query: "%QUERY%"})
}).then(r => r.json()).then(d => {
  const bar = document.getElementById("bar");
  for (const item of d.data.tvBreakingNews) {
    const li = document.createElement("li");
    li.className = "breaking-news__item";
    const a = document.createElement("a");
    a.href = item.url; a.textContent = item.headline;
    li.appendChild(a); bar.appendChild(li);
  }
});
</script>
</body></html>
""".replace("%QUERY%", QUERY)


class Site:
    """The test site: the page, and a GraphQL endpoint that checks Origin and Content-Type."""

    def __init__(self, server: PageServer) -> None:
        self.server = server
        self.lines = list(LINES)
        self.posts: list[dict[str, Any]] = []
        server.set("/", PAGE)
        server.handlers["/graphql"] = self.graphql

    @property
    def origin(self) -> str:
        parts = urlsplit(self.server.url("/"))
        return f"{parts.scheme}://{parts.netloc}"

    async def graphql(self, request: web.Request) -> web.StreamResponse:
        if request.method != "POST":
            return web.json_response({"errors": ["POST only"]}, status=405)
        self.posts.append({"origin": request.headers.get("Origin"), "headers": request.headers})
        if request.headers.get("Origin") != self.origin:
            return web.json_response({"errors": ["forbidden origin"]}, status=403)
        if request.content_type != "application/json":
            return web.json_response({"errors": ["JSON only"]}, status=415)
        payload = await request.json()
        if payload.get("query") != QUERY:
            return web.json_response({"errors": ["unknown query"]}, status=400)
        items = [
            {"id": 100 + i, "headline": text, "url": f"/news/{100 + i}"}
            for i, text in enumerate(self.lines)
        ]
        return web.json_response({"data": {"tvBreakingNews": items}})


def toml_string(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def source_config(tmp_path: Path, candidate: dict[str, Any]) -> Path:
    """A configuration whose one source is the candidate, key by key."""
    lines = [
        "[service]",
        f"state = {toml_string(str(tmp_path / 'state.db'))}",
        "",
        "[[sources]]",
        'id = "tv"',
        f"url = {toml_string(candidate['url'])}",
        f"method = {toml_string(candidate['method'])}",
    ]
    if candidate["body"] is not None:
        lines.append(f"body = {toml_string(candidate['body'])}")
    headers = ", ".join(
        f"{toml_string(k)} = {toml_string(v)}" for k, v in candidate["headers"].items()
    )
    lines.append(f"headers = {{ {headers} }}")
    for key in ("items", "text", "link"):
        if candidate[key]:
            lines.append(f"{key} = {toml_string(candidate[key])}")
    return write_config(tmp_path, "\n".join(lines) + "\n")


async def test_browser_discovery_proposes_the_graphql_post_and_once_polls_it_without_a_browser(
    page_server: PageServer, tmp_path: Path
) -> None:
    site = Site(page_server)
    url = page_server.url("/")
    found = await asyncio.to_thread(
        run_ticker, "discover", "--browser", url, "--json", env=ENV, timeout=120
    )
    assert found.returncode == 0, found.stderr
    candidates = json.loads(found.stdout)
    best = candidates[0]
    assert best["kind"] == "endpoint", candidates
    assert best["confidence"] >= 0.5
    assert best["url"] == page_server.url("/graphql")
    assert best["method"] == "POST"
    assert json.loads(best["body"]) == {"query": QUERY}
    # Only the headers the endpoint checks: Origin and the JSON Content-Type, not the
    # Referer or the X-Client header the page also sent.
    assert best["headers"] == {"Origin": site.origin, "Content-Type": "application/json"}
    assert best["lines"] == LINES
    assert best["items"].startswith("jmespath:")
    assert best["text"] == "jmespath:headline"
    # The browser's request really carried the Origin; a replay without it was refused.
    assert any(p["origin"] == site.origin for p in site.posts)
    assert any(p["origin"] is None for p in site.posts)

    cfg = source_config(tmp_path, best)
    posts = len(site.posts)
    first = await asyncio.to_thread(run_ticker, "once", "-c", str(cfg))
    assert first.returncode == 0, first.stderr
    assert first.stdout == ""  # the baseline
    site.lines.insert(0, NEW)
    second = await asyncio.to_thread(run_ticker, "once", "-c", str(cfg))
    assert second.returncode == 0, second.stderr
    (item,) = [json.loads(x) for x in second.stdout.splitlines()]
    assert item["text"] == NEW
    assert item["link"] == page_server.url("/news/100")
    # Polled with plain HTTP: two requests, each with the Origin, none by a browser.
    polls = site.posts[posts:]
    assert len(polls) == 2
    assert all(p["origin"] == site.origin for p in polls)
    assert all("HeadlessChrome" not in p["headers"].get("User-Agent", "") for p in polls)


async def test_the_page_a_browser_draws_but_no_endpoint_carries_is_proposed_for_rendering(
    page_server: PageServer,
) -> None:
    """The lines are computed in the page (no request carries them): render = true."""
    encoded = json.dumps([line[::-1] for line in LINES])
    page_server.set(
        "/",
        "<!doctype html><html><body><h1>Example TV</h1>"
        '<div class="ticker"><ul id="t"></ul></div><script>'
        f"for (const s of {encoded}) {{ const li = document.createElement('li');"
        " li.className = 'ticker__item'; li.textContent = [...s].reverse().join('');"
        " document.getElementById('t').appendChild(li); }</script></body></html>",
    )
    url = page_server.url("/")
    found = await asyncio.to_thread(
        run_ticker, "discover", "--browser", url, "--json", env=ENV, timeout=120
    )
    assert found.returncode == 0, found.stderr
    best = json.loads(found.stdout)[0]
    assert best["kind"] == "render"
    assert best["confidence"] >= 0.5
    assert best["lines"] == LINES
    assert best["items"].startswith(("css:", "xpath:"))
    plain = await asyncio.to_thread(run_ticker, "discover", url, env=ENV)
    assert plain.returncode == 1  # the served HTML alone holds no ticker
    pasted = await asyncio.to_thread(run_ticker, "discover", "--browser", url, env=ENV)
    assert pasted.returncode == 0, pasted.stderr
    assert "render = true" in pasted.stdout


async def test_a_browser_that_cannot_start_is_a_clear_error_not_a_traceback(
    page_server: PageServer, tmp_path: Path
) -> None:
    Site(page_server)
    broken = tmp_path / "chromium"
    broken.write_text("#!/bin/sh\necho 'chromium: cannot open display' >&2\nexit 1\n")
    broken.chmod(0o755)
    result = await asyncio.to_thread(
        run_ticker,
        "discover",
        "--browser",
        page_server.url("/"),
        env={"TICKER_CHROMIUM": str(broken)},
        timeout=120,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "error: Chromium" in result.stderr
    assert "did not start" in result.stderr


async def test_browser_discovery_of_a_saved_file_says_it_needs_the_url(tmp_path: Path) -> None:
    page = tmp_path / "page.html"
    page.write_text(PAGE)
    result = await asyncio.to_thread(run_ticker, "discover", "--browser", str(page), env=ENV)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "needs the page's http(s) URL" in result.stderr


async def test_browser_discovery_without_playwright_says_what_to_install(
    page_server: PageServer, tmp_path: Path
) -> None:
    from test_render import without_playwright

    Site(page_server)
    result = await asyncio.to_thread(
        run_ticker,
        "discover",
        "--browser",
        page_server.url("/"),
        env={**ENV, **without_playwright(tmp_path)},
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "pip install 'ticker-news[browser]'" in result.stderr
    assert "chromium" in result.stderr
