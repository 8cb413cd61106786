"""A_E3: event status, modification, cancel and answers, pull mode (cert cases section 1,
A_E3_0420-A_E3_0780). "pending" is far or near: the gateway's near window is its own."""

from __future__ import annotations

import pytest

from tests.oadr20b import messages
from tests.oadr20b.answers import Answer
from tests.oadr20b.cert.site import (
    MINUTE,
    CertGateway,
    Party,
    active_period_text,
    poll_until,
    simple,
)
from tests.oadr20b.messages import EventReply

pytestmark = pytest.mark.asyncio(loop_scope="module")

PENDING = ("far", "near")


def _xfail(reason: str) -> pytest.MarkDecorator:
    return pytest.mark.xfail(strict=True, reason=f"{reason} (#9)")


async def test_A_E3_0420_request_event_while_active(gateway: CertGateway) -> None:
    party = await gateway.party()
    event_id = await gateway.invite(party.devices, start_in=1, duration_minutes=5)
    gateway.clock.advance(minutes=1.5)
    answer = await party.ven.request_event()
    event = answer.event(event_id)
    assert (event.status, event.modification_number) == ("active", 0)
    assert event.response_required == "always"
    reply = await party.ven.answer_events(answer)
    assert reply.code == 200


async def test_A_E3_0430_pending_event_answered(gateway: CertGateway) -> None:
    party = await gateway.party()
    event_id = await gateway.invite(party.devices, start_in=2, duration_minutes=5)
    answer = await poll_until(party.ven, "oadrDistributeEvent")
    event = answer.event(event_id)
    assert (event.status in PENDING, event.modification_number) == (True, 0)
    assert (await party.ven.answer_events(answer)).code == 200


async def test_A_E3_0432_three_intervals_with_ramp_recovery_and_startafter(
    gateway: CertGateway,
) -> None:
    party = await gateway.party()
    event_id = await gateway.signal_event(
        party.devices, 2, [simple(1, 2, 3)],
        ramp_up_minutes=1, recovery_minutes=1, start_after_minutes=1,
    )  # fmt: skip
    answer = await poll_until(party.ven, "oadrDistributeEvent")
    event = answer.event(event_id)
    assert event.status in PENDING
    assert [i.values for i in event.signal("SIMPLE").intervals] == [(1.0,), (2.0,), (3.0,)]
    assert active_period_text(answer, event_id, "xcal:tolerance/xcal:tolerate/xcal:startafter")
    assert active_period_text(answer, event_id, "ei:x-eiRampUp/xcal:duration")
    assert active_period_text(answer, event_id, "ei:x-eiRecovery/xcal:duration")
    assert (await party.ven.answer_events(answer)).code == 200


async def test_A_E3_0435_event_targets_the_ven_and_its_resources(gateway: CertGateway) -> None:
    party = await gateway.party(devices=2)
    event_id = await gateway.invite(party.devices, start_in=1, duration_minutes=5)
    answer = await poll_until(party.ven, "oadrDistributeEvent")
    targets = answer.event(event_id).targets
    assert {v for t in targets for v in t.ven_ids} == {party.ven.id}
    assert sorted(r for t in targets for r in t.resource_ids) == sorted(party.resources)
    assert (await party.ven.answer_events(answer)).code == 200


async def test_A_E3_0440_two_events_answered_in_one_created_event(gateway: CertGateway) -> None:
    party = await gateway.party()
    first = await gateway.invite(party.devices, start_in=10, duration_minutes=60)
    second = await gateway.invite(party.devices, start_in=250, duration_minutes=60)
    answer = await poll_until(party.ven, "oadrDistributeEvent")
    assert [e.event_id for e in answer.events] == [first, second]
    reply = await party.ven.answer_events(
        answer, [EventReply(first, 0, "optIn"), EventReply(second, 0, "optOut")]
    )
    assert reply.code == 200


async def test_A_E3_0450_two_events_answered_in_two_created_events(gateway: CertGateway) -> None:
    party = await gateway.party()
    first = await gateway.invite(party.devices, start_in=10, duration_minutes=60)
    second = await gateway.invite(party.devices, start_in=250, duration_minutes=60)
    answer = await poll_until(party.ven, "oadrDistributeEvent")
    assert (await party.ven.answer_events(answer, [EventReply(first, 0, "optIn")])).code == 200
    assert (await party.ven.answer_events(answer, [EventReply(second, 0, "optOut")])).code == 200


