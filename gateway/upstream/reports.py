"""What the gateway reports to the utility, and the values it reports.

All are TELEMETRY_USAGE reports, the kind any VTN (openleadr's included) requests:

- ``gateway-telemetry``, offered at registration: the aggregated power of the gateway's
  devices (kW), a reading at an instant; no fresh reading means no value, never 0.
- one reduction report per upstream event, ``gateway-reduction:<eventID>``: offered (a new
  oadrRegisterReport with every report, its duration the event's) once the event is
  scheduled, so the utility knows which report is about which of its events and requests it.
  Its intervals are the event's own: from its start, each the requested granularity rounded
  up to whole executor samples, each sent once it has closed, with its real dtstart and
  duration (``reduction-kw`` average kW, ``reduction-kwh`` energy, ``reduction-coverage`` %).
  An interval in which nothing was measured is left out. Each oadrUpdateReport has the
  eiReportID ``<specifier>/<index of its first interval>``; once the event has ended and its
  results are stored, one final report, eiReportID ``<specifier>/final``, carries the
  intervals not yet sent and the event's totals (``event-reduction-kw``,
  ``event-reduction-kwh``, ``event-coverage``: one interval over the event's window). Nothing
  is sent before the first closed interval, between the end and the final report, or after it.
- Settlement values (baseline, actual and reduction kWh per meter interval) go up in the
  final report the same way when a settlement source is given; the report then offers those
  rIDs too. When the utility's request asks for any of them, the final report waits for the
  event's settlement (``SettlementPending``: until its last meter interval has closed); one
  with no meter data yet goes without them (its version 1 is the automatic settlement's).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from gateway.bus.power import RedisPowerReader
from gateway.db.models import UpstreamEventRow
from gateway.domain.lifecycle import EventStatus, InvitationStatus
from gateway.observability.logs import log_context
from gateway.services.container import Services
from gateway.services.interval_results import (
    EventWindow,
    IntervalReduction,
    closed_intervals,
    samples_per_interval,
)
from gateway.services.views import EventView
from gateway.upstream.port import ReportOffer, ReportValue
from gateway.upstream.reporting import Grant, Reporter
from gateway.upstream.store import UpstreamStore

logger = logging.getLogger(__name__)

TELEMETRY_SPECIFIER = "gateway-telemetry"
REDUCTION_PREFIX = "gateway-reduction:"
FINAL_REPORT = "final"
R_POWER = "gateway-power-kw"
# Per interval of an event's reduction report.
R_REDUCTION_KW = "reduction-kw"
R_REDUCTION_KWH = "reduction-kwh"
R_COVERAGE = "reduction-coverage"
# In its final report only: the event's totals, one interval over the event's window.
R_EVENT_KW = "event-reduction-kw"
R_EVENT_KWH = "event-reduction-kwh"
R_EVENT_COVERAGE = "event-coverage"
# Settlement, per interval, in the final report, when the program asks for it.
R_BASELINE_KWH = "settlement-baseline-kwh"
R_ACTUAL_KWH = "settlement-actual-kwh"
R_SETTLED_KWH = "settlement-reduction-kwh"
SETTLEMENT_R_IDS = frozenset({R_BASELINE_KWH, R_ACTUAL_KWH, R_SETTLED_KWH})

OFFERS = (ReportOffer(TELEMETRY_SPECIFIER, R_POWER, "power_real", scale="k"),)
# An event that ends so has no final report to send (cancelled before any result, missed).
NOTHING_AT_END = frozenset({EventStatus.CANCELLED, EventStatus.MISSED})
REPORTED_AT_END = frozenset({EventStatus.COMPLETED, EventStatus.CANCELLED})
CLOSED_UNRUN = frozenset({InvitationStatus.CANCELLED, InvitationStatus.EXPIRED})
# A report the VTN did not take is sent again after 1, 2, 4 ... s, at most a minute: never
# every tick.
RETRY_FIRST_SECONDS = 1.0
RETRY_MAX_SECONDS = 60.0


@dataclass(frozen=True, slots=True)
class SettledInterval:
    start: datetime
    duration: timedelta
    baseline_kwh: float
    actual_kwh: float
    reduction_kwh: float


class SettlementPending(Exception):
    """The event will be settled, but is not yet: its final report waits."""


# The settlement of one (gateway) event, interval by interval; None when it has none (it is
# not settled); raises SettlementPending before it is. Built by ``upstream.settlement``.
SettlementSource = Callable[[str], Awaitable[Sequence[SettledInterval] | None]]


def reduction_specifier(upstream_event_id: str) -> str:
    return f"{REDUCTION_PREFIX}{upstream_event_id}"


def event_offers(
    upstream_event_id: str, duration: timedelta, cadence_seconds: float, *, settlement: bool
) -> tuple[ReportOffer, ...]:
    """The rIDs of one event's reduction report; its intervals are not shorter than one
    executor sample (its minPeriod)."""
    specifier = reduction_specifier(upstream_event_id)
    quick = timedelta(seconds=cadence_seconds)
    longest = max(quick, duration)

    def offer(r_id: str, measurement: str, **kind: str) -> ReportOffer:
        return ReportOffer(
            specifier, r_id, measurement, min_period=quick, max_period=longest,
            duration=duration, event_id=upstream_event_id, **kind,
        )  # fmt: skip

    offers = [
        offer(R_REDUCTION_KW, "power_real", scale="k"),
        offer(R_REDUCTION_KWH, "energy_real", scale="k"),
        offer(R_COVERAGE, "coverage", unit="%"),
        offer(R_EVENT_KW, "power_real", scale="k"),
        offer(R_EVENT_KWH, "energy_real", scale="k"),
        offer(R_EVENT_COVERAGE, "coverage", unit="%"),
    ]
    if settlement:
        offers += [
            offer(r_id, "energy_real", scale="k")
            for r_id in (R_BASELINE_KWH, R_ACTUAL_KWH, R_SETTLED_KWH)
        ]
    return tuple(offers)


def interval_values(intervals: Sequence[IntervalReduction]) -> list[ReportValue]:
    values: list[ReportValue] = []
    for i in intervals:
        values += [
            ReportValue(R_REDUCTION_KW, i.start, i.average_reduction_kw, i.duration),
            ReportValue(R_REDUCTION_KWH, i.start, i.energy_reduction_kwh, i.duration),
            ReportValue(R_COVERAGE, i.start, i.coverage * 100, i.duration),
        ]
    return values


def settled_values(settled: Sequence[SettledInterval]) -> list[ReportValue]:
    values: list[ReportValue] = []
    for s in settled:
        values += [
            ReportValue(R_BASELINE_KWH, s.start, s.baseline_kwh, s.duration),
            ReportValue(R_ACTUAL_KWH, s.start, s.actual_kwh, s.duration),
            ReportValue(R_SETTLED_KWH, s.start, s.reduction_kwh, s.duration),
        ]
    return values


def window_of(event: EventView, cadence_seconds: float) -> EventWindow:
    """The event's measured window: to its end, or to when it was cancelled."""
    end = event.end_time
    if event.ended_at is not None:
        end = max(event.start_time, min(end, event.ended_at))
    return EventWindow(event.id, len(event.devices), cadence_seconds, event.start_time, end)


