"""Fetching pages: ``client`` is the aiohttp fetcher (one shared session, timeouts, a streamed
size cap, conditional GET, and rendered pages through an attached browser); ``hosts`` the
per-host gate; ``values`` what a fetch is asked with and gives back."""

from ticker.fetch.client import MAX_REDIRECTS, AiohttpFetcher, PageRenderer
from ticker.fetch.hosts import HostGate
from ticker.fetch.values import FetchResult, FetchSettings, check_content_type

__all__ = [
    "MAX_REDIRECTS",
    "AiohttpFetcher",
    "FetchResult",
    "FetchSettings",
    "HostGate",
    "PageRenderer",
    "check_content_type",
]
