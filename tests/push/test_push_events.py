"""Push-mode twins of the event cases (cert case list, section 2: E0_6020-E0_6080, A_E2_0432-
A_E2_0685, G0_9010) beyond those of the other push modules: the pull twin's setup and checks,
the VTN POSTing what a poll would get. Each test has its own gateway on the real clock, which
it moves ahead (``PushSite.clock``) where a case needs an event active or over. A case the
gateway cannot pass is ``xfail(strict=True)`` naming why; so are the gaps found on the way,
at the end."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

import pytest

from tests.oadr20a.peer import Ven20a
from tests.oadr20b import messages
from tests.oadr20b.answers import Answer
from tests.oadr20b.cert.site import active_period_text, price, simple
from tests.oadr20b.messages import EventReply
from tests.push.conftest import VTN_PATH, PushSite
from tests.push.ven import Pushed, PushVen

PENDING = ("far", "near")
DISTRIBUTE = "oadrDistributeEvent"
# Longer than one push sweep (0.5 s here): what is not pushed by then is not owed.
QUIET = 0.7
# The executor (it runs events on the devices) back on, for the tests about what it does.
EXECUTOR = pytest.mark.parametrize("push_overrides", [{}])


@pytest.fixture
def push_overrides() -> dict[str, Any]:
    """No executor, as the pull twins have none (their gateway runs no workers): it only
    races what these cases check. The tests about what it does turn it on (``EXECUTOR``): a
    move once it sampled a baseline (test_E0_6030_..._baseline_sampled), and an event whose
    window the moved clock jumped over marked missed (test_a_missed_event_...)."""
    return {"executor_enabled": False}


def _at(site: PushSite, minutes: float) -> str:
    return (site.clock.now() + timedelta(minutes=minutes)).isoformat()


def _resources(devices: Sequence[str]) -> list[str]:
    return sorted(f"{d}-r" for d in devices)  # as PushSite.push_ven provisions them


async def _invite(
    site: PushSite, devices: Sequence[str], start_in: float, duration_minutes: int = 5
) -> str:
    view = await site.api.invite(
        list(devices), event_time=_at(site, start_in), duration_minutes=duration_minutes,
        load_kwh=1.0, load_percentage=30.0,  # SIMPLE level 2
    )  # fmt: skip
    return str(view["id"])


async def _signal_event(
    site: PushSite,
    devices: Sequence[str],
    start_in: float,
    signals: Sequence[dict[str, Any]],
    **options: Any,
) -> str:
    """What ``CertGateway.signal_event`` posts: an event with explicit signals."""
    duration = sum(i["duration_minutes"] for i in signals[0]["intervals"])
    body = {
        "start_time": _at(site, start_in), "duration_minutes": duration,
        "devices": list(devices), "signals": list(signals), **options,
    }  # fmt: skip
    return str((await site.api.post("/api/events", body, status=201))["id"])


def _distributes(ven: PushVen) -> list[Answer]:
    return [p.answer for p in ven.received if p.answer.message_type == DISTRIBUTE]


async def _pushed(ven: PushVen, wanted: Callable[[Answer], bool], within: float = 5.0) -> Answer:
    """The first oadrDistributeEvent pushed that is ``wanted`` (pushes list the events as
    they are when sent: two changes close together may come in one push or two)."""
    for _ in range(int(within / 0.02)):
        found = [a for a in _distributes(ven) if wanted(a)]
        if found:
            return found[0]
        await asyncio.sleep(0.02)
    raise AssertionError([[(e.event_id, e.status, e.modification_number) for e in a.events]
                          for a in _distributes(ven)])  # fmt: skip


def _listing(*event_ids: str) -> Callable[[Answer], bool]:
    return lambda answer: [e.event_id for e in answer.events] == list(event_ids)


def _with(event_id: str, status: str, modification: int) -> Callable[[Answer], bool]:
    def wanted(answer: Answer) -> bool:
        return any(
            (e.event_id, e.status, e.modification_number) == (event_id, status, modification)
            for e in answer.events
        )

    return wanted


async def _opts(site: PushSite, event_id: str) -> dict[str, Any]:
    view = await site.api.get(f"/api/events/{event_id}")
    return {d["device_id"]: d.get("opt") for d in view["devices"]}


async def _no_more_pushes(ven: PushVen, count: int) -> None:
    """A sweep on, the VEN has had ``count`` pushes, all distributes, and no other."""
    await asyncio.sleep(QUIET)
    assert [p.answer.message_type for p in ven.received] == [DISTRIBUTE] * count


async def _program(site: PushSite, ven: PushVen, devices: Sequence[str], number: int) -> str:
    """A program, market context ``number`` (1 or 2), with the VEN and its devices enrolled."""
    program_id = f"mc{number}-{ven.raw.id}"
    body = {"id": program_id, "name": program_id,
            "market_context": f"http://MarketContext{number}/{ven.raw.id}"}  # fmt: skip
    await site.api.post("/api/programs", body, status=201)
    await site.api.put(f"/api/programs/{program_id}/vens/{ven.raw.id}", None, status=200)
    for device in devices:
        await site.api.put(f"/api/programs/{program_id}/devices/{device}", None, status=200)
    return program_id


# --- E0: events with explicit signals ---------------------------------------------------------
async def _p010(site: PushSite) -> tuple[PushVen, list[str], str, Pushed]:
    """P010: +10 min, one 5-min interval, ELECTRICITY_PRICE 3.14 for two resources; its
    push."""
    ven, devices = await site.push_ven(devices=2)
    event_id = await _signal_event(site, devices, 10, [price(3.14)])
    return ven, devices, event_id, await ven.wait_for(DISTRIBUTE)


async def test_E0_6020_price_event_for_two_resources(push_site: PushSite) -> None:
    """=E1_1020: the price event pushed with its signal, 5 minutes and both resources;
    the VEN's optIn answered 200."""
    ven, devices, event_id, pushed = await _p010(push_site)
    event = pushed.answer.event(event_id)
    signal = event.signal("ELECTRICITY_PRICE")
    assert (signal.signal_type, [i.values for i in signal.intervals]) == ("price", [(3.14,)])
    assert (event.status, event.modification_number) == ("near", 0)
    assert event.duration == timedelta(minutes=5)
    assert sorted(r for t in event.targets for r in t.resource_ids) == _resources(devices)
    assert (await ven.raw.answer_events(pushed.answer)).code == 200
    assert ven.problems == []


