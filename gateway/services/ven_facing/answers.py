"""Recording a VEN's answer to an event (optIn / optOut), whatever protocol brought it:
through the same locked path as admin answers, by the rules OpenADR gives a VEN. An answer to
an event the VEN was told is cancelled is its acknowledgement of the cancel: recorded, and it
decides nothing."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from gateway.bus.cache import ViewCache
from gateway.db.models import (
    DeviceAnswerRow,
    EventDeviceRow,
    EventRow,
    InvitationRow,
    VenCancelAckRow,
)
from gateway.domain.errors import Conflict
from gateway.domain.invitations import Answer, AnswerSource, per_device_kw
from gateway.domain.lifecycle import OPEN_EVENT_STATUSES, EventStatus, InvitationStatus
from gateway.domain.ven_events import event_cancelled
from gateway.services.context import ServiceContext
from gateway.services.decisions import decide_invitation
from gateway.services.events import announce_scheduled
from gateway.services.invitation_changes import (
    after_invitation_change,
    announce_answer,
    locked_invitation,
    reloaded_invitation,
)


class StaleModification(Conflict):
    """An answer to terms that have changed since."""


@dataclass(frozen=True)
class VenAnswerOutcome:
    """What became of a VEN's answer for its devices in one invitation."""

    recorded: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    refused: str | None = None  # why the answer could not change, when it could not
    acknowledged: bool = False  # the event is cancelled: the answer acknowledged the cancel
    kept_by_opt: tuple[str, ...] = ()  # devices whose earlier oadrCreateOpt answer stands