async def test_A_E3_0452_pending_event_response_required(gateway: CertGateway) -> None:
    party = await gateway.party()
    event_id = await gateway.invite(party.devices, start_in=5, duration_minutes=5)
    answer = await poll_until(party.ven, "oadrDistributeEvent")
    event = answer.event(event_id)
    assert (event.status in PENDING, event.response_required) == (True, "always")
    assert (await party.ven.answer_events(answer)).code == 200


async def test_A_E3_0454_pending_event_opted_out(gateway: CertGateway) -> None:
    party = await gateway.party()
    event_id = await gateway.invite(party.devices, start_in=5, duration_minutes=5)
    answer = await poll_until(party.ven, "oadrDistributeEvent")
    assert answer.event(event_id).response_required == "always"
    assert (await party.ven.answer_events(answer, opt="optOut")).code == 200


async def test_A_E3_0468_response_required_never(gateway: CertGateway) -> None:
    party = await gateway.party()
    event_id = await gateway.signal_event(party.devices, 5, [simple(1)], response_required="never")
    answer = await poll_until(party.ven, "oadrDistributeEvent")
    assert answer.event(event_id).response_required == "never"
    # The VEN sends no reply; the VTN waits for none: the next poll has nothing new.
    assert (await party.ven.poll()).message_type == "oadrResponse"


async def _pending_then_moved(gateway: CertGateway) -> tuple[Party, str, Answer]:
    party = await gateway.party()
    event_id = await gateway.invite(party.devices, start_in=5, duration_minutes=5)
    first = await poll_until(party.ven, "oadrDistributeEvent")
    assert first.event(event_id).modification_number == 0
    await gateway.modify(event_id, party.devices, start_in=1)
    second = await poll_until(party.ven, "oadrDistributeEvent")
    event = second.event(event_id)
    assert (event.status in PENDING, event.modification_number) == (True, 1)
    assert event.start == gateway.at(1)
    return party, event_id, second


async def test_A_E3_0470_pending_event_moved_earlier(gateway: CertGateway) -> None:
    party, _event_id, second = await _pending_then_moved(gateway)
    assert (await party.ven.answer_events(second)).code == 200


async def test_A_E3_0474_moved_event_opted_out(gateway: CertGateway) -> None:
    party, _event_id, second = await _pending_then_moved(gateway)
    reply = await party.ven.answer_events(second, opt="optOut")
    assert reply.code == 200


async def test_A_E3_0480_event_modified_to_response_never(gateway: CertGateway) -> None:
    party = await gateway.party()
    event_id = await gateway.signal_event(party.devices, 5, [simple(1)])
    await poll_until(party.ven, "oadrDistributeEvent")
    await gateway.api.put(
        f"/api/events/{event_id}", {"response_required": "never", "start_time":
                                    gateway.at(1).isoformat()}, status=200,
    )  # fmt: skip
    second = await poll_until(party.ven, "oadrDistributeEvent")
    event = second.event(event_id)
    assert (event.modification_number, event.response_required) == (1, "never")


async def test_A_E3_0484_active_event(gateway: CertGateway) -> None:
    party = await gateway.party()
    event_id = await gateway.invite(party.devices, start_in=1, duration_minutes=5)
    gateway.clock.advance(minutes=2)  # began a minute ago
    answer = await poll_until(party.ven, "oadrDistributeEvent")
    event = answer.event(event_id)
    assert (event.status, event.modification_number) == ("active", 0)
    assert event.signal("SIMPLE").current_value == 2.0
    assert (await party.ven.answer_events(answer)).code == 200


