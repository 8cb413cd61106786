"""One executor per event across replicas: a Redis lease, and a fencing token for the database.

The token comes from one counter, so a later owner always holds a larger token; the database
refuses writes from a smaller one (``store.Fenced``). The lease expires unless renewed, so when
its holder dies another replica takes the event over after at most the lease's lifetime.

Redis may lose its data (a restart without persistence, a flush) and hand out tokens from 1
again while the database holds a larger one. The database stays the authority: ``acquire``
takes a floor, the largest token the caller knows is stored, and the counter is raised past it
in the same script that takes the lease, so the token handed out exceeds it whatever Redis
remembers. A floor read before another replica's claim is merely stale: that claim is refused
by the database, which tells the caller the stored token to try again above.
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
# Take the lease if nobody holds it, with a token above both the counter and the floor. One
# script, so the counter is never raised without the lease being taken by the same caller.
# string.format('%d'): a Lua number above 1e14 would otherwise print in exponent form, which
# INCR then refuses.
_ACQUIRE = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  return false
end
local fence = redis.call('INCR', KEYS[2])
local floor = tonumber(ARGV[3])
if fence <= floor then
  fence = floor + 1
  redis.call('SET', KEYS[2], string.format('%d', fence))
end
redis.call('SET', KEYS[1], ARGV[1] .. ':' .. string.format('%d', fence), 'PX', ARGV[2])
return fence
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
        self._acquire = redis.register_script(_ACQUIRE)
        self._renew = redis.register_script(_RENEW)
        self._release = redis.register_script(_RELEASE)

    def _key(self, event_id: str) -> str:
        return f"{self._prefix}{self._kind}:lease:{event_id}"

    def _value(self, fence: int) -> str:
        return f"{self._owner}:{fence}"

    async def acquire(self, event_id: str, floor: int = 0) -> int | None:
        """A fencing token above ``floor`` if this process now holds the event, else None."""
        fence = await self._acquire(
            keys=[self._key(event_id), f"{self._prefix}executor:fence"],
            args=[self._owner, self._ttl_ms, floor],
        )
        return None if fence is None else int(fence)

    async def renew(self, event_id: str, fence: int) -> bool:
        renewed = await self._renew(
            keys=[self._key(event_id)], args=[self._value(fence), self._ttl_ms]
        )
        return bool(renewed)

    async def release(self, event_id: str, fence: int) -> None:
        await self._release(keys=[self._key(event_id)], args=[self._value(fence)])
