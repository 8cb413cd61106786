"""DR events: scheduled from decided invitations or directly, listed, cancelled."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta

from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from gateway.db.models import EventDeviceRow, EventRow
from gateway.domain.errors import NotFound, raise_if_any
from gateway.domain.invitations import (
    MAX_POWER_KW,
    check_amount,
    check_device_list,
    check_event_window,
)
from gateway.domain.lifecycle import EventStatus, EventTrigger, next_event_status
from gateway.domain.programs import DEFAULT_PROGRAM_ID
from gateway.services.context import ServiceContext
from gateway.services.devices import known_device_ids
from gateway.services.invitation_changes import bump_invitation
from gateway.services.program_checks import program_for_devices, refuse_overlap
from gateway.services.results import apply_results, read_live, replay, samples_of, totals
from gateway.services.ven_facing.changes import ChangeKind, VenChange
from gateway.services.views import EventView

logger = logging.getLogger(__name__)

MAX_LIST_LIMIT = 1000
_EVENT_LOADS = (selectinload(EventRow.devices), selectinload(EventRow.ven_errors))


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
        devices=[
            EventDeviceRow(device_id=device_id, position=i, committed_kw=committed)
            for i, (device_id, committed) in enumerate(devices)
        ],
    )
    session.add(event)
    return event


def announce_scheduled(ctx: ServiceContext, session: AsyncSession, event: EventRow) -> None:
    ctx.announce(
        session,
        "event_scheduled",
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
        target_kw: float,
        program_id: str = DEFAULT_PROGRAM_ID,
    ) -> EventView:
        now = self._ctx.clock.now()
        async with self._ctx.db.write() as session:
            known = await known_device_ids(session, device_ids)
            errors = check_event_window("start_time", start_time, duration_minutes, now)
            errors.extend(check_amount("target_kw", target_kw, MAX_POWER_KW))
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
                devices=[(d, None) for d in device_ids],
                invitation_id=None,
                program_id=program.id,
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

    async def cancel(self, event_id: str, reason: str | None) -> EventView:
        """Cancel a scheduled or active event; an illegal move raises and changes nothing."""
        async with self._ctx.db.write() as session:
            row = await self.stage_cancel(session, event_id, reason or "cancelled by operator")
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
            await bump_invitation(session, row.invitation_id)
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