async def test_E0_6025_load_dispatch_setpoint(push_site: PushSite) -> None:
    """=E1_1025: +1 min, 5 min, LOAD_DISPATCH setpoint powerReal 40, pushed as such."""
    ven, devices = await push_site.push_ven()
    setpoint = {
        "name": "LOAD_DISPATCH", "type": "setpoint", "units": "powerReal",
        "intervals": [{"duration_minutes": 5, "value": 40}],
    }  # fmt: skip
    event_id = await _signal_event(push_site, devices, 1, [setpoint])
    pushed = await ven.wait_for(DISTRIBUTE)
    signal = pushed.answer.event(event_id).signal("LOAD_DISPATCH")
    assert (signal.signal_type, [i.values for i in signal.intervals]) == ("setpoint", [(40.0,)])
    assert (await ven.raw.answer_events(pushed.answer)).code == 200
    assert ven.problems == []


async def test_E0_6030_price_event_modified(push_site: PushSite) -> None:
    """=E1_1030: P010, then P011 (its start set again, +10 min from then): a second push,
    modificationNumber 1 at the new start, each answered 200."""
    ven, _, event_id, first = await _p010(push_site)
    assert first.answer.event(event_id).modification_number == 0
    assert (await ven.raw.answer_events(first.answer)).code == 200
    start = (push_site.clock.now() + timedelta(minutes=10)).replace(microsecond=0)
    await push_site.api.put(f"/api/events/{event_id}", {"start_time": start.isoformat()},
                            status=200)  # fmt: skip
    second = (await ven.wait_for(DISTRIBUTE, count=2)).answer
    event = second.event(event_id)
    assert (event.modification_number, event.start) == (1, start)
    assert event.signal("ELECTRICITY_PRICE").intervals[0].values == (3.14,)
    assert (await ven.raw.answer_events(second)).code == 200
    await _no_more_pushes(ven, 2)
    assert ven.problems == []


async def test_E0_6040_simple_and_price_events_together(push_site: PushSite) -> None:
    """=E1_1040: SIMPLE 2 at +1 min and ELECTRICITY_PRICE 3.13 at +10 min: a push holds both,
    in order; one oadrCreatedEvent per event, each 200."""
    ven, devices = await push_site.push_ven()
    level = await _signal_event(push_site, devices, 1, [simple(2)])
    cost = await _signal_event(push_site, devices, 10, [price(3.13)])
    both = await _pushed(ven, _listing(level, cost))
    assert both.event(level).signal("SIMPLE").intervals[0].values == (2.0,)
    assert both.event(cost).signal("ELECTRICITY_PRICE").intervals[0].values == (3.13,)
    for event in both.events:
        reply = EventReply(event.event_id, event.modification_number)
        assert (await ven.raw.answer_events(both, [reply])).code == 200
    assert ven.problems == []


