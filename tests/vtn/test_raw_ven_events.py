"""Events as a VEN that is not openleadr sees them (``tests.oadr20b``): the currentValue of an
active event, and a VEN's refusal of an event, recorded, shown and published."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import pytest

from tests.oadr20b.messages import EventReply
from tests.oadr20b.ven import RawVens, raw_vens
from tests.support import Api, ChannelRecorder, MutableClock, in_minutes
from tests.vtn.raw_ven import registered


@pytest.fixture
def clock() -> MutableClock:
    return MutableClock()


@pytest.fixture
async def vens(vtn_url: str, clock: MutableClock) -> AsyncIterator[RawVens]:
    async with raw_vens(vtn_url, clock.now) as made:
        yield made


# --- 1. the SIMPLE signal of an active event ------------------------------------------------


async def test_an_active_events_simple_signal_carries_the_level_in_force(
    api: Api, vens: RawVens, clock: MutableClock
) -> None:
    """2.0b profile (OL rule 14; TH ActiveCurrentValueMatchCurrentPayload): "currentValue 0
    while a SIMPLE event is not active; when active, the payload of the interval in force".
    openleadr's preflight compared the status with "ACTIVE" and zeroed it in every message."""
    ven = await registered(api, vens, "ven-a", {"a1": "ra1", "a2": "ra2"})
    # 30 % of the load: SIMPLE level 2; 6 kWh over 30 min is 12 kW for the VEN's two devices.
    invitation = await api.invite(
        ["a1", "a2"], event_time=in_minutes(10, clock), duration_minutes=30,
        load_kwh=6.0, load_percentage=30.0,
    )  # fmt: skip

    before = (await ven.poll()).event(invitation["id"])
    assert before.status == "near"
    assert [i.values for i in before.signal("SIMPLE").intervals] == [(2.0,)]
    assert before.signal("SIMPLE").current_value == 0.0
    assert before.signal("LOAD_DISPATCH").current_value == 0.0

    clock.advance(minutes=11)
    during = (await ven.poll()).event(invitation["id"])
    assert (during.status, during.modification_number) == ("active", 0)
    assert during.signal("SIMPLE").current_value == 2.0
    assert during.signal("LOAD_DISPATCH").current_value == pytest.approx(12.0)

    clock.advance(minutes=30)
    after = (await ven.poll()).event(invitation["id"])
    assert (after.status, after.signal("SIMPLE").current_value) == ("completed", 0.0)


async def test_the_level_is_also_in_force_in_an_answer_to_request_event(
    api: Api, vens: RawVens, clock: MutableClock
) -> None:
    ven = await registered(api, vens, "ven-a", {"a1": "ra1"})
    invitation = await api.invite(["a1"], event_time=in_minutes(1, clock), load_percentage=50.0)
    clock.advance(minutes=2)
    answer = await ven.request_event()
    event = answer.event(invitation["id"])
    assert (event.status, event.signal("SIMPLE").current_value) == ("active", 3.0)


# --- 4. a VEN's refusal of an event ----------------------------------------------------------


async def _scheduled(api: Api, invitation_id: str, device_id: str) -> dict[str, Any]:
    """The invitation, answered YES by the admin for ``device_id``: its event exists."""
    view: dict[str, Any] = await api.answer(invitation_id, device_id, "YES", committed_kw=2.0)
    assert view["status"] == "scheduled", view
    return view


async def test_an_error_response_to_a_distribute_is_recorded_shown_and_published(
    api: Api, vens: RawVens, clock: MutableClock, dr_events: ChannelRecorder
) -> None:
    ven = await registered(api, vens, "ven-a", {"a1": "ra1"})
    invitation = await api.invite(["a1"], event_time=in_minutes(90, clock))
    view = await _scheduled(api, invitation["id"], "a1")
    distribute = await ven.poll()
    assert distribute.message_type == "oadrDistributeEvent"

    # "459 Compliance error": the VEN could not take the event, and says so in an oadrResponse.
    answered = await ven.respond(distribute, 459, "signal LOAD_DISPATCH not supported", "EiEvent")
    assert answered.empty  # an answer to the VTN is not answered again

    expected = {
        "ven_id": "ven-a",
        "invitation_id": invitation["id"],
        "direct_event_id": None,
        "code": 459,
        "description": "signal LOAD_DISPATCH not supported",
        "message_type": "oadrResponse",
        "received_at": clock.now().isoformat().replace("+00:00", "Z"),
    }
    shown = await api.get(f"/api/invitations/{invitation['id']}")
    assert _normalised(shown["ven_errors"]) == [expected]
    event = await api.get(f"/api/events/{view['event_id']}")
    assert _normalised(event["ven_errors"]) == [expected]
    ven_view = await api.get("/api/vens/ven-a")
    assert ven_view["errors"]["count"] == 1
    assert _normalised([ven_view["errors"]["last"]]) == [expected]
    await dr_events.wait_for(lambda messages: any(m["event"] == "ven_error" for m in messages))
    [published] = dr_events.named("ven_error")
    assert {k: published[k] for k in expected if k != "received_at"} == {
        k: v for k, v in expected.items() if k != "received_at"
    }
    assert published["event_id"] == view["event_id"]
    assert datetime.fromisoformat(published["received_at"]) == clock.now()
    # The refusal is the VEN's word on the event, not an answer: the decision stands.
    assert shown["status"] == "scheduled"


