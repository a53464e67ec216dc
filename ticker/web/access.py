"""Who may ask the endpoint, and the headers every answer carries.

The wall page is meant for a screen on the office network, where any page a colleague's browser
opens can send the endpoint requests. Three rules keep that safe:

- Host: a request must name the endpoint by an IP address, ``localhost`` or one of
  ``[service] hostnames``. A DNS-rebinding page reaches us under its own name, so it is refused
  before anything is read.
- Token: with ``[service] token`` set, every request carries it, as ``Authorization: Bearer``,
  as ``?token=`` (a wall screen's URL; the page then keeps it in a strict same-site, HttpOnly
  cookie so its own requests carry it) or in that cookie. A non-loopback ``listen`` needs
  ``allow_remote = true`` and a token (config.py refuses it otherwise).
- Every answer, errors and streams included, carries CSP, ``nosniff``, frame and referrer
  headers.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

if TYPE_CHECKING:
    from ticker.config import ServiceConfig

COOKIE = "ticker_token"
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Resource-Policy": "same-origin",
}


@dataclass(frozen=True, slots=True)
class AccessPolicy:
    token: str | None
    hostnames: frozenset[str]

    @classmethod
    def of(cls, config: ServiceConfig) -> AccessPolicy:
        return cls(config.token, frozenset(("localhost", *config.hostnames)))

    def host_allowed(self, host: str | None) -> bool:
        """``host`` is the request's Host header (name or address, with or without a port)."""
        if not host:
            return True  # HTTP/1.0 without Host: no browser sends that, so no rebinding
        name = _hostname(host)
        if name in self.hostnames:
            return True
        try:
            ipaddress.ip_address(name)
        except ValueError:
            return False
        return True

    def presented_token(self, request: web.Request) -> tuple[str | None, bool]:
        """The token the request carries and whether it came in the URL."""
        auth = request.headers.get("Authorization", "")
        scheme, _, value = auth.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip(), False
        if "token" in request.query:
            return request.query["token"], True
        return request.cookies.get(COOKIE), False

    def token_ok(self, presented: str | None) -> bool:
        if self.token is None:
            return True
        return presented is not None and hmac.compare_digest(
            presented.encode("utf-8", "surrogatepass"), self.token.encode("utf-8")
        )


def _hostname(host: str) -> str:
    host = host.strip().lower()
    if host.startswith("["):  # [::1]:8787
        return host[1:].partition("]")[0]
    if host.count(":") == 1:
        host = host.partition(":")[0]
    return host.rstrip(".")


def json_error(status: type[web.HTTPException], message: str, **headers: str) -> web.HTTPException:
    return status(
        text=json.dumps({"error": message}), content_type="application/json", headers=headers
    )


def access_middleware(policy: AccessPolicy) -> Middleware:
    @web.middleware
    async def access(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not policy.host_allowed(request.headers.get("Host")):
            raise json_error(
                web.HTTPMisdirectedRequest,
                "this endpoint answers to its IP address, localhost and [service] hostnames",
            )
        presented, in_url = policy.presented_token(request)
        if not policy.token_ok(presented):
            raise json_error(
                web.HTTPUnauthorized,
                "a token is needed: Authorization: Bearer TOKEN, or ?token=TOKEN in the URL",
                **{"WWW-Authenticate": 'Bearer realm="ticker"'},
            )
        response = await handler(request)
        if policy.token is not None and in_url and not response.prepared:
            # The page's own requests (fetch, EventSource) then carry it without the URL.
            response.set_cookie(COOKIE, presented or "", httponly=True, samesite="Strict", path="/")
        return response

    return access


async def security_headers(_request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare: the same headers on every answer, whoever made it."""
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
