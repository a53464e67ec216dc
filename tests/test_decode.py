"""ticker.decode: bounded streaming decompression (body cap) and the charset chain."""

from __future__ import annotations

import codecs
import functools
import gzip
import random
import tracemalloc
import zlib

import brotli
import pytest
from conftest import AR_PAGE, EN_PAGE
from hypothesis import given, settings
from hypothesis import strategies as st

from ticker.decode import BadEncoding, Decoded, Decompressor, TooLarge, decode_body

MiB = 1024 * 1024
CAP = 1 * MiB
BOMB_SIZE = 100 * MiB
NET_CHUNK = 64 * 1024  # what the fetcher feeds (aiohttp iter_chunked)

ARABIC = (
    "عاجل: وزير الخارجية الإيراني يصل إلى بيروت في زيارة رسمية يلتقي خلالها كبار المسؤولين "
    "اللبنانيين لبحث التطورات في المنطقة."
)
FRENCH = (
    "Le café crème est servi chaque matin au marché; une idée naïve, peut-être, mais elle plaît "
    "à tout le monde. Café crème, naïve: voilà ce qu'on lit à la une."
)


# -- encoders ---------------------------------------------------------------------------------


def _zlib_wrapped(data: bytes) -> bytes:
    return zlib.compress(data)


def _raw_deflate(data: bytes) -> bytes:
    c = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    return c.compress(data) + c.flush()


ENCODERS = {
    "gzip": ("gzip", gzip.compress),
    "x-gzip": ("x-gzip", gzip.compress),
    "deflate-zlib": ("deflate", _zlib_wrapped),
    "deflate-raw": ("deflate", _raw_deflate),
    "br": ("br", brotli.compress),
    "identity": ("identity", lambda b: b),
    "none": ("", lambda b: b),
}


