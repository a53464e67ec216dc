"""What a fetch is asked with and gives back, and which content types a source accepts."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class FetchSettings:
    user_agent: str
    connect_timeout: float = 10.0
    read_timeout: float = 20.0
    total_timeout: float = 30.0
    max_bytes: int = 5 * 1024 * 1024
    concurrency: int = 32
    per_host: int = 2
    # A request in flight this long no longer counts against its host's ``per_host`` (one slow
    # source must not starve the host's others); at most ``per_host_ceiling`` run at once.
    slow_after: float = 1.0

    @property
    def per_host_ceiling(self) -> int:
        """Connections to one host at most, slow ones included: room for two ``per_host``
        rounds of slow requests beside a full round of normal ones."""
        return 3 * self.per_host


@dataclass(frozen=True, slots=True, kw_only=True)
class FetchResult:
    """A response: ``status`` 200 with a body, or 304 (not modified) with none."""

    status: int
    url: str  # after redirects
    body: bytes = b""
    content_type: str = ""
    charset: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    received_at: float = 0.0  # time.perf_counter() when the body was complete
    # sha256 of ``digest_salt`` and the body as received (before decompression); when it is
    # the ``known_digest`` the caller passed, the body is not even inflated: ``same_body``.
    wire_digest: str = ""
    same_body: bool = False
    compressed: bool = False

    @property
    def not_modified(self) -> bool:
        return self.status == 304


_TEXTUAL = ("text/", "application/xhtml", "application/xml", "application/json")


def check_content_type(content_type: str, *, is_json: bool) -> str | None:
    """A reason to refuse a response of this type for this source, or None when it will do."""
    ct = content_type.lower()
    if not ct or ct == "application/octet-stream":
        return None  # many servers say nothing useful; let the parser decide
    if ct.startswith(_TEXTUAL) or ct.endswith(("+xml", "+json")):
        return None
    kind = "JSON" if is_json else "HTML"
    return f"expected {kind}, got {content_type!r}"
