"""What an event tells its VENs beyond its time and devices: its signals, each a kind, a type, a
unit where it has one and a run of intervals, and the event-level facts OpenADR 2.0b and 3.x
share (priority, ramp-up and recovery, start-after randomization, response required, a
baseline). Pure: no I/O, no protocol.

- Kinds are the 2.0b signal names; OpenADR 3's interval payload types map onto them (SIMPLE,
  PRICE -> ELECTRICITY_PRICE, DISPATCH_SETPOINT -> LOAD_DISPATCH, ...). Types are 2.0b's
  signalTypes, and each kind allows only those the 2.0b profile gives it (``ALLOWED_TYPES``).
- Intervals follow each other from the event's start with no gap (what 2.0b can say, and an
  OpenADR 3 event's sequential intervals); every signal covers the whole event.
- An event made from an invitation has no terms of its own (``EventTerms()``): its VENs get
  what the invitation asks (the 2.0b adapter's SIMPLE + LOAD_DISPATCH pair).

- A price in a currency unit may name its currency (ISO 4217: 2.0b's itemUnits, OpenADR 3's
  payload descriptor ``currency``).

``check_terms`` names every bad field; ``terms_from_json``/``terms_to_json`` store them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import pycountry

from gateway.domain.errors import FieldError
from gateway.domain.programs import MAX_PRIORITY, SIMPLE_LEVEL_VALUES

MAX_SIGNALS = 10
MAX_INTERVALS = 288  # a day of 5-minute intervals
MAX_OFFSET = timedelta(days=1)  # ramp-up, recovery and start-after
MAX_ABS_VALUE = 1e12


class SignalKind(StrEnum):
    SIMPLE = "SIMPLE"
    ELECTRICITY_PRICE = "ELECTRICITY_PRICE"
    ENERGY_PRICE = "ENERGY_PRICE"
    DEMAND_CHARGE = "DEMAND_CHARGE"
    BID_PRICE = "BID_PRICE"
    BID_LOAD = "BID_LOAD"
    BID_ENERGY = "BID_ENERGY"
    CHARGE_STATE = "CHARGE_STATE"
    LOAD_DISPATCH = "LOAD_DISPATCH"
    LOAD_CONTROL = "LOAD_CONTROL"


class SignalType(StrEnum):
    DELTA = "delta"
    LEVEL = "level"
    MULTIPLIER = "multiplier"
    PRICE = "price"
    PRICE_MULTIPLIER = "priceMultiplier"
    PRICE_RELATIVE = "priceRelative"
    SETPOINT = "setpoint"
    LOAD_CONTROL_CAPACITY = "x-loadControlCapacity"
    LOAD_CONTROL_LEVEL_OFFSET = "x-loadControlLevelOffset"
    LOAD_CONTROL_PERCENT_OFFSET = "x-loadControlPercentOffset"
    LOAD_CONTROL_SETPOINT = "x-loadControlSetpoint"


class SignalUnit(StrEnum):
    """What a signal's values measure (2.0b's itemBase names; OpenADR 3's units map here)."""

    CURRENCY = "currency"
    CURRENCY_PER_KWH = "currencyPerKWh"
    CURRENCY_PER_KW = "currencyPerKW"
    CURRENCY_PER_THERM = "currencyPerThm"
    POWER_REAL = "powerReal"
    POWER_REACTIVE = "powerReactive"
    POWER_APPARENT = "powerApparent"
    ENERGY_REAL = "energyReal"
    ENERGY_REACTIVE = "energyReactive"
    ENERGY_APPARENT = "energyApparent"
    CURRENT = "current"
    VOLTAGE = "voltage"
    FREQUENCY = "frequency"
    TEMPERATURE = "temperature"
    THERM = "therm"


class ScaleCode(StrEnum):
    """SI prefix of a unit (siScaleCode); ``NONE`` is the unit itself."""

    PICO = "p"
    NANO = "n"
    MICRO = "micro"
    MILLI = "m"
    CENTI = "c"
    DECI = "d"
    NONE = "none"
    KILO = "k"
    MEGA = "M"
    GIGA = "G"
    TERA = "T"


class ResponseRequired(StrEnum):
    ALWAYS = "always"  # each VEN must answer (optIn/optOut)
    NEVER = "never"  # no VEN answers, and nobody waits for one


