"""A push-mode VEN gets its events by POST within a second of the operator's change, answers
with its own oadrCreatedEvent, and gets what it missed while it was down once it is back."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from gateway.app import VTN
from gateway.oadr20b_push.pusher import PushConfig
from tests.push.conftest import PushSite


def _start(minutes: float) -> str:
    return (datetime.now(UTC) + timedelta(minutes=minutes)).isoformat()


async def _invite(site: PushSite, devices: list[str], minutes: float = 10) -> str:
    view = await site.api.invite(
        devices, event_time=_start(minutes), duration_minutes=5, load_kwh=1.0,
        load_percentage=30.0,
    )  # fmt: skip
    return str(view["id"])


async def test_an_invitation_reaches_a_push_ven_within_a_second(push_site: PushSite) -> None:
    ven, devices = await push_site.push_ven()
    started = time.monotonic()
    event_id = await _invite(push_site, devices)
    pushed = await ven.wait_for("oadrDistributeEvent", within=1.0)
    assert time.monotonic() - started < 1.0
    assert [e.event_id for e in pushed.answer.events] == [event_id]
    assert pushed.service == "EiEvent"
    assert pushed.path == "/OpenADR2/Simple/2.0b/EiEvent"
    assert ven.problems == []
    answered = await ven.raw.answer_events(pushed.answer)
    assert answered.code == 200
    view = await push_site.api.get(f"/api/invitations/{event_id}")
    assert view["status"] != "pending", view  # the VEN's optIn, POSTed as in pull mode, decided
    for _ in range(40):  # the delivery is marked once its HTTP answer is in (in batches)
        status = (await push_site.api.get(f"/api/vens/{ven.raw.id}"))["push"]
        if status["pending"] == 0:
            break
        await _pause(0.025)
    assert status["transport_address"] == ven.address
    assert (status["pending"], status["failures"]) == (0, 0)
    assert status["last_delivered_at"] is not None


async def test_a_ven_taken_down_gets_the_event_once_back(push_site: PushSite) -> None:
    ven, devices = await push_site.push_ven()
    await ven.stop()
    event_id = await _invite(push_site, devices)
    ven_path = f"/api/vens/{ven.raw.id}"
    for _ in range(100):  # fails while down, and says so
        status = (await push_site.api.get(ven_path))["push"]
        if status["failures"] >= 2:
            break
        await _pause(0.05)
    assert status["pending"] == 1, status
    assert status["failures"] >= 2, status
    assert "Connect" in (status["last_error"] or ""), status
    metrics = await (await push_site.client.get("/metrics")).text()
    assert 'oadr_push_messages_total{message_type="oadrDistributeEvent",outcome="failed"}' in (
        metrics
    )
    assert ven.received == []
    await ven.start()
    pushed = await ven.wait_for("oadrDistributeEvent", within=2.0)
    assert [e.event_id for e in pushed.answer.events] == [event_id]
    await _pause(0.3)
    assert len(ven.received) == 1  # the latest list, once, not one per failed attempt
    status = (await push_site.api.get(ven_path))["push"]
    assert (status["pending"], status["failures"], status["unreachable_since"]) == (0, 0, None)

    # The VEN's message log: the failed attempts and the delivery, each with its requestID.
    await push_site.client.server.app[VTN].state.flush_seen()
    log = (await push_site.api.get(f"{ven_path}/messages"))["items"]
    pushes = [m for m in log if (m["direction"], m["message_type"]) == (
        "to_ven", "oadrDistributeEvent")]  # fmt: skip
    delivered, *failed = pushes  # newest first
    assert len(failed) >= 2
    assert all(m["description"].startswith("push failed: ") for m in failed), failed
    assert all("Connect" in m["description"] for m in failed), failed
    assert delivered["description"] is None
    assert delivered["request_id"] == pushed.answer.own_request_id
    assert all(m["request_id"] for m in failed)


async def test_A_E2_0470_and_0492_a_modification_and_a_cancellation_are_pushed(
    push_site: PushSite,
) -> None:
    ven, devices = await push_site.push_ven()
    event_id = await _invite(push_site, devices)
    first = await ven.wait_for("oadrDistributeEvent")
    assert (await ven.raw.answer_events(first.answer)).code == 200
    body = {
        "event_time": _start(20), "duration_minutes": 5, "load_kwh": 1.0,
        "load_percentage": 60.0, "devices": devices,
    }  # fmt: skip
    await push_site.api.put(f"/api/invitations/{event_id}", body, status=200)
    modified = await ven.wait_for("oadrDistributeEvent", count=2)
    event = modified.answer.event(event_id)
    assert event.modification_number == first.answer.event(event_id).modification_number + 1
    await push_site.api.post(f"/api/invitations/{event_id}/cancel", {}, status=200)
    cancelled = await ven.wait_for("oadrDistributeEvent", count=3)
    assert cancelled.answer.event(event_id).status == "cancelled"
    assert ven.problems == []


@pytest.mark.parametrize("push_overrides", [{"vtn_push_unreachable_after_seconds": 0.3}])
async def test_a_ven_failing_for_long_is_marked_and_keeps_its_messages(
    push_site: PushSite,
) -> None:
    ven, devices = await push_site.push_ven()
    await ven.stop()
    await _invite(push_site, devices)
    path = f"/api/vens/{ven.raw.id}"
    for _ in range(40):
        if (await push_site.api.get(path))["push"]["pending"] == 1:
            break
        await _pause(0.025)
    await push_site.api.post(f"{path}/request-reregistration", {}, status=200)
    for _ in range(60):
        status = (await push_site.api.get(path))["push"]
        if status["unreachable_since"] is not None:
            break
        await _pause(0.05)
    assert status["unreachable_since"] is not None, status
    assert status["pending"] == 2, status  # kept, in order: the distribute, then the request
    await ven.start()  # still tried (at the capped back-off), and the mark goes on delivery
    await ven.wait_for("oadrRequestReregistration", within=2.0)
    kinds = [p.answer.message_type for p in ven.received]
    assert kinds == ["oadrDistributeEvent", "oadrRequestReregistration"]
    for _ in range(40):  # marked delivered once its HTTP answer is in
        status = (await push_site.api.get(path))["push"]
        if status["pending"] == 0:
            break
        await _pause(0.025)
    assert (status["unreachable_since"], status["pending"]) == (None, 0)


def test_retries_double_up_to_the_cap() -> None:
    config = PushConfig(retry_min_seconds=1.0, retry_max_seconds=120.0)
    assert [config.backoff(n) for n in range(9)] == [1, 2, 4, 8, 16, 32, 64, 120, 120]
    assert config.backoff(10_000) == 120


async def _pause(seconds: float) -> None:
    import asyncio

    await asyncio.sleep(seconds)
