"""Performance analytics over stored event results.

Power (kW) and energy (kWh) stay apart: the energy achievement rate divides kWh achieved by kWh
targeted, the power achievement rate divides average kW shed by kW targeted. Durations are the
real ones, from when an event actually started to when it actually ended.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from statistics import fmean

from gateway.domain.lifecycle import EventStatus


@dataclass(frozen=True, slots=True)
class EventOutcome:
    status: EventStatus
    target_kw: float
    target_kwh: float
    started_at: datetime | None
    ended_at: datetime | None
    average_reduction_kw: float | None
    energy_reduction_kwh: float | None
    coverage: float | None


@dataclass(frozen=True, slots=True)
class PerformanceReport:
    period_days: int
    events_by_status: dict[str, int]
    completed_events: int
    events_with_results: int
    total_energy_reduction_kwh: float
    total_target_kwh: float
    energy_achievement_rate: float | None
    average_reduction_kw: float | None
    average_target_kw: float | None
    power_achievement_rate: float | None
    average_duration_minutes: float | None
    average_coverage: float | None


def _ratio(achieved: float, target: float) -> float | None:
    return achieved / target if target > 0 else None


def performance(events: Sequence[EventOutcome], period_days: int) -> PerformanceReport:
    by_status = Counter(str(e.status) for e in events)
    completed = [e for e in events if e.status is EventStatus.COMPLETED]
    measured = [
        e
        for e in completed
        if e.average_reduction_kw is not None and e.energy_reduction_kwh is not None
    ]
    energy = sum(e.energy_reduction_kwh or 0.0 for e in measured)
    target_kwh = sum(e.target_kwh for e in measured)
    avg_kw = fmean(e.average_reduction_kw or 0.0 for e in measured) if measured else None
    avg_target_kw = fmean(e.target_kw for e in measured) if measured else None
    durations = [
        (e.ended_at - e.started_at).total_seconds() / 60
        for e in completed
        if e.started_at is not None and e.ended_at is not None
    ]
    coverages = [e.coverage for e in measured if e.coverage is not None]
    return PerformanceReport(
        period_days=period_days,
        events_by_status=dict(sorted(by_status.items())),
        completed_events=len(completed),
        events_with_results=len(measured),
        total_energy_reduction_kwh=energy,
        total_target_kwh=target_kwh,
        energy_achievement_rate=_ratio(energy, target_kwh),
        average_reduction_kw=avg_kw,
        average_target_kw=avg_target_kw,
        power_achievement_rate=(
            _ratio(avg_kw, avg_target_kw)
            if avg_kw is not None and avg_target_kw is not None
            else None
        ),
        average_duration_minutes=fmean(durations) if durations else None,
        average_coverage=fmean(coverages) if coverages else None,
    )