async def test_A_E3_0490_active_event_shortened(gateway: CertGateway) -> None:
    party = await gateway.party()
    event_id = await gateway.invite(party.devices, start_in=1, duration_minutes=5)
    gateway.clock.advance(minutes=2)
    first = await poll_until(party.ven, "oadrDistributeEvent")
    began = first.event(event_id).start
    # The last interval now ends a minute from now: 2 minutes in all.
    await gateway.api.put(
        f"/api/invitations/{event_id}",
        {"event_time": gateway.at(-1).isoformat(), "duration_minutes": 2, "load_kwh": 1.0,
         "load_percentage": 30.0, "devices": party.devices}, status=200,
    )  # fmt: skip
    second = await poll_until(party.ven, "oadrDistributeEvent")
    event = second.event(event_id)
    assert (event.status, event.modification_number) == ("active", 1)
    assert (event.start, event.duration) == (began, 2 * MINUTE)
    simple_signal = event.signal("SIMPLE")
    assert [i.duration for i in simple_signal.intervals] == [2 * MINUTE]
    assert simple_signal.current_value == 2.0  # the level in force: 30 % is SIMPLE 2
    assert (await party.ven.answer_events(second, opt="optOut")).code == 200


async def _cancelled(
    gateway: CertGateway, start_in: float, advance: float = 0
) -> tuple[Party, str, Answer]:
    party = await gateway.party()
    event_id = await gateway.invite(party.devices, start_in=start_in, duration_minutes=5)
    gateway.clock.advance(minutes=advance)
    first = await poll_until(party.ven, "oadrDistributeEvent")
    assert first.event(event_id).modification_number == 0
    await gateway.cancel(event_id)
    second = await poll_until(party.ven, "oadrDistributeEvent")
    event = second.event(event_id)
    assert (event.status, event.modification_number) == ("cancelled", 1)
    return party, event_id, second


async def test_A_E3_0492_pending_event_cancelled(gateway: CertGateway) -> None:
    party, _, second = await _cancelled(gateway, start_in=5)
    assert (await party.ven.answer_events(second)).code == 200


async def test_A_E3_0494_active_event_cancelled(gateway: CertGateway) -> None:
    party, _, second = await _cancelled(gateway, start_in=1, advance=2)
    assert (await party.ven.answer_events(second)).code == 200


async def test_A_E3_0496_cancel_answered_opt_out(gateway: CertGateway) -> None:
    party, _, second = await _cancelled(gateway, start_in=5)
    reply = await party.ven.answer_events(second, opt="optOut")
    assert reply.code == 200


async def test_A_E3_0498_cancelled_as_response_never(gateway: CertGateway) -> None:
    party = await gateway.party()
    event_id = await gateway.signal_event(party.devices, 5, [simple(1)])
    await poll_until(party.ven, "oadrDistributeEvent")
    await gateway.api.post(
        f"/api/events/{event_id}/cancel", {"response_required": "never"}, status=200
    )
    second = await poll_until(party.ven, "oadrDistributeEvent")
    event = second.event(event_id)
    assert (event.status, event.modification_number, event.response_required) == (
        "cancelled", 1, "never",
    )  # fmt: skip


async def test_A_E3_0500_opt_in_then_opt_out(gateway: CertGateway) -> None:
    party = await gateway.party()
    await gateway.invite(party.devices, start_in=2, duration_minutes=5)
    answer = await poll_until(party.ven, "oadrDistributeEvent")
    assert (await party.ven.answer_events(answer, opt="optIn")).code == 200
    gateway.clock.advance(seconds=3)
    assert (await party.ven.answer_events(answer, opt="optOut")).code == 200


async def _two_market_contexts(gateway: CertGateway) -> tuple[Party, str, str]:
    """A VEN whose devices take part in two programs, market contexts 1 and 2 (each test's
    own: a market context names one program)."""
    party = await gateway.party()
    own = gateway.name("case")
    first = await gateway.program(party, f"http://MarketContext1/{own}")
    second = await gateway.program(party, f"http://MarketContext2/{own}")
    return party, first, second


async def test_A_E3_0510_two_market_contexts_ordered_by_priority(gateway: CertGateway) -> None:
    party, mc1, mc2 = await _two_market_contexts(gateway)
    now1 = await gateway.signal_event(party.devices, 0.1, [simple(1, minutes=10)],
                                      program_id=mc1, priority=2)  # fmt: skip
    later1 = await gateway.signal_event(party.devices, 20, [simple(1, minutes=10)],
                                        program_id=mc1, priority=2)  # fmt: skip
    now2 = await gateway.signal_event(party.devices, 0.1, [simple(1, minutes=10)],
                                      program_id=mc2, priority=1)  # fmt: skip
    later2 = await gateway.signal_event(party.devices, 60, [simple(1, minutes=10)],
                                        program_id=mc2, priority=1)  # fmt: skip
    gateway.clock.advance(seconds=30)
    answer = await poll_until(party.ven, "oadrDistributeEvent")
    assert [e.event_id for e in answer.events] == [now2, now1, later1, later2]
    assert len({e.market_context for e in answer.events}) == 2


