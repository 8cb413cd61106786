"""PATCH and DELETE /api/devices/{id} through HTTP: a device moves or goes only when nothing
open counts on it, and a refusal names what does and changes nothing."""

from __future__ import annotations

from typing import Any

from tests.support import AUTH, Api, in_minutes


async def delete(api: Api, path: str) -> tuple[int, Any]:
    resp = await api.client.delete(path, headers=AUTH)
    body = await resp.json() if resp.status != 204 else None
    return resp.status, body


async def test_a_device_changes_time_zone_vens_and_resource(api: Api) -> None:
    for ven in ("ven-a", "ven-b"):
        await api.post("/api/vens", {"name": ven, "ven_id": ven}, status=201)
    await api.device("d1", ven_id="ven-a", resource_id="r1")
    moved = await api.patch(
        "/api/devices/d1",
        {"timezone": "Europe/Paris", "ven_id": "ven-b", "resource_id": "r9"},
        status=200,
    )
    assert (moved["timezone"], moved["ven_id"], moved["resource_id"]) == (
        "Europe/Paris", "ven-b", "r9",
    )  # fmt: skip
    assert (await api.get("/api/vens/ven-a"))["devices"] == 0
    assert (await api.get("/api/vens/ven-b"))["devices"] == 1
    # Only the time zone: the VEN and resource stay.
    kept = await api.patch("/api/devices/d1", {"timezone": "UTC"}, status=200)
    assert (kept["timezone"], kept["ven_id"], kept["resource_id"]) == ("UTC", "ven-b", "r9")
    detached = await api.patch("/api/devices/d1", {"ven_id": None}, status=200)
    assert (detached["ven_id"], detached["resource_id"]) == (None, None)
    assert (await api.get("/api/vens/ven-b"))["devices"] == 0


async def test_bad_changes_are_422_or_409_and_change_nothing(api: Api) -> None:
    await api.post("/api/vens", {"name": "ven-a", "ven_id": "ven-a"}, status=201)
    await api.device("d1", ven_id="ven-a", resource_id="r1")
    await api.device("d2", ven_id="ven-a", resource_id="r2")
    await api.device("d3")
    before = await api.get("/api/devices")
    empty = await api.patch("/api/devices/d1", {}, status=422)
    assert empty["fields"][0]["field"] == "body"
    zone = await api.patch("/api/devices/d1", {"timezone": "Mars/Olympus"}, status=422)
    assert zone["fields"][0]["field"] == "timezone"
    unknown = await api.patch("/api/devices/d1", {"colour": "red"}, status=422)
    assert unknown["error"] == "validation_failed"
    orphan = await api.patch("/api/devices/d3", {"resource_id": "r7"}, status=409)
    assert "no VEN" in orphan["message"]
    clash = await api.patch("/api/devices/d2", {"resource_id": "r1"}, status=409)
    assert "r1" in clash["message"]
    missing = await api.patch("/api/devices/nope", {"timezone": "UTC"}, status=404)
    assert missing["error"] == "not_found"
    assert await api.get("/api/devices") == before


async def test_a_device_a_pending_invitation_names_keeps_its_ven_until_it_closes(
    api: Api,
) -> None:
    await api.post("/api/vens", {"name": "ven-a", "ven_id": "ven-a"}, status=201)
    await api.device("d1", ven_id="ven-a", resource_id="r1")
    invitation = await api.invite(["d1"])
    refused = await api.patch("/api/devices/d1", {"ven_id": None}, status=409)
    assert invitation["id"] in refused["message"], refused
    assert "pending invitation" in refused["message"]
    assert (await api.get("/api/devices/d1"))["ven_id"] == "ven-a"
    status, held = await delete(api, "/api/devices/d1")
    assert (status, invitation["id"] in held["message"]) == (409, True), held
    # The time zone is not what the VEN was told: it may change.
    assert (await api.patch("/api/devices/d1", {"timezone": "Asia/Tokyo"}, status=200))[
        "timezone"
    ] == "Asia/Tokyo"
    await api.post(f"/api/invitations/{invitation['id']}/cancel", {}, status=200)
    # Closed, the invitation is history: the device may move, not be deleted.
    assert (await api.patch("/api/devices/d1", {"ven_id": None}, status=200))["ven_id"] is None
    status, history = await delete(api, "/api/devices/d1")
    assert (status, "past" in history["message"]) == (409, True), history
    assert (await api.get("/api/devices/d1"))["id"] == "d1"


async def test_a_device_in_an_open_event_is_refused_naming_the_event(api: Api) -> None:
    await api.device("d1")
    event = await api.post(
        "/api/events",
        {"start_time": in_minutes(60), "duration_minutes": 30, "devices": ["d1"],
         "target_kw": 2.0},
        status=201,
    )  # fmt: skip
    status, held = await delete(api, "/api/devices/d1")
    assert status == 409
    assert event["id"] in held["message"]
    assert "open event" in held["message"]
    assert (await api.get("/api/devices/d1"))["id"] == "d1"


async def test_a_device_nothing_names_is_deleted_with_its_instructions(api: Api) -> None:
    await api.device("d1", timezone="Europe/Berlin")
    await api.put(
        "/api/devices/d1/instructions", {"instructions": {"18": "participation"}}, status=200
    )
    program = await api.post(
        "/api/programs",
        {"id": "p1", "name": "Peak", "market_context": "http://example.com/peak"},
        status=201,
    )
    await api.put(f"/api/programs/{program['id']}/devices/d1", {}, status=200)
    status, body = await delete(api, "/api/devices/d1")
    assert (status, body) == (204, None)
    await api.get("/api/devices/d1", status=404)
    await api.get("/api/devices/d1/instructions", status=404)
    assert "d1" not in str(await api.get("/api/programs/p1"))
    status, again = await delete(api, "/api/devices/d1")
    assert (status, again["error"]) == (404, "not_found")
    # The id is free again.
    assert (await api.device("d1"))["timezone"] == "UTC"
    fresh = await api.get("/api/devices/d1/instructions")
    assert set(fresh["instructions"].values()) == {"off"}