@functools.cache
def bomb(kind: str) -> bytes:
    """BOMB_SIZE bytes of zeros compressed, built without holding them all in memory."""
    zeros = bytes(MiB)
    if kind == "br":
        br = brotli.Compressor(quality=5)
        blob: bytes = b"".join(br.process(zeros) for _ in range(BOMB_SIZE // MiB)) + br.finish()
        return blob
    wbits = {"gzip": 16 + zlib.MAX_WBITS, "deflate-zlib": zlib.MAX_WBITS}.get(kind, -zlib.MAX_WBITS)
    z = zlib.compressobj(1, zlib.DEFLATED, wbits)
    return b"".join(z.compress(zeros) for _ in range(BOMB_SIZE // MiB)) + z.flush()


@functools.cache
def encoded(name: str, size: int | None = None) -> bytes:
    """The English fixture (or its first ``size`` bytes) encoded as ENCODERS[name]; cached."""
    blob: bytes = ENCODERS[name][1](EN_PAGE.read_bytes()[:size])
    return blob


def feed_all(dec: Decompressor, blob: bytes, chunk: int) -> bytes:
    for i in range(0, len(blob), chunk):
        dec.feed(blob[i : i + chunk])
    return dec.result()


# -- Decompressor: round trips ----------------------------------------------------------------


@pytest.mark.parametrize("chunk", [3, 4096, NET_CHUNK, 10 * MiB], ids=lambda c: f"chunk{c}")
@pytest.mark.parametrize("name", list(ENCODERS))
def test_round_trip_restores_the_page_whatever_the_chunking(name: str, chunk: int) -> None:
    page = EN_PAGE.read_bytes()
    dec = Decompressor(ENCODERS[name][0], 10 * MiB)
    assert feed_all(dec, encoded(name), chunk) == page
    assert dec.size == len(page)


@pytest.mark.parametrize("name", list(ENCODERS))
def test_round_trip_fed_one_byte_at_a_time(name: str) -> None:
    """A network read can hand over a 1-byte first chunk; deflate sniffing must still work."""
    page = EN_PAGE.read_bytes()[:20_000]
    assert feed_all(Decompressor(ENCODERS[name][0], 10 * MiB), encoded(name, 20_000), 1) == page


@pytest.mark.parametrize("encoding", ["GZIP", " gzip ", "Br", "DEFLATE", "Identity"])
def test_content_encoding_names_are_case_and_space_insensitive(encoding: str) -> None:
    page = b"<p>hello</p>" * 100
    enc = encoding.strip().lower()
    blob = {"gzip": gzip.compress, "br": brotli.compress, "deflate": zlib.compress}.get(
        enc, lambda b: b
    )(page)
    assert feed_all(Decompressor(encoding, MiB), blob, 100) == page


# -- Decompressor: the cap --------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["gzip", "deflate-zlib", "deflate-raw", "br"])
def test_bomb_stops_at_the_cap_without_inflating(kind: str) -> None:
    """100 MiB of zeros compressed: TooLarge at the cap, memory never far above the cap."""
    blob = bomb(kind)
    encoding = ENCODERS[kind][0]
    dec = Decompressor(encoding, CAP)
    tracemalloc.start()
    try:
        with pytest.raises(TooLarge, match=str(CAP)):
            feed_all(dec, blob, NET_CHUNK)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(dec.result()) <= CAP
    # Counted up to the output step that crossed, no further (brotli's step can reach ~2x).
    assert dec.size < 3 * CAP
    assert peak < 3 * CAP, f"peak {peak} bytes while decoding a bomb with a {CAP}-byte cap"


@pytest.mark.parametrize("name", ["gzip", "deflate-zlib", "deflate-raw", "br", "identity"])
def test_a_body_of_exactly_the_cap_passes_and_one_byte_more_fails(name: str) -> None:
    encoding, encode = ENCODERS[name]
    limit = 10_000
    body = random.Random(1).randbytes(limit)
    assert feed_all(Decompressor(encoding, limit), encode(body), 1000) == body
    with pytest.raises(TooLarge):
        feed_all(Decompressor(encoding, limit), encode(body + b"x"), 1000)


def test_identity_body_is_capped_too() -> None:
    dec = Decompressor("", 1000)
    dec.feed(b"a" * 600)
    with pytest.raises(TooLarge):
        dec.feed(b"a" * 600)
    assert dec.result() == b"a" * 600


# -- Decompressor: junk -----------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "br"])
@pytest.mark.parametrize(
    "junk",
    [b"<html><body>not compressed at all</body></html>", random.Random(7).randbytes(4096)],
    ids=["html", "random"],
)
def test_corrupt_compressed_body_is_bad_encoding(encoding: str, junk: bytes) -> None:
    with pytest.raises(BadEncoding, match="corrupt"):
        feed_all(Decompressor(encoding, MiB), junk, 1024)


def test_gzip_with_a_damaged_checksum_is_bad_encoding() -> None:
    blob = bytearray(gzip.compress(EN_PAGE.read_bytes()))
    blob[-6] ^= 0xFF  # inside the CRC32 trailer
    with pytest.raises(BadEncoding):
        feed_all(Decompressor("gzip", 10 * MiB), bytes(blob), NET_CHUNK)


@pytest.mark.parametrize("encoding", ["zstd", "compress", "gzip, br", "lzma"])
def test_unsupported_content_encoding_is_bad_encoding(encoding: str) -> None:
    with pytest.raises(BadEncoding, match="unsupported Content-Encoding"):
        Decompressor(encoding, MiB)


# -- decode_body: the charset chain -----------------------------------------------------------


def _arabic_page(meta: str = "") -> bytes:
    html = f"<html><head>{meta}<title>الميادين</title></head><body><p>{ARABIC}</p></body></html>"
    return html.encode("cp1256")


def test_valid_utf8_is_taken_as_utf8() -> None:
    d = decode_body(f"<p>{ARABIC}</p>".encode(), header_charset=None)
    assert d == Decoded(text=f"<p>{ARABIC}</p>", encoding="utf-8", replacements=0)


def test_utf8_wins_over_a_wrong_latin_header() -> None:
    """Strict UTF-8 is tried first: a valid UTF-8 body labelled iso-8859-1 is still UTF-8."""
    d = decode_body(FRENCH.encode(), header_charset="iso-8859-1")
    assert d.text == FRENCH
    assert d.encoding == "utf-8"


def test_arabic_windows_1256_without_any_label_is_detected() -> None:
    d = decode_body(_arabic_page(), header_charset=None)
    assert ARABIC in d.text
    assert d.encoding == "cp1256"
    assert d.replacements == 0


@pytest.mark.parametrize(
    "meta",
    [
        '<meta charset="windows-1256">',
        "<meta charset=windows-1256>",
        '<meta http-equiv="Content-Type" content="text/html; charset=windows-1256">',
    ],
)
def test_arabic_windows_1256_with_meta_charset(meta: str) -> None:
    d = decode_body(_arabic_page(meta), header_charset=None)
    assert ARABIC in d.text
    assert d.encoding == "cp1256"


def test_arabic_windows_1256_behind_a_lying_utf8_header() -> None:
    d = decode_body(_arabic_page(), header_charset="utf-8")
    assert ARABIC in d.text
    assert d.encoding == "cp1256"
    assert d.replacements == 0


def test_arabic_windows_1256_behind_a_lying_header_and_meta() -> None:
    d = decode_body(_arabic_page('<meta charset="utf-8">'), header_charset="UTF-8")
    assert ARABIC in d.text


@pytest.mark.parametrize("label", ["windows-1256", '"windows-1256"', " cp1256 "])
def test_a_true_header_charset_is_used(label: str) -> None:
    d = decode_body(_arabic_page(), header_charset=label)
    assert ARABIC in d.text
    assert d.encoding == "cp1256"


def test_cp1252_paragraph_labelled_utf8_is_read_as_cp1252() -> None:
    d = decode_body(f"<p>{FRENCH}</p>".encode("cp1252"), header_charset="utf-8")
    assert "café crème, naïve" in d.text.lower()
    assert d.text == f"<p>{FRENCH}</p>"
    assert d.encoding == "cp1252"
    assert d.replacements == 0


def test_unknown_header_charset_is_ignored() -> None:
    d = decode_body(b"<p>plain ascii</p>", header_charset="x-no-such-charset")
    assert d.text == "<p>plain ascii</p>"
    assert d.encoding == "utf-8"


def test_undecodable_bytes_still_give_text_with_replacements_counted() -> None:
    """No charset fits random bytes: lenient UTF-8, each U+FFFD counted."""
    body = random.Random(0).randbytes(256)
    d = decode_body(body, header_charset="utf-8")
    assert isinstance(d.text, str)
    assert d.replacements > 0
    assert d.replacements == d.text.count("\ufffd")


def test_a_utf8_page_with_one_bad_byte_stays_utf8_with_one_replacement() -> None:
    """The real Arabic page (declared UTF-8 in header and meta) with a single stray byte.

    One bad byte must cost one U+FFFD, not the whole page: detection must not turn every
    headline into windows-1256 mojibake.
    """
    page = AR_PAGE.read_bytes()
    damaged = page[:5000] + b"\xff" + page[5000:]
    d = decode_body(damaged, header_charset="utf-8")
    assert "عاجل" in d.text
    assert d.encoding == "utf-8"
    assert d.replacements == 1


def test_utf8_bom_is_stripped_and_wins_over_the_header() -> None:
    body = codecs.BOM_UTF8 + f"<p>{ARABIC}</p>".encode()
    d = decode_body(body, header_charset="windows-1256")
    assert d.text == f"<p>{ARABIC}</p>"
    assert d.encoding == "utf-8"


def test_utf8_bom_with_bad_bytes_counts_them() -> None:
    d = decode_body(codecs.BOM_UTF8 + b"caf\xe9", header_charset=None)
    assert d.text == "caf\ufffd"
    assert d.replacements == 1


def test_override_wins_over_valid_utf8() -> None:
    d = decode_body("café".encode(), header_charset="utf-8", override="iso-8859-1")
    assert d.text == "cafÃ©"
    assert codecs.lookup(d.encoding).name == codecs.lookup("latin-1").name


def test_override_wins_over_header_and_meta() -> None:
    body = _arabic_page('<meta charset="utf-8">')
    d = decode_body(body, header_charset="utf-8", override="windows-1256")
    assert ARABIC in d.text
    assert d.encoding == "cp1256"


def test_a_wrong_override_is_obeyed_and_its_damage_counted() -> None:
    d = decode_body(_arabic_page(), header_charset=None, override="utf-8")
    assert d.encoding == "utf-8"
    assert d.replacements > 10
    assert d.replacements == d.text.count("\ufffd")


@settings(max_examples=60, deadline=None)
@given(
    body=st.binary(max_size=300),
    header=st.sampled_from([None, "utf-8", "windows-1256", "latin-1", "bogus", ""]),
)
def test_decode_body_never_raises(body: bytes, header: str | None) -> None:
    d = decode_body(body, header_charset=header)
    assert isinstance(d.text, str)
    assert 0 <= d.replacements <= d.text.count("\ufffd")
