"""Bytes to text, bounded: streaming decompression with an output cap, and the charset chain.

Pure: no sockets. The fetcher feeds network chunks to a :class:`Decompressor`, so a gzip, deflate
or brotli bomb costs no more memory than the cap (body cap). Text is decoded with strict UTF-8, then
the header charset, then the page's own ``<meta charset>``, then detection (charset chain):
aiohttp's ``text()`` got Arabic windows-1256 pages wrong here.
"""

from __future__ import annotations

import codecs
import re
import zlib
from dataclasses import dataclass

import brotli


class TooLarge(Exception):
    """The decompressed body passed the cap."""


class BadEncoding(Exception):
    """The body is not valid for its Content-Encoding."""


#: gzip members one body may hold: servers send one (a few when they concatenate); each new member
#: costs a decompressor, so thousands of tiny ones would hold the event loop for a second a poll.
MAX_GZIP_MEMBERS = 64


class Decompressor:
    """Decompress a Content-Encoding stream chunk by chunk, never beyond ``limit`` bytes out."""

    def __init__(self, encoding: str, limit: int) -> None:
        self.limit = limit
        self.size = 0
        self._parts: list[bytes] = []
        enc = encoding.strip().lower()
        self._zlib: zlib._Decompress | None = None
        self._brotli: brotli.Decompressor | None = None
        if enc in ("gzip", "x-gzip"):
            self._zlib = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif enc == "deflate":
            pass  # decided on the first chunk, see feed()
        elif enc == "br":
            self._brotli = brotli.Decompressor()
        elif enc not in ("", "identity"):
            raise BadEncoding(f"unsupported Content-Encoding {encoding!r}")
        self._deflate = enc == "deflate"
        self._gzip = self._zlib is not None
        self._held = b""  # deflate: bytes kept until its wrapper can be told (2 bytes)
        # gzip: bytes after a member's end, kept until they show whether another member starts
        self._after = b""
        self._junk = False  # the stream ended and what follows is not a gzip member: ignored
        self._members = 1

    def feed(self, chunk: bytes) -> None:
        """Add a chunk of the encoded body; raises TooLarge past the cap, BadEncoding on junk."""
        try:
            if self._deflate and self._zlib is None:
                # "deflate" is zlib-wrapped by the RFC but raw deflate on some servers; the
                # first two bytes tell, and a network read may deliver fewer.
                chunk = self._held + chunk
                if len(chunk) < 2:
                    self._held = chunk
                    return
                self._held = b""
                wbits = zlib.MAX_WBITS if _looks_zlib(chunk) else -zlib.MAX_WBITS
                self._zlib = zlib.decompressobj(wbits)
            if self._zlib is not None:
                data = chunk
                while data:
                    if self._zlib.eof:
                        data = self._next_member(data)
                        if not data:
                            break
                    out = self._zlib.decompress(data, self.limit - self.size + 1)
                    self._add(out)
                    data = self._zlib.unused_data if self._zlib.eof else self._zlib.unconsumed_tail
            elif self._brotli is not None:
                out = self._brotli.process(chunk, output_buffer_limit=self.limit - self.size + 1)
                self._add(out)
                while not self._brotli.can_accept_more_data():
                    self._add(
                        self._brotli.process(b"", output_buffer_limit=self.limit - self.size + 1)
                    )
            else:
                self._add(chunk)
        except (zlib.error, brotli.error) as exc:
            raise BadEncoding(f"corrupt compressed body: {exc}") from exc

    def _next_member(self, data: bytes) -> bytes:
        """Bytes after the end of a stream: the start of the next gzip member (a body may hold
        several, RFC 1952), or b"" when they are held or ignored. A complete member followed by
        a cut one is a truncated body, not the first member's page."""
        if not self._gzip or self._junk:
            self._junk = True  # trailing bytes after a complete stream: no truncation
            return b""
        data = (self._after + data).lstrip(b"\0")  # NUL padding after a member is common
        self._after = b""
        if len(data) < 2 and _GZIP_MAGIC.startswith(data):
            self._after = data
            return b""
        if not data.startswith(_GZIP_MAGIC):
            self._junk = True
            return b""
        self._members += 1
        if self._members > MAX_GZIP_MEMBERS:
            raise BadEncoding(f"more than {MAX_GZIP_MEMBERS} gzip members in one body")
        self._zlib = zlib.decompressobj(16 + zlib.MAX_WBITS)
        return data

    def _add(self, out: bytes) -> None:
        self.size += len(out)
        if self.size > self.limit:
            raise TooLarge(f"body larger than {self.limit} bytes")
        if out:
            self._parts.append(out)

    def finish(self) -> None:
        """The body ended: raise BadEncoding when the compressed stream was cut short."""
        if self._held or self._after or (self._zlib is not None and not self._zlib.eof):
            raise BadEncoding("truncated compressed body (the stream ended early)")
        if self._brotli is not None and not self._brotli.is_finished():
            raise BadEncoding("truncated brotli body (the stream ended early)")

    def result(self) -> bytes:
        """The decoded body so far."""
        return b"".join(self._parts)


