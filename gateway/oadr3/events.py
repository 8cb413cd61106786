"""``/events``. One made by business logic is an event of its program's core: scheduled
directly (``services.events``) for the devices taking part in the program (those of VENs
granted its targets, when it has targets), with its intervals as the core's explicit signals
(``payloads``), so 2.0b VENs get it as an oadrDistributeEvent; its 3.x fields sit beside it
under the core event's id. One whose payloads 2.0b cannot carry, or whose program has no
device yet, stays a 3.x event (read by 3.x VENs through the program and its targets).

A VEN also reads, as 3.x events, the core events it must know (``VenFacing.events_of``: an
invitation's, or one scheduled in the admin API), with the facts 2.0b VENs get.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.db.models import DeviceRow, EventRow, ProgramRow
from gateway.domain.errors import Conflict, NotFound, ValidationFailed
from gateway.domain.invitations import check_event_window
from gateway.domain.lifecycle import EventStatus
from gateway.domain.signals import EventTerms, terms_from_json
from gateway.oadr3.access import announce, caller, path_id, reader_of, services_of
from gateway.oadr3.auth import Principal
from gateway.oadr3.event_cache import VenEventsCache
from gateway.oadr3.event_fill import every_ven_events, ven_events_json
from gateway.oadr3.event_views import core_event_json, stored_event_json
from gateway.oadr3.models import Oadr3ObjectRow
from gateway.oadr3.objects import Kind, put, remove, row_of, rows_of
from gateway.oadr3.payloads import Step, signals_of
from gateway.oadr3.privacy import Reader
from gateway.oadr3.problems import bad_request, not_found
from gateway.oadr3.schemas import EventRequest, document_of
from gateway.oadr3.scopes import Scope
from gateway.oadr3.wire import Query, json_answer, parse_duration, parse_time, read_json
from gateway.services.container import Services
from gateway.services.program_checks import (
    devices_not_taking_part,
    load_program,
    vens_taking_part,
)
from gateway.services.program_views import program_of
from gateway.services.ven_facing.events import events_of_ven

EVENTS_CACHE = web.AppKey("oadr3_ven_events_cache", VenEventsCache)
_NOW = datetime(1, 1, 1, tzinfo=UTC)  # "0001-01-01" may mean now (User Guide)
_OFF = frozenset({EventStatus.CANCELLED.value, EventStatus.MISSED.value})


def _timing(body: EventRequest, now: datetime) -> tuple[datetime, list[Step]]:
    """The event's start and its sequential intervals (each its own duration, else the
    event's intervalPeriod's)."""
    period = body.intervalPeriod
    first = body.intervals[0].intervalPeriod if body.intervals else None
    raw_start = (period.start if period else None) or (first.start if first else None)
    if raw_start is None:
        raise bad_request("intervalPeriod.start: the event needs a start")
    start = parse_time("intervalPeriod.start", raw_start)
    start = now if start.date() == _NOW.date() else start
    default = period.duration if period else None
    steps = []
    for n, interval in enumerate(body.intervals):
        own = interval.intervalPeriod.duration if interval.intervalPeriod else None
        text = own or default
        if text is None:
            raise bad_request(f"intervals.{n}.intervalPeriod.duration: no duration for it")
        span = parse_duration(f"intervals.{n}.intervalPeriod.duration", text, start)
        values = {p.type: p.values[0] for p in interval.payloads if p.values}
        steps.append(Step(span, values))
    return start, steps


async def _devices_of(services: Services, program_id: str, targets: list[str] | None) -> list[str]:
    """The devices taking part in the program; with targets, only those of VENs granted one."""
    async with services.db.read() as session:
        program = await load_program(session, program_id)
        rows = (
            await session.execute(
                select(DeviceRow.id, DeviceRow.ven_id).where(DeviceRow.ven_id.is_not(None))
            )
        ).all()
        out = set(await devices_not_taking_part(session, program, [d for d, _ in rows]))
        devices = [(d, v) for d, v in rows if d not in out]
        if not targets:
            return [d for d, _ in devices]
        extras = (
            await session.scalars(
                select(Oadr3ObjectRow).where(
                    Oadr3ObjectRow.kind.in_([Kind.VEN.value, Kind.RESOURCE.value])
                )
            )
        ).all()
    granted: dict[str, set[str]] = {}
    for extra in extras:
        if extra.ven_id is not None:
            granted.setdefault(extra.ven_id, set()).update(extra.document.get("targets") or [])
    return [d for d, v in devices if v is not None and granted.get(v, set()) & set(targets)]


def _currencies(body: EventRequest) -> dict[str, str]:
    return {d.payloadType: d.currency for d in body.payloadDescriptors or [] if d.currency}


async def _schedule(
    services: Services, body: EventRequest, start: datetime, steps: list[Step]
) -> tuple[str | None, list[str]]:
    """The core event's id (None: it stays a 3.x event), and the payload types left out."""
    signals, left_out = signals_of(steps, _currencies(body))
    total = sum((s.duration for s in steps), timedelta())
    minutes = total / timedelta(minutes=1)
    if not signals or not minutes.is_integer():
        return None, left_out
    # One the core cannot schedule for its time (starting now or before, or not lasting
    # 1-1440 minutes) stays a 3.x event; any other refusal is the client's to hear.
    if check_event_window("start", start, int(minutes), services.clock.now()):
        return None, left_out
    devices = await _devices_of(services, body.programID, body.targets)
    if not devices:
        return None, left_out
    terms = EventTerms(signals=signals, priority=body.priority)
    try:
        view = await services.events.schedule(
            start, int(minutes), devices, None, program_id=body.programID, terms=terms
        )
    except ValidationFailed as err:
        raise bad_request(f"the event cannot be scheduled: {err.message}") from err
    except Conflict as err:
        raise bad_request(f"the event cannot be scheduled: {err.message}") from err
    return view.id, left_out


