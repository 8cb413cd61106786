"""Performance analytics: kW and kWh kept apart, real durations, status counts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from gateway.domain.analytics import EventOutcome, PerformanceReport, performance
from gateway.domain.lifecycle import EventStatus

T0 = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)


def completed(
    avg_kw: float | None,
    kwh: float | None,
    target_kw: float,
    target_kwh: float,
    minutes: float = 30,
    coverage: float | None = None,
    start: datetime = T0,
) -> EventOutcome:
    return EventOutcome(
        status=EventStatus.COMPLETED,
        target_kw=target_kw,
        target_kwh=target_kwh,
        started_at=start,
        ended_at=start + timedelta(minutes=minutes),
        average_reduction_kw=avg_kw,
        energy_reduction_kwh=kwh,
        coverage=coverage,
    )


def other(status: EventStatus) -> EventOutcome:
    return EventOutcome(
        status=status,
        target_kw=100.0,
        target_kwh=100.0,
        started_at=None,
        ended_at=None,
        average_reduction_kw=None,
        energy_reduction_kwh=None,
        coverage=None,
    )


TWO_COMPLETED = [
    completed(avg_kw=4.0, kwh=2.0, target_kw=5.0, target_kwh=2.5),
    completed(avg_kw=2.0, kwh=1.0, target_kw=4.0, target_kwh=2.0),
]


def test_energy_is_summed_in_kwh() -> None:
    report = performance(TWO_COMPLETED, 30)
    assert report.total_energy_reduction_kwh == pytest.approx(3.0)
    assert report.total_target_kwh == pytest.approx(4.5)
    assert report.energy_achievement_rate == pytest.approx(3.0 / 4.5)


def test_power_is_averaged_in_kw() -> None:
    report = performance(TWO_COMPLETED, 30)
    assert report.average_reduction_kw == pytest.approx(3.0)
    assert report.average_target_kw == pytest.approx(4.5)
    assert report.power_achievement_rate == pytest.approx(3.0 / 4.5)


def test_power_rate_is_not_the_energy_rate() -> None:
    # Same kWh as TWO_COMPLETED but the power figures differ: the two rates must differ too.
    events = [
        completed(avg_kw=8.0, kwh=2.0, target_kw=5.0, target_kwh=2.5, minutes=15),
        completed(avg_kw=2.0, kwh=1.0, target_kw=4.0, target_kwh=2.0, minutes=30),
    ]
    report = performance(events, 7)
    assert report.energy_achievement_rate == pytest.approx(3.0 / 4.5)
    assert report.average_reduction_kw == pytest.approx(5.0)
    assert report.power_achievement_rate == pytest.approx(5.0 / 4.5)


def test_average_duration_comes_from_real_start_and_end() -> None:
    assert performance(TWO_COMPLETED, 30).average_duration_minutes == pytest.approx(30.0)
    events = [
        completed(4.0, 2.0, 5.0, 2.5, minutes=10),
        completed(2.0, 1.0, 4.0, 2.0, minutes=45),
    ]
    assert performance(events, 30).average_duration_minutes == pytest.approx(27.5)


def test_events_by_status_counts_every_status() -> None:
    events = [
        *TWO_COMPLETED,
        other(EventStatus.CANCELLED),
        other(EventStatus.MISSED),
        other(EventStatus.MISSED),
        other(EventStatus.SCHEDULED),
        other(EventStatus.ACTIVE),
    ]
    report = performance(events, 30)
    assert report.events_by_status == {
        "active": 1,
        "cancelled": 1,
        "completed": 2,
        "missed": 2,
        "scheduled": 1,
    }
    assert list(report.events_by_status) == sorted(report.events_by_status)
    assert report.completed_events == 2
    # The other statuses never enter the sums.
    assert report.total_target_kwh == pytest.approx(4.5)
    assert report.average_target_kw == pytest.approx(4.5)


def test_completed_events_without_results_are_left_out_of_sums() -> None:
    events = [
        *TWO_COMPLETED,
        completed(avg_kw=None, kwh=None, target_kw=50.0, target_kwh=50.0, minutes=90),
        completed(avg_kw=1.0, kwh=None, target_kw=50.0, target_kwh=50.0, minutes=90),
        completed(avg_kw=None, kwh=1.0, target_kw=50.0, target_kwh=50.0, minutes=90),
    ]
    report = performance(events, 30)
    assert report.completed_events == 5
    assert report.events_with_results == 2
    assert report.total_energy_reduction_kwh == pytest.approx(3.0)
    assert report.total_target_kwh == pytest.approx(4.5)
    assert report.average_reduction_kw == pytest.approx(3.0)
    assert report.average_target_kw == pytest.approx(4.5)
    # Durations are real for every completed event that has start and end times.
    assert report.average_duration_minutes == pytest.approx((30 + 30 + 90 * 3) / 5)


def test_completed_event_without_times_has_no_duration() -> None:
    event = EventOutcome(EventStatus.COMPLETED, 5.0, 2.5, None, None, 4.0, 2.0, None)
    report = performance([event], 30)
    assert report.events_with_results == 1
    assert report.average_duration_minutes is None


def test_average_coverage_ignores_missing_values() -> None:
    events = [
        completed(4.0, 2.0, 5.0, 2.5, coverage=1.0),
        completed(2.0, 1.0, 4.0, 2.0, coverage=0.5),
        completed(2.0, 1.0, 4.0, 2.0, coverage=None),
    ]
    assert performance(events, 30).average_coverage == pytest.approx(0.75)


def test_no_events_gives_no_rates() -> None:
    assert performance([], 14) == PerformanceReport(
        period_days=14,
        events_by_status={},
        completed_events=0,
        events_with_results=0,
        total_energy_reduction_kwh=0.0,
        total_target_kwh=0.0,
        energy_achievement_rate=None,
        average_reduction_kw=None,
        average_target_kw=None,
        power_achievement_rate=None,
        average_duration_minutes=None,
        average_coverage=None,
    )


def test_only_unfinished_events_give_no_rates() -> None:
    report = performance([other(EventStatus.CANCELLED), other(EventStatus.MISSED)], 30)
    assert report.events_by_status == {"cancelled": 1, "missed": 1}
    assert report.energy_achievement_rate is None
    assert report.power_achievement_rate is None
    assert report.average_duration_minutes is None


def test_zero_targets_give_no_rates() -> None:
    report = performance([completed(1.0, 0.5, target_kw=0.0, target_kwh=0.0)], 30)
    assert report.total_energy_reduction_kwh == pytest.approx(0.5)
    assert report.energy_achievement_rate is None
    assert report.average_reduction_kw == pytest.approx(1.0)
    assert report.power_achievement_rate is None
