"""Background work of a running gateway: one loop, each step idempotent and isolated.

Steps: publish queued dr_events messages, answer invitations whose auto-response is due, expire
invitations whose event time came undecided, take flexibility snapshots on their interval, and
settle the events that have ended (``services.settlement_auto``).
Every step is safe to run on several replicas at once (the database decides who wins).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta

from gateway.services.container import Services
from gateway.services.settlement_auto import AutoSettlement
from gateway.supervisor import pause

logger = logging.getLogger(__name__)


class BackgroundWorker:
    def __init__(self, services: Services) -> None:
        self._services = services
        self._interval = services.settings.worker_interval_seconds
        self._snapshot_every = timedelta(
            seconds=services.settings.flexibility_snapshot_interval_seconds
        )
        self.settlement = AutoSettlement(
            services.settlement, services.db, services.clock, services.meter_history.grid
        )

    async def run(self, stopping: asyncio.Event) -> None:
        """Rounds until ``stopping`` is set; a round under way is finished first."""
        while not stopping.is_set():
            await self.run_once()
            if await pause(stopping, self._interval):
                return

    async def run_once(self) -> None:
        s = self._services
        await self._step("publish dr_events", s.publisher.flush)
        await self._step("auto-response", s.auto_response.respond_due)
        await self._step("expire invitations", s.invitations.expire_overdue)
        if self._snapshot_every:
            await self._step("flexibility snapshot", self._snapshot_if_due)
        await self._step("settle ended events", self.settlement.settle_due)

    async def _snapshot_if_due(self) -> None:
        last = await self._services.flexibility.last_snapshot_at()
        now = self._services.clock.now()
        if last is None or now - last >= self._snapshot_every:
            await self._services.flexibility.take_snapshot()

    async def _step(self, name: str, step: Callable[[], Awaitable[object]]) -> None:
        try:
            await step()
        except asyncio.CancelledError:
            raise
        except Exception:
            # One failing step (Redis down, say) must not stop the others or the loop.
            logger.exception("background step %r failed; retrying next round", name)
