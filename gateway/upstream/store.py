"""The upstream side's rows: upstream events with their answers, and granted report requests."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select, update

from gateway.db.engine import Database
from gateway.db.models import UpstreamEventRow, UpstreamReportRequestRow


class UpstreamStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self, event_id: str) -> UpstreamEventRow | None:
        async with self._db.read() as session:
            return await session.get(UpstreamEventRow, event_id)

    async def add(self, row: UpstreamEventRow) -> None:
        async with self._db.write() as session:
            session.add(row)

    async def change(self, event_id: str, **values: Any) -> None:
        async with self._db.write() as session:
            await session.execute(
                update(UpstreamEventRow)
                .where(UpstreamEventRow.event_id == event_id)
                .values(**values)
            )

    async def open_events(self, now: datetime) -> Sequence[UpstreamEventRow]:
        """Events not cancelled whose window has not ended."""
        async with self._db.read() as session:
            rows = await session.scalars(
                select(UpstreamEventRow).where(
                    UpstreamEventRow.cancelled.is_(False), UpstreamEventRow.end_time > now
                )
            )
            return rows.all()

    async def to_answer(self) -> Sequence[UpstreamEventRow]:
        """Events whose current modification has no answer yet."""
        async with self._db.read() as session:
            rows = await session.scalars(
                select(UpstreamEventRow).where(
                    (UpstreamEventRow.answered_modification.is_(None))
                    | (
                        UpstreamEventRow.answered_modification
                        != UpstreamEventRow.modification_number
                    )
                )
            )
            return rows.all()

    async def answered_open(self, now: datetime) -> Sequence[UpstreamEventRow]:
        async with self._db.read() as session:
            rows = await session.scalars(
                select(UpstreamEventRow).where(
                    UpstreamEventRow.answered_modification == UpstreamEventRow.modification_number,
                    UpstreamEventRow.cancelled.is_(False),
                    UpstreamEventRow.end_time > now,
                    UpstreamEventRow.invitation_id.is_not(None),
                )
            )
            return rows.all()

    async def awaiting_final_report(self) -> Sequence[UpstreamEventRow]:
        async with self._db.read() as session:
            rows = await session.scalars(
                select(UpstreamEventRow).where(
                    UpstreamEventRow.final_report_sent_at.is_(None),
                    UpstreamEventRow.invitation_id.is_not(None),
                    UpstreamEventRow.test_event.is_(False),
                )
            )
            return rows.all()

    # --- report requests ------------------------------------------------------------------
    async def save_report_requests(
        self, requests: Sequence[tuple[str, dict[str, Any]]], now: datetime
    ) -> None:
        async with self._db.write() as session:
            for request_id, payload in requests:
                row = await session.get(UpstreamReportRequestRow, request_id)
                if row is None:
                    session.add(
                        UpstreamReportRequestRow(
                            report_request_id=request_id, payload=payload, created_at=now,
                            cancelled_at=None,
                        )
                    )  # fmt: skip
                else:
                    row.payload = payload
                    row.cancelled_at = None

    async def report_requests(self) -> list[dict[str, Any]]:
        async with self._db.read() as session:
            rows = await session.scalars(
                select(UpstreamReportRequestRow)
                .where(UpstreamReportRequestRow.cancelled_at.is_(None))
                .order_by(UpstreamReportRequestRow.created_at)
            )
            return [dict(r.payload) for r in rows]

    async def cancel_report_request(self, request_id: str, now: datetime) -> None:
        async with self._db.write() as session:
            await session.execute(
                update(UpstreamReportRequestRow)
                .where(UpstreamReportRequestRow.report_request_id == request_id)
                .values(cancelled_at=now)
            )