_GZIP_MAGIC = b"\x1f\x8b"


def _looks_zlib(chunk: bytes) -> bool:
    return len(chunk) >= 2 and chunk[0] & 0x0F == 8 and (chunk[0] << 8 | chunk[1]) % 31 == 0


_META_CHARSET = re.compile(
    rb"""<meta[^>]+?charset\s*=\s*["']?\s*([a-zA-Z0-9_.:\-]+)""", re.IGNORECASE
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Decoded:
    """Text and how it was decoded; ``replacements`` counts U+FFFD put in for bad bytes."""

    text: str
    encoding: str
    replacements: int = 0


def decode_body(body: bytes, *, header_charset: str | None, override: str | None = None) -> Decoded:
    """Decode a page body with the charset chain; never raises (worst case: U+FFFD, counted)."""
    if override:
        return _lenient(body, override)
    if body.startswith(codecs.BOM_UTF8):
        return _lenient(body[3:], "utf-8")
    for name in (
        "utf-8",
        _codec(header_charset),
        _codec(_meta_charset(body)),
    ):
        if name:
            try:
                return Decoded(text=body.decode(name), encoding=name)
            except UnicodeDecodeError:
                continue
    # A UTF-8 page with a few bad bytes is still UTF-8: guessing a legacy code page for it
    # would turn every line to mojibake (and every key to a "new" item).
    lenient = _lenient(body, "utf-8")
    high = sum(1 for b in body if b >= 0x80)
    if high and lenient.replacements * 50 <= high:
        return lenient
    guessed = _detect(body)
    return _lenient(body, guessed or "utf-8")


def _codec(name: str | bytes | None) -> str | None:
    if not name:
        return None
    label = name.decode("ascii", "ignore") if isinstance(name, bytes) else name
    try:
        return codecs.lookup(label.strip().strip("\"'")).name
    except LookupError:
        return None


def _meta_charset(body: bytes) -> bytes | None:
    m = _META_CHARSET.search(body[:8192])
    return m.group(1) if m else None


# Encodings that web pages actually use; cp1252 first, the WHATWG default for Latin pages.
_WEB_ENCODINGS = (
    "cp1252",
    "cp1256",
    "cp1251",
    "cp1250",
    "cp1253",
    "cp1254",
    "cp1255",
    "cp1257",
    "iso8859_2",
    "iso8859_6",
    "iso8859_7",
    "iso8859_8",
    "iso8859_15",
    "koi8_r",
    "gb18030",
    "big5",
    "shift_jis",
    "euc_jp",
    "euc_kr",
)


def _detect(body: bytes) -> str | None:
    from charset_normalizer import from_bytes  # imported late: only odd pages need it

    results = list(from_bytes(body[:200_000], cp_isolation=list(_WEB_ENCODINGS)))
    if not results:
        return None
    # Ties in "chaos" are common between Latin code pages on short text: prefer the common one.
    rank = {name: i for i, name in enumerate(_WEB_ENCODINGS)}
    best = min(results, key=lambda r: (round(r.chaos, 3), rank.get(r.encoding, 99)))
    return _codec(best.encoding)


def _lenient(body: bytes, name: str) -> Decoded:
    codec = _codec(name) or "utf-8"
    text = body.decode(codec, errors="replace")
    return Decoded(text=text, encoding=codec, replacements=text.count("\ufffd"))