async def test_E0_6060_resource_opted_out_by_create_opt(push_site: PushSite) -> None:
    """=E1_1060, opting out resource 2 only: the push names both resources; after the
    VEN's optIn, its oadrCreateOpt optOut for resource 2 is taken (200) and the event view
    shows resource 1 in, resource 2 out."""
    ven, devices, event_id, pushed = await _p010(push_site)
    targets = pushed.answer.event(event_id).targets
    assert sorted(r for t in targets for r in t.resource_ids) == _resources(devices)
    assert (await ven.raw.answer_events(pushed.answer)).code == 200
    raw = ven.raw
    opt = await raw.send(messages.create_opt(
        raw.request_id(), raw.id, opt_id=f"opt-{raw.id}", opt_type="optOut",
        created=push_site.clock.now(), event=(event_id, 0), resource_ids=[f"{devices[1]}-r"],
    ))  # fmt: skip
    assert opt.code == 200
    assert await _opts(push_site, event_id) == {devices[0]: "optIn", devices[1]: "optOut"}
    assert ven.problems == []


async def test_E0_6065_create_opt_beats_a_later_created_event(push_site: PushSite) -> None:
    """=E1_1065: resource 2 opted in by oadrCreateOpt, then an oadrCreatedEvent optOut for the
    pushed event: the event view still shows resource 2 in (resource 1 out)."""
    ven, devices, event_id, pushed = await _p010(push_site)
    raw = ven.raw
    opt = await raw.send(messages.create_opt(
        raw.request_id(), raw.id, opt_id=f"opt-{raw.id}", opt_type="optIn",
        created=push_site.clock.now(), event=(event_id, 0), resource_ids=[f"{devices[1]}-r"],
    ))  # fmt: skip
    assert opt.code == 200
    assert (await raw.answer_events(pushed.answer, opt="optOut")).code == 200
    assert await _opts(push_site, event_id) == {devices[0]: "optOut", devices[1]: "optIn"}
    assert ven.problems == []


async def test_E0_6080_created_event_with_a_case_flipped_ven_id(push_site: PushSite) -> None:
    """=E1_1080: SIMPLE level 2 at +1 min, pushed; an oadrCreatedEvent whose venID differs
    in case is refused with 452."""
    ven, devices = await push_site.push_ven()
    event_id = await _invite(push_site, devices, 1)
    pushed = await ven.wait_for(DISTRIBUTE)
    assert pushed.answer.event(event_id).signal("SIMPLE").intervals[0].values == (2.0,)
    flipped = ven.raw.id.swapcase()
    assert flipped != ven.raw.id
    body = messages.created_event(
        flipped, pushed.answer.own_request_id or "", [EventReply(event_id, 0, "optIn")]
    )
    assert (await ven.raw.send(body)).code == 452
    assert ven.problems == []


# --- A_E2: status, modification, cancel -------------------------------------------------------
async def test_A_E2_0432_three_intervals_with_ramp_recovery_and_startafter(
    push_site: PushSite,
) -> None:
    """=A_E3_0432: +2 min, three 5-min SIMPLE intervals, rampUp, recovery and startafter of a
    minute each: pushed pending with all of them."""
    ven, devices = await push_site.push_ven()
    event_id = await _signal_event(
        push_site, devices, 2, [simple(1, 2, 3)],
        ramp_up_minutes=1, recovery_minutes=1, start_after_minutes=1,
    )  # fmt: skip
    answer = (await ven.wait_for(DISTRIBUTE)).answer
    event = answer.event(event_id)
    assert (event.status in PENDING, event.modification_number) == (True, 0)
    assert event.duration == timedelta(minutes=15)
    assert [i.values for i in event.signal("SIMPLE").intervals] == [(1.0,), (2.0,), (3.0,)]
    tolerance = "xcal:tolerance/xcal:tolerate/xcal:startafter"
    assert active_period_text(answer, event_id, tolerance) == "PT1M"
    assert active_period_text(answer, event_id, "ei:x-eiRampUp/xcal:duration") == "PT1M"
    assert active_period_text(answer, event_id, "ei:x-eiRecovery/xcal:duration") == "PT1M"
    assert (await ven.raw.answer_events(answer)).code == 200
    assert ven.problems == []


