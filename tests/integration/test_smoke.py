from __future__ import annotations

from tests.support import Api, ChannelRecorder


async def test_invitation_all_yes_schedules_an_event(api: Api, dr_events: ChannelRecorder) -> None:
    await api.device("dev-1")
    await api.device("dev-2")
    inv = await api.invite(["dev-1", "dev-2"])
    assert inv["status"] == "pending"
    assert inv["response"] == "WAITING"
    await api.answer(inv["id"], "dev-1", "YES", 4.0)
    done = await api.answer(inv["id"], "dev-2", "YES", 6.0)
    assert done["status"] == "scheduled"
    assert done["response"] == "YES"
    event = await api.get(f"/api/events/{done['event_id']}")
    assert event["status"] == "scheduled"
    assert [d["committed_kw"] for d in event["devices"]] == [4.0, 6.0]
    await dr_events.wait_for(lambda ms: any(m["event"] == "event_scheduled" for m in ms))
    names = [m["event"] for m in dr_events.messages]
    assert names.count("invitation_answered") == 2
    assert "invitation_created" in names
