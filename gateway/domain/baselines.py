"""Baselines from meter history: what a device would have used had there been no event. Pure.

Two families (``docs/baselines.md`` has the definitions and where the presets come from):

- ``mean_before_event``: the mean power just before the start, measured by the executor
  (``gateway.domain.reduction``); it needs no history.
- **Day matching** (``day_matching`` and the presets ``caiso_10_in_10``, ``pjm_high_4_of_5``,
  ``nyiso_high_5_of_10``): for each event interval, the same local wall-clock interval on
  eligible prior days. A prior day is eligible when it is of the event day's *day type*
  (weekday, or weekend-or-holiday), is not an event day of the device, lies within the
  lookback, and has every interval needed (the event's and the adjustment window's) measured
  to at least ``min_share``. The ``of`` most recent eligible days are ranked by their energy
  over the event's intervals, the ``highest`` of them kept (ties: the more recent first), and
  the baseline of each interval is their mean. With fewer than ``of`` eligible days there is
  *no baseline*, and the reason says why: a made-up baseline is never given.
- **Same-day adjustment** (optional): over a window of hours ending ``gap_hours`` before the
  start, the device's actual energy is compared with the unadjusted baseline of the same
  intervals. ``additive`` adds the mean difference per interval to every event interval
  (capped, when ``cap`` is set, at ``cap`` times the window's mean baseline); ``multiplicative``
  scales by actual / baseline (kept within 1 +- ``cap``). An adjusted baseline below 0 kWh is
  0 kWh.

Energies are kWh per interval; an interval's kWh is the estimate for the whole interval
(``IntervalEnergy``), never 0 for a missing reading.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields, replace
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from gateway.domain.errors import FieldError

WEEKEND = (5, 6)  # Saturday, Sunday (date.weekday())
MAX_LOOKBACK_DAYS = 400
MAX_SELECTION_DAYS = 60
MAX_WINDOW_HOURS = 24.0
MAX_HOLIDAYS = 1000


class BaselineMethod(StrEnum):
    """How a program measures a device's baseline."""

    MEAN_BEFORE_EVENT = "mean_before_event"  # mean power over the window before the start
    DAY_MATCHING = "day_matching"  # the program gives every parameter
    CAISO_10_IN_10 = "caiso_10_in_10"
    PJM_HIGH_4_OF_5 = "pjm_high_4_of_5"
    NYISO_HIGH_5_OF_10 = "nyiso_high_5_of_10"


class DayType(StrEnum):
    WEEKDAY = "weekday"
    WEEKEND_HOLIDAY = "weekend_holiday"


class AdjustmentKind(StrEnum):
    NONE = "none"
    ADDITIVE = "additive"
    MULTIPLICATIVE = "multiplicative"


@dataclass(frozen=True, slots=True)
class DayMatching:
    """Every parameter of a day-matching baseline, resolved (preset and program overrides)."""

    weekday_highest: int
    weekday_of: int
    weekend_highest: int
    weekend_of: int
    lookback_days: int
    min_share: float  # an interval counts as measured from this share of its time
    adjustment: AdjustmentKind = AdjustmentKind.NONE
    adjustment_window_hours: float = 3.0
    adjustment_gap_hours: float = 1.0  # the window ends this long before the start
    adjustment_cap: float | None = None  # None: uncapped
    holidays: tuple[date, ...] = ()

    def selection(self, day_type: DayType) -> tuple[int, int]:
        if day_type is DayType.WEEKDAY:
            return self.weekday_highest, self.weekday_of
        return self.weekend_highest, self.weekend_of

    def as_json(self) -> dict[str, Any]:
        values = asdict(self)
        values["adjustment"] = self.adjustment.value
        values["holidays"] = [d.isoformat() for d in self.holidays]
        return values


