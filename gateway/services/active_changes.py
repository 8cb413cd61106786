"""A new end for an invitation whose event has begun: the operator shortens or lengthens an
event in force (OpenADR 2.0b A_E3_0490).

What a started event keeps: its start, its share of load (the SIMPLE level in force), its
devices and their answers, and its rate of shed (kW: the energy follows the new duration).
What changes: its duration, so its end (its one interval's duration with it), the end its
executor run honours, and its modificationNumber (+ 1). The rules:

- the new end must be after now (422): shortening to now is the cancel, which exists;
- a cancelled or expired invitation, or one whose event completed, was cancelled or missed,
  does not change (409); nor do a started event's start (422), load or devices (409).
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from gateway.db.models import EventRow, InvitationRow
from gateway.domain.errors import Conflict, FieldError, raise_if_any
from gateway.domain.invitations import (
    MAX_DURATION_MINUTES,
    MIN_DURATION_MINUTES,
    InvitationRequest,
)
from gateway.domain.lifecycle import OPEN_EVENT_STATUSES, EventStatus, InvitationStatus
from gateway.services.context import ServiceContext
from gateway.services.invitation_changes import announce_invitation, new_modification
from gateway.services.program_checks import load_program, refuse_overlap

_OPEN_INVITATIONS = frozenset({InvitationStatus.PENDING, InvitationStatus.SCHEDULED})


def has_started(row: InvitationRow, now: datetime) -> bool:
    """Whether the invitation's event time has come: only its end can change then."""
    return row.event_time <= now


def check_new_end(start: datetime, minutes: int, now: datetime) -> list[FieldError]:
    """A started event's new duration: 1-1440 min, and ending after ``now``."""
    if not MIN_DURATION_MINUTES <= minutes <= MAX_DURATION_MINUTES:
        message = f"must be between {MIN_DURATION_MINUTES} and {MAX_DURATION_MINUTES}"
        return [FieldError("duration_minutes", message)]
    end = start + timedelta(minutes=minutes)
    if end <= now:
        return [
            FieldError(
                "duration_minutes",
                f"the event began at {start.isoformat()}: {minutes} min would end it at "
                f"{end.isoformat()}, not after now; cancel it to end it now",
            )
        ]
    return []


async def change_started_invitation(
    ctx: ServiceContext,
    session: AsyncSession,
    row: InvitationRow,
    request: InvitationRequest,
    now: datetime,
) -> None:
    """Give a started invitation (locked, in the caller's transaction) ``request``'s duration,
    checked by the rules above; its event, if it has one, ends at the new end."""
    status = InvitationStatus(row.status)
    if status not in _OPEN_INVITATIONS:
        raise Conflict(f"invitation {row.id} is {status}: it cannot be modified")
    old_end = row.event_time + timedelta(minutes=row.duration_minutes)
    if old_end <= now:
        raise Conflict(f"invitation {row.id}: its event completed at {old_end.isoformat()}")
    event = await session.get(EventRow, row.event_id) if row.event_id is not None else None
    if event is not None and EventStatus(event.status) not in OPEN_EVENT_STATUSES:
        raise Conflict(f"invitation {row.id}: its event is {event.status}; it cannot be modified")
    errors = check_new_end(row.event_time, request.duration_minutes, now)
    if request.event_time != row.event_time:
        errors.append(
            FieldError(
                "event_time",
                f"the event began at {row.event_time.isoformat()}: its start cannot move; "
                "only its duration can change",
            )
        )
    raise_if_any(errors)
    _refuse_new_load(row, request)
    minutes = request.duration_minutes
    end = row.event_time + timedelta(minutes=minutes)
    program = await load_program(session, row.program_id)
    await refuse_overlap(session, program, row.event_time, end, besides=(row.id, row.event_id))
    row.duration_minutes = minutes
    row.load_kwh = row.target_kw * minutes / 60.0  # the same kW, for the new duration
    new_modification(row)
    if event is not None:
        event.end_time = end
        event.target_kwh = event.target_kw * minutes / 60.0
        event.updated_at = now
        # No VEN change: the invitation's, below, reaches its VENs.
        ctx.announce(
            session, "event_modified", event_id=event.id, invitation_id=row.id,
            start_time=event.start_time.isoformat(), end_time=end.isoformat(),
            target_kw=event.target_kw,
        )  # fmt: skip
    announce_invitation(
        ctx, session, "invitation_modified", row,
        modification_number=row.modification_number, event_time=row.event_time.isoformat(),
        duration_minutes=minutes, load_kwh=row.load_kwh, load_percentage=row.load_percentage,
        devices=[d.device_id for d in row.devices], end_time=end.isoformat(),
    )  # fmt: skip


def _refuse_new_load(row: InvitationRow, request: InvitationRequest) -> None:
    """A started event sheds what it sheds, with the devices it has: the request repeats its
    share of load, devices and energy (as stored, or rescaled to the new duration)."""
    devices = tuple(d.device_id for d in row.devices)
    rescaled = row.target_kw * request.duration_minutes / 60.0
    same_energy = any(
        math.isclose(request.load_kwh, kwh, rel_tol=1e-9, abs_tol=1e-9)
        for kwh in (row.load_kwh, rescaled)
    )
    if (
        tuple(request.device_ids) != devices
        or request.load_percentage != row.load_percentage
        or not same_energy
    ):
        raise Conflict(
            f"invitation {row.id} is in force: only its duration can change (its devices, "
            "load_percentage and load_kwh stay); cancel it and invite again to change them"
        )
