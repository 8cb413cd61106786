"""The messages a 2.0b VEN sends (pull mode), each built as the XSD orders its elements.

Each builder returns the message element (``oadr:oadrPoll``, ...); ``envelope`` puts it in
the ``oadrPayload``/``oadrSignedObject`` every 2.0b message travels in. Optional elements are
left out when their argument is ``None``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from lxml import etree

from tests.oadr20b.namespaces import NSMAP, OADR, date_time, duration, el, qname

SCHEMA_VERSION = "2.0b"
SIGNED_OBJECT_ID = "oadrSignedObject"


def message(name: str, *children: etree._Element | None) -> etree._Element:
    return el(f"oadr:{name}", *children, attrib={"ei:schemaVersion": SCHEMA_VERSION})


def envelope(body: etree._Element) -> etree._Element:
    """``body`` in an oadrPayload. The signed object declares every namespace itself and the
    payload only ``oadr``, so the signed object canonicalises the same alone or in place (the
    inclusive C14N of a signature takes in the namespaces in scope)."""
    signed = el("oadr:oadrSignedObject", body, attrib={"oadr:Id": SIGNED_OBJECT_ID})
    etree.cleanup_namespaces(signed, top_nsmap=NSMAP)
    root = etree.Element(qname("oadr:oadrPayload"), nsmap={"oadr": OADR})
    root.append(signed)
    return root


def signed_object(root: etree._Element) -> etree._Element:
    found = root.find(qname("oadr:oadrSignedObject"))
    assert found is not None, "not an oadrPayload"
    return found


def body_of(root: etree._Element) -> etree._Element:
    """The message inside an oadrPayload."""
    return next(c for c in signed_object(root) if isinstance(c.tag, str))


def ei_response(code: int, description: str | None, request_id: str) -> etree._Element:
    return el(
        "ei:eiResponse",
        el("ei:responseCode", code),
        None if description is None else el("ei:responseDescription", description),
        el("pyld:requestID", request_id),
    )


# --- registration -------------------------------------------------------------------------


def query_registration(request_id: str) -> etree._Element:
    return message("oadrQueryRegistration", el("pyld:requestID", request_id))


def create_party_registration(
    request_id: str,
    *,
    ven_name: str | None,
    ven_id: str | None = None,
    registration_id: str | None = None,
    xml_signature: bool = False,
    report_only: bool = False,
    http_pull_model: bool = True,
) -> etree._Element:
    return message(
        "oadrCreatePartyRegistration",
        el("pyld:requestID", request_id),
        None if registration_id is None else el("ei:registrationID", registration_id),
        None if ven_id is None else el("ei:venID", ven_id),
        el("oadr:oadrProfileName", SCHEMA_VERSION),
        el("oadr:oadrTransportName", "simpleHttp"),
        el("oadr:oadrReportOnly", report_only),
        el("oadr:oadrXmlSignature", xml_signature),
        None if ven_name is None else el("oadr:oadrVenName", ven_name),
        el("oadr:oadrHttpPullModel", http_pull_model),
    )


def cancel_party_registration(request_id: str, registration_id: str, ven_id: str) -> etree._Element:
    return message(
        "oadrCancelPartyRegistration",
        el("pyld:requestID", request_id),
        el("ei:registrationID", registration_id),
        el("ei:venID", ven_id),
    )


def canceled_party_registration(
    ven_id: str, request_id: str, registration_id: str | None, code: int = 200
) -> etree._Element:
    """The VEN's answer to the VTN's oadrCancelPartyRegistration (``request_id``: its own)."""
    return message(
        "oadrCanceledPartyRegistration",
        ei_response(code, "OK" if code == 200 else "error", request_id),
        None if registration_id is None else el("ei:registrationID", registration_id),
        el("ei:venID", ven_id),
    )


def response(ven_id: str, code: int, description: str | None, request_id: str) -> etree._Element:
    """oadrResponse: the VEN's answer to a message it got (200, or its error)."""
    return message(
        "oadrResponse", ei_response(code, description, request_id), el("ei:venID", ven_id)
    )


# --- polls and events ---------------------------------------------------------------------


def poll(ven_id: str) -> etree._Element:
    return message("oadrPoll", el("ei:venID", ven_id))


