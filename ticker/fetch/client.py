"""AiohttpFetcher: one shared session, timeouts, a streamed size cap, conditional GET.

Every aiohttp error becomes a FetchError with a short ``kind`` and a message a person can act on.
Decompression is ours (see ``decode.Decompressor``) so that a compressed bomb is stopped at the cap
while streaming, not after aiohttp has inflated it in memory (body cap).
"""

from __future__ import annotations

import asyncio
import hashlib
import time
import urllib.request
from collections.abc import Mapping
from dataclasses import replace
from types import TracebackType
from typing import Protocol, Self
from urllib.parse import urlsplit

import aiohttp
from multidict import CIMultiDict
from yarl import URL

from ticker.decode import BadEncoding, Decompressor, TooLarge
from ticker.durations import parse_retry_after
from ticker.errors import FetchError
from ticker.fetch.deadline import Deadline
from ticker.fetch.hosts import HostGate
from ticker.fetch.values import FetchResult, FetchSettings
from ticker.redact import public_url

MAX_REDIRECTS = 5
_CHUNK = 64 * 1024


class PageRenderer(Protocol):
    """Draws a page in a browser (``ticker.browser.Renderer``, attached by the composition
    root): the DOM as HTML and the URL it ended on. Raises FetchError."""

    async def render(
        self, url: str, *, headers: Mapping[str, str] | None = None
    ) -> tuple[str, str]: ...


