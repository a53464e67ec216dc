"""Stories: the same event from several sources reaches a channel once.

In-process on the ports' twins (and the real SQLite store where a restart matters): polls of
several sources, the outbox they fill, and what each channel is sent. The scorer itself is
measured in ``test_stories_similarity.py``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ticker.alerting.planner import AlertPlanner
from ticker.config import Config, SourceConfig, parse_config
from ticker.memory import MemoryStore, RecordingNotifier, ScriptedFetcher
from ticker.model import Delivery
from ticker.pipeline import PollOutcome, poll_source, reload_stories
from ticker.ports import StateStore
from ticker.store import SqliteStore
from ticker.stories.desk import StoryDesk, desk_for

T0 = datetime(2026, 1, 1, 12, tzinfo=UTC)

# Real wordings of one event by different outlets, and a distinct event between them.
STRIKE_A = "Israeli strike kills 5 in southern Lebanon"
STRIKE_B = "5 killed in Israeli strike on southern Lebanon"
STRIKE_C = "Southern Lebanon: Israeli strike kills 5"
QUAKE = "Magnitude 6.1 earthquake strikes off the coast of Japan"
OLD = "Parliament opens its winter session"


def config_text(*, window: str = "30m", routes: str = "") -> str:
    sources = "".join(
        f'[[sources]]\nid = "{sid}"\nurl = "https://{sid}.example/news"\nitems = "css:li"\n'
        for sid in ("a", "b", "c")
    )
    return (
        f'[service]\nstate = "state.db"\nstory_window = "{window}"\n{sources}'
        '[[channels]]\nid = "desk"\nurls = ["json://127.0.0.1:9/"]\n'
        '[[channels]]\nid = "beirut"\nurls = ["json://127.0.0.1:9/b"]\n' + routes
    )


def make_config(**kw: str) -> Config:
    return parse_config(config_text(**kw), path=Path("/nonexistent/ticker.toml"), env={})


def page(*lines: str) -> str:
    items = "".join(f"<li>{line}</li>" for line in lines)
    return f"<html><body><ul>{items}</ul></body></html>"


class Desk:
    """Three sources polled on the twins (or a given store), alerts queued per channel."""

    def __init__(self, config: Config, store: StateStore | None = None) -> None:
        self.config = config
        self.store: StateStore = store if store is not None else MemoryStore()
        self.fetcher = ScriptedFetcher()
        self.notifier = RecordingNotifier.for_channels("desk", "beirut")
        self.planner = AlertPlanner(config, self.notifier.by_channel)
        s = config.service
        self.stories: StoryDesk | None = desk_for(s.story_window, s.story_threshold)
        self.now = T0

    def clock(self) -> datetime:
        return self.now

    def source(self, sid: str) -> SourceConfig:
        return next(s for s in self.config.sources if s.id == sid)

    async def start(self) -> None:
        if self.stories is not None:
            await reload_stories(self.stories, self.store, self.clock)

    async def poll(self, sid: str, *lines: str, after: float = 10.0) -> PollOutcome:
        self.now += timedelta(seconds=after)
        source = self.source(sid)
        self.fetcher.script(source.url, page(*lines))
        return await poll_source(
            source,
            fetcher=self.fetcher,
            store=self.store,
            planner=self.planner,
            stories=self.stories,
            clock=self.clock,
        )

    async def baseline(self) -> None:
        for sid in ("a", "b", "c"):
            outcome = await self.poll(sid, OLD)
            assert outcome.baseline

    async def sent(self, channel: str) -> list[Delivery]:
        rows = await self.store.run(self.store.due_deliveries, now=self.now + timedelta(days=1))
        return [d for d in rows if d.channel == channel]


async def test_one_event_from_three_sources_is_pushed_once_and_a_distinct_one_again() -> None:
    desk = Desk(make_config())
    await desk.start()
    await desk.baseline()
    first = await desk.poll("a", STRIKE_A, OLD)
    quake = await desk.poll("b", QUAKE, OLD, after=5)
    second = await desk.poll("b", STRIKE_B, QUAKE, OLD, after=20)
    third = await desk.poll("c", STRIKE_C, OLD, after=40)
    pushed = [d.body for d in await desk.sent("desk")]
    assert len(pushed) == 2, pushed
    assert STRIKE_A in pushed[0]
    assert QUAKE in pushed[1]
    # Every line is recorded, each with its source, in the first line's story.
    story = first.new[0].id
    assert first.new[0].story is not None
    assert first.new[0].story.story == story
    for joined in (second, third):
        (rec,) = joined.new
        assert rec.story is not None
        assert (rec.story.story, rec.story.matched_text) == (story, STRIKE_A) or (
            rec.story.story == story and rec.story.matched_text == STRIKE_B
        )
        assert rec.story.score is not None
        assert rec.story.score >= 0.8
    (q,) = quake.new
    assert q.story is not None
    assert q.story.story == q.id
    assert q.story.matched is None


async def test_a_later_line_with_a_new_number_goes_out_as_an_update_of_the_story() -> None:
    desk = Desk(make_config())
    await desk.start()
    await desk.baseline()
    await desk.poll("a", "Israeli strike on a car in southern Lebanon", OLD)
    joined = await desk.poll("b", "Israeli strike on a car in southern Lebanon kills 2", OLD)
    (rec,) = joined.new
    assert rec.story is not None
    assert rec.story.matched is not None, "the line joins the story"
    bodies = [d.body for d in await desk.sent("desk")]
    assert len(bodies) == 2
    assert bodies[1].startswith("Update:")
    assert "kills 2" in bodies[1]
    # The same number again from a third outlet is no news.
    await desk.poll("c", "Israeli strike on a car in southern Lebanon kills 2", OLD)
    assert len(await desk.sent("desk")) == 2


async def test_a_channel_that_did_not_get_the_first_line_gets_the_later_one_as_its_first() -> None:
    routes = '[[routes]]\nchannels = ["desk"]\n[[routes]]\nsources = ["b"]\nchannels = ["beirut"]\n'
    desk = Desk(make_config(routes=routes))
    await desk.start()
    await desk.baseline()
    await desk.poll("a", STRIKE_A, OLD)
    await desk.poll("b", STRIKE_B, OLD)
    assert [STRIKE_A in d.body for d in await desk.sent("desk")] == [True]
    beirut = await desk.sent("beirut")
    assert len(beirut) == 1
    assert STRIKE_B in beirut[0].body
    assert not beirut[0].body.startswith("Update:")


async def test_with_stories_off_every_source_is_pushed_as_before() -> None:
    desk = Desk(make_config(window="0"))
    assert desk.stories is None
    await desk.baseline()
    first = await desk.poll("a", STRIKE_A, OLD)
    await desk.poll("b", STRIKE_B, OLD)
    assert len(await desk.sent("desk")) == 2
    assert first.new[0].story is None


async def test_a_line_of_the_same_source_never_joins_its_own_earlier_line() -> None:
    desk = Desk(make_config())
    await desk.start()
    await desk.baseline()
    await desk.poll("a", STRIKE_A, OLD)
    again = await desk.poll("a", STRIKE_C, STRIKE_A, OLD)
    (rec,) = again.new
    assert rec.story is not None
    assert rec.story.story == rec.id  # a story of its own
    assert len(await desk.sent("desk")) == 2


async def test_a_line_past_the_window_starts_a_story_of_its_own() -> None:
    desk = Desk(make_config(window="10m"))
    await desk.start()
    await desk.baseline()
    await desk.poll("a", STRIKE_A, OLD)
    late = await desk.poll("b", STRIKE_B, OLD, after=11 * 60)
    (rec,) = late.new
    assert rec.story is not None
    assert rec.story.matched is None
    assert len(await desk.sent("desk")) == 2


@pytest.mark.parametrize("crash", [False, True], ids=["restart", "sigkill-like"])
async def test_a_story_formed_before_a_restart_is_the_same_story_after_it(
    tmp_path: Path, crash: bool
) -> None:
    config = make_config()
    store = SqliteStore.open(tmp_path / "state.db")
    before = Desk(config, store)
    await before.start()
    await before.baseline()
    first = await before.poll("a", STRIKE_A, OLD)
    await before.poll("b", STRIKE_B, OLD)
    if crash:
        # What a SIGKILL leaves: the file as committed; nothing of the process's memory.
        store.conn.close()
    else:
        store.close()
    reopened = SqliteStore.open(tmp_path / "state.db")
    try:
        after = Desk(config, reopened)
        after.now = before.now
        await after.start()  # the window is loaded from the file
        third = await after.poll("c", STRIKE_C, OLD)
        (rec,) = third.new
        assert rec.story is not None
        assert rec.story.story == first.new[0].id
        pushed = await after.sent("desk")
        assert [STRIKE_A in d.body for d in pushed] == [True], "nothing re-pushed, nothing lost"
        stories = {it.text: it.story for it in reopened.history(include_baseline=False) if it.story}
        assert set(stories.values()) == {first.new[0].id}
        assert len(stories) == 3
    finally:
        reopened.close()


async def test_an_older_state_file_read_only_shows_its_history_without_stories(
    tmp_path: Path,
) -> None:
    import sqlite3

    from ticker.store.connection import MIGRATIONS

    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    for script in MIGRATIONS[:3]:
        conn.executescript(script)
    conn.execute("PRAGMA user_version = 3")
    conn.execute(
        "INSERT INTO items (source, key, text, kind, first_seen, last_seen) "
        "VALUES ('a', 'k', 'A line', 'new', '2026-01-01T00:00:00.000000Z', "
        "'2026-01-01T00:00:00.000000Z')"
    )
    conn.commit()
    conn.close()
    store = SqliteStore.open(path, readonly=True)
    try:
        (item,) = list(store.history())
        assert (item.text, item.story) == ("A line", None)
        # What `ticker check` reads, on a file from before sources.present_seen.
        inputs = store.detection_inputs("a", ["k"], gone_after=item.first_seen)
        assert inputs.known["k"].last_seen == item.last_seen == item.first_seen
    finally:
        store.close()
