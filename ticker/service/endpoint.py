"""The HTTP endpoint of the service (``[service] listen``), held across reloads: a reload that
changes its address, token, hostnames or connection cap rebuilds it, on its old address if the
new one cannot be bound."""

from __future__ import annotations

import asyncio
import errno
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import structlog

from ticker.config import Config

if TYPE_CHECKING:
    from ticker.web import HttpEndpoint

log = structlog.get_logger("ticker.service")

#: Serves the endpoint, built from the configuration in use, on (host, port).
StartWeb = Callable[[str, int], Awaitable["HttpEndpoint"]]


def endpoint_settings(config: Config) -> tuple[object, ...]:
    """What the endpoint is built from: a reload that changes any of it rebuilds it."""
    s = config.service
    return (s.listen, s.token, s.hostnames, s.max_connections)


class Endpoint:
    """The endpoint being served, the address it is bound to and the settings it was built
    with (a reload compares them with the new configuration's)."""

    def __init__(self, start: StartWeb, config: Callable[[], Config]) -> None:
        self._start = start
        self._config = config  # the configuration in use, read when it is needed
        self._endpoint: HttpEndpoint | None = None
        self._listen: tuple[str, int] | None = None
        self._settings: tuple[object, ...] | None = None
        self._lock = asyncio.Lock()
        self._closed = False

    async def bind(self, listen: tuple[str, int]) -> None:
        """Serve the endpoint on ``listen``, built from the configuration now in use (its token
        and hostnames). Raises OSError when the address cannot be bound."""
        self._endpoint = await self._start(*listen)
        self._listen = listen
        self._settings = endpoint_settings(self._config())

    async def stop(self) -> None:
        async with self._lock:
            self._closed = True  # a reload's swap still to come must not bind again
            await self._unbind()

    async def _unbind(self) -> None:
        endpoint, self._endpoint, self._listen = self._endpoint, None, None
        self._settings = None
        if endpoint is not None:
            await endpoint.cleanup()

    async def swap(self) -> None:
        """Reload: serve the endpoint as the configuration now says (address, token, hostnames,
        connection cap). A new address is bound before the old one is let go; one that cannot
        be bound leaves the endpoint where it was, with the reason logged. Live streams of the
        old endpoint are closed (their clients reconnect, and a changed token then applies)."""
        async with self._lock:
            config = self._config()
            if self._closed or endpoint_settings(config) == self._settings:
                return
            old_listen, listen = self._listen, config.service.listen
            changed = [
                name
                for name, was, now in zip(
                    ("listen", "token", "hostnames", "max_connections"),
                    self._settings or (None,) * 4,
                    endpoint_settings(config),
                    strict=True,
                )
                if was != now
            ]
            if listen is None:
                await self._unbind()
                log.info("endpoint_stopped", previous=_address(old_listen), note="no listen")
                return
            old = self._endpoint
            try:
                await self.bind(listen)
            except OSError as exc:
                # Bound to the same port, the old endpoint itself may hold the address (a new
                # token, or 127.0.0.1 -> 0.0.0.0): let it go, then bind, or take it back.
                if not (
                    old is not None
                    and old_listen is not None
                    and exc.errno == errno.EADDRINUSE
                    and old_listen[1] == listen[1]
                ):
                    _listen_failed(listen, old_listen, exc)
                    return
                await self._unbind()
                try:
                    await self.bind(listen)
                except OSError as again:
                    _listen_failed(listen, old_listen, again)
                    try:
                        await self.bind(old_listen)  # the new token and hostnames apply
                    except OSError as lost:
                        log.error(
                            "endpoint_down",
                            listen=_address(old_listen),
                            error=str(lost),
                            note="the endpoint could not take its address back; "
                            "fix [service] listen and reload",
                        )
                    return
            else:
                if old is not None:
                    await old.cleanup()
            log.info(
                "endpoint_reloaded",
                listen=_address(listen),
                previous=_address(old_listen),
                changed=changed,
            )


def _listen_failed(listen: tuple[str, int], old: tuple[str, int] | None, exc: OSError) -> None:
    log.error(
        "reload_listen_failed",
        listen=_address(listen),
        error=exc.strerror or str(exc),
        note=f"the endpoint stays on {_address(old)}"
        if old is not None
        else "the endpoint is not serving",
    )


def _address(listen: tuple[str, int] | None) -> str | None:
    return None if listen is None else f"{listen[0]}:{listen[1]}"
