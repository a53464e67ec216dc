"""The commands behind the command line; part of the CLI layer (they print results to stdout)."""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path

from ticker.cli import EXIT_FAILURE, EXIT_OK, load
from ticker.config import Config, SourceConfig, builtin_profiles
from ticker.durations import parse_time
from ticker.errors import ConfigError, ExtractError, Problem, TickerError
from ticker.extract import compile_selector
from ticker.fetch import AiohttpFetcher, FetchResult, FetchSettings
from ticker.model import PageItem, RecordedItem
from ticker.views import (
    HISTORY_COLUMNS,
    csv_text,
    history_jsonl,
    history_rows,
    history_table,
    iso,
    item_json,
    table,
    width,
)
from ticker.pipeline import PageReading, PollOutcome, poll_source, read_page, utcnow
from ticker.runtime import DeliverySide, build_delivery, fetch_settings
from ticker.store import DetectionInputs, SqliteStore, state_path_problem

#: How long ``once`` keeps delivering before leaving the rest in the outbox for the next run.
DRAIN_SECONDS = 120.0


def selected_sources(config: Config, ids: Sequence[str]) -> list[SourceConfig]:
    """The sources named on the command line (all when none); unknown ids are a usage error."""
    if not ids:
        return list(config.sources)
    known = {s.id: s for s in config.sources}
    missing = [i for i in ids if i not in known]
    if missing:
        raise ConfigError(
            f"unknown source {', '.join(map(repr, missing))} (known: {', '.join(sorted(known))})"
        )
    return [known[i] for i in ids]


