"""A new duration for an invitation whose event time has come (PUT /api/invitations/{id}):
only its end moves, never into the past, and an event that is over does not change."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from tests.support import Api, ChannelRecorder, MutableClock, in_minutes


@pytest.fixture
def database_url(any_database_url: str) -> str:
    return any_database_url


@pytest.fixture
def clock() -> MutableClock:
    return MutableClock()


async def _in_force(api: Api, clock: MutableClock, devices: int = 1, name: str = "d") -> Any:
    """A scheduled invitation of 60 min at 12 kWh (12 kW), begun 10 minutes ago, of devices
    named ``name``1, 2..."""
    names = [f"{name}{n}" for n in range(1, devices + 1)]
    for device in names:
        await api.device(device)
    invitation = await api.invite(
        names, event_time=in_minutes(5, clock), duration_minutes=60, load_kwh=12.0,
        load_percentage=20.0,
    )  # fmt: skip
    for device in names:
        await api.answer(invitation["id"], device, committed_kw=12.0 / devices)
    clock.advance(minutes=15)
    return await api.get(f"/api/invitations/{invitation['id']}")


def _terms(invitation: Any, **changes: Any) -> dict[str, Any]:
    body = {
        "event_time": invitation["event_time"], "duration_minutes": invitation["duration_minutes"],
        "load_kwh": invitation["load_kwh"], "load_percentage": invitation["load_percentage"],
        "devices": invitation["devices"],
    }  # fmt: skip
    return body | changes


@pytest.mark.parametrize("minutes", [20, 90])
async def test_an_event_in_force_gets_a_new_end_and_keeps_its_answers(
    api: Api, clock: MutableClock, dr_events: ChannelRecorder, minutes: int
) -> None:
    invitation = await _in_force(api, clock)
    url = f"/api/invitations/{invitation['id']}"
    changed = await api.put(url, _terms(invitation, duration_minutes=minutes), status=200)
    assert changed["status"] == "scheduled"
    assert changed["event_id"] == invitation["event_id"]
    assert changed["answers"] == invitation["answers"]
    assert (changed["duration_minutes"], changed["event_time"]) == (
        minutes, invitation["event_time"],
    )  # fmt: skip
    assert changed["target_kw"] == pytest.approx(12.0)  # the same rate of shed...
    assert changed["load_kwh"] == pytest.approx(12.0 * minutes / 60)  # ...for the new time
    event = await api.get(f"/api/events/{invitation['event_id']}")
    end = datetime.fromisoformat(invitation["event_time"]) + timedelta(minutes=minutes)
    assert datetime.fromisoformat(event["end_time"]) == end
    assert event["target_kwh"] == pytest.approx(12.0 * minutes / 60)
    messages = await dr_events.wait_for(
        lambda ms: any(m["event"] == "invitation_modified" for m in ms)
    )
    modified = next(m for m in messages if m["event"] == "invitation_modified")
    assert (modified["duration_minutes"], modified["end_time"]) == (minutes, end.isoformat())
    assert modified["modification_number"] == 1  # the VENs hear of it
    assert datetime.fromisoformat(changed["end_time"]) == end


async def test_the_new_end_must_be_after_now(api: Api, clock: MutableClock) -> None:
    invitation = await _in_force(api, clock)  # began 10 min ago
    url = f"/api/invitations/{invitation['id']}"
    for minutes in (5, 10):  # ended 5 min ago; ends now (that is the cancel)
        refused = await api.put(url, _terms(invitation, duration_minutes=minutes), status=422)
        assert refused["error"] == "validation_failed"
        assert [f["field"] for f in refused["fields"]] == ["duration_minutes"]
        assert "cancel it" in refused["message"]
    assert await api.get(url) == invitation


async def test_an_event_in_force_keeps_its_start_load_and_devices(
    api: Api, clock: MutableClock
) -> None:
    invitation = await _in_force(api, clock, devices=2)
    url = f"/api/invitations/{invitation['id']}"
    moved = await api.put(url, _terms(invitation, event_time=in_minutes(5, clock)), status=422)
    assert [f["field"] for f in moved["fields"]] == ["event_time"]
    for changes in (
        {"load_percentage": 50.0},
        {"load_kwh": 30.0},
        {"devices": ["d1"]},
    ):
        refused = await api.put(url, _terms(invitation, duration_minutes=30, **changes))
        assert refused["error"] == "conflict", changes
        assert "only its duration can change" in refused["message"]
    assert await api.get(url) == invitation


async def test_a_cancelled_or_completed_event_cannot_be_modified(
    api: Api, clock: MutableClock
) -> None:
    cancelled = await _in_force(api, clock)
    url = f"/api/invitations/{cancelled['id']}"
    await api.post(f"{url}/cancel", {}, status=200)
    refused = await api.put(url, _terms(cancelled, duration_minutes=30), status=409)
    assert "cancelled: it cannot be modified" in refused["message"]

    # Its event cancelled by itself (over the events API): the invitation's terms stay.
    api_cancelled = await _in_force(api, clock, name="e")
    await api.post(f"/api/events/{api_cancelled['event_id']}/cancel", {}, status=200)
    url = f"/api/invitations/{api_cancelled['id']}"
    refused = await api.put(url, _terms(api_cancelled, duration_minutes=30), status=409)
    assert "its event is cancelled" in refused["message"]

    completed = await _in_force(api, clock, name="f")
    clock.advance(minutes=60)  # its hour is over
    url = f"/api/invitations/{completed['id']}"
    refused = await api.put(url, _terms(completed, duration_minutes=90), status=409)
    assert "completed" in refused["message"]
    assert await api.get(url) == completed
