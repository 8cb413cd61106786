"""Deliveries marked in the database together (a ``GroupCommit``): every delivery that ends
while one write is under way is marked in the next, with what each distribute told its VEN
(one transaction for both)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta

from gateway.clock import Clock
from gateway.db.group_commit import GroupCommit
from gateway.oadr20b.told import Told
from gateway.oadr20b_push.outbox import Ack, PushStore


class AckBatcher:
    def __init__(
        self, store: PushStore, owner: str, lease: timedelta, clock: Clock,
        turns: asyncio.Semaphore, noted: Callable[[Told], Awaitable[None]],
    ) -> None:  # fmt: skip
        self._store = store
        self._noted = noted  # what a VEN was told, once stored
        self._owner = owner
        self._lease = lease
        self._clock = clock
        self._commit: GroupCommit[Ack, bool] = GroupCommit(self._write, turns)

    async def delivered(
        self, ven_id: str, message_id: int, *, release: bool, told: Told | None = None
    ) -> bool:
        """Mark the message delivered (and keep ``told``); False when the VEN's lease was
        lost meanwhile."""
        return await self._commit.submit(Ack(ven_id, message_id, release, told))

    async def settled(self) -> None:
        """Until every delivery handed in is marked (and what it told noted)."""
        await self._commit.settled()

    async def _write(self, acks: list[Ack]) -> list[bool]:
        held = await self._store.delivered_many(self._owner, acks, self._clock.now(), self._lease)
        for ack in acks:
            if ack.told is not None:
                await self._noted(ack.told)
        return [ack.ven_id in held for ack in acks]
