"""A new end for an event that has begun: the operator shortens or lengthens an event in
force (OpenADR 2.0b A_E3_0490), made from an invitation or scheduled directly.

What a started event keeps: its start, its share of load or its signals' values (the level
in force), its devices and their answers, and its rate of shed (kW: the energy follows the
new duration). What changes: its duration, so its end (the last interval of each signal, and
of its baseline, takes the difference), the end its executor run honours, and its
modificationNumber (+ 1). The rules:

- the new end must be after now (422): shortening to now is the cancel, which exists; and a
  direct event's last interval must keep some time (422);
- a cancelled or expired invitation, or an event that completed, was cancelled or missed,
  does not change (409); nor do a started event's start (422), load, signals, other terms or
  devices (409).
"""

from __future__ import annotations

import dataclasses
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
from gateway.domain.signals import EventTerms, Interval, terms_from_json, terms_to_json
from gateway.services.context import ServiceContext
from gateway.services.invitation_changes import announce_invitation, new_modification
from gateway.services.program_checks import load_program, refuse_overlap
from gateway.services.ven_facing.changes import ChangeKind, VenChange

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


def event_has_started(row: EventRow, now: datetime) -> bool:
    """Whether a direct event is in force (running, or due to start by now)."""
    return row.status == EventStatus.ACTIVE.value or row.start_time <= now


async def change_started_event(
    ctx: ServiceContext,
    session: AsyncSession,
    row: EventRow,
    start_time: datetime | None,
    duration_minutes: int | None,
    other_changes: bool,
    now: datetime,
) -> None:
    """Give a started direct event (open, locked) the new ``duration_minutes``, checked by the
    rules above. ``other_changes``: the request changes its target or terms as well."""
    if row.end_time <= now:  # over, whether or not the executor has marked it yet
        raise Conflict(f"event {row.id}: its window ended at {row.end_time.isoformat()}")
    errors: list[FieldError] = []
    if duration_minutes is None:
        message = "the event is in force: only its duration can change"
        errors.append(FieldError("duration_minutes", message))
    else:
        errors.extend(check_new_end(row.start_time, duration_minutes, now))
    if start_time is not None and start_time != row.start_time:
        errors.append(
            FieldError(
                "start_time",
                f"the event began at {row.start_time.isoformat()}: its start cannot move",
            )
        )
    raise_if_any(errors)
    assert duration_minutes is not None
    if other_changes:
        raise Conflict(
            f"event {row.id} is in force: only its duration can change (its target, signals "
            "and other terms stay); cancel it and schedule another to change them"
        )
    end = row.start_time + timedelta(minutes=duration_minutes)
    terms = stretched(terms_from_json(row.terms), end - row.end_time)
    if terms is None:
        raise_if_any(
            [
                FieldError(
                    "duration_minutes",
                    f"{duration_minutes} min would end the event before its last interval "
                    "begins: only the last interval's duration changes",
                )
            ]
        )
    assert terms is not None
    program = await load_program(session, row.program_id)
    await refuse_overlap(session, program, row.start_time, end, besides=(row.id,))
    row.end_time = end
    row.target_kwh = row.target_kw * duration_minutes / 60.0
    row.terms = terms_to_json(terms)
    row.modification_number += 1
    row.updated_at = now
    devices = tuple(d.device_id for d in row.devices)
    ctx.announce(
        session, "event_modified",
        change=VenChange(ChangeKind.EVENT, event_id=row.id, device_ids=devices),
        event_id=row.id, modification_number=row.modification_number,
        start_time=row.start_time.isoformat(), end_time=end.isoformat(),
        target_kw=row.target_kw,
    )  # fmt: skip


def stretched(terms: EventTerms, by: timedelta) -> EventTerms | None:
    """``terms`` with the last interval of each signal, and of its baseline, ``by`` longer
    (shorter when negative); None when one would be left without time."""

    def last_longer(intervals: tuple[Interval, ...]) -> tuple[Interval, ...] | None:
        if not intervals:
            return intervals
        last = intervals[-1]
        if last.duration + by <= timedelta():
            return None
        return (*intervals[:-1], Interval(last.duration + by, last.value))

    signals = []
    for signal in terms.signals:
        intervals = last_longer(signal.intervals)
        if intervals is None:
            return None
        signals.append(dataclasses.replace(signal, intervals=intervals))
    baseline = terms.baseline
    if baseline is not None:
        intervals = last_longer(baseline.intervals)
        if intervals is None:
            return None
        baseline = dataclasses.replace(baseline, intervals=intervals)
    return dataclasses.replace(terms, signals=tuple(signals), baseline=baseline)