@dataclass(frozen=True, slots=True)
class BaselineParameters:
    """What a program says about its baseline: any field given (not None) overrides the
    preset's; ``day_matching`` has no preset, so it needs the selection and lookback."""

    weekday_highest: int | None = None
    weekday_of: int | None = None
    weekend_highest: int | None = None
    weekend_of: int | None = None
    lookback_days: int | None = None
    min_share: float | None = None
    adjustment: AdjustmentKind | None = None
    adjustment_window_hours: float | None = None
    adjustment_gap_hours: float | None = None
    adjustment_cap: float | None = None
    holidays: tuple[date, ...] | None = None

    def given(self) -> dict[str, Any]:
        return {f.name: v for f in fields(self) if (v := getattr(self, f.name)) is not None}

    def as_json(self) -> dict[str, Any]:
        values = self.given()
        if self.adjustment is not None:
            values["adjustment"] = self.adjustment.value
        if self.holidays is not None:
            values["holidays"] = [d.isoformat() for d in self.holidays]
        return values

    @classmethod
    def from_json(cls, values: Mapping[str, Any] | None) -> BaselineParameters:
        if not values:
            return cls()
        parsed = dict(values)
        if "adjustment" in parsed:
            parsed["adjustment"] = AdjustmentKind(parsed["adjustment"])
        if "holidays" in parsed:
            parsed["holidays"] = tuple(date.fromisoformat(d) for d in parsed["holidays"])
        return cls(**parsed)


NO_PARAMETERS = BaselineParameters()

# The presets, as published (``docs/baselines.md`` cites each); a program may override any field.
PRESETS: dict[BaselineMethod, DayMatching] = {
    # CAISO 10-in-10: the 10 most recent eligible weekdays (4 most recent weekend days or
    # holidays) in 45 days, averaged; a multiplicative day-of adjustment from the 3 hours
    # ending an hour before the event, capped at +-20 %.
    BaselineMethod.CAISO_10_IN_10: DayMatching(
        weekday_highest=10, weekday_of=10, weekend_highest=4, weekend_of=4, lookback_days=45,
        min_share=0.9, adjustment=AdjustmentKind.MULTIPLICATIVE, adjustment_window_hours=3.0,
        adjustment_gap_hours=1.0, adjustment_cap=0.2,
    ),
    # PJM economic CBL: the highest 4 of the 5 most recent non-event weekdays (2 of 3 like
    # weekend days or holidays) in 45 days; the symmetric additive adjustment from the 3 hours
    # ending an hour before the event, uncapped.
    BaselineMethod.PJM_HIGH_4_OF_5: DayMatching(
        weekday_highest=4, weekday_of=5, weekend_highest=2, weekend_of=3, lookback_days=45,
        min_share=0.9, adjustment=AdjustmentKind.ADDITIVE, adjustment_window_hours=3.0,
        adjustment_gap_hours=1.0, adjustment_cap=None,
    ),
    # NYISO CBL: the average of the 5 highest of the 10 most recent eligible weekdays (2 of 3
    # weekend days) in 30 days; no adjustment unless the program asks for one.
    BaselineMethod.NYISO_HIGH_5_OF_10: DayMatching(
        weekday_highest=5, weekday_of=10, weekend_highest=2, weekend_of=3, lookback_days=30,
        min_share=0.9,
    ),
}  # fmt: skip

# What ``day_matching`` needs from the program, having no preset to start from.
_REQUIRED = ("weekday_highest", "weekday_of", "weekend_highest", "weekend_of", "lookback_days")
_DAY_MATCHING_DEFAULTS = {"min_share": 0.9}


def resolve(method: BaselineMethod, parameters: BaselineParameters) -> DayMatching | None:
    """The day-matching parameters in force (None for ``mean_before_event``). Call
    ``parameter_problems`` first: this assumes they are valid."""
    if method is BaselineMethod.MEAN_BEFORE_EVENT:
        return None
    given = parameters.given()
    if method is BaselineMethod.DAY_MATCHING:
        return DayMatching(**{**_DAY_MATCHING_DEFAULTS, **given})
    return replace(PRESETS[method], **given)


