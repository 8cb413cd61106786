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

from gateway.db.models import EventRow, InvitationRow, VenErrorRow, VenRow
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
    oadr_event_id: str | None  # the OpenADR eventID it is about; None: it named none
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


def reported_error(response: object, oadr_event_id: str | None) -> ReportedError | None:
    """The error an eiResponse or eventResponse reports; None when it says 200 (or nothing)."""
    if not isinstance(response, dict):
        return None
    code = response_code(response.get("response_code"))
    if code is None or code == StatusCode.OK:
        return None
    description = response.get("response_description")
    return ReportedError(oadr_event_id, code, "" if description is None else str(description))


def reports_an_error(payload: dict[str, Any]) -> bool:
    """Whether an oadrResponse (parsed) carries an error code."""
    return reported_error(payload.get("response"), None) is not None


class VenErrors:
    def __init__(self, ctx: ServiceContext, invitations: InvitationService) -> None:
        self._ctx = ctx
        self._invitations = invitations

    async def record(self, ven_id: str, message_type: str, errors: Sequence[ReportedError]) -> None:
        """Keep ``errors``, each under the invitation or the directly scheduled event its
        eventID is (an eventID that is neither is kept under none)."""
        if not errors:
            return
        now = self._ctx.clock.now()
        named = {e.oadr_event_id for e in errors if e.oadr_event_id is not None}
        async with self._ctx.db.write() as session:
            invited = await _event_ids(session, named)
            direct = await _direct_events(session, named - set(invited))
            views = [
                VenErrorView(
                    ven_id=ven_id, code=e.code, message_type=message_type, received_at=now,
                    invitation_id=e.oadr_event_id if e.oadr_event_id in invited else None,
                    direct_event_id=e.oadr_event_id if e.oadr_event_id in direct else None,
                    description=e.description[:DESCRIPTION_LENGTH],
                )
                for e in errors
            ]  # fmt: skip
            for view in views:
                session.add(VenErrorRow(**view.model_dump()))
                announced = view.model_dump(mode="json")
                # dr_events names the DR event: an invitation's, or the direct one itself.
                announced["event_id"] = view.direct_event_id or invited.get(
                    view.invitation_id or ""
                )
                self._ctx.announce(session, "ven_error", **announced)
            await session.execute(
                update(VenRow)
                .where(VenRow.ven_id == ven_id)
                .values(
                    error_count=VenRow.error_count + len(views),
                    last_error=views[-1].model_dump(mode="json"),
                )
            )
            await session.flush()
            for about in {(v.invitation_id, v.direct_event_id) for v in views}:
                await _keep_newest(session, ven_id, *about)
        for error in errors:
            logger.warning(
                "VEN %s reported error %d for event %s in %s: %s",
                ven_id, error.code, error.oadr_event_id, message_type, error.description,
            )  # fmt: skip
        for invitation_id in {v.invitation_id for v in views if v.invitation_id is not None}:
            await self._invitations.view_changed(invitation_id)
        await self._ctx.publisher.flush()


async def _event_ids(session: AsyncSession, invitation_ids: set[str]) -> dict[str, str | None]:
    """The invitations among ``invitation_ids``, each with its DR event (dr_events names it,
    as for answers)."""
    if not invitation_ids:
        return {}
    rows = await session.execute(
        select(InvitationRow.id, InvitationRow.event_id).where(InvitationRow.id.in_(invitation_ids))
    )
    return dict(rows.all())


async def _direct_events(session: AsyncSession, event_ids: set[str]) -> set[str]:
    """Those of ``event_ids`` that are events scheduled directly (their eventID is theirs)."""
    if not event_ids:
        return set()
    rows = await session.scalars(
        select(EventRow.id).where(EventRow.id.in_(event_ids), EventRow.invitation_id.is_(None))
    )
    return set(rows)


async def _keep_newest(
    session: AsyncSession, ven_id: str, invitation_id: str | None, direct_event_id: str | None
) -> None:
    older = (
        await session.scalars(
            select(VenErrorRow.id)
            .where(
                VenErrorRow.ven_id == ven_id,
                VenErrorRow.invitation_id.is_(None) if invitation_id is None
                else VenErrorRow.invitation_id == invitation_id,
                VenErrorRow.direct_event_id.is_(None) if direct_event_id is None
                else VenErrorRow.direct_event_id == direct_event_id,
            )
            .order_by(VenErrorRow.id.desc())
            .offset(KEPT_PER_EVENT)
        )
    ).all()  # fmt: skip
    if older:
        await session.execute(delete(VenErrorRow).where(VenErrorRow.id.in_(older)))
