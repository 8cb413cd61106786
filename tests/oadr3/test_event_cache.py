"""The per-process cache of a VEN's events (``gateway.oadr3.event_cache``): a change this
process publishes is seen at once, a read that began before a change is not kept, and what is
kept lasts a second."""

from __future__ import annotations

import asyncio
import json

from redis.asyncio import Redis

from gateway.oadr3.event_cache import VenEventsCache, concerns_readers, listen
from tests.support import MutableClock


def test_kept_for_a_second_then_read_again() -> None:
    clock = MutableClock()
    cache = VenEventsCache(ttl=1.0, monotonic=clock.monotonic)
    cache.put("v", [{"id": "e"}], cache.generation)
    assert cache.get("v") == [{"id": "e"}]
    clock.advance(seconds=1.5)
    assert cache.get("v") is None


def test_a_change_empties_it_and_a_read_from_before_is_not_kept() -> None:
    cache = VenEventsCache(ttl=60.0)
    began = cache.generation
    cache.put("v", [], began)
    cache.clear([("dr:dr_events", "{}")])
    assert cache.get("v") is None
    cache.put("v", [{"id": "stale"}], began)  # read before the change, finished after
    assert cache.get("v") is None


class _Watched(VenEventsCache):
    """The cache, telling when it is emptied."""

    def __init__(self) -> None:
        super().__init__(ttl=60.0)
        self.emptied = asyncio.Event()
        self.cleared = 0

    def clear(self, _batch: object = None) -> None:
        super().clear(_batch)
        self.cleared += 1
        self.emptied.set()


async def test_any_processs_dr_events_message_empties_it(redis: Redis, redis_prefix: str) -> None:
    channel = f"{redis_prefix}dr_events"
    cache = _Watched()
    stopping = asyncio.Event()
    listening = asyncio.create_task(listen(cache, redis, channel, stopping))
    try:
        await asyncio.wait_for(cache.emptied.wait(), 5)  # once subscribed
        cache.emptied.clear()
        cache.put("v", [], cache.generation)
        assert cache.get("v") == []
        await redis.publish(channel, '{"event": "program_updated"}')
        await asyncio.wait_for(cache.emptied.wait(), 5)
        assert cache.get("v") is None
    finally:
        stopping.set()
        await asyncio.wait_for(listening, 2)


async def test_messages_that_change_no_3x_view_keep_it(redis: Redis, redis_prefix: str) -> None:
    """A running event's progress (every few seconds), reports and VEN errors leave the cache
    as it is; the next change empties it."""
    channel = f"{redis_prefix}dr_events"
    cache = _Watched()
    stopping = asyncio.Event()
    listening = asyncio.create_task(listen(cache, redis, channel, stopping))
    try:
        await asyncio.wait_for(cache.emptied.wait(), 5)  # once subscribed
        cache.emptied.clear()
        cache.cleared = 0
        cache.put("v", [], cache.generation)
        for kind in ("event_progress", "oadr3_report_created", "ven_error"):
            await redis.publish(channel, json.dumps({"event": kind, "event_id": "e1"}))
        await redis.publish(channel, '{"event": "invitation_created"}')
        await asyncio.wait_for(cache.emptied.wait(), 5)
        # Pub/sub keeps order: the three before it were heard first, and kept the entry.
        assert cache.cleared == 1
        assert cache.get("v") is None
    finally:
        stopping.set()
        await asyncio.wait_for(listening, 2)


def test_a_message_that_cannot_be_read_may_concern_readers() -> None:
    assert concerns_readers(b"not json")
    assert concerns_readers('{"event": "event_scheduled"}')
    assert not concerns_readers('{"event": "event_progress"}')
