"""Flexibility now (computed, never stored on read) and its periodic snapshots."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

from sqlalchemy import func, select

from gateway.bus.power import RedisPowerReader
from gateway.db.models import DeviceInstructionRow, DeviceRow, FlexibilitySnapshotRow
from gateway.domain.flexibility import Instruction, device_flexibility, summarise
from gateway.services.context import ServiceContext
from gateway.services.flexibility_views import (
    DeviceFlexibilityView,
    FlexibilitySnapshotView,
    FlexibilityView,
)

MAX_HISTORY = 10_000


class FlexibilityService:
    def __init__(self, ctx: ServiceContext, power: RedisPowerReader) -> None:
        self._ctx = ctx
        self._power = power

    async def current(self) -> FlexibilityView:
        now = self._ctx.clock.now()
        async with self._ctx.db.read() as session:
            devices = (await session.scalars(select(DeviceRow).order_by(DeviceRow.id))).all()
            instructions: dict[str, dict[int, Instruction]] = defaultdict(dict)
            for row in await session.scalars(select(DeviceInstructionRow)):
                instructions[row.device_id][row.hour] = Instruction(row.instruction)
        readings = await self._power.read([d.id for d in devices], now)
        summary = summarise(
            (
                device_flexibility(d.id, d.timezone, instructions[d.id], readings[d.id], now)
                for d in devices
            ),
            now,
        )
        return FlexibilityView(
            taken_at=summary.taken_at,
            total_available_kw=summary.total_available_kw,
            devices_missing_reading=summary.devices_missing_reading,
            devices=[
                DeviceFlexibilityView(
                    device_id=d.device_id,
                    timezone=d.timezone,
                    local_hour=d.local_hour,
                    instruction=d.instruction.value,
                    current_kw=d.current_kw,
                    available_kw=d.available_kw,
                    missing_reason=d.missing_reason,
                )
                for d in summary.devices
            ],
        )

    async def take_snapshot(self) -> FlexibilitySnapshotView:
        view = await self.current()
        async with self._ctx.db.write() as session:
            session.add(
                FlexibilitySnapshotRow(
                    taken_at=view.taken_at,
                    total_available_kw=view.total_available_kw,
                    devices_missing_reading=view.devices_missing_reading,
                    devices=[d.model_dump(mode="json") for d in view.devices],
                )
            )
        return FlexibilitySnapshotView(
            taken_at=view.taken_at,
            total_available_kw=view.total_available_kw,
            devices_missing_reading=view.devices_missing_reading,
        )

    async def history(self, hours: float, limit: int) -> list[FlexibilitySnapshotView]:
        since = self._ctx.clock.now() - timedelta(hours=hours)
        async with self._ctx.db.read() as session:
            rows = await session.scalars(
                select(FlexibilitySnapshotRow)
                .where(FlexibilitySnapshotRow.taken_at >= since)
                .order_by(FlexibilitySnapshotRow.taken_at.desc())
                .limit(min(limit, MAX_HISTORY))
            )
            return [
                FlexibilitySnapshotView(
                    taken_at=r.taken_at,
                    total_available_kw=r.total_available_kw,
                    devices_missing_reading=r.devices_missing_reading,
                )
                for r in rows
            ]

    async def last_snapshot_at(self) -> datetime | None:
        async with self._ctx.db.read() as session:
            taken: datetime | None = await session.scalar(
                select(func.max(FlexibilitySnapshotRow.taken_at))
            )
            return taken
