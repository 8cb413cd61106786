"""The admin API's route table: one list drives both the router and the OpenAPI document."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web
from pydantic import BaseModel

from gateway.domain.errors import FieldError, raise_if_any
from gateway.domain.text import unstorable_character, unstorable_message
from gateway.http import handlers as h
from gateway.http import program_handlers as ph
from gateway.http import program_schemas as ps
from gateway.http import schemas as s
from gateway.services import program_views as pv
from gateway.services import views as v

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    handler: Handler
    summary: str
    response: type[BaseModel] | None = None
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    status: int = 200
    listing: bool = False  # the response is {"count": n, "items": [response, ...]}
    errors: tuple[int, ...] = ()
    # OpenAPI: empty means derived (gateway.http.openapi): the operationId from the handler's
    # name, the tag from the path's first segment under /api, the description from the rest.
    operation_id: str = ""
    tag: str = ""
    description: str = ""


ROUTES: tuple[Route, ...] = (
    Route("GET", "/health", h.health, "Database and Redis reachability (no auth)",
          s.HealthBody, errors=(503,)),
    Route("POST", "/api/devices", h.create_device, "Register a device", v.DeviceView,
          body=s.DeviceCreate, status=201, errors=(409, 422)),
    Route("GET", "/api/devices", h.list_devices, "List devices", v.DeviceView, listing=True),
    Route("GET", "/api/devices/{device_id}", h.get_device, "One device", v.DeviceView,
          errors=(404,)),
    Route("GET", "/api/devices/{device_id}/instructions", h.get_instructions,
          "A device's hourly instructions (local time)", v.InstructionsView, errors=(404,)),
    Route("PUT", "/api/devices/{device_id}/instructions", h.put_instructions,
          "Replace a device's hourly instructions", v.InstructionsView,
          body=s.InstructionsUpdate, errors=(404, 422)),
    Route("POST", "/api/vens", h.create_ven, "Provision a VEN for the OpenADR VTN", v.VenView,
          body=s.VenCreate, status=201, errors=(409, 422)),
    Route("GET", "/api/vens", h.list_vens, "VENs with registration state and last poll",
          v.VenView, listing=True),
    Route("GET", "/api/vens/{ven_id}", h.get_ven, "One VEN", v.VenView, errors=(404,)),
    Route("POST", "/api/vens/{ven_id}/cancel-registration", h.cancel_ven_registration,
          "End a VEN's registration: it is told on its next poll, and the registration ends "
          "when it answers", v.VenView, errors=(404, 409)),
    Route("POST", "/api/vens/{ven_id}/request-reregistration", h.request_ven_reregistration,
          "Ask a VEN to register again: it is told on its next poll", v.VenView,
          errors=(404, 409)),
    Route("POST", "/api/invitations", h.create_invitation, "Invite devices to shed load",
          v.InvitationView, body=s.InvitationCreate, status=201, errors=(422,)),
    Route("GET", "/api/invitations", h.list_invitations,
          "Invitations, newest first (state=waiting|answered, hours, limit)",
          v.InvitationView, query=s.InvitationQuery, listing=True, errors=(422,)),
    Route("GET", "/api/invitations/{invitation_id}", h.get_invitation, "One invitation",
          v.InvitationView, errors=(404,)),
    Route("PUT", "/api/invitations/{invitation_id}", h.modify_invitation,
          "Change an invitation's time, load or devices (modificationNumber + 1; devices are "
          "asked again)", v.InvitationView, body=s.InvitationModify, errors=(404, 409, 422)),
    Route("POST", "/api/invitations/{invitation_id}/cancel", h.cancel_invitation,
          "Cancel an invitation (and its event)", v.InvitationView, body=s.InvitationCancel,
          errors=(404, 409, 422)),
    Route("POST", "/api/invitations/{invitation_id}/answers", h.answer_invitation,
          "Record one device's answer", v.InvitationView, body=s.AnswerCreate, status=201,
          errors=(404, 409, 422)),
    Route("POST", "/api/events", h.create_event, "Schedule an event directly", v.EventView,
          body=s.EventCreate, status=201, errors=(422,)),
    Route("GET", "/api/events", h.list_events, "Events, latest start first", v.EventView,
          query=s.EventQuery, listing=True, errors=(422,)),
    Route("GET", "/api/events/{event_id}", h.get_event, "One event", v.EventView,
          errors=(404,)),
    Route("POST", "/api/events/{event_id}/cancel", h.cancel_event, "Cancel an event",
          v.EventView, body=s.EventCancel, errors=(404, 409, 422)),
    Route("GET", "/api/auto-response", h.get_auto_response, "Auto-response configuration",
          v.AutoResponseConfigView),
    Route("PUT", "/api/auto-response", h.put_auto_response,
          "Change the auto-response configuration", v.AutoResponseConfigView,
          body=s.AutoResponseUpdate, errors=(422,)),
    Route("GET", "/api/flexibility", h.get_flexibility, "Flexibility available now",
          v.FlexibilityView),
    Route("GET", "/api/flexibility/history", h.flexibility_history,
          "Stored flexibility snapshots", v.FlexibilitySnapshotView,
          query=s.FlexibilityHistoryQuery, listing=True, errors=(422,)),
    Route("GET", "/api/analytics", h.get_analytics, "Performance over the last days",
          v.AnalyticsView, query=s.AnalyticsQuery, errors=(422,)),
    Route("POST", "/api/programs", ph.create_program, "Create a program (a market context)",
          pv.ProgramView, body=ps.ProgramCreate, status=201, errors=(409, 422)),
    Route("GET", "/api/programs", ph.list_programs, "Programs, by name", pv.ProgramView,
          listing=True),
    Route("GET", "/api/programs/{program_id}", ph.get_program, "One program, with who is enrolled",
          pv.ProgramView, errors=(404,)),
    Route("PATCH", "/api/programs/{program_id}", ph.update_program,
          "Change a program's terms (fields left out keep theirs)", pv.ProgramView,
          body=ps.ProgramUpdate, errors=(404, 409, 422)),
    Route("PUT", "/api/programs/{program_id}/vens/{ven_id}", ph.enrol_ven,
          "Enrol a VEN in a program", pv.ProgramView, errors=(404,)),
    Route("DELETE", "/api/programs/{program_id}/vens/{ven_id}", ph.remove_ven,
          "Remove a VEN from a program", pv.ProgramView, errors=(404,)),
    Route("PUT", "/api/programs/{program_id}/devices/{device_id}", ph.enrol_device,
          "Enrol a device in a program", pv.ProgramView, errors=(404,)),
    Route("DELETE", "/api/programs/{program_id}/devices/{device_id}", ph.remove_device,
          "Remove a device from a program", pv.ProgramView, errors=(404,)),
    Route("DELETE", "/api/programs/{program_id}", ph.delete_program,
          "Delete a program (not the default one, nor one that invitations or events belong "
          "to)", pv.ProgramView, errors=(404, 409)),
)  # fmt: skip


def with_checked_path(handler: Handler) -> Handler:
    """Path parameters are ids: one that cannot be stored (a NUL) is a 422 naming it, before
    the handler looks it up (PostgreSQL refused the query itself: a 500)."""

    async def checked(request: web.Request) -> web.StreamResponse:
        errors = [
            FieldError(name, unstorable_message(character))
            for name, value in request.match_info.items()
            if (character := unstorable_character(value)) is not None
        ]
        raise_if_any(errors)
        return await handler(request)

    return checked


def setup_routes(app: web.Application) -> None:
    from gateway.http.openapi import openapi_handler
    from gateway.observability.routes import setup_observability

    for route in ROUTES:
        app.router.add_route(route.method, route.path, with_checked_path(route.handler))
    app.router.add_get("/api/openapi.json", openapi_handler)
    setup_observability(app)  # /metrics and /api/docs
