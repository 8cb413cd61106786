"""Baseline and reduction math: kW is power, kWh is energy, missing is not zero."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from gateway.domain.reduction import EventMeter, ReductionTally, mean_before_event
from gateway.domain.samples import pack, unpack

T0 = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)
CADENCE = 5.0


def _run(values: list[list[float | None]], baselines: list[float | None]) -> EventMeter:
    meter = EventMeter(baselines, CADENCE, T0)
    for k, sample in enumerate(values):
        meter.feed(k, T0 + timedelta(seconds=k * CADENCE), sample)
    return meter


def test_ten_kw_dropping_to_six_for_thirty_minutes_is_four_kw_and_two_kwh() -> None:
    samples = 30 * 60 // 5
    result = _run([[6.0]] * samples, [10.0]).result(T0 + timedelta(minutes=30))
    assert result.average_reduction_kw == pytest.approx(4.0, rel=1e-3)
    assert result.energy_reduction_kwh == pytest.approx(2.0, rel=1e-3)
    assert result.coverage == 1.0
    assert result.gap_seconds == 0.0


def test_missing_readings_lower_coverage_and_leave_the_reduction_unbiased() -> None:
    samples = [[None] if k % 3 == 0 else [6.0] for k in range(360)]
    result = _run(samples, [10.0]).result(T0 + timedelta(minutes=30))
    assert result.coverage == pytest.approx(2 / 3, rel=1e-3)
    assert result.average_reduction_kw == pytest.approx(4.0, rel=1e-3)
    assert result.energy_reduction_kwh == pytest.approx(2.0, rel=1e-3)
    # The reference counted missing as 0 kW: the "reduction" would then have been inflated.


def test_energy_integrates_over_the_real_time_between_samples() -> None:
    meter = EventMeter([10.0], CADENCE, T0)
    meter.feed(0, T0, [6.0])  # holds 4 kW reduction for 7 s, not an assumed 5 s
    meter.feed(1, T0 + timedelta(seconds=7), [10.0])
    result = meter.result(T0 + timedelta(seconds=10))
    # 4 kW for 7 s, then 0 kW for the last 3 s: 28 kWs, averaging 2.8 kW over 10 s.
    assert result.energy_reduction_kwh == pytest.approx(4.0 * 7 / 3600, rel=1e-9)
    assert result.average_reduction_kw == pytest.approx(2.8)
    assert meter.tally.kwh[0] == pytest.approx(4.0 * 7 / 3600)


def test_devices_sum_and_a_device_without_baseline_is_reported_not_counted() -> None:
    result = _run([[6.0, 1.0, 3.0]] * 12, [10.0, None, 5.0]).result(T0 + timedelta(minutes=1))
    assert result.average_reduction_kw == pytest.approx(6.0)
    assert [d.note for d in result.devices] == [None, "no baseline", None]
    assert result.devices[1].average_reduction_kw is None
    assert result.devices[2].energy_reduction_kwh == pytest.approx(2.0 / 60)


def test_downtime_is_a_gap_and_the_totals_match_an_uninterrupted_run() -> None:
    whole = _run([[6.0]] * 120, [10.0]).result(T0 + timedelta(minutes=10))
    meter = EventMeter([10.0], CADENCE, T0)
    for k in [*range(40), *range(70, 120)]:  # samples 40-69 never taken
        meter.feed(k, T0 + timedelta(seconds=k * CADENCE), [6.0])
    resumed = meter.result(T0 + timedelta(minutes=10))
    assert resumed.gap_seconds == pytest.approx(30 * CADENCE)  # samples 40-69
    assert resumed.coverage == pytest.approx(90 / 120)
    assert resumed.average_reduction_kw == pytest.approx(whole.average_reduction_kw)
    assert resumed.energy_reduction_kwh == pytest.approx(whole.energy_reduction_kwh)


def test_nobody_measured_the_end_of_the_event() -> None:
    meter = _run([[6.0]] * 10, [10.0])
    result = meter.result(T0 + timedelta(minutes=10))
    assert result.gap_seconds == pytest.approx(600 - 10 * CADENCE)
    assert result.average_reduction_kw == pytest.approx(4.0)


def test_result_does_not_change_the_meter() -> None:
    meter = _run([[6.0]] * 10, [10.0])
    first = meter.result(T0 + timedelta(seconds=50))
    assert meter.result(T0 + timedelta(seconds=50)) == first
    assert meter.tally.slots == 9


def test_baseline_is_the_mean_of_present_samples() -> None:
    samples: list[list[float | None]] = [[10.0, None], [12.0, None], [None, None]]
    assert mean_before_event(samples, 2) == [11.0, None]


def test_tally_with_nothing_measured_reports_zero_coverage() -> None:
    tally = ReductionTally([10.0])
    result = tally.result(0.5)
    assert result.coverage == 0.0
    assert result.devices[0].note == "no readings"


def test_samples_pack_missing_as_nan_and_round_trip_exactly() -> None:
    values: list[float | None] = [10.123456789, None, -2.5, 0.0]
    assert unpack(pack(values)) == values
    assert len(pack(values)) == 8 * len(values)


def test_live_totals_match_the_final_result_without_gaps() -> None:
    samples: list[list[float | None]] = [
        [6.0, None] if k % 4 == 0 else [6.0, 2.0] for k in range(120)
    ]
    meter = _run(samples, [10.0, 5.0])
    until = T0 + timedelta(minutes=10)
    result = meter.result(until)
    assert meter.live_totals(until) == pytest.approx(
        (result.average_reduction_kw, result.energy_reduction_kwh, result.coverage)
    )


def test_a_late_start_is_a_gap_from_the_start_to_the_first_sample() -> None:
    # The case: a 60 s event, cadence 1 s, its first sample 16.5 s after the start.
    meter = EventMeter([10.0], 1.0, T0)
    meter.feed(16, T0 + timedelta(seconds=16.5), [6.0])
    for k in range(17, 60):
        meter.feed(k, T0 + timedelta(seconds=k), [6.0])
    result = meter.result(T0 + timedelta(seconds=60))
    assert result.gap_seconds == pytest.approx(16.5)
    assert result.coverage == pytest.approx(44 / 60)  # instants 0-15 were never measured
    assert result.devices[0].coverage == pytest.approx(44 / 60)
    # Unbiased like any gap: 4 kW measured, so 4 kW over the event's whole minute.
    assert result.average_reduction_kw == pytest.approx(4.0)
    assert result.energy_reduction_kwh == pytest.approx(4.0 * 60 / 3600)
    assert meter.live_totals(T0 + timedelta(seconds=60)) == pytest.approx(
        (result.average_reduction_kw, result.energy_reduction_kwh, result.coverage)
    )


def test_a_late_start_adds_up_like_an_outage_in_the_middle() -> None:
    late = EventMeter([10.0], CADENCE, T0)
    middle = EventMeter([10.0], CADENCE, T0)
    for k in range(30, 120):  # the first 30 instants, 150 s, never measured
        late.feed(k, T0 + timedelta(seconds=k * CADENCE), [6.0])
    for k in [0, *range(31, 120)]:  # instants 1-30, 150 s, never measured
        middle.feed(k, T0 + timedelta(seconds=k * CADENCE), [6.0])
    until = T0 + timedelta(minutes=10)
    assert late.result(until).gap_seconds == pytest.approx(150.0)
    assert middle.result(until).gap_seconds == pytest.approx(150.0)
    assert late.result(until).coverage == middle.result(until).coverage == pytest.approx(0.75)
    assert late.result(until).energy_reduction_kwh == pytest.approx(
        middle.result(until).energy_reduction_kwh
    )


def test_an_event_nobody_measured_is_all_gap() -> None:
    result = EventMeter([10.0], CADENCE, T0).result(T0 + timedelta(seconds=60))
    assert result.gap_seconds == pytest.approx(60.0)
    assert result.coverage == 0.0
    assert result.devices[0].note == "no readings"
