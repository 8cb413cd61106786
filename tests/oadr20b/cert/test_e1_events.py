"""E1: events the operator creates with explicit signals, pull mode (cert cases section 1,
E1_1010-E1_1080). Most need events beyond the invitation's SIMPLE + LOAD_DISPATCH pair,
created with explicit signals (``site.signal_event``)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.oadr20b import messages
from tests.oadr20b.cert.site import CertGateway, Party, poll_until, price, simple
from tests.oadr20b.messages import EventReply

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def _p010(gateway: CertGateway, devices: int = 2) -> tuple[Party, str]:
    """P010: +10 min, one 5-min interval, ELECTRICITY_PRICE 3.14 (US dollars per kWh, as
    EPRI's prompt has it) for two resources."""
    party = await gateway.party(devices=devices)
    event_id = await gateway.signal_event(party.devices, 10, [price(3.14, currency="USD")])
    return party, event_id


async def test_E1_1010_operator_clears_the_vens_events(gateway: CertGateway) -> None:
    """P009: once the operator cleared the VEN's events a poll gets an empty
    oadrDistributeEvent or an oadrResponse (either passes)."""
    party = await gateway.party()
    events = [await gateway.invite(party.devices, start_in=10 + 20 * n) for n in range(2)]
    answer = await poll_until(party.ven, "oadrDistributeEvent")
    await party.ven.answer_events(answer)
    for event_id in events:
        await gateway.cancel(event_id)
    told = await poll_until(party.ven, "oadrDistributeEvent")  # the cancels
    assert {e.status for e in told.events} == {"cancelled"}
    cleared = await party.ven.poll()
    assert cleared.message_type == "oadrResponse" or not [
        e for e in cleared.events if e.status != "cancelled"
    ], cleared.body[:300]


async def test_E1_1020_event_with_two_intervals_and_two_resources(gateway: CertGateway) -> None:
    party, event_id = await _p010(gateway)
    answer = await poll_until(party.ven, "oadrDistributeEvent")
    event = answer.event(event_id)
    signal = event.signal("ELECTRICITY_PRICE")
    assert (signal.signal_type, [i.values for i in signal.intervals]) == ("price", [(3.14,)])
    assert signal.item_base == ("currencyPerKWh", "currencyPerKWh", "USD")
    assert event.duration == timedelta(minutes=5)
    resources = sorted(r for t in event.targets for r in t.resource_ids)
    assert resources == sorted(party.resources)
    assert (await party.ven.answer_events(answer)).code == 200


async def test_each_currency_unit_goes_out_with_the_itembase_the_schema_takes(
    gateway: CertGateway,
) -> None:
    """Every answer is XSD-checked by the VEN: currencyPerKW (misspelt currencyPerWK in
    openleadr's table) in euros; currencyPerThm without an itemBase (the schema's currencyType
    takes no such itemDescription); a code newer than the schema's 2010 list (VES, 2018)
    without one rather than a made-up one."""
    party = await gateway.party()
    sent = [price(2.5, units="currencyPerKW", currency="EUR"),
            price(1.2, units="currencyPerThm", currency="USD")]  # fmt: skip
    first = await gateway.signal_event(party.devices, 10, sent)
    second = await gateway.signal_event(party.devices, 30, [price(9.0, currency="VES")])
    answer = await poll_until(party.ven, "oadrDistributeEvent")
    bases = [s.item_base for s in answer.event(first).signals]
    assert bases == [("currencyPerKW", "currencyPerKW", "EUR"), None]
    assert answer.event(second).signal("ELECTRICITY_PRICE").item_base is None
    view = await gateway.api.get(f"/api/events/{second}")
    assert [s["currency"] for s in view["terms"]["signals"]] == ["VES"]
    refused = await gateway.api.post("/api/events", {
        "start_time": gateway.at(50).isoformat(), "duration_minutes": 5,
        "devices": party.devices, "signals": [price(1.0, currency="usd")],
    }, status=422)  # fmt: skip
    assert "signals.0.currency" in str(refused)


async def test_E1_1025_load_dispatch_setpoint(gateway: CertGateway) -> None:
    """P038: +1 min, 5 min, LOAD_DISPATCH setpoint powerReal 40."""
    party = await gateway.party()
    setpoint = {
        "name": "LOAD_DISPATCH", "type": "setpoint", "units": "powerReal",
        "intervals": [{"duration_minutes": 5, "value": 40}],
    }  # fmt: skip
    event_id = await gateway.signal_event(party.devices, 1, [setpoint])
    answer = await poll_until(party.ven, "oadrDistributeEvent")
    signal = answer.event(event_id).signal("LOAD_DISPATCH")
    assert (signal.signal_type, signal.intervals[0].values) == ("setpoint", (40.0,))
    assert (await party.ven.answer_events(answer)).code == 200


async def test_E1_1027_price_intervals_with_a_baseline(gateway: CertGateway) -> None:
    """P041: price +10 min, 2 h, intervals 3.14/3.17, two resources, baseline a day earlier
    3.05/3.08."""
    party = await gateway.party(devices=2)
    baseline = {
        "start_in_minutes": 10 - 24 * 60,
        "intervals": [{"duration_minutes": 60, "value": 3.05},
                      {"duration_minutes": 60, "value": 3.08}],
    }  # fmt: skip
    event_id = await gateway.signal_event(
        party.devices, 10, [price(3.14, 3.17, minutes=60)], baseline=baseline
    )
    answer = await poll_until(party.ven, "oadrDistributeEvent")
    signal = answer.event(event_id).signal("ELECTRICITY_PRICE")
    assert [i.values for i in signal.intervals] == [(3.14,), (3.17,)]
    assert answer.message.find(".//{http://docs.oasis-open.org/ns/energyinterop/201110}"
                               "eiEventBaseline") is not None  # fmt: skip
    assert (await party.ven.answer_events(answer)).code == 200


async def test_E1_1030_price_event_modified(gateway: CertGateway) -> None:
    """P010, then P011: the first interval moved to +10 min: modificationNumber 1."""
    party, event_id = await _p010(gateway)
    ven = party.ven
    first = await poll_until(ven, "oadrDistributeEvent")
    assert (await ven.answer_events(first)).code == 200
    await gateway.api.put(f"/api/events/{event_id}",
                          {"start_time": gateway.at(10).isoformat()}, status=200)  # fmt: skip
    second = await poll_until(ven, "oadrDistributeEvent")
    assert second.event(event_id).modification_number == 1
    assert (await ven.answer_events(second)).code == 200


async def test_E1_1040_simple_and_price_events_together(gateway: CertGateway) -> None:
    """P012: SIMPLE 2 at +1 min and ELECTRICITY_PRICE 3.13 at +10 min: one payload, two
    events, one oadrCreatedEvent each."""
    party = await gateway.party()
    level = await gateway.signal_event(party.devices, 1, [simple(2)])
    cost = await gateway.signal_event(party.devices, 10, [price(3.13)])
    answer = await poll_until(party.ven, "oadrDistributeEvent")
    assert [e.event_id for e in answer.events] == [level, cost]
    for event in answer.events:
        reply = EventReply(event.event_id, event.modification_number)
        assert (await party.ven.answer_events(answer, [reply])).code == 200


async def test_E1_1050_price_event_by_request_event(gateway: CertGateway) -> None:
    party, event_id = await _p010(gateway)
    ven = party.ven
    answer = await ven.request_event()
    assert answer.event(event_id).signal("ELECTRICITY_PRICE").intervals[0].values == (3.14,)
    assert (await ven.answer_events(answer)).code == 200


async def test_E1_1060_price_event_opted_out_by_create_opt(gateway: CertGateway) -> None:
    party, event_id = await _p010(gateway)
    ven = party.ven
    answer = await poll_until(ven, "oadrDistributeEvent")
    assert len([r for t in answer.event(event_id).targets for r in t.resource_ids]) == 2
    assert (await ven.answer_events(answer)).code == 200
    opt = await ven.send(messages.create_opt(
        ven.request_id(), ven.id, opt_id=gateway.name("opt"), opt_type="optOut",
        created=gateway.clock.now(), event=(event_id, 0),
    ))  # fmt: skip
    assert opt.code == 200


async def test_E1_1065_create_opt_beats_a_later_created_event(gateway: CertGateway) -> None:
    """P040: opted in by oadrCreateOpt for resource 2, then an oadrCreatedEvent optOut: the
    operator still sees resource 2 opted in."""
    party, event_id = await _p010(gateway)
    ven = party.ven
    answer = await poll_until(ven, "oadrDistributeEvent")
    second = party.resources[1]
    opt = await ven.send(messages.create_opt(
        ven.request_id(), ven.id, opt_id=gateway.name("opt"), opt_type="optIn",
        created=gateway.clock.now(), event=(event_id, 0), resource_ids=[second],
    ))  # fmt: skip
    assert opt.code == 200
    assert (await ven.answer_events(answer, opt="optOut")).code == 200
    # Each device's opt as the event view shows it: the oadrCreateOpt stands, the later
    # optOut of the oadrCreatedEvent is ignored for resource 2 and taken for resource 1.
    view = await gateway.api.get(f"/api/events/{event_id}")
    opts = {d["device_id"]: d.get("opt") for d in view["devices"]}
    assert opts == {party.devices[0]: "optOut", party.devices[1]: "optIn"}


async def test_E1_1080_created_event_with_a_case_flipped_ven_id(gateway: CertGateway) -> None:
    """P065: SIMPLE at +1 min, level 2; the oadrCreatedEvent's venID differs in case: 452."""
    party = await gateway.party()
    event_id = await gateway.invite(party.devices, start_in=1, load_percentage=30.0)
    answer = await poll_until(party.ven, "oadrDistributeEvent")
    assert answer.event(event_id).signal("SIMPLE").intervals[0].values == (2.0,)
    flipped = party.ven.id.swapcase()
    body = messages.created_event(
        flipped, answer.own_request_id or "", [EventReply(event_id, 0, "optIn")]
    )
    reply = await party.ven.send(body)
    assert reply.code == 452
