"""The oadrDistributeEvent written directly says what openleadr's template says (element for
element, text for text), plus the baselines, and is valid against the 2.0b schema."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from lxml import etree
from openleadr import enums, objects, utils
from openleadr.messaging import TEMPLATES, XML_SCHEMA
from openleadr.preflight import preflight_message

from gateway.domain.signals import Baseline, Interval
from gateway.oadr20b.baselines import EventBaseline
from gateway.oadr20b.codec import Encoder, _escaped, decode
from gateway.oadr20b.distribute_xml import render_distribute

START = datetime(2026, 12, 3, 14, 0, tzinfo=UTC)
CREATED = datetime(2026, 12, 1, 9, 30, 15, 250_000, tzinfo=UTC)
EI = "http://docs.oasis-open.org/ns/energyinterop/201110"


def _power() -> objects.Measurement:
    return objects.Measurement(
        name="powerReal", description="RealPower", unit="W", scale="k",
        power_attributes=objects.PowerAttributes(hertz=50, voltage=230, ac=True),
    )  # fmt: skip


def _event(event_id: str, status: str = "far", **descriptor: Any) -> objects.Event:
    interval = objects.Interval(None, timedelta(hours=1), signal_payload=2.0, uid=0)
    return objects.Event(
        event_descriptor=objects.EventDescriptor(
            event_id=event_id, modification_number=3, market_context="http://mc/a&b<c>",
            event_status=status, created_date_time=CREATED,
            modification_date_time=START - timedelta(minutes=5), **descriptor,
        ),
        active_period=objects.ActivePeriod(dtstart=START, duration=timedelta(hours=1)),
        event_signals=[
            objects.EventSignal(
                intervals=[interval], signal_name="SIMPLE", signal_type="level",
                signal_id=f"{event_id}-simple", current_value=2.0 if status == "active" else 0.0,
            ),
            objects.EventSignal(
                intervals=[objects.Interval(None, timedelta(hours=1), signal_payload=12.5)],
                signal_name="LOAD_DISPATCH", signal_type="delta",
                signal_id=f"{event_id}-dispatch", measurement=_power(), current_value=0.0,
            ),
        ],
        targets=[objects.Target(ven_id="ven&1"), objects.Target(resource_id="r<2>"),
                 objects.Target(resource_id="r3"), objects.Target(group_id="g1")],
        response_required="always",
    )  # fmt: skip


def _explicit(event_id: str) -> objects.Event:
    """Several intervals, itemBases of both namespaces, rampUp/recovery/startafter."""
    steps = [objects.Interval(None, timedelta(minutes=m), signal_payload=v)
             for m, v in ((15, 1.5), (30, -2.0), (15, 0.0))]  # fmt: skip
    signals = [
        objects.EventSignal(
            intervals=copy.deepcopy(steps),
            signal_name=name,
            signal_type=kind,
            signal_id=f"{event_id}-{n}",
            measurement=measurement,
            current_value=value,
        )
        for n, (name, kind, measurement, value) in enumerate(
            [
                ("ELECTRICITY_PRICE", "price", None, 0.0),
                ("LOAD_CONTROL", "x-loadControlCapacity", None, 1.5),
                ("ENERGY_PRICE", "price", enums.MEASUREMENTS.ENERGY_REAL, 0.0),
                ("BID_LOAD", "setpoint", enums.MEASUREMENTS.TEMPERATURE, None),
                ("DEMAND_CHARGE", "price", enums.MEASUREMENTS.VOLTAGE, 0.0),
            ]
        )
    ]
    period = objects.ActivePeriod(
        dtstart=START, duration=timedelta(hours=1), tolerance={"startafter": timedelta(minutes=2)},
        ramp_up_period=timedelta(minutes=10), recovery_period=timedelta(seconds=90),
    )  # fmt: skip
    return objects.Event(
        event_descriptor=objects.EventDescriptor(
            event_id=event_id, modification_number=0, market_context="http://mc/x",
            event_status="active", created_date_time=CREATED, modification_date_time=START,
            priority=None, test_event=True, vtn_comment="shed <now> & thanks",
        ),
        active_period=period, event_signals=signals,
        targets=[objects.Target(resource_id="r1"), objects.Target(ven_id="ven-9")],
        response_required="never",
    )  # fmt: skip


def _template(payload: dict[str, Any]) -> str:
    """openleadr's own rendering, as the encoder did it: preflight (with its rule 14 undone),
    every text escaped, the template, flattened."""
    prepared = preflight_message("oadrDistributeEvent", payload)
    for event, ready in zip(payload["events"], prepared["events"], strict=True):
        for signal, ready_signal in zip(event.event_signals, ready["event_signals"], strict=True):
            ready_signal["current_value"] = signal.current_value
    rendered = TEMPLATES.get_template("oadrDistributeEvent.xml").render(**_escaped(prepared))
    return str(utils.flatten_xml(rendered))


def _shape(element: etree._Element) -> tuple[object, ...]:
    """What an element says: qualified name, attributes, text, children (prefixes and where
    namespaces are declared do not count)."""
    return (
        element.tag, sorted(element.attrib.items()), (element.text or "").strip(),
        [_shape(child) for child in element],
    )  # fmt: skip


PAYLOADS = {
    "empty": {
        "response": {"response_code": 200, "response_description": "OK", "request_id": "req-1"},
        "request_id": "d-1", "vtn_id": "vtn", "events": [],
    },
    "no response": {"request_id": "d-2", "vtn_id": "vtn&co", "events": [_event("e1")]},
    "two events": {
        "response": {"response_code": 200, "response_description": "OK", "request_id": ""},
        "request_id": "d-3", "vtn_id": "vtn",
        "events": [_event("e1", "active", priority=2, test_event=False), _event("e2", "near")],
    },
    "explicit signals": {"request_id": "d-4", "vtn_id": "vtn", "events": [_explicit("e3")]},
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(PAYLOADS))
def test_the_direct_rendering_says_what_the_template_says(name: str) -> None:
    payload = PAYLOADS[name]
    direct = etree.fromstring(render_distribute(payload, {}).encode())
    template = etree.fromstring(_template(payload).encode())
    assert _shape(direct) == _shape(template)


@pytest.mark.parametrize("name", sorted(PAYLOADS))
def test_the_encoded_distribute_is_valid_and_decodes_to_its_events(name: str) -> None:
    payload = PAYLOADS[name]
    xml = Encoder(None).encode("oadrDistributeEvent", dict(payload))
    XML_SCHEMA.assertValid(etree.fromstring(xml.encode()))
    decoded = decode(xml.encode(), tolerant=False)
    assert decoded.message_type == "oadrDistributeEvent"
    events = decoded.payload.get("events") or []
    assert [e["event_descriptor"]["event_id"] for e in events] == [
        e.event_descriptor.event_id for e in payload["events"]
    ]


def test_an_active_events_simple_current_value_is_the_level_in_force() -> None:
    payload = {"request_id": "d", "vtn_id": "vtn", "events": [_event("e1", "active")]}
    xml = Encoder(None).encode("oadrDistributeEvent", payload)
    [event] = decode(xml.encode(), tolerant=False).payload["events"]
    simple = next(s for s in event["event_signals"] if s["signal_name"] == "SIMPLE")
    assert simple["current_value"] == 2.0


def test_a_baseline_closes_the_events_signals_and_is_valid() -> None:
    baseline = Baseline(
        name="10-in-10 & adjusted", start=START,
        intervals=(Interval(timedelta(minutes=30), 40.25), Interval(timedelta(minutes=30), 38.0)),
    )  # fmt: skip
    found = {"e1": EventBaseline("e1-baseline", baseline, ("r<2>", "r3"))}
    payload = {"request_id": "d", "vtn_id": "vtn", "events": [_event("e1"), _event("e2")],
               "baselines": found}  # fmt: skip
    xml = Encoder(None).encode("oadrDistributeEvent", payload)
    tree = etree.fromstring(xml.encode())
    XML_SCHEMA.assertValid(tree)
    first, second = tree.iter(f"{{{EI}}}eiEventSignals")
    assert second.find(f"{{{EI}}}eiEventBaseline") is None
    node = first[-1]
    assert node.tag == f"{{{EI}}}eiEventBaseline"
    assert node.findtext(f"{{{EI}}}baselineID") == "e1-baseline"
    assert node.findtext(f"{{{EI}}}baselineName") == "10-in-10 & adjusted"
    assert [r.text for r in node.iter(f"{{{EI}}}resourceID")] == ["r<2>", "r3"]
    assert [v.text for v in node.iter(f"{{{EI}}}value")] == ["40.25", "38.0"]
    xcal = "urn:ietf:params:xml:ns:icalendar-2.0"
    assert node.findtext(f"{{{xcal}}}dtstart/{{{xcal}}}date-time") == "2026-12-03T14:00:00.000000Z"
    assert node.findtext(f"{{{xcal}}}duration/{{{xcal}}}duration") == "PT1H"


def test_an_unknown_measurement_is_refused_not_sent_wrong() -> None:
    event = _event("e1")
    event.event_signals[1].measurement = objects.Measurement(
        name="powerReal", description="RealPower", unit="W", scale="k"
    )
    event.event_signals[1].measurement.name = "furlongs"
    with pytest.raises(ValueError, match="furlongs"):
        render_distribute({"request_id": "d", "vtn_id": "v", "events": [event]}, {})
