"""Records every device's power into meter history, one slot per ``meter_sample_seconds``.

At each slot instant (aligned to the interval grid, so every replica samples the same slots)
it reads every registered device from the power bus in one MGET and hands the fresh readings
to ``MeterHistoryService.record_slot``; a device without a fresh reading is left unmeasured
for that slot. Replicas may all run it: a slot is counted once (see ``services.meter_history``).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

from redis.exceptions import RedisError
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from gateway.bus.power import RedisPowerReader
from gateway.clock import Clock
from gateway.db.engine import Database
from gateway.db.models import DeviceRow
from gateway.domain.meter import slot_of
from gateway.services.meter_history import MeterHistoryService
from gateway.supervisor import pause

logger = logging.getLogger(__name__)

_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


class MeterRecorder:
    def __init__(
        self, db: Database, history: MeterHistoryService, power: RedisPowerReader, clock: Clock
    ) -> None:
        if not history.grid.sample_seconds:
            raise ValueError("meter_sample_seconds is 0: nothing is recorded")
        self._db = db
        self._history = history
        self._power = power
        self._clock = clock
        self._devices: tuple[datetime, list[str]] | None = None  # (interval, ids) cached

    def next_slot(self, now: datetime) -> datetime:
        """The first slot instant after ``now``."""
        period = self._history.grid.sample_seconds
        elapsed = (now - _EPOCH).total_seconds()
        return _EPOCH + timedelta(seconds=(elapsed // period + 1) * period)

    async def run(self, stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            due = self.next_slot(self._clock.now())
            wait = max((due - self._clock.now()).total_seconds(), 0.0)
            if await pause(stopping, wait, self._clock.sleep):
                return
            try:
                await self.record(due)
            except asyncio.CancelledError:
                raise
            except (SQLAlchemyError, RedisError, OSError) as err:
                # The slot stays unmeasured: a gap in history, never a made-up value.
                logger.warning("meter history: slot at %s not recorded: %s", due, err)
            except Exception:  # anything else must not end the recording either
                logger.exception("meter history: slot at %s not recorded", due)

    async def record(self, at: datetime) -> int:
        """Record the slot due at ``at``; returns the readings newly counted."""
        grid = self._history.grid
        interval_start, slot = slot_of(at, grid.interval_minutes, grid.sample_seconds)
        device_ids = await self._device_ids(interval_start)
        values = await self._power.read_kw(device_ids, at)
        readings = [(d, kw) for d, kw in zip(device_ids, values, strict=True) if kw is not None]
        return await self._history.record_slot(interval_start, slot, readings)

    async def _device_ids(self, interval_start: datetime) -> list[str]:
        """Registered devices, read again once per interval."""
        if self._devices is None or self._devices[0] != interval_start:
            async with self._db.read() as session:
                ids = list(await session.scalars(select(DeviceRow.id).order_by(DeviceRow.id)))
            self._devices = (interval_start, ids)
        return self._devices[1]
