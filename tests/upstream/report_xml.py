"""The EiReport messages the gateway sent its utility, read from the raw bytes with lxml and the
2.0b XSD only (no openleadr code): what a utility that is not openleadr would see."""

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
    text,
)
from tests.oadr20b.schema import schema_errors


@dataclass(frozen=True)
class SentInterval:
    r_id: str
    start: datetime
    duration: timedelta | None
    value: float


@dataclass(frozen=True)
class SentReport:
    report_id: str
    request_id: str
    specifier: str
    intervals: tuple[SentInterval, ...]


@dataclass(frozen=True)
class Offered:
    specifier: str
    duration: timedelta | None
    r_ids: tuple[str, ...]


def parse(raw: bytes) -> etree._Element:
    root = etree.fromstring(raw)
    assert schema_errors(root) == [], schema_errors(root)
    return body_of(root)


def updates(exchanges: list[tuple[bytes, bytes]]) -> list[SentReport]:
    """Every oadrReport of every oadrUpdateReport, in the order sent."""
    found = []
    for sent, _ in exchanges:
        body = parse(sent)
        if local_name(body) != "oadrUpdateReport":
            continue
        for report in findall(body, "oadr:oadrReport"):
            intervals = []
            for interval in findall(report, "strm:intervals/ei:interval"):
                span = text(interval, "xcal:duration/xcal:duration")
                start = text(interval, "xcal:dtstart/xcal:date-time")
                assert start is not None, "an interval without dtstart"
                value = text(interval, "oadr:oadrReportPayload/ei:payloadFloat/ei:value")
                intervals.append(
                    SentInterval(
                        r_id=text(interval, "oadr:oadrReportPayload/ei:rID") or "",
                        start=parse_date_time(start),
                        duration=parse_duration(span) if span else None,
                        value=float(value or "nan"),
                    )
                )
            found.append(
                SentReport(
                    report_id=text(report, "ei:eiReportID") or "",
                    request_id=text(report, "ei:reportRequestID") or "",
                    specifier=text(report, "ei:reportSpecifierID") or "",
                    intervals=tuple(intervals),
                )
            )
    return found


def registrations(exchanges: list[tuple[bytes, bytes]]) -> list[list[Offered]]:
    """The reports of each oadrRegisterReport sent."""
    found = []
    for sent, _ in exchanges:
        body = parse(sent)
        if local_name(body) != "oadrRegisterReport":
            continue
        offered = []
        for report in findall(body, "oadr:oadrReport"):
            span = text(report, "xcal:duration/xcal:duration")
            offered.append(
                Offered(
                    specifier=text(report, "ei:reportSpecifierID") or "",
                    duration=parse_duration(span) if span else None,
                    r_ids=tuple(
                        text(d, "ei:rID") or ""
                        for d in findall(report, "oadr:oadrReportDescription")
                    ),
                )
            )
        found.append(offered)
    return found


def requested(exchanges: list[tuple[bytes, bytes]]) -> dict[str, list[str]]:
    """The report requests the utility answered registrations with: specifier -> requestIDs."""
    found: dict[str, list[str]] = {}
    for _, answer in exchanges:
        if not answer:
            continue
        body = parse(answer)
        if local_name(body) != "oadrRegisteredReport":
            continue
        for request in findall(body, "oadr:oadrReportRequest"):
            specifier = find(request, "ei:reportSpecifier")
            assert specifier is not None
            key = text(specifier, "ei:reportSpecifierID") or ""
            found.setdefault(key, []).append(text(request, "ei:reportRequestID") or "")
    return found
