"""Every validation rule of the admin API: 422 naming the bad field, and nothing changed.

"Nothing changed" is checked twice: the state read back over the API is the same as before,
and no dr_events message was published for the rejected request (a marker device registered
afterwards is the only new message).
"""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from typing import Any

import pytest

from gateway.http.openapi import build_openapi
from gateway.http.routes import ROUTES
from gateway.services.container import Services
from tests.fuzz.state import changed_tables, database_rows
from tests.support import AUTH, Api, ChannelRecorder, MutableClock, in_minutes

DROP = object()  # a field value meaning "leave the field out of the body"


@pytest.fixture
def clock() -> MutableClock:
    return MutableClock()


async def settle(api: Api, dr_events: ChannelRecorder) -> int:
    """Register a marker device and wait for its message; every earlier message has arrived."""
    marker = f"marker-{uuid.uuid4().hex[:10]}"
    await api.device(marker)
    await dr_events.wait_for(lambda ms: any(m.get("device_id") == marker for m in ms))
    return len(dr_events.messages)


async def assert_no_message_since(api: Api, dr_events: ChannelRecorder, mark: int) -> None:
    marker_seen = await settle(api, dr_events)
    new = dr_events.messages[mark:marker_seen]
    assert [m["event"] for m in new] == ["device_registered"], new


async def send(api: Api, method: str, path: str, body: Any) -> tuple[int, Any]:
    resp = await api.client.request(method, path, json=body, headers=AUTH)
    return resp.status, await resp.json()


def fields_of(data: Any) -> list[str]:
    assert data["error"] == "validation_failed", data
    assert isinstance(data["message"], str)
    assert data["message"]
    return [f["field"] for f in data["fields"]]


def message_for(data: Any, field: str) -> str:
    return " | ".join(f["message"] for f in data["fields"] if f["field"] == field)


# --------------------------------------------------------------------------- invitations


def invitation_body(clock: MutableClock, **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "event_time": in_minutes(120, clock),
        "duration_minutes": 60,
        "load_kwh": 10.0,
        "load_percentage": 20.0,
        "devices": ["dev-1", "dev-2"],
    }
    for name, value in fields.items():
        if value is DROP:
            body.pop(name)
        else:
            body[name] = value
    return body


@pytest.fixture
async def two_devices(api: Api) -> None:
    await api.device("dev-1")
    await api.device("dev-2")


async def reject_invitation(
    api: Api, dr_events: ChannelRecorder, clock: MutableClock, **fields: Any
) -> Any:
    """POST a bad invitation: 422, and no invitation or message came of it. Returns the body."""
    before = await api.get("/api/invitations")
    mark = await settle(api, dr_events)
    status, data = await send(api, "POST", "/api/invitations", invitation_body(clock, **fields))
    assert status == 422, data
    assert await api.get("/api/invitations") == before
    await assert_no_message_since(api, dr_events, mark)
    return data


@pytest.mark.usefixtures("two_devices")
async def test_invitation_event_time_in_the_past(
    api: Api, dr_events: ChannelRecorder, clock: MutableClock
) -> None:
    data = await reject_invitation(api, dr_events, clock, event_time=in_minutes(-1, clock))
    assert fields_of(data) == ["event_time"]
    assert "future" in message_for(data, "event_time")


@pytest.mark.usefixtures("two_devices")
async def test_invitation_event_time_now_is_not_future(
    api: Api, dr_events: ChannelRecorder, clock: MutableClock
) -> None:
    data = await reject_invitation(api, dr_events, clock, event_time=clock.now().isoformat())
    assert fields_of(data) == ["event_time"]


@pytest.mark.usefixtures("two_devices")
async def test_invitation_naive_event_time(
    api: Api, dr_events: ChannelRecorder, clock: MutableClock
) -> None:
    naive = (clock.now() + timedelta(hours=2)).replace(tzinfo=None).isoformat()
    assert "+" not in naive
    assert not naive.endswith("Z")
    data = await reject_invitation(api, dr_events, clock, event_time=naive)
    assert fields_of(data) == ["event_time"]


@pytest.mark.parametrize("duration", [0, 1441, -5])
@pytest.mark.usefixtures("two_devices")
async def test_invitation_duration_out_of_range(
    api: Api, dr_events: ChannelRecorder, clock: MutableClock, duration: int
) -> None:
    data = await reject_invitation(api, dr_events, clock, duration_minutes=duration)
    assert fields_of(data) == ["duration_minutes"]
    assert "1440" in message_for(data, "duration_minutes")


@pytest.mark.parametrize("duration", [1, 1440])
@pytest.mark.usefixtures("two_devices")
async def test_invitation_duration_bounds_are_accepted(
    api: Api, clock: MutableClock, duration: int
) -> None:
    body = invitation_body(clock, duration_minutes=duration, load_kwh=12.0)
    created = await api.post("/api/invitations", body, status=201)
    assert created["duration_minutes"] == duration
    assert created["target_kw"] == pytest.approx(12.0 / (duration / 60))
    assert (await api.get("/api/invitations"))["count"] == 1


@pytest.mark.usefixtures("two_devices")
async def test_invitation_negative_load_kwh(
    api: Api, dr_events: ChannelRecorder, clock: MutableClock
) -> None:
    data = await reject_invitation(api, dr_events, clock, load_kwh=-0.5)
    assert fields_of(data) == ["load_kwh"]


@pytest.mark.parametrize("percentage", [101.0, -1.0, 100.5])
@pytest.mark.usefixtures("two_devices")
async def test_invitation_load_percentage_out_of_range(
    api: Api, dr_events: ChannelRecorder, clock: MutableClock, percentage: float
) -> None:
    data = await reject_invitation(api, dr_events, clock, load_percentage=percentage)
    assert fields_of(data) == ["load_percentage"]


