"""The VTN's database access: VENs and registrations, their events, queued messages and opts
(reports: ``report_store``; VEN errors: ``ven_errors``). Every row the VTN keeps is in the
database, so a restart or another process loses nothing."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, cast

from sqlalchemy import Select, Table, bindparam, delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.db.engine import Database
from gateway.db.models import (
    DeviceRow,
    VenMessageRow,
    VenOptRow,
    VenReportRequestRow,
    VenRow,
)
from gateway.db.ven_models import VtnMetadataRequestRow
from gateway.domain.devices import resource_id_of
from gateway.domain.lifecycle import ReportRequestStatus
from gateway.domain.ven_requests import VenRequest
from gateway.oadr20b.mapping import OadrEvent, as_oadr
from gateway.oadr20b.push_targets import keep_push_target
from gateway.services.ven_facing.events import events_of_every_ven, events_of_ven

# Last-seen times stored per statement (see ``VtnStore.touch``).
TOUCH_CHUNK = 250
_VENS = cast(Table, VenRow.__table__)
_TOUCH = (
    update(_VENS)
    .where(_VENS.c.ven_id == bindparam("seen_id"))
    .values(last_seen_at=bindparam("seen_at"))
)


@dataclass(frozen=True)
class VenRecord:
    ven_id: str
    name: str
    fingerprint: str | None
    registration_id: str | None
    delivered: dict[str, Any] = field(default_factory=dict)
    push: bool = False  # registered for the push model (``gateway.oadr20b_push`` sends to it)

    @property
    def registered(self) -> bool:
        return self.registration_id is not None


def _record(row: VenRow) -> VenRecord:
    return VenRecord(
        row.ven_id, row.name, row.fingerprint, row.registration_id, dict(row.delivered_events),
        push=row.http_pull_model is False,
    )  # fmt: skip


@dataclass(frozen=True)
class Registration:
    ven_name: str
    profile_name: str | None
    transport_name: str | None
    http_pull_model: bool | None
    xml_signature: bool | None
    report_only: bool | None
    transport_address: str | None = None  # where a push-mode VEN takes the VTN's messages

    @property
    def push_address(self) -> str | None:
        """Where the VTN pushes to: a push-mode VEN's transport address, else None."""
        return self.transport_address if self.http_pull_model is False else None


# How often a VEN showed one deviation since the last flush, and when it last did.
Sighting = tuple[int, datetime]


# Not told on a poll: in the answer to the VEN's next report, or to its next registration of
# reports.
PIGGY_BACKED = VenRequest.CANCEL_REPORT_PIGGY_BACKED.value
ON_REGISTRATION = VenRequest.REPORT_REQUEST_ON_REGISTRATION.value
# Messages told on the VTN's turn (a poll's answer, or a push), not in the answer to one of
# the VEN's own reports or registrations of reports.
ON_VTNS_TURN = VenMessageRow.message_type.notin_([PIGGY_BACKED, ON_REGISTRATION])


def waiting(ven_id: str, message_type: str) -> Select[VenMessageRow]:
    """The VEN's undelivered queued messages of one kind, oldest first."""
    return (
        select(VenMessageRow)
        .where(
            VenMessageRow.ven_id == ven_id,
            VenMessageRow.delivered_at.is_(None),
            VenMessageRow.message_type == message_type,
        )
        .order_by(VenMessageRow.id)
    )


class MetadataRequestStatus(StrEnum):
    """Of a VEN's request for the VTN's METADATA report (``vtn_metadata``)."""

    ACTIVE = "active"
    DONE = "done"
    CANCELLED = "cancelled"


_METADATA_ACTIVE = VtnMetadataRequestRow.status == MetadataRequestStatus.ACTIVE.value


@dataclass(frozen=True)
class QueuedMessage:
    id: int
    message_type: str
    payload: dict[str, Any]


class VtnStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    @property
    def db(self) -> Database:
        return self._db

    # --- VENs -----------------------------------------------------------------------------
    async def find_ven(
        self, *, ven_id: str | None, name: str | None, fingerprint: str | None
    ) -> VenRecord | None:
        """A VEN by venID, else by name, else by certificate fingerprint."""
        async with self._db.read() as session:
            for column, value in (
                (VenRow.ven_id, ven_id),
                (VenRow.name, name),
                (VenRow.fingerprint, fingerprint),
            ):
                if value:
                    # A VEN being removed may not register again.
                    row = await session.scalar(
                        select(VenRow)
                        .where(column == value, VenRow.deprovisioned_at.is_(None))
                        .limit(1)
                    )
                    if row is not None:
                        return _record(row)
        return None

    async def enroll(self, name: str, fingerprint: str | None, now: datetime) -> VenRecord:
        async with self._db.write() as session:
            row = VenRow(
                ven_id=uuid.uuid4().hex,
                name=name,
                fingerprint=fingerprint,
                provisioned=False,
                created_at=now,
                delivered_events={},
            )
            session.add(row)
            await session.flush()
            return _record(row)

    async def register(
        self, ven_id: str, registration: Registration, poll_seconds: float, now: datetime,
        keep_registration_id: str | None,
    ) -> str:  # fmt: skip
        """Record the registration; the registrationID (kept on re-registration)."""
        registration_id = keep_registration_id or uuid.uuid4().hex
        async with self._db.write() as session:
            row = await session.get(VenRow, ven_id, with_for_update=True)
            if row is None:
                raise LookupError(ven_id)
            if row.registration_id != registration_id:
                row.delivered_events = {}  # a new registration starts from a clean slate
            row.registration_id = registration_id
            row.registered_at = now
            row.poll_frequency_seconds = poll_seconds
            row.profile_name = registration.profile_name
            row.transport_name = registration.transport_name
            row.http_pull_model = registration.http_pull_model
            row.xml_signature = registration.xml_signature
            row.report_only = registration.report_only
            row.last_seen_at = now
            await keep_push_target(session, ven_id, registration.push_address)
        return registration_id

    async def deregister(self, ven_id: str) -> bool:
        """End the VEN's registration; True when that deleted the VEN (the operator had
        removed it)."""
        async with self._db.write() as session:
            # A VEN the operator removed goes with its registration (services.vens.remove).
            gone = await session.execute(
                delete(VenRow).where(VenRow.ven_id == ven_id, VenRow.deprovisioned_at.is_not(None))
            )
            if gone.rowcount:  # type: ignore[attr-defined]
                return True
            await session.execute(
                update(VenRow)
                .where(VenRow.ven_id == ven_id)
                .values(registration_id=None, delivered_events={})
            )
            await session.execute(
                update(VenReportRequestRow)
                .where(VenReportRequestRow.ven_id == ven_id)
                .values(status=ReportRequestStatus.CANCELLED.value)
            )
            # Its requests of the VTN's METADATA were made under the registration that ended.
            await session.execute(
                update(VtnMetadataRequestRow)
                .where(VtnMetadataRequestRow.ven_id == ven_id, _METADATA_ACTIVE)
                .values(status=MetadataRequestStatus.CANCELLED.value)
            )
            # The operator's requests still waiting were about the registration that ended.
            await session.execute(
                delete(VenMessageRow).where(
                    VenMessageRow.ven_id == ven_id,
                    VenMessageRow.delivered_at.is_(None),
                    VenMessageRow.message_type.in_([r.value for r in VenRequest]),
                )
            )
        return False

    async def last_distribute(self, ven_id: str) -> dict[str, Any] | None:
        async with self._db.read() as session:
            found = await session.scalar(
                select(VenRow.last_distribute).where(VenRow.ven_id == ven_id)
            )
            return None if found is None else dict(found)

    async def count_deviations(self, counts: Mapping[str, Mapping[str, Sighting]]) -> None:
        """Add to each VEN's count of each tolerated schema deviation (``VtnState.seen``)."""
        if not counts:
            return
        async with self._db.write() as session:
            for ven_id, kinds in counts.items():
                row = await session.get(VenRow, ven_id, with_for_update=True)
                if row is None:
                    continue  # deleted since
                known = dict(row.schema_deviations or {})
                for kind, (count, last) in kinds.items():
                    before = int((known.get(kind) or {}).get("count", 0))
                    known[kind] = {"count": before + count, "last_seen_at": last.isoformat()}
                row.schema_deviations = known

    async def touch(self, seen: dict[str, datetime]) -> None:
        """Store last-seen times, in chunks of ``TOUCH_CHUNK`` rows, one transaction each.

        The parameters of an executemany are prepared on the event loop; one statement for the
        thousands of VENs a flush covers blocked every poll for 50-200 ms (seen in the soak
        benchmark), so each chunk is small and the loop serves polls between chunks. A Core
        statement, not the ORM's bulk update, which costs several times more per row.
        """
        items = list(seen.items())
        for start in range(0, len(items), TOUCH_CHUNK):
            chunk = items[start : start + TOUCH_CHUNK]
            async with self._db.write() as session:
                connection = await session.connection()
                await connection.execute(
                    _TOUCH, [{"seen_id": ven_id, "seen_at": when} for ven_id, when in chunk]
                )

    # --- what a poll needs ----------------------------------------------------------------
    async def load(self, ven_id: str, now: datetime) -> VenSnapshot | None:
        """One VEN's registration, events and count of waiting messages, in one read."""
        async with self._db.read() as session:
            row = await session.get(VenRow, ven_id)
            if row is None:
                return None
            events = await events_of_ven(session, ven_id, now)
            pending = await session.scalar(
                select(func.count())
                .select_from(VenMessageRow)
                .where(VenMessageRow.ven_id == ven_id, VenMessageRow.delivered_at.is_(None),
                       ON_VTNS_TURN)
            )  # fmt: skip
            due = await session.scalar(
                select(func.min(VtnMetadataRequestRow.due_at)).where(
                    _METADATA_ACTIVE, VtnMetadataRequestRow.ven_id == ven_id
                )
            )
            return VenSnapshot(_record(row), [as_oadr(e) for e in events], int(pending or 0), due)

    async def load_all(self, now: datetime) -> tuple[dict[str, VenSnapshot], dict[str, str | None]]:
        """Every VEN's snapshot and the device -> VEN map, in a few queries."""
        async with self._db.read() as session:
            rows = (await session.scalars(select(VenRow))).all()
            events = await events_of_every_ven(session, now)
            pending = dict(
                (
                    await session.execute(
                        select(VenMessageRow.ven_id, func.count())
                        .where(VenMessageRow.delivered_at.is_(None), ON_VTNS_TURN)
                        .group_by(VenMessageRow.ven_id)
                    )
                ).all()
            )
            due: dict[str, datetime] = {
                ven_id: when
                for ven_id, when in await session.execute(
                    select(VtnMetadataRequestRow.ven_id, func.min(VtnMetadataRequestRow.due_at))
                    .where(_METADATA_ACTIVE)
                    .group_by(VtnMetadataRequestRow.ven_id)
                )
            }
            devices: dict[str, str | None] = dict(
                (await session.execute(select(DeviceRow.id, DeviceRow.ven_id))).all()
            )
        snapshots = {
            r.ven_id: VenSnapshot(
                _record(r),
                [as_oadr(e) for e in events.get(r.ven_id, [])],
                int(pending.get(r.ven_id, 0)),
                due.get(r.ven_id),
            )
            for r in rows
        }
        return snapshots, devices

    # --- messages waiting for a poll ------------------------------------------------------
    async def take_next(self, ven_id: str, now: datetime) -> QueuedMessage | None:
        """The oldest undelivered message, marked delivered in the same transaction."""
        async with self._db.write() as session:
            row = await session.scalar(
                select(VenMessageRow)
                .where(VenMessageRow.ven_id == ven_id, VenMessageRow.delivered_at.is_(None),
                       ON_VTNS_TURN)
                .order_by(VenMessageRow.id)
                .limit(1)
                .with_for_update(skip_locked=True)
            )  # fmt: skip
            if row is None:
                return None
            row.delivered_at = now
            return QueuedMessage(row.id, row.message_type, dict(row.payload))

    async def take_piggy_backed(self, ven_id: str, now: datetime) -> list[QueuedMessage]:
        """The cancels told in the answer to the VEN's next report, marked delivered."""
        async with self._db.write() as session:
            query = waiting(ven_id, PIGGY_BACKED).with_for_update(skip_locked=True)
            rows = (await session.scalars(query)).all()
            for row in rows:
                row.delivered_at = now
            return [QueuedMessage(r.id, r.message_type, dict(r.payload)) for r in rows]

    # --- opts -----------------------------------------------------------------------------
    async def devices_of(self, ven_id: str) -> dict[str, str]:
        """resourceID -> device id, for this VEN's devices (a device without a resource id
        answers to its own id)."""
        async with self._db.read() as session:
            return await devices_by_resource(session, ven_id)

    async def opt(self, ven_id: str, opt_id: str) -> VenOptRow | None:
        async with self._db.read() as session:
            return await session.get(VenOptRow, (ven_id, opt_id))

    async def save_opt(self, row: VenOptRow) -> bool:
        """False when the same optID was stored meanwhile (a retry racing its original)."""
        try:
            async with self._db.write() as session:
                session.add(row)
        except IntegrityError:
            return False
        return True

    async def replace_opt(self, row: VenOptRow) -> None:
        """The opt stored under ``row``'s optID takes ``row``'s terms."""
        async with self._db.write() as session:
            await session.merge(row)

    async def cancel_opt(self, ven_id: str, opt_id: str, now: datetime) -> bool:
        async with self._db.write() as session:
            row = await session.get(VenOptRow, (ven_id, opt_id), with_for_update=True)
            if row is None:
                return False
            if row.cancelled_at is None:
                row.cancelled_at = now
            return True


@dataclass(frozen=True)
class VenSnapshot:
    record: VenRecord
    events: list[OadrEvent]
    pending_messages: int
    metadata_due: datetime | None = None


async def devices_by_resource(session: AsyncSession, ven_id: str) -> dict[str, str]:
    """resourceID -> device id, for this VEN's devices (``resource_id_of``)."""
    rows = await session.scalars(select(DeviceRow).where(DeviceRow.ven_id == ven_id))
    return {resource_id_of(d.id, d.resource_id): d.id for d in rows}
