"""Readings published on ``{prefix}power`` are written to the device's power key; invalid
messages are dropped and never written."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import pytest
from redis.asyncio import Redis

from gateway.bus.power_bridge import PowerChannelBridge, parse_channel_message
from tests.vtn.conftest import eventually


@pytest.mark.parametrize(
    "raw",
    [
        b"not json",
        b"[1, 2]",
        json.dumps({"kw": 1.0, "ts": "2026-11-24T10:00:00+00:00"}),  # no device
        json.dumps({"device_id": "", "kw": 1.0, "ts": "2026-11-24T10:00:00+00:00"}),
        json.dumps({"device_id": "d1", "kw": "1.0", "ts": "2026-11-24T10:00:00+00:00"}),
        json.dumps({"device_id": "d1", "kw": True, "ts": "2026-11-24T10:00:00+00:00"}),
        json.dumps({"device_id": "d1", "kw": 1.0, "ts": "2026-11-24T10:00:00"}),  # naive
        json.dumps({"device_id": "d1", "kw": 1.0}),
        '{"device_id": "d1", "kw": NaN, "ts": "2026-11-24T10:00:00+00:00"}',
        json.dumps({"device_id": "d" * 200, "kw": 1.0, "ts": "2026-11-24T10:00:00+00:00"}),
    ],
)
def test_invalid_channel_messages_are_refused(raw: bytes | str) -> None:
    assert parse_channel_message(raw) is None


async def test_a_published_reading_lands_on_the_key_and_junk_does_not(
    redis: Redis, redis_prefix: str
) -> None:
    bridge = PowerChannelBridge(redis, redis_prefix)
    ready, stopping = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(bridge.run(stopping, ready))
    try:
        await asyncio.wait_for(ready.wait(), 5)
        ts = datetime.now(UTC).isoformat()
        await redis.publish(f"{redis_prefix}power", b'{"device_id": "d1", "kw": "junk"}')
        await redis.publish(
            f"{redis_prefix}power", json.dumps({"device_id": "d1", "kw": 4.25, "ts": ts})
        )
        raw = await eventually(lambda: redis.get(f"{redis_prefix}power:d1"))
        assert json.loads(raw) == {"kw": 4.25, "ts": ts, "source": "channel"}
        assert (bridge.written, bridge.rejected) == (1, 1)
    finally:
        stopping.set()
        await asyncio.wait_for(task, 2)  # a stop ends it by itself, uncancelled
