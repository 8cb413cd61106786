"""Everything the VTN would queue for a poll is pushed to a push-mode VEN, and the VEN's
answer in the HTTP response is taken: the VTN's report request, the operator's cancel of the
registration and request to register again; and how the VEN's address is used."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from tests.oadr20b.messages import OfferedPoint, OfferedReport, PowerReal, Reading
from tests.oadr20b.namespaces import findall, text
from tests.push.conftest import PushSite
from tests.push.ven import PushVen

MINUTE = timedelta(minutes=1)


async def _invite(site: PushSite, devices: list[str]) -> str:
    start = (datetime.now(UTC) + timedelta(minutes=10)).isoformat()
    view = await site.api.invite(
        devices, event_time=start, duration_minutes=5, load_kwh=1.0, load_percentage=30.0
    )
    return str(view["id"])


async def test_the_vtns_report_request_is_pushed_and_its_answer_taken(push_site: PushSite) -> None:
    ven, devices = await push_site.push_ven()
    offered = OfferedReport("usage", [OfferedPoint("power", f"{devices[0]}-r", MINUTE, MINUTE,
                                                   PowerReal())])  # fmt: skip
    assert (await ven.raw.register_reports([offered])).code == 200
    create = await ven.wait_for("oadrCreateReport")
    assert create.service == "EiReport"
    [request] = create.answer.report_requests
    # Its oadrCreatedReport went back in the HTTP response; the report it asked for is taken.
    readings = [Reading(r, 1.5, datetime.now(UTC)) for r in request.r_ids]
    assert (await ven.raw.update_report(request, readings)).code == 200
    assert ven.problems == []


async def test_N0_5040_a_cancelled_registration_is_pushed_and_ends_on_the_answer(
    push_site: PushSite,
) -> None:
    ven, _ = await push_site.push_ven()
    path = f"/api/vens/{ven.raw.id}"
    waiting = await push_site.api.post(f"{path}/cancel-registration", {}, status=200)
    assert waiting["requests_waiting"] == ["cancel_registration"]
    cancel = await ven.wait_for("oadrCancelPartyRegistration")
    assert cancel.service == "EiRegisterParty"
    assert cancel.answer.field("ei:registrationID") == ven.raw.registration_id
    for _ in range(40):  # its oadrCanceledPartyRegistration, in the HTTP response, ends it
        view = await push_site.api.get(path)
        if not view["registered"]:
            break
        await asyncio.sleep(0.025)
    assert view["registered"] is False
    assert view["requests_waiting"] == []


async def test_N0_5050_a_request_to_register_again_is_pushed(push_site: PushSite) -> None:
    ven, devices = await push_site.push_ven()
    path = f"/api/vens/{ven.raw.id}"
    await push_site.api.post(f"{path}/request-reregistration", {}, status=200)
    await ven.wait_for("oadrRequestReregistration")
    # N0_5050: it registers again, with the trailing "/" of its address flipped.
    assert (await ven.register(ven.address + "/")).code == 200
    assert (await push_site.api.get(path))["push"]["transport_address"] == ven.address + "/"
    event_id = await _invite(push_site, devices)
    pushed = await ven.wait_for("oadrDistributeEvent")
    assert [e.event_id for e in pushed.answer.events] == [event_id]
    assert pushed.path == "/OpenADR2/Simple/2.0b/EiEvent"


async def test_the_bare_address_convention_is_chosen_per_ven(push_site: PushSite) -> None:
    ven, devices = await push_site.push_ven(prefix="/my/ven", metadata=False)
    path = f"/api/vens/{ven.raw.id}"
    view = await push_site.api.patch(path, {"push_address_style": "bare"}, status=200)
    assert view["push"]["address_style"] == "bare"
    assert (await ven.register(ven.address + "/my/ven")).code == 200
    await _invite(push_site, devices)
    pushed = await ven.wait_for("oadrDistributeEvent")
    assert pushed.path == "/my/ven/EiEvent"
    await push_site.api.patch(path, {"push_address_style": "sideways"}, status=422)
    await push_site.api.patch("/api/vens/nobody", {"push_address_style": "bare"}, status=404)


async def test_a_ven_back_in_pull_mode_polls_for_what_was_waiting(push_site: PushSite) -> None:
    """A failed push told the VEN nothing: back to polling, it gets the event (a push used to
    note the events as told before it was sent)."""
    ven, devices = await push_site.push_ven()
    await ven.stop()
    event_id = await _invite(push_site, devices)
    path = f"/api/vens/{ven.raw.id}"
    for _ in range(400):  # the distribute was tried and failed
        if (await push_site.api.get(path))["push"]["failures"] >= 1:
            break
        await asyncio.sleep(0.025)
    assert (await push_site.api.get(path))["push"]["failures"] >= 1
    await push_site.api.post(f"{path}/request-reregistration", {}, status=200)
    for _ in range(400):  # both in its push outbox (the filler may be slow under load)
        if (await push_site.api.get(path))["push"]["pending"] == 2:
            break
        await asyncio.sleep(0.025)
    assert (await push_site.api.get(path))["push"]["pending"] == 2
    assert (await ven.raw.register()).code == 200  # pull mode now
    view = await push_site.api.get(path)
    assert view["http_pull_model"] is True
    assert view["push"] is None
    assert view["requests_waiting"] == ["request_reregistration"]
    first = await ven.raw.poll()
    assert first.message_type == "oadrRequestReregistration"
    second = await ven.raw.poll()
    assert [e.event_id for e in second.events] == [event_id]


async def test_a_push_ven_must_give_an_http_address(push_site: PushSite) -> None:
    name = "no-address"
    await push_site.api.post("/api/vens", {"name": name, "ven_id": name}, status=201)
    ven = PushVen(push_site.vens(name, ven_id=name))
    for address in ("ftp://127.0.0.1/ven", "not a url", "http://"):
        answer = await ven.register(address)
        assert answer.code == 454, answer.description
    view = await push_site.api.get(f"/api/vens/{name}")
    assert (view["registered"], view["push"]) == (False, None)


async def test_a_piggy_backed_cancel_waits_for_the_ven_s_next_report_not_a_push(
    push_site: PushSite,
) -> None:
    """A cancel the operator asks to piggy-back is told in the oadrUpdatedReport answering the
    VEN's next report, as in pull mode; a push of something else queued with it does not take
    it along (the push outbox used to move it there, and the VEN's pushes stopped at it)."""
    ven, devices = await push_site.push_ven()
    offered = OfferedReport("usage", [OfferedPoint("power", f"{devices[0]}-r", MINUTE, MINUTE,
                                                   PowerReal())])  # fmt: skip
    assert (await ven.raw.register_reports([offered])).code == 200
    [request] = (await ven.wait_for("oadrCreateReport")).answer.report_requests
    path = f"/api/vens/{ven.raw.id}"
    body = {"report_to_follow": False, "piggy_back": True}
    await push_site.api.post(
        f"{path}/report-requests/{request.report_request_id}/cancel", body, status=200
    )
    await push_site.api.post(f"{path}/request-reregistration", {}, status=200)
    await ven.wait_for("oadrRequestReregistration")
    assert [p.answer.message_type for p in ven.received if p.answer.message_type
            == "oadrCancelReport"] == []  # fmt: skip
    readings = [Reading(r, 1.5, datetime.now(UTC)) for r in request.r_ids]
    updated = await ven.raw.update_report(request, readings)
    assert updated.code == 200
    cancels = findall(updated.message, "oadr:oadrCancelReport")
    assert [text(c, "ei:reportRequestID") for c in cancels] == [request.report_request_id]