def request_event(request_id: str, ven_id: str, reply_limit: int | None = None) -> etree._Element:
    return message(
        "oadrRequestEvent",
        el(
            "pyld:eiRequestEvent",
            el("pyld:requestID", request_id),
            el("ei:venID", ven_id),
            None if reply_limit is None else el("pyld:replyLimit", reply_limit),
        ),
    )


@dataclass(frozen=True)
class EventReply:
    """One eventResponse of an oadrCreatedEvent: the VEN's opt, or its error, for one event."""

    event_id: str
    modification_number: int
    opt_type: str = "optIn"
    code: int = 200
    description: str | None = "OK"


def created_event(
    ven_id: str, request_id: str, replies: Sequence[EventReply], *, code: int = 200
) -> etree._Element:
    """``request_id``: the requestID of the oadrDistributeEvent answered."""
    responses = [
        el(
            "ei:eventResponse",
            el("ei:responseCode", r.code),
            None if r.description is None else el("ei:responseDescription", r.description),
            el("pyld:requestID", request_id),
            el(
                "ei:qualifiedEventID",
                el("ei:eventID", r.event_id),
                el("ei:modificationNumber", r.modification_number),
            ),
            el("ei:optType", r.opt_type),
        )
        for r in replies
    ]
    return message(
        "oadrCreatedEvent",
        el(
            "pyld:eiCreatedEvent",
            ei_response(code, "OK" if code == 200 else "error", request_id),
            el("ei:eventResponses", *responses) if responses else None,
            el("ei:venID", ven_id),
        ),
    )


# --- reports ------------------------------------------------------------------------------


@dataclass(frozen=True)
class PowerReal:
    """emix itemBase power:powerReal (W with scale ``none``, kW with ``k``)."""

    units: str = "W"
    scale: str = "none"
    hertz: int = 50
    voltage: int = 230

    def element(self) -> etree._Element:
        return el(
            "power:powerReal",
            el("power:itemDescription", "RealPower"),
            el("power:itemUnits", self.units),
            el("scale:siScaleCode", self.scale),
            el(
                "power:powerAttributes",
                el("power:hertz", self.hertz),
                el("power:voltage", self.voltage),
                el("power:ac", True),
            ),
        )


@dataclass(frozen=True)
class EnergyReal:
    """emix itemBase power:energyReal (Wh with scale ``none``, kWh with ``k``)."""

    units: str = "Wh"
    scale: str = "none"

    def element(self) -> etree._Element:
        return el(
            "power:energyReal",
            el("power:itemDescription", "RealEnergy"),
            el("power:itemUnits", self.units),
            el("scale:siScaleCode", self.scale),
        )


@dataclass(frozen=True)
class OfferedPoint:
    """One data point (rID) of a METADATA report: what it measures, for whom, how often."""

    r_id: str
    resource_id: str | None  # None: the VEN itself (no reportSubject, no reportDataSource)
    min_period: timedelta
    max_period: timedelta
    measurement: PowerReal | EnergyReal | None = field(default_factory=PowerReal)
    report_type: str = "reading"
    reading_type: str = "Direct Read"
    on_change: bool = False

    def element(self) -> etree._Element:
        subject = None
        if self.resource_id is not None:
            subject = el("ei:reportSubject", el("ei:resourceID", self.resource_id))
        source = None
        if self.resource_id is not None:
            source = el("ei:reportDataSource", el("ei:resourceID", self.resource_id))
        return el(
            "oadr:oadrReportDescription",
            el("ei:rID", self.r_id),
            subject,
            source,
            el("ei:reportType", self.report_type),
            None if self.measurement is None else self.measurement.element(),
            el("ei:readingType", self.reading_type),
            el(
                "oadr:oadrSamplingRate",
                el("oadr:oadrMinPeriod", duration(self.min_period)),
                el("oadr:oadrMaxPeriod", duration(self.max_period)),
                el("oadr:oadrOnChange", self.on_change),
            ),
        )


@dataclass(frozen=True)
class OfferedReport:
    specifier_id: str
    points: Sequence[OfferedPoint]
    name: str = "METADATA_TELEMETRY_USAGE"
    duration: timedelta = timedelta(hours=1)


