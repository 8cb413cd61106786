"""Writes to the power bus: VEN telemetry, and readings published on ``{prefix}power``.

External publishers send ``{"device_id": ..., "kw": ..., "ts": ...}`` on the channel; each
valid message is written to the device's key, exactly as VEN telemetry is. A message that is
not valid JSON, names no device, or has no finite kW and aware timestamp is dropped and
counted, and never written.
"""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import datetime

from redis.asyncio import Redis

from gateway.bus.power import power_key
from gateway.bus.subscription import follow
from gateway.domain.power import parse_power_message

logger = logging.getLogger(__name__)

MAX_DEVICE_ID = 128


def power_json(kw: float, ts: datetime, source: str) -> str:
    return json.dumps({"kw": kw, "ts": ts.isoformat(), "source": source})


async def write_readings(
    redis: Redis, prefix: str, readings: list[tuple[str, float, datetime]], source: str
) -> None:
    """One round trip for any number of readings."""
    if not readings:
        return
    pipe = redis.pipeline(transaction=False)
    for device_id, kw, ts in readings:
        pipe.set(power_key(prefix, device_id), power_json(kw, ts, source))
    await pipe.execute()


def parse_channel_message(raw: bytes | str) -> tuple[str, float, datetime, str] | None:
    """(device_id, kW, ts, source) of a valid ``{prefix}power`` message, else None."""
    try:
        message = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(message, dict):
        return None
    device_id = message.get("device_id")
    if not isinstance(device_id, str) or not 0 < len(device_id) <= MAX_DEVICE_ID:
        return None
    reading = parse_power_message(device_id, raw)
    if reading is None:
        return None
    return device_id, reading.kw, reading.ts, reading.source or "channel"


class PowerChannelBridge:
    """Subscribes to ``{prefix}power`` and writes each valid reading to its key."""

    def __init__(self, redis: Redis, prefix: str) -> None:
        self._redis = redis
        self._prefix = prefix
        self.channel = f"{prefix}power"
        self.written = 0
        self.rejected = 0

    async def run(self, stopping: asyncio.Event, ready: asyncio.Event | None = None) -> None:
        """Until ``stopping``; ``ready`` is set once subscribed."""
        await follow(
            self._redis, [self.channel], lambda _channel, data: self._take(data), stopping,
            name="power channel", on_subscribed=None if ready is None else ready.set,
        )  # fmt: skip

    async def _take(self, data: object) -> None:
        parsed = parse_channel_message(data) if isinstance(data, bytes | str) else None
        if parsed is None:
            self.rejected += 1
            logger.warning("power channel: dropped an invalid message: %.200r", data)
            return
        device_id, kw, ts, source = parsed
        await write_readings(self._redis, self._prefix, [(device_id, kw, ts)], source)
        self.written += 1
