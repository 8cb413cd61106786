"""Per-event settlement over HTTP, on SQLite and PostgreSQL: an event run by the executor,
meter history imported as CSV, the program's baseline method; versions after late data.

The history is the hand-worked one of ``test_baselines`` (its docstring has the numbers):
PJM's highest 4 of 5 gives 2.65 and 2.85 kWh for the event's two intervals. The event day's
meter reads 1.0 kWh (17:00) and 1.2 kWh (17:15).
"""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from redis.asyncio import Redis

from gateway.app import build_executor, build_meter_recorder
from gateway.db.models import EventDeviceRow, EventRow
from gateway.services.container import Services
from gateway.settings import Settings
from tests.settlement.test_baselines import EVENT_DAY, WEDNESDAY, _history, _local
from tests.support import FakeClock, power_json

START = _local(WEDNESDAY, 17, 0)  # 2030-07-18T00:00Z
ACTUAL = {_local(WEDNESDAY, 17, 0): 1.0, _local(WEDNESDAY, 17, 15): 1.2}
TZ = "America/Los_Angeles"


@pytest.fixture
def database_url(any_database_url: str) -> str:
    return any_database_url


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"cadence_seconds": 30.0, "meter_sample_seconds": 0}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START - timedelta(minutes=16))


def _csv(device_id: str, *, without: frozenset[datetime] = frozenset()) -> str:
    """The worked example's history up to the event's end, the event day's meter included."""
    rows = ["device_id,interval_start,kwh"]
    for at, energy in sorted(_history(WEDNESDAY, 1.5, WEDNESDAY).items()):
        if at >= START + timedelta(minutes=30) or at in without:
            continue
        rows.append(f"{device_id},{at.isoformat()},{ACTUAL.get(at, energy.kwh)!r}")
    return "\n".join(rows) + "\n"


async def _device(api: Any, redis: Redis, settings: Settings, clock: FakeClock, *ids: str) -> None:
    for device_id in ids:
        await api.device(device_id, timezone=TZ)

    async def steady(now: datetime) -> None:  # 10 kW on the power bus, whatever happens
        for device_id in ids:
            await redis.set(f"{settings.redis_prefix}power:{device_id}", power_json(10.0, now))

    clock.on_advance = steady
    await steady(clock.now())


async def _run_event(api: Any, services: Services, clock: FakeClock, **fields: Any) -> Any:
    event = await api.post(
        "/api/events",
        {"start_time": START.isoformat(), "duration_minutes": 30, "target_kw": 8.0, **fields},
        status=201,
    )
    executor = build_executor(services)
    clock.advance(minutes=1)  # the baseline window is open
    await executor.tick()
    await asyncio.gather(*executor.runs.values())
    assert (await api.get(f"/api/events/{event['id']}"))["status"] == "completed"
    return event


async def _a_prior_event_on(services: Services, day: date, device_ids: list[str]) -> None:
    """An event that ran on ``day`` (data set up directly: the API cannot go back in time)."""
    start = _local(day, 17, 0)
    async with services.db.write() as session:
        session.add(
            EventRow(
                id=f"prior-{day.isoformat()}", created_at=start, updated_at=start,
                start_time=start, end_time=start + timedelta(minutes=30), status="completed",
                target_kw=1.0, target_kwh=0.5, started_at=start, ended_at=start,
                devices=[
                    EventDeviceRow(device_id=d, position=i, committed_kw=1.0)
                    for i, d in enumerate(device_ids)
                ],
            )
        )  # fmt: skip


