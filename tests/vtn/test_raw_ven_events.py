"""Events as a VEN that is not openleadr sees them (``tests.oadr20b``): the currentValue of an
active event."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.oadr20b.ven import RawVens, raw_vens
from tests.support import Api, MutableClock, in_minutes
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
