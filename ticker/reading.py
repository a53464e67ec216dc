"""How a fetched page is read: its ticker's region or the whole page, as the bytes came or through
the charset chain, on the event loop or in a parser thread.

The pipeline asks :func:`read` for a page's items and gets them the cheapest safe way; what
counts as new is not decided here (see ticker.decide), and nothing here touches the store.
"""

from __future__ import annotations

import asyncio
import codecs
import functools
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from ticker.config import SourceConfig
from ticker.decode import decode_body
from ticker.detect import keyed
from ticker.extract import (
    Extraction,
    embedded_page,
    extract,
    extract_prefix,
    extract_region,
    parse_page,
)
from ticker.fetch import FetchResult

#: UTF-8 pages up to this size are read on the event loop (~5 ms at most); bigger ones, and
#: pages that need the charset chain, in a parser thread.
PARSE_INLINE_BYTES = 512 * 1024

# Parsing threads: as many as cores (lxml parses without the GIL); more only contend.
_PARSERS = ThreadPoolExecutor(
    max_workers=max(2, min(4, os.cpu_count() or 2)), thread_name_prefix="ticker-parse"
)


@dataclass(frozen=True, slots=True, kw_only=True)
class PageReading:
    """A page read with a source's selectors: the extraction and how the text was decoded."""

    extraction: Extraction
    encoding: str
    replacements: int


def read_page(
    source: SourceConfig,
    result: FetchResult,
    *,
    expected: frozenset[str] | None = None,
    prefix: bool = False,
) -> PageReading:
    """Decode and extract a fetched page. Raises ExtractError (JSON sources with bad JSON).

    With ``expected`` (the keys of the lines the page showed last time), the ticker's region is
    read first, and only trusted when it shows exactly those lines. With ``prefix``, the page
    may be read from its start to just past its ticker (see :func:`_prefix`); else whole.
    """
    if expected is not None:
        region = _region(source, result, expected)
        if region is not None:
            return region
    if prefix:
        head = _prefix(source, result)
        if head is not None:
            return head
    return _read_as_sent(source, result) or _read_decoded(source, result)


def _read_as_sent(source: SourceConfig, result: FetchResult) -> PageReading | None:
    """The whole page read as the UTF-8 bytes it came as; None when it is not UTF-8 (or the
    source names a charset, or is JSON): then it takes the charset chain, _read_decoded."""
    if source.charset is not None or source.is_json:
        return None
    # Most of the web is UTF-8, which the charset chain tries first anyway: such a page goes to
    # the parser as it came (decoding it only to check cost 140 µs), and libxml2 flags a byte
    # that is not UTF-8.
    return _whole(source, result, _utf8_doc(result.body), encoding="utf-8", replacements=0)


def _utf8_doc(body: bytes) -> bytes:
    return body[3:] if body.startswith(codecs.BOM_UTF8) else body


def _read_decoded(source: SourceConfig, result: FetchResult) -> PageReading:
    decoded = decode_body(result.body, header_charset=result.charset, override=source.charset)
    reading = _whole(
        source,
        result,
        decoded.text,
        encoding=decoded.encoding,
        replacements=decoded.replacements,
    )
    assert reading is not None  # text is never flagged
    return reading


def _partial(
    read: Callable[..., Extraction | None], source: SourceConfig, result: FetchResult
) -> Extraction | None:
    """Part of a UTF-8 page read by ``read`` (the region, or up to past the ticker), with the
    source's selectors; None for pages read through the charset chain or JSON in a script,
    which are read whole."""
    if source.charset is not None or source.is_json or source.json_in is not None:
        return None
    return read(
        _utf8_doc(result.body),
        items=source.items,
        text_sel=source.text,
        link=source.link,
        canary=source.canary,
        base_url=result.url,
    )


def _region(
    source: SourceConfig, result: FetchResult, expected: frozenset[str]
) -> PageReading | None:
    """The ticker's region of a UTF-8 page when it shows exactly ``expected``, else None."""
    region = _partial(extract_region, source, result)
    if region is not None and frozenset(keyed(region.items)) == expected:
        return PageReading(extraction=region, encoding="utf-8", replacements=0)
    return None


def _prefix(source: SourceConfig, result: FetchResult) -> PageReading | None:
    """A UTF-8 page read from its start to just past its ticker, when that leaves out a good
    part of it: every line it shows is on the page as a whole read shows it (all that comes
    before is parsed); a line after its end, which the anchors cannot see, waits for the whole
    read the pipeline makes at the page's first change after a minute."""
    head = _partial(extract_prefix, source, result)
    return None if head is None else PageReading(extraction=head, encoding="utf-8", replacements=0)


def _whole(
    source: SourceConfig,
    result: FetchResult,
    doc: str | bytes,
    *,
    encoding: str,
    replacements: int,
) -> PageReading | None:
    """The whole page read; None when bytes given as UTF-8 were not."""
    page = parse_page(doc, is_json=source.is_json)
    if getattr(page, "bad_utf8", False):
        return None
    if source.json_in is not None:
        page = embedded_page(page, source.json_in, source.json_var)
    extraction = extract(
        page,
        items=source.items,
        text=source.text,
        link=source.link,
        canary=source.canary,
        base_url=result.url,
    )
    return PageReading(extraction=extraction, encoding=encoding, replacements=replacements)


async def read(
    source: SourceConfig,
    result: FetchResult,
    *,
    expected: frozenset[str] | None,
    prefix: bool = False,
) -> PageReading:
    """Read a fetched page the cheapest safe way. Raises ExtractError (JSON sources with bad
    JSON).

    With ``expected`` (the lines a whole-page read showed recently), the ticker's region alone
    may confirm them; with ``prefix`` (the whole page was read within the minute), the page up
    to just past its ticker may be read instead of all of it; anything else reads the whole
    page.
    """
    loop = asyncio.get_running_loop()
    inline = len(result.body) <= PARSE_INLINE_BYTES
    if expected is not None and inline:
        # The region is usually a few KB (~0.3 ms): read right here, it costs less than the
        # trip to a parser thread, which under load tripled its CPU. It may be up to half the
        # page, so a big page's region is read in the thread with the rest (below).
        region = _region(source, result, expected)
        if region is not None:
            return region
    if inline:
        # A UTF-8 page of usual size (~1 ms per 100 KB) is read right here. In a parser
        # thread the same read cost twice the CPU (the threads contend for the GIL), and
        # fetched bodies queued up for the threads in a burst (hundreds of MB at 5,000).
        reading = (_prefix(source, result) if prefix else None) or _read_as_sent(source, result)
        if reading is not None:
            return reading
        # The charset chain (detection, a decode, a second parse) is tens of ms.
        return await loop.run_in_executor(_PARSERS, _read_decoded, source, result)
    # A big page is many milliseconds of parsing: in a worker thread it does not hold up the
    # event loop's timers, sends and other polls; lxml lets go of the GIL.
    return await loop.run_in_executor(
        _PARSERS, functools.partial(read_page, source, result, expected=expected, prefix=prefix)
    )
