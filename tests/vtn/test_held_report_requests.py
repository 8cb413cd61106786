"""The operator's report requests held for a VEN's next registration of its reports
(``on_registration``, cert R1_3060), on SQLite and on PostgreSQL: carried by exactly one
registration even when two arrive at once, their span starting when carried unless they name a
start, withdrawn by their cancel until carried, and dropped once held longer than
``MAX_HOLD``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest

from gateway.oadr20b.report_store import ReportStore
from gateway.services.ven_facing.report_requests import MAX_HOLD
from tests.oadr20b.answers import Answer
from tests.oadr20b.messages import OfferedPoint, OfferedReport
from tests.oadr20b.ven import RawVen, RawVens, raw_vens
from tests.support import Api, MutableClock
from tests.vtn.raw_ven import registered

MINUTE = timedelta(minutes=1)
HELD = "report_request_on_registration"


@pytest.fixture
def database_url(any_database_url: str) -> str:
    return any_database_url


@pytest.fixture
def clock() -> MutableClock:
    return MutableClock()


@pytest.fixture
async def vens(vtn_url: str, clock: MutableClock) -> AsyncIterator[RawVens]:
    async with raw_vens(vtn_url, clock.now) as made:
        yield made


STATUS = OfferedReport(
    "status",
    [OfferedPoint("st", "ra1", MINUTE, MINUTE, measurement=None,
                  report_type="x-resourceStatus", reading_type="x-notApplicable")],
    name="METADATA_TELEMETRY_STATUS",
)  # fmt: skip


async def _hold(api: Api, **ask: Any) -> dict[str, Any]:
    body = {"report_name": "TELEMETRY_STATUS", "on_registration": True, **ask}
    made: dict[str, Any] = await api.post("/api/vens/ven-a/report-requests", body, status=201)
    return made


async def _waiting(api: Api) -> list[str]:
    return list((await api.get("/api/vens/ven-a"))["requests_waiting"])


async def _register(ven: RawVen) -> Answer:
    answer = await ven.register_reports([STATUS])
    assert answer.code == 200, answer.description
    return answer


async def test_two_registrations_at_once_carry_a_held_request_once(
    api: Api, vens: RawVens, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both registrations are let into the store together (each waits for the other): the
    held request is told in exactly one oadrRegisteredReport and stored as asked once."""
    ven = await registered(api, vens, "ven-a", {"a1": "ra1"})
    held = await _hold(api)
    arrived = 0
    both = asyncio.Event()
    register = ReportStore.register_reports

    async def together(self: ReportStore, *args: Any, **kwargs: Any) -> Any:
        nonlocal arrived
        arrived += 1
        if arrived == 2:
            both.set()
        await asyncio.wait_for(both.wait(), 10)
        return await register(self, *args, **kwargs)

    monkeypatch.setattr(ReportStore, "register_reports", together)
    answers = await asyncio.gather(_register(ven), _register(ven))
    told = [r.report_request_id for a in answers for r in a.report_requests]
    assert told == [held["report_request_id"]]
    assert await _waiting(api) == []
    [request] = [r for a in answers for r in a.report_requests]
    assert request.r_ids == ["st"]
    monkeypatch.undo()
    again = await _register(ven)
    assert again.report_requests == []


async def test_a_held_span_without_a_start_starts_when_carried(
    api: Api, vens: RawVens, clock: MutableClock
) -> None:
    ven = await registered(api, vens, "ven-a", {"a1": "ra1"})
    made = await _hold(api, granularity_seconds=60, report_back_seconds=60, duration_seconds=300)
    assert (made["start"], made["duration_seconds"]) == (None, 300)  # not yet known
    later = clock.now() + timedelta(hours=2)
    fixed = await _hold(api, start=later.isoformat(), duration_seconds=600)
    assert fixed["start"] == later.isoformat()
    clock.advance(hours=1)
    carried = {r.report_request_id: r for r in (await _register(ven)).report_requests}
    assert carried[made["report_request_id"]].report_interval == (clock.now(), 5 * MINUTE)
    assert carried[fixed["report_request_id"]].report_interval == (later, 10 * MINUTE)


