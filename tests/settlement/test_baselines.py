"""Day-matching baselines against worked examples computed by hand below.

The synthetic history (America/Los_Angeles, 15-minute intervals, July 2030, no DST change):

- weekday ``d``: 17:00 holds ``A[d]`` kWh and 17:15 ``A[d] + 0.2``; the adjustment window
  (13:00-16:00, the 3 hours ending 1 hour before a 17:00 start) holds ``A[d] / 2`` per
  interval; every other interval 0.3 kWh.
- weekend day ``d``: the same shape from ``B[d]``.
- Thursday 2030-07-04 is a holiday (a weekend-type day, so out of weekday baselines), and
  Wednesday 2030-07-10 a prior event day of the device; both carry loads that would win any
  ranking, so including either by mistake changes every number.
- The weekday event is Wednesday 2030-07-17 17:00-17:30 (two intervals); its morning window
  measured 1.5 kWh per interval. The weekend event is Saturday 2030-07-20 17:00-17:30, its
  window 0.55 kWh per interval.

The weekday days before 2030-07-17, most recent first, skipping the event day and the holiday:
07-16 2.0, 07-15 2.4, 07-12 1.8, 07-11 2.6, 07-09 2.2, 07-08 3.0, 07-05 1.6, 07-03 2.8,
07-02 1.4, 07-01 2.5, then 06-28 7.0 (the eleventh: outside any 10-day set).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from gateway.domain.baselines import (
    PRESETS,
    AdjustmentKind,
    BaselineMethod,
    BaselineParameters,
    DayMatchingBaseline,
    DayType,
    IntervalEnergy,
    NoBaseline,
    day_matching_baseline,
    parameter_problems,
    resolve,
)

TZ = ZoneInfo("America/Los_Angeles")
STEP = timedelta(minutes=15)
HOLIDAY = date(2030, 7, 4)
EVENT_DAY = date(2030, 7, 10)
A = {
    date(2030, 7, 16): 2.0, date(2030, 7, 15): 2.4, date(2030, 7, 12): 1.8,
    date(2030, 7, 11): 2.6, date(2030, 7, 10): 9.0, date(2030, 7, 9): 2.2,
    date(2030, 7, 8): 3.0, date(2030, 7, 5): 1.6, date(2030, 7, 4): 8.0,
    date(2030, 7, 3): 2.8, date(2030, 7, 2): 1.4, date(2030, 7, 1): 2.5,
    date(2030, 6, 28): 7.0,
}  # fmt: skip
B = {
    date(2030, 7, 14): 1.0, date(2030, 7, 13): 1.2, date(2030, 7, 7): 0.9,
    date(2030, 7, 6): 1.1, date(2030, 6, 30): 6.0, date(2030, 6, 29): 6.0,
}  # fmt: skip
OLDER_WEEKDAY = 5.0
OLDER_WEEKEND = 5.0


def _local(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=TZ).astimezone(UTC)


def _history(
    until: date, window_kwh: float, event_day: date, *, first: date = date(2030, 6, 1)
) -> dict[datetime, IntervalEnergy]:
    history: dict[datetime, IntervalEnergy] = {}
    day = first
    while day <= until:
        weekend = day.weekday() >= 5
        level = (B if weekend else A).get(day, OLDER_WEEKEND if weekend else OLDER_WEEKDAY)
        for k in range(96):
            at = _local(day, 0) + STEP * k
            local = at.astimezone(TZ).time()
            if local == time(17, 0):
                kwh = level
            elif local == time(17, 15):
                kwh = level + 0.2
            elif time(13, 0) <= local < time(16, 0):
                kwh = window_kwh if day == event_day else level / 2
            else:
                kwh = 0.3
            history[at] = IntervalEnergy(kwh, 1.0)
        day += timedelta(days=1)
    return history


WEDNESDAY = date(2030, 7, 17)
SATURDAY = date(2030, 7, 20)
HOLIDAYS = BaselineParameters(holidays=(HOLIDAY,))


def _baseline(
    method: BaselineMethod,
    event_day: date,
    window_kwh: float,
    parameters: BaselineParameters = HOLIDAYS,
    history: dict[datetime, IntervalEnergy] | None = None,
) -> DayMatchingBaseline | NoBaseline:
    params = resolve(method, parameters)
    assert params is not None
    return day_matching_baseline(
        history if history is not None else _history(event_day, window_kwh, event_day),
        [_local(event_day, 17, 0), _local(event_day, 17, 15)],
        STEP,
        TZ,
        frozenset({EVENT_DAY}),
        params,
    )


def _ok(found: DayMatchingBaseline | NoBaseline) -> DayMatchingBaseline:
    assert isinstance(found, DayMatchingBaseline), found
    return found


def test_caiso_10_in_10_weekday_capped_day_of_adjustment() -> None:
    found = _ok(_baseline(BaselineMethod.CAISO_10_IN_10, WEDNESDAY, window_kwh=1.5))
    # The 10 days: 2.0+2.4+1.8+2.6+2.2+3.0+1.6+2.8+1.4+2.5 = 22.3, mean 2.23.
    assert found.days == (
        date(2030, 7, 16), date(2030, 7, 15), date(2030, 7, 12), date(2030, 7, 11),
        date(2030, 7, 9), date(2030, 7, 8), date(2030, 7, 5), date(2030, 7, 3),
        date(2030, 7, 2), date(2030, 7, 1),
    )  # fmt: skip
    assert found.day_type is DayType.WEEKDAY
    assert found.unadjusted_kwh == pytest.approx((2.23, 2.43), abs=1e-9)
    # Window: actual 12 x 1.5 = 18 against the baseline's 12 x 2.23/2 = 13.38: 1.345..., over
    # the +20 % cap, so 1.2.
    assert found.adjustment is AdjustmentKind.MULTIPLICATIVE
    assert found.adjustment_value == pytest.approx(1.2, abs=1e-9)
    assert found.kwh == pytest.approx((2.23 * 1.2, 2.43 * 1.2), abs=1e-9)


def test_caiso_adjustment_inside_the_cap_is_the_plain_ratio() -> None:
    found = _ok(_baseline(BaselineMethod.CAISO_10_IN_10, WEDNESDAY, window_kwh=1.0))
    factor = 12 * 1.0 / 13.38  # 0.8968..., inside 0.8-1.2
    assert found.adjustment_value == pytest.approx(factor, abs=1e-9)
    assert found.kwh == pytest.approx((2.23 * factor, 2.43 * factor), abs=1e-9)


def test_caiso_4_in_4_weekend() -> None:
    found = _ok(_baseline(BaselineMethod.CAISO_10_IN_10, SATURDAY, window_kwh=0.55))
    # Weekend days before Saturday 07-20: 07-14 1.0, 07-13 1.2, 07-07 0.9, 07-06 1.1.
    assert found.days == (date(2030, 7, 14), date(2030, 7, 13), date(2030, 7, 7), date(2030, 7, 6))
    assert found.day_type is DayType.WEEKEND_HOLIDAY
    assert found.unadjusted_kwh == pytest.approx((1.05, 1.25), abs=1e-9)
    # Window baseline 1.05 / 2 = 0.525 per interval, actual 0.55: factor 0.55 / 0.525.
    factor = 0.55 / 0.525
    assert found.adjustment_value == pytest.approx(factor, abs=1e-9)
    assert found.kwh == pytest.approx((1.05 * factor, 1.25 * factor), abs=1e-9)


def test_pjm_high_4_of_5_symmetric_additive_adjustment() -> None:
    found = _ok(_baseline(BaselineMethod.PJM_HIGH_4_OF_5, WEDNESDAY, window_kwh=1.5))
    # The 5 most recent: 2.0, 2.4, 1.8, 2.6, 2.2; the highest 4 drop 07-12's 1.8: mean 2.3.
    assert found.days == (date(2030, 7, 16), date(2030, 7, 15), date(2030, 7, 11), date(2030, 7, 9))
    assert found.unadjusted_kwh == pytest.approx((2.3, 2.5), abs=1e-9)
    # Window: actual 1.5 per interval against 2.3 / 2 = 1.15: +0.35 kWh per interval, uncapped.
    assert found.adjustment is AdjustmentKind.ADDITIVE
    assert found.adjustment_value == pytest.approx(0.35, abs=1e-9)
    assert found.kwh == pytest.approx((2.65, 2.85), abs=1e-9)


def test_pjm_adjustment_lowers_the_baseline_symmetrically() -> None:
    found = _ok(_baseline(BaselineMethod.PJM_HIGH_4_OF_5, WEDNESDAY, window_kwh=0.65))
    assert found.adjustment_value == pytest.approx(-0.5, abs=1e-9)  # 0.65 - 1.15
    assert found.kwh == pytest.approx((1.8, 2.0), abs=1e-9)


def test_pjm_weekend_highest_2_of_3() -> None:
    found = _ok(_baseline(BaselineMethod.PJM_HIGH_4_OF_5, SATURDAY, window_kwh=0.55))
    # 07-14 1.0, 07-13 1.2, 07-07 0.9: the highest 2 are 1.2 and 1.0, mean 1.1.
    assert found.days == (date(2030, 7, 14), date(2030, 7, 13))
    assert found.unadjusted_kwh == pytest.approx((1.1, 1.3), abs=1e-9)
    assert found.adjustment_value == pytest.approx(0.55 - 0.55, abs=1e-9)
    assert found.kwh == pytest.approx((1.1, 1.3), abs=1e-9)


def test_nyiso_average_of_the_5_highest_of_10_weekdays() -> None:
    found = _ok(_baseline(BaselineMethod.NYISO_HIGH_5_OF_10, WEDNESDAY, window_kwh=1.5))
    # Of the 10, the highest 5: 3.0 (07-08), 2.8 (07-03), 2.6 (07-11), 2.5 (07-01), 2.4
    # (07-15): 13.3 / 5 = 2.66. No adjustment.
    assert found.days == (
        date(2030, 7, 15), date(2030, 7, 11), date(2030, 7, 8), date(2030, 7, 3), date(2030, 7, 1)
    )  # fmt: skip
    assert found.adjustment is AdjustmentKind.NONE
    assert found.adjustment_value is None
    assert found.kwh == pytest.approx((2.66, 2.86), abs=1e-9)


def test_without_the_holiday_calendar_the_holiday_counts_as_a_weekday() -> None:
    # Guard on the example itself: 07-04 becomes the 8th of the 10 days (pushing 07-01 out)
    # and its 8.0 tops them: 8.0, 3.0, 2.8, 2.6, 2.4 -> 18.8 / 5 = 3.76.
    found = _ok(_baseline(BaselineMethod.NYISO_HIGH_5_OF_10, WEDNESDAY, 1.5, BaselineParameters()))
    assert date(2030, 7, 4) in found.days
    assert found.kwh[0] == pytest.approx(3.76, abs=1e-9)


def test_a_day_not_measured_enough_is_not_eligible() -> None:
    history = _history(WEDNESDAY, 1.5, WEDNESDAY)
    gap = _local(date(2030, 7, 12), 17, 15)
    history[gap] = IntervalEnergy(history[gap].kwh, 0.5)  # under the presets' 0.9
    found = _ok(_baseline(BaselineMethod.CAISO_10_IN_10, WEDNESDAY, 1.5, history=history))
    # 07-12 (1.8) is out, 06-28 (7.0) in: (22.3 - 1.8 + 7.0) / 10 = 2.75.
    assert date(2030, 6, 28) in found.days
    assert date(2030, 7, 12) not in found.days
    assert found.unadjusted_kwh[0] == pytest.approx(2.75, abs=1e-9)


def test_not_enough_eligible_days_is_no_baseline_with_the_reason() -> None:
    history = _history(WEDNESDAY, 1.5, WEDNESDAY, first=date(2030, 7, 8))
    found = _baseline(BaselineMethod.NYISO_HIGH_5_OF_10, WEDNESDAY, 1.5, history=history)
    assert isinstance(found, NoBaseline)
    # Found: 07-16, 07-15, 07-12, 07-11, 07-09, 07-08; then 07-05..06-17's weekdays unmeasured.
    assert found.reason.startswith("6 eligible weekday days in the last 30 days, 10 needed")
    assert "1 event day" in found.reason
    assert "1 holiday" in found.reason
    assert "not enough data" in found.reason


def test_an_unmeasured_adjustment_window_is_no_baseline() -> None:
    history = _history(WEDNESDAY, 1.5, WEDNESDAY)
    del history[_local(WEDNESDAY, 14, 0)]
    found = _baseline(BaselineMethod.PJM_HIGH_4_OF_5, WEDNESDAY, 1.5, history=history)
    assert isinstance(found, NoBaseline)
    assert "adjustment window" in found.reason


def test_program_overrides_change_a_preset() -> None:
    resolved = resolve(
        BaselineMethod.PJM_HIGH_4_OF_5, BaselineParameters(adjustment_cap=0.1, weekday_of=6)
    )
    assert resolved is not None
    assert (resolved.weekday_highest, resolved.weekday_of, resolved.adjustment_cap) == (4, 6, 0.1)
    assert resolved.lookback_days == PRESETS[BaselineMethod.PJM_HIGH_4_OF_5].lookback_days
    capped = _ok(
        _baseline(
            BaselineMethod.PJM_HIGH_4_OF_5, WEDNESDAY, 1.5,
            BaselineParameters(holidays=(HOLIDAY,), adjustment_cap=0.1),
        )
    )  # fmt: skip
    # +0.35 capped at 10 % of the window's 1.15 baseline: +0.115.
    assert capped.kwh == pytest.approx((2.3 + 0.115, 2.5 + 0.115), abs=1e-9)


@pytest.mark.parametrize(
    ("method", "parameters", "field"),
    [
        (BaselineMethod.MEAN_BEFORE_EVENT, BaselineParameters(lookback_days=3),
         "baseline_parameters"),
        (BaselineMethod.DAY_MATCHING, BaselineParameters(), "baseline_parameters.weekday_of"),
        (BaselineMethod.PJM_HIGH_4_OF_5, BaselineParameters(weekday_highest=6),
         "baseline_parameters.weekday_highest"),
        (BaselineMethod.CAISO_10_IN_10, BaselineParameters(min_share=0.0),
         "baseline_parameters.min_share"),
        (BaselineMethod.CAISO_10_IN_10, BaselineParameters(adjustment_cap=-1.0),
         "baseline_parameters.adjustment_cap"),
    ],
)  # fmt: skip
def test_parameter_problems_name_the_field(
    method: BaselineMethod, parameters: BaselineParameters, field: str
) -> None:
    assert field in {e.field for e in parameter_problems(method, parameters)}


def test_day_matching_with_every_parameter_given_is_valid() -> None:
    parameters = BaselineParameters(
        weekday_highest=3, weekday_of=5, weekend_highest=1, weekend_of=2, lookback_days=20
    )
    assert parameter_problems(BaselineMethod.DAY_MATCHING, parameters) == []
    found = _ok(_baseline(BaselineMethod.DAY_MATCHING, WEDNESDAY, 1.5, parameters))
    # Without the holiday calendar: 07-16 2.0, 07-15 2.4, 07-12 1.8, 07-11 2.6, 07-09 2.2;
    # highest 3: 2.6, 2.4, 2.2 -> 2.4.
    assert found.kwh == pytest.approx((2.4, 2.6), abs=1e-9)
