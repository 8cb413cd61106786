"""Changing and cancelling invitations over the admin API."""

from __future__ import annotations

import pytest

from tests.support import Api, ChannelRecorder, in_minutes


async def answer_all(api: Api, invitation_id: str, devices: list[str]) -> dict[str, object]:
    view: dict[str, object] = {}
    for device in devices:
        view = await api.post(
            f"/api/invitations/{invitation_id}/answers",
            {"device_id": device, "answer": "YES", "committed_kw": 1.0},
            status=201,
        )
    return view


async def test_modifying_a_pending_invitation_clears_answers_and_bumps_the_number(
    api: Api, dr_events: ChannelRecorder
) -> None:
    for device in ("d1", "d2", "d3"):
        await api.device(device)
    invitation = await api.invite(["d1", "d2"])
    await api.post(
        f"/api/invitations/{invitation['id']}/answers",
        {"device_id": "d1", "answer": "YES", "committed_kw": 1.0},
        status=201,
    )
    when = in_minutes(300)
    changed = await api.put(
        f"/api/invitations/{invitation['id']}",
        {"event_time": when, "duration_minutes": 30, "load_kwh": 4.0, "devices": ["d2", "d3"]},
        status=200,
    )
    assert changed["status"] == "pending"
    assert changed["answers"] == []
    assert changed["devices"] == ["d2", "d3"]
    assert changed["target_kw"] == pytest.approx(8.0)
    assert changed["duration_minutes"] == 30
    message = await dr_events.wait_for(
        lambda ms: any(m["event"] == "invitation_modified" for m in ms)
    )
    modified = next(m for m in message if m["event"] == "invitation_modified")
    assert modified["modification_number"] == 1
    assert modified["devices"] == ["d2", "d3"]


async def test_modifying_a_scheduled_invitation_supersedes_its_event(api: Api) -> None:
    await api.device("d1")
    invitation = await api.invite(["d1"])
    scheduled = await answer_all(api, invitation["id"], ["d1"])
    assert scheduled["status"] == "scheduled"
    old_event = scheduled["event_id"]
    changed = await api.put(
        f"/api/invitations/{invitation['id']}",
        {"event_time": in_minutes(400), "load_kwh": 1.0, "devices": ["d1"]},
        status=200,
    )
    assert changed["status"] == "pending"
    assert changed["event_id"] is None
    assert changed["duration_minutes"] == 59  # the configured default
    superseded = await api.get(f"/api/events/{old_event}")
    assert superseded["status"] == "cancelled"
    assert superseded["cancel_reason"] == "superseded by modification 1"
    again = await answer_all(api, invitation["id"], ["d1"])
    assert again["status"] == "scheduled"
    assert again["event_id"] not in (None, old_event)


async def test_bad_modifications_are_refused_and_change_nothing(api: Api) -> None:
    await api.device("d1")
    invitation = await api.invite(["d1"])
    url = f"/api/invitations/{invitation['id']}"
    past = await api.put(url, {"event_time": in_minutes(-5), "load_kwh": 1.0, "devices": ["d1"]})
    unknown = await api.put(url, {"event_time": in_minutes(60), "load_kwh": 1.0, "devices": ["zz"]})
    for refused in (past, unknown):
        assert refused["error"] == "validation_failed"
    missing = await api.put(
        "/api/invitations/nope", {"event_time": in_minutes(60), "load_kwh": 1, "devices": ["d1"]}
    )
    assert missing["error"] == "not_found"
    assert await api.get(url) == invitation


async def test_cancelling_cancels_the_event_and_cannot_happen_twice(
    api: Api, dr_events: ChannelRecorder
) -> None:
    await api.device("d1")
    invitation = await api.invite(["d1"])
    scheduled = await answer_all(api, invitation["id"], ["d1"])
    cancelled = await api.post(
        f"/api/invitations/{invitation['id']}/cancel", {"reason": "grid is fine"}, status=200
    )
    assert cancelled["status"] == "cancelled"
    assert cancelled["decision_reason"] == "grid is fine"
    event = await api.get(f"/api/events/{scheduled['event_id']}")
    assert (event["status"], event["cancel_reason"]) == ("cancelled", "grid is fine")
    await dr_events.wait_for(lambda ms: any(m["event"] == "event_cancelled" for m in ms))
    assert [m["reason"] for m in dr_events.named("invitation_cancelled")] == ["grid is fine"]
    again = await api.post(f"/api/invitations/{invitation['id']}/cancel", {}, status=409)
    assert again["error"] == "illegal_transition"