@pytest.mark.parametrize(("load_kwh", "load_percentage"), [(0.0, 100.0), (5.0, 0.0), (0.0, 0.5)])
@pytest.mark.usefixtures("two_devices")
async def test_invitation_load_bounds_are_accepted(
    api: Api, clock: MutableClock, load_kwh: float, load_percentage: float
) -> None:
    body = invitation_body(clock, load_kwh=load_kwh, load_percentage=load_percentage)
    created = await api.post("/api/invitations", body, status=201)
    assert created["load_kwh"] == load_kwh
    assert created["load_percentage"] == load_percentage


@pytest.mark.usefixtures("two_devices")
async def test_invitation_both_loads_zero(
    api: Api, dr_events: ChannelRecorder, clock: MutableClock
) -> None:
    data = await reject_invitation(api, dr_events, clock, load_kwh=0.0, load_percentage=0.0)
    assert fields_of(data) == ["load_kwh"]
    assert "load_percentage" in message_for(data, "load_kwh")


@pytest.mark.usefixtures("two_devices")
async def test_invitation_without_devices(
    api: Api, dr_events: ChannelRecorder, clock: MutableClock
) -> None:
    data = await reject_invitation(api, dr_events, clock, devices=[])
    assert fields_of(data) == ["devices"]


@pytest.mark.usefixtures("two_devices")
async def test_invitation_duplicate_devices(
    api: Api, dr_events: ChannelRecorder, clock: MutableClock
) -> None:
    data = await reject_invitation(api, dr_events, clock, devices=["dev-1", "dev-2", "dev-1"])
    assert fields_of(data) == ["devices"]
    assert "dev-1" in message_for(data, "devices")
    assert "dev-2" not in message_for(data, "devices")


@pytest.mark.usefixtures("two_devices")
async def test_invitation_unknown_device(
    api: Api, dr_events: ChannelRecorder, clock: MutableClock
) -> None:
    data = await reject_invitation(api, dr_events, clock, devices=["dev-1", "ghost"])
    assert fields_of(data) == ["devices"]
    assert "ghost" in message_for(data, "devices")
    assert "dev-1" not in message_for(data, "devices")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("duration_minutes", "60"),
        ("duration_minutes", 60.5),
        ("duration_minutes", True),
        ("load_kwh", "10"),
        ("load_percentage", "20"),
        ("devices", "dev-1"),
        ("event_time", 1_900_000_000),
    ],
)
@pytest.mark.usefixtures("two_devices")
async def test_invitation_types_are_strict(
    api: Api, dr_events: ChannelRecorder, clock: MutableClock, field: str, value: Any
) -> None:
    data = await reject_invitation(api, dr_events, clock, **{field: value})
    assert fields_of(data) == [field]


@pytest.mark.usefixtures("two_devices")
async def test_an_integer_written_with_a_zero_fraction_is_taken(
    api: Api, clock: MutableClock
) -> None:
    # Found by tests/fuzz (schemathesis): JSON Schema's "integer" takes 30.0, which is the
    # same JSON number as 30, and strict validation refused it as "not a valid integer".
    body = invitation_body(clock, duration_minutes=30.0)
    assert (await api.post("/api/invitations", body, status=201))["duration_minutes"] == 30
    event = {"start_time": in_minutes(90, clock), "duration_minutes": 15.0,
             "devices": ["dev-1"], "target_kw": 1.0}  # fmt: skip
    assert (await api.post("/api/events", event, status=201))["duration_minutes"] == 15
    config = {"enabled": False, "response_delay_seconds": 120.0, "min_notice_minutes": 0.0}
    updated = await api.put("/api/auto-response", config, status=200)
    assert (updated["response_delay_seconds"], updated["min_notice_minutes"]) == (120, 0)
    assert isinstance(updated["response_delay_seconds"], int)


@pytest.mark.usefixtures("two_devices")
async def test_invitation_unknown_extra_field(
    api: Api, dr_events: ChannelRecorder, clock: MutableClock
) -> None:
    data = await reject_invitation(api, dr_events, clock, priority="high")
    assert fields_of(data) == ["priority"]


@pytest.mark.parametrize("field", ["event_time", "devices"])
@pytest.mark.usefixtures("two_devices")
async def test_invitation_missing_required_field(
    api: Api, dr_events: ChannelRecorder, clock: MutableClock, field: str
) -> None:
    data = await reject_invitation(api, dr_events, clock, **{field: DROP})
    assert fields_of(data) == [field]


@pytest.mark.usefixtures("two_devices")
async def test_invitation_ending_after_year_9999_is_a_422_not_a_crash(
    api: Api, dr_events: ChannelRecorder, clock: MutableClock
) -> None:
    data = await reject_invitation(
        api, dr_events, clock, event_time="9999-12-31T23:30:00+00:00", duration_minutes=60
    )
    named = fields_of(data)
    assert named
    assert set(named) <= {"event_time", "duration_minutes"}


@pytest.mark.usefixtures("two_devices")
async def test_invitation_whose_kw_target_overflows_is_rejected(
    api: Api, dr_events: ChannelRecorder, clock: MutableClock
) -> None:
    # 1e308 kWh in one minute is 6e309 kW: not a finite number, so not a usable target.
    data = await reject_invitation(api, dr_events, clock, load_kwh=1e308, duration_minutes=1)
    assert "load_kwh" in fields_of(data)


@pytest.mark.usefixtures("two_devices")
async def test_invitation_several_bad_fields_are_all_named(
    api: Api, dr_events: ChannelRecorder, clock: MutableClock
) -> None:
    data = await reject_invitation(
        api,
        dr_events,
        clock,
        event_time=in_minutes(-10, clock),
        duration_minutes=0,
        load_percentage=101.0,
        devices=["dev-1", "ghost"],
    )
    assert sorted(fields_of(data)) == [
        "devices",
        "duration_minutes",
        "event_time",
        "load_percentage",
    ]


