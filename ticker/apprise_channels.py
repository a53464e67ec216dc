"""Apprise behind one small interface: one target per apprise URL, one outcome per send.

Facts this is built on (apprise 2.x, measured): one ``Apprise`` object per URL keeps one
outbox row <-> one result; a failure or timeout does not mean "not delivered"; plugins sleep
between sends (e-mail 5.5 s), which our own pacing replaces; page text must go in as plain text
(``body_format=text``) so apprise escapes it for each target; Telegram is pinned to HTML with
``overflow=split`` (4,096 characters), Slack to ``image=no``; connect/read timeouts are kept
short. ``send`` blocks: callers run it in a thread, never on the event loop.

apprise reports neither the HTTP status nor the response headers of a send, and takes a read
timeout (the request may well have arrived) for a plain failure. ``send`` therefore watches the
requests layer, where apprise's HTTP plugins all pass, for the duration of its own call only: the
status and ``Retry-After`` of the last response, or a read timeout (an unknown outcome).
"""

from __future__ import annotations

import contextvars
import difflib
import functools
import hashlib
import logging
import re
import threading
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from ticker.config import ChannelConfig
from ticker.durations import parse_retry_after
from ticker.errors import NotifyError, Problem
from ticker.model import SendResult
from ticker.redact import host_is_secret

#: Seconds between two sends on one URL, by apprise scheme, unless a channel sets min_interval.
#: Telegram allows about one message a second per chat; Slack webhooks one a second.
DEFAULT_PACING = {"tgram": 1.0, "slack": 1.0, "mailto": 0.5, "mailtos": 0.5}
FALLBACK_PACING = 0.2

# Our own parameters, added where the user did not set them.
_PARAMS = {
    "tgram": {"format": "html", "overflow": "split"},
    "slack": {"image": "no", "overflow": "truncate"},
}
_SHORT_TIMEOUTS = {"cto": "4", "rto": "8"}
_HTTP_CODE = re.compile(r"error=(\d{3})")


@dataclass(frozen=True, slots=True, kw_only=True)
class Target:
    """One apprise URL of a channel. ``key`` names it in the state (the URL holds secrets);
    ``redacted`` is its label (``target_label``), what listings and logs show."""

    channel_id: str
    key: str
    url: str
    redacted: str
    scheme: str
    pacing: float


def url_key(url: str) -> str:
    """A stable name for an apprise URL that reveals nothing of it."""
    return hashlib.sha256(url.encode()).hexdigest()[:16]


def tune_url(url: str) -> str:
    """Add ticker's per-scheme parameters and short timeouts, never overriding the user's.

    Works on the text, not through urlsplit: apprise URLs use "#" for channels
    (``slack://A/B/C/#desk``), which a URL parser would take for a fragment and move.
    """
    scheme = url.partition("://")[0].lower()
    base, _, query_text = url.partition("?")
    query = dict(parse_qsl(query_text, keep_blank_values=True))
    extra = {**_PARAMS.get(scheme, {}), **_SHORT_TIMEOUTS}
    for key, value in extra.items():
        query.setdefault(key, value)
    return f"{base}?{urlencode(query, safe=':/@,#')}"


def target_label(channel_id: str, position: int, url: str) -> str:
    """A stable name for a channel's URL that holds no secret, to tell its URLs apart in
    listings and logs: ``desk[1] json://127.0.0.1:8080 #3f9a``. The host (and port) shows only
    where it is a server's name (see ticker.redact.host_is_secret: in tgram://TOKEN/CHAT it is the
    token); the path, credentials and query never show, the 4 hex digits of a hash of the whole
    URL tell apart URLs that differ only there (16 bits say nothing of a token)."""
    scheme, sep, _ = url.partition("://")
    scheme = scheme.lower() if sep else "?"
    try:
        parts = urlsplit(url)
        host, port = parts.hostname or "", parts.port
    except ValueError:
        host, port = "", None
    if host and not host_is_secret(scheme, host):
        shown = f"[{host}]" if ":" in host else host
        shown += "" if port is None else f":{port}"
    else:
        shown = "***"
    digest = hashlib.sha256(url.encode("utf-8", "surrogatepass")).hexdigest()[:4]
    return f"{channel_id}[{position}] {scheme}://{shown} #{digest}"


@dataclass(slots=True)
class _HttpSeen:
    """What the requests layer saw during one ``send``: the last response, or a read timeout."""

    status: int | None = None
    retry_after: str | None = None
    read_timeout: bool = False


