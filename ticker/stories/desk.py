"""The stories desk: which story each new line joins, from the recent lines of other sources.

Pure, and used from one thread (the store's): the pipeline asks it inside the poll's
transaction, tells it the lines once recorded, and reloads it from the store after a failed
write or a restart, so a story formed before a restart or a SIGKILL is the same story after it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from ticker.model import ItemKind, Recorded, StoryLine, StoryLink
from ticker.stories.similarity import DEFAULT_THRESHOLD, features
from ticker.stories.window import Match, StoryWindow

#: Lines the window holds at most, whatever the window's length: memory stays bounded.
MAX_WINDOW_LINES = 5000


class StoryDesk:
    """Assigns new lines to stories (``story_window`` seconds; ``threshold`` on the score)."""

    def __init__(
        self,
        *,
        window: float,
        threshold: float = DEFAULT_THRESHOLD,
        max_lines: int = MAX_WINDOW_LINES,
    ) -> None:
        self.window = window
        self.threshold = threshold
        self.max_lines = max_lines
        self._lines = StoryWindow(window, max_lines=max_lines)
        # When each recent story's first line was first seen (lag behind the first reporter).
        self._started: dict[int, datetime] = {}

    def since(self, now: datetime) -> datetime:
        """The first-seen time of the oldest line a new line may join."""
        return now - timedelta(seconds=self.window)

    def reload(self, lines: Iterable[StoryLine]) -> None:
        """Start over from the recorded lines (oldest first): after a restart or a failed write."""
        self._lines = StoryWindow(self.window, max_lines=self.max_lines)
        self._started = {}
        for line in lines:
            self._lines.add(
                line.id, line.story, line.source_id, line.text, line.first_seen.timestamp()
            )
            self._started.setdefault(line.story, line.first_seen)

    def assign(
        self,
        source_id: str,
        recorded: Sequence[Recorded],
        *,
        now: datetime,
        story_of: Callable[[int], int | None],
    ) -> list[Recorded]:
        """Each line with its story: a source's own edit stays in the story of the line it
        edits; another line joins the best match of another source's recent lines at or above
        the threshold, or starts a story of its own (whose id is its own row id)."""
        at = now.timestamp()
        self._lines.expire(at)
        if len(self._started) > self.max_lines:
            oldest = self.since(now) - timedelta(seconds=self.window)
            self._started = {k: v for k, v in self._started.items() if v >= oldest}
        out = []
        for r in recorded:
            facts = features(r.item.text).numbers
            link: StoryLink | None = None
            edited = r.item.update_of
            if r.item.kind is ItemKind.UPDATE and edited is not None:
                story = story_of(edited.id)
                if story is not None:
                    link = StoryLink(
                        story=story,
                        matched=edited.id,
                        matched_text=edited.text,
                        facts=facts,
                        started=self._started.get(story),
                    )
            if link is None:
                match = self._lines.match(source_id, r.item.text, at, self.threshold, updates=True)
                if match is None:
                    link = StoryLink(story=r.id, facts=facts, started=r.first_seen)
                else:
                    link = StoryLink(
                        story=match.story_id,
                        matched=match.line_id,
                        matched_text=match.text,
                        score=round(match.score, 3),
                        facts=facts,
                        started=self._started.get(match.story_id),
                    )
            out.append(replace(r, story=link))
        return out

    def explain(self, source_id: str, text: str, *, now: datetime) -> Match | None:
        """The line and story a new line would join now, with the score (``ticker check``)."""
        at = now.timestamp()
        self._lines.expire(at)
        return self._lines.match(source_id, text, at, self.threshold, updates=True)

    def remember(self, source_id: str, recorded: Sequence[Recorded]) -> None:
        """Lines now recorded, for later lines of other sources to join."""
        for r in recorded:
            if r.story is not None:
                self._lines.add(
                    r.id, r.story.story, source_id, r.item.text, r.first_seen.timestamp()
                )
                self._started.setdefault(r.story.story, r.first_seen)


def desk_for(window: float, threshold: float) -> StoryDesk | None:
    """The desk of ``[service] story_window`` and ``story_threshold``; None when stories are
    off (a window of "0")."""
    return StoryDesk(window=window, threshold=threshold) if window > 0 else None
