"""Each VEN's 3.x events as last read, kept per process for a moment: ``GET /events`` is what
every VEN asks most often, and most of its answers are the same as the last.

Every change this process publishes (the outbox's ``on_published``) empties it at once, and so
does every dr_events message any process publishes (``listen``: Redis pub/sub, emptied again on
each reconnect, since messages may have been missed), but those that change nothing a 3.x
reader holds (``UNSEEN``: a running event's progress, every few seconds; reports; a VEN's
error; a device's instructions), which would keep it cold through every event; a read that
began before a change is not kept (its generation is past). ``ttl`` bounds what only time
changes (an event ending long ago leaves a VEN's list). When it is cold (emptied, or its last
fill is older than ``ttl``), the first read that misses fills it for every VEN (``fill``), and
the reads that miss meanwhile wait for that one fill. A VEN's plain answer (no query) is kept
with its list, as bytes (``answer``)."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from redis.asyncio import Redis

from gateway.bus.subscription import follow
from gateway.oadr3.principal_cache import PrincipalCache

logger = logging.getLogger(__name__)

DEFAULT_TTL_SECONDS = 30.0
MAX_VENS = 100_000
# dr_events messages after which every 3.x VEN's events and every client's principal are as
# they were: the caches keep what they hold.
UNSEEN = frozenset({
    "event_progress", "ven_error", "device_instructions_updated",
    "oadr3_report_created", "oadr3_report_updated", "oadr3_report_deleted",
})  # fmt: skip


def concerns_readers(data: object) -> bool:
    """Whether a dr_events message may change what 3.x readers are given (one that cannot
    be read may: it counts)."""
    try:
        message = json.loads(data if isinstance(data, (bytes, str)) else b"")
    except ValueError:
        return True
    return not (isinstance(message, dict) and message.get("event") in UNSEEN)


class VenEventsCache:
    def __init__(
        self, ttl: float = DEFAULT_TTL_SECONDS, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self._ttl = ttl
        self._monotonic = monotonic
        # ven -> (when, its events, their answer as bytes once made: ``answer``)
        self._kept: dict[str, tuple[float, list[dict[str, Any]], list[bytes]]] = {}
        self.generation = 0
        self._filled: tuple[int, float] | None = None  # the last fill's generation, time
        self._filling: asyncio.Future[None] | None = None

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
        self._kept[ven_id] = (self._monotonic(), events, [])

    def answer(
        self,
        ven_id: str,
        events: list[dict[str, Any]],
        render: Callable[[list[dict[str, Any]]], bytes],
    ) -> bytes:
        """``render(events)``, made once while ``events`` are what is kept for the VEN."""
        kept = self._kept.get(ven_id)
        if kept is None or kept[1] is not events:
            return render(events)
        if not kept[2]:
            kept[2].append(render(events))
        return kept[2][0]

    def put_all(self, found: dict[str, list[dict[str, Any]]], generation: int) -> None:
        if generation != self.generation:
            return
        if len(self._kept) + len(found) > MAX_VENS:
            self._kept.clear()
        at = self._monotonic()
        for ven_id, events in found.items():
            self._kept[ven_id] = (at, events, [])

    def cold(self) -> bool:
        """No fill of every VEN since the last change, or none within ``ttl``."""
        return (
            self._filled is None
            or self._filled[0] != self.generation
            or self._monotonic() - self._filled[1] > self._ttl
        )

    async def fill(
        self, load: Callable[[], Awaitable[dict[str, list[dict[str, Any]]] | None]]
    ) -> None:
        """Keep every VEN's events as ``load`` finds them (None: it would not, too many),
        once for all the reads that call this while it runs."""
        if self._filling is None or self._filling.done():
            self._filling = asyncio.ensure_future(self._fill(load))
        await asyncio.shield(self._filling)

    async def _fill(
        self, load: Callable[[], Awaitable[dict[str, list[dict[str, Any]]] | None]]
    ) -> None:
        generation, began = self.generation, self._monotonic()
        found = await load()
        if found is not None:
            self.put_all(found, generation)
        if generation == self.generation:
            self._filled = (generation, began)

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

    def message(_channel: str, data: object) -> None:
        if not concerns_readers(data):
            return
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