class UpstreamReports:
    def __init__(
        self, devices: Sequence[str], services: Services, store: UpstreamStore,
        power: RedisPowerReader, settlement: SettlementSource | None = None,
    ) -> None:  # fmt: skip
        self._devices = tuple(devices)  # the configured ones; none: every device
        self._services = services
        self._clock = services.clock
        self._cadence = services.settings.cadence_seconds
        self._store = store
        self._power = power
        self.settlement = settlement
        # The totals of the last upstream event whose final report went up.
        self.reduction: dict[str, float | None] | None = None
        # Report specifier -> (sends not taken in a row, event-loop time of the next try).
        self._retry: dict[str, tuple[int, float]] = {}

    async def value(self, r_id: str) -> list[tuple[datetime, float]]:
        """The current value of a standing rID; none when there is none (no reading is never
        0 kW). The events' reports are sent by ``refresh_reduction``."""
        if r_id != R_POWER:
            return []
        devices = self._devices or [d.id for d in await self._services.devices.all()]
        now = self._clock.now()
        present = [v for v in await self._power.read_kw(devices, now) if v is not None]
        return [(now, sum(present))] if present else []

    async def refresh_reduction(self, reporter: Reporter, now: datetime) -> None:
        """Each upstream event's reduction report: offered once the event is scheduled, its
        closed intervals sent, and at the end its final report, once."""
        for row in await self._store.awaiting_final_report():
            with log_context(upstream_event_id=row.event_id, invitation_id=row.invitation_id):
                try:
                    await self._report_event(reporter, row, now)
                except Exception:  # one event's report stops neither the others nor the VEN
                    logger.exception("upstream event %s: reduction report", row.event_id)

    async def _report_event(self, reporter: Reporter, row: UpstreamEventRow, now: datetime) -> None:
        specifier = reduction_specifier(row.event_id)
        if asyncio.get_running_loop().time() < self._retry.get(specifier, (0, 0.0))[1]:
            return
        view = await self._services.invitations.get(row.invitation_id or "", use_cache=False)
        if view.event_id is None:
            if InvitationStatus(view.status) in CLOSED_UNRUN or row.cancelled:
                await self._done(reporter, row, now)
            return
        event = await self._services.events.get(view.event_id)
        status = EventStatus(event.status)
        ended = status in REPORTED_AT_END and event.results.average_reduction_kw is not None
        if not ended and status in NOTHING_AT_END | REPORTED_AT_END:
            await self._done(reporter, row, now)  # missed, or ended before any result
            return
        offers = event_offers(
            row.event_id, event.end_time - event.start_time, self._cadence,
            settlement=self.settlement is not None,
        )  # fmt: skip
        if reporter.event_report_offers(specifier) != offers:
            # Not offered yet (or forgotten by a restart), or the event was modified: the
            # utility is told (again), and asks (again).
            await reporter.offer_event_report(offers)
        grant = reporter.grant_for(specifier)
        if grant is None:
            if ended:
                logger.info(
                    "upstream event %s: its reduction report was not requested", row.event_id
                )
                await self._done(reporter, row, now)
            return
        if status is EventStatus.SCHEDULED:
            return
        window = window_of(event, self._cadence)
        per_interval = samples_per_interval(grant.granularity, self._cadence)
        after = row.reported_until or window.start
        if not ended and now < after + timedelta(seconds=per_interval * self._cadence):
            return  # the next interval has not ended, so it cannot have closed: no query
        closed = await closed_intervals(self._services.db, window, per_interval, after, ended=ended)
        if ended:
            await self._send_final(reporter, row, event, window, closed.measured, now, grant)
            return
        intervals = closed.measured
        if intervals:
            first = round((intervals[0].start - window.start).total_seconds()
                          / (per_interval * self._cadence))  # fmt: skip
            values = interval_values(intervals)
            if not self._taken(
                specifier, await reporter.send_values(specifier, values, f"{specifier}/{first}")
            ):
                return
        if closed.until > after:  # closed intervals without a reading are done with too
            await self._store.change(row.event_id, reported_until=closed.until)

    async def _send_final(
        self, reporter: Reporter, row: UpstreamEventRow, event: EventView, window: EventWindow,
        intervals: Sequence[IntervalReduction], now: datetime, grant: Grant,
    ) -> None:  # fmt: skip
        results = event.results
        span = window.end - window.start
        values = interval_values(intervals)
        if results.coverage:  # nothing measured in the whole event: no totals, not zeros
            values += [
                ReportValue(R_EVENT_KW, window.start, results.average_reduction_kw or 0.0, span),
                ReportValue(R_EVENT_KWH, window.start, results.energy_reduction_kwh or 0.0, span),
                ReportValue(R_EVENT_COVERAGE, window.start, results.coverage * 100, span),
            ]
        if self.settlement is not None and SETTLEMENT_R_IDS.intersection(grant.r_ids):
            try:
                values += settled_values(await self.settlement(event.id) or ())
            except SettlementPending:
                return  # asked again next tick: at most a meter interval after the end
        specifier = reduction_specifier(row.event_id)
        final = await reporter.send_values(specifier, values, f"{specifier}/{FINAL_REPORT}")
        if self._taken(specifier, final):
            self.reduction = {
                "average_reduction_kw": results.average_reduction_kw,
                "energy_reduction_kwh": results.energy_reduction_kwh,
                "coverage": results.coverage,
            }
            await self._store.change(row.event_id, reported_until=window.end)
            await self._done(reporter, row, now)
            logger.info("upstream event %s: final reduction report sent", row.event_id)

    def _taken(self, specifier: str, taken: bool) -> bool:
        """Whether the VTN took the report; when not, the next try is put off."""
        if taken:
            self._retry.pop(specifier, None)
            return True
        failures = self._retry.get(specifier, (0, 0.0))[0] + 1
        delay = min(RETRY_FIRST_SECONDS * 2 ** (failures - 1), RETRY_MAX_SECONDS)
        self._retry[specifier] = (failures, asyncio.get_running_loop().time() + delay)
        logger.warning("upstream: report %s not taken; again in %.0f s", specifier, delay)
        return False

    async def _done(self, reporter: Reporter, row: UpstreamEventRow, now: datetime) -> None:
        """Nothing more goes up about this event."""
        await self._store.change(row.event_id, final_report_sent_at=now)
        await reporter.withdraw(reduction_specifier(row.event_id))
