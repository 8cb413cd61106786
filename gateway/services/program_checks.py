"""Applying a program, for the services that make invitations and events: the program an
invitation or event names, with every device taking part (``program_for_devices``), the
overlap rule against its open events and undecided invitations (``refuse_overlap``), and who
takes part (``vens_taking_part``, ``devices_not_taking_part``). The rules themselves are in
``gateway.domain.programs``.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.db.models import (
    DeviceRow,
    EventRow,
    InvitationRow,
    ProgramDeviceRow,
    ProgramRow,
    ProgramVenRow,
)
from gateway.domain.errors import NotFound, ValidationFailed
from gateway.domain.lifecycle import OPEN_EVENT_STATUSES, InvitationStatus
from gateway.domain.programs import Program, check_no_overlap, takes_part
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


async def vens_taking_part(
    session: AsyncSession, programs: Collection[Program], ven_ids: Collection[str]
) -> set[tuple[str, str]]:
    """The (program id, VEN id) pairs of ``programs`` x ``ven_ids`` where the VEN takes part,
    in one query (a program open to all needs none)."""
    wanted = set(ven_ids)
    enrolled = {
        (p, v)
        for p, v in (
            await session.execute(
                select(ProgramVenRow.program_id, ProgramVenRow.ven_id).where(
                    ProgramVenRow.program_id.in_({p.id for p in programs}),
                    ProgramVenRow.ven_id.in_(wanted),
                )
            )
        ).all()
    } if wanted and programs else set()  # fmt: skip
    return {
        (p.id, v)
        for p in programs
        for v in wanted
        if takes_part(p.terms.membership, (p.id, v) in enrolled)
    }


async def devices_not_taking_part(
    session: AsyncSession, of: Program, device_ids: Collection[str]
) -> list[str]:
    """Those of ``device_ids`` that are not in program ``of``, in the order given: a device
    takes part when it and its VEN both do (an event for it reaches only a VEN that does)."""
    wanted = set(device_ids)
    enrolled = set(
        await session.scalars(
            select(ProgramDeviceRow.device_id).where(
                ProgramDeviceRow.program_id == of.id,
                ProgramDeviceRow.device_id.in_(wanted),
            )
        )
    )
    found = await session.execute(
        select(DeviceRow.id, DeviceRow.ven_id).where(DeviceRow.id.in_(wanted))
    )
    ven_of: dict[str, str | None] = {device: ven for device, ven in found.all()}
    with_ven = {v for v in ven_of.values() if v is not None}
    vens_in = {v for _, v in await vens_taking_part(session, [of], with_ven)}
    return [
        d
        for d in device_ids
        if not takes_part(of.terms.membership, d in enrolled)
        or (ven_of.get(d) is not None and ven_of[d] not in vens_in)
    ]
