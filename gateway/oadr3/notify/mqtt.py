"""The MQTT notifier: notifications published on the spec's topics of an external broker.

Publishing never blocks the feed: messages wait in a bounded queue while the broker is away
(the oldest dropped, and counted, when it is full) and the publisher reconnects with capped
backoff. QoS 1, so the broker acknowledges each message.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections import deque
from dataclasses import dataclass

import aiomqtt
from yarl import URL

from gateway.supervisor import pause, woken

logger = logging.getLogger(__name__)

QUEUE_LIMIT = 10_000
RECONNECT_MAX_SECONDS = 30.0


@dataclass(frozen=True, slots=True)
class Broker:
    url: str
    host: str
    port: int
    tls: bool
    username: str | None
    password: str | None

    @classmethod
    def parse(cls, url: str) -> Broker:
        """``mqtt://host[:1883]`` or ``mqtts://host[:8883]``, with ``user:password@``."""
        parsed = URL(url)
        if parsed.scheme not in {"mqtt", "mqtts"} or not parsed.host:
            raise ValueError(f"not an MQTT broker URL (mqtt:// or mqtts://): {url!r}")
        tls = parsed.scheme == "mqtts"
        port = parsed.explicit_port or (8883 if tls else 1883)
        public = str(parsed.with_user(None).with_password(None))
        return cls(public, parsed.host, port, tls, parsed.user, parsed.password)


class MqttNotifier:
    def __init__(self, broker: Broker, client_id: str) -> None:
        self.broker = broker
        self._client_id = client_id
        self._queue: deque[tuple[str, bytes]] = deque()
        self._ready = asyncio.Event()
        self.connected = False
        self.published = 0
        self.dropped = 0

    def publish(self, topics: list[str], payload: str) -> None:
        data = payload.encode()
        for topic in topics:
            if len(self._queue) >= QUEUE_LIMIT:
                self._queue.popleft()
                self.dropped += 1
            self._queue.append((topic, data))
        self._ready.set()

    async def run(self, stopping: asyncio.Event) -> None:
        delay = 1.0
        while not stopping.is_set():
            try:
                async with self._client() as client:
                    self.connected = True
                    delay = 1.0
                    logger.info("mqtt notifier connected to %s", self.broker.url)
                    await self._drain(client, stopping)
            except aiomqtt.MqttError as err:
                logger.warning("mqtt notifier: broker %s: %s", self.broker.url, err)
            finally:
                self.connected = False
            if await pause(stopping, delay):
                return
            delay = min(delay * 2, RECONNECT_MAX_SECONDS)

    async def _drain(self, client: aiomqtt.Client, stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            while self._queue:
                topic, data = self._queue[0]
                await client.publish(topic, data, qos=1, timeout=10)
                self._queue.popleft()  # only once the broker has it
                self.published += 1
            self._ready.clear()
            await woken(self._ready, stopping, None)

    def _client(self) -> aiomqtt.Client:
        return aiomqtt.Client(
            self.broker.host,
            self.broker.port,
            username=self.broker.username,
            password=self.broker.password,
            identifier=self._client_id,
            tls_context=ssl.create_default_context() if self.broker.tls else None,
            timeout=10,
        )