async def test_mean_before_event_settles_on_the_executor_s_baseline(
    api: Any, services: Services, redis: Redis, settings: Settings, clock: FakeClock
) -> None:
    await _device(api, redis, settings, clock, "s1")
    event = await _run_event(api, services, clock, devices=["s1"])
    await api.post("/api/meter-history", {"csv": _csv("s1")}, status=200)
    settled = await api.post(f"/api/events/{event['id']}/settlement", {}, status=201)
    assert settled["version"] == 1
    assert settled["baseline_method"] == "mean_before_event"
    assert settled["baseline_parameters"] is None
    (device,) = settled["devices"]
    # 10 kW measured before the start: 2.5 kWh per 15-minute interval.
    assert [(i["baseline_kwh"], i["actual_kwh"]) for i in device["intervals"]] == [
        (2.5, 1.0), (2.5, 1.2),
    ]  # fmt: skip
    assert device["reduction_kwh"] == pytest.approx(1.5 + 1.3, abs=1e-9)
    assert device["delivered_kw"] == pytest.approx(2.8 / 0.5, abs=1e-9)
    assert settled["totals"]["reduction_kwh"] == pytest.approx(2.8, abs=1e-9)
    # A direct event's target_kw is its one device's commitment: 8 kW against 5.6 delivered.
    assert device["committed_kw"] == 8.0
    assert (settled["totals"]["committed_kw"], settled["totals"]["devices_committed"]) == (8.0, 1)


@pytest.mark.parametrize(
    "settings_overrides", [{"cadence_seconds": 30.0, "meter_sample_seconds": 60}]
)
async def test_recorded_history_settles_to_what_the_executor_measured(
    api: Any, services: Services, redis: Redis, settings: Settings, clock: FakeClock
) -> None:
    """The whole path: power bus -> meter recorder -> meter history -> settlement. The device
    draws 10 kW, then sheds to 6 kW at the start; the recorder samples every minute as the
    executor's clock moves."""
    await api.device("s1", timezone=TZ)
    recorder = build_meter_recorder(services)
    key = f"{settings.redis_prefix}power:s1"
    recorded = [clock.now()]

    def kw(at: datetime) -> float:
        return 6.0 if at >= START else 10.0

    async def device(now: datetime) -> None:
        slot = recorder.next_slot(recorded[0])
        while slot <= now:  # every slot instant passed: a reading of then, recorded then
            await redis.set(key, power_json(kw(slot), slot))
            await recorder.record(slot)
            recorded[0], slot = slot, recorder.next_slot(slot)
        await redis.set(key, power_json(kw(now), now))

    clock.on_advance = device
    await device(clock.now())
    event = await _run_event(api, services, clock, devices=["s1"])
    measured = (await api.get(f"/api/events/{event['id']}"))["results"]
    settled = await api.post(f"/api/events/{event['id']}/settlement", {}, status=201)
    (s1,) = settled["devices"]
    # 15 one-minute slots at 6 kW per interval: 1.5 kWh, against 10 kW x 0.25 h = 2.5 kWh.
    assert [(i["baseline_kwh"], i["actual_kwh"], i["measured_share"]) for i in s1["intervals"]] == [
        (2.5, pytest.approx(1.5, abs=1e-9), 1.0), (2.5, pytest.approx(1.5, abs=1e-9), 1.0),
    ]  # fmt: skip
    assert s1["reduction_kwh"] == pytest.approx(2.0, abs=1e-9)
    assert s1["delivered_kw"] == pytest.approx(4.0, abs=1e-9)
    assert measured["energy_reduction_kwh"] == pytest.approx(s1["reduction_kwh"], rel=1e-3)


