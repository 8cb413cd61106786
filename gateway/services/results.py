"""An event's results, in one place for every reader: the samples the executor stored, the
meter they replay into, the totals they end in, and the live state of a running event.

The executor writes these (``gateway.executor``); the event service reads them when an event
is cancelled or looked at; reports (OpenADR 3.x) can read them the same way. Nothing here
depends on the executor.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.db.models import EventDeviceRow, EventRow, EventSampleRow
from gateway.domain.reduction import BaselineMean, EventMeter, ReductionResult
from gateway.domain.samples import unpack

logger = logging.getLogger(__name__)

# The two phases of an event's samples.
BASELINE = "baseline"
EVENT = "event"


@dataclass(frozen=True, slots=True)
class StoredSample:
    phase: str
    index: int
    at: datetime
    values: list[float | None]


async def samples_of(session: AsyncSession, event_id: str) -> AsyncIterator[StoredSample]:
    """The event's samples, baseline phase first, each phase in index order, streamed."""
    rows = await session.stream_scalars(
        select(EventSampleRow)
        .where(EventSampleRow.event_id == event_id)
        .order_by(EventSampleRow.phase, EventSampleRow.sample_index)
        .execution_options(yield_per=64)
    )
    async for r in rows:
        yield StoredSample(r.phase, r.sample_index, r.sampled_at, unpack(r.power_kw))


@dataclass(slots=True)
class Replay:
    baseline: BaselineMean
    last_baseline_index: int
    last_event_index: int
    meter: EventMeter | None


async def replay(
    samples: AsyncIterator[StoredSample],
    devices: int,
    cadence_seconds: float,
    window_start: datetime | None,
) -> Replay:
    """Baseline mean, the last indices written, and a meter fed with the event samples.

    ``window_start`` is the event's scheduled start (``start_time``, not ``started_at``: the
    time between them is a gap, as it was for the run that measured it), or None for an event
    that has not started, whose event samples are not replayed. ``samples`` come baseline
    phase first, each phase in index order, one at a time, so a replay holds one sample in
    memory however long the event.
    """
    baseline = BaselineMean(devices)
    last_baseline = last_event = -1
    meter: EventMeter | None = None
    async for sample in samples:
        if sample.phase == BASELINE:
            baseline.add(sample.values)
            last_baseline = sample.index
            continue
        if window_start is None:
            continue
        if meter is None:
            meter = EventMeter(baseline.means(), cadence_seconds, window_start)
        meter.feed(sample.index, sample.at, sample.values)
        last_event = sample.index
    if meter is None and window_start is not None:
        meter = EventMeter(baseline.means(), cadence_seconds, window_start)
    return Replay(baseline, last_baseline, last_event, meter)


def apply_results(row: EventRow, result: ReductionResult) -> None:
    row.average_reduction_kw = result.average_reduction_kw
    row.energy_reduction_kwh = result.energy_reduction_kwh
    row.coverage = result.coverage
    row.gap_seconds = result.gap_seconds
    devices: list[EventDeviceRow] = list(row.devices)
    for device, outcome in zip(devices, result.devices, strict=True):
        device.baseline_kw = outcome.baseline_kw
        device.average_reduction_kw = outcome.average_reduction_kw
        device.energy_reduction_kwh = outcome.energy_reduction_kwh
        device.coverage = outcome.coverage
        device.note = outcome.note


def totals(result: ReductionResult, row: EventRow) -> dict[str, float | None]:
    """The totals every end-of-event message carries, kW and kWh side by side."""
    return {
        "average_reduction_kw": result.average_reduction_kw,
        "energy_reduction_kwh": result.energy_reduction_kwh,
        "target_kw": row.target_kw,
        "target_kwh": row.target_kwh,
        "achievement_rate_kw": (
            result.average_reduction_kw / row.target_kw if row.target_kw > 0 else None
        ),
        "achievement_rate_kwh": (
            result.energy_reduction_kwh / row.target_kwh if row.target_kwh > 0 else None
        ),
        "coverage": result.coverage,
        "gap_seconds": result.gap_seconds,
        "late_start_seconds": row.late_start_seconds,
    }


# --- live state of a running event (Redis) -----------------------------------------------
def live_key(prefix: str, event_id: str) -> str:
    return f"{prefix}event:live:{event_id}"


async def read_live(redis: Redis, prefix: str, event_id: str) -> dict[str, Any] | None:
    """The live state the executor last published for a running event (None: none, or Redis
    is unreachable: the view then shows the stored totals only)."""
    try:
        raw = await redis.get(live_key(prefix, event_id))
    except (RedisError, OSError) as err:
        logger.warning("live state of event %s unavailable: %s", event_id, err)
        return None
    if raw is None:
        return None
    live: dict[str, Any] = json.loads(raw)
    return live
