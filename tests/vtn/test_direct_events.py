"""Events scheduled directly (``POST /api/events``, no invitation) reach the VENs of their
devices, with explicit signals when they have them, and only VENs taking part in their
program; checked with the raw-XML VEN of ``tests.oadr20b`` (every answer against the XSD and
the 2.0b profile).

2.0b profile (8.2.2 and conformance rule 14): "currentValue ... the payload of the interval in
force" while the event is active, 0 before; "signalType ... must be consistent with the
signalName"; rule 10: "Changes in any of the event parameters ... must be accompanied by a new
modificationNumber"."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import pytest

from tests.oadr20b.messages import EventReply
from tests.oadr20b.ven import RawVens, raw_vens
from tests.support import Api, MutableClock, in_minutes
from tests.vtn.raw_ven import registered


@pytest.fixture
def database_url(any_database_url: str) -> str:
    return any_database_url


@pytest.fixture
def clock() -> MutableClock:
    return MutableClock()


@pytest.fixture
async def vens(vtn_url: str, clock: MutableClock) -> AsyncIterator[RawVens]:
    async with raw_vens(vtn_url, clock.now) as made:
        yield made


def price_signal(*values: float, minutes: int = 10) -> dict[str, Any]:
    return {
        "name": "ELECTRICITY_PRICE", "type": "price", "units": "currencyPerKWh",
        "intervals": [{"duration_minutes": minutes, "value": v} for v in values],
    }  # fmt: skip


async def signal_event(
    api: Api, clock: MutableClock, devices: list[str], signals: list[dict[str, Any]],
    start_in: float = 5, status: int = 201, **options: Any,
) -> Any:  # fmt: skip
    minutes = sum(i["duration_minutes"] for i in signals[0]["intervals"]) if signals else 10
    body = {"start_time": in_minutes(start_in, clock), "duration_minutes": minutes,
            "devices": devices, "signals": signals, **options}  # fmt: skip
    return await api.post("/api/events", body, status=status)


async def test_an_event_with_signals_is_stored_shown_and_sent_as_its_signals(
    api: Api, vens: RawVens, clock: MutableClock
) -> None:
    ven = await registered(api, vens, "ven-a", {"a1": "ra1", "a2": "ra2"})
    created = await signal_event(
        api, clock, ["a1", "a2"], [price_signal(0.25, 0.31, 0.12)], priority=0,
        ramp_up_minutes=2, start_after_minutes=1,
    )  # fmt: skip
    assert created["target_kw"] == 0.0
    shown = await api.get(f"/api/events/{created['id']}")
    terms = shown["terms"]
    assert [(s["name"], s["type"], s["units"]) for s in terms["signals"]] == [
        ("ELECTRICITY_PRICE", "price", "currencyPerKWh")
    ]
    assert [(i["duration_minutes"], i["value"]) for i in terms["signals"][0]["intervals"]] == [
        (10.0, 0.25), (10.0, 0.31), (10.0, 0.12),
    ]  # fmt: skip
    assert (terms["priority"], terms["ramp_up_minutes"], terms["start_after_minutes"]) == (0, 2, 1)
    assert terms["response_required"] == "always"

    pending = (await ven.poll()).event(created["id"])
    assert pending.status in ("far", "near")
    assert (pending.priority, pending.modification_number) == (0, 0)
    signal = pending.signal("ELECTRICITY_PRICE")
    assert [i.values for i in signal.intervals] == [(0.25,), (0.31,), (0.12,)]
    assert [s.name for s in pending.signals] == ["ELECTRICITY_PRICE"]  # no SIMPLE added
    assert signal.current_value == 0.0
    assert sorted(r for t in pending.targets for r in t.resource_ids) == ["ra1", "ra2"]

    clock.advance(minutes=5 + 12)  # 12 minutes in: the second interval is in force
    active = (await ven.poll()).event(created["id"])
    assert active.status == "active"
    assert active.signal("ELECTRICITY_PRICE").current_value == 0.31


async def test_an_event_without_signals_reaches_its_ven_as_simple_and_load_dispatch(
    api: Api, vens: RawVens, clock: MutableClock
) -> None:
    ven = await registered(api, vens, "ven-a", {"a1": "ra1", "a2": "ra2"})
    body = {"start_time": in_minutes(5, clock), "duration_minutes": 10,
            "devices": ["a1", "a2"], "target_kw": 4.0}  # fmt: skip
    created = await api.post("/api/events", body, status=201)
    event = (await ven.poll()).event(created["id"])
    assert [s.name for s in event.signals] == ["SIMPLE", "LOAD_DISPATCH"]
    assert event.signal("LOAD_DISPATCH").intervals[0].values == (4.0,)


async def test_a_direct_event_reaches_only_vens_taking_part_in_its_program(
    api: Api, vens: RawVens, clock: MutableClock
) -> None:
    inside = await registered(api, vens, "ven-in", {"i1": "ri1"})
    outside = await registered(api, vens, "ven-out", {"o1": "ro1"})
    program = {"id": "peak", "name": "Peak", "market_context": "oadr://utility/peak"}
    await api.post("/api/programs", program, status=201)
    await api.put("/api/programs/peak/vens/ven-in", None, status=200)
    await api.put("/api/programs/peak/devices/i1", None, status=200)
    created = await signal_event(api, clock, ["i1"], [price_signal(0.2)], program_id="peak")
    told = await inside.poll()
    assert [e.event_id for e in told.events] == [created["id"]]
    assert told.event(created["id"]).market_context == "oadr://utility/peak"
    assert (await outside.poll()).message_type == "oadrResponse"  # nothing for it
    # The VEN leaves the program: the event is withdrawn from it.
    await api.delete("/api/programs/peak/vens/ven-in", status=200)
    after = await inside.poll()
    assert after.message_type == "oadrResponse" or created["id"] not in [
        e.event_id for e in after.events if e.status != "cancelled"
    ]


async def test_a_vens_opt_out_of_a_direct_event_is_shown_and_its_cancel_is_a_modification(
    api: Api, vens: RawVens, clock: MutableClock
) -> None:
    ven = await registered(api, vens, "ven-a", {"a1": "ra1"})
    created = await signal_event(
        api, clock, ["a1"], [{"name": "SIMPLE", "type": "level",
                              "intervals": [{"duration_minutes": 10, "value": 2}]}],
    )  # fmt: skip
    distribute = await ven.poll()
    reply = await ven.answer_events(distribute, [EventReply(created["id"], 0, "optOut")])
    assert reply.code == 200
    shown = await api.get(f"/api/events/{created['id']}")
    assert [(d["device_id"], d["opt"], d["committed_kw"]) for d in shown["devices"]] == [
        ("a1", "optOut", 0.0)
    ]
    stale = await ven.answer_events(distribute, [EventReply(created["id"], 3, "optOut")])
    assert stale.code == 450
    await api.post(f"/api/events/{created['id']}/cancel", {}, status=200)
    cancelled = (await ven.poll()).event(created["id"])
    assert (cancelled.status, cancelled.modification_number) == ("cancelled", 1)
    ack = await ven.answer_events(distribute, [EventReply(created["id"], 1, "optIn")])
    assert ack.code == 200


async def test_response_required_never_goes_out_with_the_event(
    api: Api, vens: RawVens, clock: MutableClock
) -> None:
    ven = await registered(api, vens, "ven-a", {"a1": "ra1"})
    created = await signal_event(api, clock, ["a1"], [price_signal(0.2)], response_required="never")
    assert (await ven.poll()).event(created["id"]).response_required == "never"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"signals": [price_signal(0.2, minutes=5)]}, "signals.0.intervals"),
        ({"signals": [{**price_signal(0.2), "type": "level"}]}, "signals.0.type"),
        ({"signals": [{"name": "SIMPLE", "type": "level",
                       "intervals": [{"duration_minutes": 10, "value": 7}]}]},
         "signals.0.intervals.0.value"),
        ({"signals": [{**price_signal(0.2), "name": "NOT_A_SIGNAL"}]}, "signals.0.name"),
        ({"signals": [price_signal(0.2)], "priority": -1}, "priority"),
        ({"signals": [price_signal(0.2)], "ramp_up_minutes": 2000}, "ramp_up_minutes"),
        ({"signals": [price_signal(0.2)], "response_required": "sometimes"},
         "response_required"),
        ({"signals": []}, "target_kw"),
        ({"signals": [price_signal(0.2)], "baseline": {"intervals": [
            {"duration_minutes": 3, "value": 1.0}]}}, "baseline.intervals"),
    ],
)  # fmt: skip
async def test_an_invalid_event_is_refused_naming_the_field_and_nothing_is_stored(
    api: Api, clock: MutableClock, change: dict[str, Any], field: str
) -> None:
    await api.device("a1")
    body = {"start_time": in_minutes(5, clock), "duration_minutes": 10, "devices": ["a1"],
            **change}  # fmt: skip
    refused = await api.post("/api/events", body, status=422)
    assert field in [f["field"] for f in refused["fields"]], refused
    assert (await api.get("/api/events"))["count"] == 0


async def test_a_modified_direct_event_reaches_its_ven_as_the_next_modification(
    api: Api, vens: RawVens, clock: MutableClock
) -> None:
    ven = await registered(api, vens, "ven-a", {"a1": "ra1"})
    created = await signal_event(api, clock, ["a1"], [price_signal(0.2, 0.3)], start_in=30)
    assert (await ven.poll()).event(created["id"]).modification_number == 0
    later = in_minutes(60, clock)
    changed = await api.put(
        f"/api/events/{created['id']}",
        {"start_time": later, "signals": [price_signal(0.5, 0.6)], "priority": 4}, status=200,
    )  # fmt: skip
    assert changed["modification_number"] == 1
    assert datetime.fromisoformat(changed["start_time"]) == datetime.fromisoformat(later)
    event = (await ven.poll()).event(created["id"])
    assert (event.modification_number, event.priority) == (1, 4)
    assert [i.values for i in event.signal("ELECTRICITY_PRICE").intervals] == [(0.5,), (0.6,)]
    # A change that leaves the signals short of the event, or a bad field: 422, nothing changes.
    short = await api.put(f"/api/events/{created['id']}", {"duration_minutes": 30}, status=422)
    assert [f["field"] for f in short["fields"]] == ["signals.0.intervals"]
    assert (await api.get(f"/api/events/{created['id']}"))["modification_number"] == 1
    await api.put(f"/api/events/{created['id']}", {"priority": "high"}, status=422)


async def test_an_invitations_event_is_modified_through_its_invitation_only(
    api: Api, clock: MutableClock
) -> None:
    await api.device("a1")
    invitation = await api.invite(["a1"], event_time=in_minutes(30, clock))
    answer = {"device_id": "a1", "answer": "YES", "committed_kw": 1.0}
    await api.post(f"/api/invitations/{invitation['id']}/answers", answer, status=201)
    event_id = (await api.get(f"/api/invitations/{invitation['id']}"))["event_id"]
    assert event_id is not None
    await api.put(f"/api/events/{event_id}", {"priority": 1}, status=409)
    await api.put("/api/events/no-such-event", {"priority": 1}, status=404)


async def test_a_direct_event_commits_each_device_its_share_of_the_target_or_nothing(
    api: Api, vens: RawVens, clock: MutableClock
) -> None:
    """A direct event's target_kw is what it asks its devices to shed: each commits an equal
    share, as a yes to an invitation does; an opted-out device keeps 0 kW. An event of
    signals only (a price, a level) states no kW: no commitment, never 0."""
    ven_a = await registered(api, vens, "ven-a", {"a1": "ra1"})
    await registered(api, vens, "ven-b", {"b1": "rb1"})
    body = {"start_time": in_minutes(30, clock), "duration_minutes": 10,
            "devices": ["a1", "b1"], "target_kw": 4.0}  # fmt: skip
    created = await api.post("/api/events", body, status=201)
    assert [(d["device_id"], d["committed_kw"]) for d in created["devices"]] == [
        ("a1", 2.0), ("b1", 2.0),
    ]  # fmt: skip
    reply = await ven_a.answer_events(await ven_a.poll(), [EventReply(created["id"], 0, "optOut")])
    assert reply.code == 200
    shown = await api.get(f"/api/events/{created['id']}")
    assert shown["target_kw"] == 2.0  # a1's share is no longer asked
    assert [(d["device_id"], d["committed_kw"]) for d in shown["devices"]] == [
        ("a1", 0.0), ("b1", 2.0),
    ]  # fmt: skip
    changed = await api.put(f"/api/events/{created['id']}", {"target_kw": 6.0}, status=200)
    assert [(d["device_id"], d["committed_kw"]) for d in changed["devices"]] == [
        ("a1", 0.0), ("b1", 6.0),
    ]  # fmt: skip

    signals = await signal_event(api, clock, ["a1", "b1"], [price_signal(0.2)], start_in=60)
    assert [d["committed_kw"] for d in signals["devices"]] == [None, None]
