"""The webhook outbox: every notification owed to a callback, persisted until it is delivered.

A change is fanned out to the callbacks that may hear of it in one transaction (with the
change itself when the change is a subscription's). The delivery worker claims due rows under
a lease, so a crash mid-delivery only delays a row, and a restart loses none. One callback
gets its notifications in order: only its oldest row is tried, and a failure moves all of its
rows back together (capped exponential backoff). A subscription failing too often in a row is
marked broken, its rows dropped, and nothing more is queued for it until it is updated. A
delivered row is kept, emptied, for an hour: a replica that hears the change after it was
delivered finds its key taken and queues nothing.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, delete, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.db.engine import Database
from gateway.oadr3.notify.models import SubscriptionRow, WebhookDeliveryRow
from gateway.oadr3.notify.rows import subscriber_of
from gateway.oadr3.notify.rules import (
    Operation,
    RetryPolicy,
    Subject,
    callbacks_for,
    notification,
)

# A replica hears a change at most this late (it queues it when it hears it).
KEEP_DELIVERED = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class Delivery:
    id: int
    subscription_id: str
    callback_url: str
    bearer_token: str | None
    body: str
    attempts: int


@dataclass(frozen=True, slots=True)
class OutboxHealth:
    pending: int
    failing_subscriptions: int
    broken_subscriptions: int


class WebhookOutbox:
    def __init__(self, db: Database, retry: RetryPolicy) -> None:
        self._db = db
        self.retry = retry
        self.queued = asyncio.Event()  # set when rows were added: the worker looks at once

    def wake(self) -> None:
        self.queued.set()

    async def fan_out(
        self,
        session: AsyncSession,
        subject: Subject,
        operation: Operation,
        key: str,
        now: datetime,
    ) -> int:
        """Queue the notification of ``operation`` on ``subject`` for every callback that may
        hear of it; ``key`` names the change, so hearing it twice queues it once."""
        rows = (
            await session.scalars(
                select(SubscriptionRow).where(SubscriptionRow.broken_at.is_(None))
            )
        ).all()
        bodies: dict[str | None, str] = {}

        def body_for(ven: str | None) -> str:
            if ven not in bodies:
                told = notification(subject, operation, ven)
                bodies[ven] = json.dumps(told, separators=(",", ":"))
            return bodies[ven]

        values = []
        for row in rows:
            subscriber = subscriber_of(row)
            viewer = None if subscriber.business else subscriber.ven_id
            for callback in callbacks_for(subscriber, subject, operation):
                values.append(
                    {
                        "subscription_id": row.id,
                        "callback_url": callback.url,
                        "bearer_token": callback.bearer_token,
                        "change_key": key[:128],
                        "body": body_for(viewer),
                        "attempts": 0,
                        "next_attempt_at": now,
                        "created_at": now,
                    }
                )
        if not values:
            return 0
        insert = sqlite_insert if self._db.is_sqlite else pg_insert
        statement = insert(WebhookDeliveryRow).on_conflict_do_nothing(
            index_elements=["subscription_id", "callback_url", "change_key"]
        )
        await session.execute(statement, values)
        return len(values)

    async def has_subscribers(self) -> bool:
        """Any subscription that may be notified: without one a change costs one read."""
        async with self._db.read() as session:
            found = await session.scalar(
                select(SubscriptionRow.id).where(SubscriptionRow.broken_at.is_(None)).limit(1)
            )
        return found is not None

    async def next_due(self) -> datetime | None:
        """When a row may next be tried (its retry time, or its lease's end); None: empty."""
        row = WebhookDeliveryRow
        ready = case(
            (row.leased_until > row.next_attempt_at, row.leased_until),
            else_=row.next_attempt_at,
        )
        async with self._db.read() as session:
            due: datetime | None = await session.scalar(
                select(func.min(ready)).where(row.delivered_at.is_(None))
            )
        return due

    async def claim(self, now: datetime, lease: timedelta, limit: int = 100) -> list[Delivery]:
        """Due rows, each the oldest of its callback, leased to this worker for ``lease``."""
        async with self._db.write() as session:
            query = (
                select(WebhookDeliveryRow)
                .where(WebhookDeliveryRow.delivered_at.is_(None))
                .where(WebhookDeliveryRow.next_attempt_at <= now)
                .where(
                    or_(
                        WebhookDeliveryRow.leased_until.is_(None),
                        WebhookDeliveryRow.leased_until < now,
                    )
                )
                .order_by(WebhookDeliveryRow.id)
                .limit(limit)
            )
            if not self._db.is_sqlite:  # replicas claim apart (SQLite: one writer at a time)
                query = query.with_for_update(skip_locked=True)
            due = (await session.scalars(query)).all()
            if not due:
                return []
            heads = set(
                (
                    await session.scalars(
                        select(func.min(WebhookDeliveryRow.id))
                        .where(WebhookDeliveryRow.delivered_at.is_(None))
                        .where(
                            WebhookDeliveryRow.subscription_id.in_({r.subscription_id for r in due})
                        )
                        .group_by(
                            WebhookDeliveryRow.subscription_id, WebhookDeliveryRow.callback_url
                        )
                    )
                ).all()
            )
            claimed = [row for row in due if row.id in heads]
            for row in claimed:
                row.leased_until = now + lease
            return [
                Delivery(
                    r.id, r.subscription_id, r.callback_url, r.bearer_token, r.body, r.attempts
                )
                for r in claimed
            ]

    async def delivered(self, delivery: Delivery, now: datetime) -> None:
        async with self._db.write() as session:
            await session.execute(
                update(WebhookDeliveryRow)
                .where(WebhookDeliveryRow.id == delivery.id)
                .values(delivered_at=now, leased_until=None, body="", bearer_token=None)
            )
            await session.execute(
                update(SubscriptionRow)
                .where(SubscriptionRow.id == delivery.subscription_id)
                .values(consecutive_failures=0, last_error=None)
            )

    async def failed(self, delivery: Delivery, error: str, now: datetime) -> bool:
        """Record a failed try; True when the subscription is now broken."""
        attempts = delivery.attempts + 1
        async with self._db.write() as session:
            subscription = await session.get(SubscriptionRow, delivery.subscription_id)
            if subscription is None:
                return False  # deleted meanwhile: its rows went with it
            subscription.consecutive_failures += 1
            subscription.last_error = error[:1000]
            if self.retry.is_broken(max(subscription.consecutive_failures, attempts)):
                subscription.broken_at = now
                await session.execute(
                    delete(WebhookDeliveryRow).where(
                        WebhookDeliveryRow.subscription_id == delivery.subscription_id
                    )
                )
                return True
            await session.execute(
                update(WebhookDeliveryRow)
                .where(WebhookDeliveryRow.id == delivery.id)
                .values(attempts=attempts, leased_until=None)
            )
            # The callback's later rows wait with its head, so its notifications keep order.
            await session.execute(
                update(WebhookDeliveryRow)
                .where(WebhookDeliveryRow.subscription_id == delivery.subscription_id)
                .where(WebhookDeliveryRow.callback_url == delivery.callback_url)
                .where(WebhookDeliveryRow.delivered_at.is_(None))
                .values(next_attempt_at=now + self.retry.delay(attempts))
            )
            return False

    async def purge(self, now: datetime) -> None:
        """Forget rows delivered longer than ``KEEP_DELIVERED`` ago."""
        async with self._db.write() as session:
            await session.execute(
                delete(WebhookDeliveryRow).where(
                    WebhookDeliveryRow.delivered_at < now - KEEP_DELIVERED
                )
            )

    async def health(self) -> OutboxHealth:
        async with self._db.read() as session:
            pending = await session.scalar(
                select(func.count())
                .select_from(WebhookDeliveryRow)
                .where(WebhookDeliveryRow.delivered_at.is_(None))
            )
            failing = await session.scalar(
                select(func.count())
                .select_from(SubscriptionRow)
                .where(SubscriptionRow.consecutive_failures > 0)
                .where(SubscriptionRow.broken_at.is_(None))
            )
            broken = await session.scalar(
                select(func.count())
                .select_from(SubscriptionRow)
                .where(SubscriptionRow.broken_at.is_not(None))
            )
        return OutboxHealth(pending or 0, failing or 0, broken or 0)
