"""Telemetry and the achieved reduction go up to the utility as reports it can attribute: one
report per upstream event, its intervals the event's minutes, its final report marked.

The gateway runs on a clock that moves only when its executor sleeps, so a 10-minute event is
measured in moments; the utility (stock openleadr) and the VENs run in real time."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from redis.asyncio import Redis

from gateway.app import UPSTREAM, build_executor
from gateway.db.models import UpstreamEventRow
from gateway.services.container import Services
from gateway.services.settlement_auto import SETTLE_GRACE
from gateway.settings import Settings
from gateway.upstream.reports import (
    R_ACTUAL_KWH,
    R_BASELINE_KWH,
    R_COVERAGE,
    R_EVENT_COVERAGE,
    R_EVENT_KW,
    R_EVENT_KWH,
    R_POWER,
    R_REDUCTION_KW,
    R_REDUCTION_KWH,
    R_SETTLED_KWH,
    REDUCTION_PREFIX,
    TELEMETRY_SPECIFIER,
    SettledInterval,
    reduction_specifier,
)
from tests.support import Api, FakeClock, power_json
from tests.upstream import report_xml
from tests.upstream.conftest import Utility
from tests.vtn.conftest import VenFactory, eventually
from tests.vtn.test_ven_flow import answering, provision, register

START_IN = timedelta(minutes=5)


class Device:
    """10 kW, dropping to 8 kW while the event runs: a 2 kW reduction; no reading at all
    before ``silent_until`` once the event has started."""

    def __init__(self, redis: Redis, settings: Settings) -> None:
        self.redis = redis
        self.key = f"{settings.redis_prefix}power:a1"
        self.start: datetime | None = None
        self.end: datetime | None = None
        self.silent_until: datetime | None = None
        # Called once, at the first instant at or after its time (an operator's cancel).
        self.at: tuple[datetime, Callable[[], Awaitable[object]]] | None = None

    async def __call__(self, now: datetime) -> None:
        if self.at is not None and now >= self.at[0]:
            action, self.at = self.at[1], None
            await action()
        running = self.start is not None and self.end is not None and self.start <= now < self.end
        if running and self.silent_until is not None and now < self.silent_until:
            await self.redis.delete(self.key)
        else:
            await self.redis.set(self.key, power_json(8.0 if running else 10.0, now))
        if running:
            await asyncio.sleep(0.005)  # the event takes a few real seconds: several polls


@pytest.fixture
def device(redis: Redis, settings: Settings) -> Device:
    return Device(redis, settings)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def settings_overrides(upstream_overrides: dict[str, Any]) -> dict[str, Any]:
    # The baseline window reaches back past now, so one executor round takes the event.
    return {**upstream_overrides, "cadence_seconds": 5.0, "baseline_window_minutes": 5.0}


async def test_a_2_kw_drop_for_10_minutes_goes_up_as_one_report_per_event_minute_by_minute(
    utility: Utility, api: Api, make_ven: VenFactory, client: Any, services: Services,
    clock: FakeClock, device: Device,
) -> None:  # fmt: skip
    ven, runner = await _connected(utility, api, make_ven, client)

    # Nothing measured yet: no telemetry value (never a 0.0 kW), then the reading.
    await asyncio.sleep(1.5)  # the utility asks telemetry every second
    assert R_POWER not in utility.reports
    await device(clock.now())
    values = await eventually(lambda: _reported(utility, R_POWER), timeout=15)
    assert values[0][1] == pytest.approx(10.0)

    start, results = await _run_event(utility, api, ven, services, clock, device)
    assert results["average_reduction_kw"] == pytest.approx(2.0, rel=0.01)
    specifier = reduction_specifier("ev-r")

    minutes = [start + timedelta(minutes=k) for k in range(10)]
    # What the stock openleadr utility got, under the event's own report.
    got = utility.by_report[specifier]
    assert [when for when, _ in got[R_REDUCTION_KWH]] == minutes
    assert [kwh for _, kwh in got[R_REDUCTION_KWH]] == pytest.approx([2.0 / 60] * 10, rel=0.01)
    assert [kw for _, kw in got[R_REDUCTION_KW]] == pytest.approx([2.0] * 10, rel=0.01)
    assert [c for _, c in got[R_COVERAGE]] == pytest.approx([100.0] * 10)
    assert got[R_EVENT_KWH] == [(start, pytest.approx(results["energy_reduction_kwh"]))]
    assert got[R_EVENT_KW] == [(start, pytest.approx(results["average_reduction_kw"]))]
    assert got[R_EVENT_COVERAGE] == [(start, pytest.approx(100.0))]

    # The same, read from the raw XML with lxml and the XSD only.
    sent = [r for r in report_xml.updates(utility.exchanges) if r.specifier == specifier]
    asked = report_xml.requested(utility.exchanges)[specifier]
    assert len(sent) >= 2, "the closed minutes went up while the event ran, not all at the end"
    assert {r.request_id for r in sent} == {asked[-1]}  # the request made for this event
    assert [r.report_id for r in sent][-1] == f"{specifier}/final"
    assert [r.report_id for r in sent].count(f"{specifier}/final") == 1
    per_minute = [i for r in sent for i in r.intervals if i.r_id == R_REDUCTION_KWH]
    assert [(i.start, i.duration) for i in per_minute] == [
        (m, timedelta(minutes=1)) for m in minutes
    ]
    for report in sent[:-1]:  # each increment: named after its first minute, totals only at the end
        first = min(i.start for i in report.intervals)
        assert report.report_id == f"{specifier}/{minutes.index(first)}"
        assert {i.r_id for i in report.intervals} == {R_REDUCTION_KW, R_REDUCTION_KWH, R_COVERAGE}
    # The last minute closes with the event: it goes up in the final report, never unfinished.
    assert minutes[-1] in {i.start for i in sent[-1].intervals if i.r_id == R_REDUCTION_KWH}
    totals = [i for i in sent[-1].intervals if i.r_id == R_EVENT_KWH]
    assert [(i.start, i.duration) for i in totals] == [(start, timedelta(minutes=10))]
    assert sum(i.value for i in per_minute) == pytest.approx(
        results["energy_reduction_kwh"], rel=1e-6
    )
    # Telemetry was registered again with the event's report: only its newest request holds.
    telemetry = [r.request_id for r in report_xml.updates(utility.exchanges)
                 if r.specifier == TELEMETRY_SPECIFIER]  # fmt: skip
    requests = report_xml.requested(utility.exchanges)[TELEMETRY_SPECIFIER]
    assert len(requests) == 2
    assert telemetry[-1] == requests[-1]
    assert requests[0] not in telemetry[telemetry.index(requests[-1]) :]
    # Over: the next oadrRegisterReport leaves it out.
    assert not runner.reporter.event_report_offers(specifier)
    assert runner.reduction == {
        "average_reduction_kw": results["average_reduction_kw"],
        "energy_reduction_kwh": results["energy_reduction_kwh"],
        "coverage": results["coverage"],
    }


async def test_minutes_nothing_measured_are_left_out_and_settlement_goes_up_in_the_final_report(
    utility: Utility, api: Api, make_ven: VenFactory, client: Any, services: Services,
    clock: FakeClock, device: Device,
) -> None:  # fmt: skip
    ven, runner = await _connected(utility, api, make_ven, client)
    await device(clock.now())
    asked: list[str] = []

    async def settlement(event_id: str) -> list[SettledInterval]:
        asked.append(event_id)
        return [
            SettledInterval(start + timedelta(minutes=5 * k), timedelta(minutes=5), 0.9, 0.7, 0.2)
            for k in range(2)
        ]

    runner.reports.settlement = settlement
    start = clock.now() + START_IN
    device.silent_until = start + timedelta(minutes=3)
    start, results = await _run_event(utility, api, ven, services, clock, device)
    specifier = reduction_specifier("ev-r")
    assert results["coverage"] == pytest.approx(0.7, abs=0.01)

    sent = [r for r in report_xml.updates(utility.exchanges) if r.specifier == specifier]
    per_minute = [i for r in sent for i in r.intervals if i.r_id == R_REDUCTION_KWH]
    # The first three minutes had no reading: no value for them (not 0), the first is minute 3.
    assert [(i.start, i.duration) for i in per_minute] == [
        (start + timedelta(minutes=k), timedelta(minutes=1)) for k in range(3, 10)
    ]
    assert [i.value for i in per_minute] == pytest.approx([2.0 / 60] * 7, rel=0.01)
    assert sent[0].report_id == f"{specifier}/3"
    # Settlement values: in the final report only, each interval with its start and duration.
    final = sent[-1]
    assert final.report_id == f"{specifier}/final"
    assert [
        r for r in sent[:-1] if any(i.r_id.startswith("settlement-") for i in r.intervals)
    ] == []
    for r_id, value in ((R_BASELINE_KWH, 0.9), (R_ACTUAL_KWH, 0.7), (R_SETTLED_KWH, 0.2)):
        assert [(i.start, i.duration, i.value) for i in final.intervals if i.r_id == r_id] == [
            (start, timedelta(minutes=5), value),
            (start + timedelta(minutes=5), timedelta(minutes=5), value),
        ]
    assert len(asked) == 1  # asked once, for the final report


async def test_an_event_cancelled_after_4_5_minutes_is_reported_to_the_cancel_and_no_further(
    utility: Utility, api: Api, make_ven: VenFactory, client: Any, services: Services,
    clock: FakeClock, device: Device,
) -> None:  # fmt: skip
    ven, _ = await _connected(utility, api, make_ven, client)
    await device(clock.now())
    start = clock.now() + START_IN
    cancel_at = start + timedelta(minutes=4, seconds=30)

    async def cancel() -> None:
        (event,) = await services.events.find(None, 10)
        await services.events.cancel(event.id, "the operator stops it")

    device.at = (cancel_at, cancel)
    utility.refuse_finals = 2  # the utility is unavailable for the first two tries
    start, results = await _run_event(utility, api, ven, services, clock, device, "cancelled")
    # Tried again after 1 s, then 2 s: not every tick.
    first, second = utility.refused_at
    assert second - first >= 0.9
    specifier = reduction_specifier("ev-r")

    sent = [r for r in report_xml.updates(utility.exchanges) if r.specifier == specifier]
    per_interval = [i for r in sent for i in r.intervals if i.r_id == R_REDUCTION_KWH]
    # Four whole minutes, then the half minute to the cancel; nothing after it.
    assert [(i.start, i.duration) for i in per_interval] == [
        *((start + timedelta(minutes=k), timedelta(minutes=1)) for k in range(4)),
        (start + timedelta(minutes=4), timedelta(seconds=30)),
    ]
    assert [i.value for i in per_interval] == pytest.approx([2.0 / 60] * 4 + [2.0 / 120], rel=0.01)
    final = sent[-1]
    assert final.report_id == f"{specifier}/final"
    totals = [i for i in final.intervals if i.r_id == R_EVENT_KWH]
    assert [(i.start, i.duration) for i in totals] == [(start, cancel_at - start)]
    assert totals[0].value == pytest.approx(results["energy_reduction_kwh"])
    assert results["energy_reduction_kwh"] == pytest.approx(2.0 * 4.5 / 60, rel=0.01)


async def test_a_report_forgotten_mid_event_as_by_a_restart_goes_on_where_it_had_got(
    utility: Utility, api: Api, make_ven: VenFactory, client: Any, services: Services,
    clock: FakeClock, device: Device,
) -> None:  # fmt: skip
    ven, runner = await _connected(utility, api, make_ven, client)
    await device(clock.now())
    start = clock.now() + START_IN
    specifier = reduction_specifier("ev-r")

    async def forget() -> None:
        # Some minutes have gone up: then the upstream side forgets the event's report and
        # its request, as a restarted process has them (what is stored stays).
        await eventually(lambda: _minutes_sent(utility, specifier), timeout=15)
        await runner.reporter.withdraw(specifier)

    device.at = (start + timedelta(minutes=6), forget)
    start, _ = await _run_event(utility, api, ven, services, clock, device)

    sent = [r for r in report_xml.updates(utility.exchanges) if r.specifier == specifier]
    per_minute = [i for r in sent for i in r.intervals if i.r_id == R_REDUCTION_KWH]
    # Offered again and requested again; every minute still sent once, the final once.
    assert [(i.start, i.duration) for i in per_minute] == [
        (start + timedelta(minutes=k), timedelta(minutes=1)) for k in range(10)
    ]
    requests = report_xml.requested(utility.exchanges)[specifier]
    assert len(requests) == 2
    assert {r.request_id for r in sent} == set(requests)
    assert sent[-1].request_id == requests[-1]
    assert [r.report_id for r in sent].count(f"{specifier}/final") == 1


async def _minutes_sent(utility: Utility, specifier: str) -> bool:
    return any(r.specifier == specifier for r in report_xml.updates(utility.exchanges))


async def test_two_events_have_two_reports_and_each_value_goes_to_its_own(
    utility: Utility, api: Api, make_ven: VenFactory, client: Any, services: Services,
    clock: FakeClock, device: Device,
) -> None:  # fmt: skip
    ven, runner = await _connected(utility, api, make_ven, client)
    await device(clock.now())
    later = reduction_specifier("ev-later")
    utility.add_event("ev-later", clock.now() + timedelta(hours=2), minutes=30, kw=1.0)
    invitation = await eventually(lambda: _invitation_of(services, "ev-later"))

    async def polled_until_scheduled() -> bool:
        await ven._poll()
        return await _scheduled(api, invitation)

    await eventually(polled_until_scheduled)
    await eventually(lambda: _offered(utility, later, timedelta(minutes=30)), timeout=15)
    start, _ = await _run_event(utility, api, ven, services, clock, device)
    now = reduction_specifier("ev-r")

    # The utility was told of both, each with its duration, in one registration.
    assert {(o.specifier, o.duration) for o in report_xml.registrations(utility.exchanges)[-1]} >= {
        (now, timedelta(minutes=10)),
        (later, timedelta(minutes=30)),
    }
    sent = report_xml.updates(utility.exchanges)
    asked = report_xml.requested(utility.exchanges)
    assert [r for r in sent if r.specifier == later] == []  # nothing measured for it yet
    assert later not in utility.by_report
    ours = [r for r in sent if r.specifier == now]
    assert {r.request_id for r in ours} <= set(asked[now])
    assert ours[-1].report_id == f"{now}/final"
    assert [i.start for r in ours for i in r.intervals if i.r_id == R_REDUCTION_KWH] == [
        start + timedelta(minutes=k) for k in range(10)
    ]
    # The later event's report is still offered; the finished one's is not.
    assert runner.reporter.event_report_offers(later)
    assert not runner.reporter.event_report_offers(now)


async def _connected(
    utility: Utility, api: Api, make_ven: VenFactory, client: Any
) -> tuple[Any, Any]:
    """A downstream VEN answering optIn, and the upstream VEN connected to the utility, which
    asks the events' reduction reports minute by minute."""
    utility.granularity[REDUCTION_PREFIX] = timedelta(minutes=1)
    await provision(api, "ven-a", {"a1": "ra1"})
    ven = make_ven("ven-a", ven_id="ven-a")
    answering(ven, "optIn")
    await register(ven)
    runner = client.app[UPSTREAM]
    await asyncio.wait_for(runner.connected.wait(), 15)
    return ven, runner