async def create_event(request: web.Request) -> web.Response:
    await caller(request, Scope.WRITE_EVENTS)
    body = await read_json(request, EventRequest)
    services = services_of(request)
    async with services.db.read() as session:
        if await session.get(ProgramRow, body.programID) is None:
            raise bad_request(f"programID: program {body.programID} not found")
    start, steps = _timing(body, services.clock.now())
    if not steps:
        raise bad_request("intervals: at least one interval")
    core_id, _left_out = await _schedule(services, body, start, steps)
    event_id = core_id or uuid.uuid4().hex
    async with services.db.write() as session:
        row = await put(
            session,
            Kind.EVENT,
            event_id,
            document_of(body),
            services.clock.now(),
            program_id=body.programID,
        )
        announce(session, services, "oadr3_event_created", event_id=event_id)
        answer = stored_event_json(row, Reader(None, None))
    await services.publisher.flush()
    return json_answer(answer, status=201)


async def _ven_events(
    session: AsyncSession, now: datetime, principal: Principal, reader: Reader
) -> list[dict[str, Any]]:
    """A VEN's events: the core events it must know, and the 3.x ones of programs it takes
    part in that its targets reach (``event_fill.ven_events_json``)."""
    if principal.ven_id is None:
        return []
    core = await events_of_ven(session, principal.ven_id, now)
    stored = await rows_of(session, Kind.EVENT)
    programs = [program_of(row) for row in await session.scalars(select(ProgramRow))]
    taking_part = {p for p, _ in await vens_taking_part(session, programs, [principal.ven_id])}
    return ven_events_json(core, stored, taking_part, reader)


async def _all_events(session: AsyncSession, reader: Reader) -> list[dict[str, Any]]:
    stored = await rows_of(session, Kind.EVENT)
    core = (await session.scalars(select(EventRow).order_by(EventRow.created_at))).all()
    shown: list[dict[str, Any]] = []
    for row in core:
        if row.id in stored:
            body = stored_event_json(stored.pop(row.id), reader)
        elif row.status in _OFF or reader.asked is not None:
            continue  # a cancelled one is no longer listed; targets: only 3.x ones have them
        else:
            body = core_event_json(row, terms_from_json(row.terms))
        if body is not None:
            shown.append(body)
    shown.extend(b for row in stored.values() if (b := stored_event_json(row, reader)) is not None)
    return shown


async def _events_for(
    request: web.Request, principal: Principal, asked: frozenset[str] | None
) -> list[dict[str, Any]]:
    """The caller's events; a VEN's without targets asked come from the cache when fresh
    (every VEN's read at once when it is cold: ``event_fill``)."""
    services = services_of(request)
    cache = request.config_dict[EVENTS_CACHE]
    cacheable = principal.is_ven and principal.ven_id is not None and asked is None
    if cacheable and (kept := cache.get(str(principal.ven_id))) is not None:
        return kept
    if cacheable and cache.cold():

        async def every_ven() -> dict[str, list[dict[str, Any]]] | None:
            async with services.db.read() as session:
                return await every_ven_events(session, services.clock.now())

        await cache.fill(every_ven)
        if (kept := cache.get(str(principal.ven_id))) is not None:
            return kept
    generation = cache.generation
    async with services.db.read() as session:
        reader = await reader_of(session, principal, asked)
        if not principal.is_ven:
            return await _all_events(session, reader)
        found = await _ven_events(session, services.clock.now(), principal, reader)
    if cacheable:
        cache.put(str(principal.ven_id), found, generation)
    return found


