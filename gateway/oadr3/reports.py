"""``/reports``. A VEN's report is kept as sent (its clientID from its token) and read back
by it and by business logic; what it says reaches the core: its power readings go to the
power bus like 2.0b telemetry (``VenFacing.take_telemetry``), and an OPT payload is the VEN's
answer for those of its devices (resources) in the event (``VenFacing.answer``, or
``answer_direct`` for an event scheduled directly). Business logic also reads the executor's
results of each finished event as a report (``results``)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from aiohttp import web
from sqlalchemy import select

from gateway.db.models import DeviceRow
from gateway.domain.errors import Conflict
from gateway.domain.invitations import Answer
from gateway.oadr3.access import announce, caller, own_ven, path_id, services_of
from gateway.oadr3.auth import Principal
from gateway.oadr3.models import Oadr3ObjectRow
from gateway.oadr3.objects import Kind, put, remove, row_of
from gateway.oadr3.problems import bad_request, not_found
from gateway.oadr3.readings import PowerReading, answer_of, power_of
from gateway.oadr3.results import result_reports
from gateway.oadr3.schemas import IntervalPeriod, ReportRequest, document_of
from gateway.oadr3.scopes import Scope
from gateway.oadr3.wire import Query, json_answer, metadata, parse_duration, parse_time, read_json
from gateway.services.container import Services
from gateway.services.ven_facing.telemetry import Reading

AGGREGATED = "AGGREGATED_REPORT"


def report_json(row: Oadr3ObjectRow) -> dict[str, Any]:
    body = metadata(Kind.REPORT, row.id, row.created_at, row.modified_at)
    body.update(row.document)
    body["clientID"] = row.client_id
    if row.program_id is not None:
        body.setdefault("programID", row.program_id)
    return body


def _sees(principal: Principal, row: Oadr3ObjectRow) -> bool:
    return not principal.is_ven or row.client_id == principal.client_id


def _period(
    period: IntervalPeriod | None, start: datetime | None, now: datetime
) -> tuple[datetime | None, timedelta | None]:
    if period is None:
        return start, None
    begin = parse_time("intervalPeriod.start", period.start) if period.start else start
    span = (
        parse_duration("intervalPeriod.duration", period.duration, begin or now)
        if period.duration
        else None
    )
    return begin, span


def _units(body: ReportRequest) -> dict[str, str | None]:
    return {d.payloadType: d.units for d in body.payloadDescriptors or []}


def readings_of(body: ReportRequest, now: datetime) -> tuple[list[PowerReading], dict[str, Answer]]:
    units = _units(body)
    readings: list[PowerReading] = []
    answers: dict[str, Answer] = {}
    for resource in body.resources:
        default_start, default_span = _period(resource.intervalPeriod, None, now)
        for interval in resource.intervals:
            start, span = _period(interval.intervalPeriod, default_start, now)
            span = span or default_span
            values = {p.type: p.values[0] for p in interval.payloads if p.values}
            for payload_type, value in values.items():
                reading = power_of(
                    resource.resourceName,
                    payload_type,
                    value,
                    units.get(payload_type),
                    start,
                    span,
                    now,
                )
                if reading is not None:
                    readings.append(reading)
            answer = answer_of(values)
            if answer is not None:
                answers[resource.resourceName] = answer
    return readings, answers


async def _take(
    services: Services, ven_id: str, body: ReportRequest, program_id: str | None
) -> None:
    now = services.clock.now()
    readings, answers = readings_of(body, now)
    async with services.db.read() as session:
        found = await session.execute(
            select(DeviceRow.resource_id, DeviceRow.id).where(DeviceRow.ven_id == ven_id)
        )
        device_of = {name: device for name, device in found.all() if name is not None}
    core = [
        Reading(
            None if r.resource_name == AGGREGATED else device_of.get(r.resource_name),
            r.kw,
            r.at,
            r.resource_name,
        )
        for r in readings
        if r.resource_name == AGGREGATED or r.resource_name in device_of
    ]
    if core:
        await services.ven_facing.take_telemetry(ven_id, core)
    if answers:
        await _answer(services, ven_id, body.eventID, answers, device_of)


async def _answer(
    services: Services,
    ven_id: str,
    event_id: str,
    answers: dict[str, Answer],
    device_of: dict[str, str],
) -> None:
    now = services.clock.now()
    event = next(
        (e for e in await services.ven_facing.events_of(ven_id, now) if e.event_id == event_id),
        None,
    )
    if event is None:
        raise bad_request(f"eventID: ven {ven_id} takes no part in event {event_id}")
    for answer in (Answer.YES, Answer.NO):
        devices = [
            device_of[n]
            for n, a in answers.items()
            if a is answer and device_of.get(n) in event.device_ids
        ]
        if not devices:
            continue
        answering = (
            services.ven_facing.answer_direct if event.direct else services.ven_facing.answer
        )
        try:
            await answering(ven_id, event_id, devices, answer, event.modification_number)
        except Conflict as err:
            raise bad_request(f"the answer is refused: {err.message}") from err


async def _program_of_event(services: Services, principal: Principal, event_id: str) -> str | None:
    async with services.db.read() as session:
        stored = await row_of(session, Kind.EVENT, event_id)
        if stored is not None:
            return stored.program_id
    for event in await services.ven_facing.events_of(own_ven(principal), services.clock.now()):
        if event.event_id == event_id:
            return event.program.id
    raise bad_request(f"eventID: event {event_id} not found")


async def create_report(request: web.Request) -> web.Response:
    principal = await caller(request, Scope.WRITE_REPORTS)
    body = await read_json(request, ReportRequest)
    ven_id = own_ven(principal)
    services = services_of(request)
    program_id = await _program_of_event(services, principal, body.eventID)
    await _take(services, ven_id, body, program_id)
    async with services.db.write() as session:
        document = document_of(body)
        document.pop("programID", None)
        report_id = uuid.uuid4().hex
        announce(session, services, "oadr3_report_created", report_id=report_id)
        row = await put(
            session,
            Kind.REPORT,
            report_id,
            document,
            services.clock.now(),
            client_id=principal.client_id,
            program_id=program_id,
            ven_id=ven_id,
        )
        answer = report_json(row)
    await services.publisher.flush()
    return json_answer(answer, status=201)


async def list_reports(request: web.Request) -> web.Response:
    principal = await caller(request, Scope.READ_VEN_OBJECTS)
    query = Query(request, ("programID", "eventID", "clientName"))
    services = services_of(request)
    async with services.db.read() as session:
        rows = (
            await session.scalars(
                select(Oadr3ObjectRow)
                .where(Oadr3ObjectRow.kind == Kind.REPORT.value)
                .order_by(Oadr3ObjectRow.created_at)
            )
        ).all()
    shown = [report_json(r) for r in rows if _sees(principal, r)]
    if not principal.is_ven:
        shown.extend(await result_reports(services))
    shown = [r for r in shown if all(r.get(k) == v for k, v in query.filters.items())]
    return json_answer(query.page(shown))


async def _own(request: web.Request, principal: Principal, report_id: str) -> Oadr3ObjectRow:
    async with services_of(request).db.read() as session:
        row = await row_of(session, Kind.REPORT, report_id)
    if row is None or not _sees(principal, row):
        raise not_found(f"report {report_id} not found")
    return row


async def get_report(request: web.Request) -> web.Response:
    principal = await caller(request, Scope.READ_VEN_OBJECTS)
    report_id = path_id(request, "reportID")
    if not principal.is_ven:
        for result in await result_reports(services_of(request)):
            if result["id"] == report_id:
                return json_answer(result)
    return json_answer(report_json(await _own(request, principal, report_id)))


async def update_report(request: web.Request) -> web.Response:
    principal = await caller(request, Scope.WRITE_REPORTS)
    report_id = path_id(request, "reportID")
    body = await read_json(request, ReportRequest)
    row = await _own(request, principal, report_id)
    services = services_of(request)
    await _take(services, own_ven(principal), body, row.program_id)
    async with services.db.write() as session:
        document = document_of(body)
        document.pop("programID", None)
        row = await put(
            session,
            Kind.REPORT,
            report_id,
            document,
            services.clock.now(),
            client_id=row.client_id,
            program_id=row.program_id,
            ven_id=row.ven_id,
        )
        announce(session, services, "oadr3_report_updated", report_id=report_id)
        answer = report_json(row)
    await services.publisher.flush()
    return json_answer(answer)


async def delete_report(request: web.Request) -> web.Response:
    principal = await caller(request, Scope.WRITE_REPORTS)
    report_id = path_id(request, "reportID")
    answer = report_json(await _own(request, principal, report_id))
    services = services_of(request)
    async with services.db.write() as session:
        await remove(session, Kind.REPORT, [report_id])
        announce(session, services, "oadr3_report_deleted", report_id=report_id)
    await services.publisher.flush()
    return json_answer(answer)


def add_report_routes(api: web.Application) -> None:
    api.router.add_get("/reports", list_reports)
    api.router.add_post("/reports", create_report)
    api.router.add_get("/reports/{reportID}", get_report)
    api.router.add_put("/reports/{reportID}", update_report)
    api.router.add_delete("/reports/{reportID}", delete_report)
