"""What the executor reads and writes in the database; every write checks the run's fence."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from gateway.db.engine import Database
from gateway.db.models import EventRow, EventSampleRow
from gateway.domain.lifecycle import (
    OPEN_EVENT_STATUSES,
    EventStatus,
    EventTrigger,
    next_event_status,
)
from gateway.domain.reduction import ReductionResult
from gateway.domain.samples import pack
from gateway.services.context import ServiceContext
from gateway.services.invitation_changes import bump_ended_event
from gateway.services.results import apply_results, totals
from gateway.services.ven_facing.changes import ChangeKind, VenChange


class Fenced(Exception):
    """Another executor owns this event now: stop without writing."""


@dataclass(frozen=True, slots=True)
class EventPlan:
    id: str
    status: EventStatus
    start_time: datetime
    end_time: datetime
    started_at: datetime | None
    device_ids: tuple[str, ...]
    target_kw: float
    target_kwh: float
    fence: int  # the owner's fencing token when the plan was read: a new one must exceed it


@dataclass(frozen=True, slots=True)
class Standing:
    """What a sample write finds of its event: its status, and its end as it stands now (an
    operator may move the end of an event in force: the run ends there)."""

    status: EventStatus
    end_time: datetime


def _plan(row: EventRow) -> EventPlan:
    return EventPlan(
        id=row.id,
        status=EventStatus(row.status),
        start_time=row.start_time,
        end_time=row.end_time,
        started_at=row.started_at,
        device_ids=tuple(d.device_id for d in row.devices),
        target_kw=row.target_kw,
        target_kwh=row.target_kwh,
        fence=row.fence,
    )


async def open_events(db: Database, horizon: datetime) -> list[EventPlan]:
    """Scheduled or active events whose baseline window opens before ``horizon``."""
    async with db.read() as session:
        rows = await session.scalars(
            select(EventRow)
            .options(selectinload(EventRow.devices))
            .where(
                EventRow.status.in_([s.value for s in OPEN_EVENT_STATUSES]),
                EventRow.start_time <= horizon,
            )
            .order_by(EventRow.start_time)
        )
        return [_plan(r) for r in rows]


async def claim(db: Database, event_id: str, fence: int) -> bool:
    """Record ``fence`` as the event's owner; refused if a newer owner exists already."""
    async with db.write() as session:
        result = await session.execute(
            update(EventRow)
            .where(EventRow.id == event_id, EventRow.fence < fence)
            .values(fence=fence)
        )
        return bool(result.rowcount == 1)  # type: ignore[attr-defined]


async def fence_of(db: Database, event_id: str) -> int | None:
    """The event's stored fencing token (None: no such event)."""
    async with db.read() as session:
        fence = await session.scalar(select(EventRow.fence).where(EventRow.id == event_id))
        return None if fence is None else int(fence)


async def _owned(session: AsyncSession, event_id: str, fence: int) -> EventRow:
    row = await session.get(
        EventRow,
        event_id,
        options=[selectinload(EventRow.devices)],
        with_for_update=True,
        populate_existing=True,
    )
    if row is None or row.fence != fence:
        raise Fenced(event_id)
    return row


async def write_sample(
    db: Database,
    event_id: str,
    fence: int,
    phase: str,
    index: int,
    at: datetime,
    values: Sequence[float | None],
) -> Standing:
    """Store one sample; returns the event's status (the runner stops when it is not open)
    and its end (the runner ends there)."""
    async with db.write() as session:
        # Only the two columns that matter: loading the event's devices would cost a row per
        # device per sample.
        owner = (
            await session.execute(
                select(EventRow.status, EventRow.fence, EventRow.end_time)
                .where(EventRow.id == event_id)
                .with_for_update()
            )
        ).one_or_none()
        if owner is None or owner.fence != fence:
            raise Fenced(event_id)
        standing = Standing(EventStatus(owner.status), owner.end_time)
        if standing.status not in OPEN_EVENT_STATUSES:
            return standing
        session.add(
            EventSampleRow(
                event_id=event_id,
                phase=phase,
                sample_index=index,
                sampled_at=at,
                present=sum(v is not None for v in values),
                power_kw=pack(values),
            )
        )
        try:
            await session.flush()
        except IntegrityError:
            raise Fenced(f"{event_id}: sample {phase}/{index} was written by another run") from None
        return standing


async def start(
    ctx: ServiceContext, event_id: str, fence: int, started_at: datetime
) -> EventPlan | None:
    """scheduled -> active, recording how late; None if the event is no longer scheduled."""
    async with ctx.db.write() as session:
        row = await _owned(session, event_id, fence)
        if row.status != EventStatus.SCHEDULED.value:
            return _plan(row) if row.status == EventStatus.ACTIVE.value else None
        row.status = next_event_status(EventStatus.SCHEDULED, EventTrigger.START).value
        row.started_at = started_at
        late = (started_at - row.start_time).total_seconds()
        row.late_start_seconds = late if late > 1.0 else 0.0
        row.updated_at = started_at
        ctx.announce(
            session,
            "event_started",
            event_id=row.id,
            devices=[d.device_id for d in row.devices],
            started_at=started_at.isoformat(),
            late_start_seconds=row.late_start_seconds,
        )
        return _plan(row)


async def end_of(db: Database, event_id: str) -> datetime | None:
    """The event's end as it stands now (None: no such event)."""
    async with db.read() as session:
        return await session.scalar(select(EventRow.end_time).where(EventRow.id == event_id))


async def mark_missed(ctx: ServiceContext, event_id: str) -> bool:
    async with ctx.db.write() as session:
        row = await session.get(EventRow, event_id, with_for_update=True)
        if row is None or row.status != EventStatus.SCHEDULED.value:
            return False
        row.status = next_event_status(EventStatus.SCHEDULED, EventTrigger.MISS).value
        row.updated_at = ctx.clock.now()
        await bump_ended_event(session, row)
        ctx.announce(
            session,
            "event_missed",
            change=VenChange(ChangeKind.ANY),
            event_id=row.id,
            end_time=row.end_time.isoformat(),
        )
        return True


async def complete(
    ctx: ServiceContext, event_id: str, fence: int, ended_at: datetime, result: ReductionResult
) -> bool:
    async with ctx.db.write() as session:
        row = await _owned(session, event_id, fence)
        if row.status != EventStatus.ACTIVE.value:
            return False
        row.status = next_event_status(EventStatus.ACTIVE, EventTrigger.COMPLETE).value
        row.ended_at = ended_at
        row.updated_at = ctx.clock.now()
        apply_results(row, result)
        ended: dict[str, Any] = totals(result, row)  # no ``change``: a VEN's view follows the clock
        ctx.announce(session, "event_completed", event_id=row.id, **ended)
        return True
