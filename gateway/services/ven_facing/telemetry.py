"""A VEN's telemetry, whatever protocol carried it: each device's newest reading goes to the
power bus (``{prefix}power:{device}``, source ``ven``), and power that belongs to no device
is the VEN's own, kept on the VEN."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from redis.asyncio import Redis
from sqlalchemy import update

from gateway.bus.power_bridge import write_readings
from gateway.db.engine import Database
from gateway.db.models import VenRow


@dataclass(frozen=True, slots=True)
class Reading:
    """One power value: of a device, or (``device_id`` None) of the VEN itself."""

    device_id: str | None
    kw: float
    at: datetime
    point: str  # what the transport calls the measuring point (2.0b: the rID)


class Telemetry:
    def __init__(self, db: Database, redis: Redis, prefix: str) -> None:
        self._db = db
        self._redis = redis
        self._prefix = prefix

    async def take(self, ven_id: str, readings: Sequence[Reading]) -> None:
        """Of two readings as new, the later one in ``readings`` wins."""
        devices: dict[str, Reading] = {}
        own: Reading | None = None
        for reading in readings:
            if reading.device_id is None:
                if own is None or reading.at >= own.at:
                    own = reading
            elif reading.device_id not in devices or reading.at >= devices[reading.device_id].at:
                devices[reading.device_id] = reading
        await write_readings(
            self._redis, self._prefix, [(d, r.kw, r.at) for d, r in devices.items()], "ven"
        )
        if own is not None:
            async with self._db.write() as session:
                await session.execute(
                    update(VenRow)
                    .where(VenRow.ven_id == ven_id)
                    .values(power_kw=own.kw, power_at=own.at, power_r_id=own.point)
                )