async def test_A_E3_0520_two_market_contexts_stable_order(gateway: CertGateway) -> None:
    party, mc1, mc2 = await _two_market_contexts(gateway)
    ids = [
        # The profile allows no overlap in one market context: each active event ends before
        # the next of its market context starts.
        await gateway.signal_event(party.devices, 0.1, [simple(1, minutes=19)],
                                   program_id=mc1, priority=1),
        await gateway.signal_event(party.devices, 20, [simple(1, minutes=30)],
                                   program_id=mc1, priority=1),
        await gateway.signal_event(party.devices, 0.05, [simple(1, minutes=10)],
                                   program_id=mc2, priority=1),
        await gateway.signal_event(party.devices, 20.5, [simple(1, minutes=20)],
                                   program_id=mc2, priority=1),
    ]  # fmt: skip
    gateway.clock.advance(seconds=30)
    first = await poll_until(party.ven, "oadrDistributeEvent")
    again = await party.ven.request_event()
    assert [e.event_id for e in first.events] == [e.event_id for e in again.events]
    assert {e.event_id for e in first.events} == set(ids)


async def test_A_E3_0525_earlier_of_two_events_cancelled(gateway: CertGateway) -> None:
    party = await gateway.party()
    current = await gateway.invite(party.devices, start_in=1, duration_minutes=30)
    later = await gateway.invite(party.devices, start_in=41, duration_minutes=10)
    gateway.clock.advance(minutes=1.5)
    first = await poll_until(party.ven, "oadrDistributeEvent")
    assert [e.event_id for e in first.events] == [current, later]  # active first
    assert (first.event(current).status, first.event(later).status in PENDING) == ("active", True)
    await gateway.cancel(current)
    second = await poll_until(party.ven, "oadrDistributeEvent")
    cancelled, pending = second.event(current), second.event(later)
    assert (cancelled.status, cancelled.modification_number) == ("cancelled", 1)
    assert (pending.status in PENDING, pending.modification_number) == (True, 0)


async def test_A_E3_0527_near_during_ramp_up(gateway: CertGateway) -> None:
    party = await gateway.party()
    event_id = await gateway.signal_event(party.devices, 5, [simple(1)], ramp_up_minutes=4)
    gateway.clock.advance(minutes=1.5)
    answer = await poll_until(party.ven, "oadrDistributeEvent")
    assert answer.event(event_id).status == "near"
    ramp = active_period_text(answer, event_id, "ei:x-eiRampUp/xcal:duration")
    assert ramp == "PT4M"


async def test_A_E3_0530_overlapping_events_refused(gateway: CertGateway) -> None:
    party = await gateway.party()
    mc1 = await gateway.program(party, "http://MarketContext1", refuse_overlap=True)
    first = await gateway.invite(party.devices, start_in=10, duration_minutes=30, program_id=mc1)
    refused = await gateway.api.invite(
        party.devices, status=409, event_time=gateway.at(20).isoformat(), duration_minutes=30,
        load_kwh=1.0, load_percentage=30.0, program_id=mc1,
    )  # fmt: skip
    assert "id" not in refused, refused
    assert first in refused["message"], refused  # the operator is told which one it overlaps


async def test_A_E3_0655_reply_limit(gateway: CertGateway) -> None:
    party = await gateway.party()
    ids = [
        await gateway.invite(party.devices, start_in=10 + 180 * n, duration_minutes=60)
        for n in range(3)
    ]
    counts = []
    for limit in range(5):
        answer = await party.ven.request_event(reply_limit=limit)
        assert [e.event_id for e in answer.events] == ids[: len(answer.events)]
        counts.append(len(answer.events))
    assert counts == [0, 1, 2, 3, 3]


