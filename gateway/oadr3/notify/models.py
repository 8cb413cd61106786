"""Tables: 3.x subscriptions and the webhook outbox (notifications not yet delivered)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from gateway.db.models import Base, BigId


class SubscriptionRow(Base):
    __tablename__ = "oadr3_subscriptions"

    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(128), index=True)
    client_role: Mapped[str] = mapped_column(String(8))  # "BL" or "VEN": what it may see
    ven_id: Mapped[str | None] = mapped_column(String(128))  # a VEN client's own VEN
    client_name: Mapped[str] = mapped_column(String(128))
    program_id: Mapped[str | None] = mapped_column(String(128), index=True)
    # [{"objects": [...], "operations": [...], "callbackUrl": str, "bearerToken": str|None}]
    object_operations: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    targets: Mapped[list[str] | None] = mapped_column(JSON)
    created_at: Mapped[datetime]
    modified_at: Mapped[datetime]
    # Delivery health: failures in a row, and when the callbacks were given up on.
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    broken_at: Mapped[datetime | None]


class WebhookDeliveryRow(Base):
    """One notification for one callback URL, kept until delivered or given up."""

    __tablename__ = "oadr3_webhook_deliveries"
    # A change seen twice (at-least-once feed, several replicas) is queued once.
    __table_args__ = (
        UniqueConstraint(
            "subscription_id", "callback_url", "change_key", name="uq_oadr3_deliveries_change"
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    subscription_id: Mapped[str] = mapped_column(
        ForeignKey(
            "oadr3_subscriptions.id", ondelete="CASCADE", name="fk_oadr3_deliveries_subscription"
        ),
        index=True,
    )
    callback_url: Mapped[str] = mapped_column(String(8000))
    bearer_token: Mapped[str | None] = mapped_column(Text)
    change_key: Mapped[str] = mapped_column(String(128))
    body: Mapped[str] = mapped_column(Text)  # the notification, JSON encoded exactly once
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(index=True)
    leased_until: Mapped[datetime | None]
    # Delivered rows stay a while, emptied, so a replica hearing the change late queues
    # nothing again (the unique key above); purged after ``KEEP_DELIVERED``.
    delivered_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
