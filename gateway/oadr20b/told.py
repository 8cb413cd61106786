"""What each VEN was told of its events, and the distribute that told it, kept for many VENs
in one write (a ``GroupCommit``): a thousand VENs polling, or pushed to, just after one
invitation cost a few transactions, not a thousand one after the other (on SQLite a writer at a
time: their polls queued for seconds behind each other's commits)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, bindparam, update
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.db.engine import Database
from gateway.db.group_commit import GroupCommit
from gateway.db.models import VenRow

_VENS = cast(Table, VenRow.__table__)
_SAVE = (
    update(_VENS)
    .where(_VENS.c.ven_id == bindparam("told_id"))
    .values(delivered_events=bindparam("told"), last_distribute=bindparam("told_by"))
)


@dataclass(frozen=True, slots=True)
class Told:
    """What a VEN knows of its events once it has a distribute, and that distribute's
    requestID with the events it lists (a VEN's error echoing it names them)."""

    ven_id: str
    delivered: dict[str, Any]
    distribute: dict[str, Any]


class ToldStore:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._commit: GroupCommit[Told, None] = GroupCommit(self._write, asyncio.Semaphore(1))

    async def save(self, told: Told) -> None:
        """Kept once this returns (with those of the VENs told meanwhile)."""
        await self._commit.submit(told)

    async def _write(self, told: Sequence[Told]) -> list[None]:
        async with self._db.write() as session:
            await save_told(session, told)
        return [None] * len(told)


async def save_told(session: AsyncSession, told: Sequence[Told]) -> None:
    """Keep what each of ``told`` says in the session's transaction (one statement)."""
    if told:
        connection = await session.connection()
        await connection.execute(
            _SAVE,
            [{"told_id": t.ven_id, "told": t.delivered, "told_by": t.distribute} for t in told],
        )