# A context variable, not a thread-local: apprise copies the context into any worker thread it
# hands a send to, so what that thread sees still reaches the send that asked.
_SEEN: contextvars.ContextVar[_HttpSeen | None] = contextvars.ContextVar("ticker_http_seen")
_WATCH_LOCK = threading.Lock()


def _watch_requests() -> None:
    """Wrap ``requests.Session.send``, once per process, to report to a watching ``send``.

    Every HTTP plugin of apprise sends through ``requests.Session.send`` (``requests.post``
    builds a session per call), so this one point sees each plugin's final response (after
    redirects) and its read timeouts. Calls made outside ``_watching`` pass through untouched.
    """
    import requests
    from urllib3.exceptions import ReadTimeoutError

    with _WATCH_LOCK:
        original = requests.Session.send
        if getattr(original, "_ticker_watch", False):
            return

        @functools.wraps(original)
        def send(
            self: requests.Session, request: requests.PreparedRequest, **kwargs: Any
        ) -> requests.Response:
            seen = _SEEN.get(None)
            if seen is None:
                return original(self, request, **kwargs)
            try:
                response = original(self, request, **kwargs)
            except requests.exceptions.ReadTimeout:
                seen.read_timeout = True
                raise
            except requests.exceptions.ConnectionError as exc:
                # A body that stops coming is a read timeout too, which requests wraps.
                if any(isinstance(arg, ReadTimeoutError) for arg in exc.args):
                    seen.read_timeout = True
                raise
            seen.status = response.status_code
            seen.retry_after = response.headers.get("Retry-After")
            return response

        setattr(send, "_ticker_watch", True)  # noqa: B010 - a marker on a function
        setattr(requests.Session, "send", send)  # noqa: B010 - mypy refuses method assignment


@contextmanager
def _watching() -> Iterator[_HttpSeen]:
    seen = _HttpSeen()
    token = _SEEN.set(seen)
    try:
        yield seen
    finally:
        _SEEN.reset(token)


class AppriseNotifier:
    """Every target of every channel, each with its own apprise object."""

    def __init__(self, channels: Sequence[ChannelConfig], *, timeout: float = 30.0) -> None:
        import apprise  # late: only delivering commands pay for it

        self._apprise = apprise
        self.timeout = timeout
        self.targets: dict[str, Target] = {}
        self.by_channel: dict[str, list[Target]] = {}
        self._objects: dict[str, Any] = {}
        # No apprise deadline (its default is 60 s) and no async mode: with either, apprise runs
        # even a single send in its process-wide pool of cpus+4 threads, where hung sends starve
        # healthy channels (channel isolation). Sends run in the sender's own threads instead,
        # bounded by cto/rto and the sender's send_timeout.
        self._asset = apprise.AppriseAsset(secure_logging=True, service_timeout=0, async_mode=False)
        _watch_requests()
        for channel in channels:
            for position, url in enumerate(self._channel_urls(channel)):
                self._add(channel, url, position)

    def _channel_urls(self, channel: ChannelConfig) -> list[str]:
        urls = list(channel.urls)
        if channel.config is not None:
            urls.extend(self._config_urls(channel.config, channel.id))
        return urls

    def _config_urls(self, path: Path, channel_id: str) -> list[str]:
        cfg = self._apprise.AppriseConfig(asset=self._asset)
        if not cfg.add(str(path)):
            raise NotifyError(f"channel {channel_id!r}: cannot read apprise config {str(path)!r}")
        urls = [str(service.url(privacy=False)) for service in cfg.services()]  # type: ignore[no-untyped-call]
        if not urls:
            raise NotifyError(f"channel {channel_id!r}: apprise config {str(path)!r} has no URLs")
        return urls

    def _add(self, channel: ChannelConfig, raw_url: str, position: int) -> None:
        url = tune_url(raw_url)
        obj = self._apprise.Apprise(asset=self._asset)
        if not obj.add(url) or len(obj) != 1:
            raise NotifyError(
                f"channel {channel.id!r}: apprise cannot use URL "
                f"{target_label(channel.id, position, raw_url)} "
                "(check its form at https://github.com/caronc/apprise/wiki)"
            )
        for plugin in obj:
            plugin.request_rate_per_sec = 0  # our pacing replaces the plugin's sleeps
        scheme = urlsplit(url).scheme.lower()
        key = url_key(f"{channel.id}\0{raw_url}")
        pacing = channel.min_interval
        if pacing is None:
            pacing = DEFAULT_PACING.get(scheme, FALLBACK_PACING)
        target = Target(
            channel_id=channel.id,
            key=key,
            url=url,
            redacted=target_label(channel.id, position, raw_url),
            scheme=scheme,
            pacing=pacing,
        )
        self.targets[key] = target
        self.by_channel.setdefault(channel.id, []).append(target)
        self._objects[key] = obj

    def send(self, key: str, *, title: str, body: str) -> SendResult:
        """Send one message to one target; blocking. Never raises for a channel's trouble."""
        obj = self._objects.get(key)
        if obj is None:
            return SendResult(ok=False, error="this channel URL is no longer configured")
        apprise = self._apprise
        with _watching() as seen:
            try:
                result = obj.notify(
                    body=body,
                    title=title,
                    body_format=apprise.NotifyFormat.TEXT,
                )
            except Exception as exc:  # a plugin bug must not kill the sender
                return SendResult(
                    ok=False, error=f"{type(exc).__name__}: {exc}", timed_out=seen.read_timeout
                )
        status = result.status
        if status == apprise.AppriseResultStatus.SUCCESS:
            return SendResult(ok=True)
        message = _last_message(result) or f"apprise reported {status.name}"
        timed_out = seen.read_timeout or status == apprise.AppriseResultStatus.TIMEOUT
        if timed_out:
            message = f"no answer in time (outcome unknown): {message}"
        http = seen.status if seen.status is not None and seen.status >= 300 else None
        if http is None and (match := _HTTP_CODE.search(message)):
            http = int(match.group(1))
        return SendResult(
            ok=False,
            error=message,
            status=http,
            timed_out=timed_out,
            retry_after=None if http is None else parse_retry_after(seen.retry_after),
        )


