"""The pure rules of the 3.x adapter: payload types <-> 2.0b signals (both directions, the
table of docs/oadr3.md), power from reports (kW is power, kWh is energy; missing is missing),
target privacy (Definition.md: "perform a logical AND of the targets in the request and of
the ven object", "a VTN will only include requested targets in a response")."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from gateway.domain.invitations import Answer
from gateway.domain.signals import EventSignal, EventTerms, Interval, SignalKind, SignalType
from gateway.oadr3.payloads import PAYLOAD_SIGNALS, Step, signals_of, steps_of
from gateway.oadr3.privacy import Reader, visible_targets
from gateway.oadr3.readings import answer_of, power_of

MIN = timedelta(minutes=1)
T0 = datetime(2030, 1, 1, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    ("payload", "kind", "signal_type"),
    [
        ("SIMPLE", SignalKind.SIMPLE, SignalType.LEVEL),
        ("PRICE", SignalKind.ELECTRICITY_PRICE, SignalType.PRICE),
        ("DISPATCH_SETPOINT", SignalKind.LOAD_DISPATCH, SignalType.SETPOINT),
        ("DISPATCH_SETPOINT_RELATIVE", SignalKind.LOAD_DISPATCH, SignalType.DELTA),
        ("CHARGE_STATE_SETPOINT", SignalKind.CHARGE_STATE, SignalType.SETPOINT),
        ("CONTROL_SETPOINT", SignalKind.LOAD_CONTROL, SignalType.LOAD_CONTROL_SETPOINT),
        ("IMPORT_CAPACITY_LIMIT", SignalKind.LOAD_CONTROL, SignalType.LOAD_CONTROL_CAPACITY),
    ],
)
def test_each_payload_type_maps_to_its_signal_and_back(
    payload: str, kind: SignalKind, signal_type: SignalType
) -> None:
    steps = [Step(15 * MIN, {payload: 2}), Step(5 * MIN, {payload: 3.5})]
    (signal,), left_out = signals_of(steps)
    assert (signal.kind, signal.type, left_out) == (kind, signal_type, [])
    assert [(i.duration, i.value) for i in signal.intervals] == [(15 * MIN, 2.0), (5 * MIN, 3.5)]
    assert steps_of(EventTerms(signals=(signal,))) == steps


def test_payloads_2b_cannot_carry_are_left_out_and_named() -> None:
    steps = [Step(10 * MIN, {"SIMPLE": 1, "ALERT_FIRE": "go", "PRICE": 0.2}),
             Step(10 * MIN, {"SIMPLE": 2, "ALERT_FIRE": "go"})]  # fmt: skip
    signals, left_out = signals_of(steps)
    assert [s.kind for s in signals] == [SignalKind.SIMPLE]
    assert left_out == ["ALERT_FIRE", "PRICE"]  # no 2.0b signal; not in every interval


def test_signals_with_different_intervals_become_one_3x_interval_per_stretch() -> None:
    simple = EventSignal(SignalKind.SIMPLE, SignalType.LEVEL,
                         (Interval(20 * MIN, 1), Interval(10 * MIN, 3)))  # fmt: skip
    price = EventSignal(SignalKind.ELECTRICITY_PRICE, SignalType.PRICE,
                        (Interval(10 * MIN, 0.1), Interval(20 * MIN, 0.3)))  # fmt: skip
    bid = EventSignal(SignalKind.BID_LOAD, SignalType.SETPOINT, (Interval(30 * MIN, 7),))
    assert steps_of(EventTerms(signals=(simple, price, bid))) == [
        Step(10 * MIN, {"SIMPLE": 1, "PRICE": 0.1, "BID_LOAD": 7}),
        Step(10 * MIN, {"SIMPLE": 1, "PRICE": 0.3, "BID_LOAD": 7}),
        Step(10 * MIN, {"SIMPLE": 3, "PRICE": 0.3, "BID_LOAD": 7}),
    ]


def test_the_table_maps_no_two_payload_types_to_one_signal() -> None:
    pairs = [(s.kind, s.type) for s in PAYLOAD_SIGNALS.values()]
    assert len(pairs) == len(set(pairs))


def test_power_of_report_values() -> None:
    now = T0 + timedelta(hours=1)
    demand = power_of("m", "DEMAND", 1500, "W", T0, None, now)
    assert demand is not None
    assert (demand.kw, demand.at) == (1.5, T0)
    usage = power_of("m", "USAGE", 2.0, "KWH", T0, 30 * MIN, now)  # 2 kWh in half an hour
    assert usage is not None
    assert (usage.kw, usage.at) == (4.0, T0 + 30 * MIN)
    assert power_of("m", "USAGE", 2.0, "KWH", T0, None, now) is None  # energy, no duration
    assert power_of("m", "DEMAND", None, "KW", T0, None, now) is None  # missing, never 0
    assert power_of("m", "DEMAND", "3", "KW", T0, None, now) is None
    assert power_of("m", "DEMAND", True, "KW", T0, None, now) is None
    assert power_of("m", "DEMAND", 3, "KWH", T0, None, now) is None  # energy is not power
    assert power_of("m", "SETPOINT", 3, "KW", T0, None, now) is None
    future = power_of("m", "USAGE", 1, None, now, 60 * MIN, now)
    assert future is not None
    assert future.at == now  # never later than received


def test_participation_of_a_report() -> None:
    assert answer_of({"OPT": "OPT_IN"}) is Answer.YES
    assert answer_of({"OPT": "OPT_OUT"}) is Answer.NO
    assert answer_of({"OPT": "maybe"}) is None
    assert answer_of({"DEMAND": 3}) is None


def test_targets_a_ven_is_granted_and_asks_for() -> None:
    ven = Reader(frozenset({"north", "group-1"}), None)
    assert visible_targets(ven, None) == []  # untargeted: for every VEN
    assert visible_targets(ven, ["north", "secret"]) == ["north"]  # hiding the rest
    assert visible_targets(ven, ["south"]) is None
    asking = Reader(frozenset({"north", "group-1"}), frozenset({"group-1"}))
    assert visible_targets(asking, ["north"]) is None  # AND of granted and asked
    assert visible_targets(asking, ["group-1", "x"]) == ["group-1"]
    assert visible_targets(asking, None) is None  # asked for targets it lacks
    nothing = Reader(frozenset(), None)
    assert visible_targets(nothing, ["north"]) is None
    bl = Reader(None, None)
    assert visible_targets(bl, ["a", "b"]) == ["a", "b"]
    assert visible_targets(Reader(None, frozenset({"b"})), ["a", "b"]) == ["a", "b"]
    assert visible_targets(Reader(None, frozenset({"c"})), ["a", "b"]) is None
