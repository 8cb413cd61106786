"""Real-time executor tests' shared parts: an event written straight to the database, a device
that drops from 10 kW to 6 kW at the start (a 4 kW reduction), and reading the event back."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from datetime import UTC, datetime, timedelta

from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy import select

from gateway.db.models import EventDeviceRow, EventRow, EventSampleRow
from gateway.services.container import Services
from tests.support import power_json

REDUCTION_KW = 4.0


async def schedule_event(services: Services, start: datetime, seconds: float) -> str:
    """A scheduled event of device ``d1`` from ``start``, ``seconds`` long, for 4 kW."""
    event_id = str(uuid.uuid4())
    async with services.db.write() as session:
        now = datetime.now(UTC)
        session.add(
            EventRow(
                id=event_id, created_at=now, updated_at=now, start_time=start,
                end_time=start + timedelta(seconds=seconds), status="scheduled",
                target_kw=REDUCTION_KW, target_kwh=REDUCTION_KW * seconds / 3600,
                devices=[EventDeviceRow(device_id="d1", position=0)],
            )
        )  # fmt: skip
    return event_id


async def play_drop(redis: Redis, key: str, start: datetime, every: float = 0.01) -> None:
    """10 kW, then 6 kW from just before ``start`` (so the sample at the start sees it),
    written to ``key`` until cancelled; a Redis that is down is a device that goes on."""
    shed_from = start - timedelta(milliseconds=50)
    this = asyncio.current_task()
    while True:
        if this is not None and this.cancelling():
            # A cancel that landed inside redis-py's call can be swallowed there; the task
            # still counts it, so the loop ends anyway (else the test awaiting it hung).
            raise asyncio.CancelledError
        now = datetime.now(UTC)
        with contextlib.suppress(RedisError, OSError):
            await redis.set(key, power_json(6.0 if now >= shed_from else 10.0, now))
        await asyncio.sleep(every)


async def event_row(services: Services, event_id: str) -> EventRow:
    async with services.db.read() as session:
        row = await session.get(EventRow, event_id, populate_existing=True)
        assert row is not None
        return row


async def event_samples(services: Services, event_id: str) -> list[EventSampleRow]:
    """The event-phase samples, in index order."""
    async with services.db.read() as session:
        rows = await session.scalars(
            select(EventSampleRow)
            .where(EventSampleRow.event_id == event_id, EventSampleRow.phase == "event")
            .order_by(EventSampleRow.sample_index)
        )
        return list(rows)


async def wait_for_status(services: Services, event_id: str, status: str, within: float) -> None:
    """Until the event has ``status``; fails naming the status it is stuck in."""
    deadline = asyncio.get_running_loop().time() + within
    while (row := await event_row(services, event_id)).status != status:
        assert asyncio.get_running_loop().time() < deadline, (
            f"event still {row.status}, never {status}"
        )
        await asyncio.sleep(0.05)
