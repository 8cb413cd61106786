"""The dr_events outbox: messages are stored with the change they announce, then published.

A change and its message commit together, so a crash can never keep one and lose the other.
Publishing is at-least-once: a crash between publish and delete repeats a message, which
consumers recognise by its ``message_id``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy import delete, select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.db.engine import Database
from gateway.db.models import OutboxRow

logger = logging.getLogger(__name__)

_PG_PUBLISH_LOCK = 0x0ADC_0B0C


# The key under which a staged message carries its companion (channel, body): published on
# that channel, and never seen by the message's own subscribers.
_COMPANION = "_companion"


def stage_message(
    session: AsyncSession,
    channel: str,
    event: str,
    now: datetime,
    *,
    companion: tuple[str, dict[str, Any]] | None = None,
    **fields: Any,
) -> None:
    """Add a dr_events message to the current transaction, with its ``companion`` (channel,
    body) if any: both are published together, the companion with the message's id."""
    payload = {
        "event": event,
        "message_id": str(uuid.uuid4()),
        "occurred_at": now.isoformat(),
        **fields,
    }
    if companion is not None:
        payload[_COMPANION] = list(companion)
    session.add(OutboxRow(channel=channel, payload=json.dumps(payload), created_at=now))


def _published(channel: str, payload: str) -> list[tuple[str, str]]:
    """What one outbox row publishes: its message, and its companion after it."""
    if _COMPANION not in payload:  # the common case: no JSON parsed
        return [(channel, payload)]
    message = json.loads(payload)
    companion = message.pop(_COMPANION, None)
    out = [(channel, json.dumps(message))]
    if isinstance(companion, list) and len(companion) == 2:
        companion_channel, body = companion
        out.append(
            (str(companion_channel), json.dumps({**body, "message_id": message.get("message_id")}))
        )
    return out


# A published channel's messages are also appended to its log (a Redis stream) for readers
# that must not miss one while they are not subscribed (the 3.x notifications); the log keeps
# about this many.
LOG_MAXLEN = 50_000


def log_of(channel: str) -> str:
    """The Redis stream a mirrored channel's messages are appended to."""
    return f"{channel}:log"


class OutboxPublisher:
    def __init__(
        self, database: Database, redis: Redis, batch_size: int = 500,
        logged: frozenset[str] = frozenset(),
    ) -> None:  # fmt: skip
        """``logged``: the channels whose messages also go to their log (``log_of``)."""
        self._db = database
        self._redis = redis
        self._batch_size = batch_size
        self._logged = logged
        self._lock = asyncio.Lock()
        # Called with each published batch (channel, JSON payload): caches in this process
        # (the VTN's) see a change as soon as it is published, not when it comes back.
        self.on_published: list[Callable[[list[tuple[str, str]]], None]] = []

    async def flush(self) -> int:
        """Publish everything pending; returns how many messages went out. Never raises."""
        try:
            return await self._drain()
        except (RedisError, OSError, SQLAlchemyError) as err:
            logger.warning("dr_events messages stay queued, publishing failed: %s", err)
            return 0

    async def _drain(self) -> int:
        sent = 0
        async with self._lock:
            while True:
                async with self._db.write() as session:
                    if not await self._take_turn(session):
                        return sent
                    rows = (
                        await session.scalars(
                            select(OutboxRow).order_by(OutboxRow.id).limit(self._batch_size)
                        )
                    ).all()
                    if not rows:
                        return sent
                    batch = [m for row in rows for m in _published(row.channel, row.payload)]
                    async with self._redis.pipeline(transaction=False) as pipe:
                        for channel, payload in batch:
                            pipe.publish(channel, payload)
                            if channel in self._logged:
                                pipe.xadd(
                                    log_of(channel), {"m": payload},
                                    maxlen=LOG_MAXLEN, approximate=True,
                                )  # fmt: skip
                        await pipe.execute()
                    for callback in self.on_published:
                        callback(batch)
                    await session.execute(
                        delete(OutboxRow).where(OutboxRow.id.in_([row.id for row in rows]))
                    )
                    sent += len(rows)

    async def _take_turn(self, session: AsyncSession) -> bool:
        """On PostgreSQL one replica publishes at a time, so messages keep their order."""
        if self._db.is_sqlite:
            return True  # BEGIN IMMEDIATE already serialises writers
        result = await session.execute(
            text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": _PG_PUBLISH_LOCK}
        )
        return bool(result.scalar())
