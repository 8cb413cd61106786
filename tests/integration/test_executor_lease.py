"""The executor's Redis lease: one holder at a time, a lapsed lease taken back by its holder, and
fences above every stored one even when Redis has forgotten its counter."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from redis.asyncio import Redis

from gateway.app import build_executor
from gateway.executor import store
from gateway.executor.lease import EventLease
from gateway.services.container import Services
from gateway.settings import Settings
from tests.support import Api, in_minutes


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


async def test_a_fence_exceeds_the_floor_whatever_the_counter_remembers(
    redis: Redis, settings: Settings
) -> None:
    lease = EventLease(redis, settings.redis_prefix, "a", 5)
    counter = f"{settings.redis_prefix}executor:fence"
    assert await lease.acquire("ev", floor=100) == 101  # Redis forgot: the counter was 0
    await lease.release("ev", 101)
    assert await lease.acquire("ev", floor=100) == 102  # a counter past the floor goes on
    await lease.release("ev", 102)
    await redis.delete(counter)  # Redis restarted empty
    assert await lease.acquire("ev", floor=10**15) == 10**15 + 1  # no float formatting
    assert int(await redis.get(counter)) == 10**15 + 1
    assert await redis.get(f"{settings.redis_prefix}executor:lease:ev") == b"a:1000000000000001"
    await lease.release("ev", 10**15 + 1)
    assert await lease.acquire("other") == 10**15 + 2  # INCR still works on what was set


async def test_after_redis_lost_its_counter_racing_replicas_take_the_event_once_above_the_db(
    api: Api, services: Services, redis: Redis, settings: Settings
) -> None:
    await api.device("d1")
    event = await api.post(
        "/api/events",
        {"start_time": in_minutes(10), "duration_minutes": 5, "devices": ["d1"], "target_kw": 4},
        status=201,
    )
    assert await store.claim(services.db, event["id"], 100_000)  # a long-lived deployment
    # The event's baseline window is open: every replica wants it, and Redis has no counter.
    replicas = [build_executor(services, owner=f"r{i}") for i in range(3)]
    try:
        await asyncio.gather(*(r.tick() for r in replicas))
        running = [r for r in replicas if r.runs]
        assert len(running) == 1
        assert await store.fence_of(services.db, event["id"]) == 100_001
    finally:
        for r in replicas:
            await r.close()


async def test_a_claim_refused_by_a_newer_stored_fence_is_retried_above_it(
    api: Api, services: Services, redis: Redis, settings: Settings
) -> None:
    await api.device("d1")
    event = await api.post(
        "/api/events",
        {"start_time": in_minutes(60), "duration_minutes": 5, "devices": ["d1"], "target_kw": 4},
        status=201,
    )
    [plan] = await store.open_events(services.db, datetime.now(UTC) + timedelta(hours=2))
    assert plan.fence == 0
    # Another replica claimed after this plan was read, and Redis lost its counter since.
    assert await store.claim(services.db, event["id"], 500)
    executor = build_executor(services, owner="late")
    assert await executor._take(plan) == 501
    assert await store.fence_of(services.db, event["id"]) == 501
    lease = await redis.get(f"{settings.redis_prefix}executor:lease:{event['id']}")
    assert lease == b"late:501"