def parameter_problems(method: BaselineMethod, parameters: BaselineParameters) -> list[FieldError]:
    """Every reason these parameters cannot go with ``method``, each naming its field."""
    field = "baseline_parameters"
    given = parameters.given()
    if method is BaselineMethod.MEAN_BEFORE_EVENT:
        if given:
            return [FieldError(field, "mean_before_event takes no parameters")]
        return []
    errors: list[FieldError] = []
    if method is BaselineMethod.DAY_MATCHING:
        errors += [
            FieldError(f"{field}.{name}", "day_matching needs it (it has no preset)")
            for name in _REQUIRED
            if name not in given
        ]
        if errors:
            return errors
    resolved = resolve(method, parameters)
    assert resolved is not None
    for kind in ("weekday", "weekend"):
        highest, of = getattr(resolved, f"{kind}_highest"), getattr(resolved, f"{kind}_of")
        if not 1 <= of <= MAX_SELECTION_DAYS:
            errors.append(FieldError(f"{field}.{kind}_of", f"must be 1-{MAX_SELECTION_DAYS}"))
        if not 1 <= highest <= of:
            errors.append(FieldError(f"{field}.{kind}_highest", f"must be 1-{kind}_of"))
    if not 1 <= resolved.lookback_days <= MAX_LOOKBACK_DAYS:
        errors.append(FieldError(f"{field}.lookback_days", f"must be 1-{MAX_LOOKBACK_DAYS}"))
    if not 0 < resolved.min_share <= 1:
        errors.append(FieldError(f"{field}.min_share", "must be above 0 and at most 1"))
    if not 0 < resolved.adjustment_window_hours <= MAX_WINDOW_HOURS:
        errors.append(FieldError(f"{field}.adjustment_window_hours", "must be above 0, at most 24"))
    if not 0 <= resolved.adjustment_gap_hours <= MAX_WINDOW_HOURS:
        errors.append(FieldError(f"{field}.adjustment_gap_hours", "must be 0-24"))
    if resolved.adjustment_cap is not None and not 0 <= resolved.adjustment_cap <= 10:
        errors.append(FieldError(f"{field}.adjustment_cap", "must be 0-10 (a share: 0.2 is 20 %)"))
    if len(resolved.holidays) > MAX_HOLIDAYS:
        errors.append(FieldError(f"{field}.holidays", f"at most {MAX_HOLIDAYS} dates"))
    return errors


# --- the computation -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class IntervalEnergy:
    """One stored interval: its kWh estimated over the whole interval (measured energy over
    the share measured), and that share (0-1)."""

    kwh: float
    share: float


# A device's history: interval start (UTC) -> energy; an interval absent is missing.
History = Mapping[datetime, IntervalEnergy]


@dataclass(frozen=True, slots=True)
class DayMatchingBaseline:
    kwh: tuple[float, ...]  # per event interval, adjusted
    unadjusted_kwh: tuple[float, ...]
    day_type: DayType
    days: tuple[date, ...]  # the days averaged, most recent first
    adjustment: AdjustmentKind
    adjustment_value: float | None  # kWh per interval (additive) or the factor (multiplicative)


@dataclass(frozen=True, slots=True)
class NoBaseline:
    reason: str


def day_type(day: date, holidays: Sequence[date] | frozenset[date]) -> DayType:
    if day.weekday() in WEEKEND or day in holidays:
        return DayType.WEEKEND_HOLIDAY
    return DayType.WEEKDAY


def same_time_on(day: date, instant: datetime, tz: ZoneInfo) -> datetime:
    """The UTC instant with ``instant``'s local wall-clock time on local ``day``."""
    local = instant.astimezone(tz)
    return datetime.combine(day, local.time(), tzinfo=tz).astimezone(UTC)


def adjustment_window(start: datetime, interval: timedelta, params: DayMatching) -> list[datetime]:
    """The starts of the intervals of the same-day adjustment window (empty without one)."""
    if params.adjustment is AdjustmentKind.NONE:
        return []
    end = start - timedelta(hours=params.adjustment_gap_hours)
    count = math.floor(timedelta(hours=params.adjustment_window_hours) / interval)
    return [end - interval * (count - k) for k in range(count)]


def instants_read(
    event_intervals: Sequence[datetime], interval: timedelta, tz: ZoneInfo, params: DayMatching
) -> list[datetime]:
    """Every interval start ``day_matching_baseline`` may read for these event intervals (the
    event day's and every day in the lookback's): what to load, instead of whole days."""
    if not event_intervals:
        return []
    needed = [*event_intervals, *adjustment_window(event_intervals[0], interval, params)]
    event_day = event_intervals[0].astimezone(tz).date()
    return sorted(
        {
            same_time_on(event_day - timedelta(days=back), t, tz)
            for back in range(params.lookback_days + 1)
            for t in needed
        }
    )


def _measured(history: History, at: datetime, min_share: float) -> float | None:
    found = history.get(at)
    if found is None or found.share < min_share:
        return None
    return found.kwh


