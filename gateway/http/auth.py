"""Bearer-token auth for the admin API: writes always, reads when ``auth_reads`` is on."""

from __future__ import annotations

import hmac

from aiohttp import web
from aiohttp.typedefs import Middleware

from gateway.http.errors import Handler, Unauthorized

_READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_OPEN_PATHS = frozenset({"/health", "/api/openapi.json", "/api/docs"})


def auth_middleware(token: str, auth_reads: bool) -> Middleware:
    expected = token.encode()

    @web.middleware
    async def auth(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path in _OPEN_PATHS or not request.path.startswith("/api"):
            return await handler(request)
        # A method or path the router does not serve answers 405/404 with or without a token:
        # no handler runs, so there is nothing to protect, and a 401 would hide the real answer
        # (the route table is public in /api/openapi.json).
        if request.match_info.http_exception is not None:
            return await handler(request)
        if request.method in _READ_METHODS and not auth_reads:
            return await handler(request)
        check_admin_token(request, expected)
        return await handler(request)

    return auth


def check_admin_token(request: web.Request, expected: bytes) -> None:
    """Raises ``Unauthorized`` unless the request carries ``Authorization: Bearer <expected>``
    (also used by the console's own routes, which are not under ``/api``)."""
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not given:
        raise Unauthorized("this request needs 'Authorization: Bearer <admin token>'")
    if not hmac.compare_digest(given.strip().encode(), expected):
        raise Unauthorized("the admin token is not valid")
