"""ScriptedFetcher: a ``Fetcher`` for tests that answers each URL from a script.

Pages, 304s and errors (any exception, raised as the real fetcher raises FetchError), digested as
the real fetcher digests a body, so an identical body comes back ``same_body``.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass

from ticker.fetch import FetchResult


@dataclass(frozen=True, slots=True, kw_only=True)
class Page:
    """A scripted answer: a 200 with ``body``, or (``status=304``) not modified."""

    body: bytes = b""
    status: int = 200
    content_type: str = "text/html"
    charset: str | None = "utf-8"
    etag: str | None = None
    last_modified: str | None = None


NOT_MODIFIED = Page(status=304)

Answer = Page | Exception  # an exception is raised, as the real fetcher raises FetchError


@dataclass(frozen=True, slots=True, kw_only=True)
class Request:
    """What one fetch asked for."""

    url: str
    etag: str | None
    last_modified: str | None
    known_digest: str | None


class ScriptedFetcher:
    """A ``Fetcher`` for tests: each URL answers its script in order, then repeats its last
    answer until more are scripted.

    Bodies are digested as the real fetcher digests them (sha256 of the salt and the body), so
    an identical body comes back ``same_body``, unread, exactly as it would from the network.
    """

    def __init__(self) -> None:
        self._scripts: dict[str, deque[Answer]] = {}
        self._last: dict[str, Answer] = {}
        self.requests: list[Request] = []

    def script(self, url: str, *answers: Answer | str) -> None:
        """Answer ``url`` with these next (a string is a UTF-8 HTML page)."""
        queue = self._scripts.setdefault(url, deque())
        queue.extend(Page(body=a.encode()) if isinstance(a, str) else a for a in answers)

    def hits(self, url: str) -> int:
        return sum(1 for r in self.requests if r.url == url)

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
        render: bool = False,  # scripted pages are answered the same either way
    ) -> FetchResult:
        self.requests.append(
            Request(url=url, etag=etag, last_modified=last_modified, known_digest=known_digest)
        )
        queue = self._scripts.get(url)
        if queue:
            answer = self._last[url] = queue.popleft()
        elif url in self._last:
            answer = self._last[url]
        else:
            raise LookupError(f"ScriptedFetcher: nothing scripted for {url!r}")
        await asyncio.sleep(0)
        if isinstance(answer, Exception):
            raise answer
        if answer.status == 304:
            return FetchResult(
                status=304,
                url=url,
                etag=answer.etag,
                last_modified=answer.last_modified,
                received_at=time.perf_counter(),
            )
        digest = hashlib.sha256(digest_salt + answer.body).hexdigest()
        same = known_digest is not None and digest == known_digest
        return FetchResult(
            status=answer.status,
            url=url,
            body=b"" if same else answer.body,
            content_type=answer.content_type,
            charset=answer.charset,
            etag=answer.etag,
            last_modified=answer.last_modified,
            received_at=time.perf_counter(),
            wire_digest=digest,
            same_body=same,
        )