def register_report(
    request_id: str, ven_id: str, reports: Sequence[OfferedReport], created: datetime
) -> etree._Element:
    """A VEN's METADATA reports; their reportRequestID is 0 (not answering a request)."""
    return message(
        "oadrRegisterReport",
        el("pyld:requestID", request_id),
        *(
            el(
                "oadr:oadrReport",
                el("xcal:duration", el("xcal:duration", duration(r.duration))),
                *(p.element() for p in r.points),
                el("ei:reportRequestID", "0"),
                el("ei:reportSpecifierID", r.specifier_id),
                el("ei:reportName", r.name),
                el("ei:createdDateTime", date_time(created)),
            )
            for r in reports
        ),
        el("ei:venID", ven_id),
    )


def created_report(ven_id: str, request_id: str, pending: Sequence[str]) -> etree._Element:
    """``request_id``: that of the oadrCreateReport answered; ``pending``: the reportRequestIDs
    the VEN now serves."""
    return message(
        "oadrCreatedReport",
        ei_response(200, "OK", request_id),
        el("oadr:oadrPendingReports", *(el("ei:reportRequestID", p) for p in pending)),
        el("ei:venID", ven_id),
    )


@dataclass(frozen=True)
class Reading:
    r_id: str
    value: float
    at: datetime


def update_report(
    request_id: str,
    ven_id: str,
    *,
    report_request_id: str,
    specifier_id: str,
    readings: Sequence[Reading],
    created: datetime,
    name: str = "TELEMETRY_USAGE",
) -> etree._Element:
    start = min((r.at for r in readings), default=created)
    intervals = [
        el(
            "ei:interval",
            el("xcal:dtstart", el("xcal:date-time", date_time(r.at))),
            el(
                "oadr:oadrReportPayload",
                el("ei:rID", r.r_id),
                el("ei:payloadFloat", el("ei:value", repr(float(r.value)))),
            ),
        )
        for r in readings
    ]
    return message(
        "oadrUpdateReport",
        el("pyld:requestID", request_id),
        el(
            "oadr:oadrReport",
            el("xcal:dtstart", el("xcal:date-time", date_time(start))),
            el("strm:intervals", *intervals),
            el("ei:reportRequestID", report_request_id),
            el("ei:reportSpecifierID", specifier_id),
            el("ei:reportName", name),
            el("ei:createdDateTime", date_time(created)),
        ),
        el("ei:venID", ven_id),
    )


@dataclass(frozen=True)
class Status:
    """One TELEMETRY_STATUS value (oadrPayloadResourceStatus); None: left out."""

    r_id: str
    online: bool
    manual_override: bool
    at: datetime
    level_offset: float | None = None


def status_report(
    request_id: str,
    ven_id: str,
    *,
    report_request_id: str,
    specifier_id: str,
    statuses: Sequence[Status],
    created: datetime,
) -> etree._Element:
    """An oadrUpdateReport of TELEMETRY_STATUS: one interval per status."""
    intervals = []
    for s in statuses:
        control = None
        if s.level_offset is not None:
            control = el(
                "oadr:oadrLoadControlState",
                el("oadr:oadrLevelOffset", el("oadr:oadrCurrent", repr(s.level_offset))),
            )
        intervals.append(
            el(
                "ei:interval",
                el("xcal:dtstart", el("xcal:date-time", date_time(s.at))),
                el(
                    "oadr:oadrReportPayload",
                    el("ei:rID", s.r_id),
                    el(
                        "oadr:oadrPayloadResourceStatus",
                        el("oadr:oadrOnline", s.online),
                        el("oadr:oadrManualOverride", s.manual_override),
                        control,
                    ),
                ),
            )
        )
    return message(
        "oadrUpdateReport",
        el("pyld:requestID", request_id),
        el(
            "oadr:oadrReport",
            el("xcal:dtstart", el("xcal:date-time", date_time(created))),
            el("strm:intervals", *intervals),
            el("ei:reportRequestID", report_request_id),
            el("ei:reportSpecifierID", specifier_id),
            el("ei:reportName", "TELEMETRY_STATUS"),
            el("ei:createdDateTime", date_time(created)),
        ),
        el("ei:venID", ven_id),
    )


