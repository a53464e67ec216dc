"""TOML text to a validated :class:`Config`, reporting every problem by its key path.

Nothing here touches the network or the database: the loader reads one file (and the built-in
profiles), interpolates ``${VAR}`` from the environment it is given, compiles selectors and
regexes, and either returns a Config that is valid once built or raises ConfigError listing all
that is wrong (``sources[2].items: invalid CSS selector ...``).
"""

from __future__ import annotations

import difflib
import os
import re
import stat
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlsplit

from ticker.durations import parse_duration
from ticker.errors import ConfigError, Problem
from ticker.extract import Selector, compile_selector
from ticker.patterns import LinearPattern, PatternError, compile_linear

T = TypeVar("T")

DEFAULT_USER_AGENT = (
    "ticker/{version} (+https://github.com/ticker-news/ticker; breaking-news monitor)"
)
_NONE: tuple[str, ...] = ()
_ID = re.compile(r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$")
_VAR = re.compile(r"\$\$|\$\{(cred:)?([A-Za-z_][A-Za-z0-9_.-]*)(?::-([^}]*))?\}")


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
    max_connections: int = 256  # open HTTP connections at most (ticker.httpserver)
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

    @property
    def is_json(self) -> bool:
        return self.items.kind == "jmespath"


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

    def source(self, source_id: str) -> SourceConfig:
        for s in self.sources:
            if s.id == source_id:
                return s
        raise KeyError(source_id)


MIN_TOKEN = 16
_SERVICE_KEYS = {
    "state", "listen", "health_channels", "concurrency", "per_host", "host_spacing",
    "user_agent", "connect_timeout", "read_timeout", "timeout", "max_bytes", "jitter",
    "failing_after", "stop_timeout", "timezone", "burst", "give_up_after", "max_strikes",
    "max_connections",
    "allow_remote", "token", "hostnames",
}  # fmt: skip
_SOURCE_KEYS = {
    "id", "name", "url", "interval", "items", "text", "link", "canary", "tags", "realert_after",
    "stale_after", "charset", "headers", "profile", "enabled",
}  # fmt: skip
_PROFILE_KEYS = _SOURCE_KEYS - {"id", "profile", "enabled"}
_CHANNEL_KEYS = {"id", "urls", "config", "template", "timezone", "min_interval"}
_ROUTE_KEYS = {"channels", "sources", "tags", "match", "exclude"}
_TOP_KEYS = {"service", "sources", "channels", "routes", "profiles"}


def builtin_profiles() -> dict[str, dict[str, Any]]:
    """The profiles shipped in ``ticker/profiles/*.toml``, by name."""
    out: dict[str, dict[str, Any]] = {}
    for entry in resources.files("ticker.profiles").iterdir():
        if entry.name.endswith(".toml"):
            out[entry.name.removesuffix(".toml")] = tomllib.loads(entry.read_text("utf-8"))
    return out


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
    return _with_permission_warning(config, file, text)


def _with_permission_warning(config: Config, file: Path, text: str) -> Config:
    # X2: a file that holds literal secrets should not be readable by others.
    try:
        mode = file.stat().st_mode
    except OSError:
        return config
    if not mode & (stat.S_IRGRP | stat.S_IROTH):
        return config
    channels = tomllib.loads(text).get("channels")
    raw_urls = [
        url
        for channel in (channels if isinstance(channels, list) else [])
        if isinstance(channel, dict) and isinstance(channel.get("urls"), list)
        for url in channel["urls"]
        if isinstance(url, str)
    ]
    if any(map(literal_secret, raw_urls)):
        warning = (
            f"{file} holds channel URLs (which carry tokens) and is readable by other users; "
            f"run 'chmod 600 {file}' or move the secrets to ${{VARIABLES}}"
        )
        return Config(**{**_fields(config), "warnings": (*config.warnings, warning)})
    return config


_VAR_STANDIN = "tickervar"  # a ${VAR}'s stand-in: a part holding it is not literal
_SECRET_NAME = re.compile(r"pass|secret|token|key|auth|sig|cred", re.IGNORECASE)


def _token_like(value: str) -> bool:
    """A long word, or a mixed one of letters and digits: ``s3cr3tpath``, not ``notify``."""
    has_digit = any(c.isdigit() for c in value)
    return len(value) >= 16 or (len(value) >= 8 and has_digit and any(c.isalpha() for c in value))


def literal_secret(url: str) -> bool:
    """Whether a channel URL as written (its ``${VARS}`` not substituted) holds a secret: a
    password, a host that is a token (ticker.log.host_is_secret) or a user beside one, a
    token-like path segment or query value, or any value of a query parameter named like a
    secret (``?pass=``, ``?token=``). ``json://127.0.0.1:8080/notify`` holds none."""
    from ticker.log import host_is_secret

    text = _VAR.sub(lambda m: "$" if m.group(0) == "$$" else _VAR_STANDIN, url)

    def literal(part: str | None) -> bool:
        return bool(part) and _VAR_STANDIN not in (part or "").lower()

    try:
        parts = urlsplit(text)
        scheme, host = parts.scheme, parts.hostname or ""
        user, password = parts.username, parts.password
    except ValueError:
        return literal(text)
    netloc_host = parts.netloc.rpartition("@")[2]
    secret_host = host_is_secret(scheme, host)
    if literal(password) or (secret_host and literal(user)):
        return True
    if secret_host and literal(netloc_host):
        return True
    if any(literal(seg) and _token_like(seg) for seg in parts.path.split("/")):
        return True
    return any(
        literal(value) and (_SECRET_NAME.search(name) is not None or _token_like(value))
        for name, value in parse_qsl(parts.query, keep_blank_values=True)
    )


def _fields(obj: Any) -> dict[str, Any]:
    return {name: getattr(obj, name) for name in obj.__dataclass_fields__}


def parse_config(text: str, *, path: Path, env: Mapping[str, str]) -> Config:
    """Validate TOML text (``path`` locates relative paths). Raises ConfigError."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from exc
    return _Loader(path=path, env=env).load(data)


class _Loader:
    """Walks the TOML tree once, collecting problems instead of stopping at the first."""

    def __init__(self, *, path: Path, env: Mapping[str, str]) -> None:
        self.path = path
        self.base = path.resolve().parent
        self.env = env
        self.problems: list[Problem] = []

    def problem(self, where: str, message: str) -> None:
        self.problems.append(Problem(path=where, message=message))

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

    # -- generic helpers -------------------------------------------------------------------

    def interpolate(self, value: Any, where: str) -> Any:
        if isinstance(value, str):
            return self.expand(value, where)
        if isinstance(value, list):
            return [self.interpolate(v, f"{where}[{i}]") for i, v in enumerate(value)]
        if isinstance(value, dict):
            return {k: self.interpolate(v, _join(where, k)) for k, v in value.items()}
        return value

    def expand(self, text: str, where: str) -> str:
        def sub(m: re.Match[str]) -> str:
            if m.group(0) == "$$":
                return "$"
            cred, name, default = m.group(1), m.group(2), m.group(3)
            if cred:
                return self.credential(name, where)
            if name in self.env:
                return self.env[name]
            if default is not None:
                return default
            self.problem(
                where,
                f"environment variable {name} is not set "
                f"(export it, or set it in the service's EnvironmentFile)",
            )
            return ""

        return _VAR.sub(sub, text)

    def credential(self, name: str, where: str) -> str:
        """``${cred:NAME}``: a systemd credential (LoadCredential=NAME:/path)."""
        directory = self.env.get("CREDENTIALS_DIRECTORY")
        if not directory:
            self.problem(
                where,
                f"credential {name!r} asked for but $CREDENTIALS_DIRECTORY is not set "
                "(LoadCredential= in the systemd unit provides it)",
            )
            return ""
        try:
            return (Path(directory) / name).read_text("utf-8").strip()
        except OSError as exc:
            self.problem(where, f"cannot read credential {name!r}: {exc.strerror}")
            return ""

    def unknown_keys(self, table: Mapping[str, Any], allowed: set[str], where: str) -> None:
        for key in table:
            if key not in allowed:
                close = difflib.get_close_matches(key, sorted(allowed), n=1, cutoff=0.6)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                self.problem(_join(where, key), f"unknown key {key!r}{hint}")

    def table(self, data: Mapping[str, Any], key: str, where: str) -> dict[str, Any]:
        value = data.get(key, {})
        if not isinstance(value, dict):
            self.problem(_join(where, key), f"expected a table, got {_kind(value)}")
            return {}
        return value

    def tables(self, value: Any, where: str) -> list[dict[str, Any]]:
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            self.problem(where, f"expected an array of tables ([[{where}]]), got {_kind(value)}")
            return []
        return value

    def get(
        self,
        table: Mapping[str, Any],
        key: str,
        where: str,
        convert: Callable[[Any], T],
        default: T,
    ) -> T:
        if key not in table:
            return default
        try:
            return convert(table[key])
        except (ValueError, TypeError) as exc:
            self.problem(_join(where, key), str(exc))
            return default

    # -- sections ------------------------------------------------------------------------

    def service(self, table: dict[str, Any]) -> ServiceConfig | None:
        w = "service"
        self.unknown_keys(table, _SERVICE_KEYS, w)
        from ticker import __version__

        state = self.get(table, "state", w, _string, "ticker.db")
        listen = self.get(table, "listen", w, _listen, None)
        return ServiceConfig(
            state=self.resolve(state),
            listen=listen,
            health_channels=self.get(table, "health_channels", w, _strings, _NONE),
            concurrency=self.get(table, "concurrency", w, _positive_int, 32),
            per_host=self.get(table, "per_host", w, _positive_int, 2),
            host_spacing=self.get(table, "host_spacing", w, parse_duration, 0.0),
            user_agent=self.get(
                table, "user_agent", w, _string, DEFAULT_USER_AGENT.format(version=__version__)
            ),
            connect_timeout=self.get(table, "connect_timeout", w, _positive_duration, 10.0),
            read_timeout=self.get(table, "read_timeout", w, _positive_duration, 20.0),
            total_timeout=self.get(table, "timeout", w, _positive_duration, 30.0),
            max_bytes=self.get(table, "max_bytes", w, _size, 5 * 1024 * 1024),
            jitter=self.get(table, "jitter", w, _fraction, 0.1),
            failing_after=self.get(table, "failing_after", w, _positive_int, 5),
            stop_timeout=self.get(table, "stop_timeout", w, parse_duration, 10.0),
            timezone=self.get(table, "timezone", w, _timezone, None),
            burst=self.get(table, "burst", w, _positive_int, 5),
            give_up_after=self.get(table, "give_up_after", w, _positive_duration, 86400.0),
            max_strikes=self.get(table, "max_strikes", w, _positive_int, 5),
            max_connections=self.get(table, "max_connections", w, _positive_int, 256),
            **self.endpoint_access(table, w, listen),
        )

    def endpoint_access(
        self, table: dict[str, Any], w: str, listen: tuple[str, int] | None
    ) -> dict[str, Any]:
        """allow_remote, token and hostnames, checked together: an endpoint reachable from the
        network without a token would let any page a colleague opens read and probe it."""
        allow_remote = self.get(table, "allow_remote", w, _bool, False)
        token = self.get(table, "token", w, _string, None) or None
        hostnames = self.get(table, "hostnames", w, _strings, _NONE)
        if listen is not None and not allow_remote and not _loopback(listen[0]):
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
            self.problem("profiles", f"expected a table of profiles, got {_kind(value)}")
            return profiles
        for name, table in value.items():
            where = f"profiles.{name}"
            if not isinstance(table, dict):
                self.problem(where, f"expected a table, got {_kind(table)}")
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
        interval = self.get(t, "interval", where, _positive_duration, 60.0)
        if len(self.problems) > before or items is None:
            return None
        return SourceConfig(
            id=sid,
            name=self.get(t, "name", where, _string, sid),
            url=url,
            interval=interval,
            items=items,
            text=text,
            link=link,
            canary=canary,
            tags=self.get(t, "tags", where, _strings, _NONE),
            realert_after=self.get(t, "realert_after", where, parse_duration, 6 * 3600.0),
            stale_after=self.get(t, "stale_after", where, _optional_duration, None),
            charset=self.get(t, "charset", where, _charset, None),
            headers=self.get(t, "headers", where, _headers, {}),
            profile=t.get("profile"),
        )

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
            self.problem(f"{where}.{key}", f"expected a selector string, got {_kind(value)}")
            return None
        try:
            return compile_selector(value)
        except ValueError as exc:
            self.problem(f"{where}.{key}", str(exc))
            return None

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
            urls = self.get(t, "urls", where, _strings, _NONE)
            for j, url in enumerate(urls):
                if "://" not in url:
                    self.problem(
                        f"{where}.urls[{j}]",
                        "not an apprise URL (like tgram://TOKEN/CHAT or mailtos://...)",
                    )
            config_file = self.get(t, "config", where, _string, None)
            config_path = self.resolve(config_file) if config_file else None
            if config_path is not None and not config_path.is_file():
                self.problem(
                    f"{where}.config", f"apprise config file {str(config_path)!r} not found"
                )
            if not urls and config_path is None:
                self.problem(where, "a channel needs 'urls' or an apprise 'config' file")
            template = self.get(t, "template", where, _template, None)
            out.append(
                ChannelConfig(
                    id=cid,
                    urls=urls,
                    config=config_path,
                    template=template,
                    timezone=self.get(t, "timezone", where, _timezone, None),
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
            route_channels = self.get(t, "channels", where, _strings, _NONE)
            if not route_channels:
                self.problem(f"{where}.channels", "required: the channel ids this route sends to")
            for j, cid in enumerate(route_channels):
                if cid not in channel_ids:
                    self.problem(
                        f"{where}.channels[{j}]", self.unknown_ref("channel", cid, channel_ids)
                    )
            route_sources = self.get(t, "sources", where, _strings, _NONE)
            for j, sid in enumerate(route_sources):
                if sid not in source_ids:
                    self.problem(
                        f"{where}.sources[{j}]", self.unknown_ref("source", sid, source_ids)
                    )
            out.append(
                RouteConfig(
                    channels=route_channels,
                    sources=route_sources,
                    tags=self.get(t, "tags", where, _strings, _NONE),
                    match=self.regexes(t, "match", where),
                    exclude=self.regexes(t, "exclude", where),
                )
            )
        return out

    def regexes(self, t: Mapping[str, Any], key: str, where: str) -> tuple[LinearPattern, ...]:
        out = []
        for j, pattern in enumerate(self.get(t, key, where, _strings, _NONE)):
            try:
                out.append(compile_linear(pattern))
            except PatternError as exc:
                self.problem(
                    f"{where}.{key}[{j}]", f"invalid regular expression {pattern!r}: {exc}"
                )
        return tuple(out)

    @staticmethod
    def unknown_ref(what: str, name: object, known: Mapping[str, Any] | set[str]) -> str:
        close = difflib.get_close_matches(str(name), sorted(known), n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        names = ", ".join(sorted(known)) or "none"
        return f"unknown {what} {name!r}{hint} (known: {names})"


# -- converters: raw TOML value -> typed value, ValueError with a message for a person --------


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _kind(value: object) -> str:
    return {dict: "a table", list: "an array", str: "a string", bool: "a boolean"}.get(
        type(value), type(value).__name__
    )


def _string(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected a string, got {_kind(value)}")
    return value


def _strings(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"expected an array of strings, got {_kind(value)}")
    return tuple(value)


def _positive_int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"expected a whole number of 1 or more, got {value!r}")
    return value


def _positive_duration(value: Any) -> float:
    seconds = parse_duration(value)
    if seconds <= 0:
        raise ValueError(f"must be more than zero, got {value!r}")
    return seconds


def _optional_duration(value: Any) -> float | None:
    if value in ("off", "", 0):
        return None
    return _positive_duration(value)


def _fraction(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise ValueError(f"expected a fraction between 0 and 1, got {value!r}")
    return float(value)


_SIZE = re.compile(r"^(\d+(?:\.\d+)?)\s*(b|kb|k|mb|m|gb|g|kib|mib|gib)?$", re.IGNORECASE)
_SIZE_UNITS = {"b": 1, "k": 1024, "kb": 1000, "kib": 1024, "m": 1 << 20, "mb": 1000**2,
               "mib": 1 << 20, "g": 1 << 30, "gb": 1000**3, "gib": 1 << 30}  # fmt: skip


def _size(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    m = _SIZE.match(str(value).strip()) if isinstance(value, str) else None
    if not m:
        raise ValueError(f'expected a size such as 5242880 or "5MB", got {value!r}')
    return int(float(m.group(1)) * _SIZE_UNITS[(m.group(2) or "b").lower()])


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false, got {value!r}")
    return value


def _loopback(host: str) -> bool:
    import ipaddress

    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a name: it may resolve to anything


def _listen(value: Any) -> tuple[str, int]:
    text = _string(value)
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f'expected "HOST:PORT" such as "127.0.0.1:8787", got {text!r}')
    return (host.strip("[]") or "127.0.0.1", int(port))


def _timezone(value: Any) -> str:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    name = _string(value)
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f'unknown time zone {name!r} (use an IANA name like "Asia/Beirut")'
        ) from None
    return name


def _charset(value: Any) -> str:
    import codecs

    name = _string(value)
    try:
        return codecs.lookup(name).name
    except LookupError:
        raise ValueError(f"unknown charset {name!r}") from None


def _headers(value: Any) -> dict[str, str]:
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise ValueError(f"expected a table of header names to strings, got {_kind(value)}")
    return dict(value)


_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
TEMPLATE_FIELDS = ("source", "text", "link", "time", "tags", "kind")


def _template(value: Any) -> str:
    text = _string(value)
    for name in _PLACEHOLDER.findall(text.replace("{{", "").replace("}}", "")):
        if name not in TEMPLATE_FIELDS:
            raise ValueError(
                f"unknown placeholder {{{name}}} in template (use {', '.join(TEMPLATE_FIELDS)})"
            )
    try:
        text.format_map(dict.fromkeys(TEMPLATE_FIELDS, ""))
    except (ValueError, KeyError, IndexError, AttributeError) as exc:
        raise ValueError(
            f"template {text!r} cannot be rendered: {exc} (write a literal brace as {{{{ or }}}})"
        ) from None
    return text
