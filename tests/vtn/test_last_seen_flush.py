"""Last-seen times are stored in small chunks, so that a flush for thousands of VENs never holds
the event loop (and every poll) for the whole batch."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event, insert, select

from gateway.db import migrate
from gateway.db.engine import Database
from gateway.db.models import VenRow
from gateway.oadr20b.store import TOUCH_CHUNK, VtnStore

VENS = 2 * TOUCH_CHUNK + 7
T0 = datetime(2030, 1, 15, 17, 0, tzinfo=UTC)


@pytest.fixture
async def db(any_database_url: str) -> AsyncIterator[Database]:
    database = Database(any_database_url)
    await migrate.upgrade(database)
    async with database.write() as session:
        await session.execute(
            insert(VenRow),
            [
                {"ven_id": f"ven-{i}", "name": f"ven-{i}-{uuid.uuid4().hex[:6]}",
                 "provisioned": True, "created_at": T0, "delivered_events": {}}
                for i in range(VENS)
            ],
        )  # fmt: skip
    yield database
    await database.dispose()


async def test_every_time_is_stored_aware_in_chunks_of_touch_chunk_rows(db: Database) -> None:
    seen = {f"ven-{i}": T0 + timedelta(seconds=i) for i in range(VENS)}
    statements: list[int] = []

    def count(conn: Any, cursor: Any, statement: str, params: Any, ctx: Any, many: bool) -> None:
        if statement.lstrip().upper().startswith("UPDATE") and "last_seen_at" in statement:
            statements.append(len(params) if many else 1)

    event.listen(db.engine.sync_engine, "before_cursor_execute", count)
    try:
        await VtnStore(db).touch(seen)
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", count)

    assert statements == [TOUCH_CHUNK, TOUCH_CHUNK, 7]
    async with db.read() as session:
        stored = dict((await session.execute(select(VenRow.ven_id, VenRow.last_seen_at))).all())
    assert stored == seen
    assert all(when is not None and when.tzinfo is not None for when in stored.values())


async def test_nothing_seen_writes_nothing(db: Database) -> None:
    await VtnStore(db).touch({})
    async with db.read() as session:
        assert set((await session.scalars(select(VenRow.last_seen_at))).all()) == {None}
