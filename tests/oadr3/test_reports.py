"""3.x reports: a VEN's are its own (Definition.md: "return the list of objects with
matching clientID"), their power reaches the power bus, and business logic reads the
executor's results of a finished event as a report."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from redis.asyncio import Redis
from sqlalchemy import select

from gateway.db.models import EventDeviceRow, EventRow
from gateway.oadr3.objects import Kind
from gateway.oadr3.privacy import Reader
from gateway.oadr3.representations import representation
from gateway.services.container import Services
from tests.oadr3.conftest import MakePeer
from tests.oadr3.peers import Peer
from tests.support import Api, ChannelRecorder, in_minutes


async def _site(peer: Peer, name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    site = await peer.ok("create_ven", {"objectType": "VEN_VEN_REQUEST", "venName": name},
                         status=201)  # fmt: skip
    meter = await peer.ok("create_resource", {"resourceName": "meter", "venID": site["id"]},
                          status=201)  # fmt: skip
    return site, meter


def _usage(event_id: str, kwh: float | None, start: datetime) -> dict[str, Any]:
    return {
        "eventID": event_id, "clientName": "me",
        "resources": [{"resourceName": "meter",
                       "intervalPeriod": {"start": start.isoformat(), "duration": "PT15M"},
                       "intervals": [{"id": 0, "payloads": [
                           {"type": "USAGE", "values": [] if kwh is None else [kwh]}]}]}],
    }  # fmt: skip


async def test_reports_are_private_and_usage_reaches_the_bus_as_mean_power(
    api: Api, peers: MakePeer, redis: Redis, services: Services
) -> None:
    ven_a, ven_b = await peers("VEN", "ven-a"), await peers("VEN", "ven-b")
    bl = await peers("BL", "bl-1")
    no_site = await ven_a.call("create_report", _usage("x", 1.0, datetime.now(UTC)))
    assert no_site.status_code == 403  # no ven object yet
    _, meter_a = await _site(ven_a, "site-a")
    await _site(ven_b, "site-b")
    event = await api.post("/api/events", {"start_time": in_minutes(30), "duration_minutes": 15,
                                           "devices": [meter_a["id"]], "target_kw": 1.0},
                           status=201)  # fmt: skip
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=15)
    made = await ven_a.ok("create_report", _usage(event["id"], 0.5, start), status=201)
    raw = await redis.get(f"{services.settings.redis_prefix}power:{meter_a['id']}")
    assert raw is not None
    assert json.loads(raw)["kw"] == 2.0  # 0.5 kWh over 15 minutes
    assert [r["id"] for r in await ven_a.ok("get_reports")] == [made["id"]]
    assert await ven_b.ok("get_reports") == []
    assert (await ven_b.call("get_report_by_id", made["id"])).status_code == 404
    assert (await ven_b.call("delete_report", made["id"])).status_code == 404
    assert [r["id"] for r in await bl.ok("get_reports")] == [made["id"]]
    unknown = await ven_b.call("create_report", _usage(event["id"], 0.5, start))
    assert unknown.status_code == 400  # not an event of ven-b's
    # A missing value (no value; null is not one the spec allows) is missing: nothing new.
    await redis.delete(f"{services.settings.redis_prefix}power:{meter_a['id']}")
    await ven_a.ok("update_report", made["id"], _usage(event["id"], None, start))
    assert await redis.get(f"{services.settings.redis_prefix}power:{meter_a['id']}") is None


async def test_the_executors_results_are_a_report_for_business_logic(
    api: Api, peers: MakePeer, services: Services
) -> None:
    ven = await peers("VEN", "ven-a")
    bl = await peers("BL", "bl-1")
    _, meter = await _site(ven, "site-a")
    event = await api.post("/api/events", {"start_time": in_minutes(30), "duration_minutes": 15,
                                           "devices": [meter["id"]], "target_kw": 1.0},
                           status=201)  # fmt: skip
    # What the executor writes when the event ends (its own tests cover how it measures).
    async with services.db.write() as session:
        row = await session.get(EventRow, event["id"])
        assert row is not None
        row.status = "completed"
        device = await session.scalar(
            select(EventDeviceRow).where(EventDeviceRow.event_id == event["id"])
        )
        assert device is not None
        device.baseline_kw, device.average_reduction_kw = 4.0, 1.2
        device.energy_reduction_kwh = None  # not measured: left out, never 0
    [result] = await bl.ok("get_reports", eventID=event["id"])
    assert result["clientName"] == "oadr-gateway-executor"
    [resource] = result["resources"]
    assert resource["resourceName"] == "meter"
    payloads = {p["type"]: p["values"] for p in resource["intervals"][0]["payloads"]}
    assert payloads == {"BASELINE": [4.0], "LOAD_SHED_DELTA_AVAILABLE": [1.2]}
    assert (await bl.ok("get_report_by_id", result["id"]))["eventID"] == event["id"]
    assert await ven.ok("get_reports") == []


async def test_changes_only_the_3x_api_makes_are_announced_on_dr_events(
    api: Api, peers: MakePeer, dr_events: ChannelRecorder
) -> None:
    """What the notifications hear (``gateway.oadr3.notify``): each change, with its id."""
    ven = await peers("VEN", "ven-a")
    bl = await peers("BL", "bl-1")
    site, meter = await _site(ven, "site-a")
    event = await bl.ok("create_event", {
        "programID": "default", "intervalPeriod": {"start": in_minutes(30), "duration": "PT15M"},
        "intervals": [{"id": 0, "payloads": [{"type": "SIMPLE", "values": [1]}]}],
    }, status=201)  # fmt: skip
    report = await ven.ok("create_report", _usage(event["id"], 0.5, datetime.now(UTC)),
                          status=201)  # fmt: skip
    await bl.ok("update_ven", site["id"], {"clientID": "ven-a", "venName": "site-a",
                                           "targets": ["t"]})  # fmt: skip
    await ven.ok("delete_report", report["id"])
    await bl.ok("delete_event", event["id"])
    assert (await ven.call("delete_resource", meter["id"])).status_code == 400  # its history
    spare = await ven.ok("create_resource", {"resourceName": "spare", "venID": site["id"]},
                         status=201)  # fmt: skip
    await ven.ok("delete_resource", spare["id"])
    expected = [
        ("oadr3_event_created", "event_id", event["id"]),
        ("oadr3_report_created", "report_id", report["id"]),
        ("oadr3_ven_updated", "ven_id", site["id"]),
        ("oadr3_report_deleted", "report_id", report["id"]),
        ("oadr3_event_deleted", "event_id", event["id"]),
        ("oadr3_resource_deleted", "resource_id", spare["id"]),
    ]

    def arrived(messages: list[dict[str, Any]]) -> bool:
        return all(any(m["event"] == e and m.get(k) == v for m in messages) for e, k, v in expected)

    await dr_events.wait_for(arrived)
    ours = [m["event"] for m in dr_events.messages if m["event"].startswith("oadr3_")]
    assert ours == [e for e, _, _ in expected]


async def test_every_kind_is_represented_as_the_api_answers_it(
    api: Api, peers: MakePeer, services: Services
) -> None:
    ven = await peers("VEN", "ven-a")
    bl = await peers("BL", "bl-1")
    site, meter = await _site(ven, "site-a")
    program = await bl.ok("create_program", {"programName": "P", "targets": ["t"]}, status=201)
    event = await bl.ok("create_event", {
        "programID": "default", "intervalPeriod": {"start": in_minutes(30), "duration": "PT15M"},
        "intervals": [{"id": 0, "payloads": [{"type": "SIMPLE", "values": [1]}]}],
    }, status=201)  # fmt: skip
    report = await ven.ok("create_report", _usage(event["id"], 0.5, datetime.now(UTC)),
                          status=201)  # fmt: skip
    for kind, made, read in [
        (Kind.PROGRAM, program, ("get_program_by_id", program["id"])),
        (Kind.VEN, site, ("get_ven_by_id", site["id"])),
        (Kind.RESOURCE, meter, ("get_resource_by_id", meter["id"])),
        (Kind.EVENT, event, ("get_event_by_id", event["id"])),
        (Kind.REPORT, report, ("get_report_by_id", report["id"])),
    ]:
        shown = await representation(services, kind, made["id"])
        assert shown == await bl.ok(*read), kind
    assert await representation(services, Kind.PROGRAM, "nope") is None
    hidden = Reader(frozenset({"other"}), None)
    assert await representation(services, Kind.PROGRAM, program["id"], hidden) is None
    invitation = await api.invite([meter["id"]])
    shown = await representation(services, Kind.EVENT, invitation["id"])
    assert shown is None  # not scheduled yet: no core event