class VenAnswers:
    def __init__(self, ctx: ServiceContext, cache: ViewCache) -> None:
        self._ctx = ctx
        self._cache = cache

    async def answer(
        self,
        ven_id: str,
        invitation_id: str,
        device_ids: Sequence[str],
        answer: Answer,
        modification_number: int,
    ) -> VenAnswerOutcome:
        """A VEN's optIn/optOut for its devices, through the same locked path as admin answers.

        A repeated answer changes nothing. A different answer replaces the earlier one while
        the invitation is pending. Once scheduled, only an opt-out is taken (its devices commit
        0 kW from then on); anything else is refused and the earlier answer stands. Once the
        event is cancelled (as its VENs are told: ``event_cancelled``), an answer at its
        current modificationNumber is the VEN acknowledging the cancel, which 2.0b asks of it:
        recorded once per modification, and no answer or decision changes.
        """
        now = self._ctx.clock.now()
        async with self._ctx.db.write() as session:
            row = await locked_invitation(session, invitation_id)
            if modification_number != row.modification_number:
                raise StaleModification(
                    f"invitation {invitation_id} is at modification "
                    f"{row.modification_number}, not {modification_number}"
                )
            if await _cancelled(session, row):
                await _acknowledge_cancel(session, ven_id, row, answer, now)
                return VenAnswerOutcome(acknowledged=True)
            invited = [d.device_id for d in row.devices]
            device_ids = [d for d in device_ids if d in invited]
            # What each device commits follows the terms under the lock, never a cached copy.
            committed_kw = per_device_kw(row.target_kw, len(invited))
            existing = {a.device_id: a for a in row.answers}
            unchanged = [d for d in device_ids if d in existing and existing[d].answer == answer]
            fresh = [d for d in device_ids if d not in existing]
            different = [d for d in device_ids if d in existing and existing[d].answer != answer]
            status = InvitationStatus(row.status)
            if status is not InvitationStatus.PENDING and (fresh or different):
                can_opt_out = answer is Answer.NO and status is InvitationStatus.SCHEDULED
                if not can_opt_out:
                    return VenAnswerOutcome(
                        unchanged=tuple(unchanged),
                        refused=f"invitation is {status}: the earlier answer stands",
                    )
                await self._opt_out_of_event(session, row, [*fresh, *different], now)
                for device_id in different:
                    existing[device_id].answer = Answer.NO.value
                    existing[device_id].committed_kw = 0.0
                    existing[device_id].source = AnswerSource.VEN.value
                    existing[device_id].reason = "opted out after the invitation was scheduled"
                    existing[device_id].answered_at = now
                self._announce_ven(session, row, [*fresh, *different], answer, 0.0)
                view_changed = tuple(different)
                recorded = tuple(fresh)
                for device_id in fresh:
                    session.add(self._answer_row(row.id, device_id, answer, 0.0, now))
            else:
                kw = committed_kw if answer is Answer.YES else 0.0
                for device_id in different:
                    existing[device_id].answer = answer.value
                    existing[device_id].committed_kw = kw
                    existing[device_id].source = AnswerSource.VEN.value
                    existing[device_id].answered_at = now
                for device_id in fresh:
                    session.add(self._answer_row(row.id, device_id, answer, kw, now))
                await session.flush()
                if fresh or different:
                    row = await reloaded_invitation(session, row.id)
                    event = decide_invitation(self._ctx, session, row, [], now)
                    self._announce_ven(session, row, [*fresh, *different], answer, kw)
                    if event is not None:
                        announce_scheduled(self._ctx, session, event)
                view_changed = tuple(different)
                recorded = tuple(fresh)
        if recorded or view_changed:
            await after_invitation_change(self._ctx, self._cache, invitation_id)
        return VenAnswerOutcome(recorded=recorded, unchanged=tuple(unchanged), changed=view_changed)

    @staticmethod
    def _answer_row(
        invitation_id: str, device_id: str, answer: Answer, kw: float, now: datetime
    ) -> DeviceAnswerRow:
        return DeviceAnswerRow(
            invitation_id=invitation_id,
            device_id=device_id,
            answer=answer.value,
            committed_kw=kw,
            source=AnswerSource.VEN.value,
            answered_at=now,
        )

    def _announce_ven(
        self,
        session: AsyncSession,
        row: InvitationRow,
        device_ids: Sequence[str],
        answer: Answer,
        kw: float,
    ) -> None:
        for device_id in device_ids:
            announce_answer(self._ctx, session, row, device_id, answer, kw, AnswerSource.VEN)

    async def _opt_out_of_event(
        self, session: AsyncSession, row: InvitationRow, device_ids: Sequence[str], now: datetime
    ) -> None:
        """Devices leaving a scheduled event: they commit 0 kW and the target drops by theirs."""
        if row.event_id is None:
            return
        event = await session.get(
            EventRow, row.event_id, options=[selectinload(EventRow.devices)], with_for_update=True
        )
        if event is None or EventStatus(event.status) not in OPEN_EVENT_STATUSES:
            return
        leaving: list[EventDeviceRow] = [d for d in event.devices if d.device_id in device_ids]
        for device in leaving:
            event.target_kw = max(0.0, event.target_kw - (device.committed_kw or 0.0))
            device.committed_kw = 0.0
            device.note = f"opted out by its VEN at {now.isoformat()}"
        duration_h = (event.end_time - event.start_time).total_seconds() / 3600
        event.target_kwh = event.target_kw * duration_h
        event.updated_at = now


async def _cancelled(session: AsyncSession, row: InvitationRow) -> bool:
    """Whether the invitation's VENs are told its event is cancelled."""
    event_status = None
    if row.event_id is not None:
        found = await session.scalar(select(EventRow.status).where(EventRow.id == row.event_id))
        event_status = None if found is None else EventStatus(found)
    return event_cancelled(InvitationStatus(row.status), event_status)


async def _acknowledge_cancel(
    session: AsyncSession, ven_id: str, row: InvitationRow, answer: Answer, now: datetime
) -> None:
    """The first acknowledgement of this modification is kept (the invitation's row lock
    orders them)."""
    key = (ven_id, row.id, row.modification_number)
    if await session.get(VenCancelAckRow, key) is None:
        session.add(
            VenCancelAckRow(
                ven_id=ven_id,
                invitation_id=row.id,
                modification_number=row.modification_number,
                answer=answer.value,
                acknowledged_at=now,
            )
        )
