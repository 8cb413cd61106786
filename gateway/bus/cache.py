"""A Redis read cache for JSON views, invalidated by the writer after each commit."""

from __future__ import annotations

import logging

from redis.asyncio import Redis
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)


class ViewCache:
    """Cache-aside store of JSON documents. Redis trouble degrades to a miss, never an error."""

    def __init__(self, redis: Redis, prefix: str, ttl_seconds: int) -> None:
        self._redis = redis
        self._prefix = prefix
        self._ttl = ttl_seconds

    def _key(self, key: str) -> str:
        return f"{self._prefix}cache:{key}"

    async def get(self, key: str) -> bytes | None:
        if self._ttl == 0:
            return None
        try:
            value = await self._redis.get(self._key(key))
        except (RedisError, OSError) as err:
            logger.warning("view cache read failed: %s", err)
            return None
        return value.encode() if isinstance(value, str) else value

    async def put(self, key: str, document: str) -> None:
        if self._ttl == 0:
            return
        try:
            await self._redis.set(self._key(key), document, ex=self._ttl)
        except (RedisError, OSError) as err:
            logger.warning("view cache write failed: %s", err)

    async def invalidate(self, key: str) -> None:
        try:
            await self._redis.delete(self._key(key))
        except (RedisError, OSError) as err:
            logger.warning("view cache invalidation failed: %s", err)