@pytest.mark.usefixtures("two_devices")
async def test_invitation_several_schema_errors_are_all_named(
    api: Api, dr_events: ChannelRecorder, clock: MutableClock
) -> None:
    data = await reject_invitation(
        api, dr_events, clock, event_time=DROP, duration_minutes="60", colour="red"
    )
    assert sorted(fields_of(data)) == ["colour", "duration_minutes", "event_time"]


# --------------------------------------------------------------------------- answers


@pytest.fixture
async def invitation(api: Api, clock: MutableClock) -> dict[str, Any]:
    for device in ("dev-1", "dev-2", "dev-3"):
        await api.device(device)
    event_time = in_minutes(120, clock)
    created: dict[str, Any] = await api.invite(["dev-1", "dev-2"], event_time=event_time)
    return created


async def reject_answer(
    api: Api,
    dr_events: ChannelRecorder,
    invitation_id: str,
    body: dict[str, Any],
    status: int = 422,
) -> Any:
    before = await api.get(f"/api/invitations/{invitation_id}")
    mark = await settle(api, dr_events)
    got, data = await send(api, "POST", f"/api/invitations/{invitation_id}/answers", body)
    assert got == status, data
    assert await api.get(f"/api/invitations/{invitation_id}") == before
    assert (await api.get("/api/events"))["count"] == 0
    await assert_no_message_since(api, dr_events, mark)
    return data


async def test_answer_maybe_is_rejected(
    api: Api, dr_events: ChannelRecorder, invitation: dict[str, Any]
) -> None:
    body = {"device_id": "dev-1", "answer": "MAYBE", "committed_kw": 1.0}
    data = await reject_answer(api, dr_events, invitation["id"], body)
    assert fields_of(data) == ["answer"]


async def test_answer_lowercase_yes_is_rejected(
    api: Api, dr_events: ChannelRecorder, invitation: dict[str, Any]
) -> None:
    body = {"device_id": "dev-1", "answer": "yes", "committed_kw": 1.0}
    data = await reject_answer(api, dr_events, invitation["id"], body)
    assert fields_of(data) == ["answer"]


async def test_answer_negative_committed_kw(
    api: Api, dr_events: ChannelRecorder, invitation: dict[str, Any]
) -> None:
    body = {"device_id": "dev-1", "answer": "YES", "committed_kw": -1.0}
    data = await reject_answer(api, dr_events, invitation["id"], body)
    assert fields_of(data) == ["committed_kw"]


async def test_answer_yes_needs_committed_kw(
    api: Api, dr_events: ChannelRecorder, invitation: dict[str, Any]
) -> None:
    body = {"device_id": "dev-1", "answer": "YES"}
    data = await reject_answer(api, dr_events, invitation["id"], body)
    assert fields_of(data) == ["committed_kw"]


async def test_answer_no_with_committed_kw(
    api: Api, dr_events: ChannelRecorder, invitation: dict[str, Any]
) -> None:
    body = {"device_id": "dev-1", "answer": "NO", "committed_kw": 2.0}
    data = await reject_answer(api, dr_events, invitation["id"], body)
    assert fields_of(data) == ["committed_kw"]


@pytest.mark.parametrize("device", ["dev-3", "never-registered"])
async def test_answer_from_a_device_not_invited(
    api: Api, dr_events: ChannelRecorder, invitation: dict[str, Any], device: str
) -> None:
    body = {"device_id": device, "answer": "YES", "committed_kw": 1.0}
    data = await reject_answer(api, dr_events, invitation["id"], body)
    assert fields_of(data) == ["device_id"]


async def test_answer_to_an_unknown_invitation(api: Api, dr_events: ChannelRecorder) -> None:
    await api.device("dev-1")
    mark = await settle(api, dr_events)
    status, data = await send(
        api,
        "POST",
        f"/api/invitations/{uuid.uuid4()}/answers",
        {"device_id": "dev-1", "answer": "YES", "committed_kw": 1.0},
    )
    assert status == 404, data
    assert data["error"] == "not_found"
    assert "fields" not in data
    await assert_no_message_since(api, dr_events, mark)


async def test_second_answer_from_the_same_device(
    api: Api, dr_events: ChannelRecorder, invitation: dict[str, Any]
) -> None:
    first = await api.answer(invitation["id"], "dev-1", "YES", 3.0)
    assert first["status"] == "pending"
    body = {"device_id": "dev-1", "answer": "NO", "committed_kw": 0.0}
    data = await reject_answer(api, dr_events, invitation["id"], body, status=409)
    assert data["error"] == "already_answered"
    stored = await api.get(f"/api/invitations/{invitation['id']}")
    assert [(a["device_id"], a["answer"], a["committed_kw"]) for a in stored["answers"]] == [
        ("dev-1", "YES", 3.0)
    ]


async def test_answer_after_the_invitation_is_decided(
    api: Api, dr_events: ChannelRecorder, invitation: dict[str, Any]
) -> None:
    await api.answer(invitation["id"], "dev-1", "YES", 3.0)
    decided = await api.answer(invitation["id"], "dev-2", "NO", 0.0)
    assert decided["status"] == "cancelled"
    body = {"device_id": "dev-2", "answer": "YES", "committed_kw": 4.0}
    before = await api.get(f"/api/invitations/{invitation['id']}")
    mark = await settle(api, dr_events)
    status, data = await send(api, "POST", f"/api/invitations/{invitation['id']}/answers", body)
    assert status == 409, data
    assert data["error"] == "conflict"
    assert "cancelled" in data["message"]
    assert await api.get(f"/api/invitations/{invitation['id']}") == before
    await assert_no_message_since(api, dr_events, mark)


