"""Applying a program, for the services that make invitations and events: the program an
invitation or event names, with every device taking part (``program_for_devices``), the
overlap rule against its open events and undecided invitations (``refuse_overlap``), and who
takes part (``ven_takes_part_in``, ``devices_not_taking_part``). The rules themselves are in
``gateway.domain.programs``.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, exists, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.db.models import EventRow, InvitationRow, ProgramDeviceRow, ProgramRow, ProgramVenRow
from gateway.domain.errors import NotFound, ValidationFailed
from gateway.domain.lifecycle import OPEN_EVENT_STATUSES, InvitationStatus
from gateway.domain.programs import Membership, Program, check_no_overlap, takes_part
from gateway.services.program_views import program_of


async def load_program(session: AsyncSession, program_id: str) -> Program:
    row = await session.get(ProgramRow, program_id)
    if row is None:
        raise NotFound(f"program {program_id} not found")
    return program_of(row)


async def program_for_devices(
    session: AsyncSession, program_id: str, device_ids: Collection[str]
) -> Program:
    """Program ``program_id`` for an invitation or event of these devices: an unknown program
    is a bad ``program_id``, devices that do not take part a bad ``devices`` (named)."""
    row = await session.get(ProgramRow, program_id)
    if row is None:
        raise ValidationFailed.single("program_id", f"no program {program_id}")
    program = program_of(row)
    outside = await devices_not_taking_part(session, program, device_ids)
    if outside:
        raise ValidationFailed.single(
            "devices", f"not taking part in program {program_id}: {', '.join(outside)}"
        )
    return program


async def refuse_overlap(
    session: AsyncSession,
    of: Program,
    start: datetime,
    end: datetime,
    *,
    besides: Collection[str | None] = (),
) -> None:
    """When ``of`` refuses overlaps: a 409 naming its open events and undecided invitations
    that share some of [start, end), leaving out ``besides`` (what a modification replaces)."""
    if not of.terms.refuse_overlap:
        return  # no query for the programs that allow overlaps
    events = await session.execute(
        select(EventRow.id, EventRow.start_time, EventRow.end_time).where(
            EventRow.program_id == of.id,
            EventRow.status.in_([s.value for s in OPEN_EVENT_STATUSES]),
        )
    )
    pending = await session.scalars(
        select(InvitationRow).where(
            InvitationRow.program_id == of.id,
            InvitationRow.status == InvitationStatus.PENDING.value,
        )
    )
    others = [(i, s, e) for i, s, e in events.all()]
    others += [(r.id, r.event_time, r.event_time + timedelta(minutes=r.duration_minutes))
               for r in pending]  # fmt: skip
    check_no_overlap(of, start, end, [o for o in others if o[0] not in besides])


async def ven_takes_part_in(session: AsyncSession, of: Program, ven_id: str) -> bool:
    enrolled = await session.get(ProgramVenRow, (of.id, ven_id)) is not None
    return takes_part(of.terms.membership, enrolled)


def ven_takes_part_clause(ven_id: str) -> ColumnElement[bool]:
    """In a query that selects ``ProgramRow``: whether VEN ``ven_id`` takes part in it (the
    SQL form of ``domain.programs.takes_part``, for reading a VEN's events in one query)."""
    enrolled = exists().where(
        ProgramVenRow.program_id == ProgramRow.id, ProgramVenRow.ven_id == ven_id
    )
    return or_(ProgramRow.membership == Membership.ALL.value, enrolled)


async def devices_not_taking_part(
    session: AsyncSession, of: Program, device_ids: Collection[str]
) -> list[str]:
    """Those of ``device_ids`` that are not in program ``of``, in the order given."""
    enrolled = set(
        await session.scalars(
            select(ProgramDeviceRow.device_id).where(
                ProgramDeviceRow.program_id == of.id,
                ProgramDeviceRow.device_id.in_(set(device_ids)),
            )
        )
    )
    return [d for d in device_ids if not takes_part(of.terms.membership, d in enrolled)]
