"""Admin API handlers of programs and their enrolment: parse, call the service, answer JSON."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from gateway.http.handlers import SERVICES
from gateway.http.io import json_items, json_view, read_body
from gateway.http.program_schemas import ProgramCreate, ProgramUpdate
from gateway.services.program_views import ProgramView
from gateway.services.programs import ProgramService

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


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


MemberChange = Callable[[ProgramService], Callable[[str, str], Awaitable[ProgramView]]]


def _member_handler(member_param: str, change: MemberChange) -> Handler:
    """A handler that enrols or removes the member named by ``member_param`` in the path."""

    async def handler(request: web.Request) -> web.Response:
        member_id = request.match_info[member_param]
        return json_view(await change(_programs(request))(_program_id(request), member_id))

    return handler


enrol_ven = _member_handler("ven_id", lambda programs: programs.enrol_ven)
remove_ven = _member_handler("ven_id", lambda programs: programs.remove_ven)
enrol_device = _member_handler("device_id", lambda programs: programs.enrol_device)
remove_device = _member_handler("device_id", lambda programs: programs.remove_device)
