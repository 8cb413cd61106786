"""PATCH and DELETE /api/vens/{id} through HTTP, seen by a raw-XML 2.0b VEN (not openleadr,
``tests.oadr20b``): a rotated fingerprint is what the VTN checks from the next message on,
and a deprovisioned VEN is told its registration is cancelled (N1_0040: it answers
oadrCanceledPartyRegistration), then is gone; its devices stay, detached."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import func, select

from gateway.db.models import VenMessageRow, VenReportRequestRow, VenReportRow
from gateway.services.container import Services
from tests.oadr20b import messages
from tests.oadr20b.cert.site import exchange, poll_until
from tests.oadr20b.messages import OfferedPoint, OfferedReport
from tests.oadr20b.ven import RawVens, raw_vens
from tests.support import AUTH, Api
from tests.vtn.conftest import VTN_PATH
from tests.vtn.raw_ven import registered


async def delete(api: Api, path: str, status: int) -> Any:
    resp = await api.client.delete(path, headers=AUTH)
    body = await resp.json()
    assert resp.status == status, (resp.status, body)
    return body


@pytest.fixture
async def vens(client: TestClient[Any, Any]) -> AsyncIterator[RawVens]:
    async with raw_vens(str(client.make_url(VTN_PATH))) as made:
        yield made


async def test_a_ven_is_renamed_and_bad_changes_change_nothing(api: Api) -> None:
    for name in ("ven-a", "ven-b"):
        await api.post("/api/vens", {"name": name, "ven_id": name}, status=201)
    renamed = await api.patch("/api/vens/ven-a", {"name": "north feeder"}, status=200)
    assert (renamed["ven_id"], renamed["name"]) == ("ven-a", "north feeder")
    before = await api.get("/api/vens")
    taken = await api.patch("/api/vens/ven-a", {"name": "ven-b"}, status=409)
    assert "ven-b" in taken["message"]
    bad = await api.patch("/api/vens/ven-a", {"fingerprint": "not-hex"}, status=422)
    assert bad["fields"][0]["field"] == "fingerprint"
    await api.patch("/api/vens/ven-a", {}, status=422)
    await api.patch("/api/vens/ven-a", {"poll_seconds": 5}, status=422)
    await api.patch("/api/vens/no-such-ven", {"name": "x"}, status=404)
    assert await api.get("/api/vens") == before
    rotated = await api.patch("/api/vens/ven-a", {"fingerprint": "aa:bb:cc:dd:ee:ff:00:11:22:33"})
    assert rotated["fingerprint"] == "AA:BB:CC:DD:EE:FF:00:11:22:33"
    cleared = await api.patch("/api/vens/ven-a", {"fingerprint": None}, status=200)
    assert cleared["fingerprint"] is None


async def test_an_unregistered_ven_is_deleted_at_once_and_its_devices_detached(
    api: Api,
) -> None:
    await api.post("/api/vens", {"name": "ven-a", "ven_id": "ven-a"}, status=201)
    await api.device("d1", ven_id="ven-a", resource_id="r1")
    await api.post(
        "/api/programs", {"id": "p1", "name": "Peak", "market_context": "http://example.com/p"},
        status=201,
    )  # fmt: skip
    await api.put("/api/programs/p1/vens/ven-a", {}, status=200)
    removed = await delete(api, "/api/vens/ven-a", 200)
    assert removed == {
        "ven_id": "ven-a", "status": "removed", "devices_detached": ["d1"],
        "deprovisioned_at": None,
    }  # fmt: skip
    await api.get("/api/vens/ven-a", status=404)
    device = await api.get("/api/devices/d1")
    assert (device["ven_id"], device["resource_id"]) == (None, None)
    assert "ven-a" not in str(await api.get("/api/programs/p1"))
    assert (await delete(api, "/api/vens/ven-a", 404))["error"] == "not_found"
    # Its name and id are free again.
    await api.post("/api/vens", {"name": "ven-a", "ven_id": "ven-a"}, status=201)


async def test_a_ven_whose_device_a_pending_invitation_names_is_not_removed(api: Api) -> None:
    await api.post("/api/vens", {"name": "ven-a", "ven_id": "ven-a"}, status=201)
    await api.device("d1", ven_id="ven-a", resource_id="r1")
    invitation = await api.invite(["d1"])
    refused = await delete(api, "/api/vens/ven-a", 409)
    assert invitation["id"] in refused["message"], refused
    assert (await api.get("/api/vens/ven-a"))["devices"] == 1
    assert (await api.get("/api/devices/d1"))["ven_id"] == "ven-a"


POINT = OfferedPoint("p1", "ra1", timedelta(seconds=10), timedelta(seconds=60))


async def rows_of(services: Services, ven_id: str) -> dict[str, int]:
    """What the VEN offered, was asked and is owed, counted in the database."""
    counted = {}
    async with services.db.read() as session:
        for table in (VenReportRow, VenReportRequestRow, VenMessageRow):
            query = select(func.count()).select_from(table).where(table.ven_id == ven_id)
            counted[table.__tablename__] = int(await session.scalar(query) or 0)
    return counted


async def test_a_registered_ven_removed_is_told_its_registration_is_cancelled(
    api: Api, vens: RawVens, services: Services
) -> None:
    ven = await registered(api, vens, "ven-a", {"a1": "ra1"})
    assert (await ven.register_reports([OfferedReport("telemetry", [POINT])])).code == 200
    assert (await rows_of(services, "ven-a"))["ven_reports"] == 1
    removed = await delete(api, "/api/vens/ven-a", 200)
    assert (removed["status"], removed["devices_detached"]) == ("cancelling", ["a1"])
    assert removed["deprovisioned_at"] is not None
    waiting = await api.get("/api/vens/ven-a")
    assert waiting["requests_waiting"] == ["cancel_registration"]
    assert waiting["deprovisioned_at"] == removed["deprovisioned_at"]
    assert waiting["devices"] == 0
    # Changing it meanwhile is as for a VEN that is gone.
    await api.patch("/api/vens/ven-a", {"name": "other"}, status=404)

    # Its report was asked for (oadrCreateReport) before it was removed; then the cancel.
    cancel = await poll_until(ven, "oadrCancelPartyRegistration")
    assert cancel.message_type == "oadrCancelPartyRegistration", cancel.body[:300]
    assert cancel.field("ei:registrationID") == ven.registration_id
    assert ven.registration_id is not None
    assert (await rows_of(services, "ven-a"))["ven_report_requests"] == 1
    answered = await exchange(
        ven, "EiRegisterParty",
        messages.canceled_party_registration(
            ven.id, cancel.field("pyld:requestID") or "", ven.registration_id
        ),
        "oadrResponse",
    )  # fmt: skip
    assert answered.empty or answered.code == 200
    await api.get("/api/vens/ven-a", status=404)
    assert (await api.get("/api/devices/a1"))["ven_id"] is None
    # What it offered, was asked and was owed went with it.
    assert await rows_of(services, "ven-a") == {
        "ven_reports": 0, "ven_report_requests": 0, "ven_messages": 0,
    }  # fmt: skip
    # Gone: its registering again is refused (no open enrolment), and so is its poll.
    again = await ven.register()
    assert again.code not in (None, 200), again.body[:300]
    assert (await ven.poll()).code != 200


async def test_removing_a_ven_again_does_not_wait_for_its_answer(api: Api, vens: RawVens) -> None:
    ven = await registered(api, vens, "ven-a", {})
    assert (await delete(api, "/api/vens/ven-a", 200))["status"] == "cancelling"
    assert (await delete(api, "/api/vens/ven-a", 200))["status"] == "removed"
    await api.get("/api/vens/ven-a", status=404)
    assert (await ven.poll()).code != 200


async def test_a_device_moved_to_another_ven_brings_its_next_invitation_there(
    api: Api, vens: RawVens
) -> None:
    ven_a = await registered(api, vens, "ven-a", {"d1": "r1"})
    ven_b = await registered(api, vens, "ven-b", {})
    # Both VENs' views are cached by the VTN once they polled.
    assert (await ven_a.request_event()).events == []
    assert (await ven_b.request_event()).events == []
    await api.patch("/api/devices/d1", {"ven_id": "ven-b", "resource_id": "rb1"}, status=200)
    invitation = await api.invite(["d1"])
    told = await ven_b.request_event()
    assert [e.event_id for e in told.events] == [invitation["id"]]
    assert (await ven_a.request_event()).events == []