def _last_message(result: Any) -> str | None:
    messages = []
    for service in result:
        for entry in service.logs():
            if entry.level in ("WARNING", "ERROR"):
                messages.append(str(entry.message))
    return messages[-1] if messages else None


# -- offline check of channel URLs ------------------------------------------------------------

_SCHEME = re.compile(r"[a-z][a-z0-9+.-]{0,31}")


def channel_url_problems(
    channels: Sequence[ChannelConfig], *, only: Collection[str] = ()
) -> list[Problem]:
    """Each channel URL apprise cannot use, located as ``channels[i].urls[j]``; offline.

    Each URL goes through the same ``Apprise.add`` that :class:`AppriseNotifier` will use
    (apprise parses it and builds the plugin, which refuses bad tokens and ids; nothing is
    sent). A message names the scheme only, never the URL: its other parts are secrets.
    ``channels`` is the whole configured list, so positions match the file; ``only`` restricts
    the check to those channel ids.
    """
    import apprise  # late: ``ticker --help`` stays fast

    manager: Any = apprise.NotificationManager()  # type: ignore[no-untyped-call]
    enabled = set(manager.schemas(include_disabled=False))
    known = set(manager.schemas(include_disabled=True))
    asset = apprise.AppriseAsset(secure_logging=True, service_timeout=0, async_mode=False)
    problems: list[Problem] = []
    with _apprise_quiet():
        for i, channel in enumerate(channels):
            if only and channel.id not in only:
                continue
            for j, url in enumerate(channel.urls):
                obj = apprise.Apprise(asset=asset)
                if obj.add(tune_url(url)) and len(obj) == 1:
                    continue
                message = _why_unusable(url.partition("://")[0].lower(), enabled, known)
                problems.append(Problem(path=f"channels[{i}].urls[{j}]", message=message))
    return problems


def _why_unusable(scheme: str, enabled: set[str], known: set[str]) -> str:
    if not _SCHEME.fullmatch(scheme):
        return "not an apprise URL: it has no service name before '://'"
    if scheme in ("http", "https"):
        return (
            f"apprise recognises no service in this {scheme}:// URL (a service's own webhook "
            "URL, such as Discord's or Slack's, or json:// for a plain web hook)"
        )
    if scheme in enabled:
        return f"apprise cannot use this {scheme}:// URL (check its token and ids)"
    if scheme in known:
        return f"apprise's {scheme}:// service is not available on this system"
    close = difflib.get_close_matches(scheme, enabled, n=1)
    hint = f" (did you mean '{close[0]}://'?)" if close else ""
    return f"apprise has no service '{scheme}://'{hint}"


class _DropAll(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return False


@contextmanager
def _apprise_quiet() -> Iterator[None]:
    """Silence apprise's logger while checking: its lines would repeat ours with parts of the
    URL (a token it finds invalid is quoted in full)."""
    logger = logging.getLogger("apprise")
    drop = _DropAll()
    logger.addFilter(drop)
    try:
        yield
    finally:
        logger.removeFilter(drop)
