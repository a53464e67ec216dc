"""The validated configuration: frozen values, valid once built (see ``loader``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ticker.extract import Selector
from ticker.patterns import LinearPattern

DEFAULT_USER_AGENT = (
    "ticker/{version} (+https://github.com/ticker-news/ticker; breaking-news monitor)"
)


@dataclass(frozen=True, slots=True, kw_only=True)
class ServiceConfig:
    state: Path
    listen: tuple[str, int] | None = None
    health_channels: tuple[str, ...] = ()
    concurrency: int = 32
    per_host: int = 2
    host_spacing: float = 0.0
    user_agent: str = ""
    connect_timeout: float = 10.0
    read_timeout: float = 20.0
    total_timeout: float = 30.0
    max_bytes: int = 5 * 1024 * 1024
    jitter: float = 0.1
    failing_after: int = 5
    stop_timeout: float = 10.0
    timezone: str | None = None
    burst: int = 5
    give_up_after: float = 24 * 3600.0
    max_strikes: int = 5
    max_connections: int = 256  # open HTTP connections at most (ticker.web.server)
    story_window: float = 1800.0  # seconds a line may join a story of other sources; 0: off
    story_threshold: float = 0.8  # the stories score at which two lines are the same story
    render_concurrency: int = 1  # pages rendered at once for render = true sources
    # The endpoint beyond loopback: allowed only when asked for, and then only with a token.
    allow_remote: bool = False
    token: str | None = field(default=None, repr=False)
    hostnames: tuple[str, ...] = ()  # Host header names accepted besides IPs and localhost


@dataclass(frozen=True, slots=True, kw_only=True)
class SourceConfig:
    id: str
    name: str
    url: str
    interval: float
    items: Selector
    text: Selector | None = None
    link: Selector | None = None
    canary: Selector | None = None
    tags: tuple[str, ...] = ()
    realert_after: float = 6 * 3600.0
    stale_after: float | None = None
    charset: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    profile: str | None = None
    method: str = "GET"
    body: str | None = None  # sent as UTF-8 (a TOML table: as JSON, Content-Type set)
    json_in: Selector | None = None  # the script of an HTML page whose JSON holds the ticker
    json_var: str | None = None  # in that script, the name assigned (window.__STATE__ = {...})
    render: bool = False  # read through the browser (ticker.browser.Renderer): the rendered DOM

    @property
    def is_json(self) -> bool:
        """The response is JSON (an API); a page with JSON in a script is HTML."""
        return self.items.kind == "jmespath" and self.json_in is None


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelConfig:
    id: str
    urls: tuple[str, ...] = ()
    config: Path | None = None  # an apprise configuration file (YAML or text)
    template: str | None = None  # body template: {source} {text} {link} {time} {tags}
    timezone: str | None = None
    min_interval: float | None = None  # our pacing between sends on one URL; None: by kind


@dataclass(frozen=True, slots=True, kw_only=True)
class RouteConfig:
    channels: tuple[str, ...]
    sources: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    match: tuple[LinearPattern, ...] = ()  # linear-time (see patterns.py)
    exclude: tuple[LinearPattern, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Config:
    path: Path
    service: ServiceConfig
    sources: tuple[SourceConfig, ...]
    channels: tuple[ChannelConfig, ...] = ()
    routes: tuple[RouteConfig, ...] = ()
    warnings: tuple[str, ...] = ()
