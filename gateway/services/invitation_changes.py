"""The two rules every change of an invitation row follows, in one place.

- A new modificationNumber: OpenADR 2.0b tells a VEN of any change of an event's terms or
  status, a cancel included, with a higher modificationNumber.
- Closing an invitation (declined, expired, cancelled): the answer is no, the decision is
  recorded, auto-response stops, and the VENs are told with a new modificationNumber.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.db.models import InvitationRow
from gateway.domain.invitations import Response
from gateway.domain.lifecycle import InvitationStatus, InvitationTrigger, next_invitation_status


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
