"""Per-event settlement: each device's baseline and actual kWh per interval, kept by version.

A settlement is computed from what is stored (meter history, the event and its program's
baseline method and parameters, the devices' time zones and earlier events) and nothing
else, so the same data and method always give the same numbers, and the same digest. Each
computation that gives a different digest (late meter data imported, say) is stored as the
next version; the versions before stay readable. Only an event that ran is settled: a
completed one to its end, one cancelled once it had started to the cancel.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from gateway.clock import Clock
from gateway.db.engine import Database
from gateway.db.models import (
    DeviceRow,
    EventDeviceRow,
    EventRow,
    ProgramRow,
    SettlementRow,
)
from gateway.domain.baselines import (
    BaselineMethod,
    DayMatching,
    DayMatchingBaseline,
    IntervalEnergy,
    NoBaseline,
    day_matching_baseline,
    instants_read,
    resolve,
)
from gateway.domain.errors import Conflict, NotFound
from gateway.domain.lifecycle import EventStatus
from gateway.domain.meter import intervals_between
from gateway.domain.settlement import device_totals, settle_intervals
from gateway.services.meter_history import MeterGrid, history_at, history_of
from gateway.services.program_views import program_of
from gateway.services.settlement_retry import SettlementRetries
from gateway.services.settlement_views import (
    DeviceSettlement,
    SettlementInterval,
    SettlementTotals,
    SettlementView,
)

OK = "ok"


class AwaitingMeterData(Conflict):
    """No device of the event has a measured interval in it yet: nothing to settle from."""

    code = "awaiting_meter_data"


class SettlementService:
    def __init__(self, db: Database, clock: Clock, grid: MeterGrid) -> None:
        self._db = db
        self._clock = clock
        self._grid = grid
        # The automatic settlements that failed in this process (``settlement_auto``).
        self.retries = SettlementRetries()

    async def get(self, event_id: str, version: int | None = None) -> SettlementView:
        async with self._db.read() as session:
            query = select(SettlementRow).where(SettlementRow.event_id == event_id)
            if version is not None:
                query = query.where(SettlementRow.version == version)
            row = await session.scalar(query.order_by(SettlementRow.version.desc()).limit(1))
            if row is not None:
                return SettlementView.model_validate(row.body)
            if await session.get(EventRow, event_id) is None:
                raise NotFound(f"event {event_id} not found")
        if version is not None:
            raise NotFound(f"event {event_id} has no settlement version {version}")
        raise NotFound(
            f"event {event_id} has no settlement yet: POST /api/events/{event_id}/settlement"
        )

    async def recompute(self, event_id: str) -> tuple[SettlementView, bool]:
        """The settlement from the data stored now, and whether it is a new version (False:
        the latest version already says exactly this)."""
        return await self._store(event_id, first_only=False)

    async def settle_first(
        self, event_id: str, *, measured_only: bool = False
    ) -> tuple[SettlementView, bool]:
        """Version 1 when the event has none yet, else its latest version as it is: the
        automatic settlement at an event's end, which replicas may all try at once. With
        ``measured_only``, ``AwaitingMeterData`` instead of a version 1 that no device has
        a measured interval in."""
        return await self._store(event_id, first_only=True, measured_only=measured_only)

    async def _store(
        self, event_id: str, *, first_only: bool, measured_only: bool = False
    ) -> tuple[SettlementView, bool]:
        async with self._db.read() as session:
            computed = await self._compute(session, event_id)
        devices: list[DeviceSettlement] = computed["devices"]
        if measured_only and not any(d.measured_share > 0 for d in devices):
            raise AwaitingMeterData(
                f"event {event_id}: no meter data yet in its intervals for any of its "
                f"{len(devices)} device(s)"
            )
        digest = _digest(computed)
        for _ in range(3):  # another process may store the next version first
            try:
                async with self._db.write() as session:
                    latest = await session.scalar(
                        select(SettlementRow)
                        .where(SettlementRow.event_id == event_id)
                        .order_by(SettlementRow.version.desc())
                        .limit(1)
                    )
                    if latest is not None and (first_only or latest.digest == digest):
                        return SettlementView.model_validate(latest.body), False
                    version = 1 if latest is None else latest.version + 1
                    view = SettlementView(
                        **computed, version=version, computed_at=self._clock.now(), digest=digest
                    )
                    session.add(
                        SettlementRow(
                            event_id=event_id, version=version, computed_at=view.computed_at,
                            baseline_method=view.baseline_method.value, digest=digest,
                            body=view.model_dump(mode="json"),
                        )
                    )  # fmt: skip
                    return view, True
            except IntegrityError:
                continue
        raise Conflict(f"event {event_id}: settlement versions are being written concurrently")

    async def versions(self, event_id: str) -> int:
        async with self._db.read() as session:
            count = await session.scalar(
                select(func.count()).where(SettlementRow.event_id == event_id)
            )
            return int(count or 0)

    async def _compute(self, session: AsyncSession, event_id: str) -> dict[str, Any]:
        event = await session.get(EventRow, event_id, options=[selectinload(EventRow.devices)])
        if event is None:
            raise NotFound(f"event {event_id} not found")
        end = settled_end(event)
        if end is None:
            raise Conflict(
                f"event {event_id} is {event.status}: only a completed event is settled (or "
                "one cancelled after it started)"
            )
        program_row = await session.get(ProgramRow, event.program_id)
        assert program_row is not None  # a foreign key
        terms = program_of(program_row).terms
        method = terms.baseline_method
        params = resolve(method, terms.baseline_parameters)
        step = self._grid.interval
        starts = intervals_between(event.start_time, end, self._grid.interval_minutes)
        device_ids = [d.device_id for d in event.devices]
        since = starts[0] - timedelta(days=(params.lookback_days + 2) if params else 0)
        zone_rows = await session.execute(
            select(DeviceRow.id, DeviceRow.timezone).where(DeviceRow.id.in_(device_ids))
        )
        zones: dict[str, str] = {device_id: zone for device_id, zone in zone_rows}
        history = await _history(session, device_ids, zones, starts, step, params)
        event_days = await _event_days(session, event, since, zones) if params else {}
        devices = []
        for device in event.devices:
            baseline, found = _baseline_of(
                device, method, params, history[device.device_id], starts, step,
                ZoneInfo(zones[device.device_id]), event_days.get(device.device_id, frozenset()),
            )  # fmt: skip
            devices.append(_device(device, baseline, found, history[device.device_id], starts,
                                   step, event.start_time, end))  # fmt: skip
        return {
            "event_id": event.id,
            "program_id": event.program_id,
            "baseline_method": method,
            "baseline_parameters": None if params is None else params.as_json(),
            "interval_minutes": self._grid.interval_minutes,
            "start_time": event.start_time,
            "end_time": end,
            "devices": devices,
            "totals": _totals(devices),
        }


async def _history(
    session: AsyncSession,
    device_ids: list[str],
    zones: dict[str, str],
    starts: list[datetime],
    step: timedelta,
    params: DayMatching | None,
) -> dict[str, dict[datetime, IntervalEnergy]]:
    """What the devices' baselines and actuals read, by time zone (the same wall-clock
    intervals are different instants in each)."""
    if params is None:
        return await history_of(session, device_ids, starts[0], starts[-1] + step)
    by_zone: dict[str, list[str]] = {}
    for device_id in device_ids:
        by_zone.setdefault(zones[device_id], []).append(device_id)
    found: dict[str, dict[datetime, IntervalEnergy]] = {}
    for zone, devices in by_zone.items():
        instants = instants_read(starts, step, ZoneInfo(zone), params)
        found.update(await history_at(session, devices, instants))
    return found


def _baseline_of(
    device: EventDeviceRow,
    method: BaselineMethod,
    params: DayMatching | None,
    history: dict[datetime, Any],
    starts: list[datetime],
    step: timedelta,
    tz: ZoneInfo,
    event_days: frozenset[date],
) -> tuple[list[float | None], DayMatchingBaseline | NoBaseline | None]:
    """kWh per interval (None: none) and the day-matching result (None: mean_before_event)."""
    if params is None:
        if device.baseline_kw is None:
            return [None] * len(starts), NoBaseline(
                "no baseline: no reading in the window before the start"
            )
        kwh = device.baseline_kw * step.total_seconds() / 3600.0
        return [kwh] * len(starts), None
    found = day_matching_baseline(history, starts, step, tz, event_days, params)
    if isinstance(found, NoBaseline):
        return [None] * len(starts), found
    return list(found.kwh), found


def _device(
    device: EventDeviceRow,
    baseline: list[float | None],
    found: DayMatchingBaseline | NoBaseline | None,
    history: dict[datetime, Any],
    starts: list[datetime],
    step: timedelta,
    start: datetime,
    end: datetime,
) -> DeviceSettlement:
    intervals = settle_intervals(starts, step, start, end, baseline, history)
    totals = device_totals(intervals, step)
    matched = found if isinstance(found, DayMatchingBaseline) else None
    return DeviceSettlement(
        device_id=device.device_id,
        committed_kw=device.committed_kw,
        baseline=found.reason if isinstance(found, NoBaseline) else OK,
        baseline_day_type=None if matched is None else matched.day_type,
        baseline_days=[] if matched is None else list(matched.days),
        adjustment=None if matched is None else matched.adjustment,
        adjustment_value=None if matched is None else matched.adjustment_value,
        intervals=[
            SettlementInterval(
                interval_start=i.start,
                interval_end=i.end,
                event_share=i.event_share,
                baseline_kwh=i.baseline_kwh,
                actual_kwh=i.actual_kwh,
                reduction_kwh=i.reduction_kwh,
                measured_share=i.measured_share,
            )
            for i in intervals
        ],
        baseline_kwh=totals.baseline_kwh,
        actual_kwh=totals.actual_kwh,
        reduction_kwh=totals.reduction_kwh,
        settled_hours=totals.settled_hours,
        measured_share=totals.measured_share,
        delivered_kw=totals.delivered_kw,
    )


def settled_end(event: EventRow) -> datetime | None:
    """Where an ended event's settlement stops: its end, or when it was cancelled once it
    had started; None for an event that did not run (not settled)."""
    if event.status == EventStatus.COMPLETED.value:
        return event.end_time
    ended = event.ended_at
    if event.status != EventStatus.CANCELLED.value or event.started_at is None or ended is None:
        return None
    return min(event.end_time, ended) if ended > event.start_time else None


def _totals(devices: Sequence[DeviceSettlement]) -> SettlementTotals:
    settled = [d for d in devices if d.baseline == OK]
    committed = [d.committed_kw for d in devices if d.committed_kw is not None]
    return SettlementTotals(
        baseline_kwh=sum(d.baseline_kwh or 0.0 for d in settled),
        actual_kwh=sum(d.actual_kwh or 0.0 for d in settled),
        reduction_kwh=sum(d.reduction_kwh or 0.0 for d in settled),
        committed_kw=math.fsum(committed) if committed else None,
        devices_committed=len(committed),
        delivered_kw=sum(d.delivered_kw or 0.0 for d in settled),
        measured_share=sum(d.measured_share for d in devices) / len(devices) if devices else 0.0,
        devices_settled=sum(d.reduction_kwh is not None for d in settled),
        devices_without_baseline=len(devices) - len(settled),
    )


async def _event_days(
    session: AsyncSession, event: EventRow, since: datetime, zones: dict[str, str]
) -> dict[str, frozenset[date]]:
    """Each device's earlier event days (local dates): events that ran, before this one."""
    rows = await session.execute(
        select(EventDeviceRow.device_id, EventRow.start_time, EventRow.end_time)
        .join(EventRow, EventRow.id == EventDeviceRow.event_id)
        .where(
            EventDeviceRow.device_id.in_(list(zones)),
            EventRow.id != event.id,
            EventRow.started_at.is_not(None),
            EventRow.end_time > since,
            EventRow.start_time < event.start_time,
        )
    )
    days: dict[str, set[date]] = {}
    for device_id, start, end in rows:
        tz = ZoneInfo(zones[device_id])
        day = start.astimezone(tz).date()
        last = (end - timedelta(microseconds=1)).astimezone(tz).date()
        while day <= last:
            days.setdefault(device_id, set()).add(day)
            day += timedelta(days=1)
    return {d: frozenset(v) for d, v in days.items()}


def _digest(computed: dict[str, Any]) -> str:
    """Over everything but the version and when it was computed."""
    plain = SettlementView.model_construct(**computed)
    data = plain.model_dump_json(exclude={"version", "computed_at", "digest"}, warnings=False)
    canonical = json.dumps(json.loads(data), sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()
