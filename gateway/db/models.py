"""Tables. Relationships load with ``raise_on_sql`` so async code never lazy-loads by accident."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from gateway.db.types import BigId, UTCDateTime
from gateway.domain.programs import DEFAULT_PROGRAM_ID

# SQLite only auto-increments INTEGER PRIMARY KEY columns.

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime()}


class DeviceRow(Base):
    __tablename__ = "devices"
    __table_args__ = (UniqueConstraint("ven_id", "resource_id"),)

    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    ven_id: Mapped[str | None] = mapped_column(String(128))
    resource_id: Mapped[str | None] = mapped_column(String(128))
    timezone: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]


class AutoResponseConfigRow(Base):
    __tablename__ = "auto_response_config"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean)
    max_reduction_percentage: Mapped[float] = mapped_column(Float)
    response_delay_seconds: Mapped[int] = mapped_column(Integer)
    min_notice_minutes: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime]


class ProgramRow(Base):
    """A program (2.0b market context, 3.x program): see ``gateway.domain.programs``."""

    __tablename__ = "programs"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    market_context: Mapped[str] = mapped_column(String(255), unique=True)
    description: Mapped[str] = mapped_column(Text)
    priority: Mapped[int] = mapped_column(Integer)
    test_events: Mapped[bool] = mapped_column(Boolean)
    # [[upper bound %, level], ...], bounds and levels rising.
    simple_levels: Mapped[list[list[float]]] = mapped_column(JSON)
    baseline_method: Mapped[str] = mapped_column(String(32))
    # The program's baseline parameters (gateway.domain.baselines.BaselineParameters); None:
    # the method's own (migration 0012).
    baseline_parameters: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    refuse_overlap: Mapped[bool] = mapped_column(Boolean)
    membership: Mapped[str] = mapped_column(String(16))
    # Made by the migration, which cannot read settings: the first start sets the market
    # context, priority and test flag from the vtn_* settings, then clears this.
    settings_pending: Mapped[bool] = mapped_column(Boolean, server_default="0")
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class ProgramVenRow(Base):
    __tablename__ = "program_vens"

    program_id: Mapped[str] = mapped_column(
        ForeignKey("programs.id", ondelete="CASCADE"), primary_key=True
    )
    ven_id: Mapped[str] = mapped_column(
        ForeignKey("vens.ven_id", ondelete="CASCADE"), primary_key=True, index=True
    )
    enrolled_at: Mapped[datetime]


class ProgramDeviceRow(Base):
    __tablename__ = "program_devices"

    program_id: Mapped[str] = mapped_column(
        ForeignKey("programs.id", ondelete="CASCADE"), primary_key=True
    )
    device_id: Mapped[str] = mapped_column(
        ForeignKey("devices.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    enrolled_at: Mapped[datetime]


class InvitationRow(Base):
    __tablename__ = "invitations"
    __table_args__ = (
        Index("ix_invitations_status_created_at", "status", "created_at"),
        Index("ix_invitations_auto_response_due_at", "auto_response_due_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    created_at: Mapped[datetime]
    event_time: Mapped[datetime]
    duration_minutes: Mapped[int] = mapped_column(Integer)
    load_kwh: Mapped[float] = mapped_column(Float)
    load_percentage: Mapped[float] = mapped_column(Float)
    target_kw: Mapped[float] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(16))
    response: Mapped[str] = mapped_column(String(8))
    # The policy in force when the invitation was made decides it, even if config changes.
    answer_policy: Mapped[str] = mapped_column(String(16))
    partial_min_share: Mapped[float] = mapped_column(Float)
    decided_at: Mapped[datetime | None]
    decision_reason: Mapped[str | None] = mapped_column(Text)
    auto_response_due_at: Mapped[datetime | None]
    auto_response_note: Mapped[str | None] = mapped_column(Text)
    event_id: Mapped[str | None] = mapped_column(String(36))
    modification_number: Mapped[int] = mapped_column(Integer, default=0)
    # The services always set it; the server default is for rows made before programs.
    program_id: Mapped[str] = mapped_column(
        ForeignKey("programs.id"), index=True, server_default=DEFAULT_PROGRAM_ID
    )

    devices: Mapped[list[InvitationDeviceRow]] = relationship(
        lazy="raise_on_sql", order_by="InvitationDeviceRow.position", cascade="all"
    )
    answers: Mapped[list[DeviceAnswerRow]] = relationship(
        lazy="raise_on_sql", order_by="DeviceAnswerRow.id", viewonly=True
    )
    ven_errors: Mapped[list[VenErrorRow]] = relationship(
        lazy="raise_on_sql", order_by="VenErrorRow.id", viewonly=True
    )


class InvitationDeviceRow(Base):
    __tablename__ = "invitation_devices"

    invitation_id: Mapped[str] = mapped_column(
        ForeignKey("invitations.id", ondelete="CASCADE"), primary_key=True
    )
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer)


class DeviceAnswerRow(Base):
    __tablename__ = "device_answers"
    # The constraint, not a check-then-insert, is what makes one answer per device hold.
    __table_args__ = (UniqueConstraint("invitation_id", "device_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    invitation_id: Mapped[str] = mapped_column(ForeignKey("invitations.id", ondelete="CASCADE"))
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id"))
    answer: Mapped[str] = mapped_column(String(3))
    committed_kw: Mapped[float] = mapped_column(Float)
    source: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text)
    answered_at: Mapped[datetime]


class EventRow(Base):
    __tablename__ = "events"
    __table_args__ = (Index("ix_events_status_start_time", "status", "start_time"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    invitation_id: Mapped[str | None] = mapped_column(ForeignKey("invitations.id"), unique=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    start_time: Mapped[datetime]
    end_time: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(16))
    target_kw: Mapped[float] = mapped_column(Float)
    target_kwh: Mapped[float] = mapped_column(Float)
    started_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    late_start_seconds: Mapped[float | None] = mapped_column(Float)
    cancel_reason: Mapped[str | None] = mapped_column(Text)
    # Results, written by the executor: power (kW) and energy (kWh) in separate columns.
    average_reduction_kw: Mapped[float | None] = mapped_column(Float)
    energy_reduction_kwh: Mapped[float | None] = mapped_column(Float)
    coverage: Mapped[float | None] = mapped_column(Float)
    gap_seconds: Mapped[float | None] = mapped_column(Float)
    # Fencing token of the executor that owns the run: writes of an older owner are refused.
    fence: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    # Its invitation's program; an event scheduled directly belongs to the default one.
    program_id: Mapped[str] = mapped_column(
        ForeignKey("programs.id"), index=True, server_default=DEFAULT_PROGRAM_ID
    )
    # Its explicit signals and OpenADR event-level facts (domain.signals.terms_to_json); None
    # for an event made from an invitation, whose VENs get what the invitation asks.
    terms: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # OpenADR's modificationNumber of a direct event (one from an invitation uses the
    # invitation's).
    modification_number: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Scheduled directly (POST /api/events), not from an invitation: its VENs are sent it as
    # it is. (An invitation's superseded event loses its invitation_id, and stays unsent.)
    direct: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")

    devices: Mapped[list[EventDeviceRow]] = relationship(
        lazy="raise_on_sql", order_by="EventDeviceRow.position", cascade="all"
    )
    # The errors VENs reported for the OpenADR event of its invitation (eventID = its id).
    ven_errors: Mapped[list[VenErrorRow]] = relationship(
        primaryjoin="EventRow.invitation_id == foreign(VenErrorRow.invitation_id)",
        lazy="raise_on_sql",
        order_by="VenErrorRow.id",
        viewonly=True,
    )
    # Those reported for it, scheduled directly (eventID = its own id).
    direct_ven_errors: Mapped[list[VenErrorRow]] = relationship(
        primaryjoin="EventRow.id == foreign(VenErrorRow.direct_event_id)",
        lazy="raise_on_sql",
        order_by="VenErrorRow.id",
        viewonly=True,
    )


class EventDeviceRow(Base):
    __tablename__ = "event_devices"

    event_id: Mapped[str] = mapped_column(
        ForeignKey("events.id", ondelete="CASCADE"), primary_key=True
    )
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer)
    committed_kw: Mapped[float | None] = mapped_column(Float)
    # Per-device results: baseline (kW), average reduction (kW), energy reduction (kWh).
    baseline_kw: Mapped[float | None] = mapped_column(Float)
    average_reduction_kw: Mapped[float | None] = mapped_column(Float)
    energy_reduction_kwh: Mapped[float | None] = mapped_column(Float)
    coverage: Mapped[float | None] = mapped_column(Float)
    note: Mapped[str | None] = mapped_column(String(200))
    # Its VEN's optIn/optOut of a direct event (one from an invitation keeps answers there).
    ven_opt: Mapped[str | None] = mapped_column(String(8))
    # The optID of the oadrCreateOpt that set it: an opt by EiOpt stands against the VEN's
    # later oadrCreatedEvent answers (2.0b: opts sent after an oadrCreateOpt are ignored).
    ven_opt_id: Mapped[str | None] = mapped_column(String(128))
    # The modificationNumber at which its VEN acknowledged the direct event's cancel.
    ven_cancel_ack: Mapped[int | None] = mapped_column(Integer)


class EventSampleRow(Base):
    """All devices' power at one sample instant of an event: one row per sample.

    ``power_kw`` packs one little-endian float64 per device, in the event's device order
    (``event_devices.position``); NaN marks a missing reading. One row per instant keeps the
    write to one insert per sample however many devices take part.
    """

    __tablename__ = "event_samples"
    __table_args__ = (UniqueConstraint("event_id", "phase", "sample_index"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    phase: Mapped[str] = mapped_column(String(16))
    sample_index: Mapped[int] = mapped_column(Integer)
    sampled_at: Mapped[datetime]
    present: Mapped[int] = mapped_column(Integer)
    power_kw: Mapped[bytes] = mapped_column(LargeBinary)


class OutboxRow(Base):
    """Messages for Redis, written in the same transaction as the change they announce."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    channel: Mapped[str] = mapped_column(String(128))
    payload: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]


