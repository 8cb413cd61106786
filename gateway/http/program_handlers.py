"""Admin API handlers of programs and their enrolment: parse, call the service, answer JSON."""

from __future__ import annotations

from aiohttp import web

from gateway.http.handlers import SERVICES
from gateway.http.io import json_items, json_view, read_body
from gateway.http.program_schemas import ProgramCreate, ProgramUpdate
from gateway.services.programs import ProgramService


def _programs(request: web.Request) -> ProgramService:
    return request.app[SERVICES].programs


def _program_id(request: web.Request) -> str:
    return request.match_info["program_id"]


async def create_program(request: web.Request) -> web.Response:
    body = await read_body(request, ProgramCreate)
    return json_view(await _programs(request).create(body.id, body.terms()), status=201)


async def list_programs(request: web.Request) -> web.Response:
    return json_items(await _programs(request).all())


async def get_program(request: web.Request) -> web.Response:
    return json_view(await _programs(request).get(_program_id(request)))


async def update_program(request: web.Request) -> web.Response:
    body = await read_body(request, ProgramUpdate)
    return json_view(await _programs(request).update(_program_id(request), body.changes()))


async def delete_program(request: web.Request) -> web.Response:
    return json_view(await _programs(request).delete(_program_id(request)))


async def enrol_ven(request: web.Request) -> web.Response:
    ven_id = request.match_info["ven_id"]
    return json_view(await _programs(request).enrol_ven(_program_id(request), ven_id))


async def remove_ven(request: web.Request) -> web.Response:
    ven_id = request.match_info["ven_id"]
    return json_view(await _programs(request).remove_ven(_program_id(request), ven_id))


async def enrol_device(request: web.Request) -> web.Response:
    device_id = request.match_info["device_id"]
    return json_view(await _programs(request).enrol_device(_program_id(request), device_id))


async def remove_device(request: web.Request) -> web.Response:
    device_id = request.match_info["device_id"]
    return json_view(await _programs(request).remove_device(_program_id(request), device_id))
