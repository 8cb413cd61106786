"""The oadrDistributeEvent's signed object, written directly as text.

It says what openleadr's oadrDistributeEvent template says, element for element and with the
same namespace declarations, plus each event's eiEventBaseline, which the templates lack. A
push to 1,000 VENs renders 1,000 distributes, and the template with openleadr's preflight (a
deep copy of every event) and the whitespace flattening was most of a push's CPU. What the
preflight checked is checked where events are made (``gateway.domain.signals.check_terms``:
intervals cover the event, SIMPLE levels 0-3); its rule 14, which zeroed the SIMPLE
currentValue of active events, is not repeated. Text is escaped as XML character data: IDs,
names and comments can come from a VEN or an operator.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any
from xml.sax.saxutils import escape

from openleadr import enums, utils

from gateway.oadr20b import event_parts as parts
from gateway.oadr20b.baselines import EventBaseline

_OADR = "http://openadr.org/oadr-2.0b/2012/07"
_EI = "http://docs.oasis-open.org/ns/energyinterop/201110"
_PYLD = "http://docs.oasis-open.org/ns/energyinterop/201110/payloads"
_EMIX = "http://docs.oasis-open.org/ns/emix/2011/06"
_XCAL = "urn:ietf:params:xml:ns:icalendar-2.0"
_STRM = "urn:ietf:params:xml:ns:icalendar-2.0:stream"
_SCALE = "http://docs.oasis-open.org/ns/emix/2011/06/siscale"
_POWER = "http://docs.oasis-open.org/ns/emix/2011/06/power"

_HEAD = (
    f'<oadr:oadrSignedObject xmlns:oadr="{_OADR}" oadr:Id="oadrSignedObject">'
    f'<oadr:oadrDistributeEvent ei:schemaVersion="2.0b" xmlns:ei="{_EI}">'
)
_TAIL = "</oadr:oadrDistributeEvent></oadr:oadrSignedObject>"
_REQUEST_ID = f'<requestID xmlns="{_PYLD}">'
_RESPONSE_REQUIRED = ("never", "always")
# Each itemBase's schema prefix: openleadr's table, whose currencyPerKW is misspelt
# (currencyPerWK).
_NAMESPACES = {**enums._MEASUREMENT_NAMESPACES, "currencyPerKW": "oadr"}
_PERIODS = (
    ("notification_period", "x-eiNotification"),
    ("ramp_up_period", "x-eiRampUp"),
    ("recovery_period", "x-eiRecovery"),
)


# Where an EventOut's modificationDateTime goes, written at each send. Never in character data
# ("<" is escaped there), so it can only be this.
_SENT_AT = "<oadr-gateway:sent-at/>"


@dataclass(slots=True)
class EventOut:
    """An oadrEvent to send: its parts and baseline, and its text once written (kept with
    it: the same event goes out unchanged in every distribute until it changes). Its
    modificationDateTime is the distribute's ``sent_at``."""

    event: parts.Event
    baseline: EventBaseline | None
    text: tuple[str, str] | None = None  # before and after its modificationDateTime

    def written(self) -> tuple[str, str]:
        if self.text is None:
            out: list[str] = []
            baselines = {} if self.baseline is None else {self.event_id: self.baseline}
            _event(out, self.event, baselines, sent_at_here=True)
            before, _, after = "".join(out).partition(_SENT_AT)
            self.text = (before, after)
        return self.text

    @property
    def event_id(self) -> str:
        return self.event.event_descriptor.event_id


def _get(value: Any, name: str) -> Any:
    """A field of an openleadr object or of its dict form (both reach the encoder)."""
    return value.get(name) if isinstance(value, dict) else getattr(value, name, None)


def char_data(value: object) -> str:
    """Character data: None is empty (the schema takes an empty ID), the rest as ``str``."""
    return "" if value is None else escape(str(value))


@lru_cache(maxsize=4096)  # the same starts and creation times go to every VEN
def time_text(value: datetime) -> str:
    return str(utils.datetimeformat(value))


def duration_text(value: timedelta) -> str:
    return str(utils.timedeltaformat(value))


def boolean_text(value: object) -> str:
    return str(utils.booleanformat(value))


def render_distribute(payload: Mapping[str, Any], baselines: Mapping[str, EventBaseline]) -> str:
    """The oadrSignedObject of an oadrDistributeEvent: ``response`` (optional),
    ``request_id``, ``vtn_id`` and ``events`` (``EventOut``s, whose modificationDateTime is
    ``sent_at``; or openleadr Events, each with its baseline in ``baselines``)."""
    out = [_HEAD]
    response = payload.get("response")
    if response is not None:
        out += (
            "<ei:eiResponse><ei:responseCode>", char_data(_get(response, "response_code")),
            "</ei:responseCode><ei:responseDescription>",
            char_data(_get(response, "response_description")), "</ei:responseDescription>",
            _REQUEST_ID, char_data(_get(response, "request_id")), "</requestID></ei:eiResponse>",
        )  # fmt: skip
    out += (
        _REQUEST_ID, char_data(payload.get("request_id")), "</requestID><ei:vtnID>",
        char_data(payload.get("vtn_id")), "</ei:vtnID>",
    )  # fmt: skip
    sent_at = payload.get("sent_at")
    sent = "" if sent_at is None else (
        f"<ei:modificationDateTime>{time_text(sent_at)}</ei:modificationDateTime>"
    )  # fmt: skip
    for event in payload.get("events") or ():
        if isinstance(event, EventOut):
            before, after = event.written()
            out += (before, sent, after)
        else:
            _event(out, event, baselines)
    out.append(_TAIL)
    return "".join(out)