async def test_A_E2_0450_two_events_answered_in_two_created_events(push_site: PushSite) -> None:
    """=A_E3_0450: two 1-hour events 4 hours apart, in one push; answered by two
    oadrCreatedEvents (optIn the first, optOut the second), each 200."""
    ven, devices = await push_site.push_ven()
    first = await _invite(push_site, devices, 10, duration_minutes=60)
    second = await _invite(push_site, devices, 250, duration_minutes=60)
    both = await _pushed(ven, _listing(first, second))
    assert [e.modification_number for e in both.events] == [0, 0]
    assert (await ven.raw.answer_events(both, [EventReply(first, 0, "optIn")])).code == 200
    assert (await ven.raw.answer_events(both, [EventReply(second, 0, "optOut")])).code == 200
    assert ven.problems == []


async def test_A_E2_0452_pending_event_response_required(push_site: PushSite) -> None:
    """=A_E3_0452: +5 min, 5 min: pushed pending, mod 0, responseRequired always; answered."""
    ven, devices = await push_site.push_ven()
    event_id = await _invite(push_site, devices, 5)
    pushed = await ven.wait_for(DISTRIBUTE)
    event = pushed.answer.event(event_id)
    assert (event.status in PENDING, event.modification_number) == (True, 0)
    assert event.response_required == "always"
    assert (await ven.raw.answer_events(pushed.answer)).code == 200
    assert ven.problems == []


async def test_A_E2_0468_response_required_never(push_site: PushSite) -> None:
    """=A_E3_0468: an event whose responseRequired is never is pushed so; the VEN sends no
    oadrCreatedEvent and the VTN, waiting for none, pushes nothing more."""
    ven, devices = await push_site.push_ven()
    event_id = await _signal_event(push_site, devices, 5, [simple(1)], response_required="never")
    pushed = await ven.wait_for(DISTRIBUTE)
    event = pushed.answer.event(event_id)
    assert (event.response_required, event.modification_number) == ("never", 0)
    await _no_more_pushes(ven, 1)
    status = (await push_site.api.get(f"/api/vens/{ven.raw.id}"))["push"]
    assert (status["pending"], status["failures"]) == (0, 0)
    assert ven.problems == []


async def test_A_E2_0474_moved_event_opted_out(push_site: PushSite) -> None:
    """=A_E3_0474: pending at +5 min, then moved to +1 min: pushed again pending, mod 1, at
    the new start; that push answered optOut, 200."""
    ven, devices = await push_site.push_ven()
    event_id = await _invite(push_site, devices, 5)
    first = (await ven.wait_for(DISTRIBUTE)).answer
    assert first.event(event_id).modification_number == 0
    start = (push_site.clock.now() + timedelta(minutes=1)).replace(microsecond=0)
    body = {
        "event_time": start.isoformat(), "duration_minutes": 5, "load_kwh": 1.0,
        "load_percentage": 30.0, "devices": devices,
    }  # fmt: skip
    await push_site.api.put(f"/api/invitations/{event_id}", body, status=200)
    second = (await ven.wait_for(DISTRIBUTE, count=2)).answer
    event = second.event(event_id)
    assert (event.status in PENDING, event.modification_number, event.start) == (True, 1, start)
    assert (await ven.raw.answer_events(second, opt="optOut")).code == 200
    assert ven.problems == []


async def test_A_E2_0480_event_modified_to_response_never(push_site: PushSite) -> None:
    """=A_E3_0480: modified to responseRequired never (and +1 min): pushed with mod 1 and
    never; unanswered, nothing more is pushed."""
    ven, devices = await push_site.push_ven()
    event_id = await _signal_event(push_site, devices, 5, [simple(1)])
    first = (await ven.wait_for(DISTRIBUTE)).answer
    assert first.event(event_id).response_required == "always"
    body = {"response_required": "never", "start_time": _at(push_site, 1)}
    await push_site.api.put(f"/api/events/{event_id}", body, status=200)
    second = (await ven.wait_for(DISTRIBUTE, count=2)).answer
    event = second.event(event_id)
    assert (event.modification_number, event.response_required) == (1, "never")
    await _no_more_pushes(ven, 2)
    assert ven.problems == []


