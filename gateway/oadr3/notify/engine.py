"""The notification engine of one gateway process: its parts, started and stopped together."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from dataclasses import dataclass
from datetime import timedelta

from aiohttp import web
from prometheus_client import CollectorRegistry

from gateway.oadr3.notify.api_objects import ApiSubjects
from gateway.oadr3.notify.callbacks import CallbackClient, CallbackPolicy
from gateway.oadr3.notify.delivery import DeliveryWorker
from gateway.oadr3.notify.feed import NotificationFeed
from gateway.oadr3.notify.metrics import NotifyMetrics
from gateway.oadr3.notify.mqtt import Broker, MqttNotifier
from gateway.oadr3.notify.objects import SubjectSource
from gateway.oadr3.notify.outbox import WebhookOutbox
from gateway.oadr3.notify.rules import RetryPolicy
from gateway.oadr3.notify.subscriptions import SubscriptionStore
from gateway.services.container import Services
from gateway.supervisor import TaskSupervisor

logger = logging.getLogger(__name__)

# The feed must hear dr_events before the outbox publishes what start-up left queued.
SUBSCRIBE_WAIT_SECONDS = 2.0


@dataclass(frozen=True, slots=True)
class Notify:
    store: SubscriptionStore
    outbox: WebhookOutbox
    callbacks: CallbackClient
    feed: NotificationFeed
    worker: DeliveryWorker
    mqtt: MqttNotifier | None


NOTIFY = web.AppKey("oadr3_notify", Notify)


def build_notify(
    services: Services,
    subjects: SubjectSource | None = None,
    registry: CollectorRegistry | None = None,
) -> Notify:
    settings = services.settings
    retry = RetryPolicy(
        first_delay=timedelta(seconds=settings.oadr3_webhook_retry_first_seconds),
        max_delay=timedelta(seconds=settings.oadr3_webhook_retry_max_seconds),
        broken_after=settings.oadr3_webhook_broken_after,
    )
    outbox = WebhookOutbox(services.db, retry)
    callbacks = CallbackClient(
        CallbackPolicy(
            allow_http=settings.oadr3_webhook_allow_http,
            allow_private=settings.oadr3_webhook_allow_private,
            timeout_seconds=settings.oadr3_webhook_timeout_seconds,
        )
    )
    mqtt = None
    if settings.oadr3_mqtt_url is not None:
        mqtt = MqttNotifier(
            Broker.parse(settings.oadr3_mqtt_url), f"oadr-gateway-{uuid.uuid4().hex[:12]}"
        )
    feed = NotificationFeed(
        db=services.db,
        redis=services.redis,
        prefix=settings.redis_prefix,
        channel=settings.dr_events_channel,
        clock=services.clock,
        subjects=subjects or ApiSubjects(services),
        outbox=outbox,
        mqtt=mqtt,
    )
    return Notify(
        store=SubscriptionStore(services.db, services.clock, outbox),
        outbox=outbox,
        callbacks=callbacks,
        feed=feed,
        worker=DeliveryWorker(
            outbox,
            callbacks,
            services.clock,
            metrics=None if registry is None else NotifyMetrics(registry, mqtt),
        ),
        mqtt=mqtt,
    )


async def start_notify(notify: Notify, supervisor: TaskSupervisor) -> None:
    supervisor.start(notify.feed.listen(supervisor.stopping), "oadr3-notify-feed")
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(notify.feed.subscribed.wait(), SUBSCRIBE_WAIT_SECONDS)
    if not notify.feed.subscribed.is_set():
        logger.warning("oadr3 notifications: not yet subscribed to dr_events; retrying")
    supervisor.start(notify.worker.run(supervisor.stopping), "oadr3-webhooks")
    if notify.mqtt is not None:
        supervisor.start(notify.mqtt.run(supervisor.stopping), "oadr3-mqtt")


async def close_notify(notify: Notify) -> None:
    await notify.callbacks.close()
