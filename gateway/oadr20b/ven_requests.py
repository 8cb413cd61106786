"""A message waiting for a VEN's poll, as its 2.0b message: the operator's requests
(``VenRequest``, queued by the core in no protocol's words: registration, report requests and
their cancel) are said here; the VTN's own messages (an oadrCreateReport) were queued as they
are sent."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from openleadr import objects

from gateway.domain.ven_requests import VenRequest
from gateway.jsonable import from_jsonable
from gateway.oadr20b.payloads import Reply
from gateway.oadr20b.store import QueuedMessage, VenRecord


def queued_reply(queued: QueuedMessage, ven: VenRecord) -> Reply:
    """The registration named is the VEN's current one (the VEN polls only while it has one:
    an unregistered VEN's poll is refused)."""
    if queued.message_type == VenRequest.CANCEL_REGISTRATION:
        # N1_0040: the VEN answers oadrCanceledPartyRegistration, which ends the registration.
        return "oadrCancelPartyRegistration", {
            "request_id": uuid.uuid4().hex,
            "registration_id": ven.registration_id or "",
            "ven_id": ven.ven_id,
        }
    if queued.message_type == VenRequest.REQUEST_REREGISTRATION:
        # N1_0050: the VEN answers oadrResponse, then registers again.
        return "oadrRequestReregistration", {"ven_id": ven.ven_id}
    if queued.message_type == VenRequest.REPORT_REQUEST:
        return "oadrCreateReport", {
            "request_id": uuid.uuid4().hex,
            "ven_id": ven.ven_id,
            "report_requests": [operator_report_request(queued.payload)],
        }
    if queued.message_type == VenRequest.CANCEL_REPORT:
        return "oadrCancelReport", {
            "request_id": uuid.uuid4().hex,
            "report_request_id": str(queued.payload["report_request_id"]),
            "report_to_follow": bool(queued.payload.get("report_to_follow")),
            "ven_id": ven.ven_id,
        }
    return queued.message_type, from_jsonable(queued.payload)


def operator_report_request(asked: dict[str, Any]) -> objects.ReportRequest:
    """The operator's request (``services.ven_facing.report_requests``) as 2.0b says it: a
    span is a reportInterval from its start, of duration 0 when open-ended."""
    start = asked.get("start")
    duration = asked.get("duration_seconds")
    interval = None
    if start is not None:
        interval = objects.Interval(
            dtstart=datetime.fromisoformat(str(start)),
            duration=_duration(duration),
            signal_payload=0.0,
        )
    return objects.ReportRequest(
        report_request_id=str(asked["report_request_id"]),
        report_specifier=objects.ReportSpecifier(
            report_specifier_id=str(asked["report_specifier_id"]),
            granularity=_duration(asked.get("granularity_seconds")),
            report_back_duration=_duration(asked.get("report_back_seconds")),
            report_interval=interval,
            specifier_payloads=[
                objects.SpecifierPayload(r_id=str(r), reading_type="Direct Read")
                for r in asked.get("r_ids") or []
            ],
        ),
    )


def _duration(seconds: object) -> Any:
    """A duration for openleadr's templates: a zero one written out (its formatter makes
    "P" of it, which is no xcal duration)."""
    span = timedelta(seconds=float(str(seconds or 0)))
    return span if span else "PT0S"
