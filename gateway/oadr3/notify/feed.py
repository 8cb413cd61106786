"""Core changes -> 3.x notifications: the dr_events feed, fanned out to webhooks and MQTT.

Every change the core makes, whoever made it (admin API, 2.0b VEN, 3.x client, executor), is
announced on ``dr_events`` through the outbox with a ``message_id``, and appended to its log (a
Redis stream). The replicas read the log as one consumer group (``bus.log_reader``): each
message is taken by one of them, also one published while none was running (a restart loses
nothing: the group remembers where it is). The feed reads the object as 3.x clients see it,
queues one webhook notification per callback that may hear of it (keyed by the message id, so a
message heard twice, or by two replicas, is queued once) and publishes it on the MQTT topics
(claimed in Redis by message id, so two replicas publish it once). A database outage while
queueing is retried, not dropped."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from dataclasses import replace

from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from gateway.bus.log_reader import LogReader
from gateway.bus.outbox import log_of
from gateway.clock import Clock
from gateway.db.engine import Database
from gateway.oadr3.notify.mqtt import MqttNotifier
from gateway.oadr3.notify.objects import SubjectSource
from gateway.oadr3.notify.outbox import WebhookOutbox
from gateway.oadr3.notify.rules import (
    CoreChange,
    Operation,
    Subject,
    core_change,
    notification,
    topics_of,
)

logger = logging.getLogger(__name__)

RETRY_SECONDS = 1.0
MAX_TRIES = 30  # a database away for longer than this loses the change's webhooks (logged)
MQTT_CLAIM_SECONDS = 3600
GROUP = "oadr3-notify"


class NotificationFeed:
    def __init__(
        self,
        *,
        db: Database,
        redis: Redis,
        prefix: str,
        channel: str,
        clock: Clock,
        subjects: SubjectSource,
        outbox: WebhookOutbox,
        mqtt: MqttNotifier | None,
    ) -> None:
        self._db = db
        self._redis = redis
        self._prefix = prefix
        self._channel = channel
        self._clock = clock
        self._subjects = subjects
        self._outbox = outbox
        self._mqtt = mqtt
        self._reader = LogReader(
            redis, log_of(channel), GROUP, uuid.uuid4().hex, self.take,
            name="oadr3 notifications",
        )  # fmt: skip
        self.subscribed = self._reader.ready
        self.handled = 0

    async def listen(self, stopping: asyncio.Event) -> None:
        """Until ``stopping``: handle each message of the log, joining again after an outage."""
        await self._reader.run(stopping)

    async def take(self, data: bytes | str | None) -> None:
        try:
            message = json.loads(data or b"")
        except (ValueError, UnicodeDecodeError):
            return
        if not isinstance(message, dict):
            return
        change = core_change(message)
        if change is not None:
            await self.notify(change)

    async def notify(self, change: CoreChange) -> None:
        subject = await self._queue(change)
        if subject is None:
            return
        self._outbox.wake()
        self.handled += 1
        await self.publish_mqtt(subject, change.object_id, change.operation, change.key)

    async def _queue(self, change: CoreChange) -> Subject | None:
        for attempt in range(1, MAX_TRIES + 1):
            try:
                if self._mqtt is None and not await self._outbox.has_subscribers():
                    return None
                subject = await self._subjects.subject(change)
                if subject is None:
                    return None
                async with self._db.write() as session:
                    await self._outbox.fan_out(
                        session, subject, change.operation, change.key, self._clock.now()
                    )
                return subject
            except (SQLAlchemyError, OSError, RedisError) as err:
                if attempt == MAX_TRIES:
                    logger.error("oadr3 notifications: %s not queued: %s", change, err)
                    return None
                await asyncio.sleep(RETRY_SECONDS)
        return None

    async def publish_mqtt(
        self, subject: Subject, object_id: str, operation: Operation, key: str
    ) -> None:
        if self._mqtt is None:
            return
        try:
            claimed = await self._redis.set(
                f"{self._prefix}oadr3:mqtt:{key}", "1", nx=True, ex=MQTT_CLAIM_SECONDS
            )
            if not claimed:
                return  # another replica publishes it
            vens = subject.ven_ids
            if vens is None:
                vens = frozenset(await self._subjects.all_ven_ids())
        except (RedisError, OSError, SQLAlchemyError) as err:
            logger.warning("oadr3 notifications: MQTT notification of %s skipped: %s", key, err)
            return
        topics = topics_of(subject, object_id, operation, sorted(vens))
        # MQTT topics have no per-client filtering: a targeted object shows no targets there.
        anonymous = replace(subject, shown_targets={}) if subject.targets else subject
        body = json.dumps(notification(anonymous, operation, ""), separators=(",", ":"))
        self._mqtt.publish(topics, body)