async def test_the_cancel_of_a_held_request_withdraws_it(api: Api, vens: RawVens) -> None:
    ven = await registered(api, vens, "ven-a", {"a1": "ra1"})
    held = await _hold(api, r_ids=["st"])
    kept = await _hold(api)
    assert await _waiting(api) == [HELD, HELD]
    cancel = f"/api/vens/ven-a/report-requests/{held['report_request_id']}/cancel"
    withdrawn = await api.post(cancel, {}, status=200)
    assert withdrawn == {**held, "held": True}
    assert await _waiting(api) == [HELD]
    await api.post(cancel, {}, status=404)  # withdrawn: no longer anything to cancel
    [request] = (await _register(ven)).report_requests
    assert request.report_request_id == kept["report_request_id"]
    own = await ven.poll()  # the VTN's own request of the points offered, nothing else
    assert own.message_type == "oadrCreateReport"
    assert held["report_request_id"] not in {r.report_request_id for r in own.report_requests}
    assert (await ven.created_report(own)).code == 200
    assert (await ven.poll()).message_type == "oadrResponse"  # the withdrawn one never told
    # Carried, it is a request like any other: its cancel is told to the VEN.
    told = await api.post(
        f"/api/vens/ven-a/report-requests/{kept['report_request_id']}/cancel", {}, status=200
    )
    assert (told["report_request_id"], told["held"]) == (kept["report_request_id"], False)
    assert (await ven.poll()).message_type == "oadrCancelReport"


async def test_a_request_held_too_long_is_dropped(
    api: Api, vens: RawVens, clock: MutableClock
) -> None:
    ven = await registered(api, vens, "ven-a", {"a1": "ra1"})
    stale = await _hold(api)
    clock.advance(seconds=(MAX_HOLD - MINUTE).total_seconds())
    fresh = await _hold(api)
    clock.advance(minutes=2)  # stale: held MAX_HOLD + 1 min; fresh: 2 min
    assert await _waiting(api) == [HELD]  # the stale one is not shown as waiting
    [request] = (await _register(ven)).report_requests
    assert request.report_request_id == fresh["report_request_id"]
    assert await _waiting(api) == []
    await api.post(
        f"/api/vens/ven-a/report-requests/{stale['report_request_id']}/cancel", {}, status=404
    )


async def test_a_cancel_drops_requests_held_too_long(
    api: Api, vens: RawVens, clock: MutableClock
) -> None:
    await registered(api, vens, "ven-a", {"a1": "ra1"})
    stale = await _hold(api)
    clock.advance(days=MAX_HOLD.days, seconds=1)
    await api.post(
        f"/api/vens/ven-a/report-requests/{stale['report_request_id']}/cancel", {}, status=404
    )
    assert await _waiting(api) == []


async def test_the_ven_s_report_requests_are_listed_held_then_stored(
    api: Api, vens: RawVens, clock: MutableClock
) -> None:
    ven = await registered(api, vens, "ven-a", {"a1": "ra1"})
    await api.get("/api/vens/nobody/report-requests", status=404)
    assert (await api.get("/api/vens/ven-a/report-requests"))["items"] == []
    stale = await _hold(api)
    clock.advance(seconds=(MAX_HOLD + MINUTE).total_seconds())
    held = await _hold(api, granularity_seconds=60)
    listed = (await api.get("/api/vens/ven-a/report-requests"))["items"]
    # The one held too long is not listed; the other is, with no report specifier yet.
    assert [(r["report_request_id"], r["status"], r["report_specifier_id"], r["r_ids"],
             r["granularity_seconds"]) for r in listed] == [
        (held["report_request_id"], "held", None, [], 60.0),
    ]  # fmt: skip
    assert stale["report_request_id"] not in {r["report_request_id"] for r in listed}
    [carried] = (await _register(ven)).report_requests
    assert carried.report_request_id == held["report_request_id"]
    # Listed among the VTN's own (those it asks of every VEN at registration).
    items = (await api.get("/api/vens/ven-a/report-requests"))["items"]
    assert all(r["status"] != "held" for r in items)
    [stored] = [r for r in items if r["report_request_id"] == held["report_request_id"]]
    assert (stored["report_request_id"], stored["status"], stored["report_name"],
            stored["r_ids"]) == (held["report_request_id"], "requested", "TELEMETRY_STATUS",
                                 ["st"])  # fmt: skip
    assert stored["report_specifier_id"] == "status"
    await api.post(
        f"/api/vens/ven-a/report-requests/{held['report_request_id']}/cancel", {}, status=200
    )
    items = (await api.get("/api/vens/ven-a/report-requests"))["items"]
    [cancelled] = [r for r in items if r["report_request_id"] == held["report_request_id"]]
    assert cancelled["status"] == "cancelled"
