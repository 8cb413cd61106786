"""2.0a XML in and out. In: a VEN's oadrRequestEvent, oadrCreatedEvent or oadrResponse,
checked against the 2.0a content model and read into the payload the 2.0b service takes (the
same keys openleadr's parser gives). Out: the oadrDistributeEvent and oadrResponse of the 2.0a
schema, written as text like the 2.0b distribute (``gateway.oadr20b.distribute_xml``).

2.0a carries less than 2.0b: only the SIMPLE signal (an event without one is not listed), no
itemBase or baseline, no modificationDateTime or modificationReason, intervals without a start
of their own; it requires a currentValue, an x-eiNotification and an eiTarget (empty if need
be). 2.0a messages are not signed and have no oadrPayload wrapper."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from lxml import etree

from gateway.oadr20a.schema import EI, MESSAGES, OADR_20A, PYLD, first_error
from gateway.oadr20b import event_parts as parts
from gateway.oadr20b.codec import MalformedXml
from gateway.oadr20b.distribute_xml import boolean_text, char_data, duration_text, time_text
from gateway.oadr20b.errors import OadrError, StatusCode

_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
_EMIX = "http://docs.oasis-open.org/ns/emix/2011/06"
_XCAL = "urn:ietf:params:xml:ns:icalendar-2.0"
_STRM = "urn:ietf:params:xml:ns:icalendar-2.0:stream"
_OADR_20B = "http://openadr.org/oadr-2.0b/2012/07"
_DECLARATIONS = (
    f'xmlns:oadr="{OADR_20A}" xmlns:ei="{EI}" xmlns:pyld="{PYLD}" xmlns:emix="{_EMIX}" '
    f'xmlns:xcal="{_XCAL}" xmlns:strm="{_STRM}"'
)
SIMPLE = "simple"


@dataclass(frozen=True)
class Incoming20a:
    message_type: str
    payload: dict[str, Any]


def decode(body: bytes) -> Incoming20a:
    """A 2.0a message the VTN takes, else ``MalformedXml`` (not XML: HTTP 400) or an
    ``OadrError`` naming the first thing wrong."""
    try:
        tree = etree.fromstring(body, _PARSER)
    except (etree.XMLSyntaxError, ValueError) as err:
        raise MalformedXml(f"not well-formed XML: {err}") from None
    qname = etree.QName(tree)
    message_type = qname.localname
    if tree.getroottree().docinfo.doctype:
        raise OadrError(StatusCode.INVALID_DATA, "a DOCTYPE is not allowed in an OpenADR payload",
                        message_type=message_type)  # fmt: skip
    if qname.namespace != OADR_20A:
        where = "2.0b is taken at the VTN's 2.0b path" if qname.namespace == _OADR_20B else ""
        raise OadrError(
            StatusCode.COMPLIANCE_ERROR,
            f"expected an OpenADR 2.0a message ({OADR_20A}){'; ' + where if where else ''}",
        )
    spec = MESSAGES.get(message_type)
    if spec is None:
        raise OadrError(StatusCode.COMPLIANCE_ERROR, f"2.0a {message_type} is not taken here",
                        message_type=message_type)  # fmt: skip
    error = first_error(tree, spec)
    if error is not None:
        raise OadrError(StatusCode.INVALID_DATA, f"schema validation failed: {error}"[:500],
                        message_type=message_type, request_id=_request_id(tree))  # fmt: skip
    return Incoming20a(message_type, _payload(message_type, tree))


def _request_id(tree: etree._Element) -> str | None:
    found = tree.findtext(f".//{{{PYLD}}}requestID")
    return found.strip() if found else None


def _text(node: etree._Element, path: str) -> str | None:
    found = node.findtext(path)
    return None if found is None else found.strip()


def _response(node: etree._Element | None) -> dict[str, Any] | None:
    if node is None:
        return None
    return {
        "response_code": int(_text(node, f"{{{EI}}}responseCode") or 0),
        "response_description": _text(node, f"{{{EI}}}responseDescription"),
        "request_id": _text(node, f"{{{PYLD}}}requestID"),
    }


def _payload(message_type: str, tree: etree._Element) -> dict[str, Any]:
    """What the 2.0b service reads of the message (openleadr's keys)."""
    if message_type == "oadrRequestEvent":
        inner = tree[0]
        limit = _text(inner, f"{{{PYLD}}}replyLimit")
        return {
            "request_id": _text(inner, f"{{{PYLD}}}requestID"),
            "ven_id": _text(inner, f"{{{EI}}}venID"),
            "reply_limit": None if limit is None else int(limit),
        }
    if message_type == "oadrCreatedEvent":
        inner = tree.find(f"{{{PYLD}}}eiCreatedEvent")
        assert inner is not None  # the content model requires it
        responses = []
        for node in inner.iterfind(f"{{{EI}}}eventResponses/{{{EI}}}eventResponse"):
            qualified = f"{{{EI}}}qualifiedEventID/{{{EI}}}"
            responses.append({
                **(_response(node) or {}),
                "event_id": _text(node, f"{qualified}eventID"),
                "modification_number": int(_text(node, f"{qualified}modificationNumber") or 0),
                "opt_type": _text(node, f"{{{EI}}}optType"),
            })  # fmt: skip
        return {
            "response": _response(inner.find(f"{{{EI}}}eiResponse")),
            "event_responses": responses,
            "ven_id": _text(inner, f"{{{EI}}}venID"),
        }
    return {"response": _response(tree.find(f"{{{EI}}}eiResponse"))}


# --- out ----------------------------------------------------------------------------------
def render_response(response: Mapping[str, Any]) -> str:
    """A 2.0a oadrResponse (it names no VEN: 2.0a's has no venID)."""
    out = [f"<oadr:oadrResponse {_DECLARATIONS}>"]
    _ei_response(out, response)
    out.append("</oadr:oadrResponse>")
    return "".join(out)


def render_distribute(
    response: Mapping[str, Any] | None, request_id: str, vtn_id: str, events: Iterable[parts.Event]
) -> str:
    """A 2.0a oadrDistributeEvent of ``events`` (those with a SIMPLE signal)."""
    out = [f"<oadr:oadrDistributeEvent {_DECLARATIONS}>"]
    if response is not None:
        _ei_response(out, response)
    out += ("<pyld:requestID>", char_data(request_id), "</pyld:requestID><ei:vtnID>",
            char_data(vtn_id), "</ei:vtnID>")  # fmt: skip
    for event in events:
        signals = [s for s in event.event_signals if s.signal_name.lower() == SIMPLE]
        if signals:
            _event(out, event, signals)
    out.append("</oadr:oadrDistributeEvent>")
    return "".join(out)


def listed(events: Iterable[parts.Event]) -> list[str]:
    """The eventIDs a 2.0a distribute of ``events`` lists."""
    return [
        e.event_descriptor.event_id
        for e in events
        if any(s.signal_name.lower() == SIMPLE for s in e.event_signals)
    ]


def _ei_response(out: list[str], response: Mapping[str, Any]) -> None:
    out += (
        "<ei:eiResponse><ei:responseCode>", char_data(response.get("response_code")),
        "</ei:responseCode><ei:responseDescription>",
        char_data(response.get("response_description")), "</ei:responseDescription>",
        "<pyld:requestID>", char_data(response.get("request_id")), "</pyld:requestID>",
        "</ei:eiResponse>",
    )  # fmt: skip


def _duration(value: timedelta | None) -> str:
    return "PT0S" if not value else duration_text(value)


def _event(out: list[str], event: parts.Event, signals: list[parts.EventSignal]) -> None:
    descriptor, period = event.event_descriptor, event.active_period
    out += (
        "<oadr:oadrEvent><ei:eiEvent><ei:eventDescriptor><ei:eventID>",
        char_data(descriptor.event_id), "</ei:eventID><ei:modificationNumber>",
        char_data(descriptor.modification_number), "</ei:modificationNumber>",
    )  # fmt: skip
    if descriptor.priority is not None:
        out += ("<ei:priority>", char_data(descriptor.priority), "</ei:priority>")
    out += (
        "<ei:eiMarketContext><emix:marketContext>", char_data(descriptor.market_context),
        "</emix:marketContext></ei:eiMarketContext><ei:createdDateTime>",
        time_text(descriptor.created_date_time), "</ei:createdDateTime><ei:eventStatus>",
        char_data(descriptor.event_status), "</ei:eventStatus>",
    )  # fmt: skip
    if descriptor.test_event is not None:
        out += ("<ei:testEvent>", boolean_text(descriptor.test_event), "</ei:testEvent>")
    if descriptor.vtn_comment is not None:
        out += ("<ei:vtnComment>", char_data(descriptor.vtn_comment), "</ei:vtnComment>")
    out += (
        "</ei:eventDescriptor><ei:eiActivePeriod><xcal:properties><xcal:dtstart><xcal:date-time>",
        time_text(period.dtstart), "</xcal:date-time></xcal:dtstart><xcal:duration>"
        "<xcal:duration>", _duration(period.duration), "</xcal:duration></xcal:duration>",
    )  # fmt: skip
    startafter = (period.tolerance or {}).get("startafter")
    if startafter:
        out += ("<xcal:tolerance><xcal:tolerate><xcal:startafter>", _duration(startafter),
                "</xcal:startafter></xcal:tolerate></xcal:tolerance>")  # fmt: skip
    out += ("<ei:x-eiNotification><xcal:duration>", _duration(period.notification_period),
            "</xcal:duration></ei:x-eiNotification>")  # fmt: skip
    for span, tag in ((period.ramp_up_period, "x-eiRampUp"),
                      (period.recovery_period, "x-eiRecovery")):  # fmt: skip
        if span:
            out += (f"<ei:{tag}><xcal:duration>", _duration(span), f"</xcal:duration></ei:{tag}>")
    out.append("</xcal:properties><xcal:components/></ei:eiActivePeriod><ei:eiEventSignals>")
    for signal in signals:
        _signal(out, signal)
    out.append("</ei:eiEventSignals><ei:eiTarget>")
    _targets(out, event.targets or ())
    out += ("</ei:eiTarget></ei:eiEvent><oadr:oadrResponseRequired>",
            char_data(event.response_required or "always"),
            "</oadr:oadrResponseRequired></oadr:oadrEvent>")  # fmt: skip


def _signal(out: list[str], signal: parts.EventSignal) -> None:
    out.append("<ei:eiEventSignal><strm:intervals>")
    for uid, interval in enumerate(signal.intervals):
        out += (
            "<ei:interval><xcal:duration><xcal:duration>", _duration(interval.duration),
            f"</xcal:duration></xcal:duration><xcal:uid><xcal:text>{uid}</xcal:text></xcal:uid>"
            "<ei:signalPayload><ei:payloadFloat><ei:value>", char_data(interval.signal_payload),
            "</ei:value></ei:payloadFloat></ei:signalPayload></ei:interval>",
        )  # fmt: skip
    # The SIMPLE level now: 0 before the event is active, as in 2.0b.
    current = 0.0 if signal.current_value is None else signal.current_value
    out += (
        "</strm:intervals><ei:signalName>simple</ei:signalName><ei:signalType>",
        char_data(signal.signal_type), "</ei:signalType><ei:signalID>",
        char_data(signal.signal_id), "</ei:signalID><ei:currentValue><ei:payloadFloat>"
        "<ei:value>", char_data(current), "</ei:value></ei:payloadFloat></ei:currentValue>"
        "</ei:eiEventSignal>",
    )  # fmt: skip


def _targets(out: list[str], targets: Iterable[parts.Target]) -> None:
    """The 2.0a eiTarget's groupIDs, resourceIDs, venIDs and partyIDs, in the schema's order."""
    listed_targets = list(targets)
    for field, tag in (("group_id", "groupID"), ("resource_id", "resourceID"),
                       ("ven_id", "venID"), ("party_id", "partyID")):  # fmt: skip
        for target in listed_targets:
            value = getattr(target, field)
            if value:
                out += (f"<ei:{tag}>", char_data(value), f"</ei:{tag}>")
