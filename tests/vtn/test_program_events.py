"""Programs reach VENs: an invitation or event belongs to one, a VEN sees each event with its
program's market context, priority, test flag and SIMPLE table (checked with the raw-XML VEN
of ``tests.oadr20b``, whose answers are checked against the XSD and the 2.0b profile), devices
outside a program are refused, and a program that refuses overlaps refuses them.

2.0b (EiEvent): "eiMarketContext: the market context of the event" and "priority: ... lower
numbers have higher priority"; 2.0b conformance rule 10: "Changes in any of the event
parameters ... must be accompanied by a new modificationNumber"."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from gateway.app import VTN
from tests.oadr20b.ven import RawVens, raw_vens
from tests.support import Api, MutableClock, in_minutes
from tests.vtn.conftest import eventually
from tests.vtn.raw_ven import registered

PEAK = {
    "id": "peak",
    "name": "Peak",
    "market_context": "oadr://utility/peak",
    "priority": 7,
    "test_events": True,
    "simple_levels": [
        {"upper_bound_percentage": 50.0, "level": 1},
        {"upper_bound_percentage": 100.0, "level": 3},
    ],
}


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


async def peak_with(api: Api, ven_id: str, devices: list[str], **terms: Any) -> Any:
    await api.post("/api/programs", {**PEAK, **terms}, status=201)
    await api.put(f"/api/programs/peak/vens/{ven_id}", None, status=200)
    for device in devices:
        await api.put(f"/api/programs/peak/devices/{device}", None, status=200)
    return await api.get("/api/programs/peak")


async def direct_event(
    api: Api, clock: MutableClock, start_in: int, minutes: int, status: int
) -> Any:
    """``POST /api/events`` for device a2 in program peak."""
    body = {"start_time": in_minutes(start_in, clock), "duration_minutes": minutes,
            "devices": ["a2"], "target_kw": 1.0, "program_id": "peak"}  # fmt: skip
    return await api.post("/api/events", body, status=status)


async def test_an_invitation_in_a_second_program_reaches_its_ven_with_that_programs_terms(
    api: Api, vens: RawVens, clock: MutableClock
) -> None:
    ven = await registered(api, vens, "ven-a", {"a1": "ra1", "a2": "ra2"})
    await peak_with(api, "ven-a", ["a1"])
    default = await api.get("/api/programs/default")
    # 45 % of the load: level 1 in peak's table (3 in the default one).
    in_peak = await api.invite(
        ["a1"], event_time=in_minutes(10, clock), duration_minutes=30,
        load_kwh=1.0, load_percentage=45.0, program_id="peak",
    )  # fmt: skip
    in_default = await api.invite(
        ["a2"], event_time=in_minutes(60, clock), duration_minutes=30,
        load_kwh=1.0, load_percentage=45.0,
    )  # fmt: skip
    assert (in_peak["program_id"], in_default["program_id"]) == ("peak", "default")
    assert (await api.get(f"/api/invitations/{in_peak['id']}"))["program_id"] == "peak"

    answer = await ven.poll()
    assert answer.message_type == "oadrDistributeEvent", answer.body[:300]
    peak_event, default_event = answer.event(in_peak["id"]), answer.event(in_default["id"])
    assert (peak_event.market_context, peak_event.priority, peak_event.test_event) == (
        "oadr://utility/peak", 7, "true",
    )  # fmt: skip
    assert [i.values for i in peak_event.signal("SIMPLE").intervals] == [(1.0,)]
    assert (default_event.market_context, default_event.priority) == (
        default["market_context"], default["priority"],
    )  # fmt: skip
    assert [i.values for i in default_event.signal("SIMPLE").intervals] == [(3.0,)]

    scheduled = await api.answer(in_peak["id"], "a1", "YES", committed_kw=1.0)
    event = await api.get(f"/api/events/{scheduled['event_id']}")
    assert event["program_id"] == "peak"  # an event made from an invitation is in its program


async def test_devices_or_programs_that_do_not_fit_are_refused_and_nothing_is_made(
    api: Api, vens: RawVens, clock: MutableClock
) -> None:
    await registered(api, vens, "ven-a", {"a1": "ra1", "a2": "ra2", "a3": "ra3"})
    await peak_with(api, "ven-a", ["a1"])
    refused = await api.invite(["a1", "a2", "a3"], status=422, program_id="peak")
    assert [(f["field"], f["message"]) for f in refused["fields"]] == [
        ("devices", "not taking part in program peak: a2, a3")
    ]
    unknown = await api.invite(["a1"], status=422, program_id="nope")
    assert [f["field"] for f in unknown["fields"]] == ["program_id"]
    direct = await direct_event(api, clock, start_in=30, minutes=30, status=422)
    assert [f["field"] for f in direct["fields"]] == ["devices"]
    assert (await api.get("/api/invitations"))["count"] == 0
    assert (await api.get("/api/events"))["count"] == 0
    # A modification keeps the program: it cannot name another, and its devices are checked.
    made = await api.invite(["a1"], program_id="peak")
    moved = await api.put(
        f"/api/invitations/{made['id']}",
        {"event_time": made["event_time"], "load_kwh": 1.0, "devices": ["a1"],
         "program_id": "default"},
        status=422,
    )  # fmt: skip
    assert [f["field"] for f in moved["fields"]] == ["program_id"]
    widened = await api.put(
        f"/api/invitations/{made['id']}",
        {"event_time": made["event_time"], "load_kwh": 1.0, "devices": ["a1", "a2"]},
        status=422,
    )
    assert [f["field"] for f in widened["fields"]] == ["devices"]
    kept = await api.put(
        f"/api/invitations/{made['id']}",
        {"event_time": made["event_time"], "load_kwh": 2.0, "devices": ["a1"]},
        status=200,
    )
    assert kept["program_id"] == "peak"


async def test_a_program_that_refuses_overlaps_refuses_them(
    api: Api, vens: RawVens, clock: MutableClock
) -> None:
    await registered(api, vens, "ven-a", {"a1": "ra1", "a2": "ra2"})
    await peak_with(api, "ven-a", ["a1", "a2"], refuse_overlap=True)
    first = await api.invite(
        ["a1"], event_time=in_minutes(10, clock), duration_minutes=30, program_id="peak"
    )
    clash = await api.invite(
        ["a2"], status=409, event_time=in_minutes(20, clock), duration_minutes=30,
        program_id="peak",
    )  # fmt: skip
    assert first["id"] in clash["message"], clash
    direct = await direct_event(api, clock, start_in=39, minutes=30, status=409)
    assert first["id"] in direct["message"], direct
    # Touching ends do not overlap; the default program allows overlaps.
    await api.invite(
        ["a2"], event_time=in_minutes(40, clock), duration_minutes=30, program_id="peak"
    )
    await api.invite(["a2"], event_time=in_minutes(20, clock), duration_minutes=30)
    # Once the first is scheduled, its event holds the time; once cancelled, it frees it.
    scheduled = await api.answer(first["id"], "a1", "YES", committed_kw=1.0)
    assert scheduled["status"] == "scheduled"
    again = await direct_event(api, clock, start_in=5, minutes=10, status=409)
    assert scheduled["event_id"] in again["message"], again
    await api.post(f"/api/invitations/{first['id']}/cancel", {}, status=200)
    await api.invite(
        ["a2"], event_time=in_minutes(20, clock), duration_minutes=20, program_id="peak"
    )


async def test_a_program_patch_changes_what_the_ven_sees_on_its_next_poll(
    api: Api, vens: RawVens, clock: MutableClock
) -> None:
    ven = await registered(api, vens, "ven-a", {"a1": "ra1"})
    await peak_with(api, "ven-a", ["a1"])
    invitation = await api.invite(
        ["a1"], event_time=in_minutes(10, clock), duration_minutes=30,
        load_kwh=1.0, load_percentage=45.0, program_id="peak",
    )  # fmt: skip
    first = (await ven.poll()).event(invitation["id"])
    assert (first.market_context, first.priority, first.modification_number) == (
        "oadr://utility/peak", 7, 0,
    )  # fmt: skip
    assert (await ven.poll()).message_type == "oadrResponse"  # nothing new

    await api.patch(
        "/api/programs/peak",
        {"market_context": "oadr://utility/peak-2", "priority": 2, "test_events": False,
         "simple_levels": [{"upper_bound_percentage": 40.0, "level": 2},
                           {"upper_bound_percentage": 100.0, "level": 3}]},
        status=200,
    )  # fmt: skip
    answer = await ven.poll()
    assert answer.message_type == "oadrDistributeEvent", answer.body[:300]
    event = answer.event(invitation["id"])
    assert (event.market_context, event.priority, event.test_event) == (
        "oadr://utility/peak-2", 2, "false",
    )  # fmt: skip
    assert event.modification_number == 1  # new terms come with a new modificationNumber
    assert [i.values for i in event.signal("SIMPLE").intervals] == [(3.0,)]
    # A change VENs do not see (the description) sends nothing.
    await api.patch("/api/programs/peak", {"description": "winter peaks"}, status=200)
    assert (await ven.poll()).message_type == "oadrResponse"


async def test_a_program_change_reloads_only_the_vens_it_concerns(
    client: TestClient[Any, Any], api: Api, vens: RawVens, clock: MutableClock
) -> None:
    state = client.app[VTN].state

    async def subscribed() -> bool:
        return state.subscribed

    await eventually(subscribed)  # unsubscribed, its entries expire in 2 s (a loaded machine)
    ven_a = await registered(api, vens, "ven-a", {"a1": "ra1"})
    ven_b = await registered(api, vens, "ven-b", {"b1": "rb1"})
    await peak_with(api, "ven-a", ["a1"])
    await api.invite(["a1"], event_time=in_minutes(10, clock), program_id="peak")
    await ven_a.poll()
    await ven_b.poll()
    entry_a, entry_b = await state.get("ven-a"), await state.get("ven-b")
    await api.patch("/api/programs/peak", {"priority": 3}, status=200)
    assert await state.get("ven-b") is entry_b  # it holds none of the program's events
    entry_a = await state.get("ven-a")
    assert entry_a is not None
    assert [e.program.terms.priority for e in entry_a.events] == [3]
    # Enrolling a VEN marks that VEN, and no other.
    await api.put("/api/programs/peak/vens/ven-b", None, status=200)
    assert await state.get("ven-a") is entry_a
    assert await state.get("ven-b") is not entry_b


async def test_a_ven_gets_a_programs_events_only_while_it_takes_part(
    api: Api, vens: RawVens, clock: MutableClock
) -> None:
    ven_a = await registered(api, vens, "ven-a", {"a1": "ra1"})
    ven_b = await registered(api, vens, "ven-b", {"b1": "rb1"})
    await peak_with(api, "ven-a", ["a1", "b1"])  # b1 is enrolled, its VEN is not
    refused = await api.invite(["a1", "b1"], status=422, program_id="peak")
    assert [(f["field"], f["message"]) for f in refused["fields"]] == [
        ("devices", "not taking part in program peak: b1")
    ]
    made = await api.invite(["a1"], event_time=in_minutes(10, clock), program_id="peak")
    assert [e.event_id for e in (await ven_a.poll()).events] == [made["id"]]
    assert (await ven_b.poll()).message_type == "oadrResponse"  # nothing for ven-b
    # Taken out of the program, ven-a is sent a distribute without the event (2.0b: an
    # event missing from it is gone), and no longer sees it.
    await api.delete("/api/programs/peak/vens/ven-a", status=200)
    gone = await ven_a.poll()
    assert (gone.message_type, gone.events) == ("oadrDistributeEvent", [])
    assert (await ven_a.poll()).message_type == "oadrResponse"
    # Enrolled again, it is sent the event again.
    await api.put("/api/programs/peak/vens/ven-a", None, status=200)
    assert [e.event_id for e in (await ven_a.poll()).events] == [made["id"]]
