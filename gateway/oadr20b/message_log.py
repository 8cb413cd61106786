"""The last 2.0b messages exchanged with each VEN (pull and push), for the operator.

Diagnostics, not a record: a message costs the poll path an append in memory, and every
process writes what it gathered to a capped Redis list per VEN with the last-seen flush (a
pipeline per chunk of VENs), so all processes and replicas contribute to one list. A process that
dies loses what it gathered since its last flush (a few seconds).
"""

from __future__ import annotations

import functools
import json
import logging
from collections import deque
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field
from redis.asyncio import Redis
from redis.exceptions import RedisError

from gateway.clock import Clock
from gateway.oadr20b.errors import StatusCode

logger = logging.getLogger(__name__)

MESSAGES_PER_VEN = 50
# VENs with messages waiting for the next flush; past this, messages of further VENs are dropped
# until it (a flood of VENs must not grow the process without bound while Redis is down).
MAX_PENDING_VENS = 10_000
# A VEN's list outlives its last message this long (a deleted VEN's goes away on its own).
KEEP_SECONDS = 30 * 24 * 3600
DESCRIPTION_CHARS = 200
# VENs written per Redis round trip of a flush.
FLUSH_CHUNK = 200


class Direction(StrEnum):
    FROM_VEN = "from_ven"
    TO_VEN = "to_ven"


# One message as noted on the poll path (a tuple: no per-message object to build there):
# direction, message type, requestID, response code, description.
Message = tuple[Direction, str, str | None, int | None, str | None]


def _encode(at: datetime, message: Message) -> str:
    return f"[{at.timestamp()!r},{_rest(message)}"


@functools.lru_cache(maxsize=4096)
def _rest(message: Message) -> str:
    """The JSON of a message after its time: most messages repeat (polls and their answers
    carry no requestID), so each is encoded once, not at every flush."""
    direction, message_type, request_id, code, description = message
    # An OK answer needs no words; a refusal keeps its description, and so does a message
    # with no OpenADR code that did not get through (a push the VEN's server refused).
    if code == int(StatusCode.OK):
        description = None
    elif description is not None:
        description = description[:DESCRIPTION_CHARS]
    return json.dumps([direction, message_type, request_id, code, description])[1:]


class MessageView(BaseModel):
    """One 2.0b message exchanged with a VEN."""

    at: datetime = Field(description="when the gateway received or sent it (UTC)")
    direction: Direction
    message_type: str
    request_id: str | None = Field(description="the requestID it carried, null when none")
    response_code: int | None = Field(
        description="the OpenADR responseCode of its answer (of the message itself for an "
        "answer: oadrResponse and the like); null when there was none"
    )
    error_code: int | None = Field(
        description="the OpenADR error code when the message or its answer was a refusal"
    )
    description: str | None = Field(
        description="the refusal's description, when refused; for a push that did not reach "
        'the VEN, why ("push failed: ...")'
    )


def response_of(payload: dict[str, Any]) -> tuple[int | None, str | None]:
    """The responseCode and description an answer's payload (openleadr's keys) carries."""
    response = payload.get("response")
    if not isinstance(response, dict):
        return None, None
    try:
        code = int(response.get("response_code"))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        code = None
    description = response.get("response_description")
    return code, description if isinstance(description, str) else None


def _view(raw: bytes | str) -> MessageView | None:
    try:
        at, direction, message_type, request_id, code, description = json.loads(raw)
        refused = isinstance(code, int) and code != int(StatusCode.OK)
        return MessageView(
            at=datetime.fromtimestamp(at, UTC),
            direction=direction,
            message_type=message_type,
            request_id=request_id,
            response_code=code,
            error_code=code if refused else None,
            description=description,
        )
    except (ValueError, TypeError):
        return None  # written by another version: left out, not a 500


class MessageLog:
    def __init__(self, redis: Redis, prefix: str, clock: Clock) -> None:
        self._redis = redis
        self._prefix = prefix
        self._clock = clock
        self._pending: dict[str, deque[tuple[datetime, Message]]] = {}
        self.dropped = 0

    def key(self, ven_id: str) -> str:
        return f"{self._prefix}vtn:messages:{ven_id}"

    def record(self, ven_id: str, *messages: Message) -> None:
        """Note messages exchanged now (in memory until the next flush)."""
        pending = self._pending.get(ven_id)
        if pending is None:
            if len(self._pending) >= MAX_PENDING_VENS:
                self.dropped += len(messages)
                return
            pending = self._pending[ven_id] = deque(maxlen=MESSAGES_PER_VEN)
        now = self._clock.now()
        for message in messages:
            pending.append((now, message))

    def record_answer(
        self, ven_id: str, direction: Direction, message_type: str, payload: dict[str, Any]
    ) -> None:
        """Note an answer (an oadrResponse and the like) with the code it carries."""
        response = payload.get("response")
        request_id = response.get("request_id") if isinstance(response, dict) else None
        if not isinstance(request_id, str):
            request_id = None
        self.record(ven_id, (direction, message_type, request_id, *response_of(payload)))

    async def flush(self) -> None:
        """Append what was gathered to each VEN's list in Redis, capped, a chunk of VENs per
        round trip (polls are answered between chunks); what a failure left unwritten is kept
        for the next flush (still capped per VEN)."""
        pending, self._pending = self._pending, {}
        items = list(pending.items())
        for first in range(0, len(items), FLUSH_CHUNK):
            chunk = items[first : first + FLUSH_CHUNK]
            try:
                async with self._redis.pipeline(transaction=False) as pipe:
                    for ven_id, messages in chunk:
                        key = self.key(ven_id)
                        # LPUSH of oldest..newest leaves the newest at the head.
                        pipe.lpush(key, *(_encode(at, m) for at, m in messages))
                        pipe.ltrim(key, 0, MESSAGES_PER_VEN - 1)
                        pipe.expire(key, KEEP_SECONDS)
                    await pipe.execute()
            except Exception:
                for ven_id, messages in items[first:]:
                    newer = self._pending.get(ven_id, ())
                    self._pending[ven_id] = deque([*messages, *newer], maxlen=MESSAGES_PER_VEN)
                raise

    async def forget(self, ven_id: str) -> None:
        """The VEN was deleted: its log goes (what is pending here and what Redis keeps), so
        nothing of it lingers for a month or shows under a new VEN of the same venID. A Redis
        outage leaves the list to expire: logged, not raised (the deletion itself is done)."""
        self._pending.pop(ven_id, None)
        try:
            await self._redis.delete(self.key(ven_id))
        except (RedisError, OSError) as err:
            logger.warning("vtn: message log of deleted VEN %s kept (%s)", ven_id, err)

    async def last(self, ven_id: str) -> list[MessageView]:
        """The VEN's last messages as stored, newest first (Redis errors propagate)."""
        raw = await self._redis.lrange(self.key(ven_id), 0, MESSAGES_PER_VEN - 1)
        return [view for item in raw if (view := _view(item)) is not None]


__all__ = ["MESSAGES_PER_VEN", "Direction", "Message", "MessageLog", "MessageView", "response_of"]