async def test_a_day_matching_settlement_and_its_versions_after_late_meter_data(
    api: Any, services: Services, redis: Redis, settings: Settings, clock: FakeClock
) -> None:
    await _device(api, redis, settings, clock, "s1", "s2")
    await api.post(
        "/api/programs",
        {"id": "pjm", "name": "PJM economic", "market_context": "oadr://utility/pjm",
         "baseline_method": "pjm_high_4_of_5",
         "baseline_parameters": {"holidays": ["2030-07-04"]}},
        status=201,
    )  # fmt: skip
    for device_id in ("s1", "s2"):
        await api.put(f"/api/programs/pjm/devices/{device_id}", {}, status=200)
    await _a_prior_event_on(services, EVENT_DAY, ["s1"])
    event = await _run_event(api, services, clock, devices=["s1", "s2"], program_id="pjm")
    path = f"/api/events/{event['id']}/settlement"
    await api.get(path, status=404)  # not settled yet

    late = _local(WEDNESDAY, 17, 15)
    await api.post("/api/meter-history", {"csv": _csv("s1", without=frozenset({late}))}, 200)
    first = await api.post(path, {}, status=201)
    assert first["version"] == 1
    assert first["program_id"] == "pjm"
    assert first["baseline_method"] == "pjm_high_4_of_5"
    assert first["baseline_parameters"]["weekday_highest"] == 4
    assert first["baseline_parameters"]["holidays"] == ["2030-07-04"]
    s1, s2 = first["devices"]
    assert s1["baseline"] == "ok"
    assert s1["baseline_days"] == ["2030-07-16", "2030-07-15", "2030-07-11", "2030-07-09"]
    assert s1["adjustment"] == "additive"
    assert s1["adjustment_value"] == pytest.approx(0.35, abs=1e-9)
    one, two = s1["intervals"]
    assert (one["baseline_kwh"], one["actual_kwh"]) == (pytest.approx(2.65), 1.0)
    assert one["reduction_kwh"] == pytest.approx(1.65, abs=1e-9)
    assert (two["baseline_kwh"], two["actual_kwh"], two["reduction_kwh"]) == (
        pytest.approx(2.85), None, None,
    )  # fmt: skip
    assert two["measured_share"] == 0.0
    assert s1["measured_share"] == 0.5
    assert s1["settled_hours"] == 0.25
    assert s1["delivered_kw"] == pytest.approx(1.65 / 0.25, abs=1e-9)
    assert s2["baseline"].startswith("0 eligible weekday days in the last 45 days, 5 needed")
    assert s2["reduction_kwh"] is None
    assert first["totals"]["devices_without_baseline"] == 1
    assert first["totals"]["reduction_kwh"] == pytest.approx(1.65, abs=1e-9)
    # The direct event's 8 kW target, an equal share committed by each of its two devices.
    assert (s1["committed_kw"], s2["committed_kw"]) == (4.0, 4.0)
    assert (first["totals"]["committed_kw"], first["totals"]["devices_committed"]) == (8.0, 2)

    again = await api.post(path, {}, status=200)  # the same data: the same numbers, no version
    assert again == first

    await api.post(
        "/api/meter-history",
        {"csv": f"device_id,interval_start,kwh\ns1,{late.isoformat()},1.2\n"},
        status=200,
    )
    second = await api.post(path, {}, status=201)
    assert second["version"] == 2
    assert second["digest"] != first["digest"]
    s1 = second["devices"][0]
    assert s1["intervals"][1]["reduction_kwh"] == pytest.approx(2.85 - 1.2, abs=1e-9)
    assert s1["reduction_kwh"] == pytest.approx(1.65 + 1.65, abs=1e-9)
    assert s1["measured_share"] == 1.0
    assert s1["delivered_kw"] == pytest.approx(3.3 / 0.5, abs=1e-9)

    assert await api.get(path) == second
    assert await api.get(path, version=1) == first
    await api.get(path, status=404, version=3)

    resp = await api.client.get(path, params={"format": "csv", "version": 2})
    assert resp.status == 200
    assert resp.content_type == "text/csv"
    rows = list(csv.DictReader(io.StringIO(await resp.text())))
    assert [(r["device_id"], r["row"]) for r in rows] == [
        ("s1", "interval"), ("s1", "interval"), ("s1", "device_total"),
        ("s2", "interval"), ("s2", "interval"), ("s2", "device_total"), ("", "event_total"),
    ]  # fmt: skip
    assert float(rows[1]["reduction_kwh"]) == pytest.approx(1.65, abs=1e-9)
    assert rows[3]["actual_kwh"] == ""  # missing is empty, never 0
    assert float(rows[-1]["reduction_kwh"]) == pytest.approx(3.3, abs=1e-9)
    assert rows[0]["baseline_method"] == "pjm_high_4_of_5"


