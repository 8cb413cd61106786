"""An event's reduction interval by interval, from the samples the executor stored.

Each interval is measured by the same meter as the whole event (``EventMeter``: baseline from
the samples before the start, values held until the next sample, missing readings left out,
gaps counted), started at the interval's start and ended at its end, so an interval's numbers
follow the event's rules exactly. Intervals are whole multiples of the sampling cadence and
start at the event's start: interval ``j`` holds sample indices ``j*m .. (j+1)*m - 1``.

An interval is *closed* once a later sample is stored (its last value has then been held to
its end) or the event has ended; only closed intervals are given, so no value is unfinished.
An interval in which no device with a baseline was measured has no value: missing, never 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select

from gateway.db.engine import Database
from gateway.db.models import EventSampleRow
from gateway.domain.reduction import BaselineMean, EventMeter, ReductionResult
from gateway.domain.samples import unpack
from gateway.services.results import BASELINE, EVENT


@dataclass(frozen=True, slots=True)
class IntervalReduction:
    start: datetime
    duration: timedelta
    average_reduction_kw: float
    energy_reduction_kwh: float
    coverage: float  # share of the interval's device-sample slots with a reading, 0..1


@dataclass(frozen=True, slots=True)
class ClosedIntervals:
    measured: list[IntervalReduction]
    until: datetime  # every interval before this has closed (measured or not)


@dataclass(frozen=True, slots=True)
class EventWindow:
    """What the meter needs of an event: its id, device count, cadence and window (``end``:
    the scheduled end, or when it was cancelled)."""

    event_id: str
    devices: int
    cadence_seconds: float
    start: datetime
    end: datetime


def samples_per_interval(granularity: timedelta, cadence_seconds: float) -> int:
    """Interval length in samples: the granularity asked, rounded up to whole samples (values
    are not measured more finely than the cadence)."""
    return max(1, math.ceil(granularity.total_seconds() / cadence_seconds - 1e-9))


async def closed_intervals(
    db: Database, window: EventWindow, per_interval: int, after: datetime, *, ended: bool
) -> ClosedIntervals:
    """The measured, closed intervals starting at or after ``after``, in order, and how far
    the intervals have closed."""
    length = per_interval * window.cadence_seconds
    first = max(0, math.ceil((after - window.start).total_seconds() / length - 1e-9))
    async with db.read() as session:
        baseline = BaselineMean(window.devices)
        for row in await session.scalars(
            select(EventSampleRow.power_kw).where(
                EventSampleRow.event_id == window.event_id, EventSampleRow.phase == BASELINE
            )
        ):
            baseline.add(unpack(row))
        rows = (
            await session.execute(
                select(
                    EventSampleRow.sample_index, EventSampleRow.sampled_at, EventSampleRow.power_kw
                )
                .where(
                    EventSampleRow.event_id == window.event_id,
                    EventSampleRow.phase == EVENT,
                    EventSampleRow.sample_index >= first * per_interval,
                )
                .order_by(EventSampleRow.sample_index)
            )
        ).all()
    window_seconds = max((window.end - window.start).total_seconds(), 0.0)
    if ended:
        last = math.ceil(window_seconds / length - 1e-9)  # every interval of the window
    else:
        newest = rows[-1].sample_index if rows else -1
        last = min(newest // per_interval, math.ceil(window_seconds / length - 1e-9))
    baselines = baseline.means()
    by_interval: dict[int, list[tuple[int, datetime, bytes]]] = {}
    for index, at, packed in rows:
        by_interval.setdefault(index // per_interval, []).append((index, at, packed))
    found: list[IntervalReduction] = []
    for j in range(first, last):
        start = window.start + timedelta(seconds=j * length)
        end = min(start + timedelta(seconds=length), window.end)
        if end <= start:
            break
        meter = EventMeter(baselines, window.cadence_seconds, start)
        for index, at, packed in by_interval.get(j, ()):
            if at < end:
                meter.feed(index - j * per_interval, at, unpack(packed))
        result = meter.result(end)
        if _measured(result):
            found.append(
                IntervalReduction(
                    start, end - start, result.average_reduction_kw,
                    result.energy_reduction_kwh, result.coverage,
                )
            )  # fmt: skip
    until = window.start + timedelta(seconds=max(first, last) * length)
    return ClosedIntervals(found, max(after, min(until, window.end)))


def _measured(result: ReductionResult) -> bool:
    return any(d.average_reduction_kw is not None for d in result.devices)
