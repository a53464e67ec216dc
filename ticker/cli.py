"""The command line: parses arguments, builds the adapters, runs the work, sets the exit code.

Exit codes: 0 success, 1 runtime failure, 2 usage or configuration error. Only this module prints
to stdout; logs go to stderr. Heavy libraries are imported inside the commands that need them,
so ``ticker --help`` starts fast.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ticker import __version__
from ticker.errors import ConfigError, StoreError, TickerError

if TYPE_CHECKING:
    from ticker.config import Config

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from ticker import log

    log.configure(fmt=args.log_format, level=args.log_level)
    try:
        code = _dispatch(args)
        if args.command == "run":
            _abandon_hung_sends(code)
        return code
    except ConfigError as exc:
        _error_lines(_config_problem_text(args, exc))
        return EXIT_USAGE
    except StoreError as exc:
        _error_lines([f"error: {exc}"])
        return EXIT_FAILURE
    except TickerError as exc:
        _error_lines([f"error: {exc}"])
        return EXIT_FAILURE
    except KeyboardInterrupt:
        return 130


def _abandon_hung_sends(code: int) -> None:
    """After a graceful stop, a send still hung in its thread (a channel that never answers)
    must not hold the exit past the stop timeout: the state is committed, so leave now (D6)."""
    import os
    import threading

    if any(
        t.is_alive() and not t.daemon
        for t in threading.enumerate()
        if t is not threading.main_thread()
    ):
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _dispatch(args: argparse.Namespace) -> int:
    from ticker import commands

    handlers = {
        "run": commands.run,
        "once": commands.once,
        "check": commands.check,
        "probe": commands.probe,
        "validate": commands.validate,
        "history": commands.history,
        "notify-test": commands.notify_test,
        "outbox": commands.outbox,
    }
    import asyncio

    result: Any = handlers[args.command](args)
    if asyncio.iscoroutine(result):
        result = asyncio.run(result)
    return int(result)


def _config_problem_text(args: argparse.Namespace, exc: ConfigError) -> list[str]:
    where = getattr(args, "config", None)
    head = f"error: configuration {where!r} has {len(exc.problems)} problem(s):"
    if len(exc.problems) == 1 and not exc.problems[0].path:
        return [f"error: {exc.problems[0].message}"]
    return [head, *(f"  {p}" for p in exc.problems)]


def _error_lines(lines: list[str]) -> None:
    for line in lines:
        print(line, file=sys.stderr)


def load(args: argparse.Namespace) -> Config:
    """Load the configuration named by ``-c``, with its warnings logged and secrets registered."""
    import structlog

    from ticker.config import load_config
    from ticker.log import REDACTOR

    config = load_config(args.config)
    REDACTOR.add_urls(
        (url for channel in config.channels for url in channel.urls),
        sources=(source.url for source in config.sources),
        secrets=[config.service.token] if config.service.token else [],
    )
    for warning in config.warnings:
        structlog.get_logger("ticker").warning("config_warning", message=warning)
    return config