class AiohttpFetcher:
    """The one HTTP client of a ticker process. Use as an async context manager.

    ``renderer``, when attached, reads ``render = true`` sources (``fetch(render=True)``)."""

    def __init__(self, settings: FetchSettings) -> None:
        self.settings = settings
        self._session: aiohttp.ClientSession | None = None
        self._proxies: dict[str, str] = {}
        self._slots = asyncio.Semaphore(settings.concurrency)
        self._hosts: dict[str, HostGate] = {}
        # Per URL: its host's gate and its proxy, worked out once (both fixed for a process).
        # Per URL: its host's gate, its proxy, and the URL parsed once (not on every request).
        self._routes: dict[str, tuple[HostGate, str | None, URL]] = {}
        self.renderer: PageRenderer | None = None

    def _proxy_for(self, url: str) -> str | None:
        parts = urlsplit(url)
        proxy = self._proxies.get(parts.scheme)
        if proxy is None or urllib.request.proxy_bypass_environment(  # type: ignore[attr-defined]
            parts.hostname or "", self._proxies
        ):
            return None
        return proxy

    async def __aenter__(self) -> Self:
        s = self.settings
        # Per-host politeness is the HostGate's; the connector's limit (per host and port) is
        # only the ceiling, so that a slow request given back to the gate does not queue here.
        connector = aiohttp.TCPConnector(
            limit=s.concurrency, limit_per_host=s.per_host_ceiling, ttl_dns_cache=300
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            # The read and total timeouts are a Deadline's, one timer a request (see _get).
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=s.connect_timeout),
            headers={
                "User-Agent": s.user_agent,
                "Accept": "text/html,application/xhtml+xml,application/json;q=0.9,*/*;q=0.5",
                "Accept-Encoding": "gzip, deflate, br",
            },
            auto_decompress=False,
            # Proxies come from the environment (per-host limit and proxies), resolved here once:
            # aiohttp's trust_env would also read ~/.netrc in a thread on every request (39% of a
            # 304 poll's CPU).
            trust_env=False,
        )
        self._proxies = urllib.request.getproxies_environment()
        self._slots = asyncio.Semaphore(s.concurrency)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def fetch(
        self,
        url: str,
        *,
        etag: str | None = None,
        last_modified: str | None = None,
        headers: Mapping[str, str] | None = None,
        digest_salt: bytes = b"",
        known_digest: str | None = None,
        method: str = "GET",
        body: str | None = None,
        render: bool = False,
    ) -> FetchResult:
        """GET (or POST ``body``) ``url``; a 304 when the validators still hold, ``same_body``
        when the body is byte for byte the one whose ``wire_digest`` was ``known_digest``.
        With ``render``, the page as the attached renderer draws it (see ``_rendered``).
        Raises FetchError."""
        if render:
            return await self._rendered(url, headers, digest_salt, known_digest)
        if self._session is None:
            raise RuntimeError("AiohttpFetcher used outside 'async with'")
        if method != "GET":
            # A matching If-None-Match on a POST asks for a 412, not a 304 (RFC 9110 13.1.2):
            # a POST is compared by its body's digest only.
            etag = last_modified = None
        request_headers: CIMultiDict[str] | None = None
        if headers or etag or last_modified:
            request_headers = CIMultiDict(headers or {})
            if etag:
                request_headers["If-None-Match"] = etag
            if last_modified:
                request_headers["If-Modified-Since"] = last_modified
        route = self._routes.get(url)
        if route is None:
            try:
                host = urlsplit(url).hostname or ""
                target = URL(url)
            except (ValueError, TypeError) as exc:
                raise FetchError(f"invalid URL {public_url(url)}: {exc}", kind="url") from exc
            gate = self._hosts.get(host)
            if gate is None:
                s = self.settings
                gate = self._hosts[host] = HostGate(s.per_host, s.per_host_ceiling, s.slow_after)
            route = self._routes[url] = (gate, self._proxy_for(url), target)
        gate, proxy, target = route
        # Wait for a slot before the request's timeout starts: a poll queued behind others is
        # not a slow site (at 5,000 sources, connection waits counted as timeouts).
        async with self._slots:
            ticket = await gate.acquire()
            try:
                return await self._get(
                    url, request_headers, proxy, digest_salt, known_digest, method, body, target
                )
            finally:
                gate.release(ticket)

    async def _rendered(
        self,
        url: str,
        headers: Mapping[str, str] | None,
        salt: bytes,
        known_digest: str | None,
    ) -> FetchResult:
        """The rendered DOM as a UTF-8 HTML page: no validators (a browser has none to give),
        digested like any body so that an unchanged DOM is ``same_body``."""
        if self.renderer is None:
            raise FetchError(
                "render = true needs the browser, which this process did not start (a source "
                "given render = true by a reload needs a restart)",
                kind="render",
            )
        html, final_url = await self.renderer.render(url, headers=headers)
        page = html.encode("utf-8", "replace")
        if len(page) > self.settings.max_bytes:
            raise FetchError(
                f"rendered page too large: over the cap of {self.settings.max_bytes} bytes "
                "(max_bytes)",
                kind="too_large",
            )
        digest = hashlib.sha256(salt + page).hexdigest()
        same = known_digest is not None and digest == known_digest
        return FetchResult(
            status=200,
            url=final_url,
            body=b"" if same else page,
            content_type="text/html",
            charset="utf-8",
            received_at=time.perf_counter(),
            wire_digest=digest,
            same_body=same,
        )

    async def _get(
        self,
        url: str,
        request_headers: CIMultiDict[str] | None,
        proxy: str | None,
        salt: bytes = b"",
        known_digest: str | None = None,
        method: str = "GET",
        body: str | None = None,
        target: URL | None = None,
    ) -> FetchResult:
        assert self._session is not None
        task = asyncio.current_task()
        if task is None:
            raise RuntimeError("AiohttpFetcher.fetch runs in a task (its deadline cancels it)")
        s = self.settings
        # Connecting, redirects and the final headers within connect + read (what aiohttp's
        # sock_connect and sock_read allowed a hop), then read between pieces of the body.
        deadline = Deadline(
            task,
            first=s.connect_timeout + s.read_timeout,
            read=s.read_timeout,
            total=s.total_timeout,
        )
        try:
            async with self._session.request(
                method,
                # aiohttp counts the request that would exceed the limit, hence the + 1; it
                # counts every hop, whatever host or port it goes to (tested across ports).
                url if target is None else target,
                data=None if body is None else body.encode(),
                headers=request_headers,
                max_redirects=MAX_REDIRECTS + 1,
                proxy=proxy,
            ) as resp:
                deadline.progress()
                return await self._read(resp, salt, known_digest, deadline)
        except asyncio.CancelledError as exc:
            if not deadline.took_over():
                raise
            raise FetchError(_timed_out(deadline.cut, s), kind="timeout") from exc
        except FetchError:
            raise
        except TimeoutError as exc:  # aiohttp's: connecting (sock_connect)
            raise FetchError(
                f"timed out connecting after {s.connect_timeout:g}s (connect_timeout)",
                kind="timeout",
            ) from exc
        except aiohttp.TooManyRedirects as exc:
            last = exc.history[-1].headers.get("Location", "") if exc.history else ""
            raise FetchError(
                f"more than {MAX_REDIRECTS} redirects (a redirect loop?) from {public_url(url)}"
                + (f", the last to {public_url(last)}" if last else ""),
                kind="redirect",
            ) from exc
        except (aiohttp.InvalidUrlRedirectClientError, aiohttp.NonHttpUrlRedirectClientError) as e:
            # Only the scheme of the target: its URL may carry credentials or a token.
            scheme = str(e.args[0] if e.args else "").partition(":")[0][:20]
            raise FetchError(
                f"{public_url(url)} redirected to a non-HTTP or invalid URL ({scheme}:...)",
                kind="redirect",
            ) from e
        except aiohttp.ClientConnectorDNSError as exc:
            raise FetchError(
                f"cannot resolve host {exc.host!r}: {exc.os_error.strerror or exc.os_error}",
                kind="dns",
            ) from exc
        except aiohttp.ClientConnectorError as exc:
            raise FetchError(
                f"cannot connect to {exc.host}:{exc.port}: {exc.os_error.strerror or exc.os_error}",
                kind="connect",
            ) from exc
        except (aiohttp.InvalidURL, aiohttp.NonHttpUrlClientError) as exc:
            raise FetchError(f"invalid URL {public_url(url)}", kind="url") from exc
        except aiohttp.ClientPayloadError as exc:
            raise FetchError(f"the response body was cut short: {exc}", kind="network") from exc
        except (aiohttp.ClientError, OSError) as exc:
            raise FetchError(f"{type(exc).__name__}: {exc}", kind="network") from exc
        finally:
            deadline.close()

    async def _read(
        self,
        resp: aiohttp.ClientResponse,
        salt: bytes,
        known_digest: str | None,
        deadline: Deadline,
    ) -> FetchResult:
        s = self.settings
        if resp.status == 304:
            return FetchResult(
                status=304,
                url=str(resp.url),
                etag=resp.headers.get("ETag"),
                last_modified=resp.headers.get("Last-Modified"),
                received_at=time.perf_counter(),
            )
        if resp.status >= 400 or resp.status < 200 or resp.status in (204, 205):
            retry_after = parse_retry_after(resp.headers.get("Retry-After"))
            hint = f", retry after {retry_after:g}s" if retry_after is not None else ""
            raise FetchError(
                f"HTTP {resp.status} {resp.reason or ''}".rstrip() + hint,
                kind="http",
                status=resp.status,
                retry_after=retry_after,
            )
        length = resp.content_length
        if length is not None and length > s.max_bytes:
            raise FetchError(
                f"page too large: Content-Length {length} bytes over the cap of {s.max_bytes}",
                kind="too_large",
            )
        encoding = resp.headers.get("Content-Encoding", "")
        wire = hashlib.sha256(salt)
        parts: list[bytes] = []
        received = 0
        async for chunk in resp.content.iter_chunked(_CHUNK):
            deadline.progress()
            received += len(chunk)
            if received > s.max_bytes:
                raise FetchError(
                    f"page too large: over the cap of {s.max_bytes} bytes (max_bytes)",
                    kind="too_large",
                )
            wire.update(chunk)
            parts.append(chunk)
        digest = wire.hexdigest()
        head = FetchResult(
            status=resp.status,
            url=str(resp.url),
            content_type=resp.content_type,
            charset=resp.charset,
            etag=resp.headers.get("ETag"),
            last_modified=resp.headers.get("Last-Modified"),
            wire_digest=digest,
            compressed=encoding.strip().lower() not in ("", "identity"),
        )
        if known_digest is not None and digest == known_digest:
            return replace(head, same_body=True, received_at=time.perf_counter())
        # Inflated only now, with the cap on its output: a bomb stops at max_bytes (body cap).
        try:
            decoder = Decompressor(encoding, s.max_bytes)
            for i, part in enumerate(parts):
                parts[i] = b""  # hold the compressed and the inflated body once, not twice
                decoder.feed(part)
            decoder.finish()
        except TooLarge as exc:
            raise FetchError(
                f"page too large: over the cap of {s.max_bytes} bytes (max_bytes)", kind="too_large"
            ) from exc
        except BadEncoding as exc:
            raise FetchError(str(exc), kind="content") from exc
        body = decoder.result()
        if not body.strip():
            raise FetchError("empty response body", kind="content", status=resp.status)
        return replace(head, body=body, received_at=time.perf_counter())


def _timed_out(cut: str | None, s: FetchSettings) -> str:
    """What a timeout says: which part of the request's Deadline cut it off."""
    if cut == "answer":
        return (
            f"timed out: no answer within {s.connect_timeout + s.read_timeout:g}s "
            "(connect_timeout + read_timeout)"
        )
    if cut == "read":
        return f"timed out: no data for {s.read_timeout:g}s (read_timeout)"
    return f"timed out after {s.total_timeout:g}s (timeout, the whole request)"
