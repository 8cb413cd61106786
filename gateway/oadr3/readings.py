"""What a 3.x report says that the core takes: power readings (DEMAND in kW or W; USAGE, an
energy over its interval, as that interval's mean kW) and a VEN's participation (the private
payload type OPT: OPT_IN / OPT_OUT). Pure. A value that is not a number is missing, never 0."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from gateway.domain.invitations import Answer

POWER_TO_KW = {"KW": 1.0, "W": 0.001, "MW": 1000.0}
ENERGY_TO_KWH = {"KWH": 1.0, "WH": 0.001, "MWH": 1000.0}
DEFAULT_UNITS = {"DEMAND": "KW", "USAGE": "KWH"}
OPT_PAYLOAD = "OPT"
OPT_ANSWERS = {"OPT_IN": Answer.YES, "OPT_OUT": Answer.NO}


@dataclass(frozen=True, slots=True)
class PowerReading:
    resource_name: str
    kw: float
    at: datetime


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def power_of(
    resource_name: str,
    payload_type: str,
    value: object,
    units: str | None,
    start: datetime | None,
    duration: timedelta | None,
    received: datetime,
) -> PowerReading | None:
    """A power reading of one payload value, or None (not power, not a number, no unit
    known, a USAGE without a duration). Its time: the end of its interval, else receipt."""
    number = _number(value)
    unit = (units or DEFAULT_UNITS.get(payload_type, "")).upper()
    if number is None:
        return None
    end = start + duration if start is not None and duration is not None else None
    at = min(end, received) if end is not None else (start or received)
    if payload_type == "DEMAND" and unit in POWER_TO_KW:
        return PowerReading(resource_name, number * POWER_TO_KW[unit], at)
    if payload_type == "USAGE" and unit in ENERGY_TO_KWH and duration and duration > timedelta():
        hours = duration / timedelta(hours=1)
        return PowerReading(resource_name, number * ENERGY_TO_KWH[unit] / hours, at)
    return None


def answer_of(payloads: Mapping[str, object]) -> Answer | None:
    """A resource's participation, when the report says it (OPT: OPT_IN or OPT_OUT)."""
    value = payloads.get(OPT_PAYLOAD)
    return OPT_ANSWERS.get(value) if isinstance(value, str) else None
