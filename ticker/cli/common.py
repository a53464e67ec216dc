"""What the commands share: the configuration named by ``-c``, the sources named on the command
line, a line to stdout, and the refusal of a channel URL apprise cannot use."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ticker.config import Config, SourceConfig
from ticker.errors import ConfigError


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


def out(line: str) -> None:
    """One line of a command's result on stdout, flushed (a pipe reader sees it at once)."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def refuse_unusable_channels(config: Config, *, only: Sequence[str] = ()) -> None:
    """Stop a start on a channel URL apprise cannot use, saying which and why as validate
    does (the journal then names it), rather than with the notifier's vaguer error.

    Raises ConfigError listing every such URL.
    """
    if not config.channels:
        return
    from ticker.apprise_channels import channel_url_problems

    if problems := channel_url_problems(config.channels, only=only):
        raise ConfigError(problems)
