"""ticker discover as a user runs it: saved pages, a local site, a configured source, bad input.

The pure passes are measured in ``test_discover.py``; here the command's contract: what it
prints (a ready [[sources]] block that ticker accepts, or JSON), its exit codes, and that the
endpoints a page's scripts name are fetched and proposed as JSON sources.
"""

from __future__ import annotations

import asyncio
import json
import tomllib
from pathlib import Path

from aiohttp import web
from conftest import PageServer, run_ticker, write_config
from shared_data import SHARED, need

HEADLINES = [
    "Earthquake of magnitude 6.1 strikes off the coast of Japan",
    "Parliament approves the budget after a night of debate",
    "Flood warnings issued for three northern provinces",
    "Central bank holds interest rates steady for a third month",
]


def ticker_page(lines: list[str], *, script: str = "") -> str:
    items = "".join(
        f'<li class="breaking-item"><a href="/n/{i}">{t}</a></li>' for i, t in enumerate(lines)
    )
    return (
        "<html><head><title>News</title></head><body>"
        '<nav class="menu"><ul><li><a href="/">Home</a></li><li><a href="/w">World</a></li>'
        '<li><a href="/s">Sport</a></li></ul></nav>'
        f'<div class="breaking-news-ticker"><span>Breaking</span><ul>{items}</ul></div>'
        f"<main><h1>Today</h1><p>Stories of the day.</p></main>{script}</body></html>"
    )


def test_a_saved_real_page_gives_its_ticker_as_json() -> None:
    root = need(SHARED / "tickerpages")
    expected = {e["file"]: e for e in json.loads((root / "expected.json").read_text("utf-8"))}
    entry = expected["13-lestimes-ls.html"]
    result = run_ticker("discover", str(root / entry["file"]), "--json")
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    assert found[0]["lines"] == entry["ticker_lines"]
    assert found[0]["confidence"] >= 0.5
    assert found[0]["kind"] == "html"
    assert set(found[0]) >= {"items", "text", "link", "canary", "lines", "confidence", "kind"}


def test_a_page_without_a_ticker_is_exit_1_with_what_to_try() -> None:
    root = need(SHARED / "tickerpages")
    result = run_ticker("discover", str(root / "12-metro-uk.html"))
    assert result.returncode == 1
    assert "no ticker found" in result.stderr
    assert "--expect" in result.stderr
    as_json = run_ticker("discover", str(root / "12-metro-uk.html"), "--json")
    assert as_json.returncode == 1
    assert json.loads(as_json.stdout) == []


async def test_the_proposed_block_is_a_source_ticker_reads(
    tmp_path: Path, page_server: PageServer
) -> None:
    page_server.set("/news", ticker_page(HEADLINES))
    url = page_server.url("/news")
    result = await asyncio.to_thread(run_ticker, "discover", url)
    assert result.returncode == 0, result.stderr
    block = result.stdout[result.stdout.index("[[sources]]") :]
    parsed = tomllib.loads(block)
    assert parsed["sources"][0]["url"] == url
    cfg = write_config(tmp_path, f'[service]\nstate = "{tmp_path / "s.db"}"\n\n{block}\n')
    once = await asyncio.to_thread(run_ticker, "once", "-c", str(cfg))
    assert once.returncode == 0, once.stderr
    page_server.set("/news", ticker_page(["Storm closes the main airport", *HEADLINES]))
    again = await asyncio.to_thread(run_ticker, "once", "-c", str(cfg))
    assert again.returncode == 0, again.stderr
    (line,) = [json.loads(x) for x in again.stdout.splitlines()]
    assert line["text"] == "Storm closes the main airport"


async def test_an_endpoint_a_script_names_is_proposed_as_a_json_source(
    page_server: PageServer,
) -> None:
    async def breaking(request: web.Request) -> web.Response:
        return web.json_response({"items": [{"headline": h, "url": "/x"} for h in HEADLINES]})

    page_server.handlers["/api/breaking.json"] = breaking
    # The page's ticker is empty: a script fills it from the endpoint.
    script = "<script>fetch('/api/breaking.json').then(r => r.json()).then(draw);</script>"
    page_server.set("/live", ticker_page([], script=script))
    result = await asyncio.to_thread(run_ticker, "discover", page_server.url("/live"), "--json")
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    endpoint = next(c for c in found if c["kind"] == "endpoint")
    assert endpoint["url"] == page_server.url("/api/breaking.json")
    assert endpoint["method"] == "GET"
    assert endpoint["lines"] == HEADLINES
    assert endpoint["items"].startswith("jmespath:")


async def test_a_configured_source_is_rediscovered_beside_its_selectors(
    tmp_path: Path, page_server: PageServer
) -> None:
    page_server.set("/news", ticker_page(HEADLINES))
    cfg = write_config(
        tmp_path,
        f'[service]\nstate = "{tmp_path / "s.db"}"\n[[sources]]\nid = "site"\n'
        f'url = "{page_server.url("/news")}"\nitems = "css:.old-ticker li"\n',
    )
    result = await asyncio.to_thread(run_ticker, "discover", "--source", "site", "-c", str(cfg))
    assert result.returncode == 0, result.stderr
    assert "css:.old-ticker li" in result.stdout  # the configured selector, beside
    assert "proposed:" in result.stdout
    assert 'id = "site"' in result.stdout
    assert HEADLINES[0] in result.stdout


async def test_bad_input_is_a_clear_message(tmp_path: Path, page_server: PageServer) -> None:
    usage = run_ticker("discover")
    assert usage.returncode == 2
    assert "URL" in usage.stderr
    no_config = run_ticker("discover", "--source", "x")
    assert no_config.returncode == 2
    assert "-c FILE" in no_config.stderr
    page_server.set("/img", b"\x89PNG\r\n\x1a\n" + b"\x00" * 100, content_type="image/png")
    image = await asyncio.to_thread(run_ticker, "discover", page_server.url("/img"))
    assert image.returncode == 1
    assert "not an HTML page" in image.stderr
    unreachable = await asyncio.to_thread(run_ticker, "discover", "http://127.0.0.1:9/news")
    assert unreachable.returncode == 1
    assert "cannot read" in unreachable.stderr
    missing = run_ticker("discover", str(tmp_path / "nope.html"))
    assert missing.returncode == 2
    assert "neither an existing file nor" in missing.stderr


async def test_a_bundle_that_never_ends_and_a_huge_page_are_bounded(
    tmp_path: Path, page_server: PageServer
) -> None:
    async def endless(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "application/javascript"})
        await resp.prepare(request)
        chunk = b"var api = '/api/breaking.json';" * 2048
        while True:  # the client stops reading at its cap and hangs up
            await resp.write(chunk)

    page_server.handlers["/static/app.js"] = endless
    page_server.set(
        "/news", ticker_page(HEADLINES, script='<script src="/static/app.js"></script>')
    )
    result = await asyncio.to_thread(run_ticker, "discover", page_server.url("/news"), "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)[0]["lines"] == HEADLINES

    # A 12 MB saved page: only its first 5 MB are read, and an answer comes back.
    huge = tmp_path / "huge.html"
    filler = "<div><p>" + "Words of a long page. " * 40 + "</p></div>"
    huge.write_text(ticker_page(HEADLINES) + filler * 14_000, "utf-8")
    assert huge.stat().st_size > 12_000_000
    found = await asyncio.to_thread(run_ticker, "discover", str(huge), "--json")
    assert found.returncode == 0, found.stderr
    assert json.loads(found.stdout)[0]["lines"] == HEADLINES
