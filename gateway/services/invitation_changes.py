"""How an invitation row is changed: loaded locked, and the rules every change follows.

- A new modificationNumber: OpenADR 2.0b tells a VEN of any change of an event's terms or
  status, a cancel included, with a higher modificationNumber.
- Closing an invitation (declined, expired, cancelled): the answer is no, the decision is
  recorded, auto-response stops, and the VENs are told with a new modificationNumber.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from gateway.bus.cache import ViewCache
from gateway.db.models import EventRow, InvitationRow
from gateway.domain.errors import NotFound
from gateway.domain.invitations import MAX_DURATION_MINUTES, Answer, AnswerSource, Response
from gateway.domain.lifecycle import InvitationStatus, InvitationTrigger, next_invitation_status
from gateway.services.context import ServiceContext
from gateway.services.ven_facing.changes import ChangeKind, VenChange

INVITATION_LOADS = (
    selectinload(InvitationRow.devices),
    selectinload(InvitationRow.answers),
    selectinload(InvitationRow.ven_errors),
)


async def locked_invitation(session: AsyncSession, invitation_id: str) -> InvitationRow:
    """The invitation, locked for this transaction (row lock on PostgreSQL; SQLite's write
    transaction holds the database)."""
    row = await session.get(
        InvitationRow, invitation_id, options=INVITATION_LOADS, with_for_update=True
    )
    if row is None:
        raise NotFound(f"invitation {invitation_id} not found")
    return row


async def reloaded_invitation(session: AsyncSession, invitation_id: str) -> InvitationRow:
    """The invitation as this transaction has changed it, relations included."""
    row = await session.get(
        InvitationRow, invitation_id, options=INVITATION_LOADS, populate_existing=True
    )
    if row is None:  # pragma: no cover - loaded in the same transaction
        raise NotFound(f"invitation {invitation_id} not found")
    return row


def new_modification(row: InvitationRow) -> None:
    """The invitation's terms or status changed: its VENs must hear of it."""
    row.modification_number += 1


async def bump_invitation(session: AsyncSession, invitation_id: str | None) -> None:
    """The event of an invitation was cancelled or missed (the invitation row itself is not
    loaded): a new modificationNumber, in SQL."""
    if invitation_id is not None:
        await session.execute(
            update(InvitationRow)
            .where(InvitationRow.id == invitation_id)
            .values(modification_number=InvitationRow.modification_number + 1)
        )


async def bump_ended_event(session: AsyncSession, row: EventRow) -> None:
    """An event was cancelled or missed: its VENs hear of it under a new modificationNumber,
    its invitation's, or its own for an event scheduled directly."""
    await bump_invitation(session, row.invitation_id)
    if row.direct:
        row.modification_number += 1


async def bump_program_invitations(
    session: AsyncSession, program_id: str, now: datetime
) -> list[str]:
    """What VENs see of a program changed: each of its invitations not yet over gets a new
    modificationNumber (a 2.0b VEN reads an event again only then); their ids."""
    since = now - timedelta(minutes=MAX_DURATION_MINUTES)
    candidates = await session.execute(
        select(InvitationRow.id, InvitationRow.event_time, InvitationRow.duration_minutes).where(
            InvitationRow.program_id == program_id, InvitationRow.event_time > since
        )
    )
    ids = [i for i, start, minutes in candidates.all() if start + timedelta(minutes=minutes) > now]
    if ids:
        await session.execute(
            update(InvitationRow)
            .where(InvitationRow.id.in_(ids))
            .values(modification_number=InvitationRow.modification_number + 1)
        )
    return ids


def record_decision(
    row: InvitationRow,
    trigger: InvitationTrigger,
    response: Response,
    reason: str,
    now: datetime,
) -> None:
    """The invitation is decided (scheduled or closed): an illegal move raises first."""
    row.status = next_invitation_status(InvitationStatus(row.status), trigger).value
    row.response = response.value
    row.decided_at = now
    row.decision_reason = reason
    row.auto_response_due_at = None  # nothing is left to answer automatically


def close_invitation(
    row: InvitationRow, trigger: InvitationTrigger, reason: str, now: datetime
) -> None:
    """Decline, expire or cancel: the answer is no, and the VENs are told."""
    record_decision(row, trigger, Response.NO, reason, now)
    new_modification(row)


def invitation_cache_key(invitation_id: str) -> str:
    return f"invitation:{invitation_id}"


async def after_invitation_change(
    ctx: ServiceContext, cache: ViewCache, invitation_id: str
) -> None:
    """The change is committed: drop the cached view, publish what was staged."""
    await cache.invalidate(invitation_cache_key(invitation_id))
    await ctx.publisher.flush()


def announce_invitation(
    ctx: ServiceContext,
    session: AsyncSession,
    event: str,
    row: InvitationRow,
    new_devices: Sequence[str] = (),
    **fields: Any,
) -> None:
    """Stage an invitation's dr_events message, and tell its VENs (and those of
    ``new_devices``, when its devices change) that their view changed."""
    change = VenChange(ChangeKind.INVITATION, row.id, tuple(new_devices))
    ctx.announce(session, event, change=change, invitation_id=row.id, **fields)


def announce_answer(
    ctx: ServiceContext,
    session: AsyncSession,
    row: InvitationRow,
    device_id: str,
    answer: Answer,
    committed_kw: float | None,
    source: AnswerSource,
) -> None:
    """One device's answer, whoever gave it (admin, auto-response, its VEN)."""
    announce_invitation(
        ctx,
        session,
        "invitation_answered",
        row,
        device_id=device_id,
        response=answer.value,
        committed_kw=committed_kw,
        source=source.value,
        invitation_status=row.status,
        event_id=row.event_id,
    )
