"""What every 3.x handler needs: the caller (``auth.principal_of``) checked for a scope, the
core services, the ids in the path, and the caller as a reader of targeted objects."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.bus.outbox import stage_message
from gateway.domain.text import unstorable_character
from gateway.http.handlers import SERVICES
from gateway.oadr3.auth import Principal, principal_of, require
from gateway.oadr3.models import Oadr3ObjectRow
from gateway.oadr3.objects import Kind, row_of
from gateway.oadr3.privacy import Reader, grants_of
from gateway.oadr3.problems import bad_request, forbidden
from gateway.oadr3.scopes import Scope
from gateway.services.container import Services


async def caller(request: web.Request, scope: Scope) -> Principal:
    principal = await principal_of(request)
    require(principal, scope)
    return principal


def services_of(request: web.Request) -> Services:
    return request.config_dict[SERVICES]


def announce(session: AsyncSession, services: Services, event: str, **fields: Any) -> None:
    """Stage a dr_events message for a change only the 3.x API makes (the core's services
    announce their own), in the same transaction: the notifications hear it like any other
    (``gateway.oadr3.notify``). Names: ``oadr3_{report,ven,resource,event}_{created,updated,
    deleted}``; the caller flushes the publisher after the commit."""
    stage_message(session, services.settings.dr_events_channel, event, services.clock.now(),
                  **fields)  # fmt: skip


def path_id(request: web.Request, name: str) -> str:
    value = request.match_info[name]
    if unstorable_character(value) is not None or not value:
        raise bad_request(f"{name}: not a valid object id")
    return value


def own_ven(principal: Principal) -> str:
    """A VEN client's VEN object id; a 403 problem when it has not made one yet."""
    if principal.ven_id is None:
        raise forbidden(f"client {principal.client_id} has no ven object yet: create it first")
    return principal.ven_id


async def reader_of(
    session: AsyncSession, principal: Principal, asked: frozenset[str] | None
) -> Reader:
    if not principal.is_ven:
        return Reader(None, asked)
    if principal.ven_id is None:
        return Reader(frozenset(), asked)
    ven = await row_of(session, Kind.VEN, principal.ven_id)
    resources = await session.scalars(
        select(Oadr3ObjectRow).where(
            Oadr3ObjectRow.kind == Kind.RESOURCE.value, Oadr3ObjectRow.ven_id == principal.ven_id
        )
    )
    granted = grants_of(
        ven.document.get("targets") if ven is not None else None,
        [r.document.get("targets") or [] for r in resources],
    )
    return Reader(granted, asked)
