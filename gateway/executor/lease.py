"""One executor per event across replicas: a Redis lease, and a fencing token for the database.

The token comes from one counter, so a later owner always holds a larger token; the database
refuses writes from a smaller one (``store.Fenced``). The lease expires unless renewed, so when
its holder dies another replica takes the event over after at most the lease's lifetime.
"""

from __future__ import annotations

from redis.asyncio import Redis

# A lease that lapsed while its holder was slow (a long write on a loaded machine) and that
# nobody else took is taken back: should another replica have held it in between, its larger
# fencing token already makes the database refuse this holder's writes.
_RENEW = """
local current = redis.call('GET', KEYS[1])
if current == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
if not current then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class EventLease:
    def __init__(
        self, redis: Redis, prefix: str, owner: str, ttl_seconds: float, kind: str = "executor"
    ) -> None:
        self._redis = redis
        self._prefix = prefix
        self._kind = kind
        self._owner = owner
        self._ttl_ms = max(int(ttl_seconds * 1000), 100)
        self._renew = redis.register_script(_RENEW)
        self._release = redis.register_script(_RELEASE)

    def _key(self, event_id: str) -> str:
        return f"{self._prefix}{self._kind}:lease:{event_id}"

    def _value(self, fence: int) -> str:
        return f"{self._owner}:{fence}"

    async def acquire(self, event_id: str) -> int | None:
        """A fencing token if this process now holds the event, else None."""
        if await self._redis.exists(self._key(event_id)):
            return None
        fence = int(await self._redis.incr(f"{self._prefix}executor:fence"))
        taken = await self._redis.set(
            self._key(event_id), self._value(fence), nx=True, px=self._ttl_ms
        )
        return fence if taken else None

    async def renew(self, event_id: str, fence: int) -> bool:
        renewed = await self._renew(
            keys=[self._key(event_id)], args=[self._value(fence), self._ttl_ms]
        )
        return bool(renewed)

    async def release(self, event_id: str, fence: int) -> None:
        await self._release(keys=[self._key(event_id)], args=[self._value(fence)])
