"""The command line's grammar: every command, its arguments and their help.

Imports nothing heavy, so ``ticker --help`` starts fast.
"""

from __future__ import annotations

import argparse

from ticker import __version__


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--log-format",
        choices=("auto", "console", "json"),
        default="auto",
        help="console on a terminal, JSON lines otherwise (default: auto)",
    )
    common.add_argument(
        "--log-level",
        default="info",
        choices=("debug", "info", "warning", "error"),
        help="least severe log level shown (default: info)",
    )
    with_config = argparse.ArgumentParser(add_help=False, parents=[common])
    with_config.add_argument(
        "-c", "--config", required=True, metavar="FILE", help="the TOML configuration"
    )

    parser = argparse.ArgumentParser(
        prog="ticker",
        description="Watch news pages' breaking-news tickers and alert each new item once.",
        parents=[common],
    )
    parser.add_argument("--version", action="version", version=f"ticker {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    sub.add_parser(
        "run", parents=[with_config], help="the service: poll every source on its schedule"
    )
    p = sub.add_parser(
        "once", parents=[with_config], help="one pass over all sources, then exit (for cron)"
    )
    p.add_argument("sources", nargs="*", metavar="SOURCE", help="only these source ids")

    p = sub.add_parser(
        "check", parents=[with_config], help="dry run: show each item as new or known"
    )
    p.add_argument("sources", nargs="*", metavar="SOURCE", help="only these source ids")
    p.add_argument("--format", choices=("table", "jsonl"), default="table")

    p = sub.add_parser(
        "probe", parents=[common], help="try selectors on a page (URL or local file)"
    )
    p.add_argument("target", metavar="URL_OR_FILE")
    p.add_argument("--items", metavar="SELECTOR", help="one match per item (css:, xpath:, ...)")
    p.add_argument("--text", metavar="SELECTOR", help="the text inside each item")
    p.add_argument("--link", metavar="SELECTOR", help="the link inside each item")
    p.add_argument("--profile", metavar="NAME", help="take the selectors of a built-in profile")
    p.add_argument("--charset", metavar="NAME", help="decode the page with this charset")
    p.add_argument(
        "--base-url", metavar="URL", help="resolve a saved page's relative links against URL"
    )
    p.add_argument("--format", choices=("table", "jsonl"), default="table")

    p = sub.add_parser(
        "discover",
        parents=[common],
        help="find the ticker on a page and print a ready [[sources]] block",
        description=(
            "Rank the page's ticker candidates (and the endpoints its scripts read), print "
            "each with its lines and selectors, and a [[sources]] block for the best. Exit 0 "
            "when a ticker is found, 1 when none is, 2 on a usage error."
        ),
    )
    p.add_argument("target", nargs="?", metavar="URL_OR_FILE")
    p.add_argument(
        "--expect",
        action="append",
        default=[],
        metavar="TEXT",
        help="a line you see on the ticker now (repeatable): pins the candidate that holds it",
    )
    p.add_argument(
        "--browser",
        action="store_true",
        help="load the page once in Chromium to find the endpoint the ticker is drawn from",
    )
    p.add_argument("--json", action="store_true", help="the candidates as a JSON list")
    p.add_argument("--source", metavar="ID", help="re-discover a configured source (with -c)")
    p.add_argument("-c", "--config", metavar="FILE", help="the configuration (with --source)")
    p.add_argument("--base-url", metavar="URL", help="where a saved page came from (for its links)")

    sub.add_parser("validate", parents=[with_config], help="check the configuration")

    p = sub.add_parser("notify-test", parents=[with_config], help="send a test message to channels")
    p.add_argument("channels", nargs="*", metavar="CHANNEL")

    p = sub.add_parser(
        "outbox", parents=[with_config], help="list pending and dead deliveries, or retry them"
    )
    p.add_argument("action", nargs="?", choices=("list", "retry"), default="list")
    p.add_argument("--dead", action="store_true", help="with retry: requeue dead deliveries")

    p = sub.add_parser("history", parents=[with_config], help="the recorded items")
    p.add_argument("--source", action="append", default=[], metavar="ID", help="repeatable")
    p.add_argument("--since", metavar="T", help='ISO time or date, or an age such as "2h"')
    p.add_argument("--until", metavar="T", help='ISO time or date, or an age such as "30m"')
    p.add_argument("--grep", metavar="RE", help="only items whose text matches this regex")
    p.add_argument("--format", choices=("table", "csv", "jsonl"), default="table")
    p.add_argument("--limit", type=int, metavar="N", help="at most N items")
    p.add_argument("--newest-first", action="store_true", help="newest items first")
    grouped = p.add_mutually_exclusive_group()
    grouped.add_argument(
        "--stories",
        action="store_true",
        help="lines grouped by story: the first reporter, then the others with their lag",
    )
    grouped.add_argument(
        "--leads",
        action="store_true",
        help="per source: stories it reported first, and its lag behind the first reporter",
    )

    p = sub.add_parser(
        "story-test",
        parents=[common],
        help="the stories score of two lines, or of JSON pairs on stdin",
        description=(
            'Score two lines ("LINE A" "LINE B") and say whether they are the same story at '
            "the configured story_threshold; with no lines, read one JSON object "
            '{"a": ..., "b": ...} a line from stdin and print {"score": S, "same": true|false} '
            "a line, in order."
        ),
    )
    p.add_argument("-c", "--config", metavar="FILE", help="take story_threshold from FILE")
    p.add_argument("lines", nargs="*", metavar="LINE", help="two lines, or none to read stdin")
    return parser
