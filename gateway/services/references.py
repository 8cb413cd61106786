"""What holds on to a device: the invitations and events that name it.

Updating a device's VEN or removing a device (or its VEN) must never leave an invitation
waiting for answers, or an event about to run, holding a device that moved or went away: the
admin API refuses such a change with a 409 that names them. Closed invitations and events
are history: their answers and results keep naming the device.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.db.models import (
    DeviceAnswerRow,
    EventDeviceRow,
    EventRow,
    InvitationDeviceRow,
    InvitationRow,
)
from gateway.domain.errors import Conflict
from gateway.domain.lifecycle import OPEN_EVENT_STATUSES, InvitationStatus

# How many ids a refusal names before it says "and N more".
NAMED_AT_MOST = 10


@dataclass(frozen=True, slots=True)
class Holders:
    """The open invitations and events naming some devices, oldest first."""

    invitations: tuple[str, ...]
    events: tuple[str, ...]

    def __bool__(self) -> bool:
        return bool(self.invitations or self.events)

    def describe(self) -> str:
        parts = []
        if self.invitations:
            parts.append(f"pending invitation(s) {_listed(self.invitations)}")
        if self.events:
            parts.append(f"open event(s) {_listed(self.events)}")
        return " and ".join(parts)


async def open_holders(session: AsyncSession, device_ids: Collection[str]) -> Holders:
    """The pending invitations and the scheduled or active events naming ``device_ids``."""
    if not device_ids:
        return Holders((), ())
    wanted = set(device_ids)
    invitations = await session.scalars(
        select(InvitationRow.id)
        .join(InvitationDeviceRow, InvitationDeviceRow.invitation_id == InvitationRow.id)
        .where(
            InvitationDeviceRow.device_id.in_(wanted),
            InvitationRow.status == InvitationStatus.PENDING.value,
        )
        .distinct()
        .order_by(InvitationRow.id)
    )
    events = await session.scalars(
        select(EventRow.id)
        .join(EventDeviceRow, EventDeviceRow.event_id == EventRow.id)
        .where(
            EventDeviceRow.device_id.in_(wanted),
            EventRow.status.in_([s.value for s in OPEN_EVENT_STATUSES]),
        )
        .distinct()
        .order_by(EventRow.id)
    )
    return Holders(tuple(invitations), tuple(events))


async def has_history(session: AsyncSession, device_id: str) -> bool:
    """Whether any invitation, answer or event, open or closed, names the device."""
    for column in (
        InvitationDeviceRow.device_id,
        DeviceAnswerRow.device_id,
        EventDeviceRow.device_id,
    ):
        if await session.scalar(select(column).where(column == device_id).limit(1)) is not None:
            return True
    return False


def refuse_if_held(holders: Holders, what: str) -> None:
    """A 409 naming the holders, if there are any."""
    if holders:
        raise Conflict(f"{what}: {holders.describe()} name it; cancel them or let them close first")


def _listed(ids: tuple[str, ...]) -> str:
    shown = ", ".join(ids[:NAMED_AT_MOST])
    more = len(ids) - NAMED_AT_MOST
    return f"{shown} and {more} more" if more > 0 else shown