def _out(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


# -- run -------------------------------------------------------------------------------------


async def run(args: argparse.Namespace) -> int:
    """The service: poll every source on its schedule until SIGTERM or SIGINT."""
    from ticker.service import Service, stdout_line

    config = load(args)
    refuse_unusable_channels(config)
    return await Service(Path(args.config), config, out=stdout_line).run()


# -- once ------------------------------------------------------------------------------------


async def once(args: argparse.Namespace) -> int:
    """One pass over the sources: fetch, detect, record, deliver (or print) the new items."""
    config = load(args)
    sources = selected_sources(config, args.sources)
    refuse_unusable_channels(config)
    store = SqliteStore.open(config.service.state)
    delivery: DeliverySide | None = None
    pending = 0
    try:
        delivery = build_delivery(config, store)
        planner = None if delivery is None else delivery.planner
        async with AiohttpFetcher(fetch_settings(config)) as fetcher:
            outcomes = await asyncio.gather(
                *(poll_source(s, fetcher=fetcher, store=store, planner=planner) for s in sources)
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
    finally:
        if delivery is not None:
            delivery.close()
        store.close()
    if delivery is not None:
        return EXIT_FAILURE if pending else _exit_for(outcomes)
    for outcome in outcomes:
        for rec in outcome.new:
            _out(
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


# -- check -----------------------------------------------------------------------------------


async def check(args: argparse.Namespace) -> int:
    """Dry run: fetch and extract now, mark each item new or known; writes and sends nothing."""
    from ticker.detect import detect, keyed

    config = load(args)
    sources = selected_sources(config, args.sources)
    state_file = config.service.state
    store = SqliteStore.open(state_file, readonly=True) if state_file.exists() else None
    failed = False
    try:
        async with AiohttpFetcher(fetch_settings(config)) as fetcher:
            results = await asyncio.gather(
                *(fetcher.fetch(s.url, headers=s.headers) for s in sources),
                return_exceptions=True,
            )
        now = utcnow()
        for source, result in zip(sources, results, strict=True):
            if isinstance(result, BaseException):
                if not isinstance(result, TickerError):
                    raise result
                failed = True
                print(f"{source.id}: error: {result}", file=sys.stderr)
                continue
            try:
                reading = read_page(source, result)
            except ExtractError as exc:
                failed = True
                print(f"{source.id}: error: {exc}", file=sys.stderr)
                continue
            page = keyed(reading.extraction.items)
            window = timedelta(seconds=source.realert_after)
            # Without a state file nothing is known yet: the first poll would be a baseline.
            inputs = (
                store.detection_inputs(source.id, list(page), gone_after=now - window)
                if store is not None
                else DetectionInputs(known={}, present=set(), recently_gone=[])
            )
            baseline = store is None or not store.source_state(source.id).baseline_done
            detection = detect(
                page=page,
                known=inputs.known,
                present=inputs.present,
                recently_gone=inputs.recently_gone,
                now=now,
                realert_after=window,
                baseline=baseline,
            )
            marks = {n.key: n.kind.value for n in detection.new}
            _print_check(
                source,
                page,
                marks,
                baseline=baseline,
                fmt=args.format,
                reading=reading,
                config=config,
                now=now,
            )
    finally:
        if store is not None:
            store.close()
    return EXIT_FAILURE if failed else EXIT_OK


def _print_check(
    source: SourceConfig,
    page: Mapping[str, PageItem],
    marks: Mapping[str, str],
    *,
    baseline: bool,
    fmt: str,
    reading: PageReading,
    config: Config,
    now: datetime,
) -> None:
    from ticker.route import AlertItem, explain_routes

    rows = []
    routing: list[list[str]] = []
    for key, item in page.items():
        mark = ("baseline" if baseline else marks[key]) if key in marks else "known"
        # Every line is routed as if new, known ones included: a rule is tested on the page
        # as it is now, before a line it would miss arrives.
        routed = explain_routes(
            AlertItem(
                item_id=0,
                source_id=source.id,
                source_name=source.name,
                text=item.text,
                link=item.link,
                first_seen=now,
                tags=source.tags,
            ),
            config.routes,
            config.channels,
        )
        if fmt == "jsonl":
            import json

            obj: dict[str, object] = {
                "source": source.id,
                "status": mark,
                "text": item.text,
                "link": item.link,
            }
            if config.channels:
                obj["channels"] = list(routed.channels)
                obj["routes"] = [
                    {"route": v.index, "reached": v.reached, "channels": v.channels, "why": v.why}
                    for v in routed.verdicts
                ]
            _out(json.dumps(obj, ensure_ascii=False))
        else:
            rows.append((mark.upper() if mark != "known" else mark, item.text))
            routing.append(routed.lines())
    if reading.extraction.truncated:
        print(
            f"{source.id}: warning: the page nests deeper than the parser goes (2,048 levels); "
            "lines after that point are lost",
            file=sys.stderr,
        )
    if fmt == "table":
        note = " (first poll: a baseline, nothing would be alerted)" if baseline else ""
        _out(f"{source.id}: {len(page)} item(s){note}")
        if rows:
            header, *lines = table(("status", "text"), rows).splitlines()
            # Under the text column, set in a little: the reasons belong to the line above.
            indent = " " * (max(width(m) for m in ("status", *(r[0] for r in rows))) + 4)
            _out(header)
            for line, why in zip(lines, routing, strict=True):
                _out(line)
                for reason in why:
                    _out(indent + reason)
        if reading.extraction.canary_found is False:
            _out(f"  warning: canary {source.canary} matched nothing: has the layout changed?")


# -- probe -----------------------------------------------------------------------------------


def probe(args: argparse.Namespace) -> int:
    """Try selectors on a URL or a local file and print what they extract."""
    from ticker import __version__
    from ticker.config import DEFAULT_USER_AGENT
    from ticker.decode import decode_body
    from ticker.extract import extract, parse_page

    spec = {"items": args.items, "text": args.text, "link": args.link}
    if args.profile:
        profiles = builtin_profiles()
        if args.profile not in profiles:
            raise ConfigError(
                f"unknown profile {args.profile!r} (built-in: {', '.join(sorted(profiles))})"
            )
        for key in spec:
            spec[key] = spec[key] or profiles[args.profile].get(key)
    if not spec["items"]:
        raise ConfigError("probe needs --items SELECTOR (or --profile NAME)")
    try:
        selectors = {k: compile_selector(v) for k, v in spec.items() if v}
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc
    is_json = selectors["items"].kind == "jmespath"

    target = args.target
    path = Path(target)
    if "://" not in target and path.exists():
        body = path.read_bytes()
        # A saved page's relative links stay relative unless the user says where it came from.
        base_url = args.base_url or ""
        charset = None
    elif target.startswith(("http://", "https://")):
        settings = FetchSettings(user_agent=DEFAULT_USER_AGENT.format(version=__version__))
        result = asyncio.run(_fetch_once(settings, target))
        body, base_url, charset = result.body, result.url, result.charset
    else:
        raise ConfigError(f"{target!r} is neither an existing file nor an http(s) URL")

    decoded = decode_body(body, header_charset=charset, override=args.charset)
    extraction = extract(
        parse_page(decoded.text, is_json=is_json),
        items=selectors["items"],
        text=selectors.get("text"),
        link=selectors.get("link"),
        base_url=base_url,
    )
    for n, item in enumerate(extraction.items, 1):
        if args.format == "jsonl":
            import json

            _out(json.dumps({"text": item.text, "link": item.link}, ensure_ascii=False))
        else:
            _out(f"{n:>3}  {item.text}")
            if item.link:
                _out(f"     {item.link}")
    summary = (
        f"{len(extraction.items)} item(s) from {extraction.matched} match(es) of "
        f"{selectors['items']} ({decoded.encoding}"
        + (f", {decoded.replacements} undecodable byte(s)" if decoded.replacements else "")
        + ")"
    )
    print(summary, file=sys.stderr)
    if not extraction.items:
        print(
            "hint: nothing matched; open the page in a browser, inspect the ticker, and try its "
            "container's class, e.g. --items 'css:.ticker li' or --items 'xpath://marquee//a'",
            file=sys.stderr,
        )
    return EXIT_OK


async def _fetch_once(settings: FetchSettings, url: str) -> FetchResult:
    async with AiohttpFetcher(settings) as fetcher:
        return await fetcher.fetch(url)


# -- validate --------------------------------------------------------------------------------


def validate(args: argparse.Namespace) -> int:
    """Check the configuration and what it names that would stop a start: every channel URL
    (parsed by apprise, offline) and the state path. Writes nothing."""
    from ticker.notify import channel_url_problems

    config = load(args)
    problems = channel_url_problems(config.channels) if config.channels else []
    if (state := state_path_problem(config.service.state)) is not None:
        problems.append(Problem(path="service.state", message=state))
    if problems:
        raise ConfigError(problems)
    _out(
        f"{args.config}: ok: {len(config.sources)} source(s), {len(config.channels)} channel(s), "
        f"{len(config.routes)} route(s); state {config.service.state}"
    )
    for source in config.sources:
        _out(f"  {source.id}: {source.url} every {source.interval:g}s, items {source.items}")
    return EXIT_OK


def refuse_unusable_channels(config: Config, *, only: Sequence[str] = ()) -> None:
    """Stop a start on a channel URL apprise cannot use, saying which and why as validate
    does (the journal then names it), rather than with the notifier's vaguer error.

    Raises ConfigError listing every such URL.
    """
    if not config.channels:
        return
    from ticker.notify import channel_url_problems

    if problems := channel_url_problems(config.channels, only=only):
        raise ConfigError(problems)


# -- history ---------------------------------------------------------------------------------


def history(args: argparse.Namespace) -> int:
    config = load(args)
    now = utcnow()
    since = parse_time(args.since, now=now) if args.since else None
    until = parse_time(args.until, now=now) if args.until else None
    try:
        grep = re.compile(args.grep) if args.grep else None
    except re.error as exc:
        raise ConfigError(f"invalid --grep regular expression {args.grep!r}: {exc}") from None
    known = {s.id for s in config.sources}
    for sid in args.source:
        if sid not in known:
            print(f"note: source {sid!r} is not in the configuration", file=sys.stderr)
    if not config.service.state.exists():
        print(f"no state yet at {config.service.state} (run 'ticker once' first)", file=sys.stderr)
        store = None
    else:
        store = SqliteStore.open(config.service.state, readonly=True)
    try:
        items: Iterable[RecordedItem] = (
            store.history(
                sources=args.source,
                since=since,
                until=until,
                grep=grep,
                limit=args.limit,
                newest_first=args.newest_first,
            )
            if store is not None
            else iter(())
        )
        if args.format == "jsonl":
            for line in history_jsonl(items):
                _out(line)
        elif args.format == "csv":
            for chunk in csv_text(HISTORY_COLUMNS, history_rows(items)):
                sys.stdout.write(chunk)
        else:
            text = history_table(items)
            if text:
                _out(text)
    finally:
        if store is not None:
            store.close()
    return EXIT_OK


# -- notify-test and outbox ------------------------------------------------------------------


async def notify_test(args: argparse.Namespace) -> int:
    """Send a test message to each URL of the channels and report each URL's result."""
    from ticker.notify import AppriseNotifier
    from ticker.route import notify_test_message

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
    notifier = AppriseNotifier(
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
                _out(f"{target.redacted}  ok")
            else:
                failed += 1
                _out(f"{target.redacted}  FAILED: {result.error}")
    return EXIT_FAILURE if failed else EXIT_OK


def outbox(args: argparse.Namespace) -> int:
    """List pending and dead deliveries, or requeue them."""
    config = load(args)
    if not config.service.state.exists():
        _out("outbox is empty (no state file yet)")
        return EXIT_OK
    store = SqliteStore.open(config.service.state, readonly=args.action == "list")
    try:
        if args.action == "retry":

            def requeue() -> int:
                with store.transaction():
                    return store.requeue(dead=args.dead, now=utcnow())

            count = requeue()
            _out(f"requeued {count} {'dead' if args.dead else 'pending'} deliver(ies)")
            return EXIT_OK
        rows = store.deliveries(states=("pending", "dead"))
    finally:
        store.close()
    if not rows:
        _out("outbox is empty: nothing pending, nothing dead")
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
    _out(table(("id", "state", "channel", "target", "tries", "queued", "message"), table_rows))
    return EXIT_OK
