"""What of a URL is secret, and URLs fit to show: pure functions shared by the log's redactor,
source errors served by the endpoint, fetch errors and channel labels.

Apprise URLs carry tokens in their host, path and query; a source URL may carry a user, a
password or an ``?api_key=``. Nothing here logs or prints: callers decide where text goes.
"""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit

MASK = "***"


def secret_parts(url: str) -> set[str]:
    """Every part of an apprise URL that may be a secret (all but the scheme and public hosts)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return {url}
    out = {url}
    for piece in (parts.username, parts.password, parts.query):
        if piece:
            out.add(piece)
            out.add(unquote(piece))
    if host_is_secret(parts.scheme, parts.hostname or ""):
        out.add(parts.netloc.rpartition("@")[2])
    for segment in parts.path.split("/"):
        if len(segment) >= 6:
            out.add(segment)
            out.add(unquote(segment))
    for pair in parts.query.split("&"):
        _, _, value = pair.partition("=")
        if len(value) >= 6:
            out.add(value)
            out.add(unquote(value))
    out.discard("")
    return out


#: Schemes whose host is a server's name; elsewhere (tgram://TOKEN/CHAT, slack://A/B/C) the
#: "host" is often the token itself.
PUBLIC_HOST_SCHEMES = frozenset(
    {"http", "https", "mailto", "mailtos", "json", "jsons", "xml", "xmls", "form", "forms"}
)


def host_is_secret(scheme: str, host: str) -> bool:
    """Whether an apprise URL's host may be a secret: any host of a scheme outside
    PUBLIC_HOST_SCHEMES, and a dotless name (a token-like word, not a server) within it."""
    if scheme.lower() not in PUBLIC_HOST_SCHEMES:
        return True
    return bool(host) and "." not in host and ":" not in host and host != "localhost"


def source_secret_parts(url: str) -> set[str]:
    """The parts of a source's URL that may be secret: user, password and query values (an
    ``?api_key=``). Values shorter than 4 characters are left: too short to be a key, and
    masking them everywhere would garble every message."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return set()
    out: set[str] = set()
    for piece in (parts.username, parts.password):
        if piece:
            out.update((piece, unquote(piece)))
    for pair in parts.query.split("&"):
        value = pair.partition("=")[2]
        if len(value) >= 4:
            out.update((value, unquote(value)))
    return {p for p in out if len(p) >= 4}


def public_url(url: str) -> str:
    """A URL fit to show: no user or password, every query value masked
    (``https://u:p@h/x?key=1&b=2`` -> ``https://h/x?key=***&b=***``)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return MASK
    netloc = f"[{host}]" if ":" in host else host
    if port is not None:
        netloc += f":{port}"
    query = "&".join(
        f"{name}={MASK}" if sep else name
        for name, sep, _ in (pair.partition("=") for pair in parts.query.split("&") if pair)
    )
    return parts._replace(netloc=netloc, query=query, fragment="").geturl()


_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>]+")


def scrub_url_secrets(text: str, url: str) -> str:
    """``text`` (an error message about a source) with every URL in it made public and the
    source URL's secret parts masked wherever else they appear (a library may quote a host
    or a query value on its own)."""
    text = _URL.sub(lambda m: public_url(m.group(0)), text)
    for secret in sorted(source_secret_parts(url), key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text
