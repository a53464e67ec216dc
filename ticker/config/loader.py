"""TOML text to a validated :class:`Config`, reporting every problem by its key path.

Nothing here touches the network or the database: the loader reads one file (and the built-in
profiles), interpolates ``${VAR}`` from the environment it is given, compiles selectors and
regexes, and either returns a Config that is valid once built or raises ConfigError listing all
that is wrong (``sources[2].items: invalid CSS selector ...``).
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ticker.config import values
from ticker.config.alerts import AlertTables
from ticker.config.model import (
    DEFAULT_USER_AGENT,
    Config,
    ServiceConfig,
    SourceConfig,
)
from ticker.config.profiles import builtin_profiles
from ticker.config.secrets import interpolate, with_permission_warning
from ticker.durations import parse_duration
from ticker.errors import ConfigError
from ticker.extract import Selector, compile_selector

_NONE: tuple[str, ...] = ()
_ID = re.compile(r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$")
MIN_TOKEN = 16
_SERVICE_KEYS = {
    "state", "listen", "health_channels", "concurrency", "per_host", "host_spacing",
    "user_agent", "connect_timeout", "read_timeout", "timeout", "max_bytes", "jitter",
    "failing_after", "stop_timeout", "timezone", "burst", "give_up_after", "max_strikes",
    "max_connections", "story_window", "story_threshold", "render_concurrency",
    "allow_remote", "token", "hostnames",
}  # fmt: skip
_SOURCE_KEYS = {
    "id", "name", "url", "interval", "items", "text", "link", "canary", "tags", "realert_after",
    "stale_after", "charset", "headers", "profile", "enabled", "method", "body", "json_in",
    "json_var", "render",
}  # fmt: skip
_PROFILE_KEYS = _SOURCE_KEYS - {"id", "profile", "enabled"}
_TOP_KEYS = {"service", "sources", "channels", "routes", "profiles"}


def load_config(path: str | os.PathLike[str], env: Mapping[str, str] | None = None) -> Config:
    """Read and validate a configuration file. Raises ConfigError listing every problem."""
    file = Path(path)
    try:
        raw = file.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"configuration file {str(file)!r} not found") from None
    except OSError as exc:
        raise ConfigError(f"cannot read configuration file {str(file)!r}: {exc.strerror}") from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{str(file)!r} is not UTF-8 text: {exc}") from exc
    config = parse_config(text, path=file, env=os.environ if env is None else env)
    return with_permission_warning(config, file, text)


def parse_config(text: str, *, path: Path, env: Mapping[str, str]) -> Config:
    """Validate TOML text (``path`` locates relative paths). Raises ConfigError."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from exc
    return _Loader(path=path, env=env).load(data)


