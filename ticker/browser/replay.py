"""Replaying a request the browser made, with plain HTTP, to learn which headers it needs.

A proposed endpoint source must work without the browser, and should carry only the headers
the endpoint checks: a Cookie or a session token copied from a browser expires, and headers
nobody checks only make the configuration harder to read. The request is sent as ``ticker``
would send it (its User-Agent and Accept), first with none of the browser's headers, then with
Origin, Referer, Content-Type and the custom ``x-`` headers added one at a time; the headers that
made it work are then each left out once to keep only those it needs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import aiohttp

from ticker import __version__
from ticker.config import DEFAULT_USER_AGENT

MAX_BODY = 2 * 1024 * 1024
#: Headers worth trying, in this order; ``x-`` headers come after them.
TRIED = ("origin", "referer", "content-type", "accept")
#: Never proposed: set by the client, bound to a session, or the browser's own.
NEVER = frozenset(
    {
        "host", "content-length", "connection", "cookie", "authorization", "user-agent",
        "accept-encoding", "accept-language", "cache-control", "pragma", "priority", "te",
        "upgrade-insecure-requests", "keep-alive", "dnt",
    }
)  # fmt: skip
#: The headers ``ticker``'s fetcher sends on every request (ticker.fetch).
BASE_HEADERS = {
    "User-Agent": DEFAULT_USER_AGENT.format(version=__version__),
    "Accept": "text/html,application/xhtml+xml,application/json;q=0.9,*/*;q=0.5",
    "Accept-Encoding": "gzip, deflate",
}

Holds = Callable[[str, str], bool]  # (body, content type) -> it carries the ticker


@dataclass(frozen=True, slots=True, kw_only=True)
class Replayed:
    """What replaying found: whether plain HTTP works, with which headers, and its body."""

    works: bool
    headers: tuple[tuple[str, str], ...]
    body: str = ""
    content_type: str = ""
    tries: int = 0


def candidate_headers(recorded: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """The recorded request's headers worth trying, in the order they are tried."""
    named = {k.lower(): (k, v) for k, v in recorded if not k.startswith(":")}
    ordered = [_title(*named[k]) for k in TRIED if k in named]
    ordered += [
        _title(k, v)
        for low, (k, v) in named.items()
        if low.startswith("x-") and low not in NEVER and low not in TRIED
    ]
    return ordered


def _title(name: str, value: str) -> tuple[str, str]:
    return "-".join(part.capitalize() for part in name.split("-")), value


async def replay(
    *,
    method: str,
    url: str,
    body: str | None,
    recorded: Sequence[tuple[str, str]],
    holds: Holds,
    seconds: float = 8.0,
    max_tries: int = 12,
) -> Replayed:
    """Find the fewest of the recorded headers with which ``method url`` answers what
    ``holds`` accepts. Never raises for the endpoint's trouble: ``works`` is False then."""
    tries = 0
    client_timeout = aiohttp.ClientTimeout(total=seconds, sock_connect=min(5.0, seconds))
    async with aiohttp.ClientSession(timeout=client_timeout, trust_env=True) as session:

        async def attempt(headers: Sequence[tuple[str, str]]) -> tuple[bool, str, str]:
            nonlocal tries
            tries += 1
            try:
                async with session.request(
                    method,
                    url,
                    data=None if body is None else body.encode(),
                    headers={**BASE_HEADERS, **dict(headers)},
                    max_redirects=5,
                ) as resp:
                    if resp.status != 200:
                        return False, "", ""
                    raw = await resp.content.read(MAX_BODY + 1)
                    if len(raw) > MAX_BODY:
                        return False, "", ""
                    text = raw.decode(resp.charset or "utf-8", "replace")
                    return holds(text, resp.content_type), text, resp.content_type
            except (aiohttp.ClientError, OSError, TimeoutError, UnicodeError, LookupError):
                return False, "", ""

        ok, text, kind = await attempt(())
        if ok:
            return Replayed(works=True, headers=(), body=text, content_type=kind, tries=tries)
        used: list[tuple[str, str]] = []
        for header in candidate_headers(recorded):
            if tries >= max_tries:
                break
            used.append(header)
            ok, text, kind = await attempt(used)
            if ok:
                break
        if not ok:
            return Replayed(works=False, headers=tuple(used), tries=tries)
        # Leave out each header once (last added first stays: it is the one that made it work).
        for header in list(used[:-1]):
            if tries >= max_tries:
                break
            fewer = [h for h in used if h != header]
            still, fewer_text, fewer_kind = await attempt(fewer)
            if still:
                used, text, kind = fewer, fewer_text, fewer_kind
        return Replayed(works=True, headers=tuple(used), body=text, content_type=kind, tries=tries)