def _listed(events: list[dict[str, Any]]) -> bytes:
    return json.dumps(sorted(events, key=lambda e: e["createdDateTime"])).encode()


async def list_events(request: web.Request) -> web.Response:
    principal = await caller(request, Scope.READ_TARGETS)
    query = Query(request, ("programID",))
    shown = await _events_for(request, principal, query.targets)
    if not request.query and principal.is_ven and principal.ven_id is not None:
        # A VEN's plain read, the most frequent: its answer is kept with its cached events.
        body = request.config_dict[EVENTS_CACHE].answer(principal.ven_id, shown, _listed)
        return web.Response(body=body, content_type="application/json", charset="utf-8")
    wanted = query.filters.get("programID")
    shown = [e for e in shown if wanted is None or e["programID"] == wanted]
    shown.sort(key=lambda e: e["createdDateTime"])
    return json_answer(query.page(shown))


async def _one(request: web.Request, principal: Principal, event_id: str) -> dict[str, Any]:
    for body in await _events_for(request, principal, None):
        if body["id"] == event_id:
            return body
    raise not_found(f"event {event_id} not found")


async def get_event(request: web.Request) -> web.Response:
    principal = await caller(request, Scope.READ_TARGETS)
    return json_answer(await _one(request, principal, path_id(request, "eventID")))


async def _change_core(services: Services, event_id: str, body: EventRequest) -> None:
    """The new intervals reach 2.0b VENs as the core event's new terms (modificationNumber
    + 1); when they no longer map onto 2.0b signals, or time the core cannot hold, the core
    event is cancelled (they cannot be sent what it now says). A refusal of the core (the
    event runs already, an overlap) is the client's to hear."""
    async with services.db.read() as session:
        core = await session.get(EventRow, event_id)
    if core is None or not core.direct or core.status in _OFF:
        return
    if body.programID != core.program_id:
        raise bad_request("programID: an event stays in its program")
    start, steps = _timing(body, services.clock.now())
    signals, _left_out = signals_of(steps, _currencies(body))
    minutes = sum((s.duration for s in steps), timedelta()) / timedelta(minutes=1)
    held = (core.end_time - core.start_time) / timedelta(minutes=1)
    keeps = (start, minutes) == (core.start_time, held)
    timely = minutes.is_integer() and (
        keeps or not check_event_window("start", start, int(minutes), services.clock.now())
    )
    try:
        if not signals or not timely:
            await services.events.cancel(event_id, "its 3.x intervals no longer map onto 2.0b")
            return
        changes = {"signals": signals, "priority": body.priority}
        await services.events.modify(event_id, start, int(minutes), None, changes)
    except ValidationFailed as err:
        raise bad_request(f"the event cannot change: {err.message}") from err


async def update_event(request: web.Request) -> web.Response:
    await caller(request, Scope.WRITE_EVENTS)
    event_id = path_id(request, "eventID")
    body = await read_json(request, EventRequest)
    services = services_of(request)
    async with services.db.read() as session:
        if await row_of(session, Kind.EVENT, event_id) is None:
            raise not_found(f"event {event_id} not found (only events made here can change)")
    await _change_core(services, event_id, body)
    async with services.db.write() as session:
        row = await put(
            session,
            Kind.EVENT,
            event_id,
            document_of(body),
            services.clock.now(),
            program_id=body.programID,
        )
        announce(session, services, "oadr3_event_updated", event_id=event_id)
        answer = stored_event_json(row, Reader(None, None))
    await services.publisher.flush()
    return json_answer(answer)


async def delete_event(request: web.Request) -> web.Response:
    """The event is cancelled in the core (its VENs hear it, 2.0b ones as cancelled)."""
    principal = await caller(request, Scope.WRITE_EVENTS)
    event_id = path_id(request, "eventID")
    answer = await _one(request, principal, event_id)
    services = services_of(request)
    # A 3.x event only, or one that ended or was cancelled already, has nothing to cancel.
    with contextlib.suppress(NotFound, Conflict):
        await services.events.cancel(event_id, "deleted through the OpenADR 3 API")
    async with services.db.write() as session:
        await remove(session, Kind.EVENT, [event_id])
        announce(session, services, "oadr3_event_deleted", event_id=event_id)
    await services.publisher.flush()
    return json_answer(answer)


def add_event_routes(api: web.Application) -> None:
    api.router.add_get("/events", list_events)
    api.router.add_post("/events", create_event)
    api.router.add_get("/events/{eventID}", get_event)
    api.router.add_put("/events/{eventID}", update_event)
    api.router.add_delete("/events/{eventID}", delete_event)