async def test_answer_from_an_unanswered_device_after_expiry(
    api: Api,
    services: Services,
    dr_events: ChannelRecorder,
    clock: MutableClock,
    invitation: dict[str, Any],
) -> None:
    await api.answer(invitation["id"], "dev-1", "YES", 3.0)
    clock.advance(minutes=121)
    assert await services.invitations.expire_overdue() == 1
    body = {"device_id": "dev-2", "answer": "YES", "committed_kw": 4.0}
    data = await reject_answer(api, dr_events, invitation["id"], body, status=409)
    assert data["error"] == "conflict"
    assert "expired" in data["message"]


# --------------------------------------------------------------------------- events


def event_body(clock: MutableClock, **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "start_time": in_minutes(30, clock),
        "duration_minutes": 60,
        "devices": ["dev-1"],
        "target_kw": 5.0,
    }
    for name, value in fields.items():
        if value is DROP:
            body.pop(name)
        else:
            body[name] = value
    return body


async def reject_event(
    api: Api, dr_events: ChannelRecorder, clock: MutableClock, **fields: Any
) -> Any:
    before = await api.get("/api/events")
    mark = await settle(api, dr_events)
    status, data = await send(api, "POST", "/api/events", event_body(clock, **fields))
    assert status == 422, data
    assert await api.get("/api/events") == before
    await assert_no_message_since(api, dr_events, mark)
    return data


@pytest.fixture
async def one_device(api: Api) -> None:
    await api.device("dev-1")


@pytest.mark.usefixtures("one_device")
async def test_event_start_time_in_the_past(
    api: Api, dr_events: ChannelRecorder, clock: MutableClock
) -> None:
    data = await reject_event(api, dr_events, clock, start_time=in_minutes(-1, clock))
    assert fields_of(data) == ["start_time"]


@pytest.mark.parametrize("duration", [0, 1441, "30"])
@pytest.mark.usefixtures("one_device")
async def test_event_bad_duration(
    api: Api, dr_events: ChannelRecorder, clock: MutableClock, duration: Any
) -> None:
    data = await reject_event(api, dr_events, clock, duration_minutes=duration)
    assert fields_of(data) == ["duration_minutes"]


@pytest.mark.usefixtures("one_device")
async def test_event_negative_target_kw(
    api: Api, dr_events: ChannelRecorder, clock: MutableClock
) -> None:
    data = await reject_event(api, dr_events, clock, target_kw=-2.0)
    assert fields_of(data) == ["target_kw"]


@pytest.mark.usefixtures("one_device")
async def test_event_unknown_device(
    api: Api, dr_events: ChannelRecorder, clock: MutableClock
) -> None:
    data = await reject_event(api, dr_events, clock, devices=["dev-1", "ghost"])
    assert fields_of(data) == ["devices"]
    assert "ghost" in message_for(data, "devices")


@pytest.mark.usefixtures("one_device")
async def test_event_missing_target_kw(
    api: Api, dr_events: ChannelRecorder, clock: MutableClock
) -> None:
    data = await reject_event(api, dr_events, clock, target_kw=DROP)
    assert fields_of(data) == ["target_kw"]


@pytest.mark.usefixtures("one_device")
async def test_event_ending_after_year_9999_is_a_422_not_a_crash(
    api: Api, dr_events: ChannelRecorder, clock: MutableClock
) -> None:
    data = await reject_event(api, dr_events, clock, start_time="9999-12-31T23:30:00+00:00")
    named = fields_of(data)
    assert named
    assert set(named) <= {"start_time", "duration_minutes"}


@pytest.mark.usefixtures("one_device")
async def test_event_whose_kwh_target_overflows_is_rejected(
    api: Api, dr_events: ChannelRecorder, clock: MutableClock
) -> None:
    # 1e308 kW for 24 h is 2.4e309 kWh: the stored target_kwh would be infinite.
    data = await reject_event(api, dr_events, clock, target_kw=1e308, duration_minutes=1440)
    assert "target_kw" in fields_of(data)


@pytest.mark.usefixtures("one_device")
async def test_event_several_bad_fields(
    api: Api, dr_events: ChannelRecorder, clock: MutableClock
) -> None:
    data = await reject_event(
        api,
        dr_events,
        clock,
        start_time=in_minutes(-5, clock),
        duration_minutes=0,
        target_kw=-1.0,
        devices=[],
    )
    assert sorted(fields_of(data)) == ["devices", "duration_minutes", "start_time", "target_kw"]


@pytest.mark.usefixtures("one_device")
async def test_event_cancel_twice(
    api: Api, dr_events: ChannelRecorder, clock: MutableClock
) -> None:
    event = await api.post("/api/events", event_body(clock), status=201)
    first = await api.post(f"/api/events/{event['id']}/cancel", {"reason": "first"}, status=200)
    assert first["status"] == "cancelled"
    assert first["cancel_reason"] == "first"
    before = await api.get(f"/api/events/{event['id']}")
    mark = await settle(api, dr_events)
    status, data = await send(
        api, "POST", f"/api/events/{event['id']}/cancel", {"reason": "second"}
    )
    assert status == 409, data
    assert data["error"] == "illegal_transition"
    assert await api.get(f"/api/events/{event['id']}") == before
    await assert_no_message_since(api, dr_events, mark)


async def test_event_cancel_unknown(api: Api) -> None:
    status, data = await send(api, "POST", f"/api/events/{uuid.uuid4()}/cancel", {})
    assert status == 404, data
    assert data["error"] == "not_found"


