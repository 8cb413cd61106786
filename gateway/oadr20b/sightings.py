"""When each VEN was last heard from, and the schema deviations its messages needed, gathered
in memory and stored every few seconds with the VEN's message log (one write for all, not
one per message)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from datetime import datetime

from gateway.clock import Clock
from gateway.oadr20b.message_log import MessageLog
from gateway.oadr20b.store import Sighting, VtnStore
from gateway.supervisor import pause

logger = logging.getLogger(__name__)

LAST_SEEN_FLUSH_SECONDS = 5.0


class Sightings:
    def __init__(self, store: VtnStore, messages: MessageLog, clock: Clock) -> None:
        self._store = store
        self._messages = messages
        self._clock = clock
        self._seen: dict[str, datetime] = {}
        self._deviations: dict[str, dict[str, Sighting]] = {}

    def seen(self, ven_id: str, deviations: Iterable[str] = ()) -> None:
        """An authenticated message from the VEN, which needed these schema repairs."""
        now = self._clock.now()
        self._seen[ven_id] = now
        for kind in deviations:
            counts = self._deviations.setdefault(ven_id, {})
            counts[kind] = (counts.get(kind, (0, now))[0] + 1, now)

    async def flush(self) -> None:
        """Store the last-seen times, deviation counts and message log gathered since the last
        flush."""
        # The log goes to Redis, the rest to the database: one down does not hold the other.
        results = await asyncio.gather(
            self._flush_seen(), self._messages.flush(), return_exceptions=True
        )
        for result in results:
            if isinstance(result, BaseException):
                raise result

    async def _flush_seen(self) -> None:
        seen, self._seen = self._seen, {}
        deviations, self._deviations = self._deviations, {}
        try:
            await self._store.touch(seen)
            await self._store.count_deviations(deviations)
        except Exception:
            for ven_id, when in seen.items():  # keep them for the next flush
                self._seen.setdefault(ven_id, when)
            for ven_id, kinds in deviations.items():
                counts = self._deviations.setdefault(ven_id, {})
                for kind, (count, last) in kinds.items():
                    newer = counts.get(kind, (0, last))
                    counts[kind] = (count + newer[0], max(last, newer[1]))
            raise

    async def flush_forever(self, stopping: asyncio.Event) -> None:
        """Store last-seen times every few seconds until ``stopping`` (closing stores the rest)."""
        while not await pause(stopping, LAST_SEEN_FLUSH_SECONDS):
            try:
                await self.flush()
            except Exception as err:
                logger.warning("vtn: last-seen times not stored yet (%s)", err)
