"""The digest of a body as it came over the wire: a page sent again byte for byte is known
before it is inflated, and the size cap still holds for every body that is not.

``AiohttpFetcher.fetch(url, digest_salt=..., known_digest=...)`` hashes the salt and the raw
(still compressed) bytes; when that is the known digest the result is ``same_body`` with no
body. Every test talks HTTP to a real aiohttp server on 127.0.0.1 that records the exact bytes
it sent.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import json
import zlib
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import brotli
import pytest
from aiohttp import web
from conftest import PageServer, en_page

from ticker.cli.wiring import fetch_settings
from ticker.config import Config, parse_config
from ticker.errors import FetchError
from ticker.fetch import AiohttpFetcher, FetchSettings
from ticker.pipeline import PollOutcome, digest_salt, poll_source
from ticker.store import SqliteStore

MiB = 1024 * 1024
CAP = 1 * MiB
SALT = b"selectors of source en"
LINES = [
    "Sirens sound in Metula and Kiryat Shmona",
    "Israeli media: 4 Israeli soldiers killed in the Gaza Strip",
    "Airstrike reported on the southern suburb of Beirut",
]
PAGE = en_page(LINES).encode("utf-8")
PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")
T0 = datetime(2026, 1, 5, 8, 0, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _no_proxy_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fetcher honours proxy variables; keep the tester's own away from 127.0.0.1."""
    for name in PROXY_VARS:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


def settings(**overrides: Any) -> FetchSettings:
    values: dict[str, Any] = {
        "user_agent": "ticker-test/1",
        "connect_timeout": 2.0,
        "read_timeout": 5.0,
        "total_timeout": 10.0,
        "max_bytes": CAP,
    }
    values.update(overrides)
    return FetchSettings(**values)


@pytest.fixture
async def fetcher() -> AsyncIterator[AiohttpFetcher]:
    async with AiohttpFetcher(settings()) as f:
        yield f


def digest(salt: bytes, raw: bytes) -> str:
    return hashlib.sha256(salt + raw).hexdigest()


def raw_deflate(data: bytes) -> bytes:
    c = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    return c.compress(data) + c.flush()


ENCODINGS: dict[str, tuple[str | None, Callable[[bytes], bytes]]] = {
    "no-header": (None, lambda b: b),
    "identity": ("identity", lambda b: b),
    "gzip": ("gzip", lambda b: gzip.compress(b, mtime=0)),
    "deflate-zlib": ("deflate", zlib.compress),
    "deflate-raw": ("deflate", raw_deflate),
    "br": ("br", brotli.compress),
}


class Sender:
    """Serves ``body`` with a Content-Encoding and keeps every byte string it sent."""

    def __init__(self, body: bytes, encoding: str | None, encode: Callable[[bytes], bytes]):
        self.body = body
        self.encoding = encoding
        self.encode = encode
        self.sent: list[bytes] = []

    async def __call__(self, request: web.Request) -> web.Response:
        raw = self.encode(self.body)
        self.sent.append(raw)
        headers = {} if self.encoding is None else {"Content-Encoding": self.encoding}
        return web.Response(body=raw, content_type="text/html", charset="utf-8", headers=headers)


def serve(page_server: PageServer, path: str, sender: Sender) -> str:
    page_server.handlers[path] = sender
    return page_server.url(path)


# -- the digest --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(ENCODINGS))
async def test_wire_digest_is_sha256_of_salt_and_the_bytes_sent(
    page_server: PageServer, fetcher: AiohttpFetcher, name: str
) -> None:
    encoding, encode = ENCODINGS[name]
    sender = Sender(PAGE, encoding, encode)
    url = serve(page_server, "/p", sender)
    result = await fetcher.fetch(url, digest_salt=SALT)
    (raw,) = sender.sent
    if encoding not in (None, "identity"):
        assert raw != PAGE  # the digest below is of the compressed bytes
    assert result.wire_digest == digest(SALT, raw)
    assert result.compressed is (encoding not in (None, "identity"))
    assert result.same_body is False
    assert result.body == PAGE  # inflated for the caller


async def test_without_a_salt_the_digest_is_of_the_bytes_alone(
    page_server: PageServer, fetcher: AiohttpFetcher
) -> None:
    sender = Sender(PAGE, "gzip", lambda b: gzip.compress(b, mtime=7))
    result = await fetcher.fetch(serve(page_server, "/p", sender))
    assert result.wire_digest == hashlib.sha256(sender.sent[0]).hexdigest()