async def test_A_E3_0657_unacknowledged_cancel_sent_again(gateway: CertGateway) -> None:
    party = await gateway.party()
    event_id = await gateway.invite(party.devices, start_in=1, duration_minutes=3)
    await poll_until(party.ven, "oadrDistributeEvent")
    await gateway.cancel(event_id)
    for _ in range(3):  # the cancel, then the two polls after it: the VEN never answers
        answer = await party.ven.poll()
        assert answer.message_type == "oadrDistributeEvent", answer.body[:300]
        event = answer.event(event_id)
        assert (event.status, event.modification_number) == ("cancelled", 1)


async def test_A_E3_0680_every_distribute_holds_both_events(gateway: CertGateway) -> None:
    party = await gateway.party()
    later = await gateway.invite(party.devices, start_in=41, duration_minutes=10)
    sooner = await gateway.invite(party.devices, start_in=10, duration_minutes=30)
    first = await poll_until(party.ven, "oadrDistributeEvent")
    assert [e.event_id for e in first.events] == [sooner, later]
    gateway.clock.advance(minutes=1)
    second = await party.ven.poll()  # nothing changed: nothing queued, or the same two
    if second.message_type == "oadrDistributeEvent":
        assert [e.event_id for e in second.events] == [sooner, later]
    again = await party.ven.request_event()
    assert [e.event_id for e in again.events] == [sooner, later]


async def test_A_E3_0685_startafter_event_still_listed_when_completed(
    gateway: CertGateway,
) -> None:
    party = await gateway.party()
    event_id = await gateway.signal_event(
        party.devices, 1, [simple(1, minutes=1)], start_after_minutes=2
    )
    first = await party.ven.request_event()
    assert (
        active_period_text(first, event_id, "xcal:tolerance/xcal:tolerate/xcal:startafter")
        == "PT2M"
    )
    gateway.clock.advance(minutes=3.5)
    answer = await party.ven.request_event()
    assert answer.event(event_id).status == "completed"


async def test_A_E3_0710_created_event_carrying_an_error_response(gateway: CertGateway) -> None:
    party = await gateway.party()
    event_id = await gateway.invite(party.devices, start_in=2, duration_minutes=5)
    answer = await poll_until(party.ven, "oadrDistributeEvent")
    body = messages.created_event(
        party.ven.id, answer.own_request_id or "", [EventReply(event_id, 0, "optIn")], code=400
    )
    reply = await party.ven.send(body)
    assert reply.code == 200


async def test_A_E3_0720_created_event_for_an_unknown_event(gateway: CertGateway) -> None:
    party = await gateway.party()
    await gateway.invite(party.devices, start_in=2, duration_minutes=5)
    answer = await poll_until(party.ven, "oadrDistributeEvent")
    reply = await party.ven.answer_events(answer, [EventReply("no-such-event", 0, "optIn")])
    assert reply.code is not None
    assert not 200 <= reply.code < 300


async def test_A_E3_0730_created_event_with_a_wrong_modification_number(
    gateway: CertGateway,
) -> None:
    party = await gateway.party()
    event_id = await gateway.invite(party.devices, start_in=2, duration_minutes=5)
    answer = await poll_until(party.ven, "oadrDistributeEvent")
    reply = await party.ven.answer_events(answer, [EventReply(event_id, 10, "optIn")])
    assert reply.code is not None
    assert not 200 <= reply.code < 300


async def test_A_E3_0750_second_event_answered_with_an_error(gateway: CertGateway) -> None:
    party = await gateway.party()
    first = await gateway.invite(party.devices, start_in=60, duration_minutes=30)
    second = await gateway.invite(party.devices, start_in=120, duration_minutes=30)
    answer = await poll_until(party.ven, "oadrDistributeEvent")
    reply = await party.ven.answer_events(answer, [
        EventReply(first, 0, "optIn"),
        EventReply(second, 0, "optOut", code=409, description="conflict"),
    ])  # fmt: skip
    assert reply.code == 200


async def test_A_E3_0780_created_event_from_an_unknown_ven(gateway: CertGateway) -> None:
    party = await gateway.party()
    event_id = await gateway.invite(party.devices, start_in=2, duration_minutes=5)
    answer = await poll_until(party.ven, "oadrDistributeEvent")
    stranger = gateway.vens(gateway.name("stranger"), ven_id="no-such-ven")
    reply = await stranger.answer_events(answer, [EventReply(event_id, 0, "optIn")])
    assert reply.code is not None
    assert 400 <= reply.code < 500