def _normalised(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Times as ISO 8601 with Z, whatever offset notation the API used."""
    return [
        {**e, "received_at": datetime.fromisoformat(e["received_at"]).isoformat().replace(
            "+00:00", "Z")}
        for e in errors
    ]  # fmt: skip


async def test_an_error_in_a_created_event_is_recorded_per_event(
    api: Api, vens: RawVens, clock: MutableClock, dr_events: ChannelRecorder
) -> None:
    ven = await registered(api, vens, "ven-a", {"a1": "ra1", "a2": "ra2"})
    first = await api.invite(["a1"], event_time=in_minutes(90, clock))
    second = await api.invite(["a2"], event_time=in_minutes(300, clock))
    third = await api.invite(["a1", "a2"], event_time=in_minutes(600, clock))
    distribute = await ven.poll()
    replies = [
        EventReply(first["id"], 0, "optIn"),  # taken
        EventReply(second["id"], 0, "optOut", code=409, description="device offline"),
        EventReply(third["id"], 0, "optIn", code=460, description="signal not supported"),
    ]
    answer = await ven.answer_events(distribute, replies)
    # TH A_E3_0750: an eventResponse carrying an error is still answered 200.
    assert (answer.code, answer.request_id) == (200, distribute.own_request_id)

    views = {i["id"]: await api.get(f"/api/invitations/{i['id']}") for i in (first, second, third)}
    assert [(e["code"], e["description"]) for e in views[first["id"]]["ven_errors"]] == []
    assert [
        (e["ven_id"], e["code"], e["description"], e["message_type"])
        for e in views[second["id"]]["ven_errors"]
    ] == [("ven-a", 409, "device offline", "oadrCreatedEvent")]
    assert [(e["code"], e["description"]) for e in views[third["id"]]["ven_errors"]] == [
        (460, "signal not supported")
    ]
    # An optOut is taken with its error; an optIn that comes with an error commits nothing.
    answers = {i: [(a["device_id"], a["answer"]) for a in v["answers"]] for i, v in views.items()}
    assert answers == {first["id"]: [("a1", "YES")], second["id"]: [("a2", "NO")], third["id"]: []}
    assert views[third["id"]]["status"] == "pending"

    ven_view = await api.get("/api/vens/ven-a")
    assert ven_view["errors"]["count"] == 2
    assert ven_view["errors"]["last"]["invitation_id"] in (second["id"], third["id"])
    await dr_events.wait_for(lambda messages: len(dr_events.named("ven_error")) == 2)
    assert sorted((m["invitation_id"], m["code"]) for m in dr_events.named("ven_error")) == sorted(
        [(second["id"], 409), (third["id"], 460)]
    )


async def test_an_error_response_that_names_no_distribute_is_kept_for_the_ven(
    api: Api, vens: RawVens
) -> None:
    ven = await registered(api, vens, "ven-a", {"a1": "ra1"})
    poll = await ven.poll()  # nothing for the VEN: an oadrResponse, with no request of its own
    await ven.respond(poll, 469, "something went wrong", "EiEvent")
    ven_view = await api.get("/api/vens/ven-a")
    assert ven_view["errors"]["count"] == 1
    last = ven_view["errors"]["last"]
    assert (last["invitation_id"], last["code"], last["description"]) == (
        None, 469, "something went wrong"
    )  # fmt: skip


async def test_an_error_response_from_an_unknown_ven_changes_nothing(
    api: Api, vens: RawVens
) -> None:
    ven = await registered(api, vens, "ven-a", {"a1": "ra1"})
    stranger = vens("stranger", ven_id="no-such-ven")
    answered = await stranger.respond(await ven.poll(), 459, "not mine", "EiEvent")
    assert answered.empty
    assert (await api.get("/api/vens/ven-a"))["errors"]["count"] == 0
