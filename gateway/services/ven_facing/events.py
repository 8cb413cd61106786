"""The events a VEN must know now: those of the invitations its devices are in, as
``gateway.domain.ven_events`` shows them, each with its program, loaded in a few queries of
the caller's read (the programs come joined to the invitations: no query of their own)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from gateway.db.models import DeviceRow, EventRow, InvitationDeviceRow, InvitationRow, ProgramRow
from gateway.domain.lifecycle import EventStatus, InvitationStatus
from gateway.domain.ven_events import (
    InvitationFacts,
    InvitedDevice,
    VenEvent,
    event_cancelled,
    ven_events,
)
from gateway.services.program_views import program_of

# Events whose end is older than this are no longer loaded for a VEN.
EVENT_RETENTION = timedelta(hours=2)


async def events_of_ven(session: AsyncSession, ven_id: str, now: datetime) -> list[VenEvent]:
    """The events one VEN must know now."""
    ids = (
        await session.scalars(
            select(InvitationRow.id)
            .join(InvitationDeviceRow, InvitationDeviceRow.invitation_id == InvitationRow.id)
            .join(DeviceRow, DeviceRow.id == InvitationDeviceRow.device_id)
            .where(DeviceRow.ven_id == ven_id, InvitationRow.event_time > _since(now))
            .distinct()
        )
    ).all()
    events = await events_by_ven(session, list(ids), now) if ids else {}
    return events.get(ven_id, [])


async def events_of_every_ven(session: AsyncSession, now: datetime) -> dict[str, list[VenEvent]]:
    """The events every VEN must know now, by venID."""
    ids = (
        await session.scalars(
            select(InvitationRow.id).where(InvitationRow.event_time > _since(now))
        )
    ).all()
    return await events_by_ven(session, list(ids), now) if ids else {}


def _since(now: datetime) -> datetime:
    return now - EVENT_RETENTION - timedelta(days=1)  # the longest event is one day


async def events_by_ven(
    session: AsyncSession, invitation_ids: list[str], now: datetime
) -> dict[str, list[VenEvent]]:
    """The events of these invitations, by VEN, leaving out those long ended (for every
    transport: its own view is made from these)."""
    loaded = (
        await session.execute(
            select(InvitationRow, ProgramRow)
            .join(ProgramRow, ProgramRow.id == InvitationRow.program_id)
            .where(InvitationRow.id.in_(invitation_ids))
            .options(selectinload(InvitationRow.devices))
            .order_by(InvitationRow.event_time, InvitationRow.id)
        )
    ).all()
    rows = [row for row, _ in loaded]
    programs = {p.id: program_of(p) for p in {p.id: p for _, p in loaded}.values()}
    device_ids = {d.device_id for r in rows for d in r.devices}
    devices = {
        d.id: d
        for d in await session.scalars(select(DeviceRow).where(DeviceRow.id.in_(device_ids)))
    }
    event_ids = [r.event_id for r in rows if r.event_id]
    event_status = {
        e.id: EventStatus(e.status)
        for e in await session.scalars(select(EventRow).where(EventRow.id.in_(event_ids)))
    }
    by_ven: dict[str, list[VenEvent]] = {}
    for row in rows:
        status = event_status.get(row.event_id) if row.event_id is not None else None
        cancelled = event_cancelled(InvitationStatus(row.status), status)
        facts = InvitationFacts(
            invitation_id=row.id,
            created_at=row.created_at,
            event_time=row.event_time,
            duration_minutes=row.duration_minutes,
            target_kw=row.target_kw,
            load_percentage=row.load_percentage,
            modification_number=row.modification_number,
            cancelled=cancelled,
            devices=tuple(
                InvitedDevice(d.device_id, devices[d.device_id].ven_id,
                              devices[d.device_id].resource_id)
                for d in row.devices
            ),
            program=programs[row.program_id],
        )  # fmt: skip
        for ven_id, event in ven_events(facts).items():
            if event.end > now - EVENT_RETENTION:
                by_ven.setdefault(ven_id, []).append(event)
    return by_ven
