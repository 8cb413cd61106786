"""An event's baseline on the 2.0b wire: the eiEventBaseline that closes its eiEventSignals
(dtstart, duration, intervals as its signals have them, baselineID, resourceIDs, name).
openleadr's templates have no baseline, so it is added to the rendered oadrDistributeEvent
before it is signed; a distribute without baselines is left as rendered."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta

from lxml import etree
from openleadr import utils

from gateway.domain.signals import Baseline

_EI = "http://docs.oasis-open.org/ns/energyinterop/201110"
_XCAL = "urn:ietf:params:xml:ns:icalendar-2.0"
_STRM = "urn:ietf:params:xml:ns:icalendar-2.0:stream"
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True)


@dataclass(frozen=True, slots=True)
class EventBaseline:
    """What goes out for one event: its baseline, for these resources."""

    baseline_id: str
    baseline: Baseline
    resource_ids: tuple[str, ...]


def with_baselines(signed_object: str, baselines: Mapping[str, EventBaseline]) -> str:
    """``signed_object`` (an oadrDistributeEvent) with each event's baseline, by eventID."""
    if not baselines:
        return signed_object
    tree = etree.fromstring(signed_object.encode(), _PARSER)
    for event in tree.iter(f"{{{_EI}}}eiEvent"):
        event_id = event.findtext(f"{{{_EI}}}eventDescriptor/{{{_EI}}}eventID")
        found = baselines.get(event_id or "")
        signals = event.find(f"{{{_EI}}}eiEventSignals")
        if found is not None and signals is not None:
            signals.append(_element(found))
    return str(etree.tostring(tree, encoding="unicode"))


def _sub(parent: etree._Element, ns: str, name: str, text: str | None = None) -> etree._Element:
    child = etree.SubElement(parent, f"{{{ns}}}{name}")
    if text is not None:
        child.text = text
    return child


def _element(found: EventBaseline) -> etree._Element:
    baseline = found.baseline
    node = etree.Element(f"{{{_EI}}}eiEventBaseline")
    _sub(_sub(node, _XCAL, "dtstart"), _XCAL, "date-time", utils.datetimeformat(baseline.start))
    total = sum((i.duration for i in baseline.intervals), timedelta())
    _sub(_sub(node, _XCAL, "duration"), _XCAL, "duration", utils.timedeltaformat(total))
    _intervals(_sub(node, _STRM, "intervals"), baseline)
    _sub(node, _EI, "baselineID", found.baseline_id)
    for resource_id in found.resource_ids:
        _sub(node, _EI, "resourceID", resource_id)
    _sub(node, _EI, "baselineName", baseline.name)
    return node


def _intervals(parent: etree._Element, baseline: Baseline) -> None:
    # As the signals' intervals: a duration, uid 0, 1, ... and one payloadFloat; no dtstart.
    for uid, interval in enumerate(baseline.intervals):
        node = _sub(parent, _EI, "interval")
        duration = utils.timedeltaformat(interval.duration)
        _sub(_sub(node, _XCAL, "duration"), _XCAL, "duration", duration)
        _sub(_sub(node, _XCAL, "uid"), _XCAL, "text", str(uid))
        payload = _sub(_sub(node, _EI, "signalPayload"), _EI, "payloadFloat")
        _sub(payload, _EI, "value", _number(interval.value))


def _number(value: float) -> str:
    return repr(float(value))


def baselines_of(
    events: Sequence[tuple[str, Baseline | None, tuple[str, ...]]],
) -> dict[str, EventBaseline]:
    """The baselines of (eventID, baseline, resourceIDs) triples that have one."""
    return {
        event_id: EventBaseline(f"{event_id}-baseline", baseline, resources)
        for event_id, baseline, resources in events
        if baseline is not None
    }
