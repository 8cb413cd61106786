"""The OpenADR 2.0b namespaces, a builder for elements in them, and xcal times and durations."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

from lxml import etree

OADR = "http://openadr.org/oadr-2.0b/2012/07"
EI = "http://docs.oasis-open.org/ns/energyinterop/201110"
PYLD = "http://docs.oasis-open.org/ns/energyinterop/201110/payloads"
EMIX = "http://docs.oasis-open.org/ns/emix/2011/06"
XCAL = "urn:ietf:params:xml:ns:icalendar-2.0"
STRM = "urn:ietf:params:xml:ns:icalendar-2.0:stream"
POWER = "http://docs.oasis-open.org/ns/emix/2011/06/power"
SCALE = "http://docs.oasis-open.org/ns/emix/2011/06/siscale"
DS = "http://www.w3.org/2000/09/xmldsig#"
DSP = "http://openadr.org/oadr-2.0b/2012/07/xmldsig-properties"

NSMAP = {
    "oadr": OADR, "ei": EI, "pyld": PYLD, "emix": EMIX, "xcal": XCAL, "strm": STRM,
    "power": POWER, "scale": SCALE,
}  # fmt: skip
_ALL = {**NSMAP, "ds": DS, "dsp": DSP}

Child = etree._Element | str | int | float | None


def qname(prefixed: str) -> str:
    """``"ei:venID"`` as lxml's ``"{namespace}venID"``."""
    prefix, _, local = prefixed.partition(":")
    return f"{{{_ALL[prefix]}}}{local}"


def el(name: str, *children: Child, attrib: Mapping[str, str] | None = None) -> etree._Element:
    """An element; ``None`` children are left out (optional elements), text becomes its text."""
    element = etree.Element(qname(name), nsmap=NSMAP)
    for key, value in (attrib or {}).items():
        element.set(qname(key) if ":" in key else key, value)
    for child in children:
        if child is None:
            continue
        if isinstance(child, etree._Element):
            element.append(child)
        else:
            element.text = str(child).lower() if isinstance(child, bool) else str(child)
    return element


def find(node: etree._Element, path: str) -> etree._Element | None:
    """``node.find`` with the 2.0b prefixes (``"ei:eiResponse/ei:responseCode"``)."""
    found = node.find(path, _ALL)
    return found


def findall(node: etree._Element, path: str) -> list[etree._Element]:
    return list(node.findall(path, _ALL))


def text(node: etree._Element, path: str) -> str | None:
    found = find(node, path)
    return None if found is None or found.text is None else found.text.strip()


def local_name(node: etree._Element) -> str:
    return str(etree.QName(node).localname)


def date_time(value: datetime) -> str:
    """An xs:dateTime in UTC (``Z``), as every 2.0b date-time element wants it."""
    if value.tzinfo is None:
        raise ValueError("an OpenADR date-time must be timezone-aware")
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def parse_date_time(value: str) -> datetime:
    parsed = datetime.fromisoformat(value.strip())
    if parsed.tzinfo is None:
        raise ValueError(f"date-time {value!r} has no offset")
    return parsed


def duration(value: timedelta) -> str:
    """An ISO 8601 duration (``PT2S``, ``PT1.5S``, ``-PT1S``), in whole seconds and their
    exact fraction: never an exponent (``%g`` wrote 30 days as ``PT2.592e+06S``)."""
    sign = "-" if value < timedelta() else ""
    span = abs(value)
    fraction = f".{span.microseconds:06d}".rstrip("0") if span.microseconds else ""
    return f"{sign}PT{span.days * 86400 + span.seconds}{fraction}S"


_DURATION = re.compile(
    r"^(?P<sign>[+-])?P(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?$"
)


def parse_duration(value: str) -> timedelta:
    """An ISO 8601 duration as xcal carries it (no years or months: they have no fixed length)."""
    match = _DURATION.match(value.strip())
    if match is None or value.strip() in ("P", "PT", "-P", "+P"):
        raise ValueError(f"not an xcal duration: {value!r}")
    parts = {k: float(v) for k, v in match.groupdict().items() if v and k != "sign"}
    span = timedelta(**parts)
    return -span if match.group("sign") == "-" else span