async def test_a_direct_event_with_signals_only_commits_nothing_and_its_total_is_none(
    api: Any, services: Services, redis: Redis, settings: Settings, clock: FakeClock
) -> None:
    await _device(api, redis, settings, clock, "s1", "s2")
    simple = {
        "name": "SIMPLE",
        "type": "level",
        "intervals": [{"duration_minutes": 30, "value": 1}],
    }
    event = await _run_event(api, services, clock, devices=["s1", "s2"], target_kw=None,
                             signals=[simple])  # fmt: skip
    for device_id in ("s1", "s2"):
        await api.post("/api/meter-history", {"csv": _csv(device_id)}, status=200)
    path = f"/api/events/{event['id']}/settlement"
    settled = await api.post(path, {}, status=201)
    assert [d["committed_kw"] for d in settled["devices"]] == [None, None]  # missing, not 0
    totals = settled["totals"]
    assert (totals["committed_kw"], totals["devices_committed"]) == (None, 0)
    assert totals["delivered_kw"] == pytest.approx(2 * 2.8 / 0.5, abs=1e-9)
    resp = await api.client.get(path, params={"format": "csv"})
    rows = list(csv.DictReader(io.StringIO(await resp.text())))
    assert [r["committed_kw"] for r in rows if r["row"] != "interval"] == ["", "", ""]


async def test_the_committed_total_sums_only_the_devices_that_committed(
    api: Any, services: Services
) -> None:
    for device_id in ("c1", "c2", "c3"):
        await api.device(device_id, timezone=TZ)
    start = START - timedelta(days=1)
    async with services.db.write() as session:
        session.add(
            EventRow(
                id="mixed", created_at=start, updated_at=start, start_time=start,
                end_time=start + timedelta(minutes=30), status="completed", target_kw=3.0,
                target_kwh=1.5, started_at=start, ended_at=start + timedelta(minutes=30),
                devices=[
                    EventDeviceRow(device_id="c1", position=0, committed_kw=3.0, baseline_kw=4.0),
                    EventDeviceRow(device_id="c2", position=1, committed_kw=None, baseline_kw=4.0),
                    EventDeviceRow(device_id="c3", position=2, committed_kw=0.0, baseline_kw=4.0),
                ],
            )
        )  # fmt: skip
    settled = await api.post("/api/events/mixed/settlement", {}, status=201)
    assert [d["committed_kw"] for d in settled["devices"]] == [3.0, None, 0.0]
    # c1's 3 kW and c3's 0 kW (it committed nothing, e.g. opted out); c2 has no commitment.
    assert (settled["totals"]["committed_kw"], settled["totals"]["devices_committed"]) == (3.0, 2)


async def test_only_a_completed_event_is_settled(api: Any, clock: FakeClock) -> None:
    await api.device("s1", timezone=TZ)
    scheduled = await api.post(
        "/api/events",
        {"start_time": (clock.now() + timedelta(hours=1)).isoformat(), "duration_minutes": 30,
         "devices": ["s1"], "target_kw": 1.0},
        status=201,
    )  # fmt: skip
    refused = await api.post(f"/api/events/{scheduled['id']}/settlement", {}, status=409)
    assert "only a completed event is settled" in refused["message"]
    await api.post("/api/events/nope/settlement", {}, status=404)
    await api.get("/api/events/nope/settlement", status=404)
    bad = await api.get(f"/api/events/{scheduled['id']}/settlement", status=422, version=0)
    assert bad["fields"][0]["field"] == "version"


async def test_a_program_s_baseline_parameters_are_checked_and_shown(api: Any) -> None:
    refused = await api.post(
        "/api/programs",
        {"name": "Mine", "market_context": "oadr://mine", "baseline_method": "day_matching",
         "baseline_parameters": {"weekday_highest": 3}},
        status=422,
    )  # fmt: skip
    assert "baseline_parameters.weekday_of" in {f["field"] for f in refused["fields"]}
    created = await api.post(
        "/api/programs",
        {"name": "Mine", "market_context": "oadr://mine", "baseline_method": "caiso_10_in_10",
         "baseline_parameters": {"adjustment_cap": 0.4, "holidays": ["2030-12-25"]}},
        status=201,
    )  # fmt: skip
    assert created["baseline_parameters"] == {"adjustment_cap": 0.4, "holidays": ["2030-12-25"]}
    assert created["baseline_in_force"]["weekday_of"] == 10
    assert created["baseline_in_force"]["adjustment_cap"] == 0.4
    changed = await api.patch(
        f"/api/programs/{created['id']}", {"baseline_method": "mean_before_event"}, status=200
    )
    assert changed["baseline_parameters"] == {}  # another method starts from its own
    assert changed["baseline_in_force"] is None
