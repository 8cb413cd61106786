"""``/programs``: a 3.x program is a core program (``services.programs``); its 3.x-only fields
(intervalPeriod, descriptions, payload descriptors, attributes, targets) sit beside it.

Its programName is the core name; its market context (what 2.0b VENs see) is
``urn:openadr3:program:{id}`` when made here.
"""

from __future__ import annotations

import uuid
from typing import Any

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.db.models import ProgramRow
from gateway.domain.programs import ProgramChanges, ProgramTerms
from gateway.oadr3.access import caller, path_id, reader_of, services_of
from gateway.oadr3.models import Oadr3ObjectRow
from gateway.oadr3.objects import Kind, put, remove, row_of, rows_of
from gateway.oadr3.privacy import Reader, visible_targets
from gateway.oadr3.problems import conflict_as_bad_request, not_found
from gateway.oadr3.schemas import ProgramRequest, document_of
from gateway.oadr3.scopes import Scope
from gateway.oadr3.wire import Query, json_answer, metadata, read_json
from gateway.services.programs import Alongside

MARKET_CONTEXT_PREFIX = "urn:openadr3:program:"


def program_json(
    row: ProgramRow, extra: Oadr3ObjectRow | None, reader: Reader
) -> dict[str, Any] | None:
    """The program as ``reader`` sees it, or None when it may not see it."""
    document = dict(extra.document) if extra is not None else {}
    targets = visible_targets(reader, document.pop("targets", None))
    if targets is None:
        return None
    modified = max(row.updated_at, extra.modified_at) if extra is not None else row.updated_at
    body = metadata(Kind.PROGRAM, row.id, row.created_at, modified)
    body.update(document)
    body["programName"] = row.name
    if targets:
        body["targets"] = targets
    return body


async def list_programs(request: web.Request) -> web.Response:
    principal = await caller(request, Scope.READ_TARGETS)
    query = Query(request, name=("PROGRAM_NAME", "programName"))
    async with services_of(request).db.read() as session:
        reader = await reader_of(session, principal, query.targets)
        rows = (await session.scalars(select(ProgramRow).order_by(ProgramRow.created_at))).all()
        extras = await rows_of(session, Kind.PROGRAM)
    shown = [program_json(row, extras.get(row.id), reader) for row in rows]
    return json_answer(query.page([p for p in shown if p is not None]))


async def _one(request: web.Request, program_id: str, reader: Reader) -> dict[str, Any]:
    async with services_of(request).db.read() as session:
        row = await session.get(ProgramRow, program_id)
        extra = await row_of(session, Kind.PROGRAM, program_id)
    shown = None if row is None else program_json(row, extra, reader)
    if shown is None:
        raise not_found(f"program {program_id} not found")
    return shown


async def get_program(request: web.Request) -> web.Response:
    principal = await caller(request, Scope.READ_TARGETS)
    program_id = path_id(request, "programID")
    async with services_of(request).db.read() as session:
        reader = await reader_of(session, principal, None)
    return json_answer(await _one(request, program_id, reader))


def _fields_of(request: web.Request, body: ProgramRequest) -> Alongside:
    """The program's 3.x-only fields, stored in the transaction that makes or changes it."""
    document = document_of(body)
    document.pop("programName")
    now = services_of(request).clock.now()

    async def store(session: AsyncSession, program_id: str) -> None:
        await put(session, Kind.PROGRAM, program_id, document, now)

    return store


async def _remove_fields(session: AsyncSession, program_id: str) -> None:
    await remove(session, Kind.PROGRAM, [program_id])


async def create_program(request: web.Request) -> web.Response:
    await caller(request, Scope.WRITE_PROGRAMS)
    body = await read_json(request, ProgramRequest)
    program_id = uuid.uuid4().hex
    terms = ProgramTerms(name=body.programName, market_context=MARKET_CONTEXT_PREFIX + program_id)
    await services_of(request).programs.create(program_id, terms, _fields_of(request, body))
    return json_answer(await _one(request, program_id, Reader(None, None)), status=201)


async def update_program(request: web.Request) -> web.Response:
    await caller(request, Scope.WRITE_PROGRAMS)
    program_id = path_id(request, "programID")
    body = await read_json(request, ProgramRequest)
    changes = ProgramChanges(name=body.programName)
    await services_of(request).programs.update(program_id, changes, _fields_of(request, body))
    return json_answer(await _one(request, program_id, Reader(None, None)))


async def delete_program(request: web.Request) -> web.Response:
    await caller(request, Scope.WRITE_PROGRAMS)
    program_id = path_id(request, "programID")
    shown = await _one(request, program_id, Reader(None, None))
    with conflict_as_bad_request():  # DELETE /programs has no 409 in openadr3.yaml
        await services_of(request).programs.delete(program_id, _remove_fields)
    return json_answer(shown)


def add_program_routes(api: web.Application) -> None:
    api.router.add_get("/programs", list_programs)
    api.router.add_post("/programs", create_program)
    api.router.add_get("/programs/{programID}", get_program)
    api.router.add_put("/programs/{programID}", update_program)
    api.router.add_delete("/programs/{programID}", delete_program)