@pytest.mark.usefixtures("one_device")
async def test_event_cancel_reason_too_long(
    api: Api, dr_events: ChannelRecorder, clock: MutableClock
) -> None:
    event = await api.post("/api/events", event_body(clock), status=201)
    mark = await settle(api, dr_events)
    status, data = await send(
        api, "POST", f"/api/events/{event['id']}/cancel", {"reason": "x" * 501}
    )
    assert status == 422, data
    assert fields_of(data) == ["reason"]
    assert (await api.get(f"/api/events/{event['id']}"))["status"] == "scheduled"
    await assert_no_message_since(api, dr_events, mark)


# --------------------------------------------------------------------------- auto-response


async def reject_auto_response(api: Api, dr_events: ChannelRecorder, body: Any) -> Any:
    before = await api.get("/api/auto-response")
    mark = await settle(api, dr_events)
    status, data = await send(api, "PUT", "/api/auto-response", body)
    assert status == 422, data
    assert await api.get("/api/auto-response") == before
    await assert_no_message_since(api, dr_events, mark)
    return data


@pytest.mark.parametrize("percentage", [0, 0.0, 101.0, -5.0])
async def test_auto_response_percentage_out_of_range(
    api: Api, dr_events: ChannelRecorder, percentage: float
) -> None:
    body = {"enabled": True, "max_reduction_percentage": percentage}
    data = await reject_auto_response(api, dr_events, body)
    assert fields_of(data) == ["max_reduction_percentage"]


async def test_auto_response_negative_delay(api: Api, dr_events: ChannelRecorder) -> None:
    body = {"enabled": True, "response_delay_seconds": -1}
    data = await reject_auto_response(api, dr_events, body)
    assert fields_of(data) == ["response_delay_seconds"]


async def test_auto_response_negative_notice(api: Api, dr_events: ChannelRecorder) -> None:
    body = {"enabled": True, "min_notice_minutes": -1}
    data = await reject_auto_response(api, dr_events, body)
    assert fields_of(data) == ["min_notice_minutes"]


async def test_auto_response_needs_enabled(api: Api, dr_events: ChannelRecorder) -> None:
    data = await reject_auto_response(api, dr_events, {"max_reduction_percentage": 50.0})
    assert fields_of(data) == ["enabled"]


async def test_auto_response_enabled_must_be_a_boolean(
    api: Api, dr_events: ChannelRecorder
) -> None:
    data = await reject_auto_response(api, dr_events, {"enabled": "true"})
    assert fields_of(data) == ["enabled"]


async def test_auto_response_rejection_after_a_change_keeps_the_change(
    api: Api, dr_events: ChannelRecorder
) -> None:
    await api.put(
        "/api/auto-response",
        {"enabled": True, "max_reduction_percentage": 40.0, "response_delay_seconds": 10},
        status=200,
    )
    data = await reject_auto_response(
        api, dr_events, {"enabled": False, "max_reduction_percentage": 150.0}
    )
    assert fields_of(data) == ["max_reduction_percentage"]
    config = await api.get("/api/auto-response")
    assert config["enabled"] is True
    assert config["max_reduction_percentage"] == 40.0


async def test_auto_response_partial_update_keeps_other_fields(api: Api) -> None:
    full = {
        "enabled": True,
        "max_reduction_percentage": 35.0,
        "response_delay_seconds": 42,
        "min_notice_minutes": 15,
    }
    first = await api.put("/api/auto-response", full, status=200)
    assert {k: first[k] for k in full} == full
    second = await api.put("/api/auto-response", {"enabled": False}, status=200)
    expected = {**full, "enabled": False}
    assert {k: second[k] for k in full} == expected
    assert {k: v for k, v in (await api.get("/api/auto-response")).items() if k in full} == (
        expected
    )
    third = await api.put(
        "/api/auto-response", {"enabled": False, "response_delay_seconds": 0}, status=200
    )
    assert {k: third[k] for k in full} == {**expected, "response_delay_seconds": 0}


# --------------------------------------------------------------------------- devices


async def reject_device(api: Api, dr_events: ChannelRecorder, body: Any, status: int = 422) -> Any:
    before = await api.get("/api/devices")
    mark = await settle(api, dr_events)
    got, data = await send(api, "POST", "/api/devices", body)
    assert got == status, data
    after = await api.get("/api/devices")
    assert [d for d in after["items"] if not d["id"].startswith("marker-")] == [
        d for d in before["items"] if not d["id"].startswith("marker-")
    ]
    await assert_no_message_since(api, dr_events, mark)
    return data


@pytest.mark.parametrize(
    "device_id",
    ["bad id", "dev/1", "-leading-dash", ".hidden", "dév", "a;b", "x" * 129, ""],
)
async def test_device_id_with_bad_characters(
    api: Api, dr_events: ChannelRecorder, device_id: str
) -> None:
    data = await reject_device(api, dr_events, {"id": device_id})
    assert fields_of(data) == ["id"]


@pytest.mark.parametrize("device_id", ["a", "Dev_1.two:three-4", "9" * 128])
async def test_device_id_allowed_characters(api: Api, device_id: str) -> None:
    created = await api.device(device_id)
    assert created["id"] == device_id
    assert (await api.get(f"/api/devices/{device_id}"))["id"] == device_id


async def test_device_duplicate_id(api: Api, dr_events: ChannelRecorder) -> None:
    await api.device("dev-1", timezone="Europe/Paris")
    data = await reject_device(
        api, dr_events, {"id": "dev-1", "timezone": "Asia/Tokyo"}, status=409
    )
    assert data["error"] == "already_exists"
    assert (await api.get("/api/devices/dev-1"))["timezone"] == "Europe/Paris"


