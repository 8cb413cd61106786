"""The errors VENs report: an ``oadrResponse``, or an ``eventResponse`` of an
``oadrCreatedEvent``, whose responseCode is not 200.

Each is a ``ven_errors`` row (per VEN and event), counted on the VEN with its latest one,
published on dr_events as ``ven_error`` in the same transaction, and shown in the event,
invitation and VEN views. A VEN that refused an event is then seen refusing it: before, it got
an empty HTTP 200 and nothing was kept.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.db.models import InvitationRow, VenErrorRow, VenRow
from gateway.oadr20b.errors import StatusCode
from gateway.services.context import ServiceContext
from gateway.services.invitations import InvitationService
from gateway.services.views import VenErrorView

logger = logging.getLogger(__name__)

# The newest errors kept per VEN and event (a VEN answering every distribute with the same
# error must not grow the table without end); the VEN's count counts them all.
KEPT_PER_EVENT = 20
DESCRIPTION_LENGTH = 500


@dataclass(frozen=True)
class ReportedError:
    invitation_id: str | None  # the OpenADR eventID it is about; None: it named none
    code: int
    description: str


def response_code(value: object) -> int | None:
    """A responseCode as parsed (openleadr makes "459" the int 459); None if it is none."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def reported_error(response: object, invitation_id: str | None) -> ReportedError | None:
    """The error an eiResponse or eventResponse reports; None when it says 200 (or nothing)."""
    if not isinstance(response, dict):
        return None
    code = response_code(response.get("response_code"))
    if code is None or code == StatusCode.OK:
        return None
    description = response.get("response_description")
    return ReportedError(invitation_id, code, "" if description is None else str(description))


def reports_an_error(payload: dict[str, Any]) -> bool:
    """Whether an oadrResponse (parsed) carries an error code."""
    return reported_error(payload.get("response"), None) is not None


class VenErrors:
    def __init__(self, ctx: ServiceContext, invitations: InvitationService) -> None:
        self._ctx = ctx
        self._invitations = invitations

    async def record(self, ven_id: str, message_type: str, errors: Sequence[ReportedError]) -> None:
        if not errors:
            return
        now = self._ctx.clock.now()
        views = [
            VenErrorView(
                ven_id=ven_id, invitation_id=e.invitation_id, code=e.code,
                description=e.description[:DESCRIPTION_LENGTH], message_type=message_type,
                received_at=now,
            )
            for e in errors
        ]  # fmt: skip
        invitation_ids = {e.invitation_id for e in errors if e.invitation_id is not None}
        async with self._ctx.db.write() as session:
            scheduled = await _event_ids(session, invitation_ids)
            for view in views:
                session.add(VenErrorRow(**view.model_dump()))
                self._ctx.announce(
                    session, "ven_error", **view.model_dump(mode="json"),
                    event_id=scheduled.get(view.invitation_id or ""),
                )  # fmt: skip
            await session.execute(
                update(VenRow)
                .where(VenRow.ven_id == ven_id)
                .values(
                    error_count=VenRow.error_count + len(views),
                    last_error=views[-1].model_dump(mode="json"),
                )
            )
            await session.flush()
            for invitation_id in {e.invitation_id for e in errors}:
                await _keep_newest(session, ven_id, invitation_id)
        for view in views:
            logger.warning(
                "VEN %s reported error %d for event %s in %s: %s",
                ven_id, view.code, view.invitation_id, message_type, view.description,
            )  # fmt: skip
        for invitation_id in invitation_ids:
            await self._invitations.view_changed(invitation_id)
        await self._ctx.publisher.flush()


async def _event_ids(session: AsyncSession, invitation_ids: set[str]) -> dict[str, str | None]:
    """The DR event of each invitation that has one (dr_events names it, as for answers)."""
    if not invitation_ids:
        return {}
    rows = await session.execute(
        select(InvitationRow.id, InvitationRow.event_id).where(InvitationRow.id.in_(invitation_ids))
    )
    return dict(rows.all())


async def _keep_newest(session: AsyncSession, ven_id: str, invitation_id: str | None) -> None:
    older = (
        await session.scalars(
            select(VenErrorRow.id)
            .where(VenErrorRow.ven_id == ven_id, VenErrorRow.invitation_id == invitation_id)
            .order_by(VenErrorRow.id.desc())
            .offset(KEPT_PER_EVENT)
        )
    ).all()
    if older:
        await session.execute(delete(VenErrorRow).where(VenErrorRow.id.in_(older)))
