"""Each VEN's 3.x events as last read, kept per process for a moment: ``GET /events`` is what
every VEN asks most often, and most of its answers are the same as the last.

Every change this process publishes (the outbox's ``on_published``) empties it at once, and
so does every dr_events message any process publishes (``listen``: Redis pub/sub, emptied
again on each reconnect, since messages may have been missed); a read that began before a
change is not kept (its generation is past). ``ttl`` bounds what only time changes (an event
ending long ago leaves a VEN's list).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from redis.asyncio import Redis

from gateway.bus.subscription import follow
from gateway.oadr3.principal_cache import PrincipalCache

logger = logging.getLogger(__name__)

DEFAULT_TTL_SECONDS = 30.0
MAX_VENS = 100_000


class VenEventsCache:
    def __init__(
        self, ttl: float = DEFAULT_TTL_SECONDS, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self._ttl = ttl
        self._monotonic = monotonic
        self._kept: dict[str, tuple[float, list[dict[str, Any]]]] = {}
        self.generation = 0

    def get(self, ven_id: str) -> list[dict[str, Any]] | None:
        kept = self._kept.get(ven_id)
        if kept is None or self._monotonic() - kept[0] > self._ttl:
            return None
        return kept[1]

    def put(self, ven_id: str, events: list[dict[str, Any]], generation: int) -> None:
        """Keep what a read that began at ``generation`` found, unless a change came since."""
        if generation != self.generation:
            return
        if len(self._kept) >= MAX_VENS:
            self._kept.clear()
        self._kept[ven_id] = (self._monotonic(), events)

    def clear(self, _batch: object = None) -> None:
        self.generation += 1
        self._kept.clear()


async def listen(
    cache: VenEventsCache,
    redis: Redis,
    channel: str,
    stopping: asyncio.Event,
    principals: PrincipalCache[Any] | None = None,
) -> None:
    """Empty ``cache`` (and ``principals``) on every message on ``channel`` until
    ``stopping``; also whenever the subscription is made or lost (messages may have been
    missed). ``principals`` is used only while subscribed."""

    def message(_channel: str, _data: object) -> None:
        cache.clear()
        if principals is not None:
            principals.clear()

    def subscribed(following: bool) -> Callable[[], None]:
        def changed() -> None:
            cache.clear()
            if principals is not None:
                principals.follow(following)

        return changed

    await follow(
        redis, [channel], message, stopping, name="oadr3 events cache",
        on_subscribed=subscribed(True), on_lost=subscribed(False),
    )  # fmt: skip