class _Loader(AlertTables):
    """Walks the TOML tree once, collecting problems instead of stopping at the first."""

    def __init__(self, *, path: Path, env: Mapping[str, str]) -> None:
        super().__init__()
        self.path = path
        self.base = path.resolve().parent
        self.env = env

    def load(self, data: dict[str, Any]) -> Config:
        data = self.interpolate(data, "")
        self.unknown_keys(data, _TOP_KEYS, "")
        service = self.service(self.table(data, "service", ""))
        profiles = self.profiles(data.get("profiles", {}))
        sources = self.sources(data.get("sources", []), profiles)
        channels = self.channels(data.get("channels", []))
        routes = self.routes(data.get("routes", []), sources, channels)
        channel_ids = {c.id for c in channels}
        for i, cid in enumerate(service.health_channels if service else ()):
            if cid not in channel_ids:
                self.problem(
                    f"service.health_channels[{i}]", self.unknown_ref("channel", cid, channel_ids)
                )
        if self.problems or service is None:
            raise ConfigError(self.problems)
        return Config(
            path=self.path,
            service=service,
            sources=tuple(sources),
            channels=tuple(channels),
            routes=tuple(routes),
        )

    def interpolate(self, value: Any, where: str) -> Any:
        return interpolate(value, where, self.env, self.problem)

    # -- sections ------------------------------------------------------------------------

    def service(self, table: dict[str, Any]) -> ServiceConfig | None:
        w = "service"
        self.unknown_keys(table, _SERVICE_KEYS, w)
        from ticker import __version__

        state = self.get(table, "state", w, values.string, "ticker.db")
        listen = self.get(table, "listen", w, values.listen, None)
        return ServiceConfig(
            state=self.resolve(state),
            listen=listen,
            health_channels=self.get(table, "health_channels", w, values.strings, _NONE),
            concurrency=self.get(table, "concurrency", w, values.positive_int, 32),
            per_host=self.get(table, "per_host", w, values.positive_int, 2),
            host_spacing=self.get(table, "host_spacing", w, parse_duration, 0.0),
            user_agent=self.get(
                table,
                "user_agent",
                w,
                values.string,
                DEFAULT_USER_AGENT.format(version=__version__),
            ),
            connect_timeout=self.get(table, "connect_timeout", w, values.positive_duration, 10.0),
            read_timeout=self.get(table, "read_timeout", w, values.positive_duration, 20.0),
            total_timeout=self.get(table, "timeout", w, values.positive_duration, 30.0),
            max_bytes=self.get(table, "max_bytes", w, values.size, 5 * 1024 * 1024),
            jitter=self.get(table, "jitter", w, values.fraction, 0.1),
            failing_after=self.get(table, "failing_after", w, values.positive_int, 5),
            stop_timeout=self.get(table, "stop_timeout", w, parse_duration, 10.0),
            timezone=self.get(table, "timezone", w, values.timezone, None),
            burst=self.get(table, "burst", w, values.positive_int, 5),
            give_up_after=self.get(table, "give_up_after", w, values.positive_duration, 86400.0),
            max_strikes=self.get(table, "max_strikes", w, values.positive_int, 5),
            max_connections=self.get(table, "max_connections", w, values.positive_int, 256),
            story_window=self.get(table, "story_window", w, values.story_window, 1800.0),
            story_threshold=self.get(table, "story_threshold", w, values.threshold, 0.8),
            render_concurrency=self.get(table, "render_concurrency", w, values.positive_int, 1),
            **self.endpoint_access(table, w, listen),
        )

    def endpoint_access(
        self, table: dict[str, Any], w: str, listen: tuple[str, int] | None
    ) -> dict[str, Any]:
        """allow_remote, token and hostnames, checked together: an endpoint reachable from the
        network without a token would let any page a colleague opens read and probe it."""
        allow_remote = self.get(table, "allow_remote", w, values.boolean, False)
        token = self.get(table, "token", w, values.string, None) or None
        hostnames = self.get(table, "hostnames", w, values.strings, _NONE)
        if listen is not None and not allow_remote and not values.loopback(listen[0]):
            self.problem(
                f"{w}.listen",
                f"{listen[0]!r} is not a loopback address, so the endpoint would be reachable "
                "from the network; set [service] allow_remote = true and a token, or listen "
                'on "127.0.0.1:PORT" behind a reverse proxy',
            )
        if allow_remote and token is None:
            self.problem(
                f"{w}.token",
                'allow_remote = true needs a token: token = "${TICKER_TOKEN}" (at least '
                f"{MIN_TOKEN} characters, e.g. from `openssl rand -hex 16`)",
            )
        if token is not None and len(token) < MIN_TOKEN:
            self.problem(
                f"{w}.token", f"the token is too short: use at least {MIN_TOKEN} characters"
            )
        return {
            "allow_remote": allow_remote,
            "token": token,
            "hostnames": tuple(h.lower().strip("[]") for h in hostnames),
        }

    def resolve(self, value: str) -> Path:
        p = Path(value).expanduser()
        return p if p.is_absolute() else self.base / p

    def profiles(self, value: Any) -> dict[str, dict[str, Any]]:
        profiles = builtin_profiles()
        if not isinstance(value, dict):
            self.problem("profiles", f"expected a table of profiles, got {values.kind(value)}")
            return profiles
        for name, table in value.items():
            where = f"profiles.{name}"
            if not isinstance(table, dict):
                self.problem(where, f"expected a table, got {values.kind(table)}")
                continue
            self.unknown_keys(table, _PROFILE_KEYS, where)
            # A user's profile of a built-in name corrects the built-in key by key.
            profiles[name] = {**profiles.get(name, {}), **table}
        return profiles

    def sources(self, value: Any, profiles: dict[str, dict[str, Any]]) -> list[SourceConfig]:
        out: list[SourceConfig] = []
        seen: set[str] = set()
        tables = self.tables(value, "sources")
        if not tables:
            self.problem("sources", "no sources configured: add at least one [[sources]] table")
        for i, table in enumerate(tables):
            where = f"sources[{i}]"
            self.unknown_keys(table, _SOURCE_KEYS, where)
            if table.get("enabled", True) is False:
                continue
            profile_name = table.get("profile")
            merged = dict(table)
            if profile_name is not None:
                if profile_name not in profiles:
                    self.problem(
                        f"{where}.profile", self.unknown_ref("profile", profile_name, profiles)
                    )
                else:
                    merged = {**profiles[profile_name], **table}
            source = self.source(merged, where, seen)
            if source is not None:
                seen.add(source.id)
                out.append(source)
        return out

    def source(self, t: dict[str, Any], where: str, seen: set[str]) -> SourceConfig | None:
        before = len(self.problems)
        sid = t.get("id") or t.get("profile")
        if not isinstance(sid, str) or not _ID.match(sid):
            self.problem(
                f"{where}.id",
                "required, lowercase letters, digits and '-' (like \"almayadeen-en\"), "
                f"got {sid!r}",
            )
            sid = ""
        elif sid in seen:
            self.problem(f"{where}.id", f"duplicate source id {sid!r}")
        url = t.get("url")
        if not isinstance(url, str) or urlsplit(url).scheme not in ("http", "https"):
            self.problem(f"{where}.url", f"required, an http:// or https:// URL, got {url!r}")
            url = ""
        elif not urlsplit(url).hostname:
            self.problem(f"{where}.url", f"no host in URL {url!r}")
        items = self.selector(t, "items", where, required=True)
        text = self.selector(t, "text", where)
        link = self.selector(t, "link", where)
        canary = self.selector(t, "canary", where)
        if items is not None:
            for name, sel in (("text", text), ("link", link)):
                if sel is not None and (sel.kind == "jmespath") != (items.kind == "jmespath"):
                    self.problem(
                        f"{where}.{name}",
                        f"{sel.kind}: selector cannot run inside {items.kind}: items "
                        "(JSON sources use jmespath: throughout, HTML sources css: or xpath:)",
                    )
        interval = self.get(t, "interval", where, values.positive_duration, 60.0)
        if len(self.problems) > before or items is None:
            return None
        return SourceConfig(
            id=sid,
            name=self.get(t, "name", where, values.string, sid),
            url=url,
            interval=interval,
            items=items,
            text=text,
            link=link,
            canary=canary,
            tags=self.get(t, "tags", where, values.strings, _NONE),
            realert_after=self.get(t, "realert_after", where, parse_duration, 6 * 3600.0),
            stale_after=self.get(t, "stale_after", where, values.optional_duration, None),
            charset=self.get(t, "charset", where, values.charset, None),
            profile=t.get("profile"),
            render=self.get(t, "render", where, values.boolean, False),
            **self.request(t, where),
            **self.embedded_json(t, where, items),
        )

    def request(self, t: Mapping[str, Any], where: str) -> dict[str, Any]:
        """headers, method and body: a table body is sent as JSON (with its Content-Type
        unless the headers name one); a body needs method = "POST"."""
        no_headers: dict[str, str] = {}
        no_body: tuple[str | None, bool] = (None, False)
        headers = self.get(t, "headers", where, values.headers, no_headers)
        method = self.get(t, "method", where, values.method, "GET")
        text, is_json = self.get(t, "body", where, values.body, no_body)
        if text is not None and method != "POST":
            self.problem(
                f"{where}.body",
                'a request body is sent with method = "POST" (add it, or remove body)',
            )
        if is_json and not any(k.lower() == "content-type" for k in headers):
            headers = {**headers, "Content-Type": "application/json"}
        return {"headers": headers, "method": method, "body": text}

    def embedded_json(
        self, t: Mapping[str, Any], where: str, items: Selector | None
    ) -> dict[str, Any]:
        """json_in (a css:/xpath: selector of the script holding the JSON) and json_var."""
        json_in = self.selector(t, "json_in", where)
        json_var = self.get(t, "json_var", where, values.string, None) or None
        if json_in is not None and json_in.kind == "jmespath":
            self.problem(
                f"{where}.json_in", 'names the script in the HTML: "css:script#__NEXT_DATA__"'
            )
        if json_in is not None and items is not None and items.kind != "jmespath":
            self.problem(
                f"{where}.items",
                'with json_in, the items are read from that JSON: a "jmespath:" selector',
            )
        if json_var is not None and json_in is None:
            self.problem(f"{where}.json_var", "needs json_in (the script it is assigned in)")
        return {"json_in": json_in, "json_var": json_var}

    def selector(
        self, t: Mapping[str, Any], key: str, where: str, *, required: bool = False
    ) -> Selector | None:
        value = t.get(key)
        if value is None:
            if required:
                self.problem(
                    f"{where}.{key}",
                    'required: a selector such as "css:.breaking-news li" '
                    "(try 'ticker probe URL --items ...' to find one)",
                )
            return None
        if not isinstance(value, str):
            self.problem(f"{where}.{key}", f"expected a selector string, got {values.kind(value)}")
            return None
        try:
            return compile_selector(value)
        except ValueError as exc:
            self.problem(f"{where}.{key}", str(exc))
            return None
