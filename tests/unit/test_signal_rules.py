"""The protocol-neutral signal rules (``gateway.domain.signals``): which value is in force,
what is refused (naming the field), and storage round trips. 2.0b Profile Specification
8.2.2: each signal name allows only some signalTypes; SIMPLE levels are 0 to 3."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from gateway.domain.signals import (
    Baseline,
    EventSignal,
    EventTerms,
    Interval,
    ResponseRequired,
    ScaleCode,
    SignalKind,
    SignalType,
    SignalUnit,
    check_terms,
    terms_from_json,
    terms_to_json,
)

MIN = timedelta(minutes=1)


def price(*values: float, minutes: int = 10) -> EventSignal:
    return EventSignal(
        SignalKind.ELECTRICITY_PRICE, SignalType.PRICE,
        tuple(Interval(minutes * MIN, v) for v in values), SignalUnit.CURRENCY_PER_KWH,
    )  # fmt: skip


def test_the_value_in_force_is_that_of_the_interval_the_offset_falls_in() -> None:
    signal = price(1.0, 2.0, 3.0)
    assert [signal.value_at(m * MIN) for m in (0, 9, 10, 29)] == [1.0, 1.0, 2.0, 3.0]
    assert signal.value_at(30 * MIN) is None
    assert signal.value_at(-MIN) is None
    assert signal.duration == 30 * MIN


def priced(currency: str) -> EventSignal:
    return dataclasses.replace(price(1, 2, 3), currency=currency)


def test_a_price_may_name_its_currency() -> None:
    assert fields(EventTerms(signals=(priced("USD"),))) == []
    assert fields(EventTerms(signals=(priced("VES"),))) == []  # newer than 2.0b's code list


def fields(terms: EventTerms, minutes: int = 30) -> list[str]:
    return [e.field for e in check_terms(terms, minutes * MIN)]


def test_good_terms_pass() -> None:
    terms = EventTerms(signals=(price(1, 2, 3),), priority=0, ramp_up=2 * MIN)
    assert fields(terms) == []


@pytest.mark.parametrize(
    ("terms", "field"),
    [
        (EventTerms(signals=(price(1.0),)), "signals.0.intervals"),  # 10 of 30 minutes
        (EventTerms(signals=(price(1.0, float("nan"), 2.0),)), "signals.0.intervals.1.value"),
        (EventTerms(signals=(EventSignal(SignalKind.SIMPLE, SignalType.PRICE,
                                         (Interval(30 * MIN, 1),)),)), "signals.0.type"),
        (EventTerms(signals=(EventSignal(SignalKind.SIMPLE, SignalType.LEVEL,
                                         (Interval(30 * MIN, 1.5),)),)),
         "signals.0.intervals.0.value"),
        (EventTerms(signals=(EventSignal(SignalKind.SIMPLE, SignalType.LEVEL,
                                         (Interval(30 * MIN, 1),), SignalUnit.POWER_REAL),)),
         "signals.0.units"),
        (EventTerms(signals=(EventSignal(SignalKind.BID_PRICE, SignalType.PRICE,
                                         (Interval(30 * MIN, 1),), SignalUnit.POWER_REAL),)),
         "signals.0.units"),
        (EventTerms(signals=(EventSignal(SignalKind.LOAD_DISPATCH, SignalType.SETPOINT,
                                         (Interval(0 * MIN, 1), Interval(30 * MIN, 1))),)),
         "signals.0.intervals.0.duration_minutes"),
        (EventTerms(priority=-1), "priority"),
        (EventTerms(recovery=-MIN), "recovery_minutes"),
        (EventTerms(start_after=2 * 24 * 60 * MIN), "start_after_minutes"),
        (EventTerms(baseline=Baseline(datetime(2030, 1, 1, tzinfo=UTC), ())),
         "baseline.intervals"),
        # A currency: an ISO 4217 code in use, upper case, and of a currency unit only.
        (EventTerms(signals=(priced("usd"),)), "signals.0.currency"),
        (EventTerms(signals=(priced("XYZ"),)), "signals.0.currency"),
        (EventTerms(signals=(priced("DEM"),)), "signals.0.currency"),  # withdrawn in 2002
        (EventTerms(signals=(EventSignal(SignalKind.LOAD_DISPATCH, SignalType.SETPOINT,
                                         (Interval(30 * MIN, 1),), SignalUnit.POWER_REAL,
                                         currency="USD"),)),
         "signals.0.currency"),
    ],
)  # fmt: skip
def test_bad_terms_are_refused_naming_the_field(terms: EventTerms, field: str) -> None:
    assert field in fields(terms)


def test_terms_survive_storage() -> None:
    terms = EventTerms(
        signals=(
            dataclasses.replace(price(0.1, 0.2, 0.3), currency="EUR"),
            EventSignal(SignalKind.LOAD_DISPATCH, SignalType.SETPOINT,
                        (Interval(30 * MIN, 40.0),), SignalUnit.POWER_REAL, ScaleCode.KILO),
        ),
        priority=3, ramp_up=MIN, recovery=2 * MIN, start_after=3 * MIN,
        response_required=ResponseRequired.NEVER,
        baseline=Baseline(datetime(2030, 1, 1, tzinfo=UTC), (Interval(30 * MIN, 3.05),)),
    )  # fmt: skip
    assert terms_from_json(terms_to_json(terms)) == terms
    assert terms_to_json(EventTerms()) is None
    assert terms_from_json(None) == EventTerms()
