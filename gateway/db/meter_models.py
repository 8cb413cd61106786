"""Tables of meter history (energy per device and interval) and of event settlements; the
rest is in ``models``, which re-exports these."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Float, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from gateway.db.models import Base
from gateway.db.types import BigId


class MeterIntervalRow(Base):
    """A device's energy over one interval (``gateway.services.meter_history``).

    Recorded intervals are split in ``slot_count`` slots, one power reading each; ``slots`` has
    bit k set once slot k is counted, so a slot is counted once whichever replica or restart
    records it, and ``kwh`` is the energy of the slots counted. An imported interval is the
    whole interval's energy from a meter (every slot counted). A missing interval has no row.
    """

    __tablename__ = "meter_intervals"

    device_id: Mapped[str] = mapped_column(
        ForeignKey("devices.id", ondelete="CASCADE"), primary_key=True
    )
    interval_start: Mapped[datetime] = mapped_column(primary_key=True)
    interval_minutes: Mapped[int] = mapped_column(Integer)
    slot_count: Mapped[int] = mapped_column(Integer)
    measured_slots: Mapped[int] = mapped_column(Integer)
    slots: Mapped[int] = mapped_column(BigInteger)
    kwh: Mapped[float] = mapped_column(Float)
    source: Mapped[str] = mapped_column(String(16))  # MeterSource
    updated_at: Mapped[datetime]


class SettlementRow(Base):
    """One computed version of an event's settlement; a new version never replaces an old."""

    __tablename__ = "settlements"
    __table_args__ = (UniqueConstraint("event_id", "version"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    computed_at: Mapped[datetime]
    baseline_method: Mapped[str] = mapped_column(String(32))
    # sha256 of the numbers and what they were computed from: the same digest, the same result.
    digest: Mapped[str] = mapped_column(String(64))
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