def _event(
    out: list[str], event: Any, baselines: Mapping[str, EventBaseline], *,
    sent_at_here: bool = False,
) -> None:  # fmt: skip
    descriptor = _get(event, "event_descriptor")
    out.append("<oadr:oadrEvent><ei:eiEvent>")
    _descriptor(out, descriptor, sent_at_here)
    _active_period(out, _get(event, "active_period"))
    out.append("<ei:eiEventSignals>")
    for signal in _get(event, "event_signals") or ():
        _signal(out, signal)
    baseline = baselines.get(str(_get(descriptor, "event_id")))
    if baseline is not None:
        _baseline(out, baseline)
    out.append("</ei:eiEventSignals>")
    targets = _get(event, "targets")
    if targets is not None:
        _targets(out, targets)
    required = _get(event, "response_required")
    if required not in _RESPONSE_REQUIRED:
        required = "always"  # as openleadr's preflight defaults it
    out += ("</ei:eiEvent><oadr:oadrResponseRequired>", required,
            "</oadr:oadrResponseRequired></oadr:oadrEvent>")  # fmt: skip


def _descriptor(out: list[str], descriptor: Any, sent_at_here: bool) -> None:
    out += (
        "<ei:eventDescriptor><ei:eventID>", char_data(_get(descriptor, "event_id")),
        "</ei:eventID><ei:modificationNumber>",
        char_data(_get(descriptor, "modification_number")), "</ei:modificationNumber>",
    )  # fmt: skip
    modified = _get(descriptor, "modification_date_time")
    if sent_at_here:
        out.append(_SENT_AT)
    elif modified is not None:
        out += ("<ei:modificationDateTime>", time_text(modified), "</ei:modificationDateTime>")
    reason = _get(descriptor, "modification_reason")
    if reason is not None:
        out += ("<ei:modificationReason>", char_data(reason), "</ei:modificationReason>")
    priority = _get(descriptor, "priority")
    if priority is not None:
        out += ("<ei:priority>", char_data(priority), "</ei:priority>")
    out += (
        f'<ei:eiMarketContext><marketContext xmlns="{_EMIX}">',
        char_data(_get(descriptor, "market_context")),
        "</marketContext></ei:eiMarketContext><ei:createdDateTime>",
        time_text(_get(descriptor, "created_date_time")), "</ei:createdDateTime><ei:eventStatus>",
        char_data(_get(descriptor, "event_status")), "</ei:eventStatus>",
    )  # fmt: skip
    test = _get(descriptor, "test_event")
    if test is not None:
        out += ("<ei:testEvent>", boolean_text(test), "</ei:testEvent>")
    comment = _get(descriptor, "vtn_comment")
    if comment is not None:
        out += ("<ei:vtnComment>", char_data(comment), "</ei:vtnComment>")
    out.append("</ei:eventDescriptor>")


def _active_period(out: list[str], period: Any) -> None:
    out += (
        f'<ei:eiActivePeriod><properties xmlns="{_XCAL}"><dtstart><date-time>',
        time_text(_get(period, "dtstart")), "</date-time></dtstart><duration><duration>",
        duration_text(_get(period, "duration")), "</duration></duration>",
    )  # fmt: skip
    tolerance = _get(period, "tolerance")
    if tolerance:
        out += ("<tolerance><tolerate><startafter>", duration_text(_get(tolerance, "startafter")),
                "</startafter></tolerate></tolerance>")  # fmt: skip
    for field, tag in _PERIODS:
        span = _get(period, field)
        if span:
            out += (f"<ei:{tag}><duration>", duration_text(span), f"</duration></ei:{tag}>")
    out.append(f'</properties><components xmlns="{_XCAL}"/></ei:eiActivePeriod>')


