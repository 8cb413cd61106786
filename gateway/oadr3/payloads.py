"""3.x interval payloads <-> the core's event signals (``gateway.domain.signals``). Pure.

The table (also in docs/oadr3.md): each 3.x event payload type that 2.0b can carry maps to a
2.0b signal kind and type (and unit); a signal of a kind with no 3.x type goes to 3.x VENs
under its 2.0b name (the spec allows privately defined types). A 3.x payload type with no
2.0b signal stays in the 3.x event only: 2.0b VENs are not sent it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import NamedTuple

from gateway.domain.signals import (
    CURRENCY_UNITS,
    EventSignal,
    EventTerms,
    Interval,
    ScaleCode,
    SignalKind,
    SignalType,
    SignalUnit,
)


class Signal2b(NamedTuple):
    kind: SignalKind
    type: SignalType
    unit: SignalUnit | None = None
    scale: ScaleCode | None = None
    units_3x: str | None = None  # the 3.x payload descriptor's units


_KW = (SignalUnit.POWER_REAL, ScaleCode.KILO, "KW")
PAYLOAD_SIGNALS: Mapping[str, Signal2b] = {
    "SIMPLE": Signal2b(SignalKind.SIMPLE, SignalType.LEVEL),
    "PRICE": Signal2b(SignalKind.ELECTRICITY_PRICE, SignalType.PRICE, SignalUnit.CURRENCY_PER_KWH),
    "DISPATCH_SETPOINT": Signal2b(SignalKind.LOAD_DISPATCH, SignalType.SETPOINT, *_KW),
    "DISPATCH_SETPOINT_RELATIVE": Signal2b(SignalKind.LOAD_DISPATCH, SignalType.DELTA, *_KW),
    "CHARGE_STATE_SETPOINT": Signal2b(SignalKind.CHARGE_STATE, SignalType.SETPOINT),
    "CONTROL_SETPOINT": Signal2b(SignalKind.LOAD_CONTROL, SignalType.LOAD_CONTROL_SETPOINT),
    "CONTROL_LEVEL_OFFSET": Signal2b(SignalKind.LOAD_CONTROL, SignalType.LOAD_CONTROL_LEVEL_OFFSET),
    "CONTROL_LEVEL_OFFSET_PERCENT": Signal2b(
        SignalKind.LOAD_CONTROL, SignalType.LOAD_CONTROL_PERCENT_OFFSET
    ),
    "IMPORT_CAPACITY_LIMIT": Signal2b(
        SignalKind.LOAD_CONTROL, SignalType.LOAD_CONTROL_CAPACITY, *_KW
    ),
}
_PAYLOAD_OF: dict[tuple[SignalKind, SignalType], str] = {
    (s.kind, s.type): name for name, s in PAYLOAD_SIGNALS.items()
}


def payload_type_of(signal: EventSignal) -> str:
    return _PAYLOAD_OF.get((signal.kind, signal.type), signal.kind.value)


@dataclass(frozen=True, slots=True)
class Step:
    """One 3.x interval: how long, and the first value of each payload type."""

    duration: timedelta
    values: Mapping[str, object]


def signals_of(
    steps: Sequence[Step], currencies: Mapping[str, str] | None = None
) -> tuple[tuple[EventSignal, ...], list[str]]:
    """The core signals of sequential 3.x intervals, and the payload types 2.0b is not sent
    (no 2.0b signal; not a number; or missing from some interval, as 2.0b signals cover the
    whole event). ``currencies``: the payload descriptors' currency of each payload type (a
    price's; 3.x lets any descriptor name one)."""
    kept: list[EventSignal] = []
    left_out: list[str] = []
    types = sorted({name for step in steps for name in step.values})
    for name in types:
        mapped = PAYLOAD_SIGNALS.get(name)
        values = [step.values.get(name) for step in steps]
        numbers = [v for v in values if _is_number(v)]
        if mapped is None or len(numbers) != len(steps):
            left_out.append(name)
            continue
        intervals = tuple(
            Interval(step.duration, float(v))  # type: ignore[arg-type]
            for step, v in zip(steps, values, strict=True)
        )
        currency = (currencies or {}).get(name) if mapped.unit in CURRENCY_UNITS else None
        kept.append(
            EventSignal(mapped.kind, mapped.type, intervals, mapped.unit, mapped.scale, currency)
        )
    return tuple(kept), left_out


def currencies_of(terms: EventTerms) -> dict[str, str]:
    """The currency each payload type's descriptor names (``signals_of``'s other way)."""
    return {payload_type_of(s): s.currency for s in terms.signals if s.currency is not None}


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def steps_of(terms: EventTerms) -> list[Step]:
    """The 3.x intervals of core signals: one per stretch in which no signal changes."""
    bounds: set[timedelta] = set()
    for signal in terms.signals:
        at = timedelta()
        for interval in signal.intervals:
            at += interval.duration
            bounds.add(at)
    steps = []
    start = timedelta()
    for end in sorted(bounds):
        values = {}
        for signal in terms.signals:
            value = signal.value_at(start)
            if value is not None:
                values[payload_type_of(signal)] = _plain(value)
        steps.append(Step(end - start, values))
        start = end
    return steps


def _plain(value: float) -> float | int:
    return int(value) if float(value).is_integer() else float(value)


def units_of(payload_type: str) -> str | None:
    mapped = PAYLOAD_SIGNALS.get(payload_type)
    return mapped.units_3x if mapped is not None else None
