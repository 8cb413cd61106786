"""Reading an event's stored samples by device: a page of devices, every sample instant.

A sample row packs every device's power (``gateway.domain.samples``), so a page of devices is
a byte range of each row: the database cuts it (``substr``), and a page costs its own devices'
bytes, not the whole event's, however many devices the event has. Rows are read in index
order, streamed, so memory holds one page of one row at a time.

Each device's baseline is the mean of its baseline-phase samples (the method the executor
uses, ``BaselineMean``), so a running event shows the same baseline its results will carry.
Reduction at a sample is ``baseline - actual``; a missing reading, or a device with no
baseline, has no reduction (``None``), never 0.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import ColumnElement, LargeBinary, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.db.models import EventDeviceRow, EventRow, EventSampleRow
from gateway.domain.errors import NotFound
from gateway.domain.lifecycle import EventStatus
from gateway.domain.reduction import BaselineMean
from gateway.domain.samples import unpack
from gateway.services.results import BASELINE, EVENT

_FLOAT_BYTES = 8  # one little-endian float64 per device (gateway.domain.samples)


class SamplePhase(StrEnum):
    BASELINE = BASELINE
    EVENT = EVENT


@dataclass(frozen=True, slots=True)
class DevicePage:
    """Which devices a page holds, with their baselines, and where the next page starts."""

    event_id: str
    status: EventStatus
    total_devices: int
    first_position: int
    device_ids: list[str]
    baselines_kw: list[float | None]
    next_position: int | None


@dataclass(frozen=True, slots=True)
class PageSample:
    """One stored sample instant, cut to the page's devices."""

    index: int
    at: datetime
    power_kw: list[float | None]

    def reductions_kw(self, baselines_kw: list[float | None]) -> list[float | None]:
        return [
            None if b is None or p is None else b - p
            for b, p in zip(baselines_kw, self.power_kw, strict=True)
        ]


def _cut(first: int, count: int) -> ColumnElement[bytes]:
    """The page's bytes of a packed sample (``substr`` counts from 1, on SQLite and
    PostgreSQL alike)."""
    return func.substr(
        EventSampleRow.power_kw, first * _FLOAT_BYTES + 1, count * _FLOAT_BYTES, type_=LargeBinary
    )


async def device_page(
    session: AsyncSession, event_id: str, first_position: int, limit: int
) -> DevicePage:
    """The devices at positions ``first_position`` .. ``+ limit`` and their baselines."""
    event = (
        await session.execute(select(EventRow.status).where(EventRow.id == event_id))
    ).one_or_none()
    if event is None:
        raise NotFound(f"event {event_id} not found")
    total = await session.scalar(
        select(func.count()).select_from(EventDeviceRow).where(EventDeviceRow.event_id == event_id)
    )
    device_ids = list(
        await session.scalars(
            select(EventDeviceRow.device_id)
            .where(EventDeviceRow.event_id == event_id)
            .order_by(EventDeviceRow.position)
            .offset(first_position)
            .limit(limit)
        )
    )
    baseline = BaselineMean(len(device_ids))
    if device_ids:
        async for sample in _rows(session, event_id, SamplePhase.BASELINE, first_position,
                                  len(device_ids), after_index=-1):  # fmt: skip
            baseline.add(sample.power_kw)
    end = first_position + len(device_ids)
    return DevicePage(
        event_id=event_id,
        status=EventStatus(event.status),
        total_devices=int(total or 0),
        first_position=first_position,
        device_ids=device_ids,
        baselines_kw=baseline.means(),
        next_position=end if end < int(total or 0) else None,
    )


def page_samples(
    session: AsyncSession, page: DevicePage, phase: SamplePhase, after_index: int
) -> AsyncIterator[PageSample]:
    """The page's devices at each stored sample of ``phase`` after ``after_index``, in order."""
    return _rows(
        session, page.event_id, phase, page.first_position, len(page.device_ids), after_index
    )


async def _rows(
    session: AsyncSession,
    event_id: str,
    phase: SamplePhase,
    first_position: int,
    count: int,
    after_index: int,
) -> AsyncIterator[PageSample]:
    if count == 0:
        return
    rows = await session.stream(
        select(EventSampleRow.sample_index, EventSampleRow.sampled_at, _cut(first_position, count))
        .where(
            EventSampleRow.event_id == event_id,
            EventSampleRow.phase == phase.value,
            EventSampleRow.sample_index > after_index,
        )
        .order_by(EventSampleRow.sample_index)
        .execution_options(yield_per=32)
    )
    async for index, at, packed in rows:
        values = unpack(bytes(packed))
        # The executor writes every device in each row; a shorter one would read as missing.
        values.extend([None] * (count - len(values)))
        yield PageSample(index, at, values)
