"""Settlement arithmetic, the meter grid and day matching across a DST change: pure rules."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from gateway.domain.baselines import (
    BaselineMethod,
    BaselineParameters,
    DayMatchingBaseline,
    IntervalEnergy,
    day_matching_baseline,
    resolve,
)
from gateway.domain.meter import estimate, intervals_between, slot_of
from gateway.domain.settlement import device_totals, settle_intervals

STEP = timedelta(minutes=15)


def _at(hour: int, minute: int) -> datetime:
    return datetime(2030, 7, 17, hour, minute, tzinfo=UTC)


def test_an_event_off_the_grid_is_settled_on_the_part_of_each_interval_inside_it() -> None:
    start, end = _at(17, 5), _at(17, 35)
    starts = intervals_between(start, end, 15)
    assert starts == [_at(17, 0), _at(17, 15), _at(17, 30)]
    actual = {
        _at(17, 0): IntervalEnergy(1.0, 1.0),
        _at(17, 15): IntervalEnergy(0.5, 0.5),
        # 17:30 not measured
    }
    settled = settle_intervals(starts, STEP, start, end, [3.0, 3.0, 3.0], actual)
    assert [s.event_share for s in settled] == pytest.approx([2 / 3, 1.0, 1 / 3])
    assert settled[0].reduction_kwh == pytest.approx((3.0 - 1.0) * 2 / 3, abs=1e-12)
    assert settled[1].reduction_kwh == pytest.approx(2.5, abs=1e-12)
    assert settled[2].reduction_kwh is None  # missing, not 3.0 - 0
    totals = device_totals(settled, STEP)
    assert totals.reduction_kwh == pytest.approx(4 / 3 + 2.5, abs=1e-12)
    # Settled: 2/3 + 1 of an interval, 0.41666 h; measured: (2/3 x 1 + 1 x 0.5) of 2 intervals.
    assert totals.settled_hours == pytest.approx((2 / 3 + 1) / 4, abs=1e-12)
    assert totals.delivered_kw == pytest.approx((4 / 3 + 2.5) / ((2 / 3 + 1) / 4), abs=1e-12)
    assert totals.measured_share == pytest.approx((2 / 3 + 0.5) / 2, abs=1e-12)


def test_a_device_never_measured_has_no_totals_never_zero() -> None:
    starts = [_at(17, 0)]
    settled = settle_intervals(starts, STEP, _at(17, 0), _at(17, 15), [2.0], {})
    totals = device_totals(settled, STEP)
    assert (totals.reduction_kwh, totals.delivered_kw, totals.measured_share) == (None, None, 0.0)


def test_the_grid_and_the_estimate_of_a_partly_measured_interval() -> None:
    assert slot_of(_at(17, 7) + timedelta(seconds=30), 15, 60) == (_at(17, 0), 7)
    assert estimate(0.5, 5, 15) == IntervalEnergy(1.5, 1 / 3)  # 2 kW for 5 of 15 minutes
    assert estimate(0.0, 0, 15) is None


def test_day_matching_follows_the_local_clock_across_a_dst_change() -> None:
    paris = ZoneInfo("Europe/Paris")  # summer time from Sunday 2030-03-31
    event = datetime(2030, 4, 1, 18, 0, tzinfo=paris).astimezone(UTC)  # Monday, 16:00Z
    history: dict[datetime, IntervalEnergy] = {}
    for day in (date(2030, 3, 29), date(2030, 3, 28), date(2030, 3, 27)):
        local_18 = datetime.combine(day, time(18, 0), tzinfo=paris).astimezone(UTC)  # 17:00Z
        history[local_18] = IntervalEnergy(2.0, 1.0)
        history[datetime.combine(day, time(16, 0), tzinfo=UTC)] = IntervalEnergy(9.0, 1.0)
    params = resolve(
        BaselineMethod.DAY_MATCHING,
        BaselineParameters(
            weekday_highest=3, weekday_of=3, weekend_highest=1, weekend_of=1, lookback_days=7
        ),
    )
    assert params is not None
    found = day_matching_baseline(history, [event], STEP, paris, frozenset(), params)
    assert isinstance(found, DayMatchingBaseline)
    assert found.kwh == (2.0,)  # 18:00 in Paris each day, not 16:00 UTC
