"""Invitations: created, answered atomically per device, decided exactly once, or expired."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.bus.cache import ViewCache
from gateway.db.models import (
    DeviceAnswerRow,
    EventRow,
    InvitationDeviceRow,
    InvitationRow,
)
from gateway.domain.auto_response import AutoResponseConfig, plan_auto_response
from gateway.domain.errors import AlreadyAnswered, Conflict, NotFound
from gateway.domain.invitations import (
    AnswerPolicy,
    DeviceAnswer,
    InvitationRequest,
    Response,
    validate_answer,
    validate_invitation,
)
from gateway.domain.lifecycle import (
    OPEN_EVENT_STATUSES,
    EventStatus,
    InvitationStatus,
    InvitationTrigger,
    next_invitation_status,
)
from gateway.services.active_changes import change_started_invitation, has_started
from gateway.services.context import ServiceContext
from gateway.services.decisions import decide_invitation
from gateway.services.devices import known_device_ids
from gateway.services.events import EventService, announce_scheduled
from gateway.services.invitation_changes import (
    INVITATION_LOADS,
    after_invitation_change,
    announce_answer,
    announce_invitation,
    close_invitation,
    invitation_cache_key,
    locked_invitation,
    new_modification,
    reloaded_invitation,
)
from gateway.services.program_checks import program_for_devices, refuse_overlap
from gateway.services.views import InvitationView

logger = logging.getLogger(__name__)

MAX_LIST_LIMIT = 1000


class InvitationState(StrEnum):
    WAITING = "waiting"
    ANSWERED = "answered"


class InvitationService:
    def __init__(
        self, ctx: ServiceContext, policy: AnswerPolicy, cache: ViewCache, events: EventService
    ) -> None:
        self._ctx = ctx
        self._policy = policy
        self._cache = cache
        self._events = events

    async def create(
        self,
        request: InvitationRequest,
        auto_config: AutoResponseConfig,
        invitation_id: str | None = None,
    ) -> InvitationView:
        """``invitation_id``: a caller-chosen id (the upstream side derives it from the
        utility's eventID, so a retry after a crash finds the invitation made before)."""
        now = self._ctx.clock.now()
        async with self._ctx.db.write() as session:
            known = await known_device_ids(session, request.device_ids)
            validate_invitation(request, now, known)
            program = await program_for_devices(session, request.program_id, request.device_ids)
            await refuse_overlap(session, program, request.event_time, request.end_time)
            plan = plan_auto_response(auto_config, request.event_time, now)
            row = InvitationRow(
                id=invitation_id or str(uuid.uuid4()),
                program_id=program.id,
                created_at=now,
                event_time=request.event_time,
                duration_minutes=request.duration_minutes,
                load_kwh=request.load_kwh,
                load_percentage=request.load_percentage,
                target_kw=request.target_kw,
                status=InvitationStatus.PENDING.value,
                response=Response.WAITING.value,
                answer_policy=self._policy.name,
                partial_min_share=self._policy.min_share,
                auto_response_due_at=plan.due_at,
                auto_response_note=plan.skip_reason,
                modification_number=0,
                devices=[
                    InvitationDeviceRow(device_id=d, position=i)
                    for i, d in enumerate(request.device_ids)
                ],
            )
            session.add(row)
            announce_invitation(
                self._ctx,
                session,
                "invitation_created",
                row,
                request.device_ids,
                program_id=program.id,
                event_time=request.event_time.isoformat(),
                duration_minutes=request.duration_minutes,
                load_kwh=request.load_kwh,
                load_percentage=request.load_percentage,
                devices=list(request.device_ids),
                response=row.response,
                auto_response_due_at=plan.due_at.isoformat() if plan.due_at else None,
            )
            await session.flush()
            row = await reloaded_invitation(session, row.id)
            view = InvitationView.of(row)
        await self._ctx.publisher.flush()
        return view

    async def get(self, invitation_id: str, *, use_cache: bool = True) -> InvitationView:
        if use_cache:
            cached = await self._cache.get(invitation_cache_key(invitation_id))
            if cached is not None:
                return InvitationView.model_validate_json(cached)
        async with self._ctx.db.read() as session:
            row = await session.get(InvitationRow, invitation_id, options=INVITATION_LOADS)
            if row is None:
                raise NotFound(f"invitation {invitation_id} not found")
            view = InvitationView.of(row)
        await self._cache.put(invitation_cache_key(invitation_id), view.model_dump_json())
        return view

    async def find(
        self, state: InvitationState | None, hours: float | None, limit: int
    ) -> list[InvitationView]:
        query = select(InvitationRow).options(*INVITATION_LOADS)
        if state is InvitationState.WAITING:
            query = query.where(InvitationRow.status == InvitationStatus.PENDING.value)
        elif state is InvitationState.ANSWERED:
            query = query.where(InvitationRow.status != InvitationStatus.PENDING.value)
        if hours is not None:
            since = self._ctx.clock.now() - timedelta(hours=hours)
            query = query.where(InvitationRow.created_at >= since)
        query = query.order_by(InvitationRow.created_at.desc()).limit(min(limit, MAX_LIST_LIMIT))
        async with self._ctx.db.read() as session:
            return [InvitationView.of(r) for r in await session.scalars(query)]

    async def answer(
        self,
        invitation_id: str,
        answers: Sequence[DeviceAnswer],
        *,
        skip_answered: bool = False,
        auto_response_note: str | None = None,
    ) -> InvitationView:
        """Record device answers; decide the invitation when the last device has answered.

        Atomic: the invitation row is locked (PostgreSQL) or the write lock taken up front
        (SQLite), and one answer per device is enforced by a unique constraint. A device that
        already answered raises ``AlreadyAnswered`` unless ``skip_answered`` (auto-response).
        """
        now = self._ctx.clock.now()
        try:
            async with self._ctx.db.write() as session:
                row = await locked_invitation(session, invitation_id)
                if auto_response_note is not None:
                    row.auto_response_due_at = None
                    row.auto_response_note = auto_response_note
                if row.status != InvitationStatus.PENDING.value:
                    if skip_answered:
                        return InvitationView.of(row)
                    raise Conflict(
                        f"invitation {invitation_id} is {row.status}: answers are closed"
                    )
                fresh = self._fresh_answers(row, answers, skip_answered)
                for answer in fresh:
                    session.add(
                        DeviceAnswerRow(
                            invitation_id=row.id,
                            device_id=answer.device_id,
                            answer=answer.answer.value,
                            committed_kw=answer.committed_kw,
                            source=answer.source.value,
                            reason=answer.reason,
                            answered_at=now,
                        )
                    )
                await session.flush()
                event = decide_invitation(self._ctx, session, row, fresh, now)
                for a in fresh:
                    announce_answer(
                        self._ctx, session, row, a.device_id, a.answer, a.committed_kw, a.source
                    )
                if event is not None:
                    announce_scheduled(self._ctx, session, event)
                await session.flush()
                row = await reloaded_invitation(session, row.id)
                view = InvitationView.of(row)
        except IntegrityError as err:
            if "device_answers" in str(err.orig):
                raise AlreadyAnswered("a device in this request has already answered") from err
            raise
        await self._after_change(invitation_id)
        return view

    async def modify(
        self,
        invitation_id: str,
        request: InvitationRequest,
        auto_config: AutoResponseConfig | None = None,
    ) -> InvitationView:
        """Change an invitation's time, load or devices: bumps its modification number.

        Before its event time the devices are asked again: their answers are cleared, and a
        scheduled invitation goes back to pending, its event cancelled (superseded). Once its
        event time has come only its duration changes (``active_changes``): the event in
        force ends at the new end, its answers stand.
        """
        now = self._ctx.clock.now()
        async with self._ctx.db.write() as session:
            row = await locked_invitation(session, invitation_id)
            if has_started(row, now):
                await change_started_invitation(self._ctx, session, row, request, now)
            else:
                await self._change_terms(session, row, request, auto_config, now)
            await session.flush()
            view = InvitationView.of(await reloaded_invitation(session, row.id))
        await self._after_change(invitation_id)
        return view

    async def _change_terms(
        self,
        session: AsyncSession,
        row: InvitationRow,
        request: InvitationRequest,
        auto_config: AutoResponseConfig | None,
        now: datetime,
    ) -> None:
        """New terms for an invitation whose event time has not come (``modify``)."""
        status = next_invitation_status(InvitationStatus(row.status), InvitationTrigger.MODIFY)
        known = await known_device_ids(session, request.device_ids)
        validate_invitation(request, now, known)
        program = await program_for_devices(session, row.program_id, request.device_ids)
        await refuse_overlap(
            session, program, request.event_time, request.end_time,
            besides=(row.id, row.event_id),
        )  # fmt: skip
        if row.event_id is not None:
            event = await session.get(EventRow, row.event_id)
            if event is not None and event.status != EventStatus.SCHEDULED.value:
                raise Conflict(
                    f"invitation {row.id}: its event is {event.status}; "
                    "cancel it instead of modifying it"
                )
            superseded = f"superseded by modification {row.modification_number + 1}"
            await self._events.stage_cancel(session, row.event_id, superseded, bump=False)
            if event is not None:
                event.invitation_id = None
            row.event_id = None
        await session.execute(
            delete(DeviceAnswerRow).where(DeviceAnswerRow.invitation_id == row.id)
        )
        await session.execute(
            delete(InvitationDeviceRow).where(InvitationDeviceRow.invitation_id == row.id)
        )
        session.add_all(
            InvitationDeviceRow(invitation_id=row.id, device_id=d, position=i)
            for i, d in enumerate(request.device_ids)
        )
        row.status = status.value
        row.response = Response.WAITING.value
        row.decided_at = None
        row.decision_reason = None
        row.event_time = request.event_time
        row.duration_minutes = request.duration_minutes
        row.load_kwh = request.load_kwh
        row.load_percentage = request.load_percentage
        row.target_kw = request.target_kw
        new_modification(row)
        if auto_config is not None:  # the devices are asked again: so is auto-response
            plan = plan_auto_response(auto_config, request.event_time, now)
            row.auto_response_due_at = plan.due_at
            row.auto_response_note = plan.skip_reason
        announce_invitation(
            self._ctx,
            session,
            "invitation_modified",
            row,
            request.device_ids,
            modification_number=row.modification_number,
            event_time=request.event_time.isoformat(),
            duration_minutes=request.duration_minutes,
            load_kwh=request.load_kwh,
            load_percentage=request.load_percentage,
            devices=list(request.device_ids),
        )

    async def cancel(self, invitation_id: str, reason: str | None) -> InvitationView:
        """Call an invitation off; its event, scheduled or running, is cancelled with it."""
        now = self._ctx.clock.now()
        async with self._ctx.db.write() as session:
            row = await locked_invitation(session, invitation_id)
            # The transition is checked before the event is touched: an illegal one changes
            # nothing.
            next_invitation_status(InvitationStatus(row.status), InvitationTrigger.CANCEL)
            why = reason or "cancelled by operator"
            if row.event_id is not None:
                event = await session.get(EventRow, row.event_id)
                if event is not None and EventStatus(event.status) in OPEN_EVENT_STATUSES:
                    await self._events.stage_cancel(session, row.event_id, why, bump=False)
            close_invitation(row, InvitationTrigger.CANCEL, why, now)
            announce_invitation(self._ctx, session, "invitation_cancelled", row, reason=why)
            await session.flush()
            view = InvitationView.of(await reloaded_invitation(session, row.id))
        await self._after_change(invitation_id)
        return view

    def _fresh_answers(
        self, row: InvitationRow, answers: Sequence[DeviceAnswer], skip_answered: bool
    ) -> list[DeviceAnswer]:
        invited = [d.device_id for d in row.devices]
        for i, answer in enumerate(answers):
            prefix = f"answers.{i}." if len(answers) > 1 else ""
            validate_answer(answer, invited, prefix)
        seen = {a.device_id for a in row.answers}
        fresh: list[DeviceAnswer] = []
        for answer in answers:
            if answer.device_id in seen:
                if skip_answered:
                    continue
                raise AlreadyAnswered(f"device {answer.device_id} has already answered")
            seen.add(answer.device_id)
            fresh.append(answer)
        return fresh

    async def expire_overdue(self) -> int:
        """Expire pending invitations whose event time has come without a decision."""
        now = self._ctx.clock.now()
        async with self._ctx.db.write() as session:
            rows = (
                await session.scalars(
                    select(InvitationRow)
                    .where(
                        InvitationRow.status == InvitationStatus.PENDING.value,
                        InvitationRow.event_time <= now,
                    )
                    .with_for_update(skip_locked=True)
                )
            ).all()
            for row in rows:
                why = "the event time came before the answers decided"
                close_invitation(row, InvitationTrigger.EXPIRE, why, now)
                announce_invitation(self._ctx, session, "invitation_expired", row)
        for row in rows:
            await self._after_change(row.id)
        return len(rows)

    async def due_auto_responses(self) -> list[str]:
        now = self._ctx.clock.now()
        async with self._ctx.db.read() as session:
            ids = await session.scalars(
                select(InvitationRow.id)
                .where(
                    InvitationRow.status == InvitationStatus.PENDING.value,
                    InvitationRow.auto_response_due_at <= now,
                )
                .order_by(InvitationRow.auto_response_due_at)
            )
            return list(ids)

    async def view_changed(self, invitation_id: str) -> None:
        """What the invitation's view shows changed elsewhere (a VEN error the VTN recorded):
        drop the cached view, publish what was staged."""
        await self._after_change(invitation_id)

    async def _after_change(self, invitation_id: str) -> None:
        await after_invitation_change(self._ctx, self._cache, invitation_id)
