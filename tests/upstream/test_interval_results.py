"""An event's reduction minute by minute, from the samples a real executor stored (fake clock,
real Redis and database): the intervals a reduction report sends, worked out by hand here."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

import pytest
from redis.asyncio import Redis

from gateway.app import build_executor
from gateway.services.container import Services
from gateway.services.interval_results import (
    ClosedIntervals,
    EventWindow,
    closed_intervals,
    samples_per_interval,
)
from gateway.settings import Settings
from tests.support import Api, FakeClock, power_json

CADENCE = 5.0
MINUTE = samples_per_interval(timedelta(minutes=1), CADENCE)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


class Device:
    """10 kW before the event, 6 kW in it (a 4 kW reduction); no reading in the sample slots
    listed in ``silent`` (event sample indices)."""

    def __init__(self, redis: Redis, settings: Settings, start: datetime) -> None:
        self.redis = redis
        self.key = f"{settings.redis_prefix}power:d1"
        self.start = start
        self.silent: set[int] = set()
        self.at: dict[datetime, Any] = {}

    async def __call__(self, now: datetime) -> None:
        for when in [w for w in self.at if now >= w]:
            await self.at.pop(when)()
        slot = round((now - self.start).total_seconds() / CADENCE)
        if now >= self.start and slot in self.silent:
            await self.redis.delete(self.key)
            return
        await self.redis.set(self.key, power_json(6.0 if now >= self.start else 10.0, now))


async def _event(api: Api, clock: FakeClock, minutes: int) -> tuple[str, datetime]:
    await api.device("d1")
    event = await api.post(
        "/api/events",
        {
            "start_time": (clock.now() + timedelta(minutes=15)).isoformat(),
            "duration_minutes": minutes,
            "devices": ["d1"],
            "target_kw": 4.0,
        },
        status=201,
    )
    return str(event["id"]), datetime.fromisoformat(event["start_time"])


async def _run(services: Services) -> None:
    executor = build_executor(services)
    await executor.tick()
    assert executor.runs, "the executor started no run"
    await asyncio.gather(*executor.runs.values())


def _window(event_id: str, start: datetime, minutes: float) -> EventWindow:
    return EventWindow(event_id, 1, CADENCE, start, start + timedelta(minutes=minutes))


async def test_minutes_close_one_by_one_and_a_silent_minute_has_no_value(
    api: Api, services: Services, clock: FakeClock, redis: Redis, settings: Settings
) -> None:
    event_id, start = await _event(api, clock, 5)
    device = Device(redis, settings, start)
    # Minute 1 has no reading at all; minute 3 lacks 3 of its 12 readings (slots 36, 40, 44).
    device.silent = {*range(12, 24), 36, 40, 44}
    seen: list[ClosedIntervals] = []

    async def look() -> None:  # at +2:02, samples 0..24 stored: minutes 0 and 1 have closed
        seen.append(await closed_intervals(services.db, window, MINUTE, start, ended=False))

    window = _window(event_id, start, 5)
    device.at[start + timedelta(minutes=2, seconds=2)] = look
    clock.on_advance = device
    await device(clock.now())
    await _run(services)

    (running,) = seen
    assert running.until == start + timedelta(minutes=2)
    assert [i.start for i in running.measured] == [start]  # minute 1: nothing measured
    ended = await closed_intervals(services.db, window, MINUTE, running.until, ended=True)
    assert ended.until == window.end
    assert [(i.start, i.duration) for i in ended.measured] == [
        (start + timedelta(minutes=k), timedelta(minutes=1)) for k in (2, 3, 4)
    ]
    # Missing readings lower the coverage, never the reduction: 4 kW, 4/60 kWh each minute.
    assert [i.average_reduction_kw for i in ended.measured] == pytest.approx([4.0] * 3, abs=1e-9)
    assert [i.energy_reduction_kwh for i in ended.measured] == pytest.approx(
        [4.0 / 60] * 3, abs=1e-9
    )
    assert [i.coverage for i in ended.measured] == pytest.approx([1.0, 9 / 12, 1.0], abs=1e-9)
    # The event's coverage over the same slots: 60 - 15 readings of 60.
    done = await api.get(f"/api/events/{event_id}")
    assert done["results"]["coverage"] == pytest.approx(45 / 60, abs=1e-9)


async def test_intervals_are_whole_samples_and_the_last_one_stops_at_the_end(
    api: Api, services: Services, clock: FakeClock, redis: Redis, settings: Settings
) -> None:
    event_id, start = await _event(api, clock, 2)
    device = Device(redis, settings, start)
    clock.on_advance = device
    await device(clock.now())
    await _run(services)
    # 50 s asked: 10 samples each; a 2-minute event is 50 s, 50 s and the last 20 s.
    every = samples_per_interval(timedelta(seconds=50), CADENCE)
    closed = await closed_intervals(
        services.db, _window(event_id, start, 2), every, start, ended=True
    )
    assert [(i.start - start, i.duration) for i in closed.measured] == [
        (timedelta(0), timedelta(seconds=50)),
        (timedelta(seconds=50), timedelta(seconds=50)),
        (timedelta(seconds=100), timedelta(seconds=20)),
    ]
    assert [i.energy_reduction_kwh for i in closed.measured] == pytest.approx(
        [4.0 * 50 / 3600, 4.0 * 50 / 3600, 4.0 * 20 / 3600], abs=1e-9
    )
    # Asked again from where the first 50 s were sent: the rest only.
    rest = await closed_intervals(
        services.db, _window(event_id, start, 2), every, start + timedelta(seconds=50),
        ended=True,
    )  # fmt: skip
    assert [i.start - start for i in rest.measured] == [
        timedelta(seconds=50),
        timedelta(seconds=100),
    ]
