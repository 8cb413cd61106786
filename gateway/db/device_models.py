"""Tables of devices' hourly instructions and of stored flexibility snapshots; the rest is in
``models``, which re-exports these."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Integer, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from gateway.db.models import Base
from gateway.db.types import BigId


class DeviceInstructionRow(Base):
    __tablename__ = "device_instructions"

    device_id: Mapped[str] = mapped_column(
        ForeignKey("devices.id", ondelete="CASCADE"), primary_key=True
    )
    hour: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    instruction: Mapped[str] = mapped_column(String(16))
    updated_at: Mapped[datetime]


class FlexibilitySnapshotRow(Base):
    __tablename__ = "flexibility_snapshots"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    taken_at: Mapped[datetime] = mapped_column(index=True)
    total_available_kw: Mapped[float] = mapped_column(Float)
    devices_missing_reading: Mapped[int] = mapped_column(Integer)
    devices: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
