"""Drill 8 (body cap, timeouts, redirects, charset chain, bounded extraction, control characters
removed): hostile pages served to ``ticker run`` beside a normal one.

Fifteen hostile sources (compression bombs, a 50 MB page with and without Content-Length, a
1 byte/s trickle, a redirect loop, a redirect to ``file:``, invalid UTF-8, windows-1256 and cp1252
pages whose header says utf-8, 10,000-deep nesting, a 1 MB text node, NUL and ESC bytes, bidi
overrides) are polled every second beside a normal source. Measured: each poll's time, the
process's peak RSS (VmHWM), the text that reaches the channel or the error that reaches the logs,
and the normal source's latency.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from . import hostile as h
from .harness import (
    Feed,
    Ticker,
    Tickers,
    channel_toml,
    mb,
    percentile,
    pick,
    q,
    service_toml,
    source_toml,
    tally,
    timeout,
    write_config,
)
from .servers import PageServer

pytestmark = pytest.mark.drill

TOTAL_TIMEOUT = 5.0
RSS_LIMIT_MB = 150
RUN_FOR = pick(14.0, 120.0)  # seconds of hostile polling after the hostile lines appear
GAP = 1.5

ERRORS = {  # source id -> (path, what the error must say)
    "gzip-bomb": ("/gz", "too large"),
    "deflate-bomb": ("/deflate", "too large"),
    "brotli-bomb": ("/br", "too large"),
    "big-declared": ("/big-cl", "content-length"),
    "big-chunked": ("/big", "too large"),
    "trickle": ("/trickle", "timed out"),
    "redirect-loop": ("/loop", "redirects"),
    "redirect-file": ("/to-file", "non-http"),
}

DEEP_BEFORE = "Deep page: a line before ten thousand levels of nesting"
BAD_UTF8 = b"Invalid bytes \xff\xfe here and \xc3\x28 there"
BAD_UTF8_TEXT = "Invalid bytes \ufffd\ufffd here and \ufffd( there"
NUL_ESC_TEXT = "Control bytes inside[31m this red[0m line"
BIDI_TEXT = "Bidi test evil override and isolate around عاجل: خبر"
HUGE = 1_000_000


def content_pages(phase: str) -> dict[str, tuple[bytes, str]]:
    """Source id -> (body, Content-Type) in phase "a" (baseline) or "b" (the hostile line)."""
    b = phase == "b"
    utf8 = "text/html; charset=utf-8"  # every header says utf-8; two pages lie
    bad = h.page_bytes([*h.ARABIC[:2], "MARK"], "utf-8").replace(
        b"MARK", BAD_UTF8 if b else b"A calm line with valid bytes only"
    )
    return {
        "bad-utf8": (bad, utf8),
        "cp1256-lying": (h.page_bytes(h.ARABIC[: 3 if b else 2], "cp1256"), utf8),
        "cp1252-lying": (h.page_bytes(h.LATIN[: 3 if b else 2], "cp1252"), utf8),
        "deep-nesting": (
            h.deep_page(
                [DEEP_BEFORE] + (["Deep page: a new line before the nesting"] if b else []),
                "Deep page: a line inside the nesting",
                ["Deep page: a line after the nesting"],
                10_000,
            ).encode(),
            utf8,
        ),
        "huge-node": (
            h.huge_node_page(["A calm line beside a huge one"], HUGE if b else 100).encode(),
            utf8,
        ),
        "nul-esc": (
            h.page_bytes(
                ["A calm line before control bytes", *([h.NUL_ESC_LINE] if b else [])], "utf-8"
            ),
            utf8,
        ),
        "bidi": (
            h.page_bytes(
                ["A calm line before bidi overrides", *([h.BIDI_LINE] if b else [])], "utf-8"
            ),
            utf8,
        ),
    }


EXPECTED_TEXT = {
    "bad-utf8": BAD_UTF8_TEXT,
    "cp1256-lying": h.ARABIC[2],
    "cp1252-lying": h.LATIN[2],
    "deep-nesting": "Deep page: a new line before the nesting",
    "nul-esc": NUL_ESC_TEXT,
    "bidi": BIDI_TEXT,
}


def route_toml(channel: str, sources: list[str]) -> str:
    return f"\n[[routes]]\nchannels = [{q(channel)}]\nsources = [{', '.join(map(q, sources))}]\n"


class RssSampler(threading.Thread):
    def __init__(self, ticker: Ticker) -> None:
        super().__init__(name="rss-sampler", daemon=True)
        self.ticker = ticker
        self.samples: list[tuple[float, int]] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(0.2):
            kb = self.ticker.status_kb("VmRSS")
            if kb is None:
                return
            self.samples.append((time.monotonic() - self.ticker.started, kb))


@timeout(150, 600)
def test_hostile_pages_cost_bounded_time_and_memory_and_spare_the_other_sources(
    tmp_path: Path,
    pages: PageServer,
    sinks: Any,
    tickers: Tickers,
    figures: dict[str, Any],
) -> None:
    desk, hostile_sink = sinks("desk"), sinks("hostile")
    gz, df, br = h.gzip_bomb(), h.deflate_bomb(), h.brotli_bomb()
    assert h.expanded_size(gz[: 64 * 1024], 31) > 5 * h.MIB  # a bomb past the 5 MB cap
    pages.route("/gz", h.bomb(gz, "gzip"))
    pages.route("/deflate", h.bomb(df, "deflate"))
    pages.route("/br", h.bomb(br, "br"))
    pages.route("/big-cl", h.flood(50 * h.MIB, declare_length=True))
    pages.route("/big", h.flood(50 * h.MIB, declare_length=False))
    pages.route("/trickle", h.trickle(1.0))
    pages.route("/loop", h.redirect("/loop"))
    pages.route("/to-file", h.redirect("file:///etc/passwd"))
    for sid, (body, ctype) in content_pages("a").items():
        pages.set(f"/{sid}", body, content_type=ctype)
    feed = Feed("hp")
    calm = ["A calm line on the normal page"]
    pages.set_lines("/news", calm)

    content_ids = list(content_pages("a"))
    hostile_ids = list(ERRORS) + content_ids
    cfg = write_config(
        tmp_path,
        service_toml(timeout=f"{TOTAL_TIMEOUT:g}s", stop_timeout="5s", burst=100),
        source_toml("news", pages.url("/news")),
        *(source_toml(sid, pages.url(path)) for sid, (path, _) in ERRORS.items()),
        *(source_toml(sid, pages.url(f"/{sid}")) for sid in content_ids),
        channel_toml("desk", desk.url("/desk")),
        channel_toml("hostile", hostile_sink.url("/hostile")),
        route_toml("desk", ["news"]),
        route_toml("hostile", hostile_ids),
    )
    t = tickers.start(cfg, "--log-level", "debug")  # every poll logged: polls are counted
    sampler = RssSampler(t)
    sampler.start()
    t.wait_baseline("news")
    for sid in content_ids:
        t.wait_for(
            lambda sid=sid: (
                t.events("poll", source=sid, baseline=True)
                or t.events("poll", source=sid, status="error")
            ),
            f"the first poll of {sid}",
            30,
        )
    for sid, (body, ctype) in content_pages("b").items():
        pages.set(f"/{sid}", body, content_type=ctype)

    latency: list[float] = []
    pattern = feed.pattern()
    started = time.monotonic()
    while time.monotonic() - started < RUN_FOR:
        new = feed.add()
        pages.set_lines("/news", feed.shown() + calm)
        shown = time.monotonic()
        tok = feed.tokens()[-1]
        t.until(lambda tok=tok: tok in tally_of(desk, pattern).counts, 8)
        arrived = [x.started for x in desk.delivered() if tok in x.message]
        latency.append(arrived[0] - shown if arrived else float("inf"))
        assert new
        assert t.alive(), t.tail()
        time.sleep(max(0.0, shown + GAP - time.monotonic()))
    # The hostile lines have had all this time to arrive.
    t.until(
        lambda: all(
            delivered_text(hostile_sink, sid) or t.events("poll", source=sid, status="error")
            for sid in EXPECTED_TEXT
        ),
        10,
    )
    hwm = t.status_kb("VmHWM")
    stop_took = t.terminate()
    sampler.stop.set()
    sampler.join(5)

    polls = {sid: t.events("poll", source=sid) for sid in hostile_ids}
    slowest = {sid: max((p["duration_ms"] for p in ps), default=None) for sid, ps in polls.items()}
    errors = {
        sid: next((p.get("error") for p in ps if p.get("error")), None) for sid, ps in polls.items()
    }
    texts = {sid: delivered_text(hostile_sink, sid) for sid in [*EXPECTED_TEXT, "huge-node"]}
    rss = [kb for _, kb in sampler.samples]
    figures.update(
        peak_rss_mb=mb(hwm),
        rss_mb_min_max=(mb(min(rss)), mb(max(rss))) if rss else None,
        polls_per_hostile_source={sid: len(ps) for sid, ps in polls.items()},
        slowest_poll_ms=slowest,
        errors={sid: (e or "")[:120] for sid, e in errors.items() if sid in ERRORS},
        hostile_texts={sid: (v or "")[:80] for sid, v in texts.items()},
        huge_node_text_chars=len(texts["huge-node"] or ""),
        news_latency_p50_s=round(percentile(latency, 50), 2),
        news_latency_max_s=round(max(latency), 2),
        sigterm_exit_s=round(stop_took, 2),
    )

    # Bounded memory: the bombs were stopped at the cap, not inflated.
    assert hwm is not None
    assert hwm / 1024 < RSS_LIMIT_MB, f"peak RSS {mb(hwm)} MB"
    # Bounded time: every poll ended within the total timeout (and a margin).
    for sid, ms in slowest.items():
        assert ms is not None, f"{sid} was never polled"
        assert ms < (TOTAL_TIMEOUT + 2) * 1000, f"{sid}: a poll took {ms} ms"
    # A clear error for each page that cannot be read.
    for sid, (_, says) in ERRORS.items():
        assert says in (errors[sid] or "").lower(), (sid, errors[sid])
    # The right text for each page that can be read (or, past the parser's depth limit, the
    # right text or a clear error: both are honest).
    for sid in content_ids:
        bad = [p["error"] for p in polls[sid] if p.get("error")]
        if sid == "deep-nesting" and bad:
            assert "nest" in bad[0].lower() or "deep" in bad[0].lower(), bad[0]
            continue
        assert not bad, (sid, bad[:1])
        if sid in EXPECTED_TEXT:
            assert texts[sid] == EXPECTED_TEXT[sid], (sid, texts[sid])
    assert t.events("undecodable_bytes", source="bad-utf8")
    huge = texts["huge-node"] or ""
    assert huge.startswith("Huge node abcdefghij")
    assert len(huge) <= 1000
    # Nothing read from the file system, nothing shown from it.
    everything = tickers.all_output() + "".join(x.message for x in hostile_sink.hits())
    assert "root:x:0:0" not in everything
    assert "Traceback" not in t.stderr
    # The normal source never waited for the hostile ones.
    assert tally_of(desk, pattern).missing(feed.tokens()) == []
    assert max(latency) < 4.0, f"the normal source's lines took up to {max(latency):.1f}s"
    assert t.proc.returncode == 0


def tally_of(sink: Any, pattern: Any) -> Any:
    return tally([(x.title, x.message) for x in sink.delivered()], pattern)


def delivered_text(sink: Any, sid: str) -> str | None:
    """The first line of the first alert from source ``sid`` other than its calm lines."""
    for hit in sink.delivered():
        if hit.title != f"Source {sid}":
            continue
        first = hit.message.splitlines()[0] if hit.message else ""
        return first
    return None


@timeout(60, 60)
def test_lines_after_deep_nesting_are_read_or_the_loss_is_reported(
    tmp_path: Path, pages: PageServer, tickers: Tickers, figures: dict[str, Any]
) -> None:
    """'bounded extraction' and "the right text or a clear error": a page whose ticker follows
    10,000 levels of nesting (an ad widget, say) must not lose its lines without a word."""
    after = "Deep page: a line after the nesting"
    pages.set(
        "/deep",
        h.deep_page([DEEP_BEFORE], "Deep page: a line inside the nesting", [after], 10_000),
    )
    cfg = write_config(tmp_path, service_toml(), source_toml("deep", pages.url("/deep")))
    check = tickers.command("check", "-c", str(cfg), "--format", "jsonl", within=30)
    printed = [line for line in check.stdout.splitlines() if line.strip()]
    warned = [
        e
        for e in check.events()
        if e.get("level") in ("warning", "error") and e.get("event") != "config_warning"
    ]
    figures.update(
        exit=check.proc.returncode,
        items_printed=printed,
        warnings=[e.get("event") for e in warned],
        stderr=check.stderr[-300:],
    )
    assert check.proc.returncode in (0, 1)
    assert "Traceback" not in check.stderr
    reported = warned or "nest" in check.stderr.lower() or "depth" in check.stderr.lower()
    assert DEEP_BEFORE in check.stdout or reported
    assert after in check.stdout or reported, (
        f"the line after the nesting vanished without a word: printed {printed}, "
        f"stderr {check.stderr[-500:]!r}"
    )
