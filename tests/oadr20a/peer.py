"""``Ven20a``: an OpenADR 2.0a VEN (the A profile, pull) written from the 2.0a schema with lxml,
sharing no code with the gateway. Every answer must be HTTP 200 and match the 2.0a schema's
content model for the VTN's messages (``answer_problems``: each element's children in the
schema's order, in the schema's namespaces, and its values of the schema's types) and the A
profile's rules (the signal is named ``simple``)."""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

import aiohttp
from lxml import etree

OADR_20A = "http://openadr.org/oadr-2.0a/2012/07"
OADR_20B = "http://openadr.org/oadr-2.0b/2012/07"
EI = "http://docs.oasis-open.org/ns/energyinterop/201110"
PYLD = "http://docs.oasis-open.org/ns/energyinterop/201110/payloads"
EMIX = "http://docs.oasis-open.org/ns/emix/2011/06"
XCAL = "urn:ietf:params:xml:ns:icalendar-2.0"
STRM = "urn:ietf:params:xml:ns:icalendar-2.0:stream"

# Each element's children, as a pattern over their local names (each followed by a space).
CHILDREN = {
    "oadrDistributeEvent": r"(eiResponse )?requestID vtnID (oadrEvent )*",
    "oadrResponse": r"eiResponse ",
    "eiResponse": r"responseCode (responseDescription )?requestID ",
    "oadrEvent": r"eiEvent oadrResponseRequired ",
    "eiEvent": r"eventDescriptor eiActivePeriod eiEventSignals eiTarget ",
    "eventDescriptor": r"eventID modificationNumber (priority )?eiMarketContext createdDateTime "
    r"eventStatus (testEvent )?(vtnComment )?",
    "eiMarketContext": r"marketContext ",
    "eiActivePeriod": r"properties components ",
    "properties": r"dtstart duration (tolerance )?x-eiNotification (x-eiRampUp )?(x-eiRecovery )?",
    "dtstart": r"date-time ",
    "tolerance": r"tolerate ",
    "tolerate": r"(startafter )?",
    "x-eiNotification": r"duration ",
    "x-eiRampUp": r"duration ",
    "x-eiRecovery": r"duration ",
    "eiEventSignals": r"(eiEventSignal )+",
    "eiEventSignal": r"intervals signalName signalType signalID currentValue ",
    "intervals": r"(interval )+",
    "interval": r"duration uid signalPayload ",
    "uid": r"text ",
    "signalPayload": r"payloadFloat ",
    "currentValue": r"payloadFloat ",
    "payloadFloat": r"value ",
    "eiTarget": r"(groupID )*(resourceID )*(venID )*(partyID )*",
    "components": r"",
}
NAMESPACE_OF = {
    **dict.fromkeys(
        ("oadrDistributeEvent", "oadrResponse", "oadrEvent", "oadrResponseRequired"), OADR_20A
    ),
    "requestID": PYLD,
    "marketContext": EMIX,
    "intervals": STRM,
    **dict.fromkeys(
        (
            "properties",
            "components",
            "dtstart",
            "date-time",
            "duration",
            "tolerance",
            "tolerate",
            "startafter",
            "uid",
            "text",
        ),
        XCAL,
    ),
}
_DURATION = r"(\+|\-)?P((\d+Y)?(\d+M)?(\d+D)?T?(\d+H)?(\d+M)?(\d+S)?)|(\d+W)"
VALUES = {
    "responseCode": r"[0-9]{3}",
    "modificationNumber": r"[0-9]+",
    "priority": r"[0-9]+",
    "date-time": r"(\-|\+)?\d{4}\-\d{2}\-\d{2}T\d{2}:\d{2}:\d{2}(\.\d*)?Z?",
    "createdDateTime": r"(\-|\+)?\d{4}\-\d{2}\-\d{2}T\d{2}:\d{2}:\d{2}(\.\d*)?Z?",
    "duration": _DURATION,
    "startafter": _DURATION,
    "eventStatus": r"none|far|near|active|completed|cancelled",
    "signalType": r"delta|level|multiplier|price|priceMultiplier|priceRelative|product|setpoint",
    "value": r"[-+]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][-+]?[0-9]+)?",
    "oadrResponseRequired": r"always|never",
    "signalName": r"simple",  # the A profile: the SIMPLE signal only
    "marketContext": r"\S+",
}


def answer_problems(node: etree._Element) -> list[str]:
    """Where ``node`` departs from the 2.0a content model of the VTN's answers."""
    qname = etree.QName(node)
    local = qname.localname
    problems = []
    if qname.namespace != NAMESPACE_OF.get(local, EI):
        problems.append(f"{local} is in {qname.namespace}")
    children = [c for c in node if isinstance(c.tag, str)]
    pattern = CHILDREN.get(local)
    if local == "duration" and children:
        pattern = r"duration "  # the DurationPropType around a duration value
    if pattern is None:
        if children:
            problems.append(f"{local} has children")
        value = VALUES.get(local)
        if value is not None and not re.fullmatch(value, (node.text or "").strip()):
            problems.append(f"{local}: {node.text!r}")
        return problems
    names = "".join(f"{etree.QName(c).localname} " for c in children)
    if not re.fullmatch(pattern, names):
        problems.append(f"{local} holds {names.strip()!r}")
    for child in children:
        problems += answer_problems(child)
    return problems


