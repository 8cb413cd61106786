"""How an invitation looks to each VEN: shares, SIMPLE levels, status, and what is news."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from gateway.domain.programs import (
    DEFAULT_SIMPLE_LEVELS,
    Program,
    ProgramTerms,
    SimpleLevel,
)
from gateway.domain.ven_events import InvitationFacts, InvitedDevice
from gateway.oadr20b.mapping import (
    ENDED_LISTED_FOR,
    OadrEventStatus,
    after_delivery,
    awaits_cancel_ack,
    needs_distribute,
    simple_level,
    snapshot,
    ven_events,
    visible,
)

T0 = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
NEAR = timedelta(minutes=60)
PEAK = Program("peak", ProgramTerms(name="Peak", market_context="urn:peak"))


def facts(**changes: object) -> InvitationFacts:
    values: dict[str, object] = {
        "invitation_id": "inv-1",
        "created_at": T0,
        "event_time": T0 + timedelta(hours=3),
        "duration_minutes": 30,
        "target_kw": 9.0,
        "load_percentage": 30.0,
        "modification_number": 0,
        "cancelled": False,
        "devices": (
            InvitedDevice("a1", "ven-a", "ra1"),
            InvitedDevice("a2", "ven-a", None),
            InvitedDevice("b1", "ven-b", "rb1"),
            InvitedDevice("x1", None, None),
        ),
        "program": PEAK,
    }
    values.update(changes)
    return InvitationFacts(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("percentage", "level"),
    [(0.0, 1), (0.1, 1), (15.0, 1), (15.1, 2), (40.0, 2), (40.1, 3), (100.0, 3)],
)
def test_simple_level_mapping(percentage: float, level: int) -> None:
    assert simple_level(percentage, DEFAULT_SIMPLE_LEVELS) == level


def test_the_simple_level_comes_from_the_programs_own_table() -> None:
    coarse = (SimpleLevel(50.0, 1), SimpleLevel(100.0, 3))
    assert [simple_level(p, coarse) for p in (10.0, 50.0, 50.1)] == [1, 1, 3]
    program = Program("coarse", ProgramTerms("Coarse", "urn:coarse", simple_levels=coarse))
    event = ven_events(facts(program=program, load_percentage=45.0))["ven-a"]
    assert event.simple_level == 1  # 3 with the default table
    assert event.program is program


def test_each_ven_gets_its_devices_share_and_resource_ids() -> None:
    events = ven_events(facts())
    assert sorted(events) == ["ven-a", "ven-b"]  # a device without a VEN gets no event
    a, b = events["ven-a"], events["ven-b"]
    assert a.dispatch_kw == pytest.approx(4.5)  # 2 of 4 devices, 9 kW
    assert b.dispatch_kw == pytest.approx(2.25)
    assert a.resource_ids == ("ra1", "a2")  # no resource id: the device id stands in
    assert a.device_ids == ("a1", "a2")
    assert a.simple_level == 2
    assert a.event_id == b.event_id == "inv-1"


def test_status_from_the_clock_and_cancellation() -> None:
    event = ven_events(facts())["ven-a"]
    start = event.start
    assert event.status(start - timedelta(minutes=61), NEAR) is OadrEventStatus.FAR
    assert event.status(start - timedelta(minutes=60), NEAR) is OadrEventStatus.NEAR
    assert event.status(start, NEAR) is OadrEventStatus.ACTIVE
    assert event.status(start + timedelta(minutes=30), NEAR) is OadrEventStatus.COMPLETED
    cancelled = ven_events(facts(cancelled=True))["ven-a"]
    assert cancelled.status(start, NEAR) is OadrEventStatus.CANCELLED


def test_news_is_new_modified_or_changed_status_and_told_once() -> None:
    event = ven_events(facts())["ven-a"]
    now = T0
    shown = visible([event], {}, now, NEAR)
    current = snapshot(shown, now, NEAR)
    assert current == {"inv-1": [0, "far"]}
    assert needs_distribute(current, {})
    told = after_delivery(current, {}, {"inv-1"})
    assert not needs_distribute(current, told)
    later = now + timedelta(hours=2, minutes=30)  # 30 min before the start: near
    assert needs_distribute(snapshot(visible([event], told, later, NEAR), later, NEAR), told)
    modified = ven_events(facts(modification_number=1))["ven-a"]
    assert needs_distribute(snapshot([modified], now, NEAR), told)


def test_an_ended_event_is_listed_an_hour_past_its_end_then_dropped_quietly() -> None:
    # A cancel the VEN acknowledged (2.0b: it answers an "always" event's cancel).
    event = replace(ven_events(facts(cancelled=True))["ven-a"], cancel_acknowledged=True)
    now = T0
    told = {"inv-1": [0, "far"]}
    shown = visible([event], told, now, NEAR)
    assert [e.event_id for e in shown] == ["inv-1"]
    current = snapshot(shown, now, NEAR)
    assert needs_distribute(current, told)
    told = after_delivery(current, told, {"inv-1"})
    assert told == {"inv-1": [0, "cancelled"]}
    # Told, it stays listed (EPRI lists ended events; A_E2_0685) but is no news.
    assert [e.event_id for e in visible([event], told, now, NEAR)] == ["inv-1"]
    assert not needs_distribute(snapshot([event], now, NEAR), told)
    later = event.end + ENDED_LISTED_FOR + timedelta(seconds=1)
    assert visible([event], told, later, NEAR) == []
    assert not needs_distribute({}, told)
    # An hour past its end, still listed to a VEN that has not heard how it ended.
    assert [e.event_id for e in visible([event], {"inv-1": [0, "far"]}, later, NEAR)] == ["inv-1"]


def test_an_unacknowledged_cancel_stays_listed() -> None:
    event = ven_events(facts(cancelled=True))["ven-a"]
    told = {"inv-1": [0, "cancelled"]}
    assert awaits_cancel_ack(event, T0, NEAR)
    assert [e.event_id for e in visible([event], told, T0, NEAR)] == ["inv-1"]


def test_an_open_event_that_vanished_is_news() -> None:
    # The VEN's devices were taken out of the invitation: leaving it out is an implied cancel.
    assert needs_distribute({}, {"inv-1": [2, "near"]})
    assert not needs_distribute({}, {"inv-1": [2, "completed"]})
