"""Settlement arithmetic: baseline against actual per interval, and the totals. Pure, no I/O.

- Every meter interval that overlaps the event is settled; ``event_share`` is the part of it
  inside the event, and its reduction is ``(baseline - actual) x event_share`` kWh (an event
  that starts or ends mid-interval is settled on that part).
- An interval without a baseline or without a measured actual has no reduction: it is left
  out of the totals, never counted as 0, and lowers ``measured_share`` instead.
- A device's totals are sums over its settled intervals; ``delivered_kw`` is its reduction
  over the hours settled, comparable with its committed kW. Event totals sum the devices that
  have a baseline.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from gateway.domain.baselines import IntervalEnergy


@dataclass(frozen=True, slots=True)
class IntervalSettlement:
    start: datetime
    end: datetime
    event_share: float
    baseline_kwh: float | None
    actual_kwh: float | None
    reduction_kwh: float | None
    measured_share: float


@dataclass(frozen=True, slots=True)
class DeviceTotals:
    baseline_kwh: float | None
    actual_kwh: float | None
    reduction_kwh: float | None
    settled_hours: float
    measured_share: float
    delivered_kw: float | None


def event_share(
    start: datetime, step: timedelta, event_start: datetime, event_end: datetime
) -> float:
    inside = min(start + step, event_end) - max(start, event_start)
    return max(inside / step, 0.0)


def settle_intervals(
    starts: Sequence[datetime],
    step: timedelta,
    event_start: datetime,
    event_end: datetime,
    baselines: Sequence[float | None],
    actual: Mapping[datetime, IntervalEnergy],
) -> list[IntervalSettlement]:
    """``baselines``: kWh per interval of ``starts`` (None: none for it)."""
    settled = []
    for start, baseline in zip(starts, baselines, strict=True):
        share = event_share(start, step, event_start, event_end)
        measured = actual.get(start)
        actual_kwh = None if measured is None else measured.kwh
        reduction = None
        if baseline is not None and actual_kwh is not None:
            reduction = (baseline - actual_kwh) * share
        settled.append(
            IntervalSettlement(
                start=start,
                end=start + step,
                event_share=share,
                baseline_kwh=baseline,
                actual_kwh=actual_kwh,
                reduction_kwh=reduction,
                measured_share=0.0 if measured is None else measured.share,
            )
        )
    return settled


def device_totals(intervals: Sequence[IntervalSettlement], step: timedelta) -> DeviceTotals:
    settled = [i for i in intervals if i.reduction_kwh is not None]
    event_time = math.fsum(i.event_share for i in intervals)
    measured = math.fsum(i.measured_share * i.event_share for i in intervals)
    share = measured / event_time if event_time > 0 else 0.0
    if not settled:
        return DeviceTotals(None, None, None, 0.0, share, None)
    hours = math.fsum(i.event_share for i in settled) * step.total_seconds() / 3600.0
    baseline = math.fsum((i.baseline_kwh or 0.0) * i.event_share for i in settled)
    actual = math.fsum((i.actual_kwh or 0.0) * i.event_share for i in settled)
    reduction = math.fsum(i.reduction_kwh or 0.0 for i in settled)
    return DeviceTotals(
        baseline_kwh=baseline,
        actual_kwh=actual,
        reduction_kwh=reduction,
        settled_hours=hours,
        measured_share=share,
        delivered_kw=reduction / hours if hours > 0 else None,
    )
