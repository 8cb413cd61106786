"""Auto-response configuration and the responder that answers invitations when they fall due."""

from __future__ import annotations

import logging

from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.bus.power import RedisPowerReader
from gateway.db.models import AutoResponseConfigRow
from gateway.domain.auto_response import AutoResponseConfig, auto_answers, notice_problem
from gateway.domain.errors import NotFound
from gateway.domain.invitations import Answer, InvitationRequest
from gateway.domain.lifecycle import InvitationStatus
from gateway.services.context import ServiceContext
from gateway.services.invitations import InvitationService
from gateway.services.views import AutoResponseConfigView, InvitationView

logger = logging.getLogger(__name__)

_CONFIG_ROW_ID = 1


def _config_of(row: AutoResponseConfigRow | None) -> AutoResponseConfig:
    if row is None:
        return AutoResponseConfig()
    return AutoResponseConfig(
        enabled=row.enabled,
        max_reduction_percentage=row.max_reduction_percentage,
        response_delay_seconds=row.response_delay_seconds,
        min_notice_minutes=row.min_notice_minutes,
    )


async def load_auto_config(session: AsyncSession) -> AutoResponseConfig:
    return _config_of(await session.get(AutoResponseConfigRow, _CONFIG_ROW_ID))


class AutoResponseService:
    """Reads and changes the configuration, and answers due invitations by its rules."""

    def __init__(
        self, ctx: ServiceContext, invitations: InvitationService, power: RedisPowerReader
    ) -> None:
        self._ctx = ctx
        self._invitations = invitations
        self._power = power

    async def config(self) -> AutoResponseConfig:
        async with self._ctx.db.read() as session:
            return await load_auto_config(session)

    async def config_view(self) -> AutoResponseConfigView:
        async with self._ctx.db.read() as session:
            row = await session.get(AutoResponseConfigRow, _CONFIG_ROW_ID)
            if row is not None:
                return AutoResponseConfigView.of(row)
        default = AutoResponseConfig()
        return AutoResponseConfigView(
            enabled=default.enabled,
            max_reduction_percentage=default.max_reduction_percentage,
            response_delay_seconds=default.response_delay_seconds,
            min_notice_minutes=default.min_notice_minutes,
            updated_at=None,
        )

    async def set_config(self, config: AutoResponseConfig) -> AutoResponseConfigView:
        config.validate()
        now = self._ctx.clock.now()
        async with self._ctx.db.write() as session:
            row = await session.get(AutoResponseConfigRow, _CONFIG_ROW_ID)
            if row is None:
                row = AutoResponseConfigRow(id=_CONFIG_ROW_ID)
                session.add(row)
            row.enabled = config.enabled
            row.max_reduction_percentage = config.max_reduction_percentage
            row.response_delay_seconds = config.response_delay_seconds
            row.min_notice_minutes = config.min_notice_minutes
            row.updated_at = now
            self._ctx.announce(
                session,
                "auto_response_updated",
                enabled=config.enabled,
                max_reduction_percentage=config.max_reduction_percentage,
                response_delay_seconds=config.response_delay_seconds,
                min_notice_minutes=config.min_notice_minutes,
            )
        await self._ctx.publisher.flush()
        return AutoResponseConfigView.of(row)

    async def create_invitation(
        self, request: InvitationRequest, invitation_id: str | None = None
    ) -> InvitationView:
        """Make an invitation under the current auto-response settings, and answer it at
        once when they say so (every way an invitation is made goes through here)."""
        view = await self._invitations.create(request, await self.config(), invitation_id)
        return await self.respond_if_due(view)

    async def respond_if_due(self, view: InvitationView) -> InvitationView:
        """Right after an invitation is made or changed: a response delay of 0 answers at once."""
        due = view.auto_response.due_at
        if due is not None and due <= self._ctx.clock.now():
            try:
                return await self.respond(view.id) or view
            except (RedisError, OSError) as err:
                # The invitation is stored already: it stays pending and due, and the worker
                # answers it once the power readings can be read again.
                logger.warning("auto-response for invitation %s deferred: %s", view.id, err)
        return view

    async def respond(self, invitation_id: str) -> InvitationView | None:
        """Answer the invitation's unanswered devices now, if its auto-response is due."""
        now = self._ctx.clock.now()
        try:
            invitation = await self._invitations.get(invitation_id, use_cache=False)
        except NotFound:
            return None
        due_at = invitation.auto_response.due_at
        if invitation.status is not InvitationStatus.PENDING or due_at is None or due_at > now:
            return None
        config = await self.config()
        if not config.enabled:
            note = "auto-response was disabled before the answer was due"
            return await self._invitations.answer(
                invitation_id, [], skip_answered=True, auto_response_note=note
            )
        problem = notice_problem(config, invitation.event_time, now)
        if problem is not None:
            return await self._invitations.answer(
                invitation_id, [], skip_answered=True, auto_response_note=problem
            )
        answered = {a.device_id for a in invitation.answers}
        pending = [d for d in invitation.devices if d not in answered]
        readings = await self._power.read(pending, now)
        answers = auto_answers([readings[d] for d in pending], config.max_reduction_percentage)
        yes = sum(1 for a in answers if a.answer is Answer.YES)
        note = f"answered {len(answers)} device(s) automatically: {yes} YES"
        logger.info("auto-response for invitation %s: %s", invitation_id, note)
        return await self._invitations.answer(
            invitation_id, answers, skip_answered=True, auto_response_note=note
        )

    async def respond_due(self) -> int:
        done = 0
        for invitation_id in await self._invitations.due_auto_responses():
            if await self.respond(invitation_id) is not None:
                done += 1
        return done