class VenRow(Base):
    """A VEN: provisioned through the admin API (or enrolled freely) and its registration."""

    __tablename__ = "vens"

    ven_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    fingerprint: Mapped[str | None] = mapped_column(String(64))
    provisioned: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime]
    registration_id: Mapped[str | None] = mapped_column(String(64))
    registered_at: Mapped[datetime | None]
    poll_frequency_seconds: Mapped[float | None] = mapped_column(Float)
    profile_name: Mapped[str | None] = mapped_column(String(16))
    transport_name: Mapped[str | None] = mapped_column(String(32))
    http_pull_model: Mapped[bool | None] = mapped_column(Boolean)
    xml_signature: Mapped[bool | None] = mapped_column(Boolean)
    report_only: Mapped[bool | None] = mapped_column(Boolean)
    last_seen_at: Mapped[datetime | None]
    # What the VEN was last told of its events: eventID -> [modificationNumber, status].
    delivered_events: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # The last oadrDistributeEvent it was sent, {"request_id", "event_ids"}: an error the VEN
    # answers it with (echoing that requestID) is about those events.
    last_distribute: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # The errors it reported (each is a ven_errors row): how many, and the latest as shown.
    error_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_error: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # Schema deviations tolerated from it (oadr20b.tolerance): kind -> {count, last_seen_at}.
    schema_deviations: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # Its own power: telemetry naming no resource, when it has no single device to take it.
    power_kw: Mapped[float | None] = mapped_column(Float)
    power_at: Mapped[datetime | None]
    power_r_id: Mapped[str | None] = mapped_column(String(128))
    # Set by DELETE /api/vens/{id} on a registered VEN: its registration is being cancelled,
    # and the row goes once the registration ends (services.vens).
    deprovisioned_at: Mapped[datetime | None]


