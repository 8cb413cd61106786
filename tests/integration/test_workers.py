"""The background loop: auto-responses when due, expiry, snapshots on their interval."""

from __future__ import annotations

from typing import Any

import pytest
from redis.asyncio import Redis

from gateway.services.container import Services
from gateway.settings import Settings
from gateway.workers import BackgroundWorker
from tests.support import Api, MutableClock, in_minutes, power_json


@pytest.fixture
def clock() -> MutableClock:
    return MutableClock()


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"flexibility_snapshot_interval_seconds": 60}


async def test_one_round_does_every_due_step(
    api: Api, services: Services, redis: Redis, settings: Settings, clock: MutableClock
) -> None:
    worker = BackgroundWorker(services)
    await api.device("a")
    await api.put(
        "/api/auto-response",
        {"enabled": True, "response_delay_seconds": 30, "min_notice_minutes": 10},
        status=200,
    )
    auto = await api.invite(["a"], event_time=in_minutes(60, clock))
    await api.put("/api/auto-response", {"enabled": False}, status=200)
    manual = await api.invite(["a"], event_time=in_minutes(5, clock))

    await worker.run_once()
    assert len(await services.flexibility.history(hours=1, limit=10)) == 1
    assert (await api.get(f"/api/invitations/{auto['id']}"))["status"] == "pending"

    clock.advance(seconds=30)
    await redis.set(f"{settings.redis_prefix}power:a", power_json(8.0, clock.now()))
    await worker.run_once()
    # The due auto-response ran with the configuration in force now: disabled.
    assert "disabled" in (await api.get(f"/api/invitations/{auto['id']}"))["auto_response"]["note"]
    assert len(await services.flexibility.history(hours=1, limit=10)) == 1  # not due yet

    clock.advance(minutes=5)
    await worker.run_once()
    assert (await api.get(f"/api/invitations/{manual['id']}"))["status"] == "expired"
    snapshots = await services.flexibility.history(hours=1, limit=10)
    assert len(snapshots) == 2
    assert snapshots[0].total_available_kw == 0.0  # instructions default to "off"


async def test_a_failing_step_does_not_stop_the_others(
    api: Api,
    services: Services,
    clock: MutableClock,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await api.device("a")
    inv = await api.invite(["a"], event_time=in_minutes(1, clock))

    async def broken() -> int:
        raise RuntimeError("auto-response store unreachable")

    monkeypatch.setattr(services.auto_response, "respond_due", broken)
    clock.advance(minutes=1)
    await BackgroundWorker(services).run_once()
    assert (await api.get(f"/api/invitations/{inv['id']}"))["status"] == "expired"
    assert "background step 'auto-response' failed" in caplog.text
