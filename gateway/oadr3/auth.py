"""Who is asking the 3.x API: ``principal_of(request)`` checks the bearer token and names the
client, its role, its VEN (a VEN client's own VEN object, once it made one) and its scopes.

A token of a client deleted since it was issued is refused (tokens of this VTN only; an
external issuer's clients are not known here). What the database says of a token's client is
kept per process (``principal_cache``); the token itself is checked on every request.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web
from sqlalchemy import literal, select

from gateway.http.handlers import SERVICES
from gateway.oadr3.clients import ClientStore
from gateway.oadr3.models import Oadr3ClientRow, Oadr3ObjectRow
from gateway.oadr3.principal_cache import PrincipalCache
from gateway.oadr3.problems import forbidden, unauthorized
from gateway.oadr3.scopes import Role, Scope, grants
from gateway.oadr3.tokens import InvalidToken, TokenAuthority

__all__ = [
    "AUTHORITY", "CLIENTS", "PRINCIPALS", "Principal", "Role", "Scope", "principal_of", "require",
]  # fmt: skip

AUTHORITY = web.AppKey("oadr3_token_authority", TokenAuthority)
CLIENTS = web.AppKey("oadr3_clients", ClientStore)
VEN_KIND = "VEN"


@dataclass(frozen=True, slots=True)
class Principal:
    client_id: str
    role: Role
    ven_id: str | None  # a VEN client's VEN object; None until it made one, and for BL
    scopes: frozenset[Scope]

    @property
    def is_ven(self) -> bool:
        return self.role is Role.VEN


PRINCIPALS = web.AppKey("oadr3_principals", PrincipalCache[Principal])


async def principal_of(request: web.Request) -> Principal:
    """The caller, or a 401 problem (no token, a bad or expired one)."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise unauthorized("this request needs 'Authorization: Bearer <access token>'")
    token = token.strip()
    authority = request.config_dict[AUTHORITY]
    try:
        claims = await authority.verify(token)
    except InvalidToken as err:
        raise unauthorized(f"the access token is not valid: {err}") from err
    cache = request.config_dict.get(PRINCIPALS)
    if cache is not None and (kept := cache.get(token)) is not None:
        return kept
    generation = cache.generation if cache is not None else 0
    # One query: that the client still exists (tokens of this VTN) and its VEN object.
    own_ven = (Oadr3ObjectRow.kind == VEN_KIND) & (Oadr3ObjectRow.client_id == claims.client_id)
    async with request.config_dict[SERVICES].db.read() as session:
        found = (
            await session.execute(
                select(literal(1), Oadr3ObjectRow.id)
                .select_from(Oadr3ClientRow)
                .outerjoin(Oadr3ObjectRow, own_ven)
                .where(Oadr3ClientRow.client_id == claims.client_id)
            )
        ).first()
        if found is not None:
            ven_id: str | None = found[1]
        elif authority.issues_tokens:
            raise unauthorized(f"client {claims.client_id} no longer exists")
        else:  # an external issuer's client: known here only by its VEN object, if any
            ven_id = await session.scalar(select(Oadr3ObjectRow.id).where(own_ven))
    if claims.role is not Role.VEN:
        ven_id = None
    principal = Principal(claims.client_id, claims.role, ven_id, claims.scopes)
    if cache is not None and (ven_id is not None or not principal.is_ven):
        cache.put(token, principal, generation)
    return principal


def require(principal: Principal, scope: Scope) -> None:
    """A 403 problem unless the principal holds ``scope`` (read_all grants every read)."""
    if not grants(principal.scopes, scope):
        raise forbidden(f"this operation needs the scope {scope.value}")
