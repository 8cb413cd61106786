"""Rebuild an event's meter from its stored samples (resume after a crash, totals on cancel)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime

from gateway.domain.reduction import BaselineMean, EventMeter
from gateway.executor.store import BASELINE, StoredSample


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