@dataclass
class Reply:
    status: int
    root: etree._Element | None
    text: str

    @property
    def code(self) -> int:
        assert self.root is not None, self.text
        return int(self.root.findtext(f"{{{EI}}}eiResponse/{{{EI}}}responseCode") or 0)

    @property
    def description(self) -> str:
        assert self.root is not None, self.text
        return self.root.findtext(f"{{{EI}}}eiResponse/{{{EI}}}responseDescription") or ""

    def events(self) -> list[etree._Element]:
        assert self.root is not None
        return list(self.root.iterfind(f"{{{OADR_20A}}}oadrEvent/{{{EI}}}eiEvent"))

    def event_ids(self) -> list[str]:
        return [e.findtext(f"{{{EI}}}eventDescriptor/{{{EI}}}eventID") or "" for e in self.events()]


def _el(tag: str, parent: etree._Element | None = None, text: str | None = None) -> etree._Element:
    nsmap = {"oadr": OADR_20A, "ei": EI, "pyld": PYLD}
    node = etree.Element(tag, nsmap=nsmap) if parent is None else etree.SubElement(parent, tag)
    if text is not None:
        node.text = text
    return node


class Ven20a:
    def __init__(self, session: aiohttp.ClientSession, url: str, ven_id: str) -> None:
        self.session = session
        self.url = url  # the VTN's 2.0a EiEvent
        self.ven_id = ven_id
        self._ids = itertools.count(1)

    async def post(self, body: bytes, content_type: str = "application/xml") -> Reply:
        """Any body; the answer parsed when it is XML."""
        async with self.session.post(
            self.url, data=body, headers={"Content-Type": content_type}
        ) as resp:
            text = await resp.text()
        root = None
        if resp.status == 200 and text.strip():
            root = etree.fromstring(text.encode())
        return Reply(resp.status, root, text)

    async def exchange(self, request: etree._Element, answered_with: str) -> Reply:
        """``request`` sent; the answer must be a schema-valid 2.0a ``answered_with``."""
        reply = await self.post(etree.tostring(request))
        assert reply.status == 200, (reply.status, reply.text)
        assert reply.root is not None, "an empty answer"
        assert etree.QName(reply.root) == etree.QName(OADR_20A, answered_with), reply.text
        problems = answer_problems(reply.root)
        assert not problems, (problems, reply.text)
        return reply

    def request_event_xml(
        self, reply_limit: int | None = None, ven_id: str | None = None
    ) -> etree._Element:
        root = _el(f"{{{OADR_20A}}}oadrRequestEvent")
        inner = _el(f"{{{PYLD}}}eiRequestEvent", root)
        _el(f"{{{PYLD}}}requestID", inner, f"req-{next(self._ids)}")
        _el(f"{{{EI}}}venID", inner, self.ven_id if ven_id is None else ven_id)
        if reply_limit is not None:
            _el(f"{{{PYLD}}}replyLimit", inner, str(reply_limit))
        return root

    async def request_event(self, reply_limit: int | None = None) -> Reply:
        return await self.exchange(self.request_event_xml(reply_limit), "oadrDistributeEvent")

    def created_event_xml(
        self, answers: list[tuple[str, int, str]], code: int = 200, request_id: str = ""
    ) -> etree._Element:
        """(eventID, modificationNumber, optIn|optOut) for each event answered."""
        root = _el(f"{{{OADR_20A}}}oadrCreatedEvent")
        inner = _el(f"{{{PYLD}}}eiCreatedEvent", root)
        response = _el(f"{{{EI}}}eiResponse", inner)
        _el(f"{{{EI}}}responseCode", response, "200")
        _el(f"{{{PYLD}}}requestID", response, request_id)
        responses = _el(f"{{{EI}}}eventResponses", inner)
        for event_id, modification, opt in answers:
            answer = _el(f"{{{EI}}}eventResponse", responses)
            _el(f"{{{EI}}}responseCode", answer, str(code))
            _el(f"{{{PYLD}}}requestID", answer, request_id)
            qualified = _el(f"{{{EI}}}qualifiedEventID", answer)
            _el(f"{{{EI}}}eventID", qualified, event_id)
            _el(f"{{{EI}}}modificationNumber", qualified, str(modification))
            _el(f"{{{EI}}}optType", answer, opt)
        _el(f"{{{EI}}}venID", inner, self.ven_id)
        return root

    async def created_event(self, answers: list[tuple[str, int, str]], code: int = 200) -> Reply:
        return await self.exchange(self.created_event_xml(answers, code), "oadrResponse")
