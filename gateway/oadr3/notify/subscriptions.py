"""The subscriptions store: CRUD with object privacy, each change notified in its transaction.

A VEN client reads, updates and deletes only its own subscriptions (Definition.md, VEN created
object privacy); a business-logic client all of them. Creating, updating or deleting one is
itself a SUBSCRIPTION change: its webhook notifications are queued in the same transaction.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.clock import Clock
from gateway.db.engine import Database
from gateway.oadr3.notify.models import SubscriptionRow
from gateway.oadr3.notify.outbox import WebhookOutbox
from gateway.oadr3.notify.rows import callbacks_of, operations_json, representation, subject_of
from gateway.oadr3.notify.rules import Callback, ObjectType, Operation


@dataclass(frozen=True, slots=True)
class Client:
    """Who asks: a business-logic client sees every subscription, a VEN client its own."""

    client_id: str
    business: bool
    ven_id: str | None = None


@dataclass(frozen=True, slots=True)
class SubscriptionTerms:
    client_name: str
    program_id: str | None
    callbacks: tuple[Callback, ...]
    targets: tuple[str, ...] | None


@dataclass(frozen=True, slots=True)
class SubscriptionQuery:
    program_id: str | None = None
    client_name: str | None = None
    objects: frozenset[ObjectType] = frozenset()
    skip: int = 0
    limit: int = 50


class SubscriptionStore:
    def __init__(self, db: Database, clock: Clock, outbox: WebhookOutbox) -> None:
        self._db = db
        self._clock = clock
        self._outbox = outbox

    async def create(self, client: Client, terms: SubscriptionTerms) -> dict[str, Any]:
        now = self._clock.now()
        row = SubscriptionRow(
            id=uuid.uuid4().hex,
            client_id=client.client_id,
            client_role="BL" if client.business else "VEN",
            ven_id=client.ven_id,
            created_at=now,
            consecutive_failures=0,
        )
        _apply(row, terms, now)
        async with self._db.write() as session:
            session.add(row)
            await session.flush()
            await self._notify(session, row, Operation.CREATE)
            created = representation(row)
        self._outbox.wake()
        return created

    async def find(self, client: Client, query: SubscriptionQuery) -> list[dict[str, Any]]:
        statement = select(SubscriptionRow).order_by(SubscriptionRow.created_at, SubscriptionRow.id)
        if not client.business:
            statement = statement.where(SubscriptionRow.client_id == client.client_id)
        if query.program_id is not None:
            statement = statement.where(SubscriptionRow.program_id == query.program_id)
        if query.client_name is not None:
            statement = statement.where(SubscriptionRow.client_name == query.client_name)
        async with self._db.read() as session:
            rows = (await session.scalars(statement)).all()
        if query.objects:  # JSON contents: filtered here, the same on SQLite and PostgreSQL
            rows = [r for r in rows if any(query.objects & c.objects for c in callbacks_of(r))]
        return [representation(r) for r in rows[query.skip : query.skip + query.limit]]

    async def get(self, client: Client, subscription_id: str) -> dict[str, Any] | None:
        async with self._db.read() as session:
            row = await _visible(session, client, subscription_id)
            return None if row is None else representation(row)

    async def update(
        self, client: Client, subscription_id: str, terms: SubscriptionTerms
    ) -> dict[str, Any] | None:
        """Replaces its terms; a broken subscription, its callbacks checked again, is healthy."""
        async with self._db.write() as session:
            row = await _visible(session, client, subscription_id, for_update=True)
            if row is None:
                return None
            _apply(row, terms, self._clock.now())
            row.consecutive_failures = 0
            row.last_error = None
            row.broken_at = None
            await session.flush()
            await self._notify(session, row, Operation.UPDATE)
            updated = representation(row)
        self._outbox.wake()
        return updated

    async def delete(self, client: Client, subscription_id: str) -> dict[str, Any] | None:
        async with self._db.write() as session:
            row = await _visible(session, client, subscription_id, for_update=True)
            if row is None:
                return None
            gone = representation(row)
            subject = subject_of(row)
            await session.delete(row)
            await session.flush()
            await self._outbox.fan_out(
                session, subject, Operation.DELETE, f"delete:{row.id}", self._clock.now()
            )
        self._outbox.wake()
        return gone

    async def _notify(self, session: AsyncSession, row: SubscriptionRow, op: Operation) -> None:
        key = f"{op.value.lower()}:{row.id}:{row.modified_at.timestamp()}"
        await self._outbox.fan_out(session, subject_of(row), op, key, self._clock.now())


def _apply(row: SubscriptionRow, terms: SubscriptionTerms, now: datetime) -> None:
    row.client_name = terms.client_name
    row.program_id = terms.program_id
    row.object_operations = operations_json(terms.callbacks)
    row.targets = None if terms.targets is None else list(terms.targets)
    row.modified_at = now


async def _visible(
    session: AsyncSession, client: Client, subscription_id: str, *, for_update: bool = False
) -> SubscriptionRow | None:
    statement = select(SubscriptionRow).where(SubscriptionRow.id == subscription_id)
    if not client.business:
        statement = statement.where(SubscriptionRow.client_id == client.client_id)
    if for_update:
        statement = statement.with_for_update()
    return (await session.scalars(statement)).one_or_none()
