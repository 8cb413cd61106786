"""The VTN's own METADATA report: the oadrRegisterReport a VEN is sent after each registration
(reportRequestID 0: it answers no request, EPRI rule 306) and whenever it asks for it
(oadrCreateReport naming reportSpecifierID METADATA, once or periodically), its requests
cancelled with oadrCancelReport, and the VEN's oadrRegisteredReport acknowledging one.

The VTN reports nothing of its own (it takes telemetry, it measures none), so its METADATA
report is the empty one the profile asks for: no report descriptions. Every copy is a message
queued for the VEN's poll like the operator's requests (a VEN that never answers one still
gets its events on the polls after it), or pushed to a push-mode VEN from its outbox."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.clock import Clock
from gateway.db.engine import Database
from gateway.db.models import VenRow
from gateway.db.ven_models import VtnMetadataRequestRow
from gateway.jsonable import from_jsonable, to_jsonable
from gateway.oadr20b.errors import OadrError, StatusCode
from gateway.oadr20b.payloads import Reply, ok, response_request_id, stored_id
from gateway.oadr20b.state import VenState, VtnState
from gateway.oadr20b.store import MetadataRequestStatus

METADATA = "METADATA"
REGISTER_REPORT = "oadrRegisterReport"
# The reportRequestID of a METADATA report sent unasked.
UNASKED = "0"
# A VEN's live requests of it: each is a row, and a periodic one a copy on idle polls.
MAX_LIVE_REQUESTS = 32


@dataclass(frozen=True)
class MetadataRequest:
    """What a VEN asked of the VTN's METADATA: ``period`` zero for once."""

    report_request_id: str
    period: timedelta
    start: datetime
    until: datetime | None


def register_report(ven_id: str, report_request_id: str, now: datetime) -> dict[str, Any]:
    """The oadrRegisterReport carrying the VTN's METADATA report, JSON-storable. No
    intervals, dtstart or eiReportID (TH RegisterReport checks)."""
    payload: dict[str, Any] = to_jsonable({
        "request_id": uuid.uuid4().hex,
        "ven_id": ven_id,
        "reports": [{
            "report_specifier_id": METADATA,
            "report_name": "METADATA_TELEMETRY_STATUS",
            "report_request_id": report_request_id,
            "created_date_time": now,
            "report_descriptions": [],
        }],
    })  # fmt: skip
    return payload


def metadata_requests(payload: dict[str, Any], now: datetime) -> list[MetadataRequest]:
    """The METADATA requests of an oadrCreateReport (or of the report requests an
    oadrRegisteredReport carries). A request for any other VTN report is refused 451: the
    VTN offers none."""
    requests = payload.get("report_requests") or []
    if isinstance(requests, dict):
        requests = [requests]
    found = []
    for request in requests:
        request_id = stored_id(request.get("report_request_id"), "reportRequestID")
        if not request_id or request_id == UNASKED:
            raise OadrError(StatusCode.INVALID_ID, "a report request needs a non-zero ID")
        specifier = request.get("report_specifier") or {}
        if specifier.get("report_specifier_id") != METADATA:
            raise OadrError(
                StatusCode.REPORT_NOT_SUPPORTED,
                f"this VTN offers only its METADATA report, not "
                f"{specifier.get('report_specifier_id')!r}",
            )
        found.append(_request(request_id, specifier, now))
    return found


def _request(request_id: str, specifier: dict[str, Any], now: datetime) -> MetadataRequest:
    """Periodic when it has a reportBackDuration (else granularity) above zero: sent from the
    reportInterval's dtstart, every period, for its duration (open-ended when 0 or none)."""
    period = timedelta()
    for key in ("report_back_duration", "granularity"):
        value = specifier.get(key)
        if isinstance(value, timedelta) and value > timedelta():
            period = value
            break
    interval = specifier.get("report_interval") or {}
    start = interval.get("dtstart") if isinstance(interval, dict) else None
    if not isinstance(start, datetime) or start.tzinfo is None:
        start = now
    length = interval.get("duration") if isinstance(interval, dict) else None
    try:
        until = start + length if isinstance(length, timedelta) and length > timedelta() else None
    except OverflowError:
        raise OadrError(
            StatusCode.INVALID_DATA, f"report request {request_id}: reportInterval out of range"
        ) from None
    return MetadataRequest(request_id, period, start, until)


class MetadataStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def send_unasked(
        self,
        ven_ids: list[str] | None,
        now: datetime,
        announce: Callable[[AsyncSession, list[str]], None] | None = None,
    ) -> list[str]:
        """Owe ``ven_ids`` (None: every registered VEN, polling or pushed to) the METADATA
        report once, from now; the VENs it is owed to. ``announce`` stages, in the same
        transaction, the news of it to the VTN processes."""
        async with self._db.write() as session:
            query = select(VenRow.ven_id).where(VenRow.registration_id.is_not(None))
            if ven_ids is not None:
                query = query.where(VenRow.ven_id.in_(ven_ids))
            targets = list(await session.scalars(query.order_by(VenRow.ven_id)))
            for ven_id in targets:
                await _keep(session, ven_id, MetadataRequest(UNASKED, timedelta(), now, None), now)
            if announce is not None and targets:
                announce(session, targets)
        return targets

    async def add_requests(
        self, ven_id: str, requests: list[MetadataRequest], now: datetime
    ) -> list[str]:
        """Keep the requests (one under an ID already used replaces it); the IDs of the VEN's
        requests still live afterwards (oadrPendingReports)."""
        async with self._db.write() as session:
            for request in requests:
                await _keep(session, ven_id, request, now)
            await session.flush()
            live = await _live(session, ven_id)
            if len(live) > MAX_LIVE_REQUESTS:  # raised inside: the transaction is undone
                raise OadrError(
                    StatusCode.NOT_ALLOWED,
                    f"at most {MAX_LIVE_REQUESTS} requests of the VTN's METADATA at a time",
                )
            return live

    async def cancel(self, ven_id: str, request_ids: list[str]) -> list[str]:
        """End the requests; the IDs still live. An ID the VEN never used is refused 452."""
        async with self._db.write() as session:
            rows = [
                None if request_id == UNASKED else
                await session.get(VtnMetadataRequestRow, (ven_id, request_id))
                for request_id in request_ids
            ]  # fmt: skip
            missing = [i for i, row in zip(request_ids, rows, strict=True) if row is None]
            if missing:
                raise OadrError(
                    StatusCode.INVALID_ID,
                    f"reportRequestID {missing[0]} was never asked of this VTN",
                )
            for row in rows:
                assert row is not None
                row.status = MetadataRequestStatus.CANCELLED.value
            await session.flush()
            return await _live(session, ven_id)

    async def take_due(self, ven_id: str, now: datetime) -> str | None:
        """The reportRequestID of the VEN's METADATA report due first, its request moved on
        to its next time (or done); None when none is due."""
        async with self._db.write() as session:
            return await take_due(session, ven_id, now)


async def take_due(session: AsyncSession, ven_id: str, now: datetime) -> str | None:
    """``MetadataStore.take_due`` in the caller's transaction (the push outbox queues the
    report in the same one, so that a report taken is a report sent)."""
    row = await session.scalar(
        select(VtnMetadataRequestRow)
        .where(
            VtnMetadataRequestRow.ven_id == ven_id,
            VtnMetadataRequestRow.status == MetadataRequestStatus.ACTIVE.value,
            VtnMetadataRequestRow.due_at <= now,
        )
        .order_by(VtnMetadataRequestRow.due_at, VtnMetadataRequestRow.created_at)
        .limit(1)
        .with_for_update(skip_locked=True)
    )
    if row is None:
        return None
    _advance(row, now)
    return row.report_request_id


async def _keep(session: Any, ven_id: str, request: MetadataRequest, now: datetime) -> None:
    """Store ``request``; one under an ID the VEN used already replaces it."""
    row = await session.get(VtnMetadataRequestRow, (ven_id, request.report_request_id))
    if row is None:
        row = VtnMetadataRequestRow(
            ven_id=ven_id, report_request_id=request.report_request_id, created_at=now
        )
        session.add(row)
    row.period_seconds = request.period.total_seconds()
    row.due_at = request.start
    row.until = request.until
    row.status = MetadataRequestStatus.ACTIVE.value


