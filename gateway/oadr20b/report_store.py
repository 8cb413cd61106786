"""The VTN's report storage: the points VENs offer (oadrRegisterReport), the requests made of
them with the oadrCreateReport that carries those requests, and a VEN's own power."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update

from gateway.db.engine import Database
from gateway.db.models import VenMessageRow, VenReportRequestRow, VenReportRow, VenRow
from gateway.domain.lifecycle import ReportRequestStatus, report_request_sources
from gateway.oadr20b.store import QueuedMessage, devices_by_resource
from gateway.services.ven_facing.report_requests import held_requests

# Of the operator's requests held for a registration of reports, those it carries, each with
# the report it falls on (by message id).
Carry = Callable[[list[QueuedMessage]], list[tuple[int, dict[str, Any]]]]


@dataclass(frozen=True)
class ReportPoint:
    r_id: str
    report_name: str
    resource_id: str | None
    item_description: str | None
    unit: str | None
    scale: str | None


class ReportStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    @property
    def db(self) -> Database:
        return self._db

    async def register_reports(
        self,
        ven_id: str,
        offered: Sequence[tuple[str, ReportPoint]],
        requests: Sequence[tuple[str, str, str, list[str], float]],
        create_report: dict[str, Any] | None,
        now: datetime,
        carry: Carry | None = None,
    ) -> list[dict[str, Any]]:
        """Store the VEN's report descriptions, the requests made of them and, in the same
        transaction, the oadrCreateReport that carries those requests on the next poll.

        ``carry`` picks, of the operator's requests held for this registration, those its
        oadrRegisteredReport tells: stored as requested and delivered; they are returned. They
        are read and locked in this transaction (SQLite: one writer at a time; PostgreSQL: FOR
        UPDATE SKIP LOCKED), so two registrations at once, or two gateways, never both carry
        one."""
        carried: list[dict[str, Any]] = []
        async with self._db.write() as session:
            # One registration of the VEN's reports at a time (PostgreSQL; SQLite has one
            # writer): two at once both replaced its points, and the second's failed on their
            # unique key.
            await session.execute(
                select(VenRow.ven_id).where(VenRow.ven_id == ven_id).with_for_update()
            )
            if carry is not None:
                held = await held_requests(session, ven_id, now, lock=True)
                picked = carry([QueuedMessage(r.id, r.message_type, dict(r.payload)) for r in held])
                by_id = {r.id: r for r in held}
                for message_id, asked in picked:
                    by_id[message_id].delivered_at = now
                    carried.append(asked)
                requests = [*requests, *(_requested(asked) for asked in carried)]
            specifiers = {spec for spec, _ in offered}
            existing = (
                await session.scalars(
                    select(VenReportRow).where(
                        VenReportRow.ven_id == ven_id,
                        VenReportRow.report_specifier_id.in_(specifiers),
                    )
                )
            ).all()
            for row in existing:
                await session.delete(row)
            await session.flush()
            for spec, point in offered:
                session.add(
                    VenReportRow(
                        ven_id=ven_id, report_specifier_id=spec, r_id=point.r_id,
                        report_name=point.report_name, resource_id=point.resource_id,
                        item_description=point.item_description, unit=point.unit,
                        scale=point.scale, registered_at=now,
                    )
                )  # fmt: skip
            for request_id, spec, name, r_ids, granularity in requests:
                session.add(
                    VenReportRequestRow(
                        report_request_id=request_id, ven_id=ven_id, report_specifier_id=spec,
                        report_name=name, r_ids=r_ids, granularity_seconds=granularity,
                        status=ReportRequestStatus.REQUESTED.value, created_at=now, updated_at=now,
                    )
                )  # fmt: skip
            if create_report is not None:
                session.add(
                    VenMessageRow(
                        ven_id=ven_id,
                        message_type="oadrCreateReport",
                        payload=create_report,
                        created_at=now,
                    )
                )
        return carried

    async def set_request_status(
        self, ven_id: str, request_ids: Iterable[str], status: ReportRequestStatus, now: datetime
    ) -> int:
        """Move the VEN's requests of ``request_ids`` to ``status`` where the lifecycle lets
        them (``report_request_sources``); how many moved."""
        sources = sorted(s.value for s in report_request_sources(status))
        async with self._db.write() as session:
            result = await session.execute(
                update(VenReportRequestRow)
                .where(
                    VenReportRequestRow.ven_id == ven_id,
                    VenReportRequestRow.report_request_id.in_(list(request_ids)),
                    VenReportRequestRow.status.in_(sources),
                )
                .values(status=status.value, updated_at=now)
            )
            return int(getattr(result, "rowcount", 0) or 0)

    async def unrequested(self, ven_id: str, request_ids: Iterable[str]) -> set[str]:
        """Those of ``request_ids`` the VTN never asked this VEN for (a request cancelled
        since was asked: a report may still follow it)."""
        wanted = set(request_ids)
        if not wanted:
            return set()
        async with self._db.read() as session:
            asked = set(
                await session.scalars(
                    select(VenReportRequestRow.report_request_id).where(
                        VenReportRequestRow.ven_id == ven_id,
                        VenReportRequestRow.report_request_id.in_(wanted),
                    )
                )
            )
        return wanted - asked

    async def report_points(self, ven_id: str) -> dict[str, tuple[ReportPoint, str | None]]:
        """rID -> (what it measures, the device it belongs to).

        A point that names no resource measures the VEN itself (2.0b allows that): it belongs
        to the VEN's device when the VEN has exactly one, else to no device (the VEN's own
        power, ``Telemetry``)."""
        async with self._db.read() as session:
            points = (
                await session.scalars(select(VenReportRow).where(VenReportRow.ven_id == ven_id))
            ).all()
            devices = await devices_by_resource(session, ven_id)
        only = next(iter(devices.values())) if len(devices) == 1 else None
        return {
            p.r_id: (
                ReportPoint(p.r_id, p.report_name, p.resource_id, p.item_description, p.unit,
                            p.scale),
                devices.get(p.resource_id) if p.resource_id else only,
            )
            for p in points
        }  # fmt: skip


def _requested(asked: dict[str, Any]) -> tuple[str, str, str, list[str], float]:
    """A carried request as ``register_reports`` stores the requests made of a VEN."""
    return (str(asked["report_request_id"]), str(asked["report_specifier_id"]),
            str(asked["report_name"]), [str(r) for r in asked["r_ids"]],
            float(asked.get("granularity_seconds") or 0))  # fmt: skip
