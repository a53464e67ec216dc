"""What a channel is sent of a story: its first line, and later only news.

Pure. A channel that has a story is not sent a later line of it from another source, unless the
line states a number the channel was not told ("5 killed" after "strike on a village"): that
goes out as an update of the story. A channel that a later line is routed to and that did not
get the story's first line (another route) gets that line as its first. A source's own material
edit (kind ``update``) goes out as today.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from ticker.alerting.routing import AlertItem

Told = Mapping[int, Mapping[str, frozenset[str]]]  # story -> channel -> numbers it was told


class StoryGate:
    """Decides, item by item and channel by channel, what of a story is sent; remembers what
    it let through (``told``: what to record with the messages)."""

    def __init__(self, told: Told) -> None:
        self._had = {story: dict(channels) for story, channels in told.items()}
        self.told: dict[tuple[int, str], frozenset[str]] = {}

    def __call__(self, item: AlertItem, channel: str) -> AlertItem | None:
        """The item to send ``channel`` (relabelled as an update of the story), or None."""
        if item.story is None:
            return item
        had = self._had.get(item.story, {}).get(channel)
        if had is None or item.kind == "update":
            out: AlertItem | None = item
        elif item.facts - had:
            out = replace(item, kind="update", update_of=item.story_text)
        else:
            out = None
        if out is not None:
            facts = item.facts | (had or frozenset())
            self._had.setdefault(item.story, {})[channel] = facts
            self.told[(item.story, channel)] = facts
        return out
