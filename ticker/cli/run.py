"""``ticker run`` (the service) and ``ticker once`` (one pass, for cron)."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Iterable
from pathlib import Path

from ticker.cli.common import load, out, refuse_unusable_channels, selected_sources
from ticker.cli.exits import EXIT_FAILURE, EXIT_OK
from ticker.cli.wiring import pass_parts, service_parts
from ticker.pipeline import PollOutcome, poll_source, reload_stories, utcnow
from ticker.stories.desk import desk_for
from ticker.views import item_json

#: How long ``once`` keeps delivering before leaving the rest in the outbox for the next run.
DRAIN_SECONDS = 120.0


async def run(args: argparse.Namespace) -> int:
    """The service: poll every source on its schedule until SIGTERM or SIGINT."""
    from ticker.service import Service

    config = load(args)
    refuse_unusable_channels(config)
    service = Service(Path(args.config), config, out=out)
    # Signals first: a stop asked for while the state opens is a clean stop once set up.
    service.install_signals()
    async with service_parts(config) as parts:
        return await service.run(parts)


async def once(args: argparse.Namespace) -> int:
    """One pass over the sources: fetch, detect, record, deliver (or print) the new items."""
    config = load(args)
    sources = selected_sources(config, args.sources)
    refuse_unusable_channels(config)
    pending = 0
    async with pass_parts(config) as parts:
        store, delivery = parts.store, parts.delivery
        planner = None if delivery is None else delivery.planner
        stories = desk_for(config.service.story_window, config.service.story_threshold)
        if stories is not None:
            await reload_stories(stories, store, utcnow)
        # One line per source at INFO, whatever it found: a pass run by hand or from cron is
        # short, and that line is how it says what each source did.
        outcomes = await asyncio.gather(
            *(
                poll_source(
                    s,
                    fetcher=parts.fetcher,
                    store=store,
                    planner=planner,
                    stories=stories,
                    log_every_poll=True,
                )
                for s in sources
            )
        )
        if delivery is not None:
            # Deliver this run's items and any left by an earlier run: for a command run from
            # cron, the next run is the retry, whatever backoff the last one chose.
            def due_now() -> int:
                with store.transaction():
                    return store.make_due(now=utcnow())

            await store.run(due_now)
            pending = await delivery.sender.drain(deadline=time.monotonic() + DRAIN_SECONDS)
            if pending:
                print(
                    f"{pending} deliver(ies) still pending (a channel is failing); they stay in "
                    "the outbox and go out on the next run ('ticker outbox' lists them)",
                    file=sys.stderr,
                )
    if delivery is not None:
        return EXIT_FAILURE if pending else _exit_for(outcomes)
    for outcome in outcomes:
        for rec in outcome.new:
            out(
                item_json(
                    source=outcome.source_id,
                    text=rec.item.text,
                    link=rec.item.link,
                    first_seen=rec.first_seen,
                    kind=rec.item.kind.value,
                    update_of=None if rec.item.update_of is None else rec.item.update_of.text,
                )
            )
    return _exit_for(outcomes)


def _exit_for(outcomes: Iterable[PollOutcome]) -> int:
    """1 when any source failed (after every other source was done), else 0."""
    return EXIT_FAILURE if any(o.status == "error" for o in outcomes) else EXIT_OK
