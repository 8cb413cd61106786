"""One program, a 3.x VEN (the stock ``openadr3`` client) and a 2.0b VEN (the raw-XML VEN of
``tests.oadr20b``): both receive an event made by a 3.x business-logic client and one made as
an invitation in the admin API; the 3.x VEN's telemetry reaches the power bus and its OPT
report is its devices' answer (issue #11's done-when, docs/oadr3.md)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from tests.oadr3.conftest import MakePeer
from tests.oadr20b.ven import RawVens, raw_vens
from tests.support import Api
from tests.vtn.raw_ven import registered


@pytest.fixture
async def vens(client: TestClient[Any, Any]) -> AsyncIterator[RawVens]:
    async with raw_vens(str(client.make_url("/OpenADR2/Simple/2.0b"))) as made:
        yield made


def _at(minutes: float) -> str:
    at = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=minutes)
    return at.isoformat().replace("+00:00", "Z")


async def _world(api: Api, vens: RawVens, peers: MakePeer) -> dict[str, Any]:
    program = {"id": "peak", "name": "Peak", "market_context": "oadr://utility/peak"}
    await api.post("/api/programs", program, status=201)
    ven_2b = await registered(api, vens, "ven-2b", {"d2b": "r2b"})
    ven_3x = await peers("VEN", "ven-3x")
    bl = await peers("BL", "bl-1")
    site = await ven_3x.ok("create_ven", {"objectType": "VEN_VEN_REQUEST", "venName": "site-3x"},
                           status=201)  # fmt: skip
    meter = await ven_3x.ok("create_resource", {
        "objectType": "VEN_RESOURCE_REQUEST", "resourceName": "meter", "venID": site["id"],
    }, status=201)  # fmt: skip
    for path in ("vens/ven-2b", "devices/d2b", f"vens/{site['id']}", f"devices/{meter['id']}"):
        await api.put(f"/api/programs/peak/{path}", None, status=200)
    return {"ven_2b": ven_2b, "ven_3x": ven_3x, "bl": bl, "site": site, "meter": meter}


async def test_both_vens_get_a_3x_event_and_an_invitation_and_3x_telemetry_reaches_the_bus(
    api: Api, vens: RawVens, peers: MakePeer, redis: Redis, settings: Any
) -> None:
    world = await _world(api, vens, peers)
    ven_2b, ven_3x, bl = world["ven_2b"], world["ven_3x"], world["bl"]

    made = await bl.ok("create_event", {
        "programID": "peak", "eventName": "evening", "priority": 3, "targets": None,
        "intervalPeriod": {"start": _at(10), "duration": "PT15M"},
        "payloadDescriptors": [{"objectType": "EVENT_PAYLOAD_DESCRIPTOR", "payloadType": "PRICE",
                                "units": "KWH", "currency": "USD"}],
        "intervals": [
            {"id": 0, "payloads": [{"type": "SIMPLE", "values": [1]},
                                   {"type": "PRICE", "values": [0.25]},
                                   {"type": "ALERT_OTHER", "values": ["heads up"]}]},
            {"id": 1, "payloads": [{"type": "SIMPLE", "values": [2]},
                                   {"type": "PRICE", "values": [0.4]}]},
        ],
    }, status=201)  # fmt: skip
    # The 2.0b VEN: an oadrEvent of the program, its intervals as SIMPLE and price signals.
    told = (await ven_2b.poll()).event(made["id"])
    assert told.market_context == "oadr://utility/peak"
    assert told.priority == 3
    assert [i.values for i in told.signal("SIMPLE").intervals] == [(1.0,), (2.0,)]
    price = told.signal("ELECTRICITY_PRICE")
    assert (price.signal_type, [i.values for i in price.intervals]) == ("price", [(0.25,), (0.4,)])
    assert price.item_base == ("currencyPerKWh", "currencyPerKWh", "USD")  # the descriptor's
    assert sorted(s.name for s in told.signals) == ["ELECTRICITY_PRICE", "SIMPLE"]
    # The 3.x VEN: the event as made, ALERT_OTHER (no 2.0b signal) included.
    [seen] = await ven_3x.ok("get_events")
    assert seen["id"] == made["id"]
    assert seen["intervals"] == made["intervals"]
    assert seen["programID"] == "peak"

    invitation = await api.post("/api/invitations", {
        "program_id": "peak", "event_time": _at(60), "duration_minutes": 30,
        "load_percentage": 30, "load_kwh": 3, "devices": ["d2b", world["meter"]["id"]],
    }, status=201)  # fmt: skip
    told = (await ven_2b.poll()).event(invitation["id"])
    assert [s.name for s in told.signals] == ["SIMPLE", "LOAD_DISPATCH"]
    events = {e["id"]: e for e in await ven_3x.ok("get_events")}
    assert set(events) == {made["id"], invitation["id"]}
    invited = events[invitation["id"]]
    assert invited["intervalPeriod"]["duration"] == "PT30M"
    payloads = {p["type"]: p["values"] for p in invited["intervals"][0]["payloads"]}
    assert payloads["SIMPLE"] == [told.signal("SIMPLE").intervals[0].values[0]]
    assert payloads["SIMPLE"] == [2]  # 30 % of load: the program's level 2
    # A reduction of the 3.x VEN's share of 6 kW (3 kWh over 30 minutes, two devices).
    assert payloads["DISPATCH_SETPOINT_RELATIVE"] == [-3.0]
    assert told.signal("LOAD_DISPATCH").intervals[0].values == (3.0,)
    assert (await ven_3x.ok("get_event_by_id", invitation["id"]))["id"] == invitation["id"]

    # The 3.x VEN's participation and its telemetry.
    now = datetime.now(UTC).replace(microsecond=0)
    report = await ven_3x.ok("create_report", {
        "eventID": invitation["id"], "clientName": "site-3x", "reportName": None,
        "payloadDescriptors": [{"objectType": "REPORT_PAYLOAD_DESCRIPTOR",
                                "payloadType": "DEMAND", "units": "KW", "readingType": None}],
        "resources": [{"resourceName": "meter", "intervals": [{
            "id": 0, "intervalPeriod": {"start": now.isoformat(), "duration": "PT0S"},
            "payloads": [{"type": "DEMAND", "values": [3.5]},
                         {"type": "OPT", "values": ["OPT_IN"]}],
        }]}],
    }, status=201)  # fmt: skip
    assert report["clientID"] == "ven-3x"
    assert report["programID"] == "peak"
    raw = await redis.get(f"{settings.redis_prefix}power:{world['meter']['id']}")
    assert raw is not None
    reading = json.loads(raw)
    assert reading["kw"] == 3.5
    assert reading["source"] == "ven"
    answers = (await api.get(f"/api/invitations/{invitation['id']}"))["answers"]
    assert [(a["device_id"], a["answer"]) for a in answers] == [(world["meter"]["id"], "YES")]
    # Business logic reads the VEN's report; another VEN would not.
    assert [r["id"] for r in await bl.ok("get_reports", eventID=invitation["id"])] == [report["id"]]


async def test_a_price_in_a_currency_reaches_3x_vens_in_its_payload_descriptor(
    api: Api, vens: RawVens, peers: MakePeer
) -> None:
    world = await _world(api, vens, peers)
    made = await api.post("/api/events", {
        "program_id": "peak", "start_time": _at(20), "duration_minutes": 10,
        "devices": ["d2b", world["meter"]["id"]],
        "signals": [{"name": "ELECTRICITY_PRICE", "type": "price", "units": "currencyPerKWh",
                     "currency": "EUR", "intervals": [{"duration_minutes": 10, "value": 0.3}]}],
    }, status=201)  # fmt: skip
    [seen] = await world["ven_3x"].ok("get_events")
    assert seen["id"] == made["id"]
    descriptors = {d["payloadType"]: d for d in seen["payloadDescriptors"]}
    assert descriptors["PRICE"]["currency"] == "EUR"
    [read] = [e for e in await world["bl"].ok("get_events") if e["id"] == made["id"]]
    assert {d["payloadType"]: d.get("currency") for d in read["payloadDescriptors"]} == {
        "PRICE": "EUR"
    }
    told = (await world["ven_2b"].poll()).event(made["id"])
    assert told.signal("ELECTRICITY_PRICE").item_base == ("currencyPerKWh", "currencyPerKWh", "EUR")


async def test_a_price_in_no_iso_4217_currency_is_refused_and_nothing_is_made(
    api: Api, vens: RawVens, peers: MakePeer
) -> None:
    world = await _world(api, vens, peers)
    body = {
        "programID": "peak", "eventName": "bad", "targets": None,
        "intervalPeriod": {"start": _at(10), "duration": "PT15M"},
        "payloadDescriptors": [{"objectType": "EVENT_PAYLOAD_DESCRIPTOR", "payloadType": "PRICE",
                                "units": "KWH", "currency": "dollars"}],
        "intervals": [{"id": 0, "payloads": [{"type": "PRICE", "values": [0.25]}]}],
    }  # fmt: skip
    problem = await world["bl"].ok("create_event", body, status=400)
    assert "currency" in str(problem)
    assert await world["bl"].ok("get_events") == []
    assert (await api.get("/api/events"))["items"] == []


async def test_deleting_a_3x_event_cancels_it_for_2b_vens(
    api: Api, vens: RawVens, peers: MakePeer
) -> None:
    world = await _world(api, vens, peers)
    made = await world["bl"].ok("create_event", {
        "programID": "peak", "intervalPeriod": {"start": _at(10), "duration": "PT30M"},
        "intervals": [{"id": 0, "payloads": [{"type": "DISPATCH_SETPOINT", "values": [5]}]}],
    }, status=201)  # fmt: skip
    told = (await world["ven_2b"].poll()).event(made["id"])
    dispatch = told.signal("LOAD_DISPATCH")
    assert (dispatch.signal_type, dispatch.intervals[0].values) == ("setpoint", (5.0,))
    await world["bl"].ok("delete_event", made["id"])
    assert (await world["ven_2b"].poll()).event(made["id"]).status == "cancelled"
    assert await world["ven_3x"].ok("get_events") == []


async def test_an_event_the_core_cannot_schedule_stays_a_3x_event(
    api: Api, vens: RawVens, peers: MakePeer
) -> None:
    world = await _world(api, vens, peers)
    long = await world["bl"].ok("create_event", {
        "programID": "peak", "intervalPeriod": {"start": _at(10), "duration": "PT25H"},
        "intervals": [{"id": 0, "payloads": [{"type": "SIMPLE", "values": [1]}]}],
    }, status=201)  # fmt: skip
    alert = await world["bl"].ok("create_event", {
        "programID": "peak", "intervalPeriod": {"start": _at(10), "duration": "PT1H"},
        "intervals": [{"id": 0, "payloads": [{"type": "ALERT_FLEX_ALERT", "values": ["x"]}]}],
    }, status=201)  # fmt: skip
    assert (await world["ven_2b"].poll()).message_type == "oadrResponse"  # nothing for 2.0b
    seen = {e["id"] for e in await world["ven_3x"].ok("get_events")}
    assert seen == {long["id"], alert["id"]}
    bad = await world["bl"].call("create_event", {
        "programID": "peak", "intervalPeriod": {"start": _at(10), "duration": "PT1H"},
        "intervals": [{"id": 0, "payloads": [{"type": "SIMPLE", "values": [7]}]}],
    })  # fmt: skip
    assert bad.status_code == 400
    assert "SIMPLE level" in bad.json()["detail"]


async def test_a_changed_3x_event_reaches_2b_vens_as_a_modification(
    api: Api, vens: RawVens, peers: MakePeer
) -> None:
    world = await _world(api, vens, peers)
    bl, ven_2b = world["bl"], world["ven_2b"]

    def event(*payloads: dict[str, Any]) -> dict[str, Any]:
        return {"programID": "peak", "intervalPeriod": {"start": _at(10), "duration": "PT30M"},
                "intervals": [{"id": 0, "payloads": list(payloads)}]}  # fmt: skip

    made = await bl.ok("create_event", event({"type": "SIMPLE", "values": [1]}), status=201)
    told = (await ven_2b.poll()).event(made["id"])
    assert (told.modification_number, told.signal("SIMPLE").intervals[0].values) == (0, (1.0,))
    changed = event({"type": "SIMPLE", "values": [3]})
    assert (await bl.ok("update_event", made["id"], changed))["intervals"] == changed["intervals"]
    told = (await ven_2b.poll()).event(made["id"])
    assert (told.modification_number, told.signal("SIMPLE").intervals[0].values) == (1, (3.0,))
    [seen] = await world["ven_3x"].ok("get_events")
    assert seen["intervals"] == changed["intervals"]
    # Nothing 2.0b can carry any more: its event is cancelled for 2.0b VENs.
    await bl.ok("update_event", made["id"], event({"type": "ALERT_OTHER", "values": ["x"]}))
    assert (await ven_2b.poll()).event(made["id"]).status == "cancelled"
    moved = {**event({"type": "SIMPLE", "values": [2]}), "programID": "default"}
    assert (await bl.call("update_event", made["id"], moved)).status_code == 200  # 3.x only now


async def test_a_vens_events_follow_each_change_at_once(
    api: Api, vens: RawVens, peers: MakePeer
) -> None:
    """Reads right after changes (the VEN's answer is cached between changes)."""
    world = await _world(api, vens, peers)
    ven_3x, bl = world["ven_3x"], world["bl"]
    assert await ven_3x.ok("get_events") == []
    made = await bl.ok("create_event", {
        "programID": "peak", "intervalPeriod": {"start": _at(10), "duration": "PT30M"},
        "intervals": [{"id": 0, "payloads": [{"type": "SIMPLE", "values": [1]}]}],
    }, status=201)  # fmt: skip
    assert [e["id"] for e in await ven_3x.ok("get_events")] == [made["id"]]
    invitation = await api.post("/api/invitations", {
        "program_id": "peak", "event_time": _at(60), "duration_minutes": 30,
        "load_kwh": 3, "devices": [world["meter"]["id"]],
    }, status=201)  # fmt: skip
    assert {e["id"] for e in await ven_3x.ok("get_events")} == {made["id"], invitation["id"]}
    await api.post(f"/api/invitations/{invitation['id']}/cancel", {"reason": "x"}, status=200)
    await bl.ok("delete_event", made["id"])
    assert await ven_3x.ok("get_events") == []
