"""``/resources``: a 3.x resource is a gateway device of its VEN (``services.devices``): the
device's resource id is the resourceName (unique within the VEN, as the spec asks), and its
clientID, attributes and targets sit beside it. A VEN client sees its own VEN's resources."""

from __future__ import annotations

import uuid
from typing import Any

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.db.models import DeviceRow, VenRow
from gateway.domain.errors import AlreadyExists
from gateway.oadr3.access import announce, caller, own_ven, path_id, services_of
from gateway.oadr3.auth import Principal
from gateway.oadr3.models import Oadr3ObjectRow
from gateway.oadr3.objects import Kind, put, remove, row_of, rows_of
from gateway.oadr3.problems import bad_request, forbidden, not_found
from gateway.oadr3.schemas import ResourceRequest, document_of
from gateway.oadr3.scopes import Scope
from gateway.oadr3.wire import Query, json_answer, metadata, read_json

_NOT_STORED = ("resourceName", "clientID", "objectType", "venID")


def resource_json(
    row: DeviceRow, extra: Oadr3ObjectRow | None, ven: VenRow | None
) -> dict[str, Any]:
    document = dict(extra.document) if extra is not None else {}
    modified = extra.modified_at if extra is not None else row.created_at
    body = metadata(Kind.RESOURCE, row.id, row.created_at, max(modified, row.created_at))
    body.update(document)
    body["resourceName"] = row.resource_id or row.id
    body["venID"] = row.ven_id
    client = extra.client_id if extra is not None else None
    body["clientID"] = client or (ven.ven_id if ven is not None else row.ven_id)
    return body


def _sees(principal: Principal, row: DeviceRow) -> bool:
    return not principal.is_ven or (principal.ven_id is not None and row.ven_id == principal.ven_id)


async def list_resources(request: web.Request) -> web.Response:
    principal = await caller(request, Scope.READ_VEN_OBJECTS)
    query = Query(request, ("venID", "resourceName"), name=("RESOURCE_NAME", "resourceName"))
    async with services_of(request).db.read() as session:
        devices = select(DeviceRow).where(DeviceRow.ven_id.is_not(None))
        rows = (await session.scalars(devices.order_by(DeviceRow.created_at))).all()
        extras = await rows_of(session, Kind.RESOURCE)
    shown = []
    for row in rows:
        if not _sees(principal, row):
            continue
        body = resource_json(row, extras.get(row.id), None)
        if any(body[name] != value for name, value in query.filters.items()):
            continue
        if query.targets is not None and not query.targets & set(body.get("targets") or []):
            continue
        shown.append(body)
    return json_answer(query.page(shown))


async def _one(session: AsyncSession, principal: Principal, resource_id: str) -> DeviceRow:
    row = await session.get(DeviceRow, resource_id)
    if row is None or row.ven_id is None or not _sees(principal, row):
        raise not_found(f"resource {resource_id} not found")
    return row


async def get_resource(request: web.Request) -> web.Response:
    principal = await caller(request, Scope.READ_VEN_OBJECTS)
    resource_id = path_id(request, "resourceID")
    async with services_of(request).db.read() as session:
        row = await _one(session, principal, resource_id)
        extra = await row_of(session, Kind.RESOURCE, resource_id)
    return json_answer(resource_json(row, extra, None))


def _check_writer(principal: Principal, body: ResourceRequest, kept: list[str]) -> str:
    """The resource's VEN: a VEN client's own; business logic names it."""
    if principal.is_ven:
        if body.targets is not None and sorted(body.targets) != sorted(kept):
            raise forbidden("only business logic may write the targets of ven and resource objects")
        ven_id = own_ven(principal)
        if body.venID is not None and body.venID != ven_id:
            raise forbidden(f"a VEN client writes only the resources of its ven {ven_id}")
        return ven_id
    if body.venID is None:
        raise bad_request("venID: the ven object the resource belongs to is needed")
    return body.venID