@pytest.mark.parametrize("timezone", ["Mars/Olympus_Mons", "utc+2", "Europe/", "../etc/passwd"])
async def test_device_unknown_timezone(api: Api, dr_events: ChannelRecorder, timezone: str) -> None:
    data = await reject_device(api, dr_events, {"id": "dev-1", "timezone": timezone})
    assert fields_of(data) == ["timezone"]


async def test_device_resource_id_without_ven_id(api: Api, dr_events: ChannelRecorder) -> None:
    data = await reject_device(api, dr_events, {"id": "dev-1", "resource_id": "res-1"})
    assert fields_of(data) == ["ven_id"]


async def test_device_several_bad_fields(api: Api, dr_events: ChannelRecorder) -> None:
    data = await reject_device(
        api, dr_events, {"id": "bad id", "timezone": "Nowhere/Land", "resource_id": "r"}
    )
    assert sorted(fields_of(data)) == ["id", "timezone", "ven_id"]


async def test_device_unknown_field(api: Api, dr_events: ChannelRecorder) -> None:
    data = await reject_device(api, dr_events, {"id": "dev-1", "name": "Heat pump"})
    assert fields_of(data) == ["name"]


# --------------------------------------------------------------------------- instructions


async def reject_instructions(api: Api, dr_events: ChannelRecorder, instructions: Any) -> Any:
    before = await api.get("/api/devices/dev-1/instructions")
    mark = await settle(api, dr_events)
    status, data = await send(
        api, "PUT", "/api/devices/dev-1/instructions", {"instructions": instructions}
    )
    assert status == 422, data
    assert await api.get("/api/devices/dev-1/instructions") == before
    await assert_no_message_since(api, dr_events, mark)
    return data


@pytest.fixture
async def device_with_instructions(api: Api) -> None:
    await api.device("dev-1")
    await api.put(
        "/api/devices/dev-1/instructions",
        {"instructions": {"5": "participation", "6": "shifting"}},
        status=200,
    )


@pytest.mark.parametrize("hour", ["24", "x", "-1", "5.0", "", " 5"])
@pytest.mark.usefixtures("device_with_instructions")
async def test_instructions_bad_hour(api: Api, dr_events: ChannelRecorder, hour: str) -> None:
    data = await reject_instructions(api, dr_events, {"5": "off", hour: "shifting"})
    assert fields_of(data) == [f"instructions.{hour}"]


@pytest.mark.parametrize("hour", ["\u00b2", "\u00b9\u2070"])
@pytest.mark.usefixtures("device_with_instructions")
async def test_instructions_hour_of_unicode_digits_is_a_422_not_a_crash(
    api: Api, dr_events: ChannelRecorder, hour: str
) -> None:
    # "²".isdigit() is True but int("²") raises: the rule must still answer 422.
    data = await reject_instructions(api, dr_events, {hour: "off"})
    assert fields_of(data) == [f"instructions.{hour}"]


@pytest.mark.parametrize("hour", ["03", "\u0663", "+3"])
@pytest.mark.usefixtures("device_with_instructions")
async def test_instructions_hour_must_be_written_plainly(
    api: Api, dr_events: ChannelRecorder, hour: str
) -> None:
    # Hours are "0".."23": another spelling of hour 3 would silently overwrite "3".
    data = await reject_instructions(api, dr_events, {"3": "participation", hour: "off"})
    assert fields_of(data) == [f"instructions.{hour}"]


@pytest.mark.parametrize("value", ["sometimes", "OFF", "Participation", ""])
@pytest.mark.usefixtures("device_with_instructions")
async def test_instructions_bad_value(api: Api, dr_events: ChannelRecorder, value: str) -> None:
    data = await reject_instructions(api, dr_events, {"5": "off", "7": value})
    assert fields_of(data) == ["instructions.7"]
    assert "participation" in message_for(data, "instructions.7")


@pytest.mark.usefixtures("device_with_instructions")
async def test_instructions_value_must_be_a_string(api: Api, dr_events: ChannelRecorder) -> None:
    data = await reject_instructions(api, dr_events, {"7": 1})
    assert fields_of(data) == ["instructions.7"]


@pytest.mark.usefixtures("device_with_instructions")
async def test_instructions_several_bad_hours(api: Api, dr_events: ChannelRecorder) -> None:
    data = await reject_instructions(api, dr_events, {"24": "off", "3": "maybe", "x": "off"})
    assert sorted(fields_of(data)) == ["instructions.24", "instructions.3", "instructions.x"]


@pytest.mark.usefixtures("device_with_instructions")
async def test_instructions_missing_hours_default_to_off(api: Api) -> None:
    put = await api.put(
        "/api/devices/dev-1/instructions", {"instructions": {"23": "shifting"}}, status=200
    )
    expected = {str(h): "off" for h in range(24)} | {"23": "shifting"}
    assert put["instructions"] == expected
    got = await api.get("/api/devices/dev-1/instructions")
    assert got["instructions"] == expected  # "5" and "6" of the earlier PUT are gone


async def test_instructions_of_an_unknown_device(api: Api) -> None:
    status, data = await send(
        api, "PUT", "/api/devices/ghost/instructions", {"instructions": {"1": "off"}}
    )
    assert status == 404, data
    assert data["error"] == "not_found"


# --------------------------------------------------------------------------- query strings


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/api/invitations", {"limit": "0"}, "limit"),
        ("/api/invitations", {"limit": "1001"}, "limit"),
        ("/api/invitations", {"limit": "ten"}, "limit"),
        ("/api/invitations", {"state": "bogus"}, "state"),
        ("/api/invitations", {"hours": "-1"}, "hours"),
        ("/api/invitations", {"hours": "0"}, "hours"),
        ("/api/invitations", {"hours": "nan"}, "hours"),
        ("/api/invitations", {"colour": "red"}, "colour"),
        ("/api/analytics", {"days": "0"}, "days"),
        ("/api/analytics", {"days": "1.5"}, "days"),
        ("/api/events", {"status": "nope"}, "status"),
        ("/api/events", {"limit": "0"}, "limit"),
        ("/api/flexibility/history", {"hours": "-3"}, "hours"),
        ("/api/flexibility/history", {"limit": "0"}, "limit"),
    ],
)
async def test_bad_query_parameter_is_named(
    api: Api, path: str, params: dict[str, str], field: str
) -> None:
    data = await api.get(path, status=422, params=params)
    assert fields_of(data) == [field]


