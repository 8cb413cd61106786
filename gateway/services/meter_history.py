"""Meter history: each device's energy per interval, recorded from the power bus or imported.

Where it comes from (the rules are in ``gateway.domain.meter``):

- **Recorded.** ``MeterRecorder`` (``services.meter_recorder``) reads every device's power
  each ``meter_sample_seconds`` and hands the readings here: each is one slot of its interval,
  worth ``kW x sample period``. A slot is added to its interval only if its bit is not set yet,
  in the same UPDATE that sets it, so replicas recording side by side, or a restart in the
  middle of an interval, never count a slot twice; slots nobody recorded (the gateway down, a
  reading missing or stale) stay unmeasured and lower the interval's share.
- **Imported.** A CSV of whole intervals from a meter, in one transaction, all or nothing. An
  imported interval replaces whatever was stored for it (meter data wins over the gateway's
  own readings, and the recorder never touches an imported interval again); importing the same
  file again changes nothing and reports every row unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar, cast

from pydantic import AwareDatetime, Field
from sqlalchemy import (
    BigInteger,
    Select,
    Table,
    Update,
    case,
    literal,
    select,
    tuple_,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.clock import Clock
from gateway.db.engine import Database
from gateway.db.models import DeviceRow, MeterIntervalRow
from gateway.domain.baselines import IntervalEnergy
from gateway.domain.errors import FieldError, NotFound, ValidationFailed
from gateway.domain.meter import (
    MAX_ERRORS_REPORTED,
    HistoryRow,
    MeterSource,
    estimate,
    parse_history_csv,
)
from gateway.services.views import View

MAX_INTERVALS_LISTED = 10_000
_CHUNK = 500  # rows per statement: well under every driver's bound-parameter limit


class ImportReport(View):
    rows: int = Field(description="rows in the file")
    inserted: int = Field(description="intervals that had nothing stored")
    replaced: int = Field(description="intervals whose stored value this import replaced")
    unchanged: int = Field(description="intervals already imported with the same kWh")


class MeterIntervalView(View):
    interval_start: AwareDatetime
    interval_end: AwareDatetime
    kwh: float = Field(description="the interval's energy: measured energy over the share")
    measured_kwh: float = Field(description="energy of the slots measured")
    share: float = Field(description="share of the interval measured (imported: 1)")
    source: MeterSource


@dataclass(frozen=True, slots=True)
class MeterGrid:
    interval_minutes: int
    sample_seconds: int  # 0: nothing recorded; imports still use the interval

    @property
    def interval(self) -> timedelta:
        return timedelta(minutes=self.interval_minutes)

    @property
    def slot_count(self) -> int:
        if not self.sample_seconds:
            return 1
        return max(self.interval_minutes * 60 // self.sample_seconds, 1)


class MeterHistoryService:
    def __init__(self, db: Database, clock: Clock, grid: MeterGrid) -> None:
        self._db = db
        self._clock = clock
        self.grid = grid

    # --- import --------------------------------------------------------------------------
    async def import_csv(self, text: str) -> ImportReport:
        """All rows or none: every refused row is named in the ``ValidationFailed``."""
        rows, errors = parse_history_csv(text, self.grid.interval_minutes, self._clock.now())
        async with self._db.write() as session:
            errors += await _unknown_devices(session, rows)
            if errors:
                raise ValidationFailed(_reported(errors))
            return await self._store_imported(session, rows)

    async def _store_imported(self, session: AsyncSession, rows: list[HistoryRow]) -> ImportReport:
        stored: dict[tuple[str, datetime], MeterIntervalRow] = {}
        for chunk in _chunks(rows):
            keys = [(r.device_id, r.interval_start) for r in chunk]
            found = await session.scalars(
                select(MeterIntervalRow).where(
                    tuple_(MeterIntervalRow.device_id, MeterIntervalRow.interval_start).in_(keys)
                )
            )
            stored.update({(r.device_id, r.interval_start): r for r in found})
        now = self._clock.now()
        inserted = replaced = unchanged = 0
        for row in rows:
            current = stored.get((row.device_id, row.interval_start))
            if current is None:
                session.add(
                    MeterIntervalRow(
                        device_id=row.device_id, interval_start=row.interval_start,
                        interval_minutes=self.grid.interval_minutes, slot_count=1,
                        measured_slots=1, slots=1, kwh=row.kwh,
                        source=MeterSource.IMPORTED.value, updated_at=now,
                    )
                )  # fmt: skip
                inserted += 1
            elif current.source == MeterSource.IMPORTED.value and current.kwh == row.kwh:
                unchanged += 1
            else:
                current.interval_minutes = self.grid.interval_minutes
                current.slot_count = current.measured_slots = current.slots = 1
                current.kwh = row.kwh
                current.source = MeterSource.IMPORTED.value
                current.updated_at = now
                replaced += 1
        return ImportReport(
            rows=len(rows), inserted=inserted, replaced=replaced, unchanged=unchanged
        )

    # --- recording -----------------------------------------------------------------------
    async def record_slot(
        self, interval_start: datetime, slot: int, readings: Sequence[tuple[str, float]]
    ) -> int:
        """Add one slot of readings (device, kW); returns how many were new (not counted by
        this or another process before)."""
        readings = [(d, kw) for d, kw in readings if math.isfinite(kw)]
        if not readings:
            return 0
        grid = self.grid
        slot_kwh = grid.sample_seconds / 3600.0
        now = self._clock.now()
        bit = 1 << slot
        added = 0
        async with self._db.write() as session:
            for chunk in _chunks(readings):
                insert = (sqlite.insert if self._db.is_sqlite else postgresql.insert)(
                    MeterIntervalRow
                ).on_conflict_do_nothing(index_elements=["device_id", "interval_start"])
                await session.execute(
                    insert,
                    [
                        {
                            "device_id": device_id, "interval_start": interval_start,
                            "interval_minutes": grid.interval_minutes,
                            "slot_count": grid.slot_count, "measured_slots": 0, "slots": 0,
                            "kwh": 0.0, "source": MeterSource.RECORDED.value, "updated_at": now,
                        }
                        for device_id, _ in chunk
                    ],
                )  # fmt: skip
                result = await session.execute(
                    _add_slot(interval_start, bit, {d: kw * slot_kwh for d, kw in chunk}, now)
                )
                added += int(result.rowcount)  # type: ignore[attr-defined]
        return added

    # --- reading -------------------------------------------------------------------------
    async def intervals(
        self, device_id: str, start: datetime, end: datetime
    ) -> list[MeterIntervalView]:
        async with self._db.read() as session:
            if await session.get(DeviceRow, device_id) is None:
                raise NotFound(f"device {device_id} not found")
            rows = await session.scalars(
                _rows_of([device_id], start, end).limit(MAX_INTERVALS_LISTED)
            )
            return [_view(r) for r in rows if r.measured_slots > 0]


def _add_slot(interval_start: datetime, bit: int, kwh: dict[str, float], now: datetime) -> Update:
    """One statement for many devices: its WHERE, checked on each row as it is updated (under
    the row's lock on PostgreSQL), is what makes a slot count once."""
    table = cast(Table, MeterIntervalRow.__table__)
    mask = literal(bit, BigInteger)
    return (
        update(table)
        .where(
            table.c.device_id.in_(list(kwh)),
            table.c.interval_start == interval_start,
            table.c.source == MeterSource.RECORDED.value,
            table.c.slots.op("&")(mask) == 0,
        )
        .values(
            kwh=table.c.kwh + case(kwh, value=table.c.device_id, else_=0.0),
            slots=table.c.slots.op("|")(mask),
            measured_slots=table.c.measured_slots + 1,
            updated_at=now,
        )
    )


def _rows_of(device_ids: Sequence[str], start: datetime, end: datetime) -> Select[MeterIntervalRow]:
    return (
        select(MeterIntervalRow)
        .where(
            MeterIntervalRow.device_id.in_(device_ids),
            MeterIntervalRow.interval_start >= start,
            MeterIntervalRow.interval_start < end,
        )
        .order_by(MeterIntervalRow.device_id, MeterIntervalRow.interval_start)
    )


async def history_of(
    session: AsyncSession, device_ids: Sequence[str], start: datetime, end: datetime
) -> dict[str, dict[datetime, IntervalEnergy]]:
    """Each device's intervals in [start, end) as baselines and settlement read them."""
    found: dict[str, dict[datetime, IntervalEnergy]] = {d: {} for d in device_ids}
    for chunk in _chunks(list(device_ids)):
        rows = await session.execute(
            _ENERGY.where(
                MeterIntervalRow.device_id.in_(chunk),
                MeterIntervalRow.interval_start >= start,
                MeterIntervalRow.interval_start < end,
            )
        )
        _take(found, rows)
    return found


async def history_at(
    session: AsyncSession, device_ids: Sequence[str], instants: Sequence[datetime]
) -> dict[str, dict[datetime, IntervalEnergy]]:
    """The same as ``history_of``, for the given interval starts only (what a day-matching
    baseline reads is a few intervals a day, not whole days)."""
    found: dict[str, dict[datetime, IntervalEnergy]] = {d: {} for d in device_ids}
    for devices in _chunks(list(device_ids)):
        for starts in _chunks(list(instants)):
            rows = await session.execute(
                _ENERGY.where(
                    MeterIntervalRow.device_id.in_(devices),
                    MeterIntervalRow.interval_start.in_(starts),
                )
            )
            _take(found, rows)
    return found


# Plain columns, not row objects: a settlement reads tens of thousands of intervals.
_ENERGY = select(
    MeterIntervalRow.device_id,
    MeterIntervalRow.interval_start,
    MeterIntervalRow.kwh,
    MeterIntervalRow.measured_slots,
    MeterIntervalRow.slot_count,
)


def _take(
    found: dict[str, dict[datetime, IntervalEnergy]],
    rows: Iterable[tuple[str, datetime, float, int, int]],
) -> None:
    for device_id, start, kwh, measured, slots in rows:
        energy = estimate(kwh, measured, slots)
        if energy is not None:
            found[device_id][start] = energy


def _view(row: MeterIntervalRow) -> MeterIntervalView:
    energy = estimate(row.kwh, row.measured_slots, row.slot_count)
    assert energy is not None
    return MeterIntervalView(
        interval_start=row.interval_start,
        interval_end=row.interval_start + timedelta(minutes=row.interval_minutes),
        kwh=energy.kwh,
        measured_kwh=row.kwh,
        share=energy.share,
        source=MeterSource(row.source),
    )


async def _unknown_devices(session: AsyncSession, rows: list[HistoryRow]) -> list[FieldError]:
    named = sorted({r.device_id for r in rows})
    known: set[str] = set()
    for chunk in _chunks(named):
        known.update(await session.scalars(select(DeviceRow.id).where(DeviceRow.id.in_(chunk))))
    return [
        FieldError(f"line {r.line}.device_id", f"device {r.device_id} is not registered")
        for r in rows
        if r.device_id not in known
    ]


def _reported(errors: list[FieldError]) -> list[FieldError]:
    """The first refused rows, by line, and how many more: a long report helps nobody."""
    errors = sorted(errors, key=lambda e: _line_of(e.field))
    if len(errors) <= MAX_ERRORS_REPORTED:
        return errors
    more = len(errors) - MAX_ERRORS_REPORTED
    return [*errors[:MAX_ERRORS_REPORTED], FieldError("file", f"{more} more problems not listed")]


def _line_of(field: str) -> int:
    digits = field.removeprefix("line ").split(".", 1)[0]
    return int(digits) if digits.isdigit() else 0


T = TypeVar("T")


def _chunks(items: Sequence[T] | Iterable[T]) -> list[list[T]]:
    listed = list(items)
    return [listed[i : i + _CHUNK] for i in range(0, len(listed), _CHUNK)]