async def _active(site: PushSite) -> tuple[PushVen, list[str], str, Answer]:
    """An invitation at +1 min for 5 minutes, pushed and opted in (an invitation nobody took
    expires at its start), then the clock 2 minutes on: pushed again, active, mod 0."""
    ven, devices = await site.push_ven()
    event_id = await _invite(site, devices, 1)
    first = (await ven.wait_for(DISTRIBUTE)).answer
    assert (first.event(event_id).status, first.event(event_id).modification_number) == (
        "near", 0,
    )  # fmt: skip
    assert (await ven.raw.answer_events(first)).code == 200
    site.clock.advance(minutes=2)  # began a minute ago
    active = await _pushed(ven, _with(event_id, "active", 0))
    return ven, devices, event_id, active


async def test_A_E2_0484_active_event(push_site: PushSite) -> None:
    """=A_E3_0484: an event that began a minute ago is pushed active, mod 0, SIMPLE's current
    value the level in force (30 % is SIMPLE 2); answered 200."""
    ven, _, event_id, active = await _active(push_site)
    assert active.event(event_id).signal("SIMPLE").current_value == 2.0
    assert (await ven.raw.answer_events(active)).code == 200
    assert ven.problems == []


async def test_A_E2_0494_active_event_cancelled(push_site: PushSite) -> None:
    """=A_E3_0494: an active event cancelled: pushed again, cancelled, mod 1; answered 200."""
    ven, _, event_id, _ = await _active(push_site)
    await push_site.api.post(f"/api/invitations/{event_id}/cancel", {}, status=200)
    cancelled = await _pushed(ven, _with(event_id, "cancelled", 1))
    assert (await ven.raw.answer_events(cancelled)).code == 200
    assert ven.problems == []


async def test_A_E2_0498_cancelled_as_response_never(push_site: PushSite) -> None:
    """=A_E3_0498: a pending event cancelled with responseRequired never: pushed cancelled,
    mod 1, never; unanswered, the cancel is not pushed again."""
    ven, devices = await push_site.push_ven()
    event_id = await _signal_event(push_site, devices, 5, [simple(1)])
    await ven.wait_for(DISTRIBUTE)
    await push_site.api.post(
        f"/api/events/{event_id}/cancel", {"response_required": "never"}, status=200
    )
    second = (await ven.wait_for(DISTRIBUTE, count=2)).answer
    event = second.event(event_id)
    assert (event.status, event.modification_number, event.response_required) == (
        "cancelled", 1, "never",
    )  # fmt: skip
    await _no_more_pushes(ven, 2)
    assert ven.problems == []


async def test_A_E2_0510_two_market_contexts_ordered_by_priority(push_site: PushSite) -> None:
    """=A_E3_0510: 10-minute events, MC1 at +1 min (priority 2) and +20 min, MC2 at +1 min
    (priority 1) and +60 min: once both begin (the clock moved past them), the push lists the
    two active ones first, by priority, then the two pending by start."""
    ven, devices = await push_site.push_ven()
    mc1 = await _program(push_site, ven, devices, 1)
    mc2 = await _program(push_site, ven, devices, 2)
    ten = [simple(1, minutes=10)]
    now1 = await _signal_event(push_site, devices, 1, ten, program_id=mc1, priority=2)
    later1 = await _signal_event(push_site, devices, 20, ten, program_id=mc1, priority=2)
    now2 = await _signal_event(push_site, devices, 1, ten, program_id=mc2, priority=1)
    later2 = await _signal_event(push_site, devices, 60, ten, program_id=mc2, priority=1)
    push_site.clock.advance(seconds=90)  # past their starts, made a minute out

    def all_four_two_active(answer: Answer) -> bool:  # a push rendered before the VEN's
        # state had the last one made lists three
        return len(answer.events) == 4 and [e.status for e in answer.events].count("active") == 2

    pushed = await _pushed(ven, all_four_two_active)
    assert [e.event_id for e in pushed.events] == [now2, now1, later1, later2]
    assert [e.status for e in pushed.events][2:] == ["near", "near"]
    assert len({e.market_context for e in pushed.events}) == 2
    assert ven.problems == []


