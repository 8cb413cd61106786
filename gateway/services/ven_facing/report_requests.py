"""The operator's report requests of a VEN, whatever its protocol: a report of points the VEN
offered (TELEMETRY_STATUS, TELEMETRY_USAGE, HISTORY_USAGE), once or every ``granularity`` over
a span, and its cancel. Each is stored and queued for the VEN (a pull VEN hears it on its next
poll); its transport says it in its own words (2.0b: oadrCreateReport, oadrCancelReport).

A request ``on_registration`` is held for the VEN's next registration of its reports instead:
its span starts when that registration carries it unless it names a start; until then the
cancel withdraws it (never told), and one held longer than ``MAX_HOLD`` is dropped when next
looked at (a hold, a cancel, a registration of the VEN's reports)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.db.models import VenMessageRow, VenReportRequestRow, VenReportRow, VenRow
from gateway.domain.errors import Conflict, FieldError, NotFound, raise_if_any
from gateway.domain.lifecycle import ReportRequestStatus
from gateway.domain.ven_requests import VenRequest
from gateway.services.context import ServiceContext
from gateway.services.ven_facing.changes import ChangeKind, VenChange

MAX_SPAN = timedelta(days=366)
# A request held for a registration of the VEN's reports that never came is dropped after this.
MAX_HOLD = timedelta(days=7)
HELD = VenRequest.REPORT_REQUEST_ON_REGISTRATION


class ReportRequestView(BaseModel):
    """A report request as queued for the VEN (or its cancel)."""

    model_config = ConfigDict(frozen=True)

    report_request_id: str
    report_specifier_id: str | None = None
    report_name: str | None = None
    r_ids: list[str] = []
    granularity_seconds: float | None = None
    report_back_seconds: float | None = None
    start: str | None = None
    duration_seconds: float | None = None
    report_to_follow: bool | None = None
    piggy_back: bool | None = None
    held: bool = Field(
        default=False,
        description="held for the VEN's next registration of its reports, not told yet (on a "
        "cancel: withdrawn, never told); a held request without a start starts when carried",
    )


class ReportRequestListed(BaseModel):
    """A report request of the VEN's as stored: asked (``requested``), taken by the VEN
    (``created``), called off (``cancelled``), or ``held`` for its next registration of
    reports (then without a report specifier: that registration's)."""

    model_config = ConfigDict(frozen=True)

    report_request_id: str
    status: str = Field(description="requested | created | cancelled | held")
    report_name: str
    report_specifier_id: str | None
    r_ids: list[str] = Field(
        description="empty for a held request that names none: every point offered then"
    )
    granularity_seconds: float
    created_at: datetime
    updated_at: datetime


class ReportName(StrEnum):
    TELEMETRY_STATUS = "TELEMETRY_STATUS"
    TELEMETRY_USAGE = "TELEMETRY_USAGE"
    HISTORY_USAGE = "HISTORY_USAGE"


@dataclass(frozen=True, slots=True)
class ReportAsk:
    """What the operator asks: ``granularity`` 0 is one report (or one on each change with a
    ``report_back``), ``start`` None is now, ``duration`` None is open-ended."""

    report_name: ReportName
    r_ids: tuple[str, ...] = ()  # none: every point of that report the VEN offered
    granularity: timedelta = timedelta()
    report_back: timedelta = timedelta()
    start: datetime | None = None
    duration: timedelta | None = None
    # Held for the VEN's next registration of its reports and told in the answer to it (its
    # points are checked against what that registration offers, not against the last one).
    on_registration: bool = False


def check_ask(ask: ReportAsk, now: datetime) -> list[FieldError]:
    errors = []
    for name, span in (("granularity_seconds", ask.granularity),
                       ("report_back_seconds", ask.report_back)):  # fmt: skip
        if not timedelta() <= span <= MAX_SPAN:
            errors.append(FieldError(name, "must be 0 to 366 days"))
    if ask.duration is not None and not timedelta() <= ask.duration <= MAX_SPAN:
        errors.append(FieldError("duration_seconds", "must be 0 to 366 days"))
    if ask.start is not None and abs(ask.start - now) > MAX_SPAN:
        errors.append(FieldError("start", "must be within 366 days of now"))
    return errors


class ReportRequests:
    def __init__(self, ctx: ServiceContext) -> None:
        self._ctx = ctx

    async def request(self, ven_id: str, ask: ReportAsk) -> ReportRequestView:
        """Store and queue the request; its id. 404: no such VEN; 409: not registered; 422:
        points it did not offer for that report."""
        now = self._ctx.clock.now()
        raise_if_any(check_ask(ask, now))
        if ask.on_registration:
            return await self._hold(ven_id, ask, now)
        async with self._ctx.db.write() as session:
            ven = await _registered(session, ven_id)
            offered = (
                await session.execute(
                    select(VenReportRow.report_specifier_id, VenReportRow.r_id).where(
                        VenReportRow.ven_id == ven.ven_id,
                        VenReportRow.report_name == ask.report_name.value,
                    )
                )
            ).all()
            by_r_id = {r: spec for spec, r in offered}
            r_ids = list(ask.r_ids) or [r for _, r in offered]
            unknown = [r for r in r_ids if r not in by_r_id]
            if unknown or not r_ids:
                named = ", ".join(unknown) or "none at all"
                raise_if_any([FieldError(
                    "r_ids", f"the VEN offered no such {ask.report_name} points: {named}"
                )])  # fmt: skip
            specs = {by_r_id[r] for r in r_ids}
            if len(specs) > 1:
                raise_if_any([FieldError("r_ids", "the points belong to several reports")])
            spec = specs.pop()
            made = _asked(ask, r_ids, spec, now)
            session.add(VenReportRequestRow(
                report_request_id=made["report_request_id"], ven_id=ven_id,
                report_specifier_id=spec, report_name=ask.report_name.value, r_ids=r_ids,
                granularity_seconds=ask.granularity.total_seconds(),
                status=ReportRequestStatus.REQUESTED.value, created_at=now, updated_at=now,
            ))  # fmt: skip
            self._queue(session, ven_id, VenRequest.REPORT_REQUEST, made, now)
        await self._ctx.publisher.flush()
        return ReportRequestView(**made)

    async def of_ven(self, ven_id: str) -> list[ReportRequestListed]:
        """The VEN's report requests, held ones first, then the stored ones oldest first;
        404: no such VEN."""
        now = self._ctx.clock.now()
        async with self._ctx.db.read() as session:
            if await session.get(VenRow, ven_id) is None:
                raise NotFound(f"VEN {ven_id} not found")
            held = (
                await session.scalars(
                    select(VenMessageRow)
                    .where(
                        VenMessageRow.ven_id == ven_id,
                        VenMessageRow.delivered_at.is_(None),
                        VenMessageRow.message_type == HELD.value,
                        VenMessageRow.created_at >= hold_cutoff(now),
                    )
                    .order_by(VenMessageRow.id)
                )
            ).all()
            stored = (
                await session.scalars(
                    select(VenReportRequestRow)
                    .where(VenReportRequestRow.ven_id == ven_id)
                    .order_by(VenReportRequestRow.created_at, VenReportRequestRow.report_request_id)
                )
            ).all()
        return [
            *(_listed_held(row) for row in held),
            *(ReportRequestListed(
                report_request_id=r.report_request_id, status=r.status,
                report_name=r.report_name, report_specifier_id=r.report_specifier_id,
                r_ids=list(r.r_ids), granularity_seconds=r.granularity_seconds,
                created_at=r.created_at, updated_at=r.updated_at,
            ) for r in stored),
        ]  # fmt: skip

    async def _hold(self, ven_id: str, ask: ReportAsk, now: datetime) -> ReportRequestView:
        """Held until the VEN next registers its reports: its transport then stores it against
        the report that offers its points (all of that report's when none are named)."""
        made = _asked(ask, list(ask.r_ids), None, None)  # its span starts when carried
        async with self._ctx.db.write() as session:
            await _registered(session, ven_id)
            await held_requests(session, ven_id, now)  # drops those held too long
            self._queue(session, ven_id, HELD, made, now)
        await self._ctx.publisher.flush()
        return ReportRequestView(**made, held=True)

    async def cancel(
        self, ven_id: str, report_request_id: str, report_to_follow: bool, piggy_back: bool
    ) -> ReportRequestView:
        """Queue the cancel of a request made of the VEN (``piggy_back``: said in the answer
        to its next report, not on a poll), or withdraw one still held for its next
        registration (it is never told); 404 for a request it was never asked (or held too
        long, dropped)."""
        now = self._ctx.clock.now()
        async with self._ctx.db.write() as session:
            await _registered(session, ven_id)
            view = await self._withdraw(session, ven_id, report_request_id, now)
            refused = None if view else await _cancelled(session, ven_id, report_request_id, now)
            if view is None and refused is None:
                made = {
                    "report_request_id": report_request_id, "report_to_follow": report_to_follow,
                    "piggy_back": piggy_back,
                }  # fmt: skip
                kind = (
                    VenRequest.CANCEL_REPORT_PIGGY_BACKED
                    if piggy_back
                    else VenRequest.CANCEL_REPORT
                )
                self._queue(session, ven_id, kind, made, now)
                view = ReportRequestView(**made)
        # Refused once committed: the held requests it dropped (held too long) stay dropped.
        await self._ctx.publisher.flush()
        if refused is not None:
            raise refused
        assert view is not None
        return view

    async def _withdraw(
        self, session: AsyncSession, ven_id: str, report_request_id: str, now: datetime
    ) -> ReportRequestView | None:
        """The held request ``report_request_id``, deleted (None: none such is held). Only it
        is locked (a registration at the same time passes over it, and carries the others);
        one a registration is carrying is locked by it: this waits, then finds it carried."""
        for held in await held_requests(session, ven_id, now):
            if held.payload.get("report_request_id") != report_request_id:
                continue
            still = await session.scalar(
                select(VenMessageRow)
                .where(VenMessageRow.id == held.id, VenMessageRow.delivered_at.is_(None))
                .with_for_update()
                .execution_options(populate_existing=True)
            )
            if still is None:
                return None  # carried meanwhile: cancelled as any other
            await session.delete(still)
            self._ctx.announce(
                session, "ven_request_withdrawn", ven_id=ven_id, request=HELD.value,
                report_request_id=report_request_id,
                change=VenChange(ChangeKind.VEN, ven_id=ven_id),
            )  # fmt: skip
            return ReportRequestView(**held.payload, held=True)
        return None

    def _queue(
        self, session: Any, ven_id: str, kind: VenRequest, payload: dict[str, Any], now: datetime
    ) -> None:
        session.add(
            VenMessageRow(ven_id=ven_id, message_type=kind.value, payload=payload, created_at=now)
        )
        self._ctx.announce(
            session, "ven_request_queued", ven_id=ven_id, request=kind.value,
            change=VenChange(ChangeKind.VEN, ven_id=ven_id),
        )  # fmt: skip


def hold_cutoff(now: datetime) -> datetime:
    """A request held since before this was held too long (``MAX_HOLD``): it is dropped, and
    no longer shown as waiting."""
    return now - MAX_HOLD


async def held_requests(
    session: AsyncSession, ven_id: str, now: datetime, *, lock: bool = False
) -> list[VenMessageRow]:
    """The VEN's requests held for its next registration of reports, oldest first (``lock``:
    locked for the transaction, those another transaction holds passed over); those held
    longer than ``MAX_HOLD`` are deleted, not returned."""
    query = (
        select(VenMessageRow)
        .where(
            VenMessageRow.ven_id == ven_id,
            VenMessageRow.delivered_at.is_(None),
            VenMessageRow.message_type == HELD.value,
        )
        .order_by(VenMessageRow.id)
    )
    if lock:
        query = query.with_for_update(skip_locked=True)
    rows = (await session.scalars(query)).all()
    stale = [r.id for r in rows if r.created_at < hold_cutoff(now)]
    if stale:
        await session.execute(
            delete(VenMessageRow).where(
                VenMessageRow.id.in_(stale), VenMessageRow.delivered_at.is_(None)
            )
        )
    return [r for r in rows if r.id not in stale]


def _asked(
    ask: ReportAsk, r_ids: list[str], spec: str | None, now: datetime | None
) -> dict[str, Any]:
    start = ask.start
    if start is None and ask.duration is not None:
        start = now  # a span starts now unless told otherwise (``now`` None: when carried)
    return {
        "report_request_id": uuid.uuid4().hex, "report_specifier_id": spec,
        "report_name": ask.report_name.value, "r_ids": r_ids,
        "granularity_seconds": ask.granularity.total_seconds(),
        "report_back_seconds": ask.report_back.total_seconds(),
        "start": None if start is None else start.isoformat(),
        "duration_seconds": None if ask.duration is None else ask.duration.total_seconds(),
    }  # fmt: skip


async def _cancelled(
    session: AsyncSession, ven_id: str, report_request_id: str, now: datetime
) -> NotFound | Conflict | None:
    """Mark the request made of the VEN cancelled; why not, if it cannot be."""
    row = await session.get(VenReportRequestRow, report_request_id, with_for_update=True)
    if row is None or row.ven_id != ven_id:
        return NotFound(f"report request {report_request_id} of VEN {ven_id} not found")
    if row.status == ReportRequestStatus.CANCELLED.value:
        return Conflict(f"report request {report_request_id} is cancelled already")
    row.status = ReportRequestStatus.CANCELLED.value
    row.updated_at = now
    return None


def _listed_held(row: VenMessageRow) -> ReportRequestListed:
    payload = row.payload
    return ReportRequestListed(
        report_request_id=str(payload.get("report_request_id")), status="held",
        report_name=str(payload.get("report_name")), report_specifier_id=None,
        r_ids=list(payload.get("r_ids") or []),
        granularity_seconds=float(payload.get("granularity_seconds") or 0),
        created_at=row.created_at, updated_at=row.created_at,
    )  # fmt: skip


async def _registered(session: Any, ven_id: str) -> VenRow:
    row = await session.get(VenRow, ven_id)
    if row is None:
        raise NotFound(f"VEN {ven_id} not found")
    if row.registration_id is None:
        raise Conflict(f"VEN {ven_id} is not registered")
    return row  # type: ignore[no-any-return]
