"""Invitation -> answers -> scheduled / cancelled / expired, over HTTP, with dr_events observed."""

from __future__ import annotations

import pytest
from redis.asyncio import Redis

from gateway.settings import Settings
from tests.support import Api, ChannelRecorder, in_minutes


async def test_messages_follow_the_documented_schema(api: Api, dr_events: ChannelRecorder) -> None:
    await api.device("dev-1")
    inv = await api.invite(["dev-1"], load_kwh=6.0, duration_minutes=30)
    assert inv["target_kw"] == pytest.approx(12.0)  # 6 kWh over half an hour
    await api.answer(inv["id"], "dev-1", "YES", 12.0)
    await dr_events.wait_for(lambda ms: any(m["event"] == "event_scheduled" for m in ms))
    created = dr_events.named("invitation_created")[0]
    assert created["invitation_id"] == inv["id"]
    assert created["devices"] == ["dev-1"]
    assert created["load_kwh"] == 6.0
    assert created["response"] == "WAITING"
    answered = dr_events.named("invitation_answered")[0]
    assert answered["device_id"] == "dev-1"
    assert answered["response"] == "YES"
    assert answered["committed_kw"] == 12.0
    assert answered["invitation_status"] == "scheduled"
    scheduled = dr_events.named("event_scheduled")[0]
    assert scheduled["event_id"] == answered["event_id"]
    assert scheduled["target_kw"] == pytest.approx(12.0)
    assert scheduled["target_kwh"] == pytest.approx(6.0)
    ids = [m["message_id"] for m in dr_events.messages]
    assert len(ids) == len(set(ids))
    assert all(m["occurred_at"].endswith("+00:00") for m in dr_events.messages)


async def test_one_no_cancels_under_policy_all(api: Api) -> None:
    for d in ("a", "b", "c"):
        await api.device(d)
    inv = await api.invite(["a", "b", "c"])
    await api.answer(inv["id"], "a", "YES", 2.0)
    after_no = await api.answer(inv["id"], "b", "NO", 0.0)
    assert after_no["status"] == "pending"  # decided only once every device answered
    final = await api.answer(inv["id"], "c", "YES", 2.0)
    assert final["status"] == "cancelled"
    assert final["response"] == "NO"
    assert final["event_id"] is None
    assert (await api.get("/api/events"))["count"] == 0


async def test_listing_waiting_and_answered(api: Api) -> None:
    await api.device("a")
    first = await api.invite(["a"])
    second = await api.invite(["a"])
    await api.answer(second["id"], "a", "NO", 0.0)
    waiting = await api.get("/api/invitations", state="waiting")
    answered = await api.get("/api/invitations", state="answered", hours=1, limit=10)
    assert [i["id"] for i in waiting["items"]] == [first["id"]]
    assert [i["id"] for i in answered["items"]] == [second["id"]]
    both = await api.get("/api/invitations", limit=1)
    assert both["count"] == 1
    assert both["items"][0]["id"] == second["id"]  # newest first


async def test_invitation_reads_are_cached_and_invalidated_by_answers(
    api: Api, redis: Redis, settings: Settings
) -> None:
    await api.device("a")
    await api.device("b")
    inv = await api.invite(["a", "b"])
    key = f"{settings.redis_prefix}cache:invitation:{inv['id']}"
    fresh = await api.get(f"/api/invitations/{inv['id']}")
    assert await redis.exists(key) == 1
    cached = await api.get(f"/api/invitations/{inv['id']}")
    assert cached == fresh  # dates come back as the same ISO-8601 UTC values
    await api.answer(inv["id"], "a", "YES", 1.0)
    assert await redis.exists(key) == 0
    assert len((await api.get(f"/api/invitations/{inv['id']}"))["answers"]) == 1


async def test_event_cancel_moves_scheduled_to_cancelled_once(
    api: Api, dr_events: ChannelRecorder
) -> None:
    await api.device("a")
    event = await api.post(
        "/api/events",
        {"start_time": in_minutes(10), "duration_minutes": 30, "devices": ["a"], "target_kw": 3.0},
        status=201,
    )
    assert event["target_kwh"] == pytest.approx(1.5)
    cancelled = await api.post(
        f"/api/events/{event['id']}/cancel", {"reason": "grid ok"}, status=200
    )
    assert cancelled["status"] == "cancelled"
    assert cancelled["cancel_reason"] == "grid ok"
    again = await api.post(f"/api/events/{event['id']}/cancel", {}, status=409)
    assert again["error"] == "illegal_transition"
    assert (await api.get(f"/api/events/{event['id']}"))["cancel_reason"] == "grid ok"
    listed = await api.get("/api/events", params={"status": "cancelled"})
    assert [e["id"] for e in listed["items"]] == [event["id"]]
    await dr_events.wait_for(lambda ms: any(m["event"] == "event_cancelled" for m in ms))
    assert len(dr_events.named("event_cancelled")) == 1
