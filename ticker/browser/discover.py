"""``ticker discover --browser``: the endpoint a script draws the ticker from, as a plain source.

The page is loaded once in Chromium (``record``). The rendered DOM tells which lines the ticker
shows (``ticker.discover.discover`` on it, or the ``--expect`` lines); the recorded response that
carries those lines is the endpoint. It is replayed with plain HTTP to learn the headers it
needs (``replay``), so that polling it never needs the browser. Only when no endpoint carries
the lines is a ``render = true`` source proposed, with the rendered DOM's selectors.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, replace

from ticker.browser.recorder import Exchange, Recording, record
from ticker.browser.replay import replay
from ticker.discover import Candidate, discover, judge_body
from ticker.discover.lines import comparable
from ticker.errors import ExtractError, TickerError
from ticker.extract import compile_selector, extract, parse_page
from ticker.redact import public_url

#: The whole browser pass, recording and replays included, stops after this long.
OVERALL_SECONDS = 45.0
RECORD_SECONDS = 25.0
#: The share of the ticker's lines a response must carry to be its endpoint.
MATCH = 0.6
#: A found endpoint that plain HTTP reproduces.
ENDPOINT_CONFIDENCE = 0.95
#: Responses examined for the lines (the largest bodies are the least likely).
MAX_EXAMINED = 60


@dataclass(frozen=True, slots=True, kw_only=True)
class _Match:
    exchange: Exchange
    candidate: Candidate
    overlap: float


async def browser_candidates(
    url: str, expect: Sequence[str], static: Sequence[Candidate]
) -> list[Candidate]:
    """Candidates the browser finds on ``url``: an ``endpoint`` one (plain HTTP, with the
    method, body and headers it needs) when a response carries the ticker's lines, else a
    ``render`` one from the rendered DOM; ``[]`` when the served HTML's candidates in ``static``
    already hold the ticker the browser shows.

    Raises TickerError (BrowserUnavailable without Playwright or Chromium; FetchError when the
    page does not load or the browser crashes; on the OVERALL_SECONDS deadline)."""
    if not url.startswith(("http://", "https://")):
        raise TickerError("--browser needs the page's http(s) URL, not a saved file")
    try:
        return await asyncio.wait_for(_find(url, expect, static), OVERALL_SECONDS)
    except TimeoutError:
        raise TickerError(
            f"the browser pass on {public_url(url)} took more than {OVERALL_SECONDS:g}s; "
            "try again, or give --expect with a line of its ticker"
        ) from None


async def _find(url: str, expect: Sequence[str], static: Sequence[Candidate]) -> list[Candidate]:
    recording = await record(url, timeout=RECORD_SECONDS)
    wanted = [e for e in expect if comparable(e)]
    dom = await asyncio.to_thread(discover, recording.html, recording.final_url, tuple(wanted))
    best_dom = dom[0] if dom and dom[0].proposed else None
    lines = wanted or (list(best_dom.lines) if best_dom is not None else [])
    if lines and any(c.proposed and overlap(lines, c.lines) >= MATCH for c in static):
        return []  # the served HTML holds the ticker: the static candidate needs no browser
    matches = await asyncio.to_thread(_matches, recording, lines)
    for match in matches[:3]:
        found = await _confirmed(match, lines)
        if found is not None:
            return [found]
    if best_dom is not None:
        return [_render(best_dom, url, ("no recorded response carries the ticker's lines",))]
    if dom:
        return [_render(dom[0], url, ("the rendered page shows no clear ticker",))]
    return []


def _render(candidate: Candidate, url: str, reasons: tuple[str, ...]) -> Candidate:
    return replace(candidate, kind="render", url=url, method="GET", reasons=reasons)


def overlap(wanted: Sequence[str], have: Sequence[str]) -> float:
    """The share of ``wanted`` lines found in ``have`` (either inside the other, compared as
    people compare lines)."""
    want = [w for w in (comparable(x) for x in wanted) if w]
    got = [h for h in (comparable(x) for x in have) if h]
    if not want or not got:
        return 0.0
    hits = sum(1 for w in want if any(w == h or w in h or (len(h) >= 12 and h in w) for h in got))
    return hits / len(want)


# -- which response carries the lines --------------------------------------------------------


def _matches(recording: Recording, lines: Sequence[str]) -> list[_Match]:
    """Recorded responses that carry ``lines`` (or, without lines, a ticker-like list), best
    first. Runs in a thread: it parses bodies."""
    pages = {recording.url, recording.final_url}
    bodies = [
        ex
        for ex in recording.exchanges
        if ex.body and not (ex.resource_type == "document" and ex.url in pages)
    ]
    bodies.sort(key=lambda ex: len(ex.body or ""))
    out: list[_Match] = []
    for ex in bodies[:MAX_EXAMINED]:
        candidate = _read(ex.body or "", ex.content_type, ex.url, lines)
        if candidate is None:
            continue
        share = overlap(lines, candidate.lines) if lines else 0.0
        if lines and share < MATCH:
            continue
        out.append(_Match(exchange=ex, candidate=candidate, overlap=share))
    scripted = ("xhr", "fetch")
    out.sort(
        key=lambda m: (
            -m.overlap,
            m.exchange.resource_type not in scripted,
            -m.candidate.confidence,
            len(m.exchange.body or ""),
        )
    )
    return out


def _read(body: str, content_type: str, url: str, lines: Sequence[str]) -> Candidate | None:
    """The best ticker candidate of one response: a JSON list (pinned by the first lines when
    it holds them) or, for HTML, the page's best candidate."""
    if "html" in content_type:
        found = discover(body, url, tuple(lines[:3]))
        best = max(found, key=lambda c: overlap(lines, c.lines), default=None) if lines else None
        return best if best is not None else (found[0] if found else None)
    tried = [judge_body(body, content_type, lines[:3]), judge_body(body, content_type, lines[:1])]
    tried.append(judge_body(body, content_type, ()))
    found = [c for c in tried if c is not None]
    if not found:
        return None
    if not lines:
        return found[0]
    return max(found, key=lambda c: overlap(lines, c.lines))