@pytest.mark.parametrize("name", list(ENCODINGS))
async def test_a_known_digest_gives_same_body_and_no_body(
    page_server: PageServer, fetcher: AiohttpFetcher, name: str
) -> None:
    encoding, encode = ENCODINGS[name]
    sender = Sender(PAGE, encoding, encode)
    url = serve(page_server, "/p", sender)
    first = await fetcher.fetch(url, digest_salt=SALT)
    again = await fetcher.fetch(url, digest_salt=SALT, known_digest=first.wire_digest)
    assert sender.sent[0] == sender.sent[1]
    assert again.same_body is True
    assert again.body == b""
    assert again.wire_digest == first.wire_digest
    assert again.status == 200
    assert again.compressed is first.compressed
    assert again.content_type == "text/html"


async def test_an_unknown_digest_gives_the_whole_body(
    page_server: PageServer, fetcher: AiohttpFetcher
) -> None:
    url = serve(page_server, "/p", Sender(PAGE, "gzip", gzip.compress))
    result = await fetcher.fetch(url, digest_salt=SALT, known_digest="0" * 64)
    assert result.same_body is False
    assert result.body == PAGE


async def test_a_changed_body_is_not_the_same_body(
    page_server: PageServer, fetcher: AiohttpFetcher
) -> None:
    sender = Sender(PAGE, "br", brotli.compress)
    url = serve(page_server, "/p", sender)
    first = await fetcher.fetch(url, digest_salt=SALT)
    sender.body = en_page([*LINES, "One more line"]).encode()
    second = await fetcher.fetch(url, digest_salt=SALT, known_digest=first.wire_digest)
    assert second.same_body is False
    assert second.wire_digest != first.wire_digest
    assert b"One more line" in second.body


async def test_a_different_salt_gives_a_different_digest(
    page_server: PageServer, fetcher: AiohttpFetcher
) -> None:
    url = serve(page_server, "/p", Sender(PAGE, "gzip", lambda b: gzip.compress(b, mtime=0)))
    first = await fetcher.fetch(url, digest_salt=SALT)
    other = await fetcher.fetch(
        url, digest_salt=b"edited selectors", known_digest=first.wire_digest
    )
    assert other.wire_digest != first.wire_digest
    assert other.same_body is False  # the same bytes read a new way are read again
    assert other.body == PAGE


async def test_recompressing_the_same_page_changes_the_wire_digest(
    page_server: PageServer, fetcher: AiohttpFetcher
) -> None:
    counter = iter(range(1, 100))
    sender = Sender(PAGE, "gzip", lambda b: gzip.compress(b, mtime=next(counter)))
    url = serve(page_server, "/p", sender)
    first = await fetcher.fetch(url, digest_salt=SALT)
    second = await fetcher.fetch(url, digest_salt=SALT, known_digest=first.wire_digest)
    assert sender.sent[0] != sender.sent[1]
    assert second.wire_digest != first.wire_digest
    assert second.same_body is False
    assert second.body == first.body == PAGE


async def test_a_304_has_no_wire_digest(page_server: PageServer, fetcher: AiohttpFetcher) -> None:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(status=304, headers={"ETag": '"v1"'})

    page_server.handlers["/p"] = handler
    result = await fetcher.fetch(page_server.url("/p"), etag='"v1"', digest_salt=SALT)
    assert result.not_modified
    assert (result.wire_digest, result.same_body, result.body) == ("", False, b"")


# -- the size cap comes first ------------------------------------------------------------------


@functools.cache
def gzip_bomb() -> bytes:
    """50 MiB of zeros, gzip-compressed (about 50 KB), built a MiB at a time."""
    z = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    zeros = bytes(MiB)
    return b"".join(z.compress(zeros) for _ in range(50)) + z.flush()


@pytest.mark.parametrize("known", [None, "0" * 64, "previous"])
async def test_a_gzip_bomb_is_still_too_large(
    page_server: PageServer, fetcher: AiohttpFetcher, known: str | None
) -> None:
    bomb = gzip_bomb()
    assert len(bomb) < CAP  # small on the wire: only inflating it shows its size
    url = serve(page_server, "/bomb", Sender(bomb, "gzip", lambda b: b))
    if known == "previous":
        known = digest(SALT, gzip.compress(PAGE))  # the page it replaced
    with pytest.raises(FetchError) as info:
        await fetcher.fetch(url, digest_salt=SALT, known_digest=known)
    assert info.value.kind == "too_large"


