"""One event's run: baseline samples before the start, event samples until the end.

Sample k of a phase is due at ``phase_start + k * cadence`` on the monotonic clock, anchored
once, so the schedule never drifts however long the event; each sample records the real time
it was taken, and an instant a stall let pass (a slow write, Redis retrying) is a gap, never a
late sample. One MGET reads every device, one insert stores the sample, and the lease is
renewed while waiting. Everything the run knows is in the database after each sample, so a
new run (after a crash, a shutdown, or on another replica) replays it and carries on.

A run ends between two samples when the executor stops (``shutdown.Stopped``) and releases its
lease, so the next holder takes over at once instead of waiting for it to lapse.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import uuid
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from gateway.bus.power import RedisPowerReader
from gateway.domain.lifecycle import OPEN_EVENT_STATUSES, EventStatus
from gateway.domain.reduction import BaselineMean, EventMeter
from gateway.executor import store
from gateway.executor.lease import EventLease
from gateway.executor.shutdown import Stopped
from gateway.executor.store import EventPlan, Fenced
from gateway.observability.logs import bind_log_context
from gateway.observability.metrics import Component, Dependency, GatewayMetrics
from gateway.services.context import ServiceContext
from gateway.services.results import BASELINE, EVENT, live_key, replay, samples_of
from gateway.supervisor import pause

logger = logging.getLogger(__name__)

_T = TypeVar("_T")
# A start or completion the database did not take is tried again this often (at most).
_STORE_RETRY_SECONDS = 1.0

# A start this close after its due instant still takes that instant's sample.
_ON_TIME = 1.0
# Waking this close before a due instant is on time (the clocks tick no finer than this).
_CLOSE_ENOUGH = 0.001
# A lease not released within this long lapses by itself (1.5 cadences): shutdown goes on.
_RELEASE_SECONDS = 1.0


class LeaseLost(Exception):
    """The lease could not be renewed: another replica may own the event now."""


@dataclass(frozen=True, slots=True)
class ExecutorConfig:
    cadence_seconds: float = 5.0
    baseline_window: timedelta = timedelta(minutes=15)
    progress_every: int = 10
    live_device_limit: int = 1000


def live_state(
    event_id: str,
    device_ids: Sequence[str],
    meter: EventMeter,
    index: int,
    at: datetime,
    values: Sequence[float | None],
    device_limit: int,
) -> dict[str, object]:
    """The live state of a running event (Redis key and ``event_progress`` body)."""
    average_kw, energy_kwh, coverage = meter.live_totals(at)
    live: dict[str, object] = {
        "event_id": event_id,
        "sample_index": index,
        "sampled_at": at.isoformat(),
        "current_reduction_kw": meter.tally.current_reduction_kw(values),
        "average_reduction_kw": average_kw,
        "energy_reduction_kwh": energy_kwh,
        "coverage": coverage,
        "devices_present": sum(v is not None for v in values),
        "devices_total": len(values),
    }
    if len(values) <= device_limit:  # per-device power only where it stays small
        live["device_power_kw"] = dict(zip(device_ids, values, strict=True))
    return live


async def publish_live(
    redis: Redis,
    key: str,
    channel: str,
    live: dict[str, object],
    cadence_seconds: float,
    *,
    progress: bool,
) -> None:
    """One round trip: the live-state key (expiring after 3 cadences) and, when due, an
    ``event_progress`` message (straight to Redis: it is transient, not an outbox change)."""
    async with redis.pipeline(transaction=False) as pipe:
        pipe.set(key, json.dumps(live), ex=max(1, math.ceil(3 * cadence_seconds)))
        if progress:
            message = {
                "event": "event_progress",
                "message_id": str(uuid.uuid4()),
                "occurred_at": live["sampled_at"],
                **live,
            }
            pipe.publish(channel, json.dumps(message))
        await pipe.execute()


def first_index(phase_start: datetime, now: datetime, cadence: float, after: int) -> int:
    """The next sample index due at or after ``now``, and after the last one stored.

    An instant passed by less than the on-time tolerance (at most half a cadence) is still
    taken; anything older was missed and becomes a gap.
    """
    behind = (now - phase_start).total_seconds() - min(_ON_TIME, cadence / 2)
    return max(after + 1, math.ceil(behind / cadence) if behind > 0 else 0)


class EventRun:
    def __init__(
        self,
        ctx: ServiceContext,
        power: RedisPowerReader,
        redis: Redis,
        lease: EventLease,
        config: ExecutorConfig,
        prefix: str,
        plan: EventPlan,
        fence: int,
        stopping: asyncio.Event,
        metrics: GatewayMetrics | None = None,
    ) -> None:
        self._metrics = metrics
        self._ctx = ctx
        self._clock = ctx.clock
        self._power = power
        self._redis = redis
        self._lease = lease
        self._config = config
        self._prefix = prefix
        self._plan = plan
        self._fence = fence
        self._stopping = stopping
        # Its end as it stands: each sample write reads it again (the operator may move the
        # end of an event in force), and so does the run before it completes.
        self._end = plan.end_time
        self._last_index = -1
        self._anchor_wall = self._clock.now()
        self._anchor_mono = self._clock.monotonic()

    async def run(self) -> None:
        bind_log_context(event_id=self._plan.id)  # this task's lines name the event
        try:
            await self._run()
        except Fenced:
            logger.warning("event %s: another executor took over; this run stops", self._plan.id)
        except LeaseLost:
            logger.warning("event %s: lease lost; this run stops", self._plan.id)
        except Stopped:
            logger.info("event %s: run stopped by shutdown; the next holder resumes", self._plan.id)
        finally:
            try:
                async with asyncio.timeout(_RELEASE_SECONDS):
                    await self._lease.release(self._plan.id, self._fence)
            except (RedisError, OSError, TimeoutError) as err:
                logger.warning("event %s: lease not released (%r); it lapses", self._plan.id, err)

    async def _run(self) -> None:
        plan, cadence = self._plan, self._config.cadence_seconds
        # The meter's window is the scheduled one: a late start is a gap, not a shorter event.
        window_start = plan.start_time if plan.started_at is not None else None
        async with self._ctx.db.read() as session:
            past = await replay(
                samples_of(session, plan.id), len(plan.device_ids), cadence, window_start
            )
        meter = past.meter
        if plan.status is EventStatus.SCHEDULED:
            if not await self._baseline_phase(past.baseline, past.last_baseline_index):
                return
            await self._wait_until(plan.start_time)
            at = self._clock.now()
            started = await self._stored(
                "start", lambda: store.start(self._ctx, plan.id, self._fence, at)
            )
            await self._ctx.publisher.flush()
            if started is None or started.started_at is None:
                return  # cancelled before it started
            meter = EventMeter(past.baseline.means(), cadence, plan.start_time)
            logger.info("event %s started (%d devices)", plan.id, len(plan.device_ids))
        assert meter is not None  # an active event has started_at, so replay built a meter
        self._last_index = past.last_event_index
        while True:
            if not await self._event_phase(meter, self._last_index):
                return
            await self._wait_until(self._end)
            at = self._clock.now()  # when it ended, whenever the database takes it
            end = await self._end_now()
            if end is None or end <= self._end:
                # Moved earlier while the run waited past its last sample: it ends late by
                # less than a cadence, measured to the new end.
                self._end = self._end if end is None else end
                break
            self._end = end  # lengthened after the last sample: more samples to take
        result = meter.result(self._end)
        if await self._stored(
            "completion", lambda: store.complete(self._ctx, plan.id, self._fence, at, result)
        ):
            logger.info(
                "event %s completed: %.3f kW average, %.3f kWh, coverage %.1f %%",
                plan.id,
                result.average_reduction_kw,
                result.energy_reduction_kwh,
                result.coverage * 100,
            )
        await self._ctx.publisher.flush()
        await self._redis.delete(live_key(self._prefix, plan.id))

    async def _instants(
        self, opens: datetime, closes: Callable[[], datetime], last: int
    ) -> AsyncGenerator[int]:
        """The sample indices of a phase, each yielded at its instant.

        An instant that passed while the run stalled (a write or a Redis call retrying for
        seconds) is skipped: it is a gap. Sampling it late would make the sample before it
        hold over the stall, and the stall would vanish from the results.
        """
        cadence = self._config.cadence_seconds
        k = first_index(opens, self._clock.now(), cadence, last)
        while opens + timedelta(seconds=k * cadence) < closes():
            await self._wait_until(opens + timedelta(seconds=k * cadence))
            on_time = first_index(opens, self._clock.now(), cadence, k - 1)
            if on_time == k:
                yield k
                on_time = k + 1
            k = on_time

    async def _baseline_phase(self, baseline: BaselineMean, last: int) -> bool:
        plan = self._plan
        opens = plan.start_time - self._config.baseline_window
        async with contextlib.aclosing(
            self._instants(opens, lambda: plan.start_time, last)
        ) as instants:
            async for k in instants:
                still_open, values = await self._sample(BASELINE, k)
                if not still_open:
                    return False
                if values is not None:
                    baseline.add(values)
        return True

    async def _event_phase(self, meter: EventMeter, last: int) -> bool:
        plan = self._plan
        taken = 0
        async with contextlib.aclosing(
            self._instants(plan.start_time, lambda: self._end, last)
        ) as ks:
            async for k in ks:
                at = self._clock.now()
                still_open, values = await self._sample(EVENT, k, at)
                if not still_open:
                    return False
                self._last_index = k
                if values is not None:
                    if self._metrics is not None:
                        due = plan.start_time + timedelta(seconds=k * self._config.cadence_seconds)
                        self._metrics.executor_sample((at - due).total_seconds())
                    meter.feed(k, at, values)
                    taken += 1
                    await self._publish_live(meter, k, at, values, taken)
        return True

    async def _sample(
        self, phase: str, index: int, at: datetime | None = None
    ) -> tuple[bool, list[float | None] | None]:
        """(whether the event is still open, the stored values or None if not stored)."""
        at = at or self._clock.now()
        try:
            values = await self._power.read_kw(self._plan.device_ids, at)
        except (RedisError, OSError) as err:
            # Unreadable is missing: stored as such, never as 0 kW, and the run goes on.
            logger.warning("event %s: power bus unreadable (%s)", self._plan.id, err)
            self._dependency_error(Dependency.REDIS)
            values = [None] * len(self._plan.device_ids)
        try:
            standing = await store.write_sample(
                self._ctx.db, self._plan.id, self._fence, phase, index, at, values
            )
        except SQLAlchemyError as err:
            logger.warning(
                "event %s: sample %s/%d not stored (%s)", self._plan.id, phase, index, err
            )
            self._dependency_error(Dependency.DATABASE)
            return True, None
        if standing.status not in OPEN_EVENT_STATUSES:
            logger.info("event %s is %s: run stops", self._plan.id, standing.status)
            return False, None
        self._end = standing.end_time
        return True, values

    def _dependency_error(self, dependency: Dependency) -> None:
        if self._metrics is not None:
            self._metrics.dependency_error(dependency, Component.EXECUTOR)

    async def _publish_live(
        self,
        meter: EventMeter,
        index: int,
        at: datetime,
        values: Sequence[float | None],
        taken: int,
    ) -> None:
        live = live_state(
            self._plan.id, self._plan.device_ids, meter, index, at, values,
            self._config.live_device_limit,
        )  # fmt: skip
        try:
            await publish_live(
                self._redis,
                live_key(self._prefix, self._plan.id),
                self._ctx.dr_events_channel,
                live,
                self._config.cadence_seconds,
                progress=taken % self._config.progress_every == 0,
            )
        except (RedisError, OSError) as err:
            logger.warning("event %s: live state not published (%s)", self._plan.id, err)

    async def _end_now(self) -> datetime | None:
        """The event's end as stored now; while the database cannot say, the end as last
        known (a move made through another replica meanwhile is missed: the event ends as
        planned), so that an outage across the end does not hold the completion's time until
        the database is back."""
        try:
            return await store.end_of(self._ctx.db, self._plan.id)
        except SQLAlchemyError as err:
            logger.warning("event %s: its end not read again (%s)", self._plan.id, err)
            return self._end

    async def _stored(self, what: str, write: Callable[[], Awaitable[_T]]) -> _T:
        """The start or the completion, retried while the database is unreachable: the run
        keeps its lease meanwhile and carries on, instead of failing and being replayed."""
        while True:
            try:
                return await write()
            except SQLAlchemyError as err:
                logger.warning("event %s: %s not stored yet (%s)", self._plan.id, what, err)
            retry = min(_STORE_RETRY_SECONDS, self._config.cadence_seconds)
            await self._wait_until(self._clock.now() + timedelta(seconds=retry))

    async def _wait_until(self, when: datetime) -> None:
        """Wait for ``when`` holding the lease; raises ``Stopped`` once the executor stops.

        The lease is renewed on entry and between sleeps, never after the last sleep, so the
        wake-up at a sample instant is not delayed by a Redis round trip."""
        if self._stopping.is_set():
            raise Stopped(self._plan.id)
        target = self._anchor_mono + (when - self._anchor_wall).total_seconds()
        step = max(self._config.cadence_seconds / 3, 0.05)
        await self._renew()
        while (remaining := target - self._clock.monotonic()) > _CLOSE_ENOUGH:
            if await pause(self._stopping, min(remaining, step), self._clock.sleep):
                raise Stopped(self._plan.id)
            if target - self._clock.monotonic() > _CLOSE_ENOUGH:
                await self._renew()

    async def _renew(self) -> None:
        try:
            renewed = await self._lease.renew(self._plan.id, self._fence)
        except (RedisError, OSError) as err:
            raise LeaseLost(str(err)) from err
        if not renewed:
            raise LeaseLost(self._plan.id)
