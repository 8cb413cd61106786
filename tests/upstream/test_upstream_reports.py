"""Telemetry and the achieved reduction go up to the utility as reports, with the right values.

The gateway runs on a clock that moves only when its executor sleeps, so a 10-minute event is
measured in moments; the utility (stock openleadr) and the VENs run in real time."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

import pytest
from redis.asyncio import Redis

from gateway.app import UPSTREAM, build_executor
from gateway.services.container import Services
from gateway.settings import Settings
from gateway.upstream.reports import R_COVERAGE, R_POWER, R_REDUCTION_KW, R_REDUCTION_KWH
from tests.support import Api, FakeClock, power_json
from tests.upstream.conftest import Utility
from tests.vtn.conftest import VenFactory, eventually
from tests.vtn.test_ven_flow import answering, provision, register

START_IN = timedelta(minutes=5)


class Device:
    """10 kW, dropping to 8 kW while the event runs: a 2 kW reduction."""

    def __init__(self, redis: Redis, settings: Settings) -> None:
        self.redis = redis
        self.key = f"{settings.redis_prefix}power:a1"
        self.start: datetime | None = None
        self.end: datetime | None = None

    async def __call__(self, now: datetime) -> None:
        running = self.start is not None and self.end is not None and self.start <= now < self.end
        await self.redis.set(self.key, power_json(8.0 if running else 10.0, now))


@pytest.fixture
def device(redis: Redis, settings: Settings) -> Device:
    return Device(redis, settings)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def settings_overrides(upstream_overrides: dict[str, Any]) -> dict[str, Any]:
    # The baseline window reaches back past now, so one executor round takes the event.
    return {**upstream_overrides, "cadence_seconds": 5.0, "baseline_window_minutes": 5.0}


async def test_a_2_kw_drop_for_10_minutes_is_reported_as_2_kw_and_0_333_kwh(
    utility: Utility, api: Api, make_ven: VenFactory, client: Any, services: Services,
    clock: FakeClock, device: Device,
) -> None:  # fmt: skip
    await provision(api, "ven-a", {"a1": "ra1"})
    ven = make_ven("ven-a", ven_id="ven-a")
    answering(ven, "optIn")
    await register(ven)
    runner = client.app[UPSTREAM]
    await asyncio.wait_for(runner.connected.wait(), 15)
    await device(clock.now())

    # Telemetry: the aggregated power of the gateway's devices, in kW.
    values = await eventually(lambda: _reported(utility, R_POWER), timeout=15)
    assert values[-1][1] == pytest.approx(10.0)

    start = clock.now() + START_IN
    device.start, device.end = start, start + timedelta(minutes=10)
    utility.add_event("ev-r", start, minutes=10, kw=2.0)
    invitation = await eventually(lambda: _first_invitation(api))

    async def polled_until_scheduled() -> bool:
        await ven._poll()  # the VEN answers optIn once the event reaches it
        return await _scheduled(api, invitation["id"])

    await eventually(polled_until_scheduled)

    clock.on_advance = device
    executor = build_executor(services)
    # One round, then only the event's run moves the fake clock: a scheduler loop sleeping on
    # it too would move time under the run, and the instants it skipped would be gaps.
    await executor.tick()
    assert executor.runs, "the executor started no run"
    task = asyncio.ensure_future(asyncio.gather(*executor.runs.values()))
    try:
        event_id = (await api.get(f"/api/invitations/{invitation['id']}"))["event_id"]
        done = await eventually(lambda: _completed(api, event_id), timeout=30)
        assert done["results"]["average_reduction_kw"] == pytest.approx(2.0, rel=0.01)
        # Live values go up while the event runs; the final ones once it has ended.
        kwh = await eventually(lambda: _final(utility, R_REDUCTION_KWH, 2.0 / 6), timeout=15)
        kw = await eventually(lambda: _reported(utility, R_REDUCTION_KW), timeout=15)
        coverage = await eventually(lambda: _reported(utility, R_COVERAGE), timeout=15)
    finally:
        await asyncio.wait_for(task, 30)
    assert kw[-1][1] == pytest.approx(2.0, rel=0.01)
    assert kwh[-1][1] == pytest.approx(2.0 / 6, rel=0.01)
    assert coverage[-1][1] == pytest.approx(100.0)
    assert runner.reduction is not None


async def _reported(utility: Utility, r_id: str) -> list[tuple[datetime, float]] | None:
    return utility.reports.get(r_id) or None


async def _final(utility: Utility, r_id: str, expected: float) -> Any:
    values = utility.reports.get(r_id) or []
    return values if values and abs(values[-1][1] - expected) < 0.01 * expected else None


async def _first_invitation(api: Api) -> Any:
    items = (await api.get("/api/invitations"))["items"]
    return items[0] if items else None


async def _scheduled(api: Api, invitation_id: str) -> bool:
    return bool((await api.get(f"/api/invitations/{invitation_id}"))["status"] == "scheduled")


async def _completed(api: Api, event_id: str) -> Any:
    view = await api.get(f"/api/events/{event_id}")
    return view if view["status"] == "completed" else None
