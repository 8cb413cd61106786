"""A running event whose end the operator moves (its invitation's duration changed once its
event time came): the executor ends it at the new end, and so does a run resumed after a
restart. On a fake clock, with real Redis and database."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from redis.asyncio import Redis

from gateway.app import build_executor
from gateway.services.container import Services
from gateway.settings import Settings
from tests.integration.test_executor import CADENCE, Device, _run_all, _samples
from tests.support import Api, FakeClock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def device(api: Api, redis: Redis, settings: Settings, clock: FakeClock) -> Device:
    await api.device("d1")
    synthetic = Device(redis, settings, "d1")
    clock.on_advance = synthetic
    await synthetic.write(clock.now())
    return synthetic


async def _scheduled(api: Api, clock: FakeClock, minutes: int) -> tuple[Any, datetime]:
    """An invitation of d1 for ``minutes`` from 15 min on (4 kW), answered yes."""
    start = clock.now() + timedelta(minutes=15)
    invitation = await api.invite(
        ["d1"], event_time=start.isoformat(), duration_minutes=minutes,
        load_kwh=4.0 * minutes / 60, load_percentage=20.0,
    )  # fmt: skip
    await api.answer(invitation["id"], "d1", committed_kw=4.0)
    return await api.get(f"/api/invitations/{invitation['id']}"), start


def _new_duration(
    api: Api, invitation: Any, start: datetime, at_minute: float, minutes: int
) -> Callable[[datetime], Awaitable[None]]:
    """A device hook: ``at_minute`` minutes into the event, its duration becomes ``minutes``."""
    done: list[bool] = []

    async def hook(now: datetime) -> None:
        if not done and now >= start + timedelta(minutes=at_minute):
            done.append(True)
            body = {
                "event_time": start.isoformat(), "duration_minutes": minutes,
                "load_kwh": invitation["load_kwh"], "load_percentage": 20.0, "devices": ["d1"],
            }  # fmt: skip
            await api.put(f"/api/invitations/{invitation['id']}", body, status=200)

    return hook


@pytest.mark.parametrize(
    ("at_minute", "minutes"),
    [(10, 20), (10, 40), (30 - 2 / 60, 40)],  # the last: after the last sample of the 30
)
async def test_a_running_event_ends_at_its_new_end(
    api: Api, services: Services, clock: FakeClock, device: Device, at_minute: float,
    minutes: int,
) -> None:  # fmt: skip
    invitation, start = await _scheduled(api, clock, 30)
    device.shed_from = start
    device.hooks.append(_new_duration(api, invitation, start, at_minute, minutes))
    await _run_all(build_executor(services))

    done = await api.get(f"/api/events/{invitation['event_id']}")
    end = start + timedelta(minutes=minutes)
    assert (done["status"], datetime.fromisoformat(done["end_time"])) == ("completed", end)
    ended = datetime.fromisoformat(done["ended_at"])
    assert timedelta(0) <= ended - end < timedelta(seconds=1)
    during = [s for s in await _samples(services, invitation["event_id"]) if s.phase == "event"]
    assert len(during) == minutes * 60 / CADENCE
    assert max(s.sampled_at for s in during) < end
    results = done["results"]
    assert results["coverage"] == 1.0
    assert results["average_reduction_kw"] == pytest.approx(4.0, rel=1e-3)
    assert results["energy_reduction_kwh"] == pytest.approx(4.0 * minutes / 60, rel=1e-3)


async def test_a_run_resumed_after_a_restart_ends_at_the_new_end(
    api: Api, services: Services, clock: FakeClock, device: Device
) -> None:
    invitation, start = await _scheduled(api, clock, 30)
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
    device.hooks.clear()
    # While it is down, the operator shortens the event to 20 minutes.
    await _new_duration(api, invitation, start, 0, 20)(clock.now())

    await _run_all(build_executor(services, owner="second"))
    done = await api.get(f"/api/events/{invitation['event_id']}")
    end = start + timedelta(minutes=20)
    assert done["status"] == "completed"
    assert timedelta(0) <= datetime.fromisoformat(done["ended_at"]) - end < timedelta(seconds=1)
    during = [s for s in await _samples(services, invitation["event_id"]) if s.phase == "event"]
    assert max(s.sampled_at for s in during) < end
    assert done["results"]["energy_reduction_kwh"] == pytest.approx(4.0 * 20 / 60, rel=1e-3)
