"""Flexibility: local hours in each device's zone, available kW, and the summary."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from gateway.domain.flexibility import (
    FLEXIBLE_SHARE,
    DeviceFlexibility,
    FlexibilitySummary,
    Instruction,
    device_flexibility,
    instruction_at,
    is_valid_timezone,
    local_hour,
    summarise,
)
from gateway.domain.power import MissingReading, MissingReason, PowerReading

NOON_UTC = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)
PARIS = "Europe/Paris"


def reading(kw: float, device: str = "dev-a") -> PowerReading:
    return PowerReading(device, kw, NOON_UTC)


# --- local_hour / instruction_at -----------------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "hour"),
    [("Europe/Paris", 14), ("America/New_York", 8), ("UTC", 12), ("Asia/Kolkata", 17)],
)
def test_local_hour_uses_the_device_zone(zone: str, hour: int) -> None:
    assert local_hour(NOON_UTC, zone) == hour


@pytest.mark.parametrize(
    ("utc", "hour"),
    [
        (datetime(2026, 3, 29, 0, 30, tzinfo=UTC), 1),  # 01:30 CET
        (datetime(2026, 3, 29, 1, 30, tzinfo=UTC), 3),  # 03:30 CEST: 02:xx never happens
    ],
)
def test_local_hour_across_spring_forward(utc: datetime, hour: int) -> None:
    assert local_hour(utc, PARIS) == hour


@pytest.mark.parametrize(
    ("utc", "hour"),
    [
        (datetime(2026, 10, 25, 0, 30, tzinfo=UTC), 2),  # 02:30 CEST
        (datetime(2026, 10, 25, 1, 30, tzinfo=UTC), 2),  # 02:30 CET: the hour repeats
        (datetime(2026, 10, 25, 2, 30, tzinfo=UTC), 3),
    ],
)
def test_local_hour_across_fall_back(utc: datetime, hour: int) -> None:
    assert local_hour(utc, PARIS) == hour


def test_instruction_at_returns_the_hour_instruction() -> None:
    instructions = {8: Instruction.PARTICIPATION, 9: Instruction.SHIFTING}
    assert instruction_at(instructions, 8) is Instruction.PARTICIPATION
    assert instruction_at(instructions, 9) is Instruction.SHIFTING


def test_instruction_at_defaults_to_off() -> None:
    assert instruction_at({8: Instruction.PARTICIPATION}, 10) is Instruction.OFF
    assert instruction_at({}, 0) is Instruction.OFF


def test_flexible_shares() -> None:
    assert dict(FLEXIBLE_SHARE) == {
        Instruction.PARTICIPATION: 1.0,
        Instruction.SHIFTING: 0.2,
        Instruction.OFF: 0.0,
    }


# --- device_flexibility --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("instruction", "available"),
    [
        (Instruction.PARTICIPATION, 10.0),
        (Instruction.SHIFTING, 2.0),
        (Instruction.OFF, 0.0),
    ],
)
def test_available_kw_follows_the_instruction(instruction: Instruction, available: float) -> None:
    flex = device_flexibility("dev-a", PARIS, {14: instruction}, reading(10.0), NOON_UTC)
    assert flex.local_hour == 14
    assert flex.instruction is instruction
    assert flex.current_kw == 10.0
    assert flex.available_kw == pytest.approx(available)
    assert flex.missing_reason is None


def test_instruction_is_looked_up_by_local_hour_not_utc_hour() -> None:
    instructions = {12: Instruction.OFF, 8: Instruction.PARTICIPATION}
    flex = device_flexibility("dev-a", "America/New_York", instructions, reading(5.0), NOON_UTC)
    assert flex.local_hour == 8
    assert flex.instruction is Instruction.PARTICIPATION
    assert flex.available_kw == pytest.approx(5.0)


def test_hour_without_instruction_offers_nothing() -> None:
    flex = device_flexibility("dev-a", PARIS, {}, reading(10.0), NOON_UTC)
    assert flex.instruction is Instruction.OFF
    assert flex.available_kw == 0.0


@pytest.mark.parametrize("instruction", [Instruction.PARTICIPATION, Instruction.SHIFTING])
def test_missing_reading_leaves_available_unknown(instruction: Instruction) -> None:
    missing = MissingReading("dev-a", MissingReason.STALE)
    flex = device_flexibility("dev-a", PARIS, {14: instruction}, missing, NOON_UTC)
    assert flex == DeviceFlexibility(
        device_id="dev-a",
        timezone=PARIS,
        local_hour=14,
        instruction=instruction,
        current_kw=None,
        available_kw=None,
        missing_reason="stale",
    )


def test_missing_reading_when_off_offers_zero_but_keeps_the_reason() -> None:
    missing = MissingReading("dev-a", MissingReason.ABSENT)
    flex = device_flexibility("dev-a", PARIS, {14: Instruction.OFF}, missing, NOON_UTC)
    assert flex.current_kw is None
    assert flex.available_kw == 0.0
    assert flex.missing_reason == "absent"


def test_negative_kw_offers_nothing() -> None:
    flex = device_flexibility(
        "dev-a", PARIS, {14: Instruction.PARTICIPATION}, reading(-4.0), NOON_UTC
    )
    assert flex.current_kw == -4.0
    assert flex.available_kw == 0.0
    assert flex.missing_reason is None


# --- summarise -----------------------------------------------------------------------------


def test_summarise_totals_known_kw_and_counts_missing() -> None:
    instructions = {14: Instruction.PARTICIPATION}
    devices = [
        device_flexibility("a", PARIS, instructions, reading(10.0, "a"), NOON_UTC),
        device_flexibility("b", PARIS, {14: Instruction.SHIFTING}, reading(5.0, "b"), NOON_UTC),
        device_flexibility(
            "c", PARIS, instructions, MissingReading("c", MissingReason.STALE), NOON_UTC
        ),
        device_flexibility("d", PARIS, {}, MissingReading("d", MissingReason.UNPARSABLE), NOON_UTC),
    ]
    summary = summarise(devices, NOON_UTC)
    assert summary.taken_at == NOON_UTC
    assert summary.total_available_kw == pytest.approx(11.0)
    assert summary.devices == tuple(devices)
    assert summary.devices_missing_reading == 2


def test_summarise_accepts_a_generator() -> None:
    summary = summarise(
        (
            device_flexibility(d, PARIS, {14: Instruction.PARTICIPATION}, reading(1.0, d), NOON_UTC)
            for d in ("a", "b", "c")
        ),
        NOON_UTC,
    )
    assert len(summary.devices) == 3
    assert summary.total_available_kw == pytest.approx(3.0)


def test_summarise_nothing() -> None:
    assert summarise([], NOON_UTC) == FlexibilitySummary(NOON_UTC, 0, ())
    assert summarise([], NOON_UTC).devices_missing_reading == 0


# --- is_valid_timezone ---------------------------------------------------------------------


@pytest.mark.parametrize("name", ["Europe/Paris", "America/New_York", "UTC"])
def test_valid_timezones(name: str) -> None:
    assert is_valid_timezone(name) is True


@pytest.mark.parametrize(
    "name", ["Mars/Base", "../etc/passwd", "", "europe/paris", "/etc/localtime", "Europe/"]
)
def test_invalid_timezones(name: str) -> None:
    assert is_valid_timezone(name) is False
