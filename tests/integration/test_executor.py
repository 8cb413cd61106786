"""The executor on a fake clock: hour-long events in moments, real Redis and database."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

import pytest
from redis.asyncio import Redis
from sqlalchemy import select

from gateway.app import build_executor
from gateway.db.models import EventSampleRow
from gateway.domain.samples import unpack
from gateway.executor import store
from gateway.executor.scheduler import Executor
from gateway.services.container import Services
from gateway.settings import Settings
from tests.support import Api, ChannelRecorder, FakeClock, power_json

CADENCE = 5.0


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


class Device:
    """A synthetic device on the power bus: 10 kW, 6 kW while shedding, sometimes silent."""

    def __init__(self, redis: Redis, settings: Settings, device_id: str) -> None:
        self.redis = redis
        self.key = f"{settings.redis_prefix}power:{device_id}"
        self.shed_from: datetime | None = None
        self.silent_every: int | None = None  # every n-th sample slot has no reading
        self.hooks: list[Any] = []

    async def write(self, now: datetime) -> None:
        kw = 6.0 if self.shed_from is not None and now >= self.shed_from else 10.0
        if self.silent_every and self.shed_from and now >= self.shed_from:
            slot = int((now - self.shed_from).total_seconds() // CADENCE)
            if slot % self.silent_every == 0:
                await self.redis.delete(self.key)
                return
        await self.redis.set(self.key, power_json(kw, now))

    async def __call__(self, now: datetime) -> None:
        await self.write(now)
        for hook in self.hooks:
            await hook(now)


async def _event(api: Api, clock: FakeClock, start_in: timedelta, minutes: int) -> Any:
    return await api.post(
        "/api/events",
        {
            "start_time": (clock.now() + start_in).isoformat(),
            "duration_minutes": minutes,
            "devices": ["d1"],
            "target_kw": 4.0,
        },
        status=201,
    )


async def _run_all(executor: Executor) -> None:
    await executor.tick()
    assert executor.runs, "the executor started no run"
    await asyncio.gather(*executor.runs.values())


@pytest.fixture
async def device(api: Api, redis: Redis, settings: Settings, clock: FakeClock) -> Device:
    await api.device("d1")
    synthetic = Device(redis, settings, "d1")
    clock.on_advance = synthetic
    await synthetic.write(clock.now())
    return synthetic


async def _samples(services: Services, event_id: str) -> list[EventSampleRow]:
    async with services.db.read() as session:
        rows = await session.scalars(
            select(EventSampleRow)
            .where(EventSampleRow.event_id == event_id)
            .order_by(EventSampleRow.phase, EventSampleRow.sample_index)
        )
        return list(rows)


async def test_event_starts_on_time_and_measures_reduction_against_its_baseline(
    api: Api, services: Services, clock: FakeClock, device: Device, dr_events: ChannelRecorder
) -> None:
    event = await _event(api, clock, timedelta(minutes=16), 30)
    start = datetime.fromisoformat(event["start_time"])
    device.shed_from = start
    executor = build_executor(services)
    await executor.tick()
    assert executor.runs == {}  # the baseline window opens 15 min before the start
    clock.advance(minutes=1)
    await _run_all(executor)

    done = await api.get(f"/api/events/{event['id']}")
    assert done["status"] == "completed"
    started = datetime.fromisoformat(done["started_at"])
    assert timedelta(0) <= started - start < timedelta(seconds=1)
    assert done["late_start_seconds"] == 0.0
    results = done["results"]
    assert results["average_reduction_kw"] == pytest.approx(4.0, rel=1e-3)
    assert results["energy_reduction_kwh"] == pytest.approx(2.0, rel=1e-3)
    assert results["coverage"] == 1.0
    assert results["gap_seconds"] == 0.0
    assert done["devices"][0]["baseline_kw"] == pytest.approx(10.0)

    samples = await _samples(services, event["id"])
    baseline = [s for s in samples if s.phase == "baseline"]
    during = [s for s in samples if s.phase == "event"]
    assert len(baseline) == 15 * 60 / CADENCE
    assert len(during) == 30 * 60 / CADENCE
    for sample in during:  # anchored: sample k lands at start + k x cadence
        due = start + timedelta(seconds=sample.sample_index * CADENCE)
        assert abs((sample.sampled_at - due).total_seconds()) <= 0.1
        assert unpack(sample.power_kw) == [6.0]

    await dr_events.wait_for(lambda ms: any(m["event"] == "event_completed" for m in ms))
    completed = dr_events.named("event_completed")[0]
    assert completed["average_reduction_kw"] == pytest.approx(4.0, rel=1e-3)
    assert completed["energy_reduction_kwh"] == pytest.approx(2.0, rel=1e-3)
    assert completed["achievement_rate_kw"] == pytest.approx(1.0, rel=1e-3)
    assert completed["achievement_rate_kwh"] == pytest.approx(1.0, rel=1e-3)
    assert len(dr_events.named("event_started")) == 1
    progress = dr_events.named("event_progress")
    assert len(progress) == 360 // 10
    assert progress[-1]["current_reduction_kw"] == pytest.approx(4.0)

    analytics = await api.get("/api/analytics", days=1)
    assert analytics["completed_events"] == 1
    assert analytics["total_energy_reduction_kwh"] == pytest.approx(2.0, rel=1e-3)
    assert analytics["average_reduction_kw"] == pytest.approx(4.0, rel=1e-3)
    assert analytics["average_duration_minutes"] == pytest.approx(30.0, abs=0.05)


async def test_missing_readings_lower_coverage_and_leave_the_reduction_unbiased(
    api: Api, services: Services, clock: FakeClock, device: Device
) -> None:
    event = await _event(api, clock, timedelta(minutes=15), 30)
    device.shed_from = datetime.fromisoformat(event["start_time"])
    device.silent_every = 3
    await _run_all(build_executor(services))
    results = (await api.get(f"/api/events/{event['id']}"))["results"]
    assert results["coverage"] == pytest.approx(2 / 3, abs=0.01)
    assert results["average_reduction_kw"] == pytest.approx(4.0, rel=1e-3)
    assert results["energy_reduction_kwh"] == pytest.approx(2.0, rel=1e-3)
    stored = [unpack(s.power_kw)[0] for s in await _samples(services, event["id"])]
    assert None in stored  # kept as missing, never as 0 kW
    assert 0.0 not in stored


async def test_late_start_is_recorded_and_a_passed_window_is_missed(
    api: Api, services: Services, clock: FakeClock, device: Device
) -> None:
    late = await _event(api, clock, timedelta(minutes=1), 10)
    gone = await _event(api, clock, timedelta(minutes=2), 5)
    clock.advance(minutes=8)  # the gateway was down
    device.shed_from = clock.now()
    await device(clock.now())
    await _run_all(build_executor(services))
    ran = await api.get(f"/api/events/{late['id']}")
    assert ran["status"] == "completed"
    assert ran["late_start_seconds"] == pytest.approx(7 * 60, abs=1)
    assert ran["devices"][0]["note"] == "no baseline"  # nobody sampled before the start
    # The 7 minutes nobody measured are a gap, not a shorter event.
    assert ran["results"]["gap_seconds"] == pytest.approx(7 * 60, abs=1)
    assert ran["results"]["coverage"] == pytest.approx(3 / 10)
    missed = await api.get(f"/api/events/{gone['id']}")
    assert missed["status"] == "missed"
    assert missed["started_at"] is None


async def test_a_late_start_is_a_gap_and_a_restart_after_it_adds_up_the_same(
    api: Api, services: Services, clock: FakeClock, device: Device
) -> None:
    event = await _event(api, clock, timedelta(minutes=15), 10)
    start = datetime.fromisoformat(event["start_time"])
    device.shed_from = start

    async def run_until(owner: str, crash_at: datetime | None, back_at: datetime) -> None:
        executor = build_executor(services, owner=owner)
        crashed: list[bool] = []

        async def crash(now: datetime) -> None:
            if crash_at is not None and not crashed and now >= crash_at:
                crashed.append(True)
                for task in executor.runs.values():
                    task.cancel()  # the process dies here

        device.hooks[:] = [crash]
        await executor.tick()
        await asyncio.gather(*executor.runs.values(), return_exceptions=True)
        device.hooks.clear()
        clock.advance(seconds=(back_at - clock.now()).total_seconds())  # down until then
        await device(clock.now())

    # Down from between two baseline instants until 2 min after the start; then down again
    # from between two event instants (the last one taken at +295 s) until +360 s.
    await run_until("first", start - timedelta(seconds=28), start + timedelta(minutes=2))
    assert (await api.get(f"/api/events/{event['id']}"))["status"] == "scheduled"
    await run_until("second", start + timedelta(seconds=298), start + timedelta(seconds=360))
    assert (await api.get(f"/api/events/{event['id']}"))["status"] == "active"
    await _run_all(build_executor(services, owner="third"))

    done = await api.get(f"/api/events/{event['id']}")
    assert done["status"] == "completed"
    assert done["late_start_seconds"] == pytest.approx(120)
    results = done["results"]
    assert results["gap_seconds"] == pytest.approx(120 + 60)
    # 120 instants: 24 before the late start and 12 in the second outage never measured.
    assert results["coverage"] == pytest.approx(84 / 120)
    assert results["average_reduction_kw"] == pytest.approx(4.0, rel=1e-3)
    assert results["energy_reduction_kwh"] == pytest.approx(4.0 * 10 / 60, rel=1e-3)
    assert done["devices"][0]["baseline_kw"] == pytest.approx(10.0)
    during = [s.sample_index for s in await _samples(services, event["id"]) if s.phase == "event"]
    assert during == [*range(24, 60), *range(72, 120)]


async def test_a_stall_mid_event_is_a_gap_never_a_burst_of_late_samples(
    api: Api, services: Services, clock: FakeClock, device: Device
) -> None:
    event = await _event(api, clock, timedelta(minutes=15), 30)
    start = datetime.fromisoformat(event["start_time"])
    device.shed_from = start
    stalled: list[bool] = []

    async def stall_for_a_minute(now: datetime) -> None:
        # Between instants 119 (+595 s) and 120: the run is held up (a write or a Redis call
        # retrying) for a minute.
        if not stalled and now >= start + timedelta(seconds=598):
            stalled.append(True)
            clock.advance(seconds=60)
            await device.write(clock.now())

    device.hooks.append(stall_for_a_minute)
    await _run_all(build_executor(services))
    results = (await api.get(f"/api/events/{event['id']}"))["results"]
    assert results["gap_seconds"] == pytest.approx(60.0)
    assert results["coverage"] == pytest.approx(348 / 360)  # instants 120-131 missed
    assert results["average_reduction_kw"] == pytest.approx(4.0, rel=1e-3)
    assert results["energy_reduction_kwh"] == pytest.approx(2.0, rel=1e-3)
    during = [s for s in await _samples(services, event["id"]) if s.phase == "event"]
    assert [s.sample_index for s in during] == [*range(120), *range(132, 360)]
    for sample in during:  # none taken late, right after the stall
        due = start + timedelta(seconds=sample.sample_index * CADENCE)
        assert abs((sample.sampled_at - due).total_seconds()) <= 0.1


async def test_cancel_stops_a_running_event_within_one_cadence_and_keeps_its_totals(
    api: Api, services: Services, clock: FakeClock, device: Device, dr_events: ChannelRecorder
) -> None:
    event = await _event(api, clock, timedelta(minutes=15), 30)
    start = datetime.fromisoformat(event["start_time"])
    device.shed_from = start
    cancelled_at: list[datetime] = []

    async def cancel_after_ten_minutes(now: datetime) -> None:
        if not cancelled_at and now >= start + timedelta(minutes=10):
            cancelled_at.append(now)
            await api.post(f"/api/events/{event['id']}/cancel", {"reason": "grid ok"}, status=200)

    device.hooks.append(cancel_after_ten_minutes)
    await _run_all(build_executor(services))
    done = await api.get(f"/api/events/{event['id']}")
    assert done["status"] == "cancelled"
    assert done["results"]["average_reduction_kw"] == pytest.approx(4.0, rel=1e-3)
    assert done["results"]["energy_reduction_kwh"] == pytest.approx(4.0 * 10 / 60, rel=0.01)
    last = max(s.sampled_at for s in await _samples(services, event["id"]))
    assert last - cancelled_at[0] <= timedelta(seconds=CADENCE)
    await dr_events.wait_for(lambda ms: any(m["event"] == "event_cancelled" for m in ms))
    message = dr_events.named("event_cancelled")[0]
    assert message["energy_reduction_kwh"] == pytest.approx(4.0 * 10 / 60, rel=0.01)
    assert dr_events.named("event_completed") == []


async def test_a_resumed_run_continues_from_stored_samples_and_reports_the_gap(
    api: Api, services: Services, clock: FakeClock, device: Device
) -> None:
    event = await _event(api, clock, timedelta(minutes=15), 30)
    start = datetime.fromisoformat(event["start_time"])
    device.shed_from = start
    first = build_executor(services, owner="first")
    crashed: list[bool] = []

    async def crash_after_ten_minutes(now: datetime) -> None:
        if not crashed and now >= start + timedelta(minutes=10):
            crashed.append(True)
            for task in first.runs.values():
                task.cancel()  # the process dies here

    device.hooks.append(crash_after_ten_minutes)
    await first.tick()
    await asyncio.gather(*first.runs.values(), return_exceptions=True)
    assert (await api.get(f"/api/events/{event['id']}"))["status"] == "active"
    device.hooks.clear()
    clock.advance(minutes=2)  # down for two minutes

    await _run_all(build_executor(services, owner="second"))
    done = await api.get(f"/api/events/{event['id']}")
    assert done["status"] == "completed"
    results = done["results"]
    assert results["gap_seconds"] == pytest.approx(120, abs=2 * CADENCE)
    assert results["coverage"] == pytest.approx(28 / 30, abs=0.01)
    assert results["average_reduction_kw"] == pytest.approx(4.0, rel=1e-3)
    assert results["energy_reduction_kwh"] == pytest.approx(2.0, rel=1e-3)
    assert done["devices"][0]["baseline_kw"] == pytest.approx(10.0)


async def test_two_executors_run_each_event_once(
    api: Api, services: Services, clock: FakeClock, device: Device
) -> None:
    event = await _event(api, clock, timedelta(minutes=15), 5)
    device.shed_from = datetime.fromisoformat(event["start_time"])
    one, two = build_executor(services, owner="one"), build_executor(services, owner="two")
    await one.tick()
    await two.tick()
    assert list(one.runs) == [event["id"]]
    assert two.runs == {}
    await asyncio.gather(*one.runs.values())
    assert (await api.get(f"/api/events/{event['id']}"))["status"] == "completed"


async def test_an_older_owner_is_fenced_off(
    api: Api, services: Services, clock: FakeClock, device: Device
) -> None:
    event = await _event(api, clock, timedelta(minutes=15), 5)
    start = datetime.fromisoformat(event["start_time"])
    device.shed_from = start
    old = build_executor(services, owner="old")

    async def newer_owner_claims(now: datetime) -> None:
        if now >= start + timedelta(minutes=1):
            await store.claim(services.db, event["id"], 10**9)

    device.hooks.append(newer_owner_claims)
    await old.tick()
    await asyncio.gather(*old.runs.values())
    samples = await _samples(services, event["id"])
    last = max(s.sampled_at for s in samples)
    assert last <= start + timedelta(minutes=1, seconds=CADENCE)
    assert (await api.get(f"/api/events/{event['id']}"))["status"] == "active"


async def test_a_late_started_event_cancelled_counts_its_late_part_as_gap(
    api: Api, services: Services, clock: FakeClock, device: Device
) -> None:
    event = await _event(api, clock, timedelta(minutes=15), 10)
    start = datetime.fromisoformat(event["start_time"])
    device.shed_from = start
    first = build_executor(services, owner="first")

    async def die_before_the_start(now: datetime) -> None:
        if now >= start - timedelta(seconds=28):
            for task in first.runs.values():
                task.cancel()  # the process dies here and is down until +120 s

    device.hooks[:] = [die_before_the_start]
    await first.tick()
    await asyncio.gather(*first.runs.values(), return_exceptions=True)
    clock.advance(seconds=(start + timedelta(minutes=2) - clock.now()).total_seconds())
    await device(clock.now())

    async def cancel_at_five_minutes(now: datetime) -> None:
        if now >= start + timedelta(minutes=5):
            device.hooks.clear()
            await api.post(f"/api/events/{event['id']}/cancel", {"reason": "grid ok"}, status=200)

    device.hooks[:] = [cancel_at_five_minutes]
    await _run_all(build_executor(services, owner="second"))
    done = await api.get(f"/api/events/{event['id']}")
    assert done["status"] == "cancelled"
    results = done["results"]
    # Measured from the scheduled start, as a completed event is: the first 120 s are gap.
    assert results["gap_seconds"] == pytest.approx(120, abs=CADENCE)
    assert results["coverage"] == pytest.approx(36 / 60, abs=1 / 60)
    assert results["average_reduction_kw"] == pytest.approx(4.0, rel=1e-3)
