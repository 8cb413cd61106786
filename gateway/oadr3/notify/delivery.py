"""The webhook delivery worker: posts due outbox rows, records each result.

It wakes when rows are queued (``WebhookOutbox.queued``), when the next retry comes due, and
every ``IDLE_POLL_SECONDS`` at the least (rows another replica left behind). Rows are leased
for longer than a POST may take, so a replica that dies mid-POST leaves its rows to be taken
again after the lease."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import timedelta

from sqlalchemy.exc import SQLAlchemyError

from gateway.clock import Clock
from gateway.oadr3.notify.callbacks import CallbackClient
from gateway.oadr3.notify.metrics import HEALTH_EVERY_SECONDS, NotifyMetrics
from gateway.oadr3.notify.outbox import Delivery, WebhookOutbox
from gateway.supervisor import woken

logger = logging.getLogger(__name__)

CONCURRENCY = 20
IDLE_POLL_SECONDS = 30.0
MIN_WAIT_SECONDS = 0.02


class DeliveryWorker:
    def __init__(
        self,
        outbox: WebhookOutbox,
        client: CallbackClient,
        clock: Clock,
        poll_seconds: float = 1.0,
        metrics: NotifyMetrics | None = None,
    ) -> None:
        self._outbox = outbox
        self._client = client
        self._clock = clock
        self._poll = poll_seconds
        self._lease = timedelta(seconds=client.policy.timeout_seconds * 3 + 5)
        self.delivered = 0
        self.failed = 0
        self.metrics = metrics
        self._health_at: float | None = None

    async def run(self, stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            try:
                if await self.run_once():
                    continue  # there may be more at once
                wait = await self._idle_seconds()
            except SQLAlchemyError as err:
                logger.warning("oadr3 webhooks: outbox unavailable (%s); retrying", err)
                wait = self._poll
            await woken(self._outbox.queued, stopping, wait)

    async def _idle_seconds(self) -> float:
        """Until the next row is due; with none, until something is queued (or a long poll:
        another replica may have left rows behind)."""
        await self._refresh_health()
        due = await self._outbox.next_due()
        if due is None:
            return IDLE_POLL_SECONDS
        left = (due - self._clock.now()).total_seconds()
        return min(max(left, MIN_WAIT_SECONDS), IDLE_POLL_SECONDS)

    async def run_once(self) -> bool:
        """One batch; True when there was one (there may be more at once)."""
        self._outbox.queued.clear()
        batch = await self._outbox.claim(self._clock.now(), self._lease)
        if not batch:
            return False
        limit = asyncio.Semaphore(CONCURRENCY)

        async def one(delivery: Delivery) -> None:
            async with limit:
                await self._deliver(delivery)

        await asyncio.gather(*(one(d) for d in batch))
        return True

    async def _deliver(self, delivery: Delivery) -> None:
        error = await self._client.post(delivery.callback_url, delivery.body, delivery.bearer_token)
        try:
            if error is None:
                await self._outbox.delivered(delivery, self._clock.now())
                self.delivered += 1
                if self.metrics is not None:
                    self.metrics.deliveries.labels("delivered").inc()
                return
            self.failed += 1
            if self.metrics is not None:
                self.metrics.deliveries.labels("failed").inc()
            broken = await self._outbox.failed(delivery, error, self._clock.now())
        except SQLAlchemyError as err:  # the lease runs out and the row is tried again
            logger.warning("oadr3 webhooks: result of delivery %s not kept: %s", delivery.id, err)
            return
        if broken:
            if self.metrics is not None:
                self.metrics.broken.inc()
            logger.warning(
                "oadr3 webhooks: subscription %s marked broken after %s (%s)",
                delivery.subscription_id, delivery.callback_url, error,
            )  # fmt: skip
        else:
            logger.info(
                "oadr3 webhooks: %s failed (%s); retried later", delivery.callback_url, error
            )

    async def _refresh_health(self) -> None:
        """Now and then, when idle: purge old delivered rows, refresh the gauges."""
        now = time.monotonic()
        if self._health_at is not None and now - self._health_at < HEALTH_EVERY_SECONDS:
            return
        self._health_at = now
        await self._outbox.purge(self._clock.now())
        if self.metrics is not None:
            self.metrics.health(await self._outbox.health())
