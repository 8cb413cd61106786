"""Recording a VEN's answer to an event scheduled directly (no invitation to decide): each of
its devices' optIn/optOut is kept on the event, and an optOut while the event is open takes
the device out of it (it commits 0 kW from then on), as an opt-out of a scheduled invitation
does. An answer to a cancelled event acknowledges the cancel and changes nothing."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import selectinload

from gateway.db.models import EventRow
from gateway.domain.errors import NotFound
from gateway.domain.invitations import Answer
from gateway.domain.lifecycle import OPEN_EVENT_STATUSES, EventStatus
from gateway.domain.ven_events import event_cancelled
from gateway.services.context import ServiceContext
from gateway.services.ven_facing.answers import StaleModification, VenAnswerOutcome

# How an answer is shown on the event's devices.
OPT_OF_ANSWER = {Answer.YES: "optIn", Answer.NO: "optOut"}


class DirectEventAnswers:
    def __init__(self, ctx: ServiceContext) -> None:
        self._ctx = ctx

    async def answer(
        self,
        ven_id: str,
        event_id: str,
        device_ids: Sequence[str],
        answer: Answer,
        modification_number: int,
        opt_id: str | None = None,
    ) -> VenAnswerOutcome:
        """A repeated answer changes nothing; an optOut stands (a later optIn is refused, as
        once an invitation is scheduled). ``opt_id``: the answer came by oadrCreateOpt, and
        stands against the answers of later oadrCreatedEvents (which leave it unchanged)."""
        now = self._ctx.clock.now()
        opt = OPT_OF_ANSWER[answer]
        async with self._ctx.db.write() as session:
            row = await session.get(
                EventRow, event_id, options=[selectinload(EventRow.devices)], with_for_update=True
            )
            if row is None or not row.direct:
                raise NotFound(f"event {event_id} not found")
            if modification_number != row.modification_number:
                raise StaleModification(
                    f"event {event_id} is at modification {row.modification_number}, "
                    f"not {modification_number}"
                )
            status = EventStatus(row.status)
            if event_cancelled(None, status):
                for device in row.devices:
                    if device.device_id in device_ids:
                        device.ven_cancel_ack = row.modification_number
                return VenAnswerOutcome(acknowledged=True)
            devices = [d for d in row.devices if d.device_id in device_ids]
            standing = [d for d in devices if opt_id is None and d.ven_opt_id is not None]
            devices = [d for d in devices if d not in standing]
            unchanged = tuple(d.device_id for d in [*standing, *devices] if d.ven_opt == opt)
            taken = [d for d in devices if d.ven_opt != opt]
            if answer is Answer.YES and any(d.ven_opt == OPT_OF_ANSWER[Answer.NO] for d in taken):
                return VenAnswerOutcome(
                    unchanged=unchanged, refused="opted out already: the earlier answer stands"
                )
            changed = tuple(d.device_id for d in taken if d.ven_opt is not None)
            recorded = tuple(d.device_id for d in taken if d.ven_opt is None)
            for device in taken:
                device.ven_opt = opt
                device.ven_opt_id = opt_id
                if answer is Answer.NO and status in OPEN_EVENT_STATUSES:
                    row.target_kw = max(0.0, row.target_kw - (device.committed_kw or 0.0))
                    device.committed_kw = 0.0
                    device.note = f"opted out by its VEN at {now.isoformat()}"
            if taken:
                hours = (row.end_time - row.start_time).total_seconds() / 3600
                row.target_kwh = row.target_kw * hours
                row.updated_at = now
                self._ctx.announce(
                    session, "event_answered", event_id=row.id, ven_id=ven_id, opt=opt,
                    devices=[d.device_id for d in taken],
                )  # fmt: skip
        if taken:
            await self._ctx.publisher.flush()
        kept = tuple(d.device_id for d in standing if d.ven_opt != opt)
        return VenAnswerOutcome(
            recorded=recorded, unchanged=unchanged, changed=changed,
            refused=None, kept_by_opt=kept,
        )  # fmt: skip
