"""Tables of what a VEN sent or is owed beyond its registration (answers to cancels, reports,
report requests, queued messages, opts) and of the upstream VEN; the rest is in ``models``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from gateway.db.models import Base
from gateway.db.types import BigId


class VenCancelAckRow(Base):
    """A VEN's answer to an event it was told is cancelled, at that modificationNumber: the
    acknowledgement 2.0b asks of an event whose response is required. It decides nothing."""

    __tablename__ = "ven_cancel_acks"

    ven_id: Mapped[str] = mapped_column(
        ForeignKey("vens.ven_id", ondelete="CASCADE"), primary_key=True
    )
    # The OpenADR eventID, which is the invitation's id.
    invitation_id: Mapped[str] = mapped_column(
        ForeignKey("invitations.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    modification_number: Mapped[int] = mapped_column(Integer, primary_key=True)
    answer: Mapped[str] = mapped_column(String(3))  # what it said: YES (optIn) or NO (optOut)
    acknowledged_at: Mapped[datetime]


class VenReportRow(Base):
    """One data point (rID) a VEN offered in oadrRegisterReport."""

    __tablename__ = "ven_reports"
    __table_args__ = (UniqueConstraint("ven_id", "report_specifier_id", "r_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    ven_id: Mapped[str] = mapped_column(ForeignKey("vens.ven_id", ondelete="CASCADE"))
    report_specifier_id: Mapped[str] = mapped_column(String(128))
    r_id: Mapped[str] = mapped_column(String(128))
    report_name: Mapped[str] = mapped_column(String(64))
    resource_id: Mapped[str | None] = mapped_column(String(128))
    item_description: Mapped[str | None] = mapped_column(String(64))
    unit: Mapped[str | None] = mapped_column(String(32))
    scale: Mapped[str | None] = mapped_column(String(16))
    registered_at: Mapped[datetime]


class VenReportRequestRow(Base):
    """A report the gateway asked a VEN for (oadrCreateReport)."""

    __tablename__ = "ven_report_requests"

    report_request_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    ven_id: Mapped[str] = mapped_column(ForeignKey("vens.ven_id", ondelete="CASCADE"), index=True)
    report_specifier_id: Mapped[str] = mapped_column(String(128))
    report_name: Mapped[str] = mapped_column(String(64))
    r_ids: Mapped[list[str]] = mapped_column(JSON)
    granularity_seconds: Mapped[float] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class VenMessageRow(Base):
    """A message waiting for the VEN's next oadrPoll (pull model), kept until delivered."""

    __tablename__ = "ven_messages"
    __table_args__ = (Index("ix_ven_messages_ven_id_delivered_at", "ven_id", "delivered_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    ven_id: Mapped[str] = mapped_column(ForeignKey("vens.ven_id", ondelete="CASCADE"))
    message_type: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime]
    delivered_at: Mapped[datetime | None]


class VtnMetadataRequestRow(Base):
    """A VEN's request for the VTN's own METADATA report (oadrCreateReport naming
    reportSpecifierID METADATA): sent at ``due_at``, again every ``period_seconds`` until
    ``until`` when periodic, until cancelled or done."""

    __tablename__ = "vtn_metadata_requests"

    ven_id: Mapped[str] = mapped_column(
        ForeignKey("vens.ven_id", ondelete="CASCADE"), primary_key=True
    )
    report_request_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    period_seconds: Mapped[float] = mapped_column(Float)  # 0: once
    due_at: Mapped[datetime]
    until: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime]


class VenResourceStatusRow(Base):
    """The latest TELEMETRY_STATUS a VEN reported for one rID (oadrPayloadResourceStatus)."""

    __tablename__ = "ven_resource_status"

    ven_id: Mapped[str] = mapped_column(
        ForeignKey("vens.ven_id", ondelete="CASCADE"), primary_key=True
    )
    r_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    resource_id: Mapped[str | None] = mapped_column(String(128))
    online: Mapped[bool | None] = mapped_column(Boolean)
    manual_override: Mapped[bool | None] = mapped_column(Boolean)
    # oadrLoadControlState as sent: {kind: {capacity|levelOffset|...: value}}.
    load_control: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    report_request_id: Mapped[str] = mapped_column(String(128))
    measured_at: Mapped[datetime]
    received_at: Mapped[datetime]