@pytest.mark.parametrize("length", ["content-length", "chunked"])
async def test_a_body_over_max_bytes_is_refused_even_with_its_digest_known(
    page_server: PageServer, fetcher: AiohttpFetcher, length: str
) -> None:
    big = b"<p>" + b"x" * (CAP + 64 * 1024) + b"</p>"
    known = digest(SALT, big)

    async def handler(request: web.Request) -> web.StreamResponse:
        if length == "content-length":
            return web.Response(body=big, content_type="text/html")
        resp = web.StreamResponse(headers={"Content-Type": "text/html"})
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        try:
            for at in range(0, len(big), 64 * 1024):
                await resp.write(big[at : at + 64 * 1024])
            await resp.write_eof()
        except ConnectionResetError:
            pass  # the fetcher hung up at the cap, as it should
        return resp

    page_server.handlers["/big"] = handler
    with pytest.raises(FetchError) as info:
        await fetcher.fetch(page_server.url("/big"), digest_salt=SALT, known_digest=known)
    assert info.value.kind == "too_large"


async def test_a_compressed_body_over_max_bytes_on_the_wire_is_refused(
    page_server: PageServer, fetcher: AiohttpFetcher
) -> None:
    noise = hashlib.shake_256(b"incompressible").digest(CAP + 4096)
    raw = gzip.compress(noise, mtime=0)
    assert len(raw) > CAP
    url = serve(page_server, "/noise", Sender(raw, "gzip", lambda b: b))
    with pytest.raises(FetchError) as info:
        await fetcher.fetch(url, digest_salt=SALT, known_digest=digest(SALT, raw))
    assert info.value.kind == "too_large"


# -- through the pipeline ----------------------------------------------------------------------


def config_for(tmp_path: Path, url: str) -> Config:
    text = (
        "[service]\n"
        f"state = {json.dumps(str(tmp_path / 'state.db'))}\n"
        "[[sources]]\n"
        'id = "en"\n'
        f"url = {json.dumps(url)}\n"
        'items = "css:.ticker__item"\n'
        'canary = "css:.ticker"\n'
    )
    return parse_config(text, path=tmp_path / "ticker.toml", env={})


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=30)
        return self.now


async def polls(config: Config, count: int) -> list[PollOutcome]:
    source = config.sources[0]
    store = SqliteStore.open(config.service.state)
    clock = Clock()
    try:
        async with AiohttpFetcher(fetch_settings(config)) as fetcher:
            outcomes = []
            for _ in range(count):
                outcome = await poll_source(source, fetcher=fetcher, store=store, clock=clock)
                assert outcome.error is None, outcome.error
                outcomes.append(outcome)
            return outcomes
    finally:
        store.close()


async def test_a_page_gzipped_anew_each_time_is_read_and_nothing_is_new(
    page_server: PageServer, tmp_path: Path
) -> None:
    """Same page, new gzip header mtime per response: other bytes on the wire. The digest is of
    what was received, so the page is read (its ticker region, at a fraction of a whole parse)
    and shows the same lines: nothing new, nothing recorded."""
    counter = iter(range(1, 100))
    sender = Sender(PAGE, "gzip", lambda b: gzip.compress(b, mtime=next(counter)))
    config = config_for(tmp_path, serve(page_server, "/en", sender))
    outcomes = await polls(config, 3)
    salt = digest_salt(config.sources[0])
    wire = [digest(salt, raw) for raw in sender.sent]
    assert len(set(wire)) == 3  # every response differed on the wire
    assert (outcomes[0].status, outcomes[0].baseline, outcomes[0].items) == ("ok", True, 3)
    assert [(o.status, o.items) for o in outcomes[1:]] == [("ok", 3), ("ok", 3)]
    assert all(o.new == () for o in outcomes)


async def test_a_page_gzipped_identically_is_unchanged_without_inflating(
    page_server: PageServer, tmp_path: Path
) -> None:
    sender = Sender(PAGE, "gzip", lambda b: gzip.compress(b, mtime=0))
    config = config_for(tmp_path, serve(page_server, "/en", sender))
    outcomes = await polls(config, 2)
    assert [o.status for o in outcomes] == ["ok", "unchanged"]


async def test_a_new_line_in_a_recompressed_page_is_found(
    page_server: PageServer, tmp_path: Path
) -> None:
    counter = iter(range(1, 100))
    sender = Sender(PAGE, "gzip", lambda b: gzip.compress(b, mtime=next(counter)))
    config = config_for(tmp_path, serve(page_server, "/en", sender))
    first = await polls(config, 1)
    assert first[0].baseline
    sender.body = en_page(["A brand new line", *LINES]).encode()
    (second,) = await polls(config, 1)
    assert second.status == "ok"
    assert [r.item.text for r in second.new] == ["A brand new line"]
