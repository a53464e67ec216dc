"""ticker discover: find the ticker on a page and print a ready ``[[sources]]`` block.

The page (a URL or a saved file) goes through the static and in-page script passes of
``ticker.discover``; then the endpoints its scripts name (inline and in a few same-origin
bundles) are fetched, each bounded in size and time, and those whose answer holds a ticker-like
list become JSON sources. ``--browser`` loads the page once in Chromium to find the endpoint a
script draws the ticker from. Exit 0 with a proposed candidate, 1 with none, 2 on usage.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from ticker.cli.common import load, out
from ticker.cli.exits import EXIT_FAILURE, EXIT_OK
from ticker.errors import ConfigError, FetchError, TickerError
from ticker.fetch import FetchResult, FetchSettings

if TYPE_CHECKING:
    from ticker.discover import Candidate

#: The largest page or file discovery reads (a bigger one is cut, not refused).
MAX_PAGE = 5 * 1024 * 1024
#: Same-origin script bundles read for endpoint URLs, and endpoints tried, at most.
MAX_BUNDLES = 8
MAX_ENDPOINTS = 8
MAX_BUNDLE_BYTES = 2 * 1024 * 1024
#: The script pass's network part stops when this many seconds have gone.
SCRIPT_PASS_SECONDS = 20.0
#: The in-process passes run in a thread and are given up on after this long.
ANALYSIS_SECONDS = 30.0


@dataclass(frozen=True, slots=True)
class Fetched:
    body: bytes
    url: str
    charset: str | None
    content_type: str

    @classmethod
    def of(cls, result: FetchResult) -> Fetched:
        return cls(
            body=result.body,
            url=result.url,
            charset=result.charset,
            content_type=result.content_type or "",
        )


def discover_command(args: argparse.Namespace) -> int:
    if args.source:
        if not args.config:
            raise ConfigError("discover --source ID needs -c FILE (the configuration it is in)")
        return asyncio.run(_rediscover(args))
    if not args.target:
        raise ConfigError("discover needs a URL or a saved page (or --source ID -c FILE)")
    return asyncio.run(_discover_target(args))


async def _discover_target(args: argparse.Namespace) -> int:
    page = _saved_page(args.target, base_url=args.base_url) or await _get_url(args.target)
    found = await find(page, expect=args.expect, browser=args.browser)
    return _report(found, args=args, url=page.url)


async def find(page: Fetched, *, expect: Sequence[str], browser: bool) -> list[Candidate]:
    """Every candidate for ``page``, best first: static, in-page script, endpoints, browser."""
    from ticker.decode import decode_body
    from ticker.discover import discover, judge_body

    if _is_json(page):
        text = page.body.decode("utf-8", "replace")
        judged = judge_body(text, page.content_type, expect, url=page.url)
        return [] if judged is None else [judged]
    if not _looks_like_html(page):
        raise TickerError(
            f"{page.url or 'the file'} is not an HTML page ({page.content_type or 'unknown type'}"
            "); give the page that shows the ticker"
        )
    decoded = decode_body(page.body, header_charset=page.charset)
    try:
        found = list(
            await asyncio.wait_for(
                asyncio.to_thread(discover, decoded.text, page.url, tuple(expect)),
                ANALYSIS_SECONDS,
            )
        )
    except TimeoutError:
        raise TickerError(
            f"the page took more than {ANALYSIS_SECONDS:g}s to analyse; save it and try "
            "--expect with a line of its ticker"
        ) from None
    if page.url.startswith(("http://", "https://")):
        found += await _endpoint_candidates(decoded.text, page.url, expect)
    if browser:
        from ticker.browser.discover import browser_candidates

        found += await browser_candidates(page.url, expect, static=found)
    found.sort(key=lambda c: -c.confidence)
    return found


async def _endpoint_candidates(text: str, base_url: str, expect: Sequence[str]) -> list[Candidate]:
    """Endpoints named in inline scripts and a few same-origin bundles, fetched (GET, each
    bounded) and judged; within SCRIPT_PASS_SECONDS in all."""
    from ticker.discover import endpoint_hints, judge_body, script_bundles, script_endpoints

    deadline = time.monotonic() + SCRIPT_PASS_SECONDS
    hints = list(endpoint_hints(text, base_url))
    settings = _settings(max_bytes=MAX_BUNDLE_BYTES, timeout=8.0)
    found: list[Candidate] = []
    from ticker.cli.wiring import build_fetcher

    async with build_fetcher(settings) as fetcher:
        for bundle in list(script_bundles(text, base_url))[:MAX_BUNDLES]:
            if time.monotonic() > deadline:
                break
            try:
                result = await _bounded(fetcher.fetch(bundle), deadline)
            except (FetchError, TimeoutError):
                continue
            script = result.body.decode("utf-8", "replace")
            hints += [h for h in script_endpoints([script], base_url) if h not in hints]
        for url in hints[:MAX_ENDPOINTS]:
            if time.monotonic() > deadline:
                break
            try:
                result = await _bounded(fetcher.fetch(url), deadline)
            except (FetchError, TimeoutError):
                continue
            body = result.body.decode("utf-8", "replace")
            candidate = judge_body(body, result.content_type or "", expect, url=url)
            if candidate is not None:
                found.append(replace(candidate, kind="endpoint", url=url, method="GET"))
    return found


async def _bounded(coro, deadline: float):  # type: ignore[no-untyped-def]
    return await asyncio.wait_for(coro, max(0.1, deadline - time.monotonic()))


def _settings(*, max_bytes: int = MAX_PAGE, timeout: float = 20.0) -> FetchSettings:
    from ticker import __version__
    from ticker.config import DEFAULT_USER_AGENT

    return FetchSettings(
        user_agent=DEFAULT_USER_AGENT.format(version=__version__),
        max_bytes=max_bytes,
        total_timeout=timeout,
        read_timeout=timeout,
        connect_timeout=min(10.0, timeout),
    )


def _saved_page(target: str, *, base_url: str | None = None) -> Fetched | None:
    """A saved page (its first MAX_PAGE bytes); None when ``target`` is not a file."""
    path = Path(target)
    if "://" in target or not path.exists():
        return None
    if not path.is_file():
        raise ConfigError(f"{target!r} is not a file")
    with path.open("rb") as f:
        body = f.read(MAX_PAGE)
    kind = "application/json" if path.suffix.lower() == ".json" else "text/html"
    return Fetched(body=body, url=base_url or "", charset=None, content_type=kind)


async def _get_url(target: str) -> Fetched:
    if not target.startswith(("http://", "https://")):
        raise ConfigError(f"{target!r} is neither an existing file nor an http(s) URL")
    from ticker.cli.wiring import build_fetcher

    try:
        async with build_fetcher(_settings()) as fetcher:
            result = await fetcher.fetch(target)
    except FetchError as exc:
        raise TickerError(f"cannot read {target}: {exc}") from None
    return Fetched.of(result)


def _is_json(page: Fetched) -> bool:
    return "json" in page.content_type.lower()


def _looks_like_html(page: Fetched) -> bool:
    kind = page.content_type.lower()
    if "html" in kind or "xml" in kind:
        return True
    head = page.body[:2048].lstrip().lower()
    return head.startswith((b"<!doctype", b"<html", b"<head", b"<body", b"<div", b"<"))


# -- output ----------------------------------------------------------------------------------


def _report(found: Sequence[Candidate], *, args: argparse.Namespace, url: str) -> int:
    proposed = [c for c in found if c.proposed]
    if args.json:
        # Nothing proposed is nothing found: [] (weaker candidates are shown in the table).
        shown = found if proposed else []
        out(json.dumps([c.as_json() for c in shown], ensure_ascii=False))
        return EXIT_OK if proposed else EXIT_FAILURE
    for n, c in enumerate(found[:5], 1):
        _print_candidate(n, c)
    if not proposed:
        print(
            'no ticker found on this page; try --expect "a line you see on its ticker now"'
            + ("" if args.browser else ", or --browser if a script draws the ticker"),
            file=sys.stderr,
        )
        return EXIT_FAILURE
    out("")
    out("# Paste into your configuration (then: ticker check -c FILE):")
    out(source_block(proposed[0], url))
    return EXIT_OK


def _print_candidate(n: int, c: Candidate) -> None:
    data = c.as_json()
    out(f"#{n}  confidence {data['confidence']:.2f}  ({data['kind']})")
    for key in ("url", "method", "items", "text", "link", "canary"):
        if data.get(key):
            out(f"    {key:<7} {data[key]}")
    lines = data.get("lines") or []
    for line in lines[:8]:
        out(f"    | {line}")
    if len(lines) > 8:
        out(f"    | ... {len(lines) - 8} more")


def _toml(value: str) -> str:
    """A TOML basic string (JSON's escapes are TOML's)."""
    return json.dumps(value, ensure_ascii=False)


def source_block(candidate: Candidate, url: str, *, source_id: str | None = None) -> str:
    data = candidate.as_json()
    target = data.get("url") or url
    host = urlsplit(target).hostname or "site"
    sid = source_id or "".join(ch if ch.isalnum() else "-" for ch in host.lower()).strip("-")
    lines = ["[[sources]]", f"id = {_toml(sid)}", f"url = {_toml(target or 'https://...')}"]
    if data.get("method") and data["method"] != "GET":
        lines.append(f"method = {_toml(data['method'])}")
    if data.get("body"):
        lines.append(f"body = {_toml(data['body'])}")
    headers = data.get("headers") or {}
    if headers:
        inner = ", ".join(f"{_toml(k)} = {_toml(v)}" for k, v in headers.items())
        lines.append(f"headers = {{ {inner} }}")
    if data["kind"] == "render":
        lines.append("render = true")
    for key in ("json_in", "json_var"):
        if data.get(key):
            lines.append(f"{key} = {_toml(data[key])}")
    for key in ("items", "text", "link", "canary"):
        if data.get(key):
            lines.append(f"{key} = {_toml(data[key])}")
    return "\n".join(lines)


# -- a configured source ---------------------------------------------------------------------


async def _rediscover(args: argparse.Namespace) -> int:
    """Discovery on a configured source: the lines it last showed pin the candidate, and the
    proposed selectors are shown beside the configured ones."""
    from ticker.cli.wiring import build_fetcher, existing_store

    config = load(args)
    source = next((s for s in config.sources if s.id == args.source), None)
    if source is None:
        known = ", ".join(s.id for s in config.sources)
        raise ConfigError(f"unknown source {args.source!r} (known: {known})")
    expect = list(args.expect)
    with existing_store(config, readonly=True) as store:
        if store is not None and not expect:
            recent = store.history(sources=[source.id], limit=5, newest_first=True)
            expect = [it.text for it in recent][:3]
    try:
        async with build_fetcher(_settings()) as fetcher:
            result = await fetcher.fetch(
                source.url, headers=source.headers, method=source.method, body=source.body
            )
    except FetchError as exc:
        raise TickerError(f"cannot read source {source.id!r} ({source.url}): {exc}") from None
    found = await find(Fetched.of(result), expect=expect, browser=args.browser)
    if args.json:
        return _report(found, args=args, url=source.url)
    out(f"source {source.id!r}, configured:")
    for key in ("items", "text", "link", "canary"):
        value = getattr(source, key)
        if value is not None:
            out(f"    {key:<7} {value}")
    if not found:
        print(
            "no ticker found on the page as it is now; is it drawn by a script? try --browser",
            file=sys.stderr,
        )
        return EXIT_FAILURE
    out("proposed:")
    _print_candidate(1, found[0])
    out("")
    out(source_block(found[0], source.url, source_id=source.id))
    return EXIT_OK
