"""The alerting tables of a configuration: ``[[channels]]`` and ``[[routes]]``, each problem by
its key path (part of the loader: ``ticker.config.loader``)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ticker.config import values
from ticker.config.checker import Checker
from ticker.config.model import ChannelConfig, RouteConfig, SourceConfig
from ticker.durations import parse_duration
from ticker.patterns import LinearPattern, PatternError, compile_linear

_NONE: tuple[str, ...] = ()
_ID = re.compile(r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$")
_CHANNEL_KEYS = {"id", "urls", "config", "template", "timezone", "min_interval"}
_ROUTE_KEYS = {"channels", "sources", "tags", "match", "exclude"}


class AlertTables(Checker):
    """The loader's reading of channels and routes."""

    def resolve(self, value: str) -> Path:
        """A path relative to the configuration file (the loader's)."""
        raise NotImplementedError

    def channels(self, value: Any) -> list[ChannelConfig]:
        out: list[ChannelConfig] = []
        seen: set[str] = set()
        for i, t in enumerate(self.tables(value, "channels")):
            where = f"channels[{i}]"
            self.unknown_keys(t, _CHANNEL_KEYS, where)
            cid = t.get("id")
            if not isinstance(cid, str) or not _ID.match(cid):
                self.problem(f"{where}.id", f'required, like "desk", got {cid!r}')
                continue
            if cid in seen:
                self.problem(f"{where}.id", f"duplicate channel id {cid!r}")
            seen.add(cid)
            urls = self.get(t, "urls", where, values.strings, _NONE)
            for j, url in enumerate(urls):
                if "://" not in url:
                    self.problem(
                        f"{where}.urls[{j}]",
                        "not an apprise URL (like tgram://TOKEN/CHAT or mailtos://...)",
                    )
            config_file = self.get(t, "config", where, values.string, None)
            config_path = self.resolve(config_file) if config_file else None
            if config_path is not None and not config_path.is_file():
                self.problem(
                    f"{where}.config", f"apprise config file {str(config_path)!r} not found"
                )
            if not urls and config_path is None:
                self.problem(where, "a channel needs 'urls' or an apprise 'config' file")
            template = self.get(t, "template", where, values.template, None)
            out.append(
                ChannelConfig(
                    id=cid,
                    urls=urls,
                    config=config_path,
                    template=template,
                    timezone=self.get(t, "timezone", where, values.timezone, None),
                    min_interval=self.get(t, "min_interval", where, parse_duration, None),
                )
            )
        return out

    def routes(
        self, value: Any, sources: list[SourceConfig], channels: list[ChannelConfig]
    ) -> list[RouteConfig]:
        out: list[RouteConfig] = []
        source_ids = {s.id for s in sources}
        channel_ids = {c.id for c in channels}
        for i, t in enumerate(self.tables(value, "routes")):
            where = f"routes[{i}]"
            self.unknown_keys(t, _ROUTE_KEYS, where)
            route_channels = self.get(t, "channels", where, values.strings, _NONE)
            if not route_channels:
                self.problem(f"{where}.channels", "required: the channel ids this route sends to")
            for j, cid in enumerate(route_channels):
                if cid not in channel_ids:
                    self.problem(
                        f"{where}.channels[{j}]", self.unknown_ref("channel", cid, channel_ids)
                    )
            route_sources = self.get(t, "sources", where, values.strings, _NONE)
            for j, sid in enumerate(route_sources):
                if sid not in source_ids:
                    self.problem(
                        f"{where}.sources[{j}]", self.unknown_ref("source", sid, source_ids)
                    )
            out.append(
                RouteConfig(
                    channels=route_channels,
                    sources=route_sources,
                    tags=self.get(t, "tags", where, values.strings, _NONE),
                    match=self.regexes(t, "match", where),
                    exclude=self.regexes(t, "exclude", where),
                )
            )
        return out

    def regexes(self, t: Mapping[str, Any], key: str, where: str) -> tuple[LinearPattern, ...]:
        out = []
        for j, pattern in enumerate(self.get(t, key, where, values.strings, _NONE)):
            try:
                out.append(compile_linear(pattern))
            except PatternError as exc:
                self.problem(
                    f"{where}.{key}[{j}]", f"invalid regular expression {pattern!r}: {exc}"
                )
        return tuple(out)
