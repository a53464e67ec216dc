"""From recorded items to outbox messages: routing, digests and rendering, per channel target.

Pure: the planner is built from the configuration and the notifier's targets (keys and redacted
labels), and turns one poll's new items into the messages to queue with them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ticker.alerting.messages import render
from ticker.alerting.routing import AlertItem, plan
from ticker.alerting.stories import StoryGate, Told
from ticker.config import Config, SourceConfig
from ticker.model import Message, OutgoingMessage, Recorded

Targets = Mapping[str, Sequence[tuple[str, str]]]  # channel id -> (target key, label)


class AlertPlanner:
    """Decides what each channel is sent for a poll's new items."""

    def __init__(self, config: Config, targets: Targets) -> None:
        self.config = config
        self.targets = targets
        self.channels = {c.id: c for c in config.channels}

    def for_items(
        self, source: SourceConfig, recorded: Sequence[Recorded], *, told: Told | None = None
    ) -> tuple[list[OutgoingMessage], dict[tuple[int, str], frozenset[str]]]:
        """The messages for a poll's new items, and the channels they tell of which stories
        (with the numbers told). ``told``: what channels already have of these stories."""
        gate = StoryGate(told or {})
        items = [
            AlertItem(
                item_id=r.id,
                source_id=source.id,
                source_name=source.name,
                text=r.item.text,
                link=r.item.link,
                first_seen=r.first_seen,
                tags=source.tags,
                kind=r.item.kind.value,
                update_of=None if r.item.update_of is None else r.item.update_of.text,
                story=None if r.story is None else r.story.story,
                story_text=None if r.story is None else r.story.matched_text,
                facts=frozenset() if r.story is None else r.story.facts,
            )
            for r in recorded
        ]
        planned = plan(
            items,
            routes=self.config.routes,
            channels=self.config.channels,
            burst=self.config.service.burst,
            gate=gate,
        )
        out = []
        for p in planned:
            channel = self.channels[p.channel_id]
            message = render(
                p,
                template=channel.template,
                timezone=channel.timezone or self.config.service.timezone,
            )
            out.append(
                OutgoingMessage(
                    channel=p.channel_id,
                    kind="digest" if p.is_digest else "item",
                    title=message.title,
                    body=message.body,
                    targets=self.targets.get(p.channel_id, ()),
                    source=source.id,
                    item_ids=[i.item_id for i in p.items],
                    first_seen=min(i.first_seen for i in p.items),
                )
            )
        return out, gate.told

    def health(
        self, message: Message, *, source: str | None, exclude: Sequence[str] = ()
    ) -> list[OutgoingMessage]:
        """A health alert for every health channel (except ``exclude``: the one in trouble)."""
        return [
            OutgoingMessage(
                channel=cid,
                kind="health",
                title=message.title,
                body=message.body,
                targets=self.targets.get(cid, ()),
                source=source,
            )
            for cid in self.config.service.health_channels
            if cid not in exclude
        ]
