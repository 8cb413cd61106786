"""GET /api/analytics over events whose results are written as the executor would write them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from gateway.db.models import EventRow
from gateway.services.container import Services
from tests.support import Api, MutableClock, in_minutes

T0 = datetime(2030, 3, 10, 12, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> MutableClock:
    return MutableClock(T0)


async def schedule(
    api: Api, clock: MutableClock, target_kw: float, duration_minutes: int, devices: list[str]
) -> Any:
    return await api.post(
        "/api/events",
        {
            "start_time": in_minutes(60, clock),
            "duration_minutes": duration_minutes,
            "devices": devices,
            "target_kw": target_kw,
        },
        status=201,
    )


async def complete(
    services: Services,
    event_id: str,
    *,
    start_time: datetime,
    late_minutes: float,
    ran_minutes: float,
    average_reduction_kw: float | None,
    energy_reduction_kwh: float | None,
    coverage: float | None,
) -> None:
    """What the executor stores when an event has run: status, real times and results."""
    async with services.db.write() as session:
        row = await session.get(EventRow, event_id)
        assert row is not None
        length = row.end_time - row.start_time
        row.start_time = start_time
        row.end_time = start_time + length
        row.status = "completed"
        row.started_at = start_time + timedelta(minutes=late_minutes)
        row.ended_at = row.started_at + timedelta(minutes=ran_minutes)
        row.late_start_seconds = late_minutes * 60
        row.average_reduction_kw = average_reduction_kw
        row.energy_reduction_kwh = energy_reduction_kwh
        row.coverage = coverage
        row.updated_at = row.ended_at


@pytest.fixture
async def devices(api: Api) -> list[str]:
    await api.device("dev-1")
    await api.device("dev-2")
    return ["dev-1", "dev-2"]


async def test_no_events_gives_zero_totals_and_no_rates(api: Api, clock: MutableClock) -> None:
    data = await api.get("/api/analytics", days=7)
    assert data == {
        "period_days": 7,
        "period_start": data["period_start"],
        "events_by_status": {},
        "completed_events": 0,
        "events_with_results": 0,
        "total_energy_reduction_kwh": 0.0,
        "total_target_kwh": 0.0,
        "energy_achievement_rate": None,
        "average_reduction_kw": None,
        "average_target_kw": None,
        "power_achievement_rate": None,
        "average_duration_minutes": None,
        "average_coverage": None,
    }
    assert datetime.fromisoformat(data["period_start"]) == T0 - timedelta(days=7)


async def test_default_period_is_30_days(api: Api) -> None:
    data = await api.get("/api/analytics")
    assert data["period_days"] == 30
    assert datetime.fromisoformat(data["period_start"]) == T0 - timedelta(days=30)


async def test_scheduled_events_only_are_counted_by_status(
    api: Api, clock: MutableClock, devices: list[str]
) -> None:
    await schedule(api, clock, 4.0, 30, devices)
    data = await api.get("/api/analytics", days=7)
    assert data["events_by_status"] == {"scheduled": 1}
    assert data["completed_events"] == 0
    assert data["total_target_kwh"] == 0.0  # targets count only where results exist
    assert data["energy_achievement_rate"] is None
    assert data["power_achievement_rate"] is None


async def test_power_and_energy_are_kept_apart(
    api: Api, services: Services, clock: MutableClock, devices: list[str]
) -> None:
    # A: 10 kW for 60 min -> 10 kWh target.  B: 20 kW for 30 min -> 10 kWh target.
    a = await schedule(api, clock, 10.0, 60, devices)
    b = await schedule(api, clock, 20.0, 30, devices)
    assert a["target_kwh"] == pytest.approx(10.0)
    assert b["target_kwh"] == pytest.approx(10.0)
    cancelled = await schedule(api, clock, 5.0, 15, devices)
    await api.post(f"/api/events/{cancelled['id']}/cancel", {"reason": "grid ok"}, status=200)
    still_scheduled = await schedule(api, clock, 7.0, 45, ["dev-1"])

    # A ran 50 of its 60 minutes, 2 minutes late; B ran its 30 minutes.
    await complete(
        services,
        a["id"],
        start_time=T0 - timedelta(days=2),
        late_minutes=2,
        ran_minutes=50,
        average_reduction_kw=8.0,
        energy_reduction_kwh=6.0,
        coverage=0.9,
    )
    await complete(
        services,
        b["id"],
        start_time=T0 - timedelta(days=1),
        late_minutes=0,
        ran_minutes=30,
        average_reduction_kw=16.0,
        energy_reduction_kwh=4.0,
        coverage=0.7,
    )
    stored = await api.get(f"/api/events/{a['id']}")
    assert stored["status"] == "completed"
    assert stored["results"] == {
        "average_reduction_kw": 8.0,
        "energy_reduction_kwh": 6.0,
        "coverage": 0.9,
        "gap_seconds": None,
    }

    data = await api.get("/api/analytics", days=7)
    assert data["period_days"] == 7
    assert data["events_by_status"] == {"cancelled": 1, "completed": 2, "scheduled": 1}
    assert data["completed_events"] == 2
    assert data["events_with_results"] == 2
    # Energy: 6 + 4 kWh achieved of 10 + 10 kWh targeted.
    assert data["total_energy_reduction_kwh"] == pytest.approx(10.0)
    assert data["total_target_kwh"] == pytest.approx(20.0)
    assert data["energy_achievement_rate"] == pytest.approx(0.5)
    # Power: 8 and 16 kW shed against 10 and 20 kW targeted (0.8 each).
    assert data["average_reduction_kw"] == pytest.approx(12.0)
    assert data["average_target_kw"] == pytest.approx(15.0)
    assert data["power_achievement_rate"] == pytest.approx(0.8)
    # Real durations: 50 and 30 minutes (scheduled: 60 and 30).
    assert data["average_duration_minutes"] == pytest.approx(40.0)
    assert data["average_coverage"] == pytest.approx(0.8)
    assert still_scheduled["status"] == "scheduled"


async def test_events_before_the_period_are_left_out(
    api: Api, services: Services, clock: MutableClock, devices: list[str]
) -> None:
    recent = await schedule(api, clock, 10.0, 60, devices)
    old = await schedule(api, clock, 10.0, 60, devices)
    await complete(
        services,
        recent["id"],
        start_time=T0 - timedelta(days=3),
        late_minutes=0,
        ran_minutes=60,
        average_reduction_kw=5.0,
        energy_reduction_kwh=5.0,
        coverage=1.0,
    )
    await complete(
        services,
        old["id"],
        start_time=T0 - timedelta(days=10),
        late_minutes=0,
        ran_minutes=20,
        average_reduction_kw=10.0,
        energy_reduction_kwh=3.0,
        coverage=0.5,
    )
    week = await api.get("/api/analytics", days=7)
    assert week["events_by_status"] == {"completed": 1}
    assert week["total_energy_reduction_kwh"] == pytest.approx(5.0)
    assert week["energy_achievement_rate"] == pytest.approx(0.5)
    assert week["power_achievement_rate"] == pytest.approx(0.5)
    assert week["average_duration_minutes"] == pytest.approx(60.0)

    month = await api.get("/api/analytics", days=30)
    assert month["events_by_status"] == {"completed": 2}
    assert month["total_energy_reduction_kwh"] == pytest.approx(8.0)
    assert month["total_target_kwh"] == pytest.approx(20.0)
    assert month["energy_achievement_rate"] == pytest.approx(0.4)
    assert month["average_reduction_kw"] == pytest.approx(7.5)
    assert month["power_achievement_rate"] == pytest.approx(0.75)
    assert month["average_duration_minutes"] == pytest.approx(40.0)
    assert month["average_coverage"] == pytest.approx(0.75)


async def test_completed_event_without_results(
    api: Api, services: Services, clock: MutableClock, devices: list[str]
) -> None:
    measured = await schedule(api, clock, 10.0, 60, devices)
    unmeasured = await schedule(api, clock, 40.0, 60, devices)
    await complete(
        services,
        measured["id"],
        start_time=T0 - timedelta(hours=5),
        late_minutes=0,
        ran_minutes=60,
        average_reduction_kw=9.0,
        energy_reduction_kwh=9.0,
        coverage=1.0,
    )
    await complete(
        services,
        unmeasured["id"],
        start_time=T0 - timedelta(hours=3),
        late_minutes=0,
        ran_minutes=20,
        average_reduction_kw=None,
        energy_reduction_kwh=None,
        coverage=None,
    )
    data = await api.get("/api/analytics", days=1)
    assert data["completed_events"] == 2
    assert data["events_with_results"] == 1
    # The unmeasured event's 40 kWh target is not counted as 0 achieved.
    assert data["total_target_kwh"] == pytest.approx(10.0)
    assert data["energy_achievement_rate"] == pytest.approx(0.9)
    assert data["power_achievement_rate"] == pytest.approx(0.9)
    # Its real duration still counts.
    assert data["average_duration_minutes"] == pytest.approx(40.0)
