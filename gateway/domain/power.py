"""Power readings from the power bus, and why a reading may be missing.

A reading is JSON ``{"kw": <float>, "ts": "<ISO-8601 with offset>", "source": "..."}``. Anything
absent, unparsable or older than the allowed age is *missing*: it carries a reason and no number,
so no caller can mistake it for 0 kW.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum


class MissingReason(StrEnum):
    ABSENT = "absent"
    STALE = "stale"
    UNPARSABLE = "unparsable"
    FUTURE = "timestamp_in_future"


@dataclass(frozen=True, slots=True)
class PowerReading:
    device_id: str
    kw: float
    ts: datetime
    source: str | None = None


@dataclass(frozen=True, slots=True)
class MissingReading:
    device_id: str
    reason: MissingReason


Reading = PowerReading | MissingReading


def _fields(raw: bytes | str) -> tuple[float, datetime, str | None] | None:
    """kW, timestamp and source of a power-bus JSON value, or None if it is not valid."""
    try:
        data = json.loads(raw.decode() if isinstance(raw, bytes) else raw)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(data, dict):
        return None
    kw, ts, source = data.get("kw"), data.get("ts"), data.get("source")
    if isinstance(kw, bool) or not isinstance(kw, int | float) or not math.isfinite(kw):
        return None
    if not isinstance(ts, str):
        return None
    try:
        when = datetime.fromisoformat(ts)
    except ValueError:
        return None
    if when.tzinfo is None:
        return None
    if source is not None and not isinstance(source, str):
        return None
    return float(kw), when, source


def parse_power_message(device_id: str, raw: bytes | str) -> PowerReading | None:
    """Parse one power-bus JSON value; ``None`` when it is not a valid reading."""
    fields = _fields(raw)
    return None if fields is None else PowerReading(device_id, *fields)


def fresh_kw(raw: bytes | str | None, now: datetime, max_age: timedelta) -> float | None:
    """The kW of a valid reading within ``max_age`` of ``now``, else None: the executor's hot
    path, by the same rules as ``read_power_value`` without building objects."""
    if raw is None:
        return None
    fields = _fields(raw)
    if fields is None:
        return None
    age = now - fields[1]
    return fields[0] if -max_age <= age <= max_age else None


def read_power_value(
    device_id: str, raw: bytes | str | None, now: datetime, max_age: timedelta
) -> Reading:
    """Turn a raw value of the power key into a reading or the reason it is missing."""
    if raw is None:
        return MissingReading(device_id, MissingReason.ABSENT)
    reading = parse_power_message(device_id, raw)
    if reading is None:
        return MissingReading(device_id, MissingReason.UNPARSABLE)
    age = now - reading.ts
    if age > max_age:
        return MissingReading(device_id, MissingReason.STALE)
    if age < -max_age:
        return MissingReading(device_id, MissingReason.FUTURE)
    return reading
