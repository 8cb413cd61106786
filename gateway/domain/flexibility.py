"""Flexibility: how much power each device could shed now, from its hourly instructions.

Instructions are per hour of the *device's local day* (its IANA time zone), because a site's
schedule follows its wall clock, including across daylight-saving changes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from gateway.domain.power import MissingReading, Reading


class Instruction(StrEnum):
    PARTICIPATION = "participation"
    SHIFTING = "shifting"
    OFF = "off"


FLEXIBLE_SHARE: Mapping[Instruction, float] = {
    Instruction.PARTICIPATION: 1.0,
    Instruction.SHIFTING: 0.2,
    Instruction.OFF: 0.0,
}

HOURS = range(24)


@cache
def _known_timezones() -> frozenset[str]:
    return frozenset(available_timezones())


def is_valid_timezone(name: str) -> bool:
    if name not in _known_timezones():
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def local_hour(now: datetime, timezone: str) -> int:
    return now.astimezone(ZoneInfo(timezone)).hour


def instruction_at(instructions: Mapping[int, Instruction], hour: int) -> Instruction:
    """An hour with no instruction is ``off``: nothing is offered unless the operator says so."""
    return instructions.get(hour, Instruction.OFF)


@dataclass(frozen=True, slots=True)
class DeviceFlexibility:
    device_id: str
    timezone: str
    local_hour: int
    instruction: Instruction
    current_kw: float | None
    available_kw: float | None
    missing_reason: str | None


@dataclass(frozen=True, slots=True)
class FlexibilitySummary:
    taken_at: datetime
    total_available_kw: float
    devices: tuple[DeviceFlexibility, ...]

    @property
    def devices_missing_reading(self) -> int:
        return sum(1 for d in self.devices if d.missing_reason is not None)


def device_flexibility(
    device_id: str,
    timezone: str,
    instructions: Mapping[int, Instruction],
    reading: Reading,
    now: datetime,
) -> DeviceFlexibility:
    hour = local_hour(now, timezone)
    instruction = instruction_at(instructions, hour)
    if isinstance(reading, MissingReading):
        available = 0.0 if instruction is Instruction.OFF else None
        return DeviceFlexibility(
            device_id, timezone, hour, instruction, None, available, str(reading.reason)
        )
    # A device that exports (negative kW) has no consumption to shed.
    available = max(reading.kw, 0.0) * FLEXIBLE_SHARE[instruction]
    return DeviceFlexibility(device_id, timezone, hour, instruction, reading.kw, available, None)


def summarise(devices: Iterable[DeviceFlexibility], now: datetime) -> FlexibilitySummary:
    items = tuple(devices)
    total = sum((d.available_kw for d in items if d.available_kw is not None), 0.0)
    return FlexibilitySummary(now, total, items)
