"""Real time, short cadence: the start is on time and every sample lands on its instant."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from redis.asyncio import Redis
from sqlalchemy import select

from gateway.app import build_executor
from gateway.db.models import EventSampleRow
from gateway.services.container import Services
from gateway.settings import Settings
from tests.realtime_events import play_drop, schedule_event
from tests.support import Api

CADENCE = 0.2


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"cadence_seconds": CADENCE, "baseline_window_minutes": 0.01}


async def test_start_within_a_second_and_samples_within_100_ms_of_their_instant(
    api: Api, services: Services, redis: Redis, settings: Settings
) -> None:
    await api.device("d1")
    start = datetime.now(UTC) + timedelta(seconds=2.0)
    end = start + timedelta(seconds=3)
    event_id = await schedule_event(services, start, (end - start).total_seconds())

    executor = build_executor(services)
    live: list[dict[str, Any]] = []
    key = f"{settings.redis_prefix}power:d1"
    tasks = [asyncio.create_task(play_drop(redis, key, start)), asyncio.create_task(executor.run())]
    try:
        for _ in range(150):  # up to 15 s, polling as a user of the API would
            view = await services.events.get(event_id)
            if view.status == "completed":
                break
            if view.status == "active" and view.live and view.live["sample_index"] >= 5:
                live.append(view.live)
            await asyncio.sleep(0.1)
    finally:
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await executor.close()

    done = await api.get(f"/api/events/{event_id}")
    assert done["status"] == "completed"
    late = datetime.fromisoformat(done["started_at"]) - start
    assert timedelta(0) <= late < timedelta(seconds=1)
    async with services.db.read() as session:
        samples = (
            await session.scalars(
                select(EventSampleRow).where(
                    EventSampleRow.event_id == event_id, EventSampleRow.phase == "event"
                )
            )
        ).all()
    # 15 instants. A run that gets going more than half a cadence after an instant leaves
    # that instant as a gap rather than sampling it late; on a loaded CI machine one such
    # stall may happen, two would be a fault.
    indices = sorted(sample.sample_index for sample in samples)
    assert set(indices) <= set(range(15))
    assert len(indices) >= 14, indices
    for sample in samples:
        due = start + timedelta(seconds=sample.sample_index * CADENCE)
        assert abs((sample.sampled_at - due).total_seconds()) <= 0.1, sample.sample_index
    assert live, "GET /api/events/{id} showed no live state while the event ran"
    assert live[-1]["current_reduction_kw"] == pytest.approx(4.0)
    assert live[-1]["device_power_kw"] == {"d1": 6.0}
    assert live[-1]["devices_total"] == 1
    assert done["live"] is None  # gone once the event ended
    results = done["results"]
    assert results["average_reduction_kw"] == pytest.approx(4.0, rel=0.05)
    assert results["energy_reduction_kwh"] == pytest.approx(4.0 * 3 / 3600, rel=0.05)
