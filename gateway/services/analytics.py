"""Performance analytics, computed from the results stored with each event."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

from sqlalchemy import select

from gateway.db.models import EventRow
from gateway.domain.analytics import EventOutcome, performance
from gateway.domain.lifecycle import EventStatus
from gateway.services.context import ServiceContext
from gateway.services.views import AnalyticsView


class AnalyticsService:
    def __init__(self, ctx: ServiceContext) -> None:
        self._ctx = ctx

    async def performance(self, days: int) -> AnalyticsView:
        since = self._ctx.clock.now() - timedelta(days=days)
        async with self._ctx.db.read() as session:
            rows = (
                await session.scalars(select(EventRow).where(EventRow.start_time >= since))
            ).all()
        outcomes = [
            EventOutcome(
                status=EventStatus(r.status),
                target_kw=r.target_kw,
                target_kwh=r.target_kwh,
                started_at=r.started_at,
                ended_at=r.ended_at,
                average_reduction_kw=r.average_reduction_kw,
                energy_reduction_kwh=r.energy_reduction_kwh,
                coverage=r.coverage,
            )
            for r in rows
        ]
        report = performance(outcomes, days)
        return AnalyticsView(period_start=since, **dataclasses.asdict(report))
