"""Which new items go to which channels, and as how many messages. Pure: values in, values out.

Routing follows README.md ("Alerts: channels and routes"): with no routes every item goes to every
channel; a route narrows by source, tag and regexes; an item that several routes send to one channel
is sent to it once. When one poll yields more than ``burst`` items for a channel, they travel as
digest messages. ``explain_routes`` gives ``ticker check`` the same answer with the condition that
decided it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from ticker.config import ChannelConfig, RouteConfig

#: Items in one digest message: a bigger burst becomes several digests, never a cut list, so
#: every item reaches the channel in full (a Telegram message holds 4,096 characters; longer
#: digests are split by apprise, not truncated).
DIGEST_SIZE = 20


@dataclass(frozen=True, slots=True, kw_only=True)
class AlertItem:
    """One new item as alerts see it: enough to write a message with no database at hand."""

    item_id: int
    source_id: str
    source_name: str
    text: str
    link: str | None
    first_seen: datetime
    tags: tuple[str, ...] = ()
    kind: str = "new"
    update_of: str | None = None
    story: int | None = None  # None: stories are off
    story_text: str | None = None  # the line of the story it was matched with
    facts: frozenset[str] = frozenset()  # the numbers it states


@dataclass(frozen=True, slots=True, kw_only=True)
class Planned:
    """A message to queue for one channel: one item, or a digest of several."""

    channel_id: str
    items: tuple[AlertItem, ...]

    @property
    def is_digest(self) -> bool:
        return len(self.items) > 1 or self.digest

    digest: bool = False  # a burst's last chunk may hold a single item
    part: int = 1
    parts: int = 1
    total: int = 0  # items in the whole burst


def route_matches(route: RouteConfig, item: AlertItem) -> bool:
    if route.sources and item.source_id not in route.sources:
        return False
    if route.tags and not set(route.tags) & set(item.tags):
        return False
    if route.match and not any(p.search(item.text) for p in route.match):
        return False
    return not any(p.search(item.text) for p in route.exclude)


def channels_for(
    item: AlertItem, routes: Sequence[RouteConfig], channels: Sequence[ChannelConfig]
) -> list[str]:
    """The channel ids an item goes to, each once, in configuration order."""
    if not routes:
        return [c.id for c in channels]
    wanted = {cid for r in routes if route_matches(r, item) for cid in r.channels}
    return [c.id for c in channels if c.id in wanted]


@dataclass(frozen=True, slots=True, kw_only=True)
class RouteVerdict:
    """What one route decided for one item, and the condition that decided it."""

    index: int  # 0 for the first [[routes]] of the file, as in validate's routes[0]
    channels: tuple[str, ...]
    reached: bool
    why: str  # "match '(?i)gaza'", "excluded by '(?i)sports'", ...

    def line(self) -> str:
        if self.reached:
            return f"-> {', '.join(self.channels)} (routes[{self.index}]: {self.why})"
        return f"x routes[{self.index}]: {self.why}"


@dataclass(frozen=True, slots=True, kw_only=True)
class RouteExplanation:
    """Where an item goes (``channels``, as channels_for says) and why, route by route."""

    channels: tuple[str, ...]
    verdicts: tuple[RouteVerdict, ...]
    no_routes: bool

    def lines(self) -> list[str]:
        if self.no_routes:
            return ["-> every channel (no routes)"] if self.channels else []
        out = [v.line() for v in self.verdicts]
        if not self.channels:
            out.append("x no route reaches a channel: this line would not be alerted")
        elif len(self.verdicts) > 1:
            # The sum of the routes: one route's exclude does not keep a line from a channel
            # that another route sends it to.
            out.append(f"=> {', '.join(self.channels)}")
        return out


def _quoted(patterns: Iterable[str]) -> str:
    return "[" + ", ".join(f"'{p}'" for p in patterns) + "]"


def route_verdict(index: int, route: RouteConfig, item: AlertItem) -> RouteVerdict:
    """route_matches, with the condition that decided it: the first failing filter in the
    order route_matches checks them (source, tags, match, exclude), or what let the item in."""

    def no(why: str) -> RouteVerdict:
        return RouteVerdict(index=index, channels=route.channels, reached=False, why=why)

    if route.sources and item.source_id not in route.sources:
        return no(f"source '{item.source_id}' is not among {_quoted(route.sources)}")
    if route.tags and not set(route.tags) & set(item.tags):
        return no(f"source '{item.source_id}' has none of the tags {_quoted(route.tags)}")
    hit = next((p for p in route.match if p.search(item.text)), None)
    if route.match and hit is None:
        return no(f"no match among {_quoted(p.pattern for p in route.match)}")
    excluded = next((p for p in route.exclude if p.search(item.text)), None)
    if excluded is not None:
        return no(f"excluded by '{excluded.pattern}'")
    why = []
    if route.sources:
        why.append(f"source '{item.source_id}'")
    if route.tags:
        why.append(f"tag '{next(t for t in route.tags if t in item.tags)}'")
    if hit is not None:
        why.append(f"match '{hit.pattern}'")
    return RouteVerdict(
        index=index,
        channels=route.channels,
        reached=True,
        why=", ".join(why) or "every line",
    )


def explain_routes(
    item: AlertItem, routes: Sequence[RouteConfig], channels: Sequence[ChannelConfig]
) -> RouteExplanation:
    """Where routing sends ``item`` and which condition of each route decided it, for
    ``ticker check``: the same answer as channels_for, with the reasons."""
    if not routes:
        return RouteExplanation(channels=tuple(c.id for c in channels), verdicts=(), no_routes=True)
    verdicts = tuple(route_verdict(n, r, item) for n, r in enumerate(routes))
    wanted = {cid for v in verdicts if v.reached for cid in v.channels}
    return RouteExplanation(
        channels=tuple(c.id for c in channels if c.id in wanted),
        verdicts=verdicts,
        no_routes=False,
    )


def plan(
    items: Sequence[AlertItem],
    *,
    routes: Sequence[RouteConfig],
    channels: Sequence[ChannelConfig],
    burst: int,
    gate: Callable[[AlertItem, str], AlertItem | None] | None = None,
) -> list[Planned]:
    """The messages for the new items of one poll of one source. ``gate`` may drop or relabel
    an item for one channel (stories: see ``ticker.alerting.stories``)."""
    per_channel: dict[str, list[AlertItem]] = {}
    for item in items:
        for cid in channels_for(item, routes, channels):
            sent = item if gate is None else gate(item, cid)
            if sent is not None:
                per_channel.setdefault(cid, []).append(sent)
    out: list[Planned] = []
    for cid, routed in per_channel.items():
        if len(routed) > burst:
            chunks = [routed[i : i + DIGEST_SIZE] for i in range(0, len(routed), DIGEST_SIZE)]
            out.extend(
                Planned(
                    channel_id=cid,
                    items=tuple(chunk),
                    digest=True,
                    part=n,
                    parts=len(chunks),
                    total=len(routed),
                )
                for n, chunk in enumerate(chunks, 1)
            )
        else:
            out.extend(Planned(channel_id=cid, items=(item,)) for item in routed)
    return out