def _advance(row: VtnMetadataRequestRow, now: datetime) -> None:
    """The request's next time, past ``now`` (a VEN that polled late gets one copy, not
    every one it missed), or done."""
    if row.period_seconds <= 0:
        row.status = MetadataRequestStatus.DONE.value
        return
    period = timedelta(seconds=row.period_seconds)
    due = row.due_at + period
    if due <= now:
        due += period * ((now - due) // period + 1)
    if row.until is not None and due >= row.until:
        row.status = MetadataRequestStatus.DONE.value
    row.due_at = due


async def _live(session: Any, ven_id: str) -> list[str]:
    return list(
        await session.scalars(
            select(VtnMetadataRequestRow.report_request_id)
            .where(
                VtnMetadataRequestRow.ven_id == ven_id,
                VtnMetadataRequestRow.status == MetadataRequestStatus.ACTIVE.value,
                VtnMetadataRequestRow.report_request_id != UNASKED,
            )
            .order_by(VtnMetadataRequestRow.created_at, VtnMetadataRequestRow.report_request_id)
        )
    )


class MetadataHandlers:
    """The VEN's messages about the VTN's METADATA report."""

    def __init__(self, store: MetadataStore, state: VtnState, clock: Clock) -> None:
        self._store = store
        self._state = state
        self._clock = clock

    async def registered(self, ven_id: str) -> None:
        """After a registration: the METADATA report once, on a poll with nothing else."""
        await self._store.send_unasked([ven_id], self._clock.now())

    async def publish(self) -> list[str]:
        """The operator republishes the METADATA report to every registered VEN."""
        ven_ids = await self._store.send_unasked(None, self._clock.now())
        for ven_id in ven_ids:
            await self._state.changed(ven_id)
        return ven_ids

    async def on_idle_poll(self, ven: VenState) -> Reply | None:
        """The METADATA report due, for a poll that has nothing else for the VEN: it comes
        after the events and the requests queued, so that it holds none of them up."""
        now = self._clock.now()
        if ven.metadata_due is None or ven.metadata_due > now:
            return None  # known from the VEN's cached state: idle polls read no table
        report_request_id = await self._store.take_due(ven.record.ven_id, now)
        await self._state.changed(ven.record.ven_id)
        if report_request_id is None:
            return None
        return REGISTER_REPORT, from_jsonable(
            register_report(ven.record.ven_id, report_request_id, now)
        )

    async def create_report(self, ven: VenState, payload: dict[str, Any]) -> Reply:
        requests = metadata_requests(payload, self._clock.now())
        live = await self._store.add_requests(ven.record.ven_id, requests, self._clock.now())
        await self._state.changed(ven.record.ven_id)
        return "oadrCreatedReport", _pending(payload, ven, live)

    async def cancel_report(self, ven: VenState, payload: dict[str, Any]) -> Reply:
        given = payload.get("report_request_id")
        ids = [str(i) for i in (given if isinstance(given, list) else [given]) if i]
        if not ids:
            raise OadrError(StatusCode.INVALID_ID, "oadrCancelReport names no reportRequestID")
        live = await self._store.cancel(ven.record.ven_id, ids)
        await self._state.changed(ven.record.ven_id)
        return "oadrCanceledReport", _pending(payload, ven, live)

    async def registered_report(self, ven: VenState, payload: dict[str, Any]) -> Reply:
        """The VEN's acknowledgement of a METADATA report; report requests it carries are
        taken as an oadrCreateReport's (R1_3120)."""
        requests = metadata_requests(payload, self._clock.now())
        if requests:
            await self._store.add_requests(ven.record.ven_id, requests, self._clock.now())
            await self._state.changed(ven.record.ven_id)
        return "oadrResponse", {"response": ok(response_request_id(payload))}


def _pending(payload: dict[str, Any], ven: VenState, live: list[str]) -> dict[str, Any]:
    return {
        "response": ok(payload.get("request_id")),
        "pending_reports": [{"report_request_id": i} for i in live],
        "ven_id": ven.record.ven_id,
    }
