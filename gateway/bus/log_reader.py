"""Reading a channel's log (a Redis stream the outbox appends to, ``outbox.log_of``) as one of
a consumer group, until a stop: every message is handled once by some member, also those
published while no member was reading (the group remembers where it is), and a message a
member took but never acknowledged (it died) is taken over by another after ``CLAIM_IDLE``.

The group is made at the log's end the first time (what came before it is not read); after a
Redis restart or flush (the log and the group gone) it is made again. A message is
acknowledged after its handler returns, so a crash in between hands it to another member:
at least once, as the outbox publishes it. Reads block at most ``READ_SECONDS``: a stop is
seen within that. A lost connection is retried every ``RECONNECT_SECONDS``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError, ResponseError

from gateway.supervisor import pause

logger = logging.getLogger(__name__)

READ_SECONDS = 0.2  # an idle member asks five times a second: cheap, and a stop is quick
RECONNECT_SECONDS = 1.0
CLAIM_IDLE_SECONDS = 30.0
BATCH = 100


class LogReader:
    def __init__(
        self,
        redis: Redis,
        log: str,
        group: str,
        consumer: str,
        on_message: Callable[[bytes | str], Awaitable[None]],
        *,
        name: str,
    ) -> None:
        self._redis = redis
        self._log = log
        self._group = group
        self._consumer = consumer
        self._on_message = on_message
        self._name = name
        self.ready = asyncio.Event()  # set while the group is there and being read

    async def run(self, stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            try:
                await self._join()
                self.ready.set()
                await self._take(await self._claim())
                while not stopping.is_set():
                    await self._take(await self._read())
                    if not self.ready.is_set():
                        break
            except (RedisError, OSError) as err:
                self.ready.clear()
                logger.warning("%s: log not read (%s); retrying", self._name, err)
                await pause(stopping, RECONNECT_SECONDS)

    async def _join(self) -> None:
        try:
            await self._redis.xgroup_create(self._log, self._group, id="$", mkstream=True)
        except ResponseError as err:
            if "BUSYGROUP" not in str(err):
                raise  # else: the group is there already

    async def _claim(self) -> list[tuple[Any, dict[Any, Any]]]:
        """Messages a member took and never acknowledged (it died), idle long enough."""
        answer = await self._redis.xautoclaim(
            self._log, self._group, self._consumer,
            min_idle_time=int(CLAIM_IDLE_SECONDS * 1000), start_id="0-0", count=BATCH,
        )  # fmt: skip
        return list(answer[1]) if len(answer) > 1 else []

    async def _read(self) -> list[tuple[Any, dict[Any, Any]]]:
        try:
            found = await self._redis.xreadgroup(
                self._group, self._consumer, {self._log: ">"}, count=BATCH,
                block=int(READ_SECONDS * 1000),
            )  # fmt: skip
        except ResponseError as err:
            if "NOGROUP" not in str(err) and "UNBLOCKED" not in str(err):
                raise
            self.ready.clear()  # the log was lost (a Redis restart, a flush): join again
            return []
        found_by_log: list[Any] = list(found or ())
        return [entry for _log, entries in found_by_log for entry in entries]

    async def _take(self, entries: list[tuple[Any, dict[Any, Any]]]) -> None:
        for entry_id, fields in entries:
            if not fields:
                continue  # trimmed away meanwhile
            data = fields.get(b"m", fields.get("m"))
            if data is not None:
                await self._on_message(data)
            await self._redis.xack(self._log, self._group, entry_id)
