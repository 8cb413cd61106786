"""What the database and Redis hold, read when Prometheus scrapes, within a bound.

``StateCollector.refresh`` reads everything in a few grouped queries under
``STATE_TIMEOUT_SECONDS``; ``collect`` (called by prometheus_client while it renders) only
turns the last reading into metric families. A database that is down or slow gives
``oadr_dependency_up{dependency="database"} 0`` and no database-derived series (never stale
values, never an error page); the scrape itself always answers.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.db.models import (
    EventDeviceRow,
    EventRow,
    EventSampleRow,
    InvitationRow,
    OutboxRow,
    VenRow,
)
from gateway.domain.lifecycle import EventStatus, InvitationStatus
from gateway.domain.ven_presence import is_online
from gateway.observability.metrics import Component, Dependency, GatewayMetrics
from gateway.services.container import Services

logger = logging.getLogger(__name__)

# A scrape waits this long for the database and for Redis (Prometheus' default scrape timeout
# is 10 s; a slow database must not hold the scrape past it).
STATE_TIMEOUT_SECONDS = 2.0
REDIS_TIMEOUT_SECONDS = 1.0
SAMPLES_PHASE = "event"  # gateway.executor.store.EVENT: the phase coverage is measured over


@dataclass(frozen=True)
class RunningEvent:
    event_id: str
    last_sample_age_seconds: float | None  # None: no sample stored yet
    coverage: float | None  # share of device-samples present so far; None: no event sample


@dataclass
class DatabaseState:
    events: dict[str, int] = field(default_factory=dict)
    invitations: dict[str, int] = field(default_factory=dict)
    vens: dict[str, int] = field(default_factory=dict)
    outbox_depth: int = 0
    outbox_oldest_age_seconds: float = 0.0
    deviations: dict[str, int] = field(default_factory=dict)
    running: list[RunningEvent] = field(default_factory=list)


async def read_database_state(
    session: AsyncSession, default_poll: float, now: datetime
) -> DatabaseState:
    state = DatabaseState(
        events=dict.fromkeys((s.value for s in EventStatus), 0),
        invitations=dict.fromkeys((s.value for s in InvitationStatus), 0),
        vens={"online": 0, "offline": 0, "unregistered": 0},
    )
    for status, count in await session.execute(
        select(EventRow.status, func.count()).group_by(EventRow.status)
    ):
        state.events[status] = count
    for status, count in await session.execute(
        select(InvitationRow.status, func.count()).group_by(InvitationRow.status)
    ):
        state.invitations[status] = count
    depth, oldest = (
        await session.execute(select(func.count(), func.min(OutboxRow.created_at)))
    ).one()
    state.outbox_depth = depth
    state.outbox_oldest_age_seconds = (now - oldest).total_seconds() if oldest else 0.0
    vens = await session.execute(
        select(
            VenRow.registration_id, VenRow.last_seen_at, VenRow.poll_frequency_seconds,
            VenRow.schema_deviations,
        )
    )  # fmt: skip
    for registration_id, last_seen, poll, deviations in vens:
        if registration_id is None:
            state.vens["unregistered"] += 1
        elif is_online(last_seen, poll, default_poll, now):
            state.vens["online"] += 1
        else:
            state.vens["offline"] += 1
        for kind, seen in _deviation_counts(deviations):
            state.deviations[kind] = state.deviations.get(kind, 0) + seen
    state.running = await _running_events(session, now)
    return state


def _deviation_counts(stored: Any) -> Iterator[tuple[str, int]]:
    """``vens.schema_deviations`` is ``{kind: {"count": n, "last_seen_at": …}}``."""
    if not isinstance(stored, dict):
        return
    for kind, entry in stored.items():
        if isinstance(entry, dict) and isinstance(entry.get("count"), int):
            yield str(kind), entry["count"]


async def _running_events(session: AsyncSession, now: datetime) -> list[RunningEvent]:
    active = list(
        await session.scalars(select(EventRow.id).where(EventRow.status == EventStatus.ACTIVE))
    )
    if not active:
        return []
    devices = dict(
        (
            await session.execute(
                select(EventDeviceRow.event_id, func.count())
                .where(EventDeviceRow.event_id.in_(active))
                .group_by(EventDeviceRow.event_id)
            )
        ).all()
    )
    last = dict(
        (
            await session.execute(
                select(EventSampleRow.event_id, func.max(EventSampleRow.sampled_at))
                .where(EventSampleRow.event_id.in_(active))
                .group_by(EventSampleRow.event_id)
            )
        ).all()
    )
    measured = {
        event_id: (samples, present)
        for event_id, samples, present in await session.execute(
            select(EventSampleRow.event_id, func.count(), func.sum(EventSampleRow.present))
            .where(EventSampleRow.event_id.in_(active), EventSampleRow.phase == SAMPLES_PHASE)
            .group_by(EventSampleRow.event_id)
        )
    }
    running = []
    for event_id in sorted(active):
        at = last.get(event_id)
        samples, present = measured.get(event_id, (0, 0))
        slots = samples * devices.get(event_id, 0)
        running.append(
            RunningEvent(
                event_id,
                (now - at).total_seconds() if at is not None else None,
                (present or 0) / slots if slots else None,
            )
        )
    return running


class StateCollector(Collector):
    """The gauges read from the database and Redis at scrape time."""

    def __init__(self, metrics: GatewayMetrics) -> None:
        self._metrics = metrics
        self._lock = asyncio.Lock()  # concurrent scrapes share one reading
        self._database: DatabaseState | None = None
        self._up: dict[Dependency, bool] = {}

    async def refresh(self, services: Services | None) -> None:
        async with self._lock:
            if services is None:  # not started (yet): nothing to read
                self._database, self._up = None, {}
                return
            database, redis_ok = await asyncio.gather(
                self._read_database(services), self._ping_redis(services)
            )
            self._database = database
            self._up = {Dependency.DATABASE: database is not None, Dependency.REDIS: redis_ok}

    async def _read_database(self, services: Services) -> DatabaseState | None:
        default_poll = services.settings.vtn_poll_interval_seconds
        try:
            async with asyncio.timeout(STATE_TIMEOUT_SECONDS), services.db.read() as session:
                return await read_database_state(session, default_poll, services.clock.now())
        except Exception as err:  # down, unreachable or slower than the bound: say so
            logger.warning("metrics: cannot read the database: %s", _why(err))
            self._metrics.dependency_error(Dependency.DATABASE, Component.METRICS)
            return None

    async def _ping_redis(self, services: Services) -> bool:
        try:
            async with asyncio.timeout(REDIS_TIMEOUT_SECONDS):
                await services.redis.ping()
        except Exception as err:
            logger.warning("metrics: Redis does not answer: %s", _why(err))
            self._metrics.dependency_error(Dependency.REDIS, Component.METRICS)
            return False
        return True

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "oadr_dependency_up",
            "1 when the dependency answered this scrape within its bound, else 0",
            labels=("dependency",),
        )
        for dependency, ok in sorted(self._up.items()):
            up.add_metric((dependency.value,), 1.0 if ok else 0.0)
        yield up
        state = self._database
        if state is None:
            return
        yield _by("oadr_events", "Events by status", "status", state.events)
        yield _by("oadr_invitations", "Invitations by status", "status", state.invitations)
        yield _by(
            "oadr_vens",
            "VENs: online (last contact within 3 poll periods), offline, or unregistered",
            "state",
            state.vens,
        )
        yield GaugeMetricFamily(
            "oadr_outbox_depth", "dr_events messages stored, not yet published", state.outbox_depth
        )
        yield GaugeMetricFamily(
            "oadr_outbox_oldest_age_seconds",
            "Age of the oldest unpublished dr_events message (0 when none)",
            state.outbox_oldest_age_seconds,
        )
        deviations = CounterMetricFamily(
            "oadr_schema_deviations_tolerated",
            "Benign schema deviations of field VENs repaired and served, by kind",
            labels=("kind",),
        )
        for kind, count in sorted(state.deviations.items()):
            deviations.add_metric((kind,), count)
        yield deviations
        yield from _running(state.running)


def _running(running: Sequence[RunningEvent]) -> Iterator[Metric]:
    age = GaugeMetricFamily(
        "oadr_executor_last_sample_age_seconds",
        "Seconds since the newest stored sample of each active event (about one cadence "
        "when the executor keeps pace)",
        labels=("event_id",),
    )
    coverage = GaugeMetricFamily(
        "oadr_executor_coverage_ratio",
        "Share of device-samples present so far in each active event",
        labels=("event_id",),
    )
    for event in running:
        if event.last_sample_age_seconds is not None:
            age.add_metric((event.event_id,), event.last_sample_age_seconds)
        if event.coverage is not None:
            coverage.add_metric((event.event_id,), event.coverage)
    yield age
    yield coverage


def _by(name: str, documentation: str, label: str, values: dict[str, int]) -> Metric:
    family = GaugeMetricFamily(name, documentation, labels=(label,))
    for value, count in sorted(values.items()):
        family.add_metric((value,), count)
    return family


def _why(err: BaseException) -> str:
    if isinstance(err, TimeoutError):
        return "no answer in time"
    return f"{type(err).__name__}: {err}"[:200]
