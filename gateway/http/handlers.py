"""Admin API handlers: parse, call one service, answer JSON. No rules live here."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable

from aiohttp import web

from gateway.domain.errors import ValidationFailed
from gateway.domain.invitations import Answer, AnswerSource, DeviceAnswer, InvitationRequest
from gateway.domain.ven_requests import VenRequest
from gateway.http.event_schemas import EventCancel, EventCreate, EventModify
from gateway.http.io import json_items, json_view, read_body, read_optional_body, read_query
from gateway.http.report_request_schemas import ReportRequestCancel, ReportRequestCreate
from gateway.http.schemas import (
    AnalyticsQuery,
    AnswerCreate,
    AutoResponseUpdate,
    DeviceCreate,
    DeviceUpdate,
    EventQuery,
    FlexibilityHistoryQuery,
    HealthBody,
    HealthPart,
    InstructionsUpdate,
    InvitationCancel,
    InvitationCreate,
    InvitationModify,
    InvitationQuery,
    VenCreate,
    VenRemoved,
    VenUpdate,
)
from gateway.oadr20b.message_log import MessageLog
from gateway.services.container import Services
from gateway.services.devices import DeviceChanges
from gateway.services.invitations import InvitationState
from gateway.services.ven_facing.opts import opts_of
from gateway.services.vens import Removal, VenChanges

SERVICES = web.AppKey("services", Services)
HEALTH_TIMEOUT_SECONDS = 2.0


def _services(request: web.Request) -> Services:
    return request.app[SERVICES]


def _duration_or_default(duration_minutes: int | None, services: Services) -> int:
    if duration_minutes is not None:
        return duration_minutes
    return services.settings.default_duration_minutes


async def health(request: web.Request) -> web.Response:
    services = _services(request)

    async def check(probe: Awaitable[object]) -> HealthPart:
        try:
            await asyncio.wait_for(probe, HEALTH_TIMEOUT_SECONDS)
        except Exception as err:  # any failure means "not reachable"; say which
            return HealthPart(ok=False, detail=f"{type(err).__name__}: {err}"[:300])
        return HealthPart(ok=True)

    database = await check(services.db.ping())
    redis = await check(services.redis.ping())
    ok = database.ok and redis.ok
    body = HealthBody(status="ok" if ok else "degraded", database=database, redis=redis)
    return json_view(body, status=200 if ok else 503)


async def create_device(request: web.Request) -> web.Response:
    body = await read_body(request, DeviceCreate)
    view = await _services(request).devices.register(
        body.id, body.timezone, body.ven_id, body.resource_id
    )
    return json_view(view, status=201)


async def list_devices(request: web.Request) -> web.Response:
    return json_items(await _services(request).devices.all())


async def get_device(request: web.Request) -> web.Response:
    return json_view(await _services(request).devices.get(request.match_info["device_id"]))


async def update_device(request: web.Request) -> web.Response:
    body = await read_body(request, DeviceUpdate)
    given = _given(body)
    changes = DeviceChanges(
        given, timezone=body.timezone, ven_id=body.ven_id, resource_id=body.resource_id
    )
    device_id = request.match_info["device_id"]
    return json_view(await _services(request).devices.update(device_id, changes))


async def delete_device(request: web.Request) -> web.Response:
    await _services(request).devices.remove(request.match_info["device_id"])
    return web.Response(status=204)


def _given(body: DeviceUpdate | VenUpdate) -> frozenset[str]:
    given = frozenset(body.model_fields_set)
    if not given:
        raise ValidationFailed.single("body", "give at least one field to change")
    return given


async def get_instructions(request: web.Request) -> web.Response:
    device_id = request.match_info["device_id"]
    return json_view(await _services(request).devices.instructions(device_id))


async def put_instructions(request: web.Request) -> web.Response:
    body = await read_body(request, InstructionsUpdate)
    device_id = request.match_info["device_id"]
    return json_view(
        await _services(request).devices.set_instructions(device_id, body.instructions)
    )


async def create_invitation(request: web.Request) -> web.Response:
    body = await read_body(request, InvitationCreate)
    services = _services(request)
    duration = _duration_or_default(body.duration_minutes, services)
    request_ = InvitationRequest(
        event_time=body.event_time,
        duration_minutes=duration,
        load_kwh=body.load_kwh,
        load_percentage=body.load_percentage,
        device_ids=tuple(body.devices),
        program_id=body.program_id,
    )
    return json_view(await services.auto_response.create_invitation(request_), status=201)


async def modify_invitation(request: web.Request) -> web.Response:
    body = await read_body(request, InvitationModify)
    services = _services(request)
    request_ = InvitationRequest(
        event_time=body.event_time,
        duration_minutes=_duration_or_default(body.duration_minutes, services),
        load_kwh=body.load_kwh,
        load_percentage=body.load_percentage,
        device_ids=tuple(body.devices),
    )
    invitation_id = request.match_info["invitation_id"]
    auto = await services.auto_response.config()
    view = await services.invitations.modify(invitation_id, request_, auto)
    return json_view(await services.auto_response.respond_if_due(view))


async def cancel_invitation(request: web.Request) -> web.Response:
    body = await read_optional_body(request, InvitationCancel)
    invitation_id = request.match_info["invitation_id"]
    return json_view(await _services(request).invitations.cancel(invitation_id, body.reason))


def message_log(services: Services) -> MessageLog:
    return MessageLog(services.redis, services.settings.redis_prefix, services.clock)


async def create_ven(request: web.Request) -> web.Response:
    body = await read_body(request, VenCreate)
    services = _services(request)
    view = await services.vens.provision(body.name, body.fingerprint, body.ven_id)
    # A log left by an earlier VEN of this venID (deleted while Redis was down) is not its.
    await message_log(services).forget(view.ven_id)
    return json_view(view, status=201)


async def list_vens(request: web.Request) -> web.Response:
    return json_items(await _services(request).vens.all())


async def get_ven(request: web.Request) -> web.Response:
    return json_view(await _services(request).vens.get(request.match_info["ven_id"]))


async def update_ven(request: web.Request) -> web.Response:
    body = await read_body(request, VenUpdate)
    changes = VenChanges(
        _given(body), name=body.name, fingerprint=body.fingerprint,
        push_address_style=body.push_address_style,
    )  # fmt: skip
    return json_view(await _services(request).vens.update(request.match_info["ven_id"], changes))


async def delete_ven(request: web.Request) -> web.Response:
    services = _services(request)
    removed = await services.vens.remove(request.match_info["ven_id"])
    if removed.status is Removal.REMOVED:  # else once it acknowledged the cancel
        await message_log(services).forget(removed.ven_id)
    body = VenRemoved(
        ven_id=removed.ven_id,
        status=removed.status.value,
        devices_detached=list(removed.devices_detached),
        deprovisioned_at=removed.deprovisioned_at,
    )
    return json_view(body)


async def cancel_ven_registration(request: web.Request) -> web.Response:
    ven_id = request.match_info["ven_id"]
    return json_view(await _services(request).vens.request(ven_id, VenRequest.CANCEL_REGISTRATION))


async def request_ven_reregistration(request: web.Request) -> web.Response:
    ven_id = request.match_info["ven_id"]
    requested = VenRequest.REQUEST_REREGISTRATION
    return json_view(await _services(request).vens.request(ven_id, requested))


async def get_invitation(request: web.Request) -> web.Response:
    invitation_id = request.match_info["invitation_id"]
    return json_view(await _services(request).invitations.get(invitation_id))


async def list_invitations(request: web.Request) -> web.Response:
    query = read_query(request, InvitationQuery)
    state = InvitationState(query.state) if query.state else None
    return json_items(await _services(request).invitations.find(state, query.hours, query.limit))


async def answer_invitation(request: web.Request) -> web.Response:
    body = await read_body(request, AnswerCreate)
    if body.answer == "YES" and body.committed_kw is None:
        raise ValidationFailed.single("committed_kw", "is required when the answer is YES")
    answer = DeviceAnswer(
        device_id=body.device_id,
        answer=Answer(body.answer),
        committed_kw=body.committed_kw or 0.0,
        source=AnswerSource.ADMIN,
    )
    invitation_id = request.match_info["invitation_id"]
    view = await _services(request).invitations.answer(invitation_id, [answer])
    return json_view(view, status=201)


async def create_event(request: web.Request) -> web.Response:
    body = await read_body(request, EventCreate)
    services = _services(request)
    duration = _duration_or_default(body.duration_minutes, services)
    view = await services.events.schedule(
        body.start_time, duration, body.devices, body.target_kw, body.program_id,
        terms=body.terms(services.clock.now()),
    )  # fmt: skip
    return json_view(view, status=201)


async def list_events(request: web.Request) -> web.Response:
    query = read_query(request, EventQuery)
    return json_items(await _services(request).events.find(query.status, query.limit))


async def get_event(request: web.Request) -> web.Response:
    return json_view(await _services(request).events.get(request.match_info["event_id"]))


async def request_ven_report(request: web.Request) -> web.Response:
    body = await read_body(request, ReportRequestCreate)
    requests = _services(request).ven_facing.report_requests
    return json_view(await requests.request(request.match_info["ven_id"], body.ask()), 201)


async def list_ven_reports(request: web.Request) -> web.Response:
    requests = _services(request).ven_facing.report_requests
    return json_items(await requests.of_ven(request.match_info["ven_id"]))


async def cancel_ven_report(request: web.Request) -> web.Response:
    body = await read_optional_body(request, ReportRequestCancel)
    requests = _services(request).ven_facing.report_requests
    info = request.match_info
    view = await requests.cancel(
        info["ven_id"], info["report_request_id"], body.report_to_follow, body.piggy_back
    )
    return json_view(view)


async def list_ven_opts(request: web.Request) -> web.Response:
    services = _services(request)
    return json_items(await opts_of(services.db, request.match_info["ven_id"]))


async def modify_event(request: web.Request) -> web.Response:
    body = await read_body(request, EventModify)
    services = _services(request)
    event_id = request.match_info["event_id"]
    start = body.start_time or (await services.events.get(event_id)).start_time
    view = await services.events.modify(
        event_id, body.start_time, body.duration_minutes, body.target_kw,
        body.term_changes(services.clock.now(), start),
    )  # fmt: skip
    return json_view(view)


async def cancel_event(request: web.Request) -> web.Response:
    body = await read_optional_body(request, EventCancel)
    event_id = request.match_info["event_id"]
    view = await _services(request).events.cancel(event_id, body.reason, body.response_required)
    return json_view(view)


async def get_auto_response(request: web.Request) -> web.Response:
    return json_view(await _services(request).auto_response.config_view())


async def put_auto_response(request: web.Request) -> web.Response:
    body = await read_body(request, AutoResponseUpdate)
    service = _services(request).auto_response
    current = await service.config()
    changes = {k: v for k, v in body.model_dump(exclude_unset=True).items() if v is not None}
    return json_view(await service.set_config(dataclasses.replace(current, **changes)))


async def get_flexibility(request: web.Request) -> web.Response:
    return json_view(await _services(request).flexibility.current())


async def flexibility_history(request: web.Request) -> web.Response:
    query = read_query(request, FlexibilityHistoryQuery)
    return json_items(await _services(request).flexibility.history(query.hours, query.limit))


async def get_analytics(request: web.Request) -> web.Response:
    query = read_query(request, AnalyticsQuery)
    return json_view(await _services(request).analytics.performance(query.days))