_PRICES = frozenset({SignalType.PRICE, SignalType.PRICE_RELATIVE, SignalType.PRICE_MULTIPLIER})
# 2.0b Profile Specification 8.2.2: the signalTypes each signal name may have.
ALLOWED_TYPES: Mapping[SignalKind, frozenset[SignalType]] = {
    SignalKind.SIMPLE: frozenset({SignalType.LEVEL}),
    SignalKind.ELECTRICITY_PRICE: _PRICES,
    SignalKind.ENERGY_PRICE: _PRICES,
    SignalKind.DEMAND_CHARGE: _PRICES,
    SignalKind.BID_PRICE: frozenset({SignalType.PRICE}),
    SignalKind.BID_LOAD: frozenset({SignalType.SETPOINT}),
    SignalKind.BID_ENERGY: frozenset({SignalType.SETPOINT}),
    SignalKind.CHARGE_STATE: frozenset(
        {SignalType.SETPOINT, SignalType.DELTA, SignalType.MULTIPLIER}
    ),
    SignalKind.LOAD_DISPATCH: frozenset(
        {SignalType.SETPOINT, SignalType.DELTA, SignalType.MULTIPLIER, SignalType.LEVEL}
    ),
    SignalKind.LOAD_CONTROL: frozenset(
        {
            SignalType.LOAD_CONTROL_CAPACITY,
            SignalType.LOAD_CONTROL_LEVEL_OFFSET,
            SignalType.LOAD_CONTROL_PERCENT_OFFSET,
            SignalType.LOAD_CONTROL_SETPOINT,
        }
    ),
}
CURRENCY_UNITS = frozenset(
    {
        SignalUnit.CURRENCY,
        SignalUnit.CURRENCY_PER_KWH,
        SignalUnit.CURRENCY_PER_KW,
        SignalUnit.CURRENCY_PER_THERM,
    }
)


@dataclass(frozen=True, slots=True)
class Interval:
    """One step of a signal: ``value`` for ``duration``, right after the step before it."""

    duration: timedelta
    value: float


@dataclass(frozen=True, slots=True)
class EventSignal:
    kind: SignalKind
    type: SignalType
    intervals: tuple[Interval, ...]
    unit: SignalUnit | None = None
    scale: ScaleCode | None = None  # of the unit; None: the unit itself
    currency: str | None = None  # ISO 4217, of a currency unit; None: not said

    def value_at(self, offset: timedelta) -> float | None:
        """The value in force ``offset`` after the event's start; None outside it."""
        if offset < timedelta():
            return None
        start = timedelta()
        for interval in self.intervals:
            if offset < start + interval.duration:
                return interval.value
            start += interval.duration
        return None

    @property
    def duration(self) -> timedelta:
        return sum((i.duration for i in self.intervals), timedelta())


@dataclass(frozen=True, slots=True)
class Baseline:
    """What the load (or price) would have been without the event, from ``start`` on."""

    start: datetime
    intervals: tuple[Interval, ...]
    name: str = "baseline"
    unit: SignalUnit | None = None


@dataclass(frozen=True, slots=True)
class EventTerms:
    """An event's signals and event-level facts; all empty for one made from an invitation."""

    signals: tuple[EventSignal, ...] = ()
    priority: int | None = None  # None: its program's
    ramp_up: timedelta | None = None  # the VENs may start ramping this long before the start
    recovery: timedelta | None = None  # and recover this long after the end
    start_after: timedelta | None = None  # tolerance: each VEN starts up to this late, at random
    response_required: ResponseRequired = ResponseRequired.ALWAYS
    baseline: Baseline | None = None

    @property
    def explicit(self) -> bool:
        return bool(self.signals)


NO_TERMS = EventTerms()


def check_terms(terms: EventTerms, duration: timedelta) -> list[FieldError]:
    """Every bad field of ``terms`` for an event lasting ``duration``, named as the admin API
    body names it, as the API names fields (``signals.0.intervals.1.value``)."""
    errors: list[FieldError] = []
    if len(terms.signals) > MAX_SIGNALS:
        errors.append(FieldError("signals", f"at most {MAX_SIGNALS} signals"))
    for n, signal in enumerate(terms.signals):
        errors.extend(_check_signal(f"signals.{n}", signal, duration))
    if terms.priority is not None and not 0 <= terms.priority <= MAX_PRIORITY:
        errors.append(FieldError("priority", f"must be 0 to {MAX_PRIORITY} (0: highest)"))
    for name, offset in (
        ("ramp_up_minutes", terms.ramp_up),
        ("recovery_minutes", terms.recovery),
        ("start_after_minutes", terms.start_after),
    ):
        if offset is not None and not timedelta() <= offset <= MAX_OFFSET:
            errors.append(FieldError(name, "must be 0 to 1440 minutes"))
    if terms.baseline is not None:
        baseline = terms.baseline
        errors.extend(_check_intervals("baseline.intervals", baseline.intervals))
        total = sum((i.duration for i in baseline.intervals), timedelta())
        if baseline.intervals and total != duration:
            errors.append(FieldError("baseline.intervals", _cover(total, duration)))
        if not baseline.name.strip() or len(baseline.name) > 128:
            errors.append(FieldError("baseline.name", "1 to 128 characters"))
    return errors


