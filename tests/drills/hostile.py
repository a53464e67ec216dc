"""Hostile pages for drill 8: bombs, floods, trickles, redirects and text that lies.

Bombs are built without ever holding their expansion in memory: a deflate block of 1 MiB of
zeros flushed with Z_FULL_FLUSH compresses to the same bytes every time, so the stream is that
block repeated, framed as gzip or zlib; brotli is compressed chunk by chunk.
"""

from __future__ import annotations

import asyncio
import struct
import zlib
from collections.abc import Awaitable, Callable
from functools import cache

import brotli
from aiohttp import web

from .servers import small_page

MIB = 1 << 20
BOMB_MIB = 512
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@cache
def _raw_deflate_zeros(mib: int) -> bytes:
    zeros = b"\0" * MIB
    c = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    block = c.compress(zeros) + c.flush(zlib.Z_FULL_FLUSH)
    again = c.compress(zeros) + c.flush(zlib.Z_FULL_FLUSH)
    assert block == again  # a full flush resets the window: the block repeats
    last = c.compress(zeros) + c.flush(zlib.Z_FINISH)
    return block * (mib - 1) + last


@cache
def gzip_bomb(mib: int = BOMB_MIB) -> bytes:
    crc = 0
    zeros = b"\0" * MIB
    for _ in range(mib):
        crc = zlib.crc32(zeros, crc)
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
    trailer = struct.pack("<II", crc, (mib * MIB) & 0xFFFFFFFF)
    return header + _raw_deflate_zeros(mib) + trailer


@cache
def deflate_bomb(mib: int = BOMB_MIB) -> bytes:
    adler = 1
    zeros = b"\0" * MIB
    for _ in range(mib):
        adler = zlib.adler32(zeros, adler)
    return b"\x78\xda" + _raw_deflate_zeros(mib) + struct.pack(">I", adler)


@cache
def brotli_bomb(mib: int = BOMB_MIB) -> bytes:
    c = brotli.Compressor(quality=1)
    zeros = b"\0" * MIB
    parts = [c.process(zeros) for _ in range(mib)]
    parts.append(c.finish())
    return b"".join(parts)


def expanded_size(data: bytes, wbits: int) -> int:
    """Inflate in bounded steps to check a bomb really expands (never all in memory)."""
    d = zlib.decompressobj(wbits)
    total = 0
    buf = data
    while buf:
        out = d.decompress(buf, 4 * MIB)
        total += len(out)
        buf = d.unconsumed_tail
        if d.eof:
            break
    return total


def bomb(body: bytes, encoding: str) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        return web.Response(
            body=body,
            headers={"Content-Type": "text/html; charset=utf-8", "Content-Encoding": encoding},
        )

    return handler


def flood(total: int, *, declare_length: bool) -> Handler:
    """A page of ``total`` bytes of real-looking HTML, streamed 64 KiB at a time."""
    chunk = (b'<p class="filler">' + b"lorem ipsum dolor sit amet " * 40 + b"</p>\n") * 40

    async def handler(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/html; charset=utf-8"})
        if declare_length:
            resp.content_length = total
        await resp.prepare(request)
        sent = 0
        try:
            await resp.write(b"<html><body>")
            while sent < total:
                piece = chunk[: total - sent]
                await resp.write(piece)
                sent += len(piece)
        except (ConnectionError, RuntimeError):
            return resp  # the client gave up: exactly what should happen
        return resp

    return handler


def trickle(rate: float = 1.0) -> Handler:
    """One byte per 1/rate seconds, for as long as the client listens."""
    body = small_page(["This line never finishes arriving"]).encode()

    async def handler(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/html; charset=utf-8"})
        await resp.prepare(request)
        try:
            for i in range(len(body)):
                await resp.write(body[i : i + 1])
                await asyncio.sleep(1 / rate)
        except (ConnectionError, RuntimeError):
            pass
        return resp

    return handler


def redirect(location: str) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        return web.Response(status=302, headers={"Location": location})

    return handler


# -- pages whose text is hostile (served as bytes; phase B adds the hostile line) -------------

ARABIC = [
    "الميادين: غارة إسرائيلية على بلدة الخيام في جنوب لبنان",
    "وزارة الصحة في غزة: ارتفاع عدد الشهداء إلى ثلاثة وعشرين",
    "مراسلنا: انفجارات متتالية في محيط مطار دمشق الدولي",
]
LATIN = [
    "Café owners in Nîmes say “enough” – protests spread to Besançon",
    "Élysée: the président’s décision on the budget is “final”",
    "Señora Muñoz: naïve hopes for a rapid accord are misplaced",
]
BIDI_LINE = "Bidi test \u202eevil override\u202c and \u2066isolate\u2069 around عاجل: خبر"
NUL_ESC_LINE = "Control bytes\x00 inside\x1b[31m this red\x1b[0m line"


def page_bytes(lines: list[str], encoding: str, *, escape: bool = True, head: str = "") -> bytes:
    return small_page(lines, escape=escape, head=head).encode(encoding, errors="strict")


def deep_page(lines_before: list[str], deep_line: str, lines_after: list[str], depth: int) -> str:
    before = "".join(f'<div class="ticker__item">{t}</div>' for t in lines_before)
    after = "".join(f'<div class="ticker__item">{t}</div>' for t in lines_after)
    return (
        '<!DOCTYPE html><html><body><div class="ticker">'
        + before
        + "<div>" * depth
        + f'<div class="ticker__item">{deep_line}</div>'
        + "</div>" * depth
        + after
        + "</div></body></html>"
    )


def huge_node_page(lines: list[str], size: int) -> str:
    node = ("Huge node " + "abcdefghij" * (size // 10))[:size]
    items = "".join(f'<div class="ticker__item">{t}</div>' for t in lines)
    return (
        f'<!DOCTYPE html><html><body><div class="ticker"><div class="ticker__item">{node}</div>'
        f"{items}</div></body></html>"
    )
