"""Meter history rules: the interval grid, an interval's energy estimate and the CSV import
format. Pure, no I/O (storage and recording: ``gateway.services.meter_history``).

- The grid: intervals of ``interval_minutes`` (a divisor of 60) from the hour in UTC, so they
  line up with every local hour too; a recorded interval is split in slots of the recorder's
  sample period, each counted at most once.
- An interval's kWh estimate is the energy measured over the share of it measured, scaled to
  the whole interval (the mean power measured, held over the interval); an interval nobody
  measured is missing, never 0 kWh.
- The CSV: a header ``device_id,interval_start,kwh`` then one row per interval. Each row is
  checked; every refused row is reported with its line and column, and then nothing is kept.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from gateway.domain.baselines import IntervalEnergy
from gateway.domain.errors import FieldError

CSV_COLUMNS = ("device_id", "interval_start", "kwh")
MAX_DEVICE_ID_LENGTH = 128
MAX_ERRORS_REPORTED = 100
MAX_SLOTS = 63  # slots of an interval, one bit each in a BIGINT


class MeterSource(StrEnum):
    RECORDED = "recorded"  # the gateway's own readings (power bus)
    IMPORTED = "imported"  # meter data imported (CSV): the whole interval


def interval_floor(at: datetime, minutes: int) -> datetime:
    """The start of the interval holding ``at``."""
    utc = at.astimezone(UTC)
    return utc.replace(minute=utc.minute - utc.minute % minutes, second=0, microsecond=0)


def is_interval_start(at: datetime, minutes: int) -> bool:
    return interval_floor(at, minutes) == at.astimezone(UTC)


def intervals_between(start: datetime, end: datetime, minutes: int) -> list[datetime]:
    """Starts of the intervals that overlap [start, end)."""
    step = timedelta(minutes=minutes)
    found, at = [], interval_floor(start, minutes)
    while at < end:
        found.append(at)
        at += step
    return found


def slot_of(at: datetime, minutes: int, sample_seconds: int) -> tuple[datetime, int]:
    """(interval start, slot index) of a sample taken at ``at``."""
    start = interval_floor(at, minutes)
    return start, int((at.astimezone(UTC) - start).total_seconds() // sample_seconds)


def estimate(kwh: float, measured_slots: int, slot_count: int) -> IntervalEnergy | None:
    """The whole interval's kWh from the slots measured, or None when none was."""
    if measured_slots <= 0 or slot_count <= 0:
        return None
    share = min(measured_slots / slot_count, 1.0)
    return IntervalEnergy(kwh / share, share)


@dataclass(frozen=True, slots=True)
class HistoryRow:
    line: int
    device_id: str
    interval_start: datetime
    kwh: float


def parse_history_csv(
    text: str, minutes: int, now: datetime
) -> tuple[list[HistoryRow], list[FieldError]]:
    """The rows of a history CSV and every problem found (field ``line N.column``)."""
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if header is None or tuple(h.strip() for h in header) != CSV_COLUMNS:
        return [], [FieldError("line 1", f"the header must be {','.join(CSV_COLUMNS)}")]
    rows: list[HistoryRow] = []
    errors: list[FieldError] = []
    seen: dict[tuple[str, datetime], int] = {}
    for line, cells in enumerate(reader, start=2):
        if not cells or all(not c.strip() for c in cells):
            continue  # blank lines (a trailing newline) are not rows
        found = _parse_row(line, cells, minutes, now)
        if isinstance(found, list):
            errors += found
            continue
        key = (found.device_id, found.interval_start)
        if key in seen:
            errors.append(
                FieldError(f"line {line}.interval_start", f"the same interval as line {seen[key]}")
            )
            continue
        seen[key] = line
        rows.append(found)
    if not rows and not errors:
        errors.append(FieldError("line 2", "no rows: nothing to import"))
    return rows, errors


def _parse_row(
    line: int, cells: list[str], minutes: int, now: datetime
) -> HistoryRow | list[FieldError]:
    where = f"line {line}"
    if len(cells) != len(CSV_COLUMNS):
        return [FieldError(where, f"needs {len(CSV_COLUMNS)} columns, has {len(cells)}")]
    device_id, start_text, kwh_text = (c.strip() for c in cells)
    errors: list[FieldError] = []
    if not 0 < len(device_id) <= MAX_DEVICE_ID_LENGTH or "\x00" in device_id:
        errors.append(FieldError(f"{where}.device_id", "must be 1-128 characters"))
    start: datetime | None = None
    try:
        start = datetime.fromisoformat(start_text)
    except ValueError:
        errors.append(FieldError(f"{where}.interval_start", "is not an ISO 8601 time"))
    if start is not None:
        if start.tzinfo is None:
            errors.append(FieldError(f"{where}.interval_start", "needs an offset (Z or +hh:mm)"))
            start = None
        elif not is_interval_start(start, minutes):
            errors.append(
                FieldError(
                    f"{where}.interval_start", f"is not the start of a {minutes}-minute interval"
                )
            )
        elif start + timedelta(minutes=minutes) > now:
            errors.append(FieldError(f"{where}.interval_start", "the interval is not over yet"))
    kwh: float | None = None
    try:
        kwh = float(kwh_text)
    except ValueError:
        message = "is empty: leave a missing interval out" if not kwh_text else "is not a number"
        errors.append(FieldError(f"{where}.kwh", message))
    if kwh is not None and (not math.isfinite(kwh) or kwh < 0):
        errors.append(FieldError(f"{where}.kwh", "must be a finite number of kWh, 0 or more"))
    if errors or start is None or kwh is None:
        return errors
    return HistoryRow(line, device_id, start.astimezone(UTC), kwh)
