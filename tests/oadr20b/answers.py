"""Reading what the VTN sent: the message, its eiResponse, its events and report requests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from lxml import etree

from tests.oadr20b.messages import body_of
from tests.oadr20b.namespaces import (
    find,
    findall,
    local_name,
    parse_date_time,
    parse_duration,
    qname,
    text,
)


@dataclass(frozen=True)
class Interval:
    uid: str | None
    duration: timedelta | None
    values: tuple[float, ...]  # every payloadFloat in the interval (the profile wants one)
    has_dtstart: bool


@dataclass(frozen=True)
class Signal:
    name: str
    signal_type: str
    signal_id: str
    intervals: tuple[Interval, ...]
    current_value: float | None
    # The itemBase: its element's local name, itemDescription and itemUnits; None without.
    item_base: tuple[str, str, str] | None = None

    def value_at(self, start: datetime, at: datetime) -> float | None:
        """The payload of the interval in force at ``at`` (intervals follow each other from
        the active period's ``start``)."""
        begin = start
        for interval in self.intervals:
            end = begin + (interval.duration or timedelta())
            if begin <= at < end:
                return interval.values[0] if interval.values else None
            begin = end
        return None


@dataclass(frozen=True)
class Target:
    ven_ids: tuple[str, ...]
    resource_ids: tuple[str, ...]


@dataclass(frozen=True)
class Event:
    event_id: str
    modification_number: int
    status: str
    priority: int | None
    market_context: str | None
    created: datetime | None
    test_event: str | None
    start: datetime
    duration: timedelta
    response_required: str | None
    signals: tuple[Signal, ...]
    targets: tuple[Target, ...]

    @property
    def end(self) -> datetime:
        return self.start + self.duration

    def signal(self, name: str) -> Signal:
        [found] = [s for s in self.signals if s.name == name]
        return found

    def terms(self) -> tuple[object, ...]:
        """What a change of must come with a new modificationNumber (not the status, nor a
        currentValue, which follows the clock)."""
        return (
            self.start, self.duration, self.targets,
            tuple((s.name, s.signal_type, s.signal_id, s.intervals) for s in self.signals),
        )  # fmt: skip


@dataclass(frozen=True)
class SpecifierPayload:
    r_id: str
    has_item_base: bool
    reading_type: str | None


@dataclass(frozen=True)
class ReportRequest:
    report_request_id: str
    specifier_id: str
    granularity: timedelta
    report_back_duration: timedelta | None
    report_interval: tuple[datetime, timedelta] | None
    payloads: tuple[SpecifierPayload, ...]

    @property
    def r_ids(self) -> list[str]:
        return [p.r_id for p in self.payloads]


@dataclass(frozen=True)
class Answer:
    """One VTN answer: an oadrPayload, or nothing (an empty HTTP 200)."""

    body: bytes
    tree: etree._Element | None

    @property
    def empty(self) -> bool:
        return self.tree is None

    @property
    def message(self) -> etree._Element:
        assert self.tree is not None, "the VTN answered with an empty body"
        return body_of(self.tree)

    @property
    def message_type(self) -> str | None:
        return None if self.tree is None else local_name(self.message)

    @property
    def signed(self) -> bool:
        return self.tree is not None and self.tree.find(qname("ds:Signature")) is not None

    def _response(self) -> etree._Element | None:
        if self.tree is None:
            return None
        return self.message.find(f".//{qname('ei:eiResponse')}")

    @property
    def code(self) -> int | None:
        response = self._response()
        value = None if response is None else text(response, "ei:responseCode")
        return None if value is None else int(value)

    @property
    def description(self) -> str | None:
        response = self._response()
        return None if response is None else text(response, "ei:responseDescription")

    @property
    def request_id(self) -> str | None:
        """The eiResponse's requestID (what it echoes); None without an eiResponse."""
        response = self._response()
        return None if response is None else (text(response, "pyld:requestID") or "")

    @property
    def own_request_id(self) -> str | None:
        """The requestID of the VTN's own request (oadrDistributeEvent, oadrCreateReport):
        a pyld:requestID that is a direct child of the message."""
        return text(self.message, "pyld:requestID")

    def field(self, path: str) -> str | None:
        return text(self.message, path)

    @property
    def events(self) -> list[Event]:
        return [_event(e) for e in findall(self.message, "oadr:oadrEvent")]

    def event(self, event_id: str) -> Event:
        [found] = [e for e in self.events if e.event_id == event_id]
        return found

    @property
    def report_requests(self) -> list[ReportRequest]:
        return [_report_request(r) for r in findall(self.message, "oadr:oadrReportRequest")]


def _interval(start: str | None, length: str | None) -> tuple[datetime, timedelta] | None:
    if start is None or length is None:
        return None
    return parse_date_time(start), parse_duration(length)


# A specifierPayload holds its rID, readingType and, when there is one, an itemBase.
_SPECIFIER_OWN = frozenset({qname("ei:rID"), qname("ei:readingType")})


def _number(value: str | None) -> float | None:
    return None if value is None else float(value)


def _event(wrapper: etree._Element) -> Event:
    node = find(wrapper, "ei:eiEvent")
    assert node is not None
    descriptor = find(node, "ei:eventDescriptor")
    period = find(node, "ei:eiActivePeriod/xcal:properties")
    assert descriptor is not None
    assert period is not None
    start = text(period, "xcal:dtstart/xcal:date-time")
    length = text(period, "xcal:duration/xcal:duration")
    assert start is not None
    assert length is not None
    priority = text(descriptor, "ei:priority")
    created = text(descriptor, "ei:createdDateTime")
    return Event(
        event_id=text(descriptor, "ei:eventID") or "",
        modification_number=int(text(descriptor, "ei:modificationNumber") or "-1"),
        status=text(descriptor, "ei:eventStatus") or "",
        priority=None if priority is None else int(priority),
        market_context=text(descriptor, "ei:eiMarketContext/emix:marketContext"),
        created=None if created is None else parse_date_time(created),
        test_event=text(descriptor, "ei:testEvent"),
        start=parse_date_time(start),
        duration=parse_duration(length),
        response_required=text(wrapper, "oadr:oadrResponseRequired"),
        signals=tuple(_signal(s) for s in findall(node, "ei:eiEventSignals/ei:eiEventSignal")),
        targets=tuple(
            Target(
                tuple(e.text or "" for e in findall(t, "ei:venID")),
                tuple(e.text or "" for e in findall(t, "ei:resourceID")),
            )
            for t in findall(node, "ei:eiTarget")
        ),
    )


def _signal(node: etree._Element) -> Signal:
    intervals = []
    for interval in findall(node, "strm:intervals/ei:interval"):
        length = text(interval, "xcal:duration/xcal:duration")
        intervals.append(
            Interval(
                uid=text(interval, "xcal:uid/xcal:text"),
                duration=None if length is None else parse_duration(length),
                values=tuple(
                    float(v.text or "nan")
                    for v in findall(interval, "ei:signalPayload/ei:payloadFloat/ei:value")
                ),
                has_dtstart=find(interval, "xcal:dtstart") is not None,
            )
        )
    return Signal(
        name=text(node, "ei:signalName") or "",
        signal_type=text(node, "ei:signalType") or "",
        signal_id=text(node, "ei:signalID") or "",
        intervals=tuple(intervals),
        current_value=_number(text(node, "ei:currentValue/ei:payloadFloat/ei:value")),
        item_base=_item_base(node),
    )


def _item_base(signal: etree._Element) -> tuple[str, str, str] | None:
    """The element after signalID that is not the currentValue (the schema's order)."""
    children = list(signal)
    ids = [n for n, c in enumerate(children) if etree.QName(c).localname == "signalID"]
    for child in children[ids[0] + 1 :] if ids else ():
        name = etree.QName(child).localname
        if name == "currentValue":
            continue
        parts = {etree.QName(c).localname: (c.text or "") for c in child}
        return name, parts.get("itemDescription", ""), parts.get("itemUnits", "")
    return None


def _report_request(node: etree._Element) -> ReportRequest:
    specifier = find(node, "ei:reportSpecifier")
    assert specifier is not None
    granularity = text(specifier, "xcal:granularity/xcal:duration")
    back = text(specifier, "ei:reportBackDuration/xcal:duration")
    start = text(specifier, "ei:reportInterval/xcal:properties/xcal:dtstart/xcal:date-time")
    length = text(specifier, "ei:reportInterval/xcal:properties/xcal:duration/xcal:duration")
    return ReportRequest(
        report_request_id=text(node, "ei:reportRequestID") or "",
        specifier_id=text(specifier, "ei:reportSpecifierID") or "",
        granularity=parse_duration(granularity or "PT0S"),
        report_back_duration=None if back is None else parse_duration(back),
        report_interval=_interval(start, length),
        payloads=tuple(
            SpecifierPayload(
                r_id=text(p, "ei:rID") or "",
                has_item_base=any(c.tag not in _SPECIFIER_OWN for c in p if isinstance(c.tag, str)),
                reading_type=text(p, "ei:readingType"),
            )
            for p in findall(specifier, "ei:specifierPayload")
        ),
    )
