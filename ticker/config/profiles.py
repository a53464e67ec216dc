"""The site profiles shipped as data (``ticker/profiles/*.toml``); a config's own
``[profiles.NAME]`` corrects them key by key (see ``loader``)."""

from __future__ import annotations

import tomllib
from importlib import resources
from typing import Any


def builtin_profiles() -> dict[str, dict[str, Any]]:
    """The profiles shipped in ``ticker/profiles/*.toml``, by name."""
    out: dict[str, dict[str, Any]] = {}
    for entry in resources.files("ticker.profiles").iterdir():
        if entry.name.endswith(".toml"):
            out[entry.name.removesuffix(".toml")] = tomllib.loads(entry.read_text("utf-8"))
    return out
