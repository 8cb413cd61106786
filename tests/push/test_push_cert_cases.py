"""Push-mode certification cases (section 2 of the cert case list) beyond those named in the
other modules (N0_5040, N0_5050, A_E2_0470/0492): the pull twin's checks, with the events
arriving by POST. Which cases are where, and why the rest are not here: docs/conformance.md,
section Push."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from tests.oadr20b.cert.site import price
from tests.oadr20b.messages import EventReply
from tests.oadr20b.namespaces import EI
from tests.push.conftest import PushSite


async def _invite(site: PushSite, devices: list[str], minutes: float) -> str:
    start = (datetime.now(UTC) + timedelta(minutes=minutes)).isoformat()
    view = await site.api.invite(
        devices, event_time=start, duration_minutes=5, load_kwh=1.0, load_percentage=30.0
    )
    return str(view["id"])


async def test_A_E2_0430_pending_event_answered(push_site: PushSite) -> None:
    """P001: +10 min: pushed (near: within vtn_near_minutes), the VEN's optIn (its own
    POST) answered 200."""
    ven, devices = await push_site.push_ven()
    event_id = await _invite(push_site, devices, 10)
    pushed = await ven.wait_for("oadrDistributeEvent")
    event = pushed.answer.event(event_id)
    assert (event.status, event.modification_number) == ("near", 0)
    assert event.response_required == "always"
    assert (await ven.raw.answer_events(pushed.answer)).code == 200
    assert ven.problems == []


async def test_A_E2_0440_two_events_answered_in_one_created_event(push_site: PushSite) -> None:
    """Two events: the second push holds both (the full list), answered in one
    oadrCreatedEvent."""
    ven, devices = await push_site.push_ven()
    first = await _invite(push_site, devices, 10)
    await ven.wait_for("oadrDistributeEvent")
    second = await _invite(push_site, devices, 30)
    both = await ven.wait_for("oadrDistributeEvent", count=2)
    assert [e.event_id for e in both.answer.events] == [first, second]
    assert (await ven.raw.answer_events(both.answer)).code == 200


async def test_A_E2_0500_opt_in_then_opt_out(push_site: PushSite) -> None:
    """optIn, then optOut of the same event: both taken, the push stays as it was."""
    ven, devices = await push_site.push_ven()
    event_id = await _invite(push_site, devices, 10)
    pushed = await ven.wait_for("oadrDistributeEvent")
    assert (await ven.raw.answer_events(pushed.answer, opt="optIn")).code == 200
    reply = [EventReply(event_id, 0, "optOut")]
    assert (await ven.raw.answer_events(pushed.answer, reply)).code == 200


async def test_A_E2_0680_every_push_holds_every_event(push_site: PushSite) -> None:
    """The operator adds events one after the other: each push holds all of them."""
    ven, devices = await push_site.push_ven()
    made = []
    for n, minutes in enumerate((10, 120, 240), 1):
        made.append(await _invite(push_site, devices, minutes))
        pushed = await ven.wait_for("oadrDistributeEvent", count=n)
        assert [e.event_id for e in pushed.answer.events] == made


async def test_A_E2_0435_event_targets_the_ven_and_its_resources(push_site: PushSite) -> None:
    ven, devices = await push_site.push_ven(devices=2)
    event_id = await _invite(push_site, devices, 1)
    pushed = await ven.wait_for("oadrDistributeEvent")
    targets = pushed.answer.event(event_id).targets
    assert {v for t in targets for v in t.ven_ids} == {ven.raw.id}
    assert sorted(r for t in targets for r in t.resource_ids) == sorted(f"{d}-r" for d in devices)
    assert (await ven.raw.answer_events(pushed.answer)).code == 200


async def test_A_E2_0454_pending_event_opted_out(push_site: PushSite) -> None:
    ven, devices = await push_site.push_ven()
    event_id = await _invite(push_site, devices, 5)
    pushed = await ven.wait_for("oadrDistributeEvent")
    assert pushed.answer.event(event_id).response_required == "always"
    assert (await ven.raw.answer_events(pushed.answer, opt="optOut")).code == 200


async def test_A_E2_0496_cancel_pushed_and_answered_opt_out(push_site: PushSite) -> None:
    ven, devices = await push_site.push_ven()
    event_id = await _invite(push_site, devices, 5)
    first = await ven.wait_for("oadrDistributeEvent")
    assert (await ven.raw.answer_events(first.answer)).code == 200
    await push_site.api.post(f"/api/invitations/{event_id}/cancel", {}, status=200)
    second = await ven.wait_for("oadrDistributeEvent", count=2)
    cancelled = second.answer.event(event_id)
    assert (cancelled.status, cancelled.modification_number) == ("cancelled", 1)
    assert (await ven.raw.answer_events(second.answer, opt="optOut")).code == 200


async def test_E0_6010_operator_clears_the_vens_events(push_site: PushSite) -> None:
    """Two events, answered; both cancelled: a push says so, and nothing more is pushed."""
    ven, devices = await push_site.push_ven()
    made = []
    for n in range(2):  # made one after the other (together, they may come in one push)
        made.append(await _invite(push_site, devices, 10 + 20 * n))
        both = await ven.wait_for("oadrDistributeEvent", count=n + 1)
    assert [e.event_id for e in both.answer.events] == made
    assert (await ven.raw.answer_events(both.answer)).code == 200
    for event_id in made:
        await push_site.api.post(f"/api/invitations/{event_id}/cancel", {}, status=200)
    # One push or two (the second cancel may be in the first: a push lists the events as
    # they are when it is sent); the last says both are cancelled.
    await ven.wait_for("oadrDistributeEvent", count=3)
    await asyncio.sleep(0.3)
    told = [p for p in ven.received if p.service == "EiEvent"][-1]
    assert [(e.event_id, e.status) for e in told.answer.events] == [
        (made[0], "cancelled"), (made[1], "cancelled"),
    ]  # fmt: skip
    assert len(ven.received) in (3, 4)


async def test_E0_6027_a_pushed_distribute_carries_the_events_baseline(
    push_site: PushSite,
) -> None:
    """The pull twin's price event with a baseline a day earlier: the push holds the same
    eiEventBaseline a poll's answer holds (one builder for both)."""
    ven, devices = await push_site.push_ven()
    start = datetime.now(UTC) + timedelta(minutes=10)
    body = {
        "start_time": start.isoformat(), "duration_minutes": 120, "devices": devices,
        "signals": [price(3.14, 3.17, minutes=60)],
        "baseline": {"start_in_minutes": 10 - 24 * 60,
                     "intervals": [{"duration_minutes": 60, "value": 3.05},
                                   {"duration_minutes": 60, "value": 3.08}]},
    }  # fmt: skip
    event_id = str((await push_site.api.post("/api/events", body, status=201))["id"])
    pushed = await ven.wait_for("oadrDistributeEvent")
    assert [e.event_id for e in pushed.answer.events] == [event_id]
    baseline = pushed.answer.message.find(f".//{{{EI}}}eiEventBaseline")
    assert baseline is not None
    values = [float(v.text or "") for v in baseline.iter(f"{{{EI}}}value")]
    assert values == [3.05, 3.08]
    assert ven.problems == []


