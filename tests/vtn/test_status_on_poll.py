"""Event status (far, near, active, completed) is recomputed on every poll from the clock,
and the VEN is told each change once."""

from __future__ import annotations

import pytest

from tests.support import Api, MutableClock, in_minutes
from tests.vtn.conftest import VenFactory
from tests.vtn.test_ven_flow import Inbox, answering, provision, register


@pytest.fixture
def moving_clock() -> MutableClock:
    return MutableClock()


@pytest.fixture
def clock(moving_clock: MutableClock) -> MutableClock:
    return moving_clock


async def test_each_status_change_is_seen_on_the_next_poll(
    api: Api, make_ven: VenFactory, moving_clock: MutableClock
) -> None:
    await provision(api, "ven-a", {"a1": "ra1"})
    ven = make_ven("ven-a", ven_id="ven-a")
    answering(ven, "optIn")
    inbox = Inbox(ven)
    await register(ven)
    await api.invite(["a1"], event_time=in_minutes(180, moving_clock), duration_minutes=30)

    statuses = []
    # Start at +180 min, 30 min long: far, far, near (50 min before), active, active, done.
    for minutes in (0, 30, 100, 60, 10, 30):
        moving_clock.advance(minutes=minutes)
        before = len(inbox.messages)
        await ven._poll()
        new = [p for t, p in inbox.messages[before:] if t == "oadrDistributeEvent"]
        statuses.append(new[0]["events"][0]["event_descriptor"]["event_status"] if new else None)
    assert statuses == ["far", None, "near", "active", None, "completed"]
