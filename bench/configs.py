"""ticker configurations for the benchmark: N sources of the built-in almayadeen-en profile."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from ticker.config import Config, parse_config

#: The service's concurrency (the default), and as many per host: the fixture server is one
#: host, where a real deployment polls many, and per_host = 2 would serialize it.
CONCURRENCY = 32
PER_HOST = 32


def config_text(urls: Sequence[str], state: Path, *, interval: str = "30s") -> str:
    """TOML for ``urls`` as sources s0..sN-1, the way a user would write them."""
    lines = [
        "[service]",
        f"state = {json.dumps(str(state))}",
        f"concurrency = {CONCURRENCY}",
        f"per_host = {PER_HOST}",
        "",
    ]
    for i, url in enumerate(urls):
        lines += [
            "[[sources]]",
            'profile = "almayadeen-en"',
            f'id = "s{i}"',
            f"url = {json.dumps(url)}",
            f'interval = "{interval}"',
            "",
        ]
    return "\n".join(lines)


def build_config(urls: Sequence[str], state: Path, *, interval: str = "30s") -> Config:
    """A validated Config, through ticker's own loader (no environment)."""
    path = state.parent / "ticker.toml"
    return parse_config(config_text(urls, state, interval=interval), path=path, env={})


def write_config(urls: Sequence[str], state: Path, path: Path, *, interval: str = "30s") -> Path:
    path.write_text(config_text(urls, state, interval=interval), encoding="utf-8")
    return path