async def _client_of(
    session: AsyncSession, principal: Principal, body: ResourceRequest, ven_id: str
) -> str:
    if principal.is_ven:
        return principal.client_id
    if body.clientID is not None:
        return body.clientID
    ven = await row_of(session, Kind.VEN, ven_id)
    return ven.client_id if ven is not None and ven.client_id else ven_id


def _document(body: ResourceRequest) -> dict[str, Any]:
    document = document_of(body)
    for name in _NOT_STORED:
        document.pop(name, None)
    return document


async def create_resource(request: web.Request) -> web.Response:
    principal = await caller(request, Scope.WRITE_VENS)
    body = await read_json(request, ResourceRequest)
    ven_id = _check_writer(principal, body, [])
    services = services_of(request)
    async with services.db.read() as session:
        if await session.get(VenRow, ven_id) is None:
            raise bad_request(f"venID: ven {ven_id} not found")
        client_id = await _client_of(session, principal, body, ven_id)
    resource_id = uuid.uuid4().hex
    await services.devices.register(resource_id, ven_id=ven_id, resource_id=body.resourceName)
    async with services.db.write() as session:
        now = services.clock.now()
        extra = await put(
            session,
            Kind.RESOURCE,
            resource_id,
            _document(body),
            now,
            client_id=client_id,
            ven_id=ven_id,
        )
        row = await session.get(DeviceRow, resource_id)
        assert row is not None  # registered above
        answer = resource_json(row, extra, None)
    return json_answer(answer, status=201)


async def update_resource(request: web.Request) -> web.Response:
    principal = await caller(request, Scope.WRITE_VENS)
    resource_id = path_id(request, "resourceID")
    body = await read_json(request, ResourceRequest)
    services = services_of(request)
    try:
        async with services.db.write() as session:
            row = await _one(session, principal, resource_id)
            extra = await row_of(session, Kind.RESOURCE, resource_id)
            kept = list((extra.document if extra is not None else {}).get("targets") or [])
            ven_id = _check_writer(
                principal, body.model_copy(update={"venID": body.venID or row.ven_id}), kept
            )
            if ven_id != row.ven_id:
                raise bad_request("venID: a resource stays with its ven")
            client_id = await _client_of(session, principal, body, ven_id)
            row.resource_id = body.resourceName
            now = services.clock.now()
            extra = await put(
                session,
                Kind.RESOURCE,
                resource_id,
                _document(body),
                now,
                client_id=client_id,
                ven_id=ven_id,
            )
            announce(session, services, "oadr3_resource_updated", resource_id=resource_id)
            await session.flush()
            answer = resource_json(row, extra, None)
    except IntegrityError as err:
        raise AlreadyExists(f"ven {row.ven_id} has a resource named {body.resourceName!r}") from err
    await services.publisher.flush()
    return json_answer(answer)


async def delete_resource(request: web.Request) -> web.Response:
    principal = await caller(request, Scope.WRITE_VENS)
    resource_id = path_id(request, "resourceID")
    services = services_of(request)
    try:
        async with services.db.write() as session:
            row = await _one(session, principal, resource_id)
            answer = resource_json(row, await row_of(session, Kind.RESOURCE, resource_id), None)
            await remove(session, Kind.RESOURCE, [resource_id])
            await session.delete(row)
            announce(session, services, "oadr3_resource_deleted", resource_id=resource_id)
    except IntegrityError as err:
        raise bad_request(f"resource {resource_id} has event history") from err
    await services.publisher.flush()
    return json_answer(answer)


def add_resource_routes(api: web.Application) -> None:
    api.router.add_get("/resources", list_resources)
    api.router.add_post("/resources", create_resource)
    api.router.add_get("/resources/{resourceID}", get_resource)
    api.router.add_put("/resources/{resourceID}", update_resource)
    api.router.add_delete("/resources/{resourceID}", delete_resource)