def _lines_of(candidate: Candidate, body: str, content_type: str, url: str) -> list[str]:
    """What ``ticker once`` would read from ``body`` with the candidate's selectors."""
    is_json = candidate.items.startswith("jmespath:")
    try:
        page = parse_page(body, is_json=is_json)
        result = extract(
            page,
            items=compile_selector(candidate.items),
            text=compile_selector(candidate.text) if candidate.text else None,
            link=compile_selector(candidate.link) if candidate.link else None,
            base_url=url,
        )
    except (ExtractError, ValueError):
        return []
    return [item.text for item in result.items]


# -- does plain HTTP do it -------------------------------------------------------------------


async def _confirmed(match: _Match, lines: Sequence[str]) -> Candidate | None:
    """The endpoint candidate when plain HTTP reads the same lines from it, with the fewest
    of the browser's headers; else None."""
    ex, candidate = match.exchange, match.candidate
    wanted = list(lines) or list(candidate.lines)

    def holds(body: str, content_type: str) -> bool:
        read = _lines_of(candidate, body, content_type, ex.url)
        return overlap(wanted, read) >= MATCH

    replayed = await replay(
        method=ex.method,
        url=ex.url,
        body=ex.post_data,
        recorded=ex.request_headers,
        holds=holds,
    )
    if not replayed.works:
        return None
    read = _lines_of(candidate, replayed.body, replayed.content_type, ex.url)
    sure = bool(lines) and match.overlap >= MATCH
    return replace(
        candidate,
        kind="endpoint",
        url=ex.url,
        method=ex.method,
        body=ex.post_data,
        headers=replayed.headers,
        lines=tuple(read) or candidate.lines,
        confidence=max(candidate.confidence, ENDPOINT_CONFIDENCE) if sure else candidate.confidence,
        canary=None,
        reasons=(
            f"{ex.resource_type} {ex.method} carries {match.overlap:.0%} of the ticker's lines",
            f"plain HTTP reads it with {len(replayed.headers)} header(s), {replayed.tries} tries",
        ),
    )
