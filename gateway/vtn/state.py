"""What each VEN's poll needs, kept in memory and reloaded only when something changed.

A poll must cost about what openleadr's own costs, so the steady state does no I/O: the VEN's
registration, its events and whether messages wait for it are cached per VEN. Any change
anywhere (every change is announced on ``{prefix}dr_events`` through the outbox, and VTN
changes on ``{prefix}vtn``) marks the cache stale, in every gateway process; the next poll of
each VEN reloads it from the database. While that subscription is down, entries expire after
a few seconds instead, so a lost message can delay a change but never hide it.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from gateway.clock import Clock
from gateway.domain.openadr import VenEvent
from gateway.vtn.store import VenRecord, VtnStore

logger = logging.getLogger(__name__)

UNSUBSCRIBED_MAX_AGE_SECONDS = 2.0
LAST_SEEN_FLUSH_SECONDS = 5.0
RECONNECT_SECONDS = 1.0


@dataclass
class VenState:
    record: VenRecord
    events: list[VenEvent]
    pending_messages: int
    generation: int
    loaded_at: float


class VtnState:
    def __init__(self, store: VtnStore, redis: Redis, prefix: str, clock: Clock) -> None:
        self._store = store
        self._redis = redis
        self._clock = clock
        self.channel = f"{prefix}vtn"
        self._channels = (f"{prefix}dr_events", self.channel)
        self._generation = 0
        self._ven_generation: dict[str, int] = {}
        self._entries: dict[str, VenState] = {}
        self._seen: dict[str, datetime] = {}
        self.subscribed = False

    async def get(self, ven_id: str) -> VenState | None:
        entry = self._entries.get(ven_id)
        if entry is not None and self._fresh(entry):
            return entry
        return await self.reload(ven_id)

    def _fresh(self, entry: VenState) -> bool:
        generation = self._generation + self._ven_generation.get(entry.record.ven_id, 0)
        if entry.generation != generation:
            return False
        if not self.subscribed:
            return self._clock.monotonic() - entry.loaded_at < UNSUBSCRIBED_MAX_AGE_SECONDS
        return True

    async def reload(self, ven_id: str) -> VenState | None:
        generation = self._generation + self._ven_generation.get(ven_id, 0)
        record = await self._store.ven(ven_id)
        if record is None:
            self._entries.pop(ven_id, None)
            return None
        events = await self._store.events_for(ven_id, self._clock.now())
        pending = await self._store.pending_count(ven_id)
        entry = VenState(record, events, pending, generation, self._clock.monotonic())
        self._entries[ven_id] = entry
        return entry

    def invalidate(self, ven_id: str | None = None) -> None:
        if ven_id is None:
            self._generation += 1
        else:
            self._ven_generation[ven_id] = self._ven_generation.get(ven_id, 0) + 1

    async def changed(self, ven_id: str) -> None:
        """This process changed a VEN's state: drop its entry here and tell the others."""
        self.invalidate(ven_id)
        try:
            await self._redis.publish(self.channel, json.dumps({"ven_id": ven_id}))
        except (RedisError, OSError) as err:
            logger.warning("vtn: change of %s not announced (%s)", ven_id, err)

    def seen(self, ven_id: str) -> None:
        self._seen[ven_id] = self._clock.now()

    async def flush_seen(self) -> None:
        seen, self._seen = self._seen, {}
        try:
            await self._store.touch(seen)
        except Exception:
            for ven_id, when in seen.items():  # keep them for the next flush
                self._seen.setdefault(ven_id, when)
            raise

    async def listen(self) -> None:
        while True:
            try:
                async with self._redis.pubsub(ignore_subscribe_messages=True) as pubsub:
                    await pubsub.subscribe(*self._channels)
                    self.subscribed = True
                    self.invalidate()  # anything may have changed while unsubscribed
                    async for message in pubsub.listen():
                        self._take(message)
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as err:
                logger.warning("vtn: change feed lost (%s); resubscribing", err)
            finally:
                self.subscribed = False
            await asyncio.sleep(RECONNECT_SECONDS)

    def _take(self, message: dict[str, Any]) -> None:
        channel = message.get("channel")
        channel = channel.decode() if isinstance(channel, bytes) else channel
        if channel == self.channel:
            try:
                ven_id = json.loads(message.get("data") or b"{}").get("ven_id")
            except (ValueError, AttributeError):
                ven_id = None
            if isinstance(ven_id, str):
                self.invalidate(ven_id)
                return
        self.invalidate()

    async def flush_seen_forever(self) -> None:
        while True:
            await asyncio.sleep(LAST_SEEN_FLUSH_SECONDS)
            try:
                await self.flush_seen()
            except Exception as err:
                logger.warning("vtn: last-seen times not stored yet (%s)", err)
