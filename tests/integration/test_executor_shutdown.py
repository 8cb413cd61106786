"""Shutdown mid-event: the executor stops between two steps, within 3 s, and hands the event on.

Real time, 0.2 s cadence. A second SQLite connection holding the write lock stands in for a
slow database: the run is caught in the middle of storing a sample when the stop comes.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from redis.asyncio import Redis

from gateway.app import build_executor
from gateway.executor.scheduler import STOP_CANCEL_SECONDS, STOP_GRACE_SECONDS
from gateway.services.container import Services
from gateway.settings import Settings
from tests.realtime_events import (
    event_row,
    event_samples,
    play_drop,
    schedule_event,
    wait_for_status,
)
from tests.support import Api

CADENCE = 0.2
EVENT_SECONDS = 5.0
# What app.py may spend on the executor of the 10 s a SIGTERM allows.
STOP_BOUND = 3.0


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"cadence_seconds": CADENCE, "baseline_window_minutes": 0.01}


class WriteLock:
    """Another connection's write transaction: the gateway's writers wait for it."""

    def __init__(self, settings: Settings) -> None:
        path = settings.resolved_database_url.split("///", 1)[1]
        self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)

    async def take(self) -> None:
        await asyncio.to_thread(self._conn.execute, "BEGIN IMMEDIATE")

    async def drop(self) -> None:
        await asyncio.to_thread(self._conn.execute, "ROLLBACK")

    def close(self) -> None:
        self._conn.close()


@pytest.fixture
def write_lock(settings: Settings) -> Iterator[WriteLock]:
    lock = WriteLock(settings)
    yield lock
    with contextlib.suppress(sqlite3.Error):
        lock._conn.execute("ROLLBACK")
    lock.close()


@pytest.fixture
async def device(api: Api, redis: Redis, settings: Settings) -> Any:
    await api.device("d1")
    return lambda start: asyncio.create_task(
        play_drop(redis, f"{settings.redis_prefix}power:d1", start, every=0.02)
    )


async def test_a_stop_mid_event_ends_the_step_in_progress_and_a_new_executor_resumes(
    services: Services, redis: Redis, settings: Settings, write_lock: WriteLock, device: Any
) -> None:
    start = datetime.now(UTC) + timedelta(seconds=1.5)
    event_id = await schedule_event(services, start, EVENT_SECONDS)
    player = device(start)
    first = build_executor(services, owner="first")
    first_task = asyncio.create_task(first.run())
    second = build_executor(services, owner="second")
    second_task: asyncio.Task[None] | None = None
    try:
        await wait_for_status(services, event_id, "active", within=3)
        await asyncio.sleep(1.5)
        await write_lock.take()
        stored = len(await event_samples(services, event_id))  # WAL: reads go on
        await asyncio.sleep(0.5)  # the run's next sample waits on the database
        began = time.monotonic()
        stopping = asyncio.create_task(first.stop(first_task))
        await asyncio.sleep(0.3)
        await write_lock.drop()
        await stopping
        took = time.monotonic() - began
        # The lease is released: nobody need wait for it to lapse.
        assert await redis.get(f"{settings.redis_prefix}executor:lease:{event_id}") is None
        assert (await event_row(services, event_id)).status == "active"
        before = await event_samples(services, event_id)

        await asyncio.sleep(1.0)  # down
        resumed_at = datetime.now(UTC)
        second_task = asyncio.create_task(second.run())
        await wait_for_status(services, event_id, "completed", within=EVENT_SECONDS + 3)
    finally:
        if not first_task.done():
            await first.stop(first_task)
        if second_task is not None:
            await second.stop(second_task)
        player.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await player

    assert first_task.done()
    assert took < STOP_BOUND
    # The sample being stored when the stop came was stored, not cut off, and it was the last.
    assert len(before) == stored + 1
    done = await event_row(services, event_id)
    assert done.gap_seconds is not None
    down = (resumed_at - before[-1].sampled_at).total_seconds()
    # The last sample holds one cadence; the next one is due within a cadence of the restart.
    assert down - 2 * CADENCE <= done.gap_seconds <= down + 1.5, (done.gap_seconds, down)
    assert done.coverage == pytest.approx(1 - done.gap_seconds / EVENT_SECONDS, abs=0.08)
    assert done.average_reduction_kw == pytest.approx(4.0, rel=0.02)
    assert done.energy_reduction_kwh == pytest.approx(4.0 * EVENT_SECONDS / 3600, rel=0.02)


async def test_a_stop_is_bounded_when_a_run_is_stuck_in_a_database_call(
    services: Services, write_lock: WriteLock, device: Any
) -> None:
    start = datetime.now(UTC) + timedelta(seconds=1.5)
    event_id = await schedule_event(services, start, EVENT_SECONDS)
    player = device(start)
    executor = build_executor(services, owner="stuck")
    task = asyncio.create_task(executor.run())
    runs: list[asyncio.Task[None]] = []
    try:
        await wait_for_status(services, event_id, "active", within=3)
        runs = list(executor.runs.values())
        await write_lock.take()  # held far longer than the shutdown may take
        await asyncio.sleep(0.3)
        began = time.monotonic()
        await executor.stop(task)
        took = time.monotonic() - began
    finally:
        await write_lock.drop()
        player.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await player
        # What was left behind ends once the database answers: wait for it, bounded.
        await asyncio.wait([task, *runs], timeout=10)

    assert STOP_GRACE_SECONDS <= took < STOP_GRACE_SECONDS + STOP_CANCEL_SECONDS + 0.5
    assert STOP_GRACE_SECONDS + STOP_CANCEL_SECONDS <= STOP_BOUND
    assert task.done()
    assert all(run.done() for run in runs)
    assert (await event_row(services, event_id)).status == "active"  # the next holder goes on