class VenErrorRow(Base):
    """An error a VEN reported: its answer to one of its events (or to nothing it named)."""

    __tablename__ = "ven_errors"
    __table_args__ = (Index("ix_ven_errors_ven_id_invitation_id", "ven_id", "invitation_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    ven_id: Mapped[str] = mapped_column(ForeignKey("vens.ven_id", ondelete="CASCADE"))
    # The OpenADR eventID it is about: an invitation's id, or that of an event
    # scheduled directly (``direct_event_id``), which has no invitation; both None: it named
    # none known.
    invitation_id: Mapped[str | None] = mapped_column(
        ForeignKey("invitations.id", ondelete="CASCADE"), index=True
    )
    direct_event_id: Mapped[str | None] = mapped_column(
        ForeignKey("events.id", ondelete="CASCADE"), index=True
    )
    code: Mapped[int] = mapped_column(Integer)
    description: Mapped[str] = mapped_column(Text)
    message_type: Mapped[str] = mapped_column(String(64))
    received_at: Mapped[datetime]


# Defined beside, on the same Base; re-exported here so that importing this module registers
# every table in one metadata (migrations, tests) and old imports keep working.
from gateway.db.device_models import DeviceInstructionRow, FlexibilitySnapshotRow  # noqa: E402
from gateway.db.meter_models import MeterIntervalRow, SettlementRow  # noqa: E402
from gateway.db.ven_models import (  # noqa: E402
    UpstreamEventRow,
    UpstreamReportRequestRow,
    VenCancelAckRow,
    VenMessageRow,
    VenOptRow,
    VenReportRequestRow,
    VenReportRow,
)

__all__ = [
    "NAMING_CONVENTION",
    "AutoResponseConfigRow",
    "Base",
    "BigId",
    "DeviceAnswerRow",
    "DeviceInstructionRow",
    "DeviceRow",
    "EventDeviceRow",
    "EventRow",
    "EventSampleRow",
    "FlexibilitySnapshotRow",
    "InvitationDeviceRow",
    "InvitationRow",
    "MeterIntervalRow",
    "OutboxRow",
    "ProgramDeviceRow",
    "ProgramRow",
    "ProgramVenRow",
    "SettlementRow",
    "UpstreamEventRow",
    "UpstreamReportRequestRow",
    "VenCancelAckRow",
    "VenErrorRow",
    "VenMessageRow",
    "VenOptRow",
    "VenReportRequestRow",
    "VenReportRow",
    "VenRow",
]
