"""SIGHUP: the configuration read again and checked before it replaces the one in use (an
invalid one is refused and logged, the service goes on as it was), and the sources' runtime
carried over to the new configuration."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path

import structlog

from ticker.config import Config, load_config
from ticker.errors import ConfigError
from ticker.health import SourceHealth
from ticker.service.scheduling import SourceRuntime

log = structlog.get_logger("ticker.service")


def read_new_config(path: Path, current: Config) -> Config | None:
    """The configuration at ``path`` if the service can take it on (its secrets registered for
    redaction), else None with the reason logged. The state path never changes on a reload."""
    try:
        new = load_config(path)
    except ConfigError as exc:
        log.error(
            "reload_failed",
            problems=[str(p) for p in exc.problems],
            note="still running on the previous configuration",
        )
        return None
    from ticker.apprise_channels import channel_url_problems

    # A URL apprise cannot use would stop every delivery once the old sender is gone.
    unusable = channel_url_problems(new.channels)
    if unusable:
        log.error(
            "reload_failed",
            problems=[str(p) for p in unusable],
            note="still running on the previous configuration",
        )
        return None
    if new.service.state != current.service.state:
        log.warning("reload_state_ignored", note="a new state path needs a restart")
        # Everything else (the endpoint's reads included) goes on with the state in use.
        new = dataclasses.replace(
            new, service=dataclasses.replace(new.service, state=current.service.state)
        )
    from ticker.log import REDACTOR

    REDACTOR.add_urls(
        (url for c in new.channels for url in c.urls),
        sources=(s.url for s in new.sources),
        secrets=[new.service.token] if new.service.token else [],
    )
    return new


def carry_over(sources: Mapping[str, SourceRuntime], new: Config) -> dict[str, SourceRuntime]:
    """The runtime of each source of ``new``: a kept source keeps its health and failures."""
    return {
        s.id: SourceRuntime(
            config=s,
            health=sources[s.id].health if s.id in sources else SourceHealth(),
            failures=sources[s.id].failures if s.id in sources else 0,
        )
        for s in new.sources
    }
