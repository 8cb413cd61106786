"""Reads device power from the power bus: one MGET for any number of devices."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from redis.asyncio import Redis

from gateway.domain.power import Reading, fresh_kw, read_power_value

_KEY_LISTS_KEPT = 64


def power_key(prefix: str, device_id: str) -> str:
    return f"{prefix}power:{device_id}"


class RedisPowerReader:
    def __init__(self, redis: Redis, prefix: str, max_age: timedelta) -> None:
        self._redis = redis
        self._prefix = prefix
        self._max_age = max_age
        self._keys: dict[tuple[str, ...], list[str]] = {}

    async def read(self, device_ids: Sequence[str], now: datetime) -> dict[str, Reading]:
        if not device_ids:
            return {}
        values = await self._redis.mget([power_key(self._prefix, d) for d in device_ids])
        return {
            device_id: read_power_value(device_id, raw, now, self._max_age)
            for device_id, raw in zip(device_ids, values, strict=True)
        }

    async def read_kw(self, device_ids: Sequence[str], now: datetime) -> list[float | None]:
        """Power per device in the given order; None where the reading is missing."""
        if not device_ids:
            return []
        ids = tuple(device_ids)
        keys = self._keys.get(ids)
        if keys is None:  # an event asks for the same devices every sample
            if len(self._keys) >= _KEY_LISTS_KEPT:
                self._keys.clear()
            keys = self._keys[ids] = [power_key(self._prefix, d) for d in ids]
        values = await self._redis.mget(keys)
        max_age = self._max_age
        return [fresh_kw(raw, now, max_age) for raw in values]
