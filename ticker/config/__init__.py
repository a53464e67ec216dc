"""The configuration: TOML text to a validated :class:`Config`, every problem by its key path.

``model`` holds the values, ``loader`` the walk over the TOML tree (on ``checker``'s generic
checks and ``values``' converters), ``secrets`` the ``${VAR}`` and ``${cred:NAME}`` interpolation
and the warning for a readable file that holds a secret, ``profiles`` the built-in site profiles.
"""

from ticker.config.loader import load_config, parse_config
from ticker.config.model import (
    DEFAULT_USER_AGENT,
    ChannelConfig,
    Config,
    RouteConfig,
    ServiceConfig,
    SourceConfig,
)
from ticker.config.profiles import builtin_profiles

__all__ = [
    "DEFAULT_USER_AGENT",
    "ChannelConfig",
    "Config",
    "RouteConfig",
    "ServiceConfig",
    "SourceConfig",
    "builtin_profiles",
    "load_config",
    "parse_config",
]
