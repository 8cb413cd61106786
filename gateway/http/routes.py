"""The admin API's route table: one list drives both the router and the OpenAPI document."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web
from pydantic import BaseModel

from gateway.domain.errors import FieldError, raise_if_any
from gateway.domain.text import unstorable_character, unstorable_message
from gateway.http import event_schemas as es
from gateway.http import handlers as h
from gateway.http import program_handlers as ph
from gateway.http import program_schemas as ps
from gateway.http import report_request_schemas as rs
from gateway.http import sample_handlers as sh
from gateway.http import schemas as s
from gateway.http import settlement_handlers as st
from gateway.http import vtn_handlers as vh
from gateway.oadr3 import admin as oa3
from gateway.services import flexibility_views as fv
from gateway.services import meter_history as mh
from gateway.services import program_views as pv
from gateway.services import settlement_views as sv
from gateway.services import views as v
from gateway.services.ven_facing import opts as vo
from gateway.services.ven_facing import report_requests as vr

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
    also: tuple[int, ...] = ()  # other success statuses, with the same response
    listing: bool = False  # the response is {"count": n, "items": [response, ...]}
    errors: tuple[int, ...] = ()
    # OpenAPI: empty means derived (gateway.http.openapi): the operationId from the handler's
    # name, the tag from the path's first segment under /api, the description from the rest.
    operation_id: str = ""
    tag: str = ""
    description: str = ""
    # Other media types the 200 answer can have (documented as text beside the JSON).
    text_media: tuple[str, ...] = ()


ROUTES: tuple[Route, ...] = (
    Route("GET", "/health", h.health, "Database and Redis reachability (no auth)",
          s.HealthBody, errors=(503,)),
    Route("POST", "/api/devices", h.create_device, "Register a device", v.DeviceView,
          body=s.DeviceCreate, status=201, errors=(409, 422)),
    Route("GET", "/api/devices", h.list_devices, "List devices", v.DeviceView, listing=True),
    Route("GET", "/api/devices/{device_id}", h.get_device, "One device", v.DeviceView,
          errors=(404,)),
    Route("POST", "/api/meter-history", st.import_history,
          "Import meter history: CSV device_id,interval_start,kwh (JSON {\"csv\": ...}, a "
          "text/csv body or a multipart file); all rows or none, each refused row named",
          mh.ImportReport, body=st.HistoryImport, errors=(422,)),
    Route("GET", "/api/devices/{device_id}/history", st.device_history,
          "A device's meter history: energy per interval and the share measured",
          mh.MeterIntervalView, query=st.HistoryQuery, listing=True, errors=(404, 422)),
    Route("PATCH", "/api/devices/{device_id}", h.update_device,
          "Change a device's time zone, VEN or resource id (fields left out keep theirs; "
          "ven_id null detaches it). A pending invitation or open event naming it keeps its "
          "VEN and resource: 409 naming them", v.DeviceView, body=s.DeviceUpdate,
          errors=(404, 409, 422)),
    Route("DELETE", "/api/devices/{device_id}", h.delete_device,
          "Remove a device that no invitation or event names (its instructions and program "
          "enrolments go with it); one that any names is a 409 naming the open ones (a "
          "device with past results is kept: detach it instead)", None, status=204,
          errors=(404, 409)),
    Route("GET", "/api/devices/{device_id}/instructions", h.get_instructions,
          "A device's hourly instructions (local time)", fv.InstructionsView, errors=(404,)),
    Route("PUT", "/api/devices/{device_id}/instructions", h.put_instructions,
          "Replace a device's hourly instructions", fv.InstructionsView,
          body=s.InstructionsUpdate, errors=(404, 422)),
    Route("POST", "/api/vens", h.create_ven, "Provision a VEN for the OpenADR VTN", v.VenView,
          body=s.VenCreate, status=201, errors=(409, 422)),
    Route("GET", "/api/vens", h.list_vens, "VENs with registration state and last poll",
          v.VenView, listing=True),
    Route("GET", "/api/vens/{ven_id}", h.get_ven, "One VEN", v.VenView, errors=(404,)),
    Route("POST", "/api/vens/{ven_id}/report-requests", h.request_ven_report,
          "Ask a VEN for a report of points it offered", vr.ReportRequestView,
          body=rs.ReportRequestCreate, status=201, errors=(404, 409, 422)),
    Route("GET", "/api/vens/{ven_id}/report-requests", h.list_ven_reports,
          "A VEN's report requests: held for its next registration of reports, then as "
          "stored (requested, created, cancelled)", vr.ReportRequestListed, listing=True,
          errors=(404,)),
    Route("POST", "/api/vens/{ven_id}/report-requests/{report_request_id}/cancel",
          h.cancel_ven_report, "Cancel a report asked of a VEN", vr.ReportRequestView,
          body=rs.ReportRequestCancel, errors=(404, 409, 422)),
    Route("GET", "/api/vens/{ven_id}/status", vh.ven_status,
          "The TELEMETRY_STATUS a VEN last reported per rID (online, manual override, load "
          "control state; null where it sent none)", vh.ResourceStatusView, listing=True,
          errors=(404,)),
    Route("GET", "/api/vens/{ven_id}/messages", vh.ven_messages,
          "The last 50 2.0b messages exchanged with a VEN (pull and push), newest first: "
          "direction, type, requestID, response code, the error code of refusals (each "
          "process stores what it saw every few seconds)", vh.MessageView, listing=True,
          errors=(404, 503)),
    Route("POST", "/api/vtn/metadata/publish", vh.publish_vtn_metadata,
          "Send the 2.0b VTN's METADATA report again to every registered polling VEN (on its "
          "next poll with nothing else for it)", vh.MetadataPublished),
    Route("GET", "/api/vens/{ven_id}/opts", h.list_ven_opts,
          "A VEN's opts (EiOpt): of events and of availability schedules", vo.OptView,
          listing=True, errors=(404,)),
    Route("PATCH", "/api/vens/{ven_id}", h.update_ven,
          "Rename a VEN, rotate its certificate fingerprint (the old certificate is refused "
          "from its next message on) or choose how pushes to it are addressed "
          "(push_address_style)", v.VenView, body=s.VenUpdate, errors=(404, 409, 422)),
    Route("DELETE", "/api/vens/{ven_id}", h.delete_ven,
          "Deprovision a VEN: its devices are detached (kept, with no VEN), its enrolments "
          "end; a registered VEN is told on its next poll that its registration is cancelled "
          "and is deleted once it answers, an unregistered one at once, with its reports, "
          "report requests, messages, opts and errors. 409 while a pending invitation or "
          "open event names one of its devices", s.VenRemoved, errors=(404, 409)),
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
          "asked again); once its event time has come, only its duration (a new end after "
          "now)", v.InvitationView, body=s.InvitationModify, errors=(404, 409, 422)),
    Route("POST", "/api/invitations/{invitation_id}/cancel", h.cancel_invitation,
          "Cancel an invitation (and its event)", v.InvitationView, body=s.InvitationCancel,
          errors=(404, 409, 422)),
    Route("POST", "/api/invitations/{invitation_id}/answers", h.answer_invitation,
          "Record one device's answer", v.InvitationView, body=s.AnswerCreate, status=201,
          errors=(404, 409, 422)),
    Route("POST", "/api/events", h.create_event, "Schedule an event directly", v.EventView,
          body=es.EventCreate, status=201, errors=(422,)),
    Route("GET", "/api/events", h.list_events, "Events, latest start first", v.EventView,
          query=s.EventQuery, listing=True, errors=(422,)),
    Route("GET", "/api/events/{event_id}", h.get_event, "One event", v.EventView,
          errors=(404,)),
    Route("GET", "/api/events/{event_id}/samples", sh.event_samples,
          "Each device's power, baseline and reduction at each stored sample (JSON or CSV)",
          sh.EventSamplesView, query=sh.SamplesQuery, errors=(404, 422), text_media=("text/csv",),
          description="A page of devices (cursor, limit) with every stored sample of the "
          "phase (after after_index). Missing readings are null (an empty CSV cell), never 0. "
          "format=csv or 'Accept: text/csv' streams CSV (device_id, phase, sample_index, "
          "sampled_at, power_kw, baseline_kw, reduction_kw), every device unless limit is "
          "given (then X-Next-Cursor names the next page). Open, unless auth_reads is on."),
    Route("GET", "/api/events/{event_id}/settlement", st.get_settlement,
          "An event's settlement (the latest version, or ?version=N; ?format=csv)",
          sv.SettlementView, query=st.SettlementQuery, errors=(404, 422),
          text_media=("text/csv",)),
    Route("POST", "/api/events/{event_id}/settlement", st.recompute_settlement,
          "Settle an event that ran (completed, or cancelled after its start: up to the "
          "cancel) from the stored data: 201 with a new version when the "
          "numbers changed, 200 with the latest when they did not", sv.SettlementView,
          status=201, also=(200,), errors=(404, 409)),
    Route("PUT", "/api/events/{event_id}", h.modify_event,
          "New terms for an event scheduled directly (modificationNumber + 1)", v.EventView,
          body=es.EventModify, errors=(404, 409, 422)),
    Route("POST", "/api/events/{event_id}/cancel", h.cancel_event, "Cancel an event",
          v.EventView, body=es.EventCancel, errors=(404, 409, 422)),
    Route("GET", "/api/auto-response", h.get_auto_response, "Auto-response configuration",
          v.AutoResponseConfigView),
    Route("PUT", "/api/auto-response", h.put_auto_response,
          "Change the auto-response configuration", v.AutoResponseConfigView,
          body=s.AutoResponseUpdate, errors=(422,)),
    Route("GET", "/api/flexibility", h.get_flexibility, "Flexibility available now",
          fv.FlexibilityView),
    Route("GET", "/api/flexibility/history", h.flexibility_history,
          "Stored flexibility snapshots", fv.FlexibilitySnapshotView,
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
    Route("POST", "/api/oadr3/clients", oa3.create_client,
          "Provision an OpenADR 3 client (VEN or BL); its secret is shown only now",
          oa3.ClientCreated, body=oa3.ClientCreate, status=201, errors=(404, 409, 422)),
    Route("GET", "/api/oadr3/clients", oa3.list_clients, "OpenADR 3 clients", oa3.ClientView,
          listing=True, errors=(404,)),
    Route("DELETE", "/api/oadr3/clients/{client_id}", oa3.delete_client,
          "Delete an OpenADR 3 client: its tokens stop working", oa3.ClientView,
          errors=(404,)),
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
