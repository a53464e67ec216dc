"""The command line: parses arguments, runs a command, sets the exit code.

The composition root: only this package (its ``wiring``) builds the adapters. Only this package
prints to stdout; logs go to stderr. The commands' modules, and the heavy libraries they need,
are imported when a command runs, so ``ticker --help`` starts fast. Nothing imports this package
but ``ticker.__main__`` and the console script.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import Any

from ticker.cli.exits import EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_USAGE
from ticker.cli.parser import build_parser
from ticker.errors import ConfigError, StoreError, TickerError

__all__ = ["build_parser", "main"]


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
        return EXIT_INTERRUPTED


def _abandon_hung_sends(code: int) -> None:
    """After a graceful stop, a send still hung in its thread (a channel that never answers)
    must not hold the exit past the stop timeout: the state is committed, so leave now
    (stopping)."""
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


def _handler(command: str) -> Callable[[argparse.Namespace], Any]:
    """The function behind ``command``, its module imported only now."""
    if command in ("run", "once"):
        from ticker.cli.run import once, run

        return run if command == "run" else once
    if command in ("check", "probe", "history"):
        from ticker.cli.inspect import check, history, probe

        return {"check": check, "probe": probe, "history": history}[command]
    if command == "discover":
        from ticker.cli.discover import discover_command

        return discover_command
    if command == "story-test":
        from ticker.cli.stories import story_test

        return story_test
    if command in ("notify-test", "outbox"):
        from ticker.cli.channels import notify_test, outbox

        return notify_test if command == "notify-test" else outbox
    from ticker.cli.validate import validate

    return validate


def _dispatch(args: argparse.Namespace) -> int:
    import asyncio

    result: Any = _handler(args.command)(args)
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