async def test_A_E2_0490_active_event_shortened(push_site: PushSite) -> None:
    """A_E3_0490's push twin: an active event's duration is changed; the push holds it as
    active, modification 1, the new duration, and SIMPLE's current value the level in force
    (30 % is SIMPLE 2). The real clock: the event starts four seconds after it is made (time
    to be pushed and opted in, on a loaded machine too)."""
    ven, devices = await push_site.push_ven()
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=4)
    terms = {"load_kwh": 1.0, "load_percentage": 30.0}
    made = await push_site.api.invite(
        devices, event_time=start.isoformat(), duration_minutes=5, **terms
    )
    event_id = str(made["id"])
    first = (await ven.wait_for("oadrDistributeEvent")).answer
    assert first.event(event_id).start == start
    # Opted in before it starts (a pending invitation nobody took expires at its start).
    assert (await ven.raw.answer_events(first, opt="optIn")).code == 200
    await asyncio.sleep(max(0.0, (start - datetime.now(UTC)).total_seconds()) + 0.3)
    body = {"event_time": start.isoformat(), "duration_minutes": 2, "devices": devices, **terms}
    await push_site.api.put(f"/api/invitations/{event_id}", body, status=200)
    for _ in range(400):
        modified = [p for p in ven.received if p.answer.message_type == "oadrDistributeEvent"
                    and p.answer.event(event_id).modification_number == 1]  # fmt: skip
        if modified:
            break
        await asyncio.sleep(0.025)
    assert modified, [p.answer.message_type for p in ven.received]
    event = modified[0].answer.event(event_id)
    assert (event.status, event.start, event.duration) == ("active", start, timedelta(minutes=2))
    simple = event.signal("SIMPLE")
    assert [i.duration for i in simple.intervals] == [timedelta(minutes=2)]
    assert simple.current_value == 2.0
    assert (await ven.raw.answer_events(modified[0].answer, opt="optOut")).code == 200
    assert ven.problems == []
