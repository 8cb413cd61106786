"""Where a registration leaves a VEN's push delivery: its address, or its way back to polls."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.db.models import VenMessageRow
from gateway.db.ven_models import VenPushMessageRow, VenPushTargetRow


async def keep_push_target(session: AsyncSession, ven_id: str, address: str | None) -> None:
    """A push-mode VEN's ``address`` (kept with its delivery state; a pull-mode VEN, None,
    keeps none to be sent to). A changed address is tried at once, not after the old one's
    back-off."""
    target = await session.get(VenPushTargetRow, ven_id, with_for_update=True)
    if target is None:
        if address is None:
            return
        target = VenPushTargetRow(ven_id=ven_id, address_style="openadr", failures=0)
        session.add(target)
    if target.transport_address != address:
        target.failures = 0
        target.next_attempt_at = None
        target.failing_since = None
        target.unreachable_since = None
    target.transport_address = address
    if address is None:
        await _back_to_polls(session, ven_id)


async def _back_to_polls(session: AsyncSession, ven_id: str) -> None:
    """A VEN back in pull mode polls for what its push outbox still held: its messages wait
    for its poll again, in order; a distribute is what its poll makes anyway (what a VEN is
    told is noted only once a push of it was taken)."""
    pending = (
        await session.scalars(
            select(VenPushMessageRow)
            .where(VenPushMessageRow.ven_id == ven_id, VenPushMessageRow.delivered_at.is_(None))
            .order_by(VenPushMessageRow.id)
        )
    ).all()
    for message in pending:
        if message.payload is not None:
            session.add(
                VenMessageRow(
                    ven_id=ven_id, message_type=message.message_type,
                    payload=dict(message.payload), created_at=message.created_at,
                )
            )  # fmt: skip
        await session.delete(message)
