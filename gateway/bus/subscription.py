"""Following Redis pub/sub channels until a stop: the one loop under every listener here.

It ends by a flag, never by cancelling its task: a task cancelled inside redis-py's blocking
pub/sub read has been seen to lose the cancel and stay "cancelling" for good, holding its
app's shutdown. Each read is a task of its own, bounded by ``READ_SECONDS``, raced against
``stopping``: on a stop a PING on the subscription brings an answer that ends the read at once
(its own bound would, else), and only then is the subscription closed: its connection goes
back to the pool, so no read may be left on it. A lost connection is retried every
``RECONNECT_SECONDS``; ``on_subscribed`` runs each time the subscription is made (again):
messages may have been missed meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

from gateway.supervisor import pause

logger = logging.getLogger(__name__)

READ_SECONDS = 1.0
RECONNECT_SECONDS = 1.0

MessageHandler = Callable[[str, Any], Awaitable[None] | None]


async def follow(
    redis: Redis,
    channels: Sequence[str],
    on_message: MessageHandler,
    stopping: asyncio.Event,
    *,
    name: str,
    on_subscribed: Callable[[], None] | None = None,
    on_lost: Callable[[], None] | None = None,
) -> None:
    """Call ``on_message(channel, data)`` for each message on ``channels`` until ``stopping``
    is set; ``on_lost`` runs whenever the subscription ends (an outage or the stop)."""
    while not stopping.is_set():
        try:
            async with redis.pubsub(ignore_subscribe_messages=True) as pubsub:
                await pubsub.subscribe(*channels)
                if on_subscribed is not None:
                    on_subscribed()
                while not stopping.is_set():
                    message = await _next(pubsub, stopping)
                    if message is None or message.get("type") != "message":
                        continue
                    channel = message.get("channel")
                    if isinstance(channel, bytes):
                        channel = channel.decode()
                    handled = on_message(str(channel), message.get("data"))
                    if inspect.isawaitable(handled):
                        await handled
        except (RedisError, OSError) as err:
            logger.warning("%s: %s lost (%s); resubscribing", name, ", ".join(channels), err)
        finally:
            if on_lost is not None:
                on_lost()
        await pause(stopping, RECONNECT_SECONDS)


async def _next(pubsub: PubSub, stopping: asyncio.Event) -> dict[str, Any] | None:
    """The next message, None after ``READ_SECONDS`` without one or once ``stopping`` is set."""
    reading = asyncio.ensure_future(
        pubsub.get_message(ignore_subscribe_messages=True, timeout=READ_SECONDS)
    )
    stopped = asyncio.ensure_future(stopping.wait())
    try:
        await asyncio.wait({reading, stopped}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopped.cancel()
    if not reading.done():
        with contextlib.suppress(RedisError, OSError, TimeoutError):
            await asyncio.wait_for(pubsub.ping(), READ_SECONDS)
        await asyncio.wait({reading}, timeout=2 * READ_SECONDS)
        if not reading.done():
            raise RedisError("a pub/sub read outlived its own bound")
    message: dict[str, Any] | None = reading.result()
    return None if stopping.is_set() else message
