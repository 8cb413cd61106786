"""Reading a channel's log as a consumer group (``gateway.bus.log_reader``) on the real Redis:
what was appended while no member read is read when one starts, each message by one member,
and what a member took and never acknowledged (it died) is taken over by another."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

import pytest
from redis.asyncio import Redis

from gateway.bus import log_reader
from gateway.bus.log_reader import LogReader
from tests.vtn.conftest import eventually


class Member:
    def __init__(self, redis: Redis, log: str, name: str) -> None:
        self.taken: list[bytes | str] = []
        self.reader = LogReader(redis, log, "group", name, self._take, name=name)

    async def _take(self, data: bytes | str) -> None:
        self.taken.append(data)


@contextlib.asynccontextmanager
async def running(member: Member) -> AsyncIterator[Member]:
    stopping = asyncio.Event()
    task = asyncio.create_task(member.reader.run(stopping))
    try:
        await asyncio.wait_for(member.reader.ready.wait(), 5)
        yield member
    finally:
        stopping.set()
        await asyncio.wait_for(task, 5)


async def until(condition: Callable[[], bool]) -> None:
    async def probe() -> bool:
        return condition()

    await eventually(probe, timeout=5.0, every=0.02)


async def test_what_was_logged_while_nobody_read_is_read_once_by_one_member(
    redis: Redis, redis_prefix: str
) -> None:
    log = f"{redis_prefix}dr_events:log"
    async with running(Member(redis, log, "a")):
        pass  # the group is made, then nobody reads
    for n in range(3):
        await redis.xadd(log, {"m": f"m{n}"})
    a, b = Member(redis, log, "a"), Member(redis, log, "b")
    async with running(a), running(b):
        await until(lambda: len(a.taken) + len(b.taken) == 3)
        await asyncio.sleep(0.3)
    assert sorted(a.taken + b.taken) == [b"m0", b"m1", b"m2"]


async def test_a_message_a_member_never_acknowledged_is_taken_over(
    redis: Redis, redis_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(log_reader, "CLAIM_IDLE_SECONDS", 0.1)
    log = f"{redis_prefix}dr_events:log"
    async with running(Member(redis, log, "a")):
        pass
    await redis.xadd(log, {"m": "lost"})
    # Member "dead" takes it and dies before acknowledging it.
    await redis.xreadgroup("group", "dead", {log: ">"}, count=10)
    await asyncio.sleep(0.2)
    survivor = Member(redis, log, "b")
    async with running(survivor):
        await until(lambda: survivor.taken == [b"lost"])
    pending = await redis.xpending(log, "group")
    assert pending["pending"] == 0
