"""Secrets in a configuration: where they come from (``${VAR}`` from the environment,
``${cred:NAME}`` from a systemd credential) and the warning when a file others can read holds
one as it is written."""

from __future__ import annotations

import re
import stat
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from ticker.config.model import Config
from ticker.config.values import join

_VAR = re.compile(r"\$\$|\$\{(cred:)?([A-Za-z_][A-Za-z0-9_.-]*)(?::-([^}]*))?\}")
#: Reports a problem: (key path, message).
Report = Callable[[str, str], None]


def interpolate(value: Any, where: str, env: Mapping[str, str], problem: Report) -> Any:
    """``value`` with ``${VAR}``, ``${VAR:-default}``, ``${cred:NAME}`` and ``$$`` replaced in
    every string of it; each variable that cannot be had is a problem at its key path."""
    if isinstance(value, str):
        return expand(value, where, env, problem)
    if isinstance(value, list):
        return [interpolate(v, f"{where}[{i}]", env, problem) for i, v in enumerate(value)]
    if isinstance(value, dict):
        return {k: interpolate(v, join(where, k), env, problem) for k, v in value.items()}
    return value


def expand(text: str, where: str, env: Mapping[str, str], problem: Report) -> str:
    def sub(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        cred, name, default = m.group(1), m.group(2), m.group(3)
        if cred:
            return credential(name, where, env, problem)
        if name in env:
            return env[name]
        if default is not None:
            return default
        problem(
            where,
            f"environment variable {name} is not set "
            f"(export it, or set it in the service's EnvironmentFile)",
        )
        return ""

    return _VAR.sub(sub, text)


def credential(name: str, where: str, env: Mapping[str, str], problem: Report) -> str:
    """``${cred:NAME}``: a systemd credential (LoadCredential=NAME:/path)."""
    directory = env.get("CREDENTIALS_DIRECTORY")
    if not directory:
        problem(
            where,
            f"credential {name!r} asked for but $CREDENTIALS_DIRECTORY is not set "
            "(LoadCredential= in the systemd unit provides it)",
        )
        return ""
    try:
        return (Path(directory) / name).read_text("utf-8").strip()
    except OSError as exc:
        problem(where, f"cannot read credential {name!r}: {exc.strerror}")
        return ""


def with_permission_warning(config: Config, file: Path, text: str) -> Config:
    """``config`` with a warning when ``file`` holds a channel URL with a literal secret
    and others may read it: such a file should be readable by its owner only."""
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
        return replace(config, warnings=(*config.warnings, warning))
    return config


_VAR_STANDIN = "tickervar"  # a ${VAR}'s stand-in: a part holding it is not literal
_SECRET_NAME = re.compile(r"pass|secret|token|key|auth|sig|cred", re.IGNORECASE)


def _token_like(value: str) -> bool:
    """A long word, or a mixed one of letters and digits: ``s3cr3tpath``, not ``notify``."""
    has_digit = any(c.isdigit() for c in value)
    return len(value) >= 16 or (len(value) >= 8 and has_digit and any(c.isalpha() for c in value))


def literal_secret(url: str) -> bool:
    """Whether a channel URL as written (its ``${VARS}`` not substituted) holds a secret: a
    password, a host that is a token (ticker.redact.host_is_secret) or a user beside one, a
    token-like path segment or query value, or any value of a query parameter named like a
    secret (``?pass=``, ``?token=``). ``json://127.0.0.1:8080/notify`` holds none."""
    from ticker.redact import host_is_secret

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
