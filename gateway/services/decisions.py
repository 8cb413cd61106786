"""Deciding an invitation once its answers reach a decision: scheduled with its event, or
declined (the one path every answer takes: admin, auto-response, a VEN)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from gateway.db.models import EventRow, InvitationRow
from gateway.domain.invitations import (
    Answer,
    AnswerPolicy,
    DecisionOutcome,
    DeviceAnswer,
    Response,
    decide,
)
from gateway.domain.lifecycle import InvitationTrigger
from gateway.services.context import ServiceContext
from gateway.services.events import stage_event
from gateway.services.invitation_changes import close_invitation, record_decision

logger = logging.getLogger(__name__)


def decide_invitation(
    ctx: ServiceContext,
    session: AsyncSession,
    row: InvitationRow,
    fresh: Sequence[DeviceAnswer],
    now: datetime,
) -> EventRow | None:
    """Apply the policy's decision, if the answers now reach one; the new event if any."""
    answers = {
        a.device_id: DeviceAnswer(a.device_id, Answer(a.answer), a.committed_kw)
        for a in row.answers
    }
    answers.update({a.device_id: a for a in fresh})
    policy = AnswerPolicy(row.answer_policy, row.partial_min_share)
    decision = decide([d.device_id for d in row.devices], answers, row.target_kw, policy)
    if decision is None:
        return None
    if decision.outcome is not DecisionOutcome.SCHEDULE:
        close_invitation(row, InvitationTrigger.DECLINE, decision.reason, now)
        logger.info("invitation %s decided: %s (%s)", row.id, row.status, decision.reason)
        return None
    record_decision(row, InvitationTrigger.ACCEPT, Response.YES, decision.reason, now)
    event = stage_event(
        ctx,
        session,
        start_time=row.event_time,
        duration_minutes=row.duration_minutes,
        target_kw=row.target_kw,
        devices=[(a.device_id, a.committed_kw) for a in decision.participants],
        invitation_id=row.id,
        program_id=row.program_id,  # an event made from an invitation is in its program
    )
    row.event_id = event.id
    logger.info("invitation %s decided: %s (%s)", row.id, row.status, decision.reason)
    return event
