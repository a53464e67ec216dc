"""``ticker validate``: check a configuration and what it names, offline; writes nothing."""

from __future__ import annotations

import argparse

from ticker.cli.common import load, out
from ticker.cli.exits import EXIT_OK
from ticker.errors import ConfigError, Problem
from ticker.store import state_path_problem


def validate(args: argparse.Namespace) -> int:
    """Check the configuration and what it names that would stop a start: every channel URL
    (parsed by apprise, offline) and the state path. Writes nothing."""
    from ticker.apprise_channels import channel_url_problems

    config = load(args)
    problems = channel_url_problems(config.channels) if config.channels else []
    if (state := state_path_problem(config.service.state)) is not None:
        problems.append(Problem(path="service.state", message=state))
    rendered = [s.id for s in config.sources if s.render]
    if rendered:
        from ticker.browser import browser_problem

        if (browser := browser_problem()) is not None:
            names = ", ".join(repr(sid) for sid in rendered)
            problems.append(Problem(path="sources", message=f"render = true ({names}): {browser}"))
    if problems:
        raise ConfigError(problems)
    out(
        f"{args.config}: ok: {len(config.sources)} source(s), {len(config.channels)} channel(s), "
        f"{len(config.routes)} route(s); state {config.service.state}"
    )
    for source in config.sources:
        out(f"  {source.id}: {source.url} every {source.interval:g}s, items {source.items}")
    return EXIT_OK
