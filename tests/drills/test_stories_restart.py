"""Drill: a story formed before a SIGKILL is still the same story after it.

Two outlets report one event in different words. The first outlet's line is delivered, ``ticker
run`` is killed with SIGKILL, and a third outlet's wording arrives while it is down. After the
restart the stories window is rebuilt from the state file: the later lines join the story
formed before the kill, nothing of the story is pushed again, nothing is lost, and a distinct
event after the restart is pushed as usual.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from .harness import (
    Tickers,
    channel_toml,
    integrity,
    query,
    service_toml,
    source_toml,
    timeout,
    write_config,
)
from .servers import PageServer

pytestmark = pytest.mark.drill

CALM = "Parliament opens its winter session"
EVENT = [
    "Israeli strike kills 5 in southern Lebanon",
    "5 killed in Israeli strike on southern Lebanon",
    "Southern Lebanon: Israeli strike kills 5",
]
DISTINCT = "Magnitude 6.1 earthquake strikes off the coast of Japan"


@timeout(90, 180)
def test_a_story_survives_a_sigkill_nothing_repushed_nothing_lost(
    tmp_path: Path, pages: PageServer, sinks: Any, tickers: Tickers, figures: dict[str, Any]
) -> None:
    desk = sinks("desk")
    for sid in ("a", "b", "c"):
        pages.set_lines(f"/{sid}", [CALM])
    cfg = write_config(
        tmp_path,
        service_toml(stop_timeout="5s", story_window="30m"),
        *(source_toml(sid, pages.url(f"/{sid}")) for sid in ("a", "b", "c")),
        channel_toml("desk", desk.url("/desk")),
    )
    state = tmp_path / "state.db"
    t = tickers.start(cfg)
    for sid in ("a", "b", "c"):
        t.wait_baseline(sid)

    def pushed() -> list[str]:
        return [h.message.splitlines()[0] for h in desk.delivered()]

    pages.set_lines("/a", [EVENT[0], CALM])
    t.wait_for(lambda: pushed() == [EVENT[0]], "the story's first line delivered", 20)
    # ... and recorded as sent: a kill before that commit may send it once more (the bounded
    # duplicate of the crash drill), which is not what this drill is about.
    t.wait_for(
        lambda: query(state, "SELECT count(*) FROM deliveries WHERE state = 'sent'")[0][0] == 1,
        "the delivery recorded as sent",
        20,
    )
    t.kill9()
    pages.set_lines("/b", [EVENT[1], CALM])  # while ticker is down

    t = tickers.start(cfg)
    t.wait_for(
        lambda: len(query(state, "SELECT id FROM items WHERE text = ?", EVENT[1])) == 1,
        "the second outlet's line recorded after the restart",
        20,
    )
    pages.set_lines("/c", [EVENT[2], CALM])
    t.wait_for(
        lambda: len(query(state, "SELECT id FROM items WHERE text = ?", EVENT[2])) == 1,
        "the third outlet's line recorded",
        20,
    )
    pages.set_lines("/a", [DISTINCT, EVENT[0], CALM])
    t.wait_for(lambda: DISTINCT in pushed(), "a distinct event delivered", 20)
    time.sleep(1.5)  # anything else queued would arrive now
    assert t.terminate() < 10

    assert pushed() == [EVENT[0], DISTINCT], "the story was pushed again, or a line was lost"
    rows = query(
        state, "SELECT text, story FROM items WHERE kind != 'baseline' ORDER BY first_seen, id"
    )
    stories = dict(rows)
    assert set(stories) == {*EVENT, DISTINCT}
    assert stories[EVENT[1]] == stories[EVENT[0]] == stories[EVENT[2]]
    assert stories[DISTINCT] != stories[EVENT[0]]
    assert integrity(state) == "ok"
    figures.update(
        messages=len(desk.delivered()), lines=len(rows), stories=len(set(stories.values()))
    )