def _signal(out: list[str], signal: Any) -> None:
    out.append(f'<ei:eiEventSignal><strm:intervals xmlns:strm="{_STRM}" xmlns:xcal="{_XCAL}">')
    for uid, interval in enumerate(_get(signal, "intervals") or ()):
        out.append("<ei:interval>")
        start = _get(interval, "dtstart")
        if start is not None:
            out += ("<xcal:dtstart><xcal:date-time>", time_text(start),
                    "</xcal:date-time></xcal:dtstart>")  # fmt: skip
        duration = _get(interval, "duration")
        if duration is not None:
            out += ("<xcal:duration><xcal:duration>", duration_text(duration),
                    "</xcal:duration></xcal:duration>")  # fmt: skip
        out += (
            f'<uid xmlns="{_XCAL}"><text>{uid}</text></uid>',
            "<ei:signalPayload><ei:payloadFloat><ei:value>",
            char_data(_get(interval, "signal_payload")),
            "</ei:value></ei:payloadFloat></ei:signalPayload></ei:interval>",
        )
    out += (
        "</strm:intervals><ei:signalName>", char_data(_get(signal, "signal_name")),
        "</ei:signalName><ei:signalType>", char_data(_get(signal, "signal_type")),
        "</ei:signalType><ei:signalID>", char_data(_get(signal, "signal_id")), "</ei:signalID>",
    )  # fmt: skip
    measurement = _get(signal, "measurement")
    if measurement is not None:
        _measurement(out, measurement)
    current = _get(signal, "current_value")
    if current is not None:
        out += ("<ei:currentValue><ei:payloadFloat><ei:value>", char_data(current),
                "</ei:value></ei:payloadFloat></ei:currentValue>")  # fmt: skip
    out.append("</ei:eiEventSignal>")


def _measurement(out: list[str], measurement: Any) -> None:
    """The signal's itemBase, its element and prefix as the 2.0b schema names them."""
    name = _get(measurement, "name")
    ns = _NAMESPACES.get(name)
    if ns is None:
        raise ValueError(f"the measurement name {name!r} is unknown")
    tag = f"{ns}:{name}"
    out += (
        f'<{tag} xmlns:scale="{_SCALE}" xmlns:power="{_POWER}"><{ns}:itemDescription>',
        char_data(_get(measurement, "description")), f"</{ns}:itemDescription><{ns}:itemUnits>",
        char_data(_get(measurement, "unit")), f"</{ns}:itemUnits>",
    )  # fmt: skip
    pulse_factor = _get(measurement, "pulse_factor")
    if pulse_factor:
        out += ("<oadr:pulseFactor>", char_data(pulse_factor), "</oadr:pulseFactor>")
    else:
        scale = char_data(_get(measurement, "scale"))
        out += ("<scale:siScaleCode>", scale, "</scale:siScaleCode>")
    power = _get(measurement, "power_attributes")
    if power:
        out += (
            "<power:powerAttributes><power:hertz>", char_data(_get(power, "hertz")),
            "</power:hertz><power:voltage>", char_data(_get(power, "voltage")),
            "</power:voltage><power:ac>", boolean_text(_get(power, "ac")),
            "</power:ac></power:powerAttributes>",
        )  # fmt: skip
    out.append(f"</{tag}>")


def _targets(out: list[str], targets: Any) -> None:
    """eiTarget: every groupID, then every groupName, resourceID, venID, partyID (the
    schema's order, whatever order the targets come in)."""
    out.append("<ei:eiTarget>")
    for field, tag in (("group_id", "groupID"), ("group_name", "groupName"),
                       ("resource_id", "resourceID"), ("ven_id", "venID"),
                       ("party_id", "partyID")):  # fmt: skip
        for target in targets:
            value = _get(target, field)
            if value:
                out += (f"<ei:{tag}>", char_data(value), f"</ei:{tag}>")
    out.append("</ei:eiTarget>")


def _baseline(out: list[str], found: EventBaseline) -> None:
    """eiEventBaseline: dtstart, duration, intervals as the signals have them (a duration,
    uid 0, 1, ... and one payloadFloat), baselineID, resourceIDs, name."""
    baseline = found.baseline
    total = sum((i.duration for i in baseline.intervals), timedelta())
    out += (
        f'<ei:eiEventBaseline xmlns:xcal="{_XCAL}" xmlns:strm="{_STRM}">'
        "<xcal:dtstart><xcal:date-time>", time_text(baseline.start),
        "</xcal:date-time></xcal:dtstart><xcal:duration><xcal:duration>", duration_text(total),
        "</xcal:duration></xcal:duration><strm:intervals>",
    )  # fmt: skip
    for uid, interval in enumerate(baseline.intervals):
        out += (
            "<ei:interval><xcal:duration><xcal:duration>", duration_text(interval.duration),
            f"</xcal:duration></xcal:duration><xcal:uid><xcal:text>{uid}</xcal:text></xcal:uid>"
            "<ei:signalPayload><ei:payloadFloat><ei:value>", repr(float(interval.value)),
            "</ei:value></ei:payloadFloat></ei:signalPayload></ei:interval>",
        )  # fmt: skip
    out += ("</strm:intervals><ei:baselineID>", char_data(found.baseline_id), "</ei:baselineID>")
    for resource_id in found.resource_ids:
        out += ("<ei:resourceID>", char_data(resource_id), "</ei:resourceID>")
    name = char_data(baseline.name)
    out += ("<ei:baselineName>", name, "</ei:baselineName></ei:eiEventBaseline>")
