"""The events a VEN must know now: those of the invitations its devices are in, and the
events scheduled directly for its devices, as ``gateway.domain.ven_events`` shows them, each
with its program, loaded in a few queries of the caller's read (the programs come joined to
the invitations and events: no query of their own). Either way a VEN gets a program's events
only while it takes part (``vens_taking_part``)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, func, null, select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.db.models import (
    DeviceRow,
    EventDeviceRow,
    EventRow,
    InvitationDeviceRow,
    InvitationRow,
    ProgramRow,
    VenCancelAckRow,
)
from gateway.domain.lifecycle import EventStatus, InvitationStatus
from gateway.domain.signals import terms_from_json
from gateway.domain.ven_events import (
    InvitationFacts,
    InvitedDevice,
    VenEvent,
    event_cancelled,
    ven_events,
)
from gateway.services.program_checks import vens_taking_part
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
    direct = (
        await session.scalars(
            select(EventRow.id)
            .join(EventDeviceRow, EventDeviceRow.event_id == EventRow.id)
            .join(DeviceRow, DeviceRow.id == EventDeviceRow.device_id)
            .where(
                DeviceRow.ven_id == ven_id,
                EventRow.direct.is_(True),
                EventRow.end_time > now - EVENT_RETENTION,
            )
            .distinct()
        )
    ).all()
    events = await _both(session, list(ids), list(direct), now, only_ven=ven_id)
    return events.get(ven_id, [])


async def events_of_every_ven(session: AsyncSession, now: datetime) -> dict[str, list[VenEvent]]:
    """The events every VEN must know now, by venID."""
    ids = (
        await session.scalars(
            select(InvitationRow.id).where(InvitationRow.event_time > _since(now))
        )
    ).all()
    direct = (
        await session.scalars(
            select(EventRow.id).where(
                EventRow.direct.is_(True), EventRow.end_time > now - EVENT_RETENTION
            )
        )
    ).all()
    return await _both(session, list(ids), list(direct), now)


async def _both(
    session: AsyncSession,
    invitation_ids: list[str],
    event_ids: list[str],
    now: datetime,
    only_ven: str | None = None,
) -> dict[str, list[VenEvent]]:
    """The events of these invitations and of these direct events, by VEN, in start order."""
    by_ven = await events_by_ven(session, invitation_ids, now, only_ven) if invitation_ids else {}
    if event_ids:
        direct = await direct_events_by_ven(session, event_ids, now, only_ven)
        for ven_id, events in direct.items():
            by_ven.setdefault(ven_id, []).extend(events)
            by_ven[ven_id].sort(key=lambda e: (e.start, e.event_id))
    return by_ven


def _since(now: datetime) -> datetime:
    return now - EVENT_RETENTION - timedelta(days=1)  # the longest event is one day


async def events_by_ven(
    session: AsyncSession, invitation_ids: list[str], now: datetime, only_ven: str | None = None
) -> dict[str, list[VenEvent]]:
    """The events of these invitations, by VEN (``only_ven``: that VEN's alone), leaving out
    those long ended (for every transport: its own view is made from these)."""
    loaded = (
        await session.execute(
            select(InvitationRow, ProgramRow)
            .join(ProgramRow, ProgramRow.id == InvitationRow.program_id)
            .where(InvitationRow.id.in_(invitation_ids))
            .order_by(InvitationRow.event_time, InvitationRow.id)
        )
    ).all()
    rows = [row for row, _ in loaded]
    programs = {p.id: program_of(p) for p in {p.id: p for _, p in loaded}.values()}
    invited = await _invited(session, InvitationDeviceRow, invitation_ids, only_ven)
    event_ids = [r.event_id for r in rows if r.event_id]
    event_status = {
        e.id: EventStatus(e.status)
        for e in await session.scalars(select(EventRow).where(EventRow.id.in_(event_ids)))
    }
    taking_part = await vens_taking_part(session, list(programs.values()), invited.vens)
    acknowledged = await _cancels_acknowledged(session, rows, event_status)
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
            devices=tuple(d for d, _ in invited.devices.get(row.id, ())),
            program=programs[row.program_id],
            invited=invited.counts.get(row.id, 0),
        )
        _add(by_ven, facts, taking_part, now, acknowledged)
    return by_ven


@dataclass(frozen=True, slots=True)
class _Invited:
    """The invited devices of some invitations or direct events, in their order, each with
    its VEN's cancel acknowledgement (direct events keep it per device); ``counts``: every
    device invited, whoever owns it (the per-device share)."""

    devices: dict[str, list[tuple[InvitedDevice, int | None]]]
    counts: dict[str, int]
    vens: set[str]


async def _invited(
    session: AsyncSession,
    link: type[InvitationDeviceRow] | type[EventDeviceRow],
    ids: list[str],
    only_ven: str | None,
) -> _Invited:
    """One query for the devices (only ``only_ven``'s when given: a VEN's poll need not load
    the thousand other devices of an invitation), one more for the counts then."""
    ack: ColumnElement[Any]  # an invitation's VENs acknowledge its cancel elsewhere
    if link is InvitationDeviceRow:
        owner, ack = InvitationDeviceRow.invitation_id, null()
    else:
        owner, ack = EventDeviceRow.event_id, EventDeviceRow.ven_cancel_ack.expression
    query = (
        select(owner, link.device_id, DeviceRow.ven_id, DeviceRow.resource_id, ack)
        .join(DeviceRow, DeviceRow.id == link.device_id)
        .where(owner.in_(ids))
        .order_by(owner, link.position)
    )  # fmt: skip
    if only_ven is not None:
        query = query.where(DeviceRow.ven_id == only_ven)
    devices: dict[str, list[tuple[InvitedDevice, int | None]]] = {}
    for owner_id, device_id, ven_id, resource_id, acked in (await session.execute(query)).all():
        devices.setdefault(owner_id, []).append(
            (InvitedDevice(device_id, ven_id, resource_id), acked)
        )
    if only_ven is None:
        counts = {owner_id: len(found) for owner_id, found in devices.items()}
    else:
        counted = await session.execute(
            select(owner, func.count()).where(owner.in_(ids)).group_by(owner)
        )
        counts = {owner_id: n for owner_id, n in counted.all()}
    vens = {d.ven_id for found in devices.values() for d, _ in found if d.ven_id is not None}
    return _Invited(devices, counts, vens)


async def _cancels_acknowledged(
    session: AsyncSession, rows: list[InvitationRow], event_status: dict[str, EventStatus]
) -> set[tuple[str, str]]:
    """The (VEN, eventID) pairs of cancelled invitations whose cancel the VEN acknowledged at
    the current modificationNumber (one query, for the cancelled ones only)."""
    current = {
        r.id: r.modification_number
        for r in rows
        if event_cancelled(
            InvitationStatus(r.status), event_status.get(r.event_id) if r.event_id else None
        )
    }
    if not current:
        return set()
    acks = await session.execute(
        select(VenCancelAckRow.ven_id, VenCancelAckRow.invitation_id,
               VenCancelAckRow.modification_number)
        .where(VenCancelAckRow.invitation_id.in_(list(current)))
    )  # fmt: skip
    return {(v, i) for v, i, m in acks.all() if current.get(i) == m}


async def direct_events_by_ven(
    session: AsyncSession, event_ids: list[str], now: datetime, only_ven: str | None = None
) -> dict[str, list[VenEvent]]:
    """The events scheduled directly (no invitation) with these ids, by VEN (``only_ven``:
    that VEN's alone)."""
    loaded = (
        await session.execute(
            select(EventRow, ProgramRow)
            .join(ProgramRow, ProgramRow.id == EventRow.program_id)
            .where(EventRow.id.in_(event_ids), EventRow.direct.is_(True))
            .order_by(EventRow.start_time, EventRow.id)
        )
    ).all()
    rows = [row for row, _ in loaded]
    programs = {p.id: program_of(p) for p in {p.id: p for _, p in loaded}.values()}
    invited = await _invited(session, EventDeviceRow, event_ids, only_ven)
    taking_part = await vens_taking_part(session, list(programs.values()), invited.vens)
    by_ven: dict[str, list[VenEvent]] = {}
    for row in rows:
        devices = invited.devices.get(row.id, [])
        facts = InvitationFacts(
            invitation_id=row.id,
            created_at=row.created_at,
            event_time=row.start_time,
            duration_minutes=round((row.end_time - row.start_time).total_seconds() / 60),
            target_kw=row.target_kw,
            load_percentage=0.0,
            modification_number=row.modification_number,
            cancelled=event_cancelled(None, EventStatus(row.status)),
            devices=tuple(d for d, _ in devices),
            program=programs[row.program_id],
            terms=terms_from_json(row.terms),
            direct=True,
            invited=invited.counts.get(row.id, 0),
        )
        acked = _direct_acks(row, devices) if facts.cancelled else set()
        _add(by_ven, facts, taking_part, now, acked)
    return by_ven


def _direct_acks(
    row: EventRow, devices: list[tuple[InvitedDevice, int | None]]
) -> set[tuple[str, str]]:
    """The VENs all of whose devices in this cancelled direct event acknowledged its cancel
    at its current modificationNumber."""
    vens: dict[str, bool] = {}
    for device, acked_at in devices:
        if device.ven_id is not None:
            acked = acked_at == row.modification_number
            vens[device.ven_id] = vens.get(device.ven_id, True) and acked
    return {(ven_id, row.id) for ven_id, acked in vens.items() if acked}


def _add(
    by_ven: dict[str, list[VenEvent]],
    facts: InvitationFacts,
    taking_part: set[tuple[str, str]],
    now: datetime,
    acknowledged: set[tuple[str, str]],
) -> None:
    for ven_id, event in ven_events(facts).items():
        # A VEN no longer in the program is not sent its events (its devices' answers wait).
        if event.end > now - EVENT_RETENTION and (facts.program.id, ven_id) in taking_part:
            if (ven_id, event.event_id) in acknowledged:
                event = replace(event, cancel_acknowledged=True)
            by_ven.setdefault(ven_id, []).append(event)