async def test_repeated_query_parameter_is_rejected(api: Api) -> None:
    resp = await api.client.get("/api/invitations", params=[("limit", "1"), ("limit", "2")])
    data = await resp.json()
    assert resp.status == 422, data
    assert fields_of(data) == ["query"]


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/api/invitations", {"limit": "1000", "state": "waiting", "hours": "0.5"}),
        ("/api/invitations", {"state": "answered"}),
        ("/api/analytics", {"days": "3650"}),
        ("/api/events", {"status": "cancelled", "limit": "1"}),
        ("/api/flexibility/history", {"hours": "1", "limit": "10000"}),
    ],
)
async def test_good_query_parameters_are_accepted(
    api: Api, path: str, params: dict[str, str]
) -> None:
    data = await api.get(path, params=params)
    assert "error" not in data


# --------------------------------------------------------------------------- unstorable text

NUL = "\u0000"
# One valid body per route that takes one, with every text field it has (so that each can be
# given a NUL). Ids of the world made by `stored_world` are filled in for "{...}".
FULL_BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/api/devices"): {
        "id": "dev-new", "timezone": "Europe/Paris", "ven_id": "ven-1", "resource_id": "res-new",
    },
    ("PUT", "/api/devices/{device_id}/instructions"): {"instructions": {"17": "participation"}},
    ("PATCH", "/api/devices/{device_id}"): {
        "timezone": "Europe/Paris", "ven_id": "ven-1", "resource_id": "res-2",
    },
    ("PATCH", "/api/vens/{ven_id}"): {
        "name": "ven-renamed", "fingerprint": "AA:BB:CC:DD:EE:FF:00:11:22:33",
        "push_address_style": "bare",
    },
    ("POST", "/api/vens"): {
        "name": "ven-new", "fingerprint": "AA:BB:CC:DD:EE:FF:00:11:22:33", "ven_id": "ven-new",
    },
    ("POST", "/api/invitations"): {
        "event_time": "{later}", "duration_minutes": 30, "load_kwh": 2.0, "devices": ["dev-1"],
        "program_id": "default",
    },
    ("PUT", "/api/invitations/{invitation_id}"): {
        "event_time": "{later}", "duration_minutes": 20, "load_kwh": 1.0, "devices": ["dev-1"],
    },
    ("POST", "/api/invitations/{invitation_id}/cancel"): {"reason": "not needed"},
    ("POST", "/api/invitations/{invitation_id}/answers"): {
        "device_id": "dev-1", "answer": "YES", "committed_kw": 1.0,
    },
    ("POST", "/api/events"): {
        "start_time": "{later}", "duration_minutes": 15, "devices": ["dev-1"], "target_kw": 1.0,
        "program_id": "default", "response_required": "always",
    },
    ("POST", "/api/events/{event_id}/cancel"): {
        "reason": "not needed", "response_required": "always",
    },
    ("PUT", "/api/auto-response"): {"enabled": True, "max_reduction_percentage": 50.0},
    ("POST", "/api/programs"): {
        "id": "new-program", "name": "New program", "market_context": "urn:new",
        "description": "a new one", "baseline_method": "mean_before_event",
        "membership": "enrolled",
    },
    ("PATCH", "/api/programs/{program_id}"): {
        "name": "Renamed", "market_context": "urn:renamed", "description": "renamed",
        "baseline_method": "mean_before_event", "membership": "all",
    },
    ("POST", "/api/meter-history"): {
        "csv": "device_id,interval_start,kwh\ndev-1,2020-01-01T00:00:00Z,1.0\n",
    },
    ("POST", "/api/oadr3/clients"): {"client_id": "bl-text", "role": "BL", "scopes": ["read_all"]},
    ("POST", "/api/vens/{ven_id}/report-requests"): {
        "report_name": "TELEMETRY_STATUS", "r_ids": ["status"], "start": "{later}",
    },
    ("POST", "/api/vens/{ven_id}/report-requests/{report_request_id}/cancel"): {
        "report_to_follow": False,
    },
    ("PUT", "/api/events/{event_id}"): {
        "start_time": "{later}", "duration_minutes": 15, "target_kw": 1.0,
        "response_required": "always",
    },
}  # fmt: skip
ROUTES_WITH_BODY = sorted((r.method, r.path) for r in ROUTES if r.body is not None)
ROUTES_WITH_PATH_IDS = sorted((r.method, r.path) for r in ROUTES if "{" in r.path)


def text_fields_of(schema: dict[str, Any], defs: dict[str, Any]) -> set[str]:
    """The body fields whose JSON Schema takes text (directly, in a list or as a map)."""

    def takes_text(node: dict[str, Any]) -> bool:
        if "$ref" in node:
            return takes_text(defs[node["$ref"].rsplit("/", 1)[1]])
        branches = [
            *node.get("anyOf", []),
            *([node["items"]] if isinstance(node.get("items"), dict) else []),
            *([node["additionalProperties"]]
              if isinstance(node.get("additionalProperties"), dict) else []),
        ]  # fmt: skip
        return node.get("type") == "string" or any(takes_text(b) for b in branches)

    return {name for name, node in schema["properties"].items() if takes_text(node)}


