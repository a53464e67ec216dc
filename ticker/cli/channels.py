"""``ticker notify-test`` (a test message to each channel URL) and ``ticker outbox`` (the
deliveries pending or given up, and their retry)."""

from __future__ import annotations

import argparse
import asyncio

from ticker.cli.common import load, out, refuse_unusable_channels
from ticker.cli.exits import EXIT_FAILURE, EXIT_OK
from ticker.cli.wiring import build_notifier, existing_store
from ticker.errors import ConfigError
from ticker.pipeline import utcnow
from ticker.views import iso, table


async def notify_test(args: argparse.Namespace) -> int:
    """Send a test message to each URL of the channels and report each URL's result."""
    from ticker.alerting.messages import notify_test_message

    config = load(args)
    if not config.channels:
        raise ConfigError(f"{args.config}: no [[channels]] configured")
    known = [c.id for c in config.channels]
    unknown = [c for c in args.channels if c not in known]
    if unknown:
        raise ConfigError(
            f"unknown channel {', '.join(map(repr, unknown))} (known: {', '.join(known)})"
        )
    refuse_unusable_channels(config, only=args.channels)
    notifier = build_notifier(
        [c for c in config.channels if not args.channels or c.id in args.channels]
    )
    failed = 0
    for cid, targets in notifier.by_channel.items():
        message = notify_test_message(cid, utcnow())
        results = await asyncio.gather(
            *(
                asyncio.to_thread(notifier.send, t.key, title=message.title, body=message.body)
                for t in targets
            )
        )
        for target, result in zip(targets, results, strict=True):
            if result.ok:
                out(f"{target.redacted}  ok")
            else:
                failed += 1
                out(f"{target.redacted}  FAILED: {result.error}")
    return EXIT_FAILURE if failed else EXIT_OK


def outbox(args: argparse.Namespace) -> int:
    """List pending and dead deliveries, or requeue them."""
    config = load(args)
    with existing_store(config, readonly=args.action == "list") as store:
        if store is None:
            out("outbox is empty (no state file yet)")
            return EXIT_OK
        if args.action == "retry":

            def requeue() -> int:
                with store.transaction():
                    return store.requeue(dead=args.dead, now=utcnow())

            count = requeue()
            out(f"requeued {count} {'dead' if args.dead else 'pending'} deliver(ies)")
            return EXIT_OK
        rows = store.deliveries(states=("pending", "dead"))
    if not rows:
        out("outbox is empty: nothing pending, nothing dead")
        return EXIT_OK
    table_rows = [
        (
            str(r.id),
            r.state,
            r.channel,
            r.target_label,
            str(r.attempts),
            iso(r.created),
            f"{r.title}: {r.body.splitlines()[0] if r.body else ''}"
            + (f"  [last error: {r.last_error}]" if r.last_error else ""),
        )
        for r in rows
    ]
    out(table(("id", "state", "channel", "target", "tries", "queued", "message"), table_rows))
    return EXIT_OK