async def test_A_E2_0520_two_market_contexts_stable_order(push_site: PushSite) -> None:
    """=A_E3_0520: two active and two pending events in two market contexts, all priority 1:
    the push lists them in the order an oadrRequestEvent right after gets (stable)."""
    ven, devices = await push_site.push_ven()
    mc1 = await _program(push_site, ven, devices, 1)
    mc2 = await _program(push_site, ven, devices, 2)
    # The profile allows no overlap in one market context: each active event ends before the
    # next of its market context starts.
    ids = [
        await _signal_event(push_site, devices, 1, [simple(1, minutes=19)], program_id=mc1,
                            priority=1),
        await _signal_event(push_site, devices, 20, [simple(1, minutes=30)], program_id=mc1,
                            priority=1),
        await _signal_event(push_site, devices, 0.9, [simple(1, minutes=10)], program_id=mc2,
                            priority=1),
        await _signal_event(push_site, devices, 20.5, [simple(1, minutes=20)], program_id=mc2,
                            priority=1),
    ]  # fmt: skip
    push_site.clock.advance(seconds=90)  # past their starts, made a minute out
    pushed = await _pushed(ven, lambda a: len([e for e in a.events if e.status == "active"]) == 2)
    # Active first (same priority: the earlier start first), then the others by start.
    assert [e.event_id for e in pushed.events] == [ids[2], ids[0], ids[1], ids[3]]
    again = await ven.raw.request_event()
    assert [e.event_id for e in again.events] == [e.event_id for e in pushed.events]
    assert ven.problems == []


async def test_A_E2_0525_earlier_of_two_events_cancelled(push_site: PushSite) -> None:
    """=A_E3_0525: an active event (30 min) and a pending one at +40 min: pushed active
    first; the active one cancelled: pushed cancelled, mod 1, the other still pending,
    mod 0."""
    ven, devices = await push_site.push_ven()
    current = await _invite(push_site, devices, 1, duration_minutes=30)
    later = await _invite(push_site, devices, 41, duration_minutes=10)
    both = await _pushed(ven, _listing(current, later))
    assert (await ven.raw.answer_events(both)).code == 200  # taken, so not expired at start
    push_site.clock.advance(minutes=1.5)
    first = await _pushed(ven, _with(current, "active", 0))
    assert [e.event_id for e in first.events] == [current, later]  # active first
    assert first.event(later).status in PENDING
    await push_site.api.post(f"/api/invitations/{current}/cancel", {}, status=200)
    second = await _pushed(ven, _with(current, "cancelled", 1))
    pending = second.event(later)
    assert (pending.status in PENDING, pending.modification_number) == (True, 0)
    assert (await ven.raw.answer_events(second)).code == 200
    assert ven.problems == []


@pytest.mark.parametrize("push_overrides", [{"vtn_near_minutes": 0, "executor_enabled": False}])
async def test_A_E2_0527_near_during_ramp_up(push_site: PushSite) -> None:
    """EPRI's push prompt: +3 min, 3 min, rampUp 4 min. With no near window of the gateway's
    own, the rampUp alone makes it near at once: one push, near, rampUp PT4M; 1.5 minutes on
    it is still near, so nothing more is pushed."""
    ven, devices = await push_site.push_ven()
    event_id = await _signal_event(push_site, devices, 3, [simple(1, minutes=3)], ramp_up_minutes=4)
    pushed = (await ven.wait_for(DISTRIBUTE)).answer
    assert pushed.event(event_id).status == "near"
    assert active_period_text(pushed, event_id, "ei:x-eiRampUp/xcal:duration") == "PT4M"
    push_site.clock.advance(minutes=1.5)
    await _no_more_pushes(ven, 1)
    assert ven.problems == []


@pytest.mark.parametrize(
    "push_overrides", [{"executor_enabled": False, "vtn_push_cancel_resend_seconds": 0.4}]
)
@pytest.mark.parametrize("answer", ["none", "error"])
async def test_A_E2_0657_unacknowledged_cancel_pushed_again(
    push_site: PushSite, answer: str
) -> None:
    """+1 min, 3 min, cancelled; the VEN takes every push (HTTP 200, oadrResponse) but never
    acknowledges the cancel: no oadrCreatedEvent, or one whose eventResponse is an error. The
    VTN keeps pushing it: at least 3 pushes, the last two the cancel, mod 1."""
    ven, devices = await push_site.push_ven()
    event_id = await _invite(push_site, devices, 1, duration_minutes=3)
    await ven.wait_for(DISTRIBUTE)
    await push_site.api.post(f"/api/invitations/{event_id}/cancel", {}, status=200)
    cancel = (await ven.wait_for(DISTRIBUTE, count=2)).answer
    assert (cancel.event(event_id).status, cancel.event(event_id).modification_number) == (
        "cancelled", 1,
    )  # fmt: skip
    if answer == "error":
        refusal = [EventReply(event_id, 1, "optIn", code=500, description="cannot")]
        assert (await ven.raw.answer_events(cancel, refusal)).code == 200
    await ven.wait_for(DISTRIBUTE, count=3, within=2.5)  # five sweeps
    for again in _distributes(ven)[-2:]:
        event = again.event(event_id)
        assert (event.status, event.modification_number) == ("cancelled", 1)
    assert ven.problems == []


