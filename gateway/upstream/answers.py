"""Answers going up: each upstream event's current modification is answered (oadrCreatedEvent)
once the downstream has decided, or with the default answer at the response deadline; a later
change of mind about an answered event goes up as an opt (oadrCreateOpt).
"""

from __future__ import annotations

import logging
from datetime import datetime

from gateway.db.models import UpstreamEventRow
from gateway.domain.errors import NotFound
from gateway.domain.lifecycle import InvitationStatus
from gateway.observability.logs import log_context
from gateway.services.container import Services
from gateway.settings import UpstreamSettings
from gateway.upstream.invitations import TAKING
from gateway.upstream.rules import Opt, opt_for, opt_of
from gateway.upstream.store import UpstreamStore
from gateway.upstream.ven import UpstreamVen

logger = logging.getLogger(__name__)


class UpstreamAnswers:
    def __init__(self, config: UpstreamSettings, services: Services, store: UpstreamStore) -> None:
        self._default = Opt(config.default_answer)
        self._services = services
        self._store = store

    async def send_due(self, ven: UpstreamVen, now: datetime) -> None:
        for row in await self._store.to_answer():
            with log_context(upstream_event_id=row.event_id, invitation_id=row.invitation_id):
                await self._answer(ven, row, now)
        for row in await self._store.answered_open(now):
            with log_context(upstream_event_id=row.event_id, invitation_id=row.invitation_id):
                await self._reconsider(ven, row, now)

    async def _status(self, invitation_id: str | None) -> InvitationStatus | None:
        if invitation_id is None:
            return None
        try:
            view = await self._services.invitations.get(invitation_id, use_cache=False)
        except NotFound:
            return None
        return InvitationStatus(view.status)

    async def _answer(self, ven: UpstreamVen, row: UpstreamEventRow, now: datetime) -> None:
        decision: tuple[Opt, str] | None
        if row.test_event:
            decision = Opt.IN, "test event: acknowledged, not executed"
        elif row.cancelled:
            decision = Opt(row.opt_in_force or Opt.OUT), "event cancelled upstream"
        elif row.invitation_id is None:
            if row.note == TAKING:
                return  # its invitation is being made
            decision = Opt.OUT, row.note or "not taken"
        else:
            status = await self._status(row.invitation_id)
            decision = opt_for(status, now, row.response_due_at, self._default)
        if decision is None:
            return
        opt, reason = decision
        code = await ven.answer(row.event_id, row.modification_number, opt)
        if code is None:
            return  # VTN unreachable: tried again next round
        await self._store.change(
            row.event_id, answer=opt.value, answered_modification=row.modification_number,
            answered_at=now, answer_reason=f"{reason} (VTN answered {code})"[:500],
            opt_in_force=opt.value,
        )  # fmt: skip
        logger.info("upstream event %s: answered %s (%s)", row.event_id, opt.value, reason)

    async def _reconsider(self, ven: UpstreamVen, row: UpstreamEventRow, now: datetime) -> None:
        status = await self._status(row.invitation_id)
        wanted = opt_of(status)
        if wanted is None or wanted.value == row.opt_in_force:
            return
        if await ven.change_opt(row.event_id, row.modification_number, wanted):
            await self._store.change(
                row.event_id, opt_in_force=wanted.value, updated_at=now,
                note=f"changed to {wanted.value}: the invitation is {status}",
            )  # fmt: skip
            logger.info("upstream event %s: opt changed to %s", row.event_id, wanted.value)
