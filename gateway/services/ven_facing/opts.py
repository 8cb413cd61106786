"""A VEN's opts as the VTN holds them (for the admin API): each optIn/optOut of an event or
of the spans of an availability schedule, replaced under its optID or cancelled."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict
from sqlalchemy import select

from gateway.db.engine import Database
from gateway.db.models import VenOptRow, VenRow
from gateway.domain.errors import NotFound


class OptSpanView(BaseModel):
    model_config = ConfigDict(frozen=True)

    start: AwareDatetime
    duration_minutes: float


class OptView(BaseModel):
    model_config = ConfigDict(frozen=True)

    opt_id: str
    opt_type: str
    opt_reason: str
    event_id: str | None
    modification_number: int | None
    resource_ids: list[str]
    device_ids: list[str]
    schedule: list[OptSpanView]
    note: str | None
    created_at: AwareDatetime
    cancelled_at: AwareDatetime | None

    @classmethod
    def of(cls, row: VenOptRow) -> OptView:
        return cls(
            opt_id=row.opt_id, opt_type=row.opt_type, opt_reason=row.opt_reason,
            event_id=row.event_id, modification_number=row.modification_number,
            resource_ids=list(row.resource_ids), device_ids=list(row.device_ids),
            schedule=[OptSpanView(start=start, duration_minutes=length.total_seconds() / 60)
                      for start, length in spans_from_json(row.schedule)],
            note=row.note, created_at=row.created_at, cancelled_at=row.cancelled_at,
        )  # fmt: skip


def spans_to_json(spans: list[tuple[datetime, timedelta]]) -> list[dict[str, Any]]:
    return [{"start": s.isoformat(), "duration_seconds": d.total_seconds()} for s, d in spans]


def spans_from_json(raw: list[dict[str, Any]] | None) -> list[tuple[datetime, timedelta]]:
    return [
        (datetime.fromisoformat(str(s["start"])), timedelta(seconds=float(s["duration_seconds"])))
        for s in raw or []
    ]


async def opts_of(db: Database, ven_id: str) -> list[OptView]:
    """The VEN's opts, newest first (NotFound for an unknown VEN)."""
    async with db.read() as session:
        if await session.get(VenRow, ven_id) is None:
            raise NotFound(f"VEN {ven_id} not found")
        rows = await session.scalars(
            select(VenOptRow)
            .where(VenOptRow.ven_id == ven_id)
            .order_by(VenOptRow.created_at.desc(), VenOptRow.opt_id)
        )
        return [OptView.of(r) for r in rows]