def day_matching_baseline(
    history: History,
    event_intervals: Sequence[datetime],
    interval: timedelta,
    tz: ZoneInfo,
    event_days: frozenset[date],
    params: DayMatching,
) -> DayMatchingBaseline | NoBaseline:
    """The baseline of each of ``event_intervals`` (UTC interval starts, in order), or why
    there is none. ``event_days`` are the device's prior event days (local dates)."""
    if not event_intervals:
        return NoBaseline("the event covers no interval")
    holidays = frozenset(params.holidays)
    event_day = event_intervals[0].astimezone(tz).date()
    kind = day_type(event_day, holidays)
    highest, of = params.selection(kind)
    window = adjustment_window(event_intervals[0], interval, params)
    needed = [*event_intervals, *window]
    eligible: list[tuple[date, list[float], list[float]]] = []
    skipped = {"event day": 0, "holiday": 0, "not enough data": 0}
    for back in range(1, params.lookback_days + 1):
        day = event_day - timedelta(days=back)
        if day_type(day, holidays) is not kind:
            if day in holidays and day.weekday() not in WEEKEND:
                skipped["holiday"] += 1  # a weekday, but not a working one
            continue
        if day in event_days:
            skipped["event day"] += 1
            continue
        values = [_measured(history, same_time_on(day, t, tz), params.min_share) for t in needed]
        if any(v is None for v in values):
            skipped["not enough data"] += 1
            continue
        known = [v for v in values if v is not None]
        eligible.append((day, known[: len(event_intervals)], known[len(event_intervals) :]))
        if len(eligible) == of:
            break
    if len(eligible) < of:
        excluded = ", ".join(f"{n} {why}" for why, n in skipped.items() if n)
        return NoBaseline(
            f"{len(eligible)} eligible {kind.value} days in the last {params.lookback_days} "
            f"days, {of} needed" + (f" (excluded: {excluded})" if excluded else "")
        )
    # Highest energy over the event's intervals first; among equals the more recent (the
    # list is most recent first and the sort is stable).
    ranked = sorted(eligible, key=lambda day: -math.fsum(day[1]))[:highest]
    unadjusted = _mean_columns([day[1] for day in ranked])
    adjusted, value = unadjusted, None
    if window:
        actual = [_measured(history, t, params.min_share) for t in window]
        if any(v is None for v in actual):
            return NoBaseline(
                f"the adjustment window ({params.adjustment_window_hours:g} h ending "
                f"{params.adjustment_gap_hours:g} h before the start) is not measured"
            )
        window_baseline = _mean_columns([day[2] for day in ranked])
        known_actual = [v for v in actual if v is not None]
        found = _adjust(unadjusted, known_actual, window_baseline, params)
        if isinstance(found, NoBaseline):
            return found
        adjusted, value = found
    return DayMatchingBaseline(
        kwh=tuple(adjusted),
        unadjusted_kwh=tuple(unadjusted),
        day_type=kind,
        days=tuple(day[0] for day in sorted(ranked, key=lambda day: day[0], reverse=True)),
        adjustment=params.adjustment,
        adjustment_value=value,
    )


def _mean_columns(rows: Sequence[Sequence[float]]) -> list[float]:
    return [math.fsum(column) / len(rows) for column in zip(*rows, strict=True)]


def _adjust(
    baseline: list[float], actual: list[float], window_baseline: list[float], params: DayMatching
) -> tuple[list[float], float] | NoBaseline:
    cap = params.adjustment_cap
    if params.adjustment is AdjustmentKind.ADDITIVE:
        mean_baseline = math.fsum(window_baseline) / len(window_baseline)
        offset = math.fsum(actual) / len(actual) - mean_baseline
        if cap is not None:
            limit = cap * mean_baseline
            offset = min(max(offset, -limit), limit)
        return [max(b + offset, 0.0) for b in baseline], offset
    total_baseline = math.fsum(window_baseline)
    if total_baseline <= 0:
        return NoBaseline("the adjustment window's baseline is 0 kWh: no ratio to scale by")
    factor = math.fsum(actual) / total_baseline
    if cap is not None:
        factor = min(max(factor, 1.0 - cap), 1.0 + cap)
    return [b * factor for b in baseline], factor