Leaf = tuple[tuple[str, ...], str, bool]  # where, the text, whether it is a map's key


def text_leaves(body: Any, path: tuple[str, ...] = ()) -> list[Leaf]:
    """Every text in ``body``, map keys too (hours are keys)."""
    if isinstance(body, str):
        return [(path, body, False)]
    if isinstance(body, list):
        return [leaf for i, item in enumerate(body) for leaf in text_leaves(item, (*path, str(i)))]
    if isinstance(body, dict):
        leaves: list[Leaf] = []
        for key, value in body.items():
            if path:  # a map's keys are text the client sends (the top level's are field names)
                leaves.append(((*path, key), key, True))
            leaves.extend(text_leaves(value, (*path, key)))
        return leaves
    return []


def with_nul(body: Any, path: tuple[str, ...], in_key: bool) -> Any:
    """``body`` with a NUL put into the text at ``path`` (into its key when ``in_key``)."""
    if not path:
        return f"{body}{NUL}"
    head, rest = path[0], path[1:]
    if isinstance(body, list):
        return [with_nul(v, rest, in_key) if str(i) == head else v for i, v in enumerate(body)]
    if in_key and not rest:
        return {(f"{k}{NUL}" if k == head else k): v for k, v in body.items()}
    return {k: (with_nul(v, rest, in_key) if k == head else v) for k, v in body.items()}


def filled(body: Any, ids: dict[str, str]) -> Any:
    if isinstance(body, str):
        return body.format(**ids) if body.startswith("{") else body
    if isinstance(body, list):
        return [filled(v, ids) for v in body]
    if isinstance(body, dict):
        return {k: filled(v, ids) for k, v in body.items()}
    return body


ROUTES_WITH_TEXT = [route for route in ROUTES_WITH_BODY if text_leaves(FULL_BODIES[route])]


def test_every_route_with_a_body_has_a_full_body_with_each_text_field() -> None:
    assert sorted(FULL_BODIES) == ROUTES_WITH_BODY
    defs = build_openapi()["components"]["schemas"]
    for route in ROUTES:
        if route.body is not None:
            wanted = text_fields_of(defs[route.body.__name__], defs)
            assert wanted <= set(FULL_BODIES[route.method, route.path]), (route.path, wanted)


class TestTextThatCannotBeStored:
    """PostgreSQL cannot store U+0000 (it answered 500, CharacterNotInRepertoireError); the
    rule is the same on SQLite, which would store it: 422 naming the field, nothing changed."""

    @pytest.fixture
    def database_url(self, any_database_url: str) -> str:
        return any_database_url

    @pytest.fixture
    async def stored_world(self, api: Api, clock: MutableClock) -> dict[str, str]:
        await api.device("dev-1", ven_id="ven-1", resource_id="res-1")
        await api.device("dev-2")
        ven = await api.post("/api/vens", {"name": "ven-1", "ven_id": "ven-1"}, status=201)
        invitation = await api.invite(["dev-1", "dev-2"], event_time=in_minutes(120, clock))
        event = await api.post(
            "/api/events",
            {"start_time": in_minutes(60, clock), "duration_minutes": 30, "devices": ["dev-2"],
             "target_kw": 2.0},
            status=201,
        )  # fmt: skip
        program = await api.post(
            "/api/programs", {"name": "Peak", "market_context": "urn:peak"}, status=201
        )
        return {
            "device_id": "dev-1", "ven_id": ven["ven_id"], "invitation_id": invitation["id"],
            "event_id": event["id"], "later": in_minutes(180, clock), "program_id": program["id"],
            "report_request_id": "rr-none", "client_id": "client-none",
        }  # fmt: skip

    @pytest.mark.parametrize(("method", "path"), ROUTES_WITH_TEXT)
    async def test_a_nul_in_any_text_field_is_a_422_naming_it(
        self, api: Api, services: Services, stored_world: dict[str, str], method: str, path: str
    ) -> None:
        body = filled(FULL_BODIES[method, path], stored_world)
        url = path.format(**stored_world)
        leaves = text_leaves(body)
        before = await database_rows(services.db)
        for leaf_path, text, in_key in leaves:
            status, data = await send(api, method, url, with_nul(body, leaf_path, in_key))
            assert status == 422, (leaf_path, data)
            named = ".".join((*leaf_path[:-1], f"{text}{NUL}")) if in_key else ".".join(leaf_path)
            assert named in fields_of(data), (leaf_path, data)
        assert changed_tables(before, await database_rows(services.db)) == {}

    @pytest.mark.parametrize(("method", "path"), ROUTES_WITH_PATH_IDS)
    async def test_a_nul_in_a_path_id_is_a_422_naming_the_parameter(
        self, api: Api, services: Services, stored_world: dict[str, str], method: str, path: str
    ) -> None:
        body = filled(FULL_BODIES.get((method, path)), stored_world)
        before = await database_rows(services.db)
        for name in re.findall(r"\{([^}]+)\}", path):
            url = path.format(**{**stored_world, name: f"x{NUL}"})
            status, data = await send(api, method, url, body)
            assert status == 422, (name, data)
            assert fields_of(data) == [name]
            assert "U+0000" in message_for(data, name)
        assert changed_tables(before, await database_rows(services.db)) == {}

    async def test_the_same_text_without_the_nul_is_taken(
        self, api: Api, stored_world: dict[str, str]
    ) -> None:
        # The refusals above are about the NUL, not the rest of the body.
        created = await api.post("/api/vens", {"name": "ven-nul-free"}, status=201)
        assert created["name"] == "ven-nul-free"
        device = await api.post("/api/devices", {"id": "dev-3", "ven_id": "v\u00e9n"}, status=201)
        assert device["ven_id"] == "v\u00e9n"
