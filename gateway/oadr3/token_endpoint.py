"""``/auth/server`` and ``/auth/token``: the OAuth2 client-credentials grant (RFC 6749 §4.4).

The client authenticates with HTTP Basic (§2.3.1: each part form-urlencoded first) or with
``client_id`` and ``client_secret`` in the form body, not both. Errors carry the RFC's
``error`` code beside the spec's problem fields, so both kinds of client read them.
"""

from __future__ import annotations

import base64
import binascii
import json
from urllib.parse import unquote_plus

from aiohttp import web

from gateway.http.handlers import SERVICES
from gateway.oadr3.auth import AUTHORITY, CLIENTS
from gateway.oadr3.scopes import parse_scopes

_TITLES = {400: "Bad Request", 401: "Unauthorized", 501: "Not Implemented"}


class TokenError(Exception):
    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description


def _error_response(err: TokenError) -> web.Response:
    body = {
        "type": "about:blank",
        "title": _TITLES[err.status],
        "status": err.status,
        "detail": err.description,
        "error": err.error,
        "error_description": err.description,
    }
    response = web.json_response(text=json.dumps(body), status=err.status)
    response.headers["Cache-Control"] = "no-store"
    if err.status == 401:
        response.headers["WWW-Authenticate"] = 'Basic realm="openadr3"'
    return response


async def auth_server(request: web.Request) -> web.Response:
    authority = request.config_dict[AUTHORITY]
    token_url = authority.external_token_url
    if token_url is None:
        token_url = str(request.url.with_path(request.path.rsplit("/", 1)[0] + "/token"))
    return web.json_response({"tokenURL": token_url})


def _basic_credentials(header: str) -> tuple[str, str] | None:
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError) as err:
        raise TokenError(401, "invalid_client", "the Basic credentials are not base64") from err
    client_id, colon, secret = decoded.partition(":")
    if not colon:
        raise TokenError(401, "invalid_client", "the Basic credentials need id:secret")
    return unquote_plus(client_id), unquote_plus(secret)


async def _issue(request: web.Request) -> web.Response:
    authority = request.config_dict[AUTHORITY]
    if not authority.issues_tokens:
        raise TokenError(501, "unsupported_grant_type", "tokens come from the external issuer")
    if request.content_type != "application/x-www-form-urlencoded":
        raise TokenError(
            400, "invalid_request", "the body must be application/x-www-form-urlencoded"
        )
    form = await request.post()
    grant = form.get("grant_type")
    if grant is None:
        raise TokenError(400, "invalid_request", "grant_type is missing")
    if grant != "client_credentials":
        raise TokenError(400, "unsupported_grant_type", "grant_type must be client_credentials")
    basic = _basic_credentials(request.headers.get("Authorization", ""))
    in_body = form.get("client_id"), form.get("client_secret")
    if basic is not None and any(v is not None for v in in_body):
        raise TokenError(400, "invalid_request", "give the credentials in Basic or the body")
    if basic is None:
        client_id, secret = in_body
        if not isinstance(client_id, str) or not isinstance(secret, str) or not client_id:
            raise TokenError(401, "invalid_client", "client_id and client_secret are needed")
        basic = client_id, secret
    client = await request.config_dict[CLIENTS].authenticate(*basic)
    if client is None:
        raise TokenError(401, "invalid_client", "unknown client or wrong secret")
    scopes = client.scopes
    asked = form.get("scope")
    if isinstance(asked, str) and asked.strip():
        wanted, unknown = parse_scopes(asked)
        if unknown or not wanted <= client.scopes:
            refused = sorted({*unknown, *(wanted - client.scopes)})
            raise TokenError(400, "invalid_scope", f"not granted: {' '.join(refused)}")
        scopes = wanted
    now = request.config_dict[SERVICES].clock.now()
    token = authority.issue(client.client_id, client.role, scopes, now)
    body = {
        "access_token": token,
        "token_type": "Bearer",
        "expires_in": int(authority.lifetime.total_seconds()),
        "scope": " ".join(sorted(scopes)),
    }
    return web.json_response(body, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})


async def auth_token(request: web.Request) -> web.Response:
    try:
        return await _issue(request)
    except TokenError as err:
        return _error_response(err)
