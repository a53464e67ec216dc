"""JSON APIs as sources: ``method = "POST"`` and ``body`` beside ``headers`` (GraphQL, REST).

A local GraphQL endpoint that answers only a POST with the right query and the Origin it
requires, as broadcasters' breaking-news endpoints do; ``ticker once`` run as a user runs it.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from aiohttp import web
from conftest import PageServer, run_ticker, write_config

QUERY = "query { tvBreakingNews { title url } }"


def graphql(lines: list[str], seen: list[dict[str, object]]):  # type: ignore[no-untyped-def]
    async def handler(request: web.Request) -> web.StreamResponse:
        if request.method != "POST":
            return web.json_response({"errors": ["POST only"]}, status=405)
        if request.headers.get("Origin") != "https://www.example.tv":
            return web.json_response({"errors": ["bad origin"]}, status=403)
        payload = await request.json()
        seen.append({"payload": payload, "type": request.headers.get("Content-Type")})
        if payload.get("query") != QUERY:
            return web.json_response({"errors": ["unknown query"]}, status=400)
        items = [{"title": t, "url": f"/news/{i}"} for i, t in enumerate(lines)]
        return web.json_response({"data": {"tvBreakingNews": items}})

    return handler


def config(tmp_path: Path, url: str, body: str) -> Path:
    return write_config(
        tmp_path,
        f"""
[service]
state = "{tmp_path / "state.db"}"

[[sources]]
id = "tv"
url = "{url}"
method = "POST"
{body}
headers = {{ Origin = "https://www.example.tv", Referer = "https://www.example.tv/" }}
items = "jmespath:data.tvBreakingNews[]"
text = "jmespath:title"
link = "jmespath:url"
""",
    )


async def test_a_graphql_post_source_reports_a_new_line(
    tmp_path: Path, page_server: PageServer
) -> None:
    lines = ["Earthquake hits the north", "Parliament votes on the budget"]
    seen: list[dict[str, object]] = []
    page_server.handlers["/graphql"] = graphql(lines, seen)
    cfg = config(tmp_path, page_server.url("/graphql"), f'body = {{ query = "{QUERY}" }}')
    first = await asyncio.to_thread(run_ticker, "once", "-c", str(cfg))
    assert first.returncode == 0, first.stderr
    assert first.stdout == ""  # the baseline
    lines.insert(0, "Flood warning for the coast")
    second = await asyncio.to_thread(run_ticker, "once", "-c", str(cfg))
    assert second.returncode == 0, second.stderr
    (item,) = [json.loads(x) for x in second.stdout.splitlines()]
    assert item["text"] == "Flood warning for the coast"
    assert item["link"].endswith("/news/0")
    # The table went out as JSON, with its Content-Type.
    assert seen[-1] == {"payload": {"query": QUERY}, "type": "application/json"}


async def test_a_string_body_is_sent_as_written(tmp_path: Path, page_server: PageServer) -> None:
    seen: list[dict[str, object]] = []
    page_server.handlers["/graphql"] = graphql(["One line"], seen)
    body = json.dumps({"query": QUERY})
    cfg = config(
        tmp_path, page_server.url("/graphql"), f"body = '{body}'\n# Content-Type: as headers say"
    )
    result = await asyncio.to_thread(run_ticker, "once", "-c", str(cfg))
    assert result.returncode == 0, result.stderr
    assert seen
    assert seen[0]["payload"] == {"query": QUERY}


def test_a_body_without_post_and_a_bad_method_are_named(tmp_path: Path) -> None:
    cfg = write_config(
        tmp_path,
        """
[[sources]]
id = "tv"
url = "https://example.tv/graphql"
body = { query = "{ x }" }
items = "jmespath:data[]"

[[sources]]
id = "rest"
url = "https://example.tv/api"
method = "DELETE"
items = "jmespath:data[]"
""",
    )
    result = run_ticker("validate", "-c", str(cfg))
    assert result.returncode == 2
    assert "sources[0].body" in result.stderr
    assert 'method = "POST"' in result.stderr
    assert "sources[1].method" in result.stderr
    assert '"GET" or "POST"' in result.stderr
