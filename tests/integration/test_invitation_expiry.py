"""An invitation still undecided at its event time expires and closes to answers."""

from __future__ import annotations

import pytest

from gateway.services.container import Services
from tests.support import Api, ChannelRecorder, MutableClock, in_minutes


@pytest.fixture
def clock() -> MutableClock:
    return MutableClock()


async def test_undecided_invitation_expires_at_event_time(
    api: Api, services: Services, clock: MutableClock, dr_events: ChannelRecorder
) -> None:
    await api.device("a")
    await api.device("b")
    inv = await api.invite(["a", "b"], event_time=in_minutes(30, clock))
    await api.answer(inv["id"], "a", "YES", 1.0)
    assert await services.invitations.expire_overdue() == 0
    clock.advance(minutes=30)
    assert await services.invitations.expire_overdue() == 1
    expired = await api.get(f"/api/invitations/{inv['id']}")
    assert expired["status"] == "expired"
    assert expired["response"] == "NO"
    late = await api.answer(inv["id"], "b", "YES", 1.0, status=409)
    assert "expired" in late["message"]
    await dr_events.wait_for(lambda ms: any(m["event"] == "invitation_expired" for m in ms))
    assert await services.invitations.expire_overdue() == 0
