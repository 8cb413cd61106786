"""The 3.x fields of objects (``Oadr3ObjectRow``), read and written beside their core rows."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.oadr3.models import Oadr3ObjectRow


class Kind(StrEnum):
    """openadr3.yaml objectTypes."""

    PROGRAM = "PROGRAM"
    EVENT = "EVENT"
    REPORT = "REPORT"
    SUBSCRIPTION = "SUBSCRIPTION"
    VEN = "VEN"
    RESOURCE = "RESOURCE"


async def rows_of(
    session: AsyncSession, kind: Kind, ids: Collection[str] | None = None
) -> dict[str, Oadr3ObjectRow]:
    query = select(Oadr3ObjectRow).where(Oadr3ObjectRow.kind == kind.value)
    if ids is not None:
        if not ids:
            return {}
        query = query.where(Oadr3ObjectRow.id.in_(set(ids)))
    return {row.id: row for row in await session.scalars(query)}


async def row_of(session: AsyncSession, kind: Kind, object_id: str) -> Oadr3ObjectRow | None:
    return await session.get(Oadr3ObjectRow, (kind.value, object_id))


async def put(
    session: AsyncSession,
    kind: Kind,
    object_id: str,
    document: dict[str, Any],
    now: datetime,
    *,
    client_id: str | None = None,
    program_id: str | None = None,
    ven_id: str | None = None,
) -> Oadr3ObjectRow:
    """Create the object's row or replace its fields (its creation time stays)."""
    row = await row_of(session, kind, object_id)
    if row is None:
        row = Oadr3ObjectRow(kind=kind.value, id=object_id, created_at=now)
        session.add(row)
    row.document = document
    row.client_id = client_id
    row.program_id = program_id
    row.ven_id = ven_id
    row.modified_at = now
    return row


async def remove(session: AsyncSession, kind: Kind, object_ids: Collection[str]) -> None:
    if object_ids:
        await session.execute(
            delete(Oadr3ObjectRow).where(
                Oadr3ObjectRow.kind == kind.value, Oadr3ObjectRow.id.in_(set(object_ids))
            )
        )