@pytest.mark.parametrize(
    "push_overrides", [{"executor_enabled": False, "vtn_push_cancel_resend_seconds": 1.0}]
)
async def test_an_acknowledged_cancel_is_not_pushed_again(push_site: PushSite) -> None:
    """A_E2_0657's other side: once the VEN's oadrCreatedEvent answers the cancel, the
    re-sending stops (two re-send periods on, two pushes only; the period is long enough
    for the answer to be in first on a loaded machine)."""
    ven, devices = await push_site.push_ven()
    event_id = await _invite(push_site, devices, 1, duration_minutes=3)
    await ven.wait_for(DISTRIBUTE)
    await push_site.api.post(f"/api/invitations/{event_id}/cancel", {}, status=200)
    cancel = (await ven.wait_for(DISTRIBUTE, count=2)).answer
    assert (await ven.raw.answer_events(cancel, opt="optOut")).code == 200
    await asyncio.sleep(2.5)
    assert len(_distributes(ven)) == 2
    assert ven.problems == []


async def _completed(site: PushSite) -> tuple[PushVen, list[str], str]:
    """+1 min, 1 min, startafter 2 min, pushed and opted in; 3 minutes on, the gateway pushes
    its completion (at its next sweep, long before then on the real clock)."""
    ven, devices = await site.push_ven()
    first = await _signal_event(site, devices, 1, [simple(1, minutes=1)], start_after_minutes=2)
    pushed = (await ven.wait_for(DISTRIBUTE)).answer
    tolerance = "xcal:tolerance/xcal:tolerate/xcal:startafter"
    assert active_period_text(pushed, first, tolerance) == "PT2M"
    assert (await ven.raw.answer_events(pushed)).code == 200
    site.clock.advance(minutes=3)
    done = (await ven.wait_for(DISTRIBUTE, count=2)).answer
    event = done.event(first)
    assert (event.status, event.modification_number) == ("completed", 0)
    return ven, devices, first


async def test_A_E2_0685_startafter_event_pushed_completed(push_site: PushSite) -> None:
    """The first half of A_E2_0685: once over, the startafter event is pushed completed,
    mod 0, and then nothing more."""
    ven, _, _ = await _completed(push_site)
    await _no_more_pushes(ven, 2)
    assert ven.problems == []


async def test_A_E2_0685_event_added_after_a_startafter_event_completed(
    push_site: PushSite,
) -> None:
    """~3 minutes on the operator adds an event: the push holds it and the first,
    completed."""
    ven, devices, first = await _completed(push_site)
    added = await _signal_event(push_site, devices, 10, [simple(2)])
    both = await _pushed(ven, lambda a: added in [e.event_id for e in a.events])
    assert [(e.event_id, e.status) for e in both.events] == [
        (added, "near"), (first, "completed"),
    ]  # fmt: skip
    assert ven.problems == []


# --- G0 ---------------------------------------------------------------------------------------
async def test_G0_9010_price_event_published_and_modified(push_site: PushSite) -> None:
    """=G1_4010 over plain HTTP (its TLS is test_push_tls.py's): P010 pushed with mod 0,
    then P011 pushed with mod 1, each answered 200."""
    ven, _, event_id, first = await _p010(push_site)
    assert first.answer.event(event_id).modification_number == 0
    assert (await ven.raw.answer_events(first.answer)).code == 200
    body = {"start_time": _at(push_site, 10)}
    await push_site.api.put(f"/api/events/{event_id}", body, status=200)
    second = (await ven.wait_for(DISTRIBUTE, count=2)).answer
    assert second.event(event_id).modification_number == 1
    assert second.event(event_id).signal("ELECTRICITY_PRICE").intervals[0].values == (3.14,)
    assert (await ven.raw.answer_events(second)).code == 200
    assert ven.problems == []


