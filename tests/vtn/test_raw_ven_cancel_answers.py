"""A VEN's answer to a cancelled event, from a VEN that is not openleadr (``tests.oadr20b``):
the acknowledgement 2.0b asks of an event whose response is required (cert A_E3_0492-0496),
answered 200 and recorded, deciding nothing; answers to old terms or to no event of the VEN
stay refused."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select

from gateway.db.models import VenCancelAckRow
from gateway.services.container import Services
from tests.oadr20b.messages import EventReply
from tests.oadr20b.ven import RawVen, RawVens, raw_vens
from tests.support import Api, MutableClock, in_minutes
from tests.vtn.raw_ven import registered


@pytest.fixture
def clock() -> MutableClock:
    return MutableClock()


@pytest.fixture
async def vens(vtn_url: str, clock: MutableClock) -> AsyncIterator[RawVens]:
    async with raw_vens(vtn_url, clock.now) as made:
        yield made


async def _acks(services: Services) -> list[tuple[str, str, int, str]]:
    async with services.db.read() as session:
        rows = await session.scalars(select(VenCancelAckRow))
        return [(r.ven_id, r.invitation_id, r.modification_number, r.answer) for r in rows]


async def _scheduled_then_cancelled(api: Api, ven: RawVen, clock: MutableClock) -> str:
    """An invitation the VEN opted in to (so scheduled), then cancelled by the operator."""
    invitation = await api.invite(["a1"], event_time=in_minutes(30, clock), duration_minutes=30)
    first = await ven.poll()
    assert (await ven.answer_events(first, opt="optIn")).code == 200
    view = await api.get(f"/api/invitations/{invitation['id']}")
    assert view["status"] == "scheduled"
    await api.post(f"/api/invitations/{invitation['id']}/cancel", {}, status=200)
    return str(invitation["id"])


async def test_an_answer_to_a_cancelled_event_is_acknowledged_recorded_and_decides_nothing(
    api: Api, vens: RawVens, clock: MutableClock, services: Services
) -> None:
    ven = await registered(api, vens, "ven-a", {"a1": "ra1"})
    invitation_id = await _scheduled_then_cancelled(api, ven, clock)
    before = await api.get(f"/api/invitations/{invitation_id}")

    cancelled = await ven.poll()
    event = cancelled.event(invitation_id)
    assert event.status == "cancelled"
    assert event.modification_number > 0
    reply = await ven.answer_events(cancelled, opt="optOut")
    assert reply.code == 200, reply.description
    assert "cancellation acknowledged" in (reply.description or "")
    # Once per modification: the first acknowledgement is the one kept.
    again = await ven.answer_events(cancelled, opt="optIn")
    assert again.code == 200, again.description
    assert await _acks(services) == [("ven-a", invitation_id, event.modification_number, "NO")]

    after = await api.get(f"/api/invitations/{invitation_id}")
    assert after["status"] == "cancelled"
    assert after["answers"] == before["answers"]  # the device's YES stands, as recorded
    assert [(a["answer"], a["source"]) for a in after["answers"]] == [("YES", "ven")]


async def test_answers_to_old_terms_or_to_no_event_of_the_ven_stay_refused(
    api: Api, vens: RawVens, clock: MutableClock, services: Services
) -> None:
    ven = await registered(api, vens, "ven-a", {"a1": "ra1"})
    invitation_id = await _scheduled_then_cancelled(api, ven, clock)
    cancelled = await ven.poll()
    current = cancelled.event(invitation_id).modification_number
    stale = await ven.answer_events(cancelled, [EventReply(invitation_id, 0, "optOut")])
    assert stale.code == 450, stale.description
    unknown = await ven.answer_events(cancelled, [EventReply("no-such-event", current, "optOut")])
    assert unknown.code == 452, unknown.description
    assert await _acks(services) == []
