"""The executor's Redis lease: one holder at a time, and a lapsed lease taken back by its holder."""

from __future__ import annotations

from redis.asyncio import Redis

from gateway.executor.lease import EventLease
from gateway.settings import Settings


async def test_one_holder_at_a_time_and_later_holders_get_larger_fences(
    redis: Redis, settings: Settings
) -> None:
    a = EventLease(redis, settings.redis_prefix, "a", 5)
    b = EventLease(redis, settings.redis_prefix, "b", 5)
    fence_a = await a.acquire("ev")
    assert fence_a is not None
    assert await b.acquire("ev") is None
    await a.release("ev", fence_a)
    fence_b = await b.acquire("ev")
    assert fence_b is not None
    assert fence_b > fence_a
    assert await a.renew("ev", fence_a) is False  # b holds it now


async def test_a_lapsed_lease_nobody_took_is_taken_back_by_its_holder(
    redis: Redis, settings: Settings
) -> None:
    a = EventLease(redis, settings.redis_prefix, "a", 5)
    b = EventLease(redis, settings.redis_prefix, "b", 5)
    fence = await a.acquire("ev")
    assert fence is not None
    await redis.delete(f"{settings.redis_prefix}executor:lease:ev")  # lapsed while a was slow
    assert await a.renew("ev", fence) is True
    assert await b.acquire("ev") is None
    assert 0 < await redis.pttl(f"{settings.redis_prefix}executor:lease:ev") <= 5000
