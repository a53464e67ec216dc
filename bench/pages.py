"""Fixture pages shaped like the Al Mayadeen English homepage, pre-rendered for speed.

A page is ``prefix | ticker | middle | tail`` where only the ticker (per page and version) and
the tail (a per-request nonce in ``nonce`` mode) vary. Each part is deflated once on its own
after a full flush, so a gzip body is the concatenation of pre-compressed segments plus a
header and trailer: the server answers in microseconds and is never the bottleneck.
"""

from __future__ import annotations

import re
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

TEMPLATE = Path(__file__).resolve().parent.parent / "tests" / "data" / "almayadeen-en.html"

_ITEM = re.compile(rb'[ \t]*<div class="ticker__item">(.*?)</div>\n', re.DOTALL)
_GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"  # no name, no mtime, OS unknown


def _deflate(data: bytes, *, final: bool) -> bytes:
    """Raw deflate of one segment; a full flush (not final) lets another segment follow."""
    c = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    return c.compress(data) + c.flush(zlib.Z_FINISH if final else zlib.Z_FULL_FLUSH)


def _cards(size: int, lines: list[str]) -> bytes:
    """About ``size`` bytes of article cards, the markup a news page is mostly made of."""
    cards, total, k = [], 0, 0
    while total < size:
        line = lines[k % len(lines)]
        card = (
            f'<article class="card card--{k % 7}"><a class="card__link" href="/news/{k}">'
            f'<img src="/img/{k}.jpg" alt="" loading="lazy"><h3 class="card__title">{line}'
            f'</h3></a><p class="card__summary">{line} ({k})</p>'
            f'<time datetime="2024-01-{1 + k % 28:02d}">{k % 24:02d}:00</time></article>\n'
        ).encode()
        cards.append(card)
        total += len(card)
        k += 1
    return b'<section class="more">\n' + b"".join(cards) + b"</section>\n"


@dataclass(frozen=True, slots=True)
class Ticker:
    """One page version's ticker block, raw and deflated, with the CRC up to the tail."""

    raw: bytes
    deflated: bytes
    crc_before_tail: int
    size_before_tail: int


@dataclass(frozen=True, slots=True)
class Body:
    """A response body as parts to join, identity and gzip."""

    identity: tuple[bytes, ...]
    gzip: tuple[bytes, ...]


class PageTemplate:
    """The template split around its ticker; renders page ``i`` at version ``v``."""

    def __init__(self, path: Path = TEMPLATE, *, pad_to: int = 0) -> None:
        """``pad_to``: the page made about that many bytes long with article cards before
        ``</body>`` (the ``live`` pages of the service row), none by default."""
        html = path.read_bytes()
        items = list(_ITEM.finditer(html))
        if len(items) != 10:
            raise ValueError(f"{path}: expected 10 ticker items, found {len(items)}")
        self.lines = [m.group(1).decode() for m in items]
        self.prefix = html[: items[0].start()]
        rest = html[items[-1].end() :]
        cut = rest.rfind(b"</body>")
        self.middle, self.tail = rest[:cut], rest[cut:]
        if pad_to > len(html):
            self.middle += _cards(pad_to - len(html), self.lines)
        self._prefix_z = _deflate(self.prefix, final=False)
        self._middle_z = _deflate(self.middle, final=False)
        self._tail_z = _deflate(self.tail, final=True)
        self._crc_prefix = zlib.crc32(self.prefix)

    def line(self, page: int, k: int) -> str:
        """Ticker line number ``k`` of a page: distinct per page and per k, and never an edit
        of an earlier line (four tokens differ, more than detect's EDIT_MAX_CHANGED_TOKENS)."""
        return f"Page {page} #{k} id{k} r{k * 7} s{k * 13}: {self.lines[k % 10]}"

    def ticker(self, page: int, version: int) -> Ticker:
        """Version ``v`` shows lines v+9 .. v, newest first: each version adds one line."""
        raw = "".join(
            f'      <div class="ticker__item">{self.line(page, k)}</div>\n'
            for k in range(version + 9, version - 1, -1)
        ).encode()
        crc = zlib.crc32(self.middle, zlib.crc32(raw, self._crc_prefix))
        size = len(self.prefix) + len(raw) + len(self.middle)
        return Ticker(
            raw=raw,
            deflated=_deflate(raw, final=False),
            crc_before_tail=crc,
            size_before_tail=size,
        )

    def body(self, ticker: Ticker, nonce: str | None = None) -> Body:
        """The page around ``ticker``; a nonce goes in a hidden input and a script, outside
        the ticker, as CSRF tokens and ad slots do."""
        if nonce is None:
            tail, tail_z = self.tail, self._tail_z
        else:
            tail = (
                f'<input type="hidden" name="csrf_token" value="{nonce}">'
                f'<script>window.__nonce="{nonce}";</script>\n'
            ).encode() + self.tail
            tail_z = _deflate(tail, final=True)
        crc = zlib.crc32(tail, ticker.crc_before_tail)
        size = ticker.size_before_tail + len(tail)
        trailer = struct.pack("<II", crc & 0xFFFFFFFF, size & 0xFFFFFFFF)
        return Body(
            identity=(self.prefix, ticker.raw, self.middle, tail),
            gzip=(_GZIP_HEADER, self._prefix_z, ticker.deflated, self._middle_z, tail_z, trailer),
        )
