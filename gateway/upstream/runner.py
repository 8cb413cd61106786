"""The upstream VEN as one part of the gateway: connects (``connection``), turns upstream
events into invitations (``invitations``), answers them when the downstream decides or by
default at the deadline and sends later changes of mind as opts (``answers``), and reports
telemetry and achieved reduction (``reports``, sent by ``reporting``). openleadr is reached
through ``port`` only.

Nothing here blocks the downstream side: it runs as its own task, every failure is contained
and retried, and everything it must not forget is in the database. Its collaborators (store,
power reader, lease, link to the VTN) are built by the composition root, ``gateway/app.py``.
"""

from __future__ import annotations

import asyncio
from typing import Any

from gateway.bus.power import RedisPowerReader
from gateway.executor.lease import EventLease
from gateway.services.container import Services
from gateway.settings import UpstreamSettings
from gateway.upstream.answers import UpstreamAnswers
from gateway.upstream.connection import UpstreamConnection
from gateway.upstream.invitations import UpstreamInvitations
from gateway.upstream.port import VtnLink
from gateway.upstream.reporting import Reporter
from gateway.upstream.reports import OFFERS, SettlementSource, UpstreamReports
from gateway.upstream.store import UpstreamStore
from gateway.upstream.ven import UpstreamVen


class UpstreamRunner:
    def __init__(
        self,
        config: UpstreamSettings,
        services: Services,
        *,
        store: UpstreamStore,
        power: RedisPowerReader,
        lease: EventLease,
        link: VtnLink,
        settlement: SettlementSource | None = None,
    ) -> None:
        self._clock = services.clock
        self.ven = UpstreamVen(link, config.ven_name, config.ven_id)
        self.invitations = UpstreamInvitations(config, services, store)
        self.answers = UpstreamAnswers(config, services, store)
        self.reports = UpstreamReports(config.devices, services, store, power, settlement)
        self.reporter = Reporter(self.ven, OFFERS, self.reports.value, store, self._clock.now)
        self.connection = UpstreamConnection(
            config, lease, self.ven, self.reporter, self.invitations.on_events, self.tick
        )

    @property
    def connected(self) -> asyncio.Event:
        return self.connection.connected

    @property
    def reduction(self) -> dict[str, float | None] | None:
        return self.reports.reduction

    async def run(self, stopping: asyncio.Event) -> None:
        await self.connection.run(stopping)

    async def on_events(self, events: list[dict[str, Any]]) -> None:
        await self.invitations.on_events(events)

    async def tick(self, ven: UpstreamVen) -> None:
        """One round between polls: answers and opts up, then the reduction values."""
        now = self._clock.now()
        await self.answers.send_due(ven, now)
        await self.reports.refresh_reduction(self.reporter, now)
