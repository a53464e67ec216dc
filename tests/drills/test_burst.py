"""Drill 5 (a burst of new items, pacing): 200 new lines on one poll, with ``burst = 5``.

The page gains 200 lines at once. They travel as digests of 20 lines (``route.DIGEST_SIZE``) to a
webhook and to e-mail (aiosmtpd). Counted at the receivers: all 200 lines, each once; no two
sends to one URL closer than ``min_interval`` x 0.8 (our pacing holds); and the burst drains at
that pace, not at apprise's own per-plugin sleeps (e-mail 5.5 s) or any slower tick.
"""

from __future__ import annotations

import itertools
import time
from pathlib import Path
from typing import Any

import pytest

from .harness import (
    Feed,
    Tickers,
    channel_toml,
    pick,
    service_toml,
    source_toml,
    tally,
    timeout,
    write_config,
)
from .servers import PageServer, SmtpSink

pytestmark = pytest.mark.drill

LINES = 200
DIGEST = 20
MIN_INTERVAL = pick(0.5, 1.0)
BURSTS = pick(1, 3)


@timeout(120, 600)
def test_a_burst_of_200_lines_arrives_whole_in_paced_digests(
    tmp_path: Path,
    pages: PageServer,
    sinks: Any,
    smtp: SmtpSink,
    tickers: Tickers,
    figures: dict[str, Any],
) -> None:
    desk = sinks("desk")
    feed = Feed("bu")
    pages.set_lines("/news", ["A calm line shown before the burst"])
    cfg = write_config(
        tmp_path,
        service_toml(burst=5),
        source_toml("news", pages.url("/news")),
        channel_toml("desk", desk.url("/desk"), min_interval=f"{MIN_INTERVAL:g}s"),
        channel_toml("mail", smtp.url(), min_interval=f"{MIN_INTERVAL:g}s"),
    )
    t = tickers.start(cfg)
    t.wait_baseline("news")
    pattern = feed.pattern()
    drains: list[float] = []
    for n in range(1, BURSTS + 1):
        new = feed.add(LINES)
        # A ticker holds at most 200 lines worth extracting (extract.MAX_ITEMS): the old
        # lines have scrolled away.
        pages.set_lines("/news", list(reversed(new)))
        shown = time.monotonic()
        expected = feed.tokens()

        def arrived(expected: list[str] = expected) -> bool:
            web = tally([(h.title, h.message) for h in desk.delivered()], pattern)
            mail = tally([(m.subject, m.text) for m in smtp.mails], pattern)
            return not web.missing(expected) and not mail.missing(expected)

        ok = t.until(arrived, LINES / DIGEST * MIN_INTERVAL * 4 + 30)
        drains.append(round(time.monotonic() - shown, 1))
        assert ok, f"burst {n}: not every line arrived\n{t.tail()}"
    time.sleep(1.0)
    assert t.terminate() < 10
    assert t.proc.returncode == 0, t.tail()

    expected = feed.tokens()
    web = tally([(h.title, h.message) for h in desk.delivered()], pattern)
    mail = tally([(m.subject, m.text) for m in smtp.mails], pattern)
    web_gaps = [b.started - a.started for a, b in itertools.pairwise(desk.hits())]
    mail_gaps = [b.received - a.received for a, b in itertools.pairwise(smtp.mails)]
    digests = LINES // DIGEST * BURSTS
    figures.update(
        lines=LINES * BURSTS,
        min_interval_s=MIN_INTERVAL,
        webhook_messages=web.messages,
        mails=mail.messages,
        drain_s=drains,
        expected_drain_s=round((LINES // DIGEST - 1) * MIN_INTERVAL, 1),
        webhook_min_gap_s=round(min(web_gaps), 3),
        webhook_mean_gap_s=round(sum(web_gaps) / len(web_gaps), 3),
        mail_min_gap_s=round(min(mail_gaps), 3),
        mail_mean_gap_s=round(sum(mail_gaps) / len(mail_gaps), 3),
    )
    for got in (web, mail):
        assert got.missing(expected) == []
        assert got.duplicates == 0
        assert got.messages == digests
    titles = sorted({h.title for h in desk.delivered()})
    assert f"Source news: {LINES} new items (1/{LINES // DIGEST})" in titles, titles
    for hit in desk.delivered():
        assert len(pattern.findall(hit.message)) == DIGEST
    # Pacing: never faster than min_interval (x 0.8 for timer slack)...
    assert min(web_gaps) >= MIN_INTERVAL * 0.8, web_gaps
    assert min(mail_gaps) >= MIN_INTERVAL * 0.8, mail_gaps
    # ...and the burst drains at that pace (plus a little for the sends themselves).
    for gaps, name in ((web_gaps, "webhook"), (mail_gaps, "e-mail")):
        within = [g for g in gaps if g < 30]  # gaps between bursts are not pacing
        mean = sum(within) / len(within)
        assert mean <= MIN_INTERVAL * 1.25 + 0.1, (
            f"{name}: a digest every {mean:.2f}s on average, min_interval {MIN_INTERVAL:g}s"
        )