def _check_signal(field: str, signal: EventSignal, duration: timedelta) -> list[FieldError]:
    errors = _check_intervals(f"{field}.intervals", signal.intervals)
    if signal.type not in ALLOWED_TYPES[signal.kind]:
        allowed = ", ".join(sorted(ALLOWED_TYPES[signal.kind]))
        errors.append(FieldError(f"{field}.type", f"a {signal.kind} signal is one of {allowed}"))
    if signal.intervals and signal.duration != duration:
        errors.append(FieldError(f"{field}.intervals", _cover(signal.duration, duration)))
    if signal.kind is SignalKind.SIMPLE:
        if signal.unit is not None:
            errors.append(FieldError(f"{field}.units", "a SIMPLE signal has no unit"))
        for n, interval in enumerate(signal.intervals):
            if interval.value not in SIMPLE_LEVEL_VALUES:
                errors.append(
                    FieldError(f"{field}.intervals.{n}.value", "a SIMPLE level is 0, 1, 2 or 3")
                )
    elif signal.type is SignalType.PRICE and signal.unit not in (None, *CURRENCY_UNITS):
        errors.append(FieldError(f"{field}.units", "a price is in a currency unit"))
    if signal.currency is not None:
        if signal.unit not in CURRENCY_UNITS:
            units = ", ".join(sorted(CURRENCY_UNITS))
            errors.append(FieldError(f"{field}.currency", f"goes with the units {units}"))
        if not is_currency_code(signal.currency):
            errors.append(FieldError(f"{field}.currency", "an ISO 4217 code, such as USD"))
    return errors


def is_currency_code(code: str) -> bool:
    """An ISO 4217 alphabetic code in use (upper case, as both protocols write it)."""
    return len(code) == 3 and code.isupper() and pycountry.currencies.get(alpha_3=code) is not None


def _check_intervals(field: str, intervals: Sequence[Interval]) -> list[FieldError]:
    errors = []
    if not 1 <= len(intervals) <= MAX_INTERVALS:
        errors.append(FieldError(field, f"1 to {MAX_INTERVALS} intervals"))
    for n, interval in enumerate(intervals):
        if interval.duration <= timedelta():
            errors.append(FieldError(f"{field}.{n}.duration_minutes", "must be positive"))
        if not math.isfinite(interval.value) or abs(interval.value) > MAX_ABS_VALUE:
            errors.append(FieldError(f"{field}.{n}.value", "must be a finite number"))
    return errors


def _cover(total: timedelta, duration: timedelta) -> str:
    return (
        f"the intervals last {total.total_seconds() / 60:g} minutes, the event "
        f"{duration.total_seconds() / 60:g}: they must cover it exactly"
    )


# --- storage ------------------------------------------------------------------------------
def terms_to_json(terms: EventTerms) -> dict[str, Any] | None:
    """The terms as JSON to store with the event; None for an event with none."""
    if terms == NO_TERMS:
        return None
    return {
        "signals": [
            {
                "kind": s.kind.value,
                "type": s.type.value,
                "unit": s.unit.value if s.unit else None,
                "scale": s.scale.value if s.scale else None,
                "currency": s.currency,
                "intervals": _intervals_to_json(s.intervals),
            }
            for s in terms.signals
        ],
        "priority": terms.priority,
        "ramp_up_seconds": _seconds(terms.ramp_up),
        "recovery_seconds": _seconds(terms.recovery),
        "start_after_seconds": _seconds(terms.start_after),
        "response_required": terms.response_required.value,
        "baseline": None
        if terms.baseline is None
        else {
            "start": terms.baseline.start.isoformat(),
            "name": terms.baseline.name,
            "unit": terms.baseline.unit.value if terms.baseline.unit else None,
            "intervals": _intervals_to_json(terms.baseline.intervals),
        },
    }


def terms_from_json(raw: Mapping[str, Any] | None) -> EventTerms:
    """What ``terms_to_json`` stored (raises ``KeyError``/``ValueError`` on anything else)."""
    if raw is None:
        return NO_TERMS
    baseline = raw.get("baseline")
    return EventTerms(
        signals=tuple(
            EventSignal(
                kind=SignalKind(s["kind"]),
                type=SignalType(s["type"]),
                unit=SignalUnit(s["unit"]) if s.get("unit") else None,
                scale=ScaleCode(s["scale"]) if s.get("scale") else None,
                currency=s.get("currency"),
                intervals=_intervals_from_json(s["intervals"]),
            )
            for s in raw.get("signals") or []
        ),
        priority=raw.get("priority"),
        ramp_up=_delta(raw.get("ramp_up_seconds")),
        recovery=_delta(raw.get("recovery_seconds")),
        start_after=_delta(raw.get("start_after_seconds")),
        response_required=ResponseRequired(raw.get("response_required") or "always"),
        baseline=None
        if not baseline
        else Baseline(
            start=datetime.fromisoformat(baseline["start"]),
            name=baseline.get("name") or "baseline",
            unit=SignalUnit(baseline["unit"]) if baseline.get("unit") else None,
            intervals=_intervals_from_json(baseline["intervals"]),
        ),
    )


def _intervals_to_json(intervals: Sequence[Interval]) -> list[dict[str, float]]:
    return [{"duration_seconds": i.duration.total_seconds(), "value": i.value} for i in intervals]


def _intervals_from_json(raw: Sequence[Mapping[str, Any]]) -> tuple[Interval, ...]:
    return tuple(
        Interval(timedelta(seconds=float(i["duration_seconds"])), float(i["value"])) for i in raw
    )


def _seconds(value: timedelta | None) -> float | None:
    return None if value is None else value.total_seconds()


def _delta(value: object) -> timedelta | None:
    return None if value is None else timedelta(seconds=float(str(value)))
