"""``VenFacing``: the one object a transport adapter talks to about its VENs."""

from __future__ import annotations

from datetime import datetime

from redis.asyncio import Redis

from gateway.bus.cache import ViewCache
from gateway.domain.ven_events import VenEvent
from gateway.services.context import ServiceContext
from gateway.services.ven_facing.answers import VenAnswers
from gateway.services.ven_facing.direct_answers import DirectEventAnswers
from gateway.services.ven_facing.events import events_of_ven
from gateway.services.ven_facing.report_requests import ReportRequests
from gateway.services.ven_facing.telemetry import Telemetry


class VenFacing:
    def __init__(self, ctx: ServiceContext, cache: ViewCache, redis: Redis, prefix: str) -> None:
        self._ctx = ctx
        # A VEN's optIn / optOut for its devices in one event.
        self.answer = VenAnswers(ctx, cache).answer
        # The same, for an event scheduled directly (no invitation).
        self.answer_direct = DirectEventAnswers(ctx).answer
        # A VEN's power readings: to the power bus, or the VEN's own.
        self.take_telemetry = Telemetry(ctx.db, redis, prefix).take
        self.changes_channel = ctx.changes_channel
        # The operator's report requests of a VEN, and their cancel.
        self.report_requests = ReportRequests(ctx)

    async def events_of(self, ven_id: str, now: datetime) -> list[VenEvent]:
        """The events the VEN must know now (a transport that caches them reads them in its
        own query instead: ``ven_facing.events``)."""
        async with self._ctx.db.read() as session:
            return await events_of_ven(session, ven_id, now)
