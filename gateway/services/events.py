"""DR events: scheduled from decided invitations or directly, listed, cancelled."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from redis.asyncio import Redis
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from gateway.db.models import EventDeviceRow, EventRow, EventSampleRow
from gateway.domain.errors import Conflict, FieldError, NotFound, raise_if_any
from gateway.domain.invitations import (
    MAX_POWER_KW,
    check_amount,
    check_device_list,
    check_event_window,
    per_device_kw,
)
from gateway.domain.lifecycle import (
    OPEN_EVENT_STATUSES,
    EventStatus,
    EventTrigger,
    next_event_status,
)
from gateway.domain.programs import DEFAULT_PROGRAM_ID
from gateway.domain.signals import (
    NO_TERMS,
    EventTerms,
    ResponseRequired,
    check_terms,
    terms_from_json,
    terms_to_json,
)
from gateway.services.active_changes import change_started_event, event_has_started
from gateway.services.context import ServiceContext
from gateway.services.devices import known_device_ids
from gateway.services.invitation_changes import bump_ended_event
from gateway.services.program_checks import load_program, program_for_devices, refuse_overlap
from gateway.services.results import BASELINE, apply_results, read_live, replay, samples_of, totals
from gateway.services.ven_facing.changes import ChangeKind, VenChange
from gateway.services.views import EventView

logger = logging.getLogger(__name__)

MAX_LIST_LIMIT = 1000
# A device whose VEN opted out of a direct event (``ven_facing.direct_answers``, which
# imports this module): it keeps 0 kW committed.
OPTED_OUT = "optOut"
_EVENT_LOADS = (
    selectinload(EventRow.devices), selectinload(EventRow.ven_errors),
    selectinload(EventRow.direct_ven_errors),
)  # fmt: skip


def stage_event(
    ctx: ServiceContext,
    session: AsyncSession,
    *,
    start_time: datetime,
    duration_minutes: int,
    target_kw: float,
    devices: Sequence[tuple[str, float | None]],
    invitation_id: str | None,
    program_id: str,
    terms: EventTerms = NO_TERMS,
    direct: bool = False,
) -> EventRow:
    """Add a scheduled event to the transaction; ``announce_scheduled`` tells the world."""
    now = ctx.clock.now()
    end_time = start_time + timedelta(minutes=duration_minutes)
    event = EventRow(
        id=str(uuid.uuid4()),
        invitation_id=invitation_id,
        program_id=program_id,
        created_at=now,
        updated_at=now,
        start_time=start_time,
        end_time=end_time,
        status=EventStatus.SCHEDULED.value,
        target_kw=target_kw,
        target_kwh=target_kw * duration_minutes / 60.0,
        terms=terms_to_json(terms),
        modification_number=0,
        direct=direct,
        devices=[
            EventDeviceRow(device_id=device_id, position=i, committed_kw=committed)
            for i, (device_id, committed) in enumerate(devices)
        ],
    )
    session.add(event)
    return event


def announce_scheduled(ctx: ServiceContext, session: AsyncSession, event: EventRow) -> None:
    # One from an invitation reaches its VENs through the invitation's change; a direct one
    # is news to the VENs of its devices.
    change = None
    if event.direct:
        devices = tuple(d.device_id for d in event.devices)
        change = VenChange(ChangeKind.EVENT, event_id=event.id, device_ids=devices)
    ctx.announce(
        session,
        "event_scheduled",
        change=change,
        event_id=event.id,
        invitation_id=event.invitation_id,
        program_id=event.program_id,
        start_time=event.start_time.isoformat(),
        end_time=event.end_time.isoformat(),
        devices=[d.device_id for d in event.devices],
        target_kw=event.target_kw,
        target_kwh=event.target_kwh,
    )


class EventService:
    def __init__(
        self, ctx: ServiceContext, redis: Redis, prefix: str, cadence_seconds: float
    ) -> None:
        self._ctx = ctx
        self._redis = redis
        self._prefix = prefix
        self._cadence = cadence_seconds

    async def schedule(
        self,
        start_time: datetime,
        duration_minutes: int,
        device_ids: Sequence[str],
        target_kw: float | None,
        program_id: str = DEFAULT_PROGRAM_ID,
        terms: EventTerms = NO_TERMS,
    ) -> EventView:
        """An event for ``device_ids``: with explicit signals (``terms``; no target needed,
        0 kW then) or with ``target_kw`` to shed, which its VENs get as SIMPLE and
        LOAD_DISPATCH."""
        now = self._ctx.clock.now()
        async with self._ctx.db.write() as session:
            known = await known_device_ids(session, device_ids)
            errors = check_event_window("start_time", start_time, duration_minutes, now)
            if target_kw is None and not terms.explicit:
                errors.append(FieldError("target_kw", "needed for an event without signals"))
            committed = direct_commitment(target_kw, len(device_ids))
            target_kw = target_kw or 0.0
            errors.extend(check_amount("target_kw", target_kw, MAX_POWER_KW))
            errors.extend(check_terms(terms, timedelta(minutes=duration_minutes)))
            errors.extend(check_device_list("devices", device_ids, known))
            raise_if_any(errors)
            program = await program_for_devices(session, program_id, device_ids)
            end_time = start_time + timedelta(minutes=duration_minutes)
            await refuse_overlap(session, program, start_time, end_time)
            event = stage_event(
                self._ctx,
                session,
                start_time=start_time,
                duration_minutes=duration_minutes,
                target_kw=target_kw,
                devices=[(d, committed) for d in device_ids],
                invitation_id=None,
                program_id=program.id,
                terms=terms,
                direct=True,
            )
            announce_scheduled(self._ctx, session, event)
        await self._ctx.publisher.flush()
        return EventView.of(event)

    async def get(self, event_id: str) -> EventView:
        async with self._ctx.db.read() as session:
            row = await session.get(EventRow, event_id, options=_EVENT_LOADS)
            if row is None:
                raise NotFound(f"event {event_id} not found")
        live = None
        if row.status == EventStatus.ACTIVE.value:
            live = await read_live(self._redis, self._prefix, event_id)
        return EventView.of(row, live)

    async def find(self, status: EventStatus | None, limit: int) -> list[EventView]:
        query = select(EventRow).options(*_EVENT_LOADS)
        if status is not None:
            query = query.where(EventRow.status == status.value)
        query = query.order_by(EventRow.start_time.desc()).limit(min(limit, MAX_LIST_LIMIT))
        async with self._ctx.db.read() as session:
            return [EventView.of(r) for r in await session.scalars(query)]

    async def modify(
        self,
        event_id: str,
        start_time: datetime | None,
        duration_minutes: int | None,
        target_kw: float | None,
        term_changes: Mapping[str, Any],
    ) -> EventView:
        """New terms for an open event made directly (one from an invitation changes with its
        invitation): its VENs get it as modificationNumber + 1. Before its start what is given
        replaces its own, checked as a new event's; a move in time is refused once its run has
        measured anything, and the run that holds it lets go (its fence moves on). Once it is
        in force only its duration changes (``active_changes``): the run ends at the new end."""
        now = self._ctx.clock.now()
        async with self._ctx.db.write() as session:
            row = await session.get(EventRow, event_id, options=_EVENT_LOADS, with_for_update=True)
            if row is None:
                raise NotFound(f"event {event_id} not found")
            if not row.direct:
                raise Conflict(f"event {event_id} is its invitation's: modify the invitation")
            if EventStatus(row.status) not in OPEN_EVENT_STATUSES:
                raise Conflict(f"event {event_id} is {row.status}: it cannot be modified")
            if event_has_started(row, now):
                other = target_kw is not None or bool(term_changes)
                await change_started_event(
                    self._ctx, session, row, start_time, duration_minutes, other, now
                )
            else:
                await self._change_terms(
                    session, row, start_time, duration_minutes, target_kw, term_changes, now
                )
        await self._ctx.publisher.flush()
        return EventView.of(row)

    async def _change_terms(
        self,
        session: AsyncSession,
        row: EventRow,
        start_time: datetime | None,
        duration_minutes: int | None,
        target_kw: float | None,
        term_changes: Mapping[str, Any],
        now: datetime,
    ) -> None:
        """New terms for a direct event that has not started (``modify``)."""
        event_id = row.id
        start = start_time or row.start_time
        minutes = duration_minutes or _minutes_of(row)
        moved = (start, minutes) != (row.start_time, _minutes_of(row))
        terms = replace(terms_from_json(row.terms), **term_changes)
        errors = check_event_window("start_time", start, minutes, now) if moved else []
        if target_kw is not None:
            errors.extend(check_amount("target_kw", target_kw, MAX_POWER_KW))
        errors.extend(check_terms(terms, timedelta(minutes=minutes)))
        raise_if_any(errors)
        if moved:
            measured = await session.scalar(
                select(EventSampleRow.event_id)
                .where(EventSampleRow.event_id == row.id, EventSampleRow.phase != BASELINE)
                .limit(1)
            )
            if measured is not None:
                raise Conflict(f"event {event_id} is being measured: cancel it instead")
            # Its baseline samples were of the minutes before the old start: the executor
            # samples those before the new one (its run under the old fence lets go).
            await session.execute(
                delete(EventSampleRow).where(
                    EventSampleRow.event_id == row.id, EventSampleRow.phase == BASELINE
                )
            )
            program = await load_program(session, row.program_id)
            end = start + timedelta(minutes=minutes)
            await refuse_overlap(session, program, start, end, besides=(row.id,))
            row.start_time, row.end_time = start, end
            row.fence += 1  # a run that took it with the old times must let go
        if target_kw is not None:
            row.target_kw = target_kw
            _recommit(row, target_kw)
        row.target_kwh = row.target_kw * minutes / 60.0
        row.terms = terms_to_json(terms)
        row.modification_number += 1
        row.updated_at = now
        self._ctx.announce(
            session, "event_modified",
            change=VenChange(ChangeKind.EVENT, event_id=row.id,
                             device_ids=tuple(d.device_id for d in row.devices)),
            event_id=row.id, modification_number=row.modification_number,
            start_time=row.start_time.isoformat(), end_time=row.end_time.isoformat(),
            target_kw=row.target_kw,
        )  # fmt: skip

    async def cancel(
        self,
        event_id: str,
        reason: str | None,
        response_required: ResponseRequired | None = None,
    ) -> EventView:
        """Cancel a scheduled or active event; an illegal move raises and changes nothing.
        ``response_required``: how the VENs of a direct event are told (none: as before)."""
        async with self._ctx.db.write() as session:
            row = await self.stage_cancel(session, event_id, reason or "cancelled by operator")
            if response_required is not None and row.direct:
                terms = replace(terms_from_json(row.terms), response_required=response_required)
                row.terms = terms_to_json(terms)
        await self._ctx.publisher.flush()
        return EventView.of(row)

    async def stage_cancel(
        self, session: AsyncSession, event_id: str, reason: str, *, bump: bool = True
    ) -> EventRow:
        """Cancel an event inside the caller's transaction, keeping its totals up to now.

        ``bump``: give its invitation a new modificationNumber (the caller does not change
        the invitation itself)."""
        now = self._ctx.clock.now()
        row = await session.get(EventRow, event_id, options=_EVENT_LOADS, with_for_update=True)
        if row is None:
            raise NotFound(f"event {event_id} not found")
        previous = EventStatus(row.status)
        row.status = next_event_status(previous, EventTrigger.CANCEL).value
        row.cancel_reason = reason
        row.updated_at = now
        if bump:
            await bump_ended_event(session, row)
        results: dict[str, float | None] = {}
        if previous is EventStatus.ACTIVE and row.started_at is not None:
            # The executor's samples are all stored: the totals up to now are final.
            row.ended_at = now
            past = await replay(
                samples_of(session, row.id),
                len(row.devices),
                self._cadence,
                row.start_time,  # a late start's first seconds are gap, as for a completed one
            )
            if past.meter is not None:
                result = past.meter.result(now)
                apply_results(row, result)
                results = totals(result, row)
        self._ctx.announce(
            session,
            "event_cancelled",
            change=VenChange(ChangeKind.ANY),
            event_id=row.id,
            previous_status=previous.value,
            reason=row.cancel_reason,
            **results,
        )
        return row


def direct_commitment(target_kw: float | None, devices: int) -> float | None:
    """Each device's committed kW in a direct event: its equal share of the ``target_kw``
    the event asks to shed, as an invitation's yes commits; None (no commitment, never 0)
    when it states none: no target, or 0 (signals only: a price or a level asks for no kW)."""
    if target_kw is None or target_kw <= 0 or devices <= 0:
        return None
    return per_device_kw(target_kw, devices)


def _recommit(row: EventRow, target_kw: float) -> None:
    """A direct event's new target shared again among its devices not opted out (those
    keep 0 kW)."""
    standing = [d for d in row.devices if d.ven_opt != OPTED_OUT]
    committed = direct_commitment(target_kw, len(standing))
    for device in standing:
        device.committed_kw = committed


def _minutes_of(row: EventRow) -> int:
    return round((row.end_time - row.start_time).total_seconds() / 60)
