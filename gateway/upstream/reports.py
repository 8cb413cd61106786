"""What the gateway reports to the utility, and the values it reports.

Both reports are TELEMETRY_USAGE reports, the kind any VTN (openleadr's included) requests:
the aggregated power of the gateway's devices, and the achieved reduction of the current (or
last finished) upstream event: average kW, kWh and coverage (%).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

from gateway.bus.power import RedisPowerReader
from gateway.domain.lifecycle import EventStatus, InvitationStatus
from gateway.services.container import Services
from gateway.upstream.port import ReportOffer
from gateway.upstream.reporting import Reporter
from gateway.upstream.store import UpstreamStore

logger = logging.getLogger(__name__)

TELEMETRY_SPECIFIER = "gateway-telemetry"
REDUCTION_SPECIFIER = "gateway-reduction"
R_POWER = "gateway-power-kw"
R_REDUCTION_KW = "reduction-kw"
R_REDUCTION_KWH = "reduction-kwh"
R_COVERAGE = "reduction-coverage"

OFFERS = (
    ReportOffer(TELEMETRY_SPECIFIER, R_POWER, "power_real", scale="k"),
    ReportOffer(REDUCTION_SPECIFIER, R_REDUCTION_KW, "power_real", scale="k"),
    ReportOffer(REDUCTION_SPECIFIER, R_REDUCTION_KWH, "energy_real", scale="k"),
    ReportOffer(REDUCTION_SPECIFIER, R_COVERAGE, "coverage", unit="%"),
)
# Each reduction rID and the result it carries.
REDUCTION_KEYS = {
    R_REDUCTION_KW: "average_reduction_kw",
    R_REDUCTION_KWH: "energy_reduction_kwh",
    R_COVERAGE: "coverage",
}
# A running event reports its live totals; these, once ended, its final results.
REPORTED_AT_END = frozenset({EventStatus.COMPLETED, EventStatus.CANCELLED})
# An event that ends so has no final report to send (cancelled before any result, missed).
NOTHING_AT_END = frozenset({EventStatus.CANCELLED, EventStatus.MISSED})
CLOSED_UNRUN = frozenset({InvitationStatus.CANCELLED, InvitationStatus.EXPIRED})


class UpstreamReports:
    def __init__(
        self, devices: Sequence[str], services: Services, store: UpstreamStore,
        power: RedisPowerReader,
    ) -> None:  # fmt: skip
        self._devices = tuple(devices)  # the configured ones; none: every device
        self._services = services
        self._clock = services.clock
        self._store = store
        self._power = power
        self.reduction: dict[str, float | None] | None = None

    async def value(self, r_id: str) -> list[tuple[datetime, float]]:
        """The current value of an rID; none when there is none (no reading is never 0 kW)."""
        if r_id == R_POWER:
            return await self._telemetry()
        key = REDUCTION_KEYS.get(r_id)
        if key is None or self.reduction is None or self.reduction.get(key) is None:
            return []
        number = float(self.reduction[key] or 0.0)
        return [(self._clock.now(), number * 100 if r_id == R_COVERAGE else number)]

    async def _telemetry(self) -> list[tuple[datetime, float]]:
        devices = self._devices or [d.id for d in await self._services.devices.all()]
        now = self._clock.now()
        present = [v for v in await self._power.read_kw(devices, now) if v is not None]
        return [(now, sum(present))] if present else []

    async def refresh_reduction(self, reporter: Reporter, now: datetime) -> None:
        """Values of the reduction report: the running upstream event's live totals, and at
        its end its final results, pushed up at once."""
        for row in await self._store.awaiting_final_report():
            view = await self._services.invitations.get(row.invitation_id or "", use_cache=False)
            if view.event_id is None:
                if InvitationStatus(view.status) in CLOSED_UNRUN or row.cancelled:
                    await self._store.change(row.event_id, final_report_sent_at=now)
                continue
            event = await self._services.events.get(view.event_id)
            status = EventStatus(event.status)
            if status is EventStatus.ACTIVE and event.live:
                self.reduction = {key: event.live[key] for key in REDUCTION_KEYS.values()}
            elif status in REPORTED_AT_END and event.results.average_reduction_kw is not None:
                results = event.results
                self.reduction = {
                    "average_reduction_kw": results.average_reduction_kw,
                    "energy_reduction_kwh": results.energy_reduction_kwh,
                    "coverage": results.coverage,
                }
                if await reporter.send_now(REDUCTION_SPECIFIER):
                    await self._store.change(row.event_id, final_report_sent_at=now)
                    logger.info("upstream event %s: final reduction report sent", row.event_id)
            elif status in NOTHING_AT_END:
                await self._store.change(row.event_id, final_report_sent_at=now)
