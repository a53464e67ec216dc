"""``ticker check`` (a dry run), ``ticker probe`` (selectors on a page) and ``ticker history``
(the recorded items): the commands that look and change nothing."""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from pathlib import Path

from ticker.cli.common import load, out, selected_sources
from ticker.cli.exits import EXIT_FAILURE, EXIT_OK
from ticker.cli.wiring import build_fetcher, existing_store, fetch_settings
from ticker.config import Config, SourceConfig, builtin_profiles
from ticker.durations import parse_time
from ticker.errors import ConfigError, ExtractError, TickerError
from ticker.extract import compile_selector
from ticker.fetch import FetchResult, FetchSettings
from ticker.model import DetectionInputs, PageItem, RecordedItem, SourceState
from ticker.pipeline import utcnow
from ticker.reading import PageReading, read_page
from ticker.store.connection import STORIES_SCHEMA
from ticker.stories.desk import StoryDesk, desk_for
from ticker.views import (
    HISTORY_COLUMNS,
    csv_text,
    history_jsonl,
    history_rows,
    history_table,
    table,
    width,
)

# -- check -----------------------------------------------------------------------------------


async def check(args: argparse.Namespace) -> int:
    """Dry run: fetch and extract now, mark each item new or known; writes and sends nothing."""
    from ticker.decide import Validators, decide, gone_after
    from ticker.detect import keyed

    config = load(args)
    sources = selected_sources(config, args.sources)
    failed = False
    stories = desk_for(config.service.story_window, config.service.story_threshold)
    with existing_store(config, readonly=True) as store:
        if stories is not None and store is not None and store.schema_version >= STORIES_SCHEMA:
            lines = store.story_lines(since=stories.since(utcnow()), limit=stories.max_lines)
            stories.reload(lines)
        async with build_fetcher(fetch_settings(config)) as fetcher:
            results = await asyncio.gather(
                *(
                    fetcher.fetch(s.url, headers=s.headers, method=s.method, body=s.body)
                    for s in sources
                ),
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
                store.detection_inputs(source.id, list(page), gone_after=gone_after(now, window))
                if store is not None
                else DetectionInputs(known={}, present=set(), recently_gone=[])
            )
            state = (
                store.source_state(source.id)
                if store is not None
                else SourceState(source_id=source.id)
            )
            # The same decision a poll would make, not recorded.
            detection = decide(
                page=page,
                inputs=inputs,
                state=state,
                validators=Validators(),
                now=now,
                realert_after=window,
            ).detection
            baseline = detection.baseline
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
                stories=stories,
            )
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
    stories: StoryDesk | None = None,
) -> None:
    from ticker.alerting.routing import AlertItem, explain_routes

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
        # The story a new line would join (the line it matches, the score), or a story of
        # its own: what lets a user trust or tune story_threshold.
        story: dict[str, object] | None = None
        if stories is not None and key in marks and not baseline:
            match = stories.explain(source.id, item.text, now=now)
            story = (
                {"joins": None}
                if match is None
                else {
                    "joins": match.story_id,
                    "matched": match.text,
                    "score": round(match.score, 3),
                    "update": match.update,
                }
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
            if story is not None:
                obj["story"] = story
            out(json.dumps(obj, ensure_ascii=False))
        else:
            rows.append((mark.upper() if mark != "known" else mark, item.text))
            routing.append([*routed.lines(), *_story_lines(story)])
    if reading.extraction.truncated:
        print(
            f"{source.id}: warning: the page nests deeper than the parser goes (2,048 levels); "
            "lines after that point are lost",
            file=sys.stderr,
        )
    if fmt == "table":
        note = " (first poll: a baseline, nothing would be alerted)" if baseline else ""
        out(f"{source.id}: {len(page)} item(s){note}")
        if rows:
            header, *lines = table(("status", "text"), rows).splitlines()
            # Under the text column, set in a little: the reasons belong to the line above.
            indent = " " * (max(width(m) for m in ("status", *(r[0] for r in rows))) + 4)
            out(header)
            for line, why in zip(lines, routing, strict=True):
                out(line)
                for reason in why:
                    out(indent + reason)
        if reading.extraction.canary_found is False:
            out(f"  warning: canary {source.canary} matched nothing: has the layout changed?")


def _story_lines(story: dict[str, object] | None) -> list[str]:
    if story is None or story["joins"] is None:
        return []  # a story of its own: nothing to explain
    how = "an update of" if story["update"] else "joins"
    return [
        f"story: {how} story {story['joins']} (matched: {story['matched']}, "
        f"score {story['score']:.2f})"
    ]


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

            out(json.dumps({"text": item.text, "link": item.link}, ensure_ascii=False))
        else:
            out(f"{n:>3}  {item.text}")
            if item.link:
                out(f"     {item.link}")
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
    async with build_fetcher(settings) as fetcher:
        return await fetcher.fetch(url)


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
    with existing_store(config, readonly=True) as store:
        if store is None:
            print(
                f"no state yet at {config.service.state} (run 'ticker once' first)",
                file=sys.stderr,
            )
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
        if args.stories or args.leads:
            from ticker.cli.stories import grouped_history

            grouped_history(items, fmt=args.format, leads=args.leads)
        elif args.format == "jsonl":
            for line in history_jsonl(items):
                out(line)
        elif args.format == "csv":
            for chunk in csv_text(HISTORY_COLUMNS, history_rows(items)):
                sys.stdout.write(chunk)
        else:
            text = history_table(items)
            if text:
                out(text)
    return EXIT_OK