class VenOptRow(Base):
    """An opt (EiOpt) a VEN sent: optOut/optIn of resources, for an event or a time span."""

    __tablename__ = "ven_opts"

    ven_id: Mapped[str] = mapped_column(
        ForeignKey("vens.ven_id", ondelete="CASCADE"), primary_key=True
    )
    opt_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    opt_type: Mapped[str] = mapped_column(String(16))
    opt_reason: Mapped[str] = mapped_column(String(32))
    event_id: Mapped[str | None] = mapped_column(String(128))
    modification_number: Mapped[int | None] = mapped_column(Integer)
    resource_ids: Mapped[list[str]] = mapped_column(JSON)
    device_ids: Mapped[list[str]] = mapped_column(JSON)
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    cancelled_at: Mapped[datetime | None]
    # The spans of an availability schedule (vavailability): [{"start", "duration_seconds"}].
    schedule: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)


class UpstreamEventRow(Base):
    """An event from the upstream (utility) VTN, its invitation, and what we answered."""

    __tablename__ = "upstream_events"

    event_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    modification_number: Mapped[int] = mapped_column(Integer)
    invitation_id: Mapped[str | None] = mapped_column(String(36))
    test_event: Mapped[bool] = mapped_column(Boolean)
    start_time: Mapped[datetime]
    end_time: Mapped[datetime]
    received_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    response_due_at: Mapped[datetime]
    cancelled: Mapped[bool] = mapped_column(Boolean, default=False)
    note: Mapped[str | None] = mapped_column(Text)
    # The answer (oadrCreatedEvent) for ``answered_modification``, and why it was given.
    answer: Mapped[str | None] = mapped_column(String(8))
    answered_modification: Mapped[int | None] = mapped_column(Integer)
    answered_at: Mapped[datetime | None]
    answer_reason: Mapped[str | None] = mapped_column(Text)
    # The opt in force upstream: the answer, or a later change of mind (oadrCreateOpt).
    opt_in_force: Mapped[str | None] = mapped_column(String(8))
    final_report_sent_at: Mapped[datetime | None]
    # Its reduction report has dealt with every interval before this (sent, or unmeasured).
    reported_until: Mapped[datetime | None]


class UpstreamReportRequestRow(Base):
    """A report the upstream VTN asked of the gateway, kept so a restart resumes it."""

    __tablename__ = "upstream_report_requests"

    report_request_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime]
    cancelled_at: Mapped[datetime | None]


class VenPushTargetRow(Base):
    """Where a push-mode VEN (2.0b ``oadrHttpPullModel`` false) takes the VTN's messages,
    and how its deliveries go. ``lease_owner``/``lease_until``: the one gateway process
    sending to it now (a lease in the database, so two processes never send at once)."""

    __tablename__ = "ven_push_targets"

    ven_id: Mapped[str] = mapped_column(
        ForeignKey("vens.ven_id", ondelete="CASCADE"), primary_key=True
    )
    transport_address: Mapped[str | None] = mapped_column(String(512))
    # How a service's URL is made from the address (``gateway.oadr20b_push.addresses``).
    address_style: Mapped[str] = mapped_column(String(16), default="openadr")
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None]
    failures: Mapped[int] = mapped_column(Integer, default=0)  # in a row, since the last success
    next_attempt_at: Mapped[datetime | None]
    last_attempt_at: Mapped[datetime | None]
    last_delivered_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    failing_since: Mapped[datetime | None]  # the first failure since the last delivery
    unreachable_since: Mapped[datetime | None]  # set once it failed for long (kept pending)


class VenPushMessageRow(Base):
    """A message in a push-mode VEN's outbox, kept until the VEN took it (HTTP 200).
    ``oadrDistributeEvent`` carries no payload: it is rendered when sent, with the VEN's
    full current list of events, so one waiting distribute stands for every change."""

    __tablename__ = "ven_push_outbox"
    __table_args__ = (Index("ix_ven_push_outbox_ven_id_delivered_at", "ven_id", "delivered_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    ven_id: Mapped[str] = mapped_column(ForeignKey("vens.ven_id", ondelete="CASCADE"))
    message_type: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    delivered_at: Mapped[datetime | None]
