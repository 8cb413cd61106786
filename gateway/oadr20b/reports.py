"""The VTN's report handlers: a VEN's report registrations, the report requests made of them,
and its telemetry, read out of oadrUpdateReport and taken by the core (``Telemetry``): a
point that names no resource is the VEN's own power when the VEN has no single device to
give it to."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from openleadr import objects

from gateway.clock import Clock
from gateway.domain.lifecycle import ReportRequestStatus
from gateway.jsonable import to_jsonable
from gateway.oadr20b.errors import OadrError, StatusCode
from gateway.oadr20b.mapping import SCALE_TO_KW, sampling_period
from gateway.oadr20b.payloads import Reply, ok, response_request_id, stored_id
from gateway.oadr20b.report_store import ReportPoint, ReportStore
from gateway.oadr20b.state import VenState, VtnState
from gateway.oadr20b.status_store import ResourceStatus, StatusStore, resource_status
from gateway.oadr20b.store import QueuedMessage, VtnStore
from gateway.oadr20b.ven_requests import operator_report_request
from gateway.services.ven_facing.service import VenFacing
from gateway.services.ven_facing.telemetry import Reading

TELEMETRY_USAGE = "TELEMETRY_USAGE"
TELEMETRY_STATUS = "TELEMETRY_STATUS"
POWER_ITEMS = {"RealPower", "powerReal"}


class ReportHandlers:
    def __init__(
        self,
        store: ReportStore,
        state: VtnState,
        vens: VenFacing,
        clock: Clock,
        sampling: timedelta,
        vtn_store: VtnStore,
    ) -> None:
        self._vtn_store = vtn_store
        self._store = store
        self._statuses = StatusStore(store.db)
        self._state = state
        self._vens = vens
        self._clock = clock
        self._sampling = sampling

    async def register_report(self, ven: VenState, payload: dict[str, Any]) -> Reply:
        reports = payload.get("reports") or []
        offered: list[tuple[str, ReportPoint]] = []
        requests: list[tuple[str, str, str, list[str], float]] = []
        specifiers: list[objects.ReportRequest] = []
        seen: set[tuple[str, str]] = set()
        for report in reports:
            spec = stored_id(report.get("report_specifier_id"), "reportSpecifierID")
            name = str(report.get("report_name") or "").removeprefix("METADATA_")
            if not spec:
                raise OadrError(StatusCode.INVALID_DATA, "a report has no reportSpecifierID")
            # The points asked for, by the sampling period each is asked at: one request each.
            wanted: dict[timedelta, list[str]] = {}
            for description in report.get("report_descriptions") or []:
                point = _report_point(description, name)
                if point is None:
                    raise OadrError(StatusCode.INVALID_DATA, f"report {spec}: a point has no rID")
                # A report's points are stored one per rID (a unique key): one offered twice
                # was a UniqueViolation, answered 503 as if the database were down.
                if (spec, point.r_id) in seen:
                    raise OadrError(
                        StatusCode.INVALID_DATA, f"report {spec}: rID {point.r_id} is offered twice"
                    )
                seen.add((spec, point.r_id))
                offered.append((spec, point))
                if name == TELEMETRY_STATUS or (
                    name == TELEMETRY_USAGE and point.item_description in POWER_ITEMS
                ):
                    # Within what the VEN offered, or it refuses the request and never reports.
                    period = sampling_period(self._sampling, *_offered_range(description))
                    wanted.setdefault(period, []).append(point.r_id)
            for period, r_ids in wanted.items():
                request_id = uuid.uuid4().hex
                requests.append((request_id, spec, name, r_ids, period.total_seconds()))
                specifiers.append(_report_request(request_id, spec, period, r_ids))
        create_report = None
        if specifiers:
            create_report = {
                "request_id": uuid.uuid4().hex,
                "ven_id": ven.record.ven_id,
                "report_requests": [to_jsonable(r) for r in specifiers],
            }
        now = self._clock.now()
        carried = await self._store.register_reports(
            ven.record.ven_id, offered, requests, create_report, now,
            carry=lambda held: _carried(held, offered, now),
        )  # fmt: skip
        await self._state.changed(ven.record.ven_id)
        return "oadrRegisteredReport", {
            "response": ok(payload.get("request_id")),
            "ven_id": ven.record.ven_id,
            "report_requests": [operator_report_request(asked) for asked in carried],
        }

    async def created_report(self, ven: VenState, payload: dict[str, Any]) -> Reply:
        pending = payload.get("pending_reports") or []
        ids = [str(p.get("report_request_id")) for p in pending if isinstance(p, dict)]
        await self._store.set_request_status(
            ven.record.ven_id, ids, ReportRequestStatus.CREATED, self._clock.now()
        )
        return "oadrResponse", {"response": ok(response_request_id(payload))}

    async def canceled_report(self, ven: VenState, payload: dict[str, Any]) -> Reply:
        """The VEN's acknowledgement of the VTN's cancel (called off when the operator asked
        it). Its oadrPendingReports are the requests it still serves: none is cancelled for
        being listed there."""
        ids = [str(payload["report_request_id"])] if payload.get("report_request_id") else []
        await self._store.set_request_status(
            ven.record.ven_id, ids, ReportRequestStatus.CANCELLED, self._clock.now()
        )
        return "oadrResponse", {"response": ok(response_request_id(payload))}

    async def update_report(self, ven: VenState, payload: dict[str, Any]) -> Reply:
        reports = payload.get("reports") or []
        await self._check_requested(ven.record.ven_id, reports)
        points = await self._store.report_points(ven.record.ven_id)
        now = self._clock.now()
        readings: list[Reading] = []
        statuses: list[ResourceStatus] = []
        for report in reports:
            for interval in report.get("intervals") or []:
                item = interval.get("report_payload") or {}
                r_id = item.get("r_id")
                known = points.get(r_id) if isinstance(r_id, str) else None
                if known is None:
                    raise OadrError(StatusCode.INVALID_ID, f"rID {r_id} was never registered")
                point, device_id = known
                if point.report_name == TELEMETRY_STATUS and "payload_resource_status" in item:
                    statuses.append(resource_status(
                        item["payload_resource_status"], point.r_id, point.resource_id,
                        str(report.get("report_request_id")), _measured(interval, report, now),
                    ))  # fmt: skip
                    continue
                if (
                    point.report_name != TELEMETRY_USAGE
                    or point.item_description not in POWER_ITEMS
                ):
                    continue  # another point: not power, nothing for the bus
                value = item.get("value")
                if isinstance(value, bool) or not isinstance(value, int | float):
                    raise OadrError(StatusCode.INVALID_DATA, f"rID {r_id}: value is not a number")
                kw = float(value) * SCALE_TO_KW.get(point.scale or "none", 1e-3)
                if not (-1e9 < kw < 1e9):
                    raise OadrError(StatusCode.INVALID_DATA, f"rID {r_id}: value out of range")
                ts = _measured(interval, report, now)
                if device_id is not None or point.resource_id is None:  # None: the VEN's own
                    readings.append(Reading(device_id, kw, ts, point.r_id))
                else:
                    raise OadrError(
                        StatusCode.TARGET_MISMATCH,
                        f"rID {r_id}: resource {point.resource_id} is no device of this gateway",
                    )
        await self._statuses.save(ven.record.ven_id, statuses, now)
        await self._vens.take_telemetry(ven.record.ven_id, readings)
        updated: dict[str, Any] = {
            "response": ok(payload.get("request_id")),
            "ven_id": ven.record.ven_id,
        }
        cancels = await self._vtn_store.take_piggy_backed(ven.record.ven_id, now)
        if cancels:  # 2.0b lets a cancel ride in the answer (cert R1_3050)
            updated["cancel_report"] = {
                "request_id": uuid.uuid4().hex,
                "report_request_id": [str(c.payload["report_request_id"]) for c in cancels],
                "report_to_follow": any(bool(c.payload.get("report_to_follow")) for c in cancels),
                "ven_id": ven.record.ven_id,
            }
        return "oadrUpdatedReport", updated

    async def _check_requested(self, ven_id: str, reports: list[dict[str, Any]]) -> None:
        """Every report must answer a request the VTN made of this VEN: one under any other
        reportRequestID is refused 452 and none of the message's values taken (EPRI
        ``report_service.rb`` rule 304; cert R1_3190)."""
        given = [r.get("report_request_id") for r in reports]
        ids = [i for i in given if isinstance(i, str) and i]
        if len(ids) < len(given):
            raise OadrError(StatusCode.INVALID_ID, "a report names no reportRequestID")
        unrequested = await self._store.unrequested(ven_id, ids)
        if unrequested:
            raise OadrError(
                StatusCode.INVALID_ID,
                f"reportRequestID {min(unrequested)} was never requested of this VEN",
            )


def _measured(interval: dict[str, Any], report: dict[str, Any], now: datetime) -> datetime:
    """When a value was measured: its interval's dtstart, else the report's (EPRI rule 314),
    else now; one in the future past clock skew is taken as now."""
    for ts in (interval.get("dtstart"), report.get("dtstart")):
        if isinstance(ts, datetime) and ts.tzinfo is not None:
            return ts if ts <= now + timedelta(minutes=5) else now
    return now


def _carried(
    held: list[QueuedMessage], offered: list[tuple[str, ReportPoint]], now: datetime
) -> list[tuple[int, dict[str, Any]]]:
    """The operator's held requests this registration offers the points of (P024), each with
    the report it falls on; the others stay held for a later registration. A span that names
    no start starts ``now``, when it is carried (not when it was held)."""
    points: dict[str, list[str]] = {}
    names: dict[str, str] = {}
    for spec, point in offered:
        points.setdefault(spec, []).append(point.r_id)
        names[spec] = point.report_name
    carried = []
    for message in held:
        asked = message.payload
        wanted = [str(r) for r in asked.get("r_ids") or []]
        for spec, r_ids in points.items():
            if names[spec] == asked.get("report_name") and set(wanted) <= set(r_ids):
                made = {**asked, "report_specifier_id": spec, "r_ids": wanted or r_ids}
                if made.get("start") is None and made.get("duration_seconds") is not None:
                    made["start"] = now.isoformat()
                carried.append((message.id, made))
                break
    return carried


def _report_request(
    request_id: str, spec: str, period: timedelta, r_ids: list[str]
) -> objects.ReportRequest:
    """Telemetry every ``period``, each value sent as it is sampled (reportBackDuration)."""
    return objects.ReportRequest(
        report_request_id=request_id,
        report_specifier=objects.ReportSpecifier(
            report_specifier_id=spec,
            granularity=period,
            report_back_duration=period,
            specifier_payloads=[
                objects.SpecifierPayload(r_id=r, reading_type="Direct Read") for r in r_ids
            ],
        ),
    )


def _offered_range(description: dict[str, Any]) -> tuple[timedelta | None, timedelta | None]:
    """The oadrMinPeriod and oadrMaxPeriod a point was offered with (None: not given)."""
    rate = description.get("sampling_rate")
    if not isinstance(rate, dict):
        return None, None
    low, high = rate.get("min_period"), rate.get("max_period")
    return (
        low if isinstance(low, timedelta) else None,
        high if isinstance(high, timedelta) else None,
    )


def _report_point(description: dict[str, Any], report_name: str) -> ReportPoint | None:
    r_id = description.get("r_id")
    if not r_id:
        return None
    subject = description.get("report_subject") or {}
    source = description.get("report_data_source") or {}
    resource = _first_resource(subject) or _first_resource(source)
    measurement = description.get("measurement") or {}
    return ReportPoint(
        r_id=stored_id(r_id, "rID"),
        report_name=report_name[:64],
        resource_id=resource,
        item_description=_text(measurement.get("description"), 64),
        unit=_text(measurement.get("unit"), 32),
        scale=_text(measurement.get("scale"), 16),
    )


def _first_resource(target: Any) -> str | None:
    if isinstance(target, dict):
        value = target.get("resource_id")
        if isinstance(value, list):
            value = value[0] if value else None
        return None if value is None else stored_id(value, "resourceID")
    if isinstance(target, list) and target:
        return _first_resource(target[0])
    return None


def _text(value: object, limit: int) -> str | None:
    return None if value is None else str(value)[:limit]
