"""Prometheus instruments of the notifications, in the application's registry (``/metrics``).

Counters are this process's; the outbox gauges are the database's, refreshed by the delivery
worker at most every ``HEALTH_EVERY_SECONDS`` (so a scrape reads no database).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

from gateway.oadr3.notify.mqtt import MqttNotifier
from gateway.oadr3.notify.outbox import OutboxHealth

HEALTH_EVERY_SECONDS = 10.0


class NotifyMetrics:
    def __init__(self, registry: CollectorRegistry, mqtt: MqttNotifier | None) -> None:
        self.deliveries = Counter(
            "oadr3_webhook_deliveries",
            "Webhook notification POSTs by result (delivered, failed)",
            ["result"],
            registry=registry,
        )
        self.broken = Counter(
            "oadr3_webhook_subscriptions_broken",
            "Subscriptions marked broken after failing too often in a row",
            registry=registry,
        )
        self.pending = Gauge(
            "oadr3_webhook_pending", "Webhook notifications not yet delivered", registry=registry
        )
        self.subscriptions = Gauge(
            "oadr3_webhook_subscriptions",
            "Subscriptions by delivery state (failing: retrying; broken: given up)",
            ["state"],
            registry=registry,
        )
        if mqtt is not None:
            Gauge(
                "oadr3_mqtt_connected", "1 while the MQTT notifier is connected", registry=registry
            ).set_function(lambda: float(mqtt.connected))
            Gauge(
                "oadr3_mqtt_published", "MQTT notifications published", registry=registry
            ).set_function(lambda: float(mqtt.published))
            Gauge(
                "oadr3_mqtt_dropped", "MQTT notifications dropped (queue full)", registry=registry
            ).set_function(lambda: float(mqtt.dropped))

    def health(self, health: OutboxHealth) -> None:
        self.pending.set(health.pending)
        self.subscriptions.labels("failing").set(health.failing_subscriptions)
        self.subscriptions.labels("broken").set(health.broken_subscriptions)
