"""Automatic settlement, on SQLite and PostgreSQL: an event that ran is settled as version 1
by the background worker once its last meter interval has closed, once whoever tries, and by
the next gateway to start when the one that ran it stopped first.

The event and meter history are those of ``test_settlement_api``: 17:00-17:30 local on 15-
minute intervals, 10 kW before the start (2.5 kWh per interval of baseline), the meter reading
1.0 and 1.2 kWh in the event's intervals.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

import pytest
from redis.asyncio import Redis

from gateway.app import build_app, build_executor
from gateway.services.container import Services
from gateway.services.settlement_auto import SETTLE_GRACE
from gateway.settings import Settings
from gateway.workers import BackgroundWorker
from tests.conftest import ADMIN_TOKEN
from tests.settlement.test_settlement_api import START, _csv, _device, _run_event
from tests.support import Api, FakeClock

END = START + timedelta(minutes=30)


@pytest.fixture
def database_url(any_database_url: str) -> str:
    return any_database_url


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"cadence_seconds": 30.0, "meter_sample_seconds": 0, "worker_interval_seconds": 0.05}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START - timedelta(minutes=16))


def _at(clock: FakeClock, when: datetime) -> None:
    clock.advance(seconds=(when - clock.now()).total_seconds())


async def test_an_ended_event_is_settled_once_after_its_last_interval_closes(
    api: Api, services: Services, redis: Redis, settings: Settings, clock: FakeClock
) -> None:
    await _device(api, redis, settings, clock, "s1")
    event = await _run_event(api, services, clock, devices=["s1"])
    await api.post("/api/meter-history", {"csv": _csv("s1")}, status=200)
    worker = BackgroundWorker(services)

    # The last interval (17:15-17:30) closed at the end, but its last slot may still land.
    _at(clock, END + SETTLE_GRACE - timedelta(seconds=1))
    await worker.run_once()
    await api.get(f"/api/events/{event['id']}/settlement", status=404)

    _at(clock, END + SETTLE_GRACE)
    # Two replicas in the same round: one version between them.
    await asyncio.gather(worker.run_once(), BackgroundWorker(services).run_once())
    settled = await api.get(f"/api/events/{event['id']}/settlement")
    assert settled["version"] == 1
    (s1,) = settled["devices"]
    assert [(i["baseline_kwh"], i["actual_kwh"]) for i in s1["intervals"]] == [
        (2.5, 1.0), (2.5, 1.2),
    ]  # fmt: skip
    assert settled["totals"]["reduction_kwh"] == pytest.approx(2.8, abs=1e-9)
    await worker.run_once()
    assert await services.settlement.versions(event["id"]) == 1

    # Late meter data: not the worker's business; the operator's recompute makes version 2.
    late = _csv("s1").replace(f"s1,{(START + timedelta(minutes=15)).isoformat()},1.2",
                              f"s1,{(START + timedelta(minutes=15)).isoformat()},0.7")  # fmt: skip
    await api.post("/api/meter-history", {"csv": late}, status=200)
    await worker.run_once()
    assert await services.settlement.versions(event["id"]) == 1
    again = await api.post(f"/api/events/{event['id']}/settlement", {}, status=201)
    assert again["version"] == 2
    assert again["totals"]["reduction_kwh"] == pytest.approx(1.5 + 1.8, abs=1e-9)


async def test_an_event_cancelled_after_its_start_is_settled_to_the_cancel(
    api: Api, services: Services, redis: Redis, settings: Settings, clock: FakeClock
) -> None:
    await _device(api, redis, settings, clock, "s1")
    steady = clock.on_advance
    assert steady is not None
    ran = await api.post(
        "/api/events",
        {"start_time": START.isoformat(), "duration_minutes": 30, "target_kw": 8.0,
         "devices": ["s1"]},
        status=201,
    )  # fmt: skip
    never = await api.post(
        "/api/events",
        {"start_time": (END + timedelta(hours=1)).isoformat(), "duration_minutes": 30,
         "target_kw": 8.0, "devices": ["s1"]},
        status=201,
    )  # fmt: skip
    cancel_at = START + timedelta(minutes=20)

    async def cancelling(now: datetime) -> None:
        await steady(now)
        if now >= cancel_at and clock.on_advance is cancelling:
            clock.on_advance = steady
            await services.events.cancel(ran["id"], "the operator stops it")

    clock.on_advance = cancelling
    executor = build_executor(services)
    clock.advance(minutes=1)
    await executor.tick()
    await asyncio.gather(*executor.runs.values())
    stopped = await api.get(f"/api/events/{ran['id']}")
    assert stopped["status"] == "cancelled"
    await services.events.cancel(never["id"], "not needed")
    _at(clock, END + SETTLE_GRACE)  # the cancel fell in the 17:15 interval: it closes at 17:30
    await api.post("/api/meter-history", {"csv": _csv("s1")}, status=200)
    await BackgroundWorker(services).run_once()
    settled = await api.get(f"/api/events/{ran['id']}/settlement")
    assert settled["version"] == 1
    ended = datetime.fromisoformat(stopped["ended_at"])
    assert datetime.fromisoformat(settled["end_time"]) == ended
    (s1,) = settled["devices"]
    shares = [i["event_share"] for i in s1["intervals"]]
    quarter = timedelta(minutes=15)
    assert shares == [1.0, pytest.approx((ended - START - quarter) / quarter)]
    assert s1["reduction_kwh"] == pytest.approx(1.5 + 1.3 * shares[1], abs=1e-9)
    # Cancelled before it started: nothing to settle, and the worker does not try.
    await api.get(f"/api/events/{never['id']}/settlement", status=404)
    assert await services.settlement.versions(never["id"]) == 0


async def test_an_event_that_ended_while_no_worker_ran_is_settled_at_the_next_start(
    api: Api, services: Services, redis: Redis, settings: Settings, clock: FakeClock,
    aiohttp_client: Any,
) -> None:  # fmt: skip
    await _device(api, redis, settings, clock, "s1")
    event = await _run_event(api, services, clock, devices=["s1"])  # no worker runs here
    await api.post("/api/meter-history", {"csv": _csv("s1")}, status=200)
    _at(clock, END + timedelta(hours=2))
    assert await services.settlement.versions(event["id"]) == 0

    started = await aiohttp_client(build_app(settings, admin_token=ADMIN_TOKEN, clock=clock))
    for _ in range(200):
        if await services.settlement.versions(event["id"]):
            break
        await asyncio.sleep(0.05)
    view = await Api(started).get(f"/api/events/{event['id']}/settlement")
    assert view["version"] == 1
    assert view["totals"]["reduction_kwh"] == pytest.approx(2.8, abs=1e-9)