async def test_G0_9020_a_20a_ven_beside_a_20b_push_ven(push_site: PushSite) -> None:
    """=G1_4020 with the B side in push mode: a 2.0b push-mode VEN is pushed its event while a
    2.0a VEN (pull: the A profile's VENs ask for their events; it has no registration to give
    a push address) asks for its own at the 2.0a path and answers it; neither disturbs the
    other."""
    b_side, b_devices = await push_site.push_ven()
    name = f"a20-{uuid.uuid4().hex[:8]}"
    await push_site.api.post("/api/vens", {"name": name, "ven_id": name}, status=201)
    await push_site.api.device(f"{name}-d", ven_id=name, resource_id=f"{name}-r")
    both = await push_site.api.invite([b_devices[0], f"{name}-d"], event_time=_at(push_site, 10))
    event_id = both["id"]
    pushed = (await b_side.wait_for(DISTRIBUTE)).answer
    assert [e.event_id for e in pushed.events] == [event_id]
    url = str(push_site.client.make_url(VTN_PATH)).removesuffix("/2.0b") + "/EiEvent"
    a_side = Ven20a(b_side.raw.session, url, name)
    assert (await a_side.request_event()).event_ids() == [event_id]
    assert (await a_side.created_event([(event_id, 0, "optIn")])).code == 200
    assert (await b_side.raw.answer_events(pushed)).code == 200
    view = await push_site.api.get(f"/api/invitations/{event_id}")
    assert {a["device_id"]: a["answer"] for a in view["answers"]} == {
        b_devices[0]: "YES", f"{name}-d": "YES",
    }  # fmt: skip
    assert b_side.problems == []


# --- found on the way: not cases of their own -------------------------------------------------
@EXECUTOR
@pytest.mark.parametrize("direct", [False, True])
async def test_a_missed_event_is_cancelled_under_a_new_modification_number(
    push_site: PushSite, direct: bool
) -> None:
    """An event whose whole window passed unrun (the gateway down through it; here the clock
    jumps over it) is marked missed by the executor, which its VENs hear as a cancel: under a
    new modificationNumber, as every cancel (profile rule), for an invitation's event and one
    scheduled directly alike."""
    ven, devices = await push_site.push_ven()
    if direct:
        event_id = await _signal_event(push_site, devices, 1, [simple(2, minutes=1)])
    else:
        event_id = await _invite(push_site, devices, 1, duration_minutes=1)
    pushed = (await ven.wait_for(DISTRIBUTE)).answer
    assert (await ven.raw.answer_events(pushed)).code == 200  # an invitation's: its event made
    push_site.clock.advance(minutes=3)
    told = await _pushed(ven, lambda a: a.events != [] and a.events[0].status == "cancelled")
    if direct:
        own = event_id
    else:  # an invitation's eventID is the invitation's id, not its event's
        own = (await push_site.api.get(f"/api/invitations/{event_id}"))["event_id"]
    assert (await push_site.api.get(f"/api/events/{own}"))["status"] == "missed"
    assert told.event(event_id).modification_number == 1
    assert ven.problems == []


async def test_an_error_answer_to_a_directly_scheduled_event_is_taken(
    push_site: PushSite,
) -> None:
    """A_E2_0750's answer (an eventResponse 409 with optOut) to a pushed event the operator
    scheduled directly (POST /api/events) is taken, 200, and the event view shows the VEN's
    error."""
    ven, devices = await push_site.push_ven()
    event_id = await _signal_event(push_site, devices, 10, [price(3.14)])
    pushed = (await ven.wait_for(DISTRIBUTE)).answer
    reply = [EventReply(event_id, 0, "optOut", code=409, description="conflict")]
    assert (await ven.raw.answer_events(pushed, reply)).code == 200
    view = await push_site.api.get(f"/api/events/{event_id}")
    assert [(e["code"], e["direct_event_id"]) for e in view["ven_errors"]] == [(409, event_id)]
    assert ven.problems == []


@EXECUTOR
async def test_E0_6030_price_event_modified_once_its_baseline_sampled(
    push_site: PushSite,
) -> None:
    """E0_6030 (and G0_9010, A_E2_0480) with the executor running, as in a deployment: P010's
    event at +10 min is in the executor's baseline window at once; once it took a baseline
    sample, P011's move of the start is still taken, and pushed with mod 1."""
    ven, _, event_id, first = await _p010(push_site)
    assert (await ven.raw.answer_events(first.answer)).code == 200
    path = f"/api/events/{event_id}/samples"
    for _ in range(400):  # the executor's first baseline sample (it samples every 5 s)
        if (await push_site.api.get(path, phase="baseline"))["samples"]:
            break
        await asyncio.sleep(0.025)
    assert (await push_site.api.get(path, phase="baseline"))["samples"]
    body = {"start_time": _at(push_site, 10)}
    await push_site.api.put(f"/api/events/{event_id}", body, status=200)
    moved = (await ven.wait_for(DISTRIBUTE, count=2)).answer
    assert moved.event(event_id).modification_number == 1
