"""``/vens``: a 3.x ven object is a gateway VEN (``services.vens``), its venName the VEN's
name; its clientID (the VEN client it belongs to), attributes and targets sit beside it.

A VEN client makes its own (VEN_VEN_REQUEST, its clientID from its token) and sees only it;
business logic makes any (BL_VEN_REQUEST, naming the clientID) and alone writes targets.
Every gateway VEN, 2.0b ones too, is a ven object to business logic.
"""

from __future__ import annotations

import uuid
from typing import Any

from aiohttp import web
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.db.models import DeviceRow, VenRow
from gateway.domain.errors import AlreadyExists
from gateway.oadr3.access import announce, caller, path_id, services_of
from gateway.oadr3.auth import Principal
from gateway.oadr3.models import Oadr3ObjectRow
from gateway.oadr3.objects import Kind, put, remove, row_of, rows_of
from gateway.oadr3.problems import bad_request, conflict_as_bad_request, forbidden, not_found
from gateway.oadr3.schemas import VenRequest, document_of
from gateway.oadr3.scopes import Scope
from gateway.oadr3.wire import Query, json_answer, metadata, read_json


def ven_json(row: VenRow, extra: Oadr3ObjectRow | None) -> dict[str, Any]:
    document = dict(extra.document) if extra is not None else {}
    modified = extra.modified_at if extra is not None else row.created_at
    body = metadata(Kind.VEN, row.ven_id, row.created_at, max(modified, row.created_at))
    body.update(document)
    body["venName"] = row.name
    body["clientID"] = extra.client_id if extra is not None and extra.client_id else row.ven_id
    return body


def _sees(principal: Principal, ven_id: str) -> bool:
    return not principal.is_ven or principal.ven_id == ven_id


async def list_vens(request: web.Request) -> web.Response:
    principal = await caller(request, Scope.READ_VEN_OBJECTS)
    query = Query(request, ("venName",), name=("VEN_NAME", "venName"))
    async with services_of(request).db.read() as session:
        rows = (await session.scalars(select(VenRow).order_by(VenRow.created_at))).all()
        extras = await rows_of(session, Kind.VEN)
    shown = []
    for row in rows:
        if not _sees(principal, row.ven_id):
            continue
        if query.filters.get("venName", row.name) != row.name:
            continue
        body = ven_json(row, extras.get(row.ven_id))
        if query.targets is not None and not query.targets & set(body.get("targets") or []):
            continue
        shown.append(body)
    return json_answer(query.page(shown))


async def one_ven(session: AsyncSession, principal: Principal, ven_id: str) -> VenRow:
    row = await session.get(VenRow, ven_id)
    if row is None or not _sees(principal, ven_id):
        raise not_found(f"ven {ven_id} not found")
    return row


async def get_ven(request: web.Request) -> web.Response:
    principal = await caller(request, Scope.READ_VEN_OBJECTS)
    ven_id = path_id(request, "venID")
    async with services_of(request).db.read() as session:
        row = await one_ven(session, principal, ven_id)
        extra = await row_of(session, Kind.VEN, ven_id)
    return json_answer(ven_json(row, extra))


def _client_of(principal: Principal, body: VenRequest) -> str:
    if principal.is_ven:
        return principal.client_id
    if body.clientID is None:
        raise bad_request("clientID: business logic names the VEN client a ven object is for")
    return body.clientID


def _refuse_ven_targets(principal: Principal, given: list[str] | None, kept: list[str]) -> None:
    """Definition.md: only BL clients may write targets to ven and resource objects."""
    if principal.is_ven and given is not None and sorted(given) != sorted(kept):
        raise forbidden("only business logic may write the targets of ven and resource objects")


async def create_ven(request: web.Request) -> web.Response:
    with conflict_as_bad_request():
        return await _create_ven(request)


async def _create_ven(request: web.Request) -> web.Response:
    principal = await caller(request, Scope.WRITE_VENS)
    body = await read_json(request, VenRequest)
    _refuse_ven_targets(principal, body.targets, [])
    client_id = _client_of(principal, body)
    services = services_of(request)
    async with services.db.read() as session:
        taken = await session.scalar(
            select(Oadr3ObjectRow.id).where(
                Oadr3ObjectRow.kind == Kind.VEN.value, Oadr3ObjectRow.client_id == client_id
            )
        )
    if taken is not None:
        raise bad_request(f"client {client_id} has a ven object already ({taken})")
    ven_id = uuid.uuid4().hex
    await services.vens.provision(body.venName, None, ven_id)
    document = document_of(body)
    for name in ("venName", "clientID", "objectType"):
        document.pop(name, None)
    async with services.db.write() as session:
        now = services.clock.now()
        extra = await put(
            session, Kind.VEN, ven_id, document, now, client_id=client_id, ven_id=ven_id
        )
        row = await session.get(VenRow, ven_id)
        assert row is not None  # provisioned above
        answer = ven_json(row, extra)
    return json_answer(answer, status=201)


async def update_ven(request: web.Request) -> web.Response:
    principal = await caller(request, Scope.WRITE_VENS)
    ven_id = path_id(request, "venID")
    body = await read_json(request, VenRequest)
    services = services_of(request)
    try:
        async with services.db.write() as session:
            row = await one_ven(session, principal, ven_id)
            extra = await row_of(session, Kind.VEN, ven_id)
            kept = list((extra.document if extra is not None else {}).get("targets") or [])
            _refuse_ven_targets(principal, body.targets, kept)
            client_id = _client_of(principal, body)
            document = document_of(body)
            for name in ("venName", "clientID", "objectType"):
                document.pop(name, None)
            row.name = body.venName
            now = services.clock.now()
            extra = await put(
                session, Kind.VEN, ven_id, document, now, client_id=client_id, ven_id=ven_id
            )
            announce(session, services, "oadr3_ven_updated", ven_id=ven_id)
            await session.flush()
            answer = ven_json(row, extra)
    except IntegrityError as err:
        raise AlreadyExists(f"a VEN named {body.venName!r} exists") from err
    await services.publisher.flush()
    return json_answer(answer)


async def delete_ven(request: web.Request) -> web.Response:
    """The VEN goes with its resources (devices); one whose devices took part in events stays
    (a 400: DELETE /vens has no 409 in openadr3.yaml): their history needs them."""
    principal = await caller(request, Scope.WRITE_VENS)
    ven_id = path_id(request, "venID")
    services = services_of(request)
    try:
        async with services.db.write() as session:
            row = await one_ven(session, principal, ven_id)
            answer = ven_json(row, await row_of(session, Kind.VEN, ven_id))
            query = select(DeviceRow.id).where(DeviceRow.ven_id == ven_id)
            devices = (await session.scalars(query)).all()
            await session.execute(delete(DeviceRow).where(DeviceRow.ven_id == ven_id))
            await remove(session, Kind.RESOURCE, devices)
            await remove(session, Kind.VEN, [ven_id])
            await session.delete(row)
            for device in devices:
                announce(session, services, "oadr3_resource_deleted", resource_id=device)
            announce(session, services, "oadr3_ven_deleted", ven_id=ven_id)
    except IntegrityError as err:
        raise bad_request(f"ven {ven_id} has resources with event history") from err
    await services.publisher.flush()
    return json_answer(answer)


def add_ven_routes(api: web.Application) -> None:
    api.router.add_get("/vens", list_vens)
    api.router.add_post("/vens", create_ven)
    api.router.add_get("/vens/{venID}", get_ven)
    api.router.add_put("/vens/{venID}", update_ven)
    api.router.add_delete("/vens/{venID}", delete_ven)
