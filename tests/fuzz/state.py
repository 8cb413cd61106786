"""What a refused request must leave alone: every row of every table, read back in full."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select

from gateway.db.engine import Database
from gateway.db.models import Base

# Columns a request may move without changing anything a client could see as a write:
# a VEN's last_seen_at follows every authenticated message, refused or not.
VOLATILE: Mapping[str, frozenset[str]] = {"vens": frozenset({"last_seen_at"})}

Rows = dict[str, list[tuple[Any, ...]]]


async def database_rows(db: Database) -> Rows:
    """Every table's rows (volatile columns left out), in a stable order."""
    rows: Rows = {}
    async with db.read() as session:
        for table in Base.metadata.sorted_tables:
            columns = [c for c in table.columns if c.name not in VOLATILE.get(table.name, ())]
            found = (await session.execute(select(*columns))).all()
            rows[table.name] = sorted((tuple(r) for r in found), key=repr)
    return rows


def changed_tables(before: Rows, after: Rows) -> dict[str, tuple[int, int]]:
    """Table -> (rows before, rows after) for every table whose content differs."""
    return {
        name: (len(before.get(name, [])), len(rows))
        for name, rows in after.items()
        if rows != before.get(name, [])
    }
