"""The gateway's Redis client, under a burst of more callers than its pool holds, makes them
wait for a connection instead of refusing them (redis-py's default pool refuses the 101st:
"Too many connections", and a burst of VENs lost their writes)."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

from redis.asyncio import Redis

from gateway.bus.connection import MAX_CONNECTIONS, open_redis
from tests.conftest import REDIS_URL


async def _burst(client: Redis, callers: int) -> list[object]:
    key = f"test:{uuid.uuid4().hex}:nothing"
    # Each BLPOP holds its connection for 0.3 s: all of them are in use at once.
    return await asyncio.gather(
        *(client.blpop([key], timeout=0.3) for _ in range(callers)), return_exceptions=True
    )


async def test_a_burst_beyond_the_pool_waits_and_every_call_succeeds(tmp_path: Path) -> None:
    redis = await open_redis(REDIS_URL, tmp_path)
    try:
        results = await _burst(redis.client, MAX_CONNECTIONS + 100)
    finally:
        await redis.close()
    assert [r for r in results if isinstance(r, BaseException)] == []
    assert results == [None] * (MAX_CONNECTIONS + 100)  # BLPOP timed out: nothing was there


async def test_redis_pys_own_pool_refuses_such_a_burst() -> None:
    """The defect the gateway's pool is there for (if redis-py changes, this says so)."""
    client = Redis.from_url(REDIS_URL)
    try:
        results = await _burst(client, MAX_CONNECTIONS + 100)
    finally:
        await client.aclose()
    refused = [r for r in results if isinstance(r, BaseException)]
    assert refused
    assert "Too many connections" in str(refused[0])
