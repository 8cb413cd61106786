"""Deliveries marked in the database together (a ``GroupCommit``): every delivery that ends
while one write is under way is marked in the next."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from gateway.clock import Clock
from gateway.db.group_commit import GroupCommit
from gateway.oadr20b_push.outbox import Ack, PushStore


class AckBatcher:
    def __init__(
        self, store: PushStore, owner: str, lease: timedelta, clock: Clock,
        turns: asyncio.Semaphore,
    ) -> None:  # fmt: skip
        self._store = store
        self._owner = owner
        self._lease = lease
        self._clock = clock
        self._commit: GroupCommit[Ack, bool] = GroupCommit(self._write, turns)

    async def delivered(self, ven_id: str, message_id: int, *, release: bool) -> bool:
        """Mark the message delivered; False when the VEN's lease was lost meanwhile."""
        return await self._commit.submit(Ack(ven_id, message_id, release))

    async def _write(self, acks: list[Ack]) -> list[bool]:
        held = await self._store.delivered_many(self._owner, acks, self._clock.now(), self._lease)
        return [ack.ven_id in held for ack in acks]