def create_report(
    request_id: str,
    ven_id: str,
    *,
    report_request_id: str,
    specifier_id: str = "METADATA",
    granularity: timedelta = timedelta(),
    report_back: timedelta = timedelta(),
    interval: tuple[datetime, timedelta] | None = None,
    r_ids: Sequence[str] = ("0",),
) -> etree._Element:
    """A VEN's request for a VTN report: by default its METADATA once (reportSpecifierID
    METADATA, granularity and reportBackDuration 0, as the profile's VRS cases send it)."""
    report_interval = None
    if interval is not None:
        report_interval = el(
            "ei:reportInterval",
            el(
                "xcal:properties",
                el("xcal:dtstart", el("xcal:date-time", date_time(interval[0]))),
                el("xcal:duration", el("xcal:duration", duration(interval[1]))),
            ),
        )
    return message(
        "oadrCreateReport",
        el("pyld:requestID", request_id),
        el(
            "oadr:oadrReportRequest",
            el("ei:reportRequestID", report_request_id),
            el(
                "ei:reportSpecifier",
                el("ei:reportSpecifierID", specifier_id),
                el("xcal:granularity", el("xcal:duration", duration(granularity))),
                el("ei:reportBackDuration", el("xcal:duration", duration(report_back))),
                report_interval,
                *(
                    el(
                        "ei:specifierPayload",
                        el("ei:rID", r),
                        el("ei:readingType", "x-notApplicable"),
                    )
                    for r in r_ids
                ),
            ),
        ),
        el("ei:venID", ven_id),
    )


def cancel_report(
    request_id: str, ven_id: str, report_request_ids: Sequence[str], report_to_follow: bool
) -> etree._Element:
    return message(
        "oadrCancelReport",
        el("pyld:requestID", request_id),
        *(el("ei:reportRequestID", r) for r in report_request_ids),
        el("pyld:reportToFollow", report_to_follow),
        el("ei:venID", ven_id),
    )


def canceled_report(ven_id: str, request_id: str, pending: Sequence[str]) -> etree._Element:
    return message(
        "oadrCanceledReport",
        ei_response(200, "OK", request_id),
        el("oadr:oadrPendingReports", *(el("ei:reportRequestID", p) for p in pending)),
        el("ei:venID", ven_id),
    )


# --- opts ---------------------------------------------------------------------------------


def create_opt(
    request_id: str,
    ven_id: str,
    *,
    opt_id: str,
    opt_type: str,
    created: datetime,
    event: tuple[str, int] | None = None,
    resource_ids: Sequence[str] = (),
    opt_reason: str = "participating",
    availability: Sequence[tuple[datetime, timedelta]] | None = None,
    market_context: str | None = None,
    target_ven_ids: Sequence[str] = (),
    device_class: str | None = None,
) -> etree._Element:
    """An opt for one event (``event`` = eventID, modificationNumber) and resources, or an
    opt schedule (``availability``: its spans, each a start and a duration); ``device_class``
    names an endDeviceAsset (oadrDeviceClass)."""
    qualified = None
    if event is not None:
        qualified = el(
            "ei:qualifiedEventID", el("ei:eventID", event[0]), el("ei:modificationNumber", event[1])
        )
    schedule = None
    if availability is not None:
        schedule = el(
            "xcal:vavailability",
            el(
                "xcal:components",
                *(
                    el(
                        "xcal:available",
                        el(
                            "xcal:properties",
                            el("xcal:dtstart", el("xcal:date-time", date_time(start))),
                            el("xcal:duration", el("xcal:duration", duration(length))),
                        ),
                    )
                    for start, length in availability
                ),
            ),
        )
    return message(
        "oadrCreateOpt",
        el("ei:optID", opt_id),
        el("ei:optType", opt_type),
        el("ei:optReason", opt_reason),
        None if market_context is None else el("emix:marketContext", market_context),
        el("ei:venID", ven_id),
        schedule,
        el("ei:createdDateTime", date_time(created)),
        el("pyld:requestID", request_id),
        qualified,
        el(
            "ei:eiTarget",
            *(el("ei:resourceID", r) for r in resource_ids),
            *(el("ei:venID", v) for v in target_ven_ids),
        ),
        None
        if device_class is None
        else el(
            "oadr:oadrDeviceClass",
            el("power:endDeviceAsset", el("power:mrid", device_class)),
        ),
    )


def cancel_opt(request_id: str, ven_id: str, opt_id: str) -> etree._Element:
    return message(
        "oadrCancelOpt",
        el("pyld:requestID", request_id),
        el("ei:optID", opt_id),
        el("ei:venID", ven_id),
    )