async def _run_event(
    utility: Utility,
    api: Api,
    ven: Any,
    services: Services,
    clock: FakeClock,
    device: Device,
    ends: str = "completed",
    after_end: Callable[[], Awaitable[object]] | None = None,
) -> tuple[datetime, dict[str, Any]]:
    """A 10-minute upstream event for 2 kW, accepted and run to its end, then ``after_end``
    (by default: the clock moves to when its settlement is due), and a few more ticks:
    nothing may follow its final report; its start and results."""
    start = clock.now() + START_IN
    device.start, device.end = start, start + timedelta(minutes=10)
    utility.add_event("ev-r", start, minutes=10, kw=2.0)
    invitation = await eventually(lambda: _invitation_of(services, "ev-r"))

    async def polled_until_scheduled() -> bool:
        await ven._poll()  # the VEN answers optIn once the event reaches it
        return await _scheduled(api, invitation)

    await eventually(polled_until_scheduled)
    specifier = reduction_specifier("ev-r")
    # The utility is told about the event's report (its duration the event's) and asks for it.
    await eventually(lambda: _offered(utility, specifier), timeout=15)

    clock.on_advance = device
    executor = build_executor(services)
    # One round, then only the event's run moves the fake clock: a scheduler loop sleeping on
    # it too would move time under the run, and the instants it skipped would be gaps.
    await executor.tick()
    assert executor.runs, "the executor started no run"
    task = asyncio.ensure_future(asyncio.gather(*executor.runs.values()))
    try:
        event_id = (await api.get(f"/api/invitations/{invitation}"))["event_id"]
        done = await eventually(lambda: _ended(api, event_id, ends), timeout=60)
        if after_end is not None:
            await after_end()
        else:  # the final report carries the settlement: due once the last interval closed
            grid = services.meter_history.grid
            clock.advance(seconds=(grid.interval + SETTLE_GRACE).total_seconds())
        await eventually(lambda: _final_sent(utility, specifier), timeout=15)
    finally:
        await asyncio.wait_for(task, 30)
    await asyncio.sleep(1.0)  # two more ticks: nothing may follow the final report
    return start, dict(done["results"])


async def _offered(
    utility: Utility, specifier: str, duration: timedelta = timedelta(minutes=10)
) -> bool:
    offered = [o for r in report_xml.registrations(utility.exchanges) for o in r]
    ours = [o for o in offered if o.specifier == specifier]
    if not ours or specifier not in report_xml.requested(utility.exchanges):
        return False
    assert ours[-1].duration == duration
    assert {R_REDUCTION_KW, R_REDUCTION_KWH, R_COVERAGE, R_EVENT_KWH} <= set(ours[-1].r_ids)
    return True


async def _final_sent(utility: Utility, specifier: str) -> bool:
    return any(r.report_id == f"{specifier}/final" for r in report_xml.updates(utility.exchanges))


async def _reported(utility: Utility, r_id: str) -> list[tuple[datetime, float]] | None:
    return utility.reports.get(r_id) or None


async def _invitation_of(services: Services, upstream_event_id: str) -> str | None:
    async with services.db.read() as session:
        row = await session.get(UpstreamEventRow, upstream_event_id)
        return None if row is None else row.invitation_id


async def _scheduled(api: Api, invitation_id: str) -> bool:
    return bool((await api.get(f"/api/invitations/{invitation_id}"))["status"] == "scheduled")


async def _ended(api: Api, event_id: str, status: str) -> Any:
    view = await api.get(f"/api/events/{event_id}")
    return view if view["status"] == status else None
