"""Finds events to run, takes each one's lease, and starts its run; marks missed events.

``stop`` ends the loop and the runs between two of their steps (``shutdown``), within a bound.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from redis.asyncio import Redis
from redis.exceptions import RedisError

from gateway.bus.power import RedisPowerReader
from gateway.domain.lifecycle import EventStatus
from gateway.executor import store
from gateway.executor.lease import EventLease
from gateway.executor.run import EventRun, ExecutorConfig
from gateway.executor.store import EventPlan
from gateway.observability.metrics import GatewayMetrics
from gateway.services.context import ServiceContext
from gateway.supervisor import end_tasks, pause

logger = logging.getLogger(__name__)

# Shutdown: the loop and the runs get this long to end their current step by themselves...
STOP_GRACE_SECONDS = 2.0
# ...then what is left is cancelled, and waited for at most this long: 3 s in all.
STOP_CANCEL_SECONDS = 1.0


class Executor:
    def __init__(
        self,
        ctx: ServiceContext,
        power: RedisPowerReader,
        redis: Redis,
        prefix: str,
        config: ExecutorConfig,
        lease: EventLease,
        owner: str,
        metrics: GatewayMetrics | None = None,
    ) -> None:
        self._metrics = metrics
        self._ctx = ctx
        self._power = power
        self._redis = redis
        self._prefix = prefix
        self._config = config
        self.owner = owner
        self._lease = lease  # lapses after 1.5 cadences: the poll below finds it within 0.5
        self._poll = min(1.0, config.cadence_seconds / 2)
        self._stopping = asyncio.Event()
        self.runs: dict[str, asyncio.Task[None]] = {}

    async def run(self) -> None:
        """Poll for events until ``stop``: each round ends before the flag is looked at."""
        logger.info("executor %s running (cadence %ss)", self.owner, self._config.cadence_seconds)
        while not self._stopping.is_set():
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("executor round failed; retrying")
            await pause(self._stopping, self._poll, self._ctx.clock.sleep)
        logger.info("executor %s stopped taking events", self.owner)

    async def tick(self) -> None:
        now = self._ctx.clock.now()
        horizon = now + self._config.baseline_window + timedelta(seconds=2 * self._poll)
        for plan in await store.open_events(self._ctx.db, horizon):
            if self._stopping.is_set():
                break
            running = self.runs.get(plan.id)
            if running is not None and not running.done():
                continue
            if plan.status is EventStatus.SCHEDULED and plan.end_time <= now:
                if await store.mark_missed(self._ctx, plan.id):
                    logger.warning("event %s missed: its whole window passed", plan.id)
                    await self._ctx.publisher.flush()
                continue
            try:
                fence = await self._take(plan)
            except (RedisError, OSError) as err:
                logger.warning("executor cannot take leases: %s", err)
                return
            if fence is None:
                continue  # another replica runs it
            if self._stopping.is_set():  # stopped while taking it: the next holder runs it
                await self._lease.release(plan.id, fence)
                break
            run = EventRun(
                self._ctx, self._power, self._redis, self._lease, self._config,
                self._prefix, plan, fence, self._stopping, self._metrics,
            )  # fmt: skip
            self.runs[plan.id] = asyncio.create_task(run.run(), name=f"event-{plan.id}")
        for event_id in [e for e, t in self.runs.items() if t.done()]:
            self.runs.pop(event_id)

    async def _take(self, plan: EventPlan) -> int | None:
        """The lease and the database's ownership of ``plan``: the run's fence, or None.

        The database is the fencing authority. Redis may have lost its counter (restarted
        empty, flushed) and hand out small tokens: the token asked for exceeds the fence the
        plan read, and if the database holds a newer one still (another replica claimed in
        between) it says which, and the next try goes past that."""
        floor = plan.fence
        for _ in range(2):
            fence = await self._lease.acquire(plan.id, floor)
            if fence is None:
                return None
            if await store.claim(self._ctx.db, plan.id, fence):
                return fence
            await self._lease.release(plan.id, fence)
            stored = await store.fence_of(self._ctx.db, plan.id)
            if stored is None:
                return None
            floor = max(floor, stored)
        return None

    async def stop(
        self,
        task: asyncio.Task[None],
        grace_seconds: float = STOP_GRACE_SECONDS,
        cancel_seconds: float = STOP_CANCEL_SECONDS,
    ) -> None:
        """Stop ``task`` (running ``run``) and this executor's event runs, within
        ``grace_seconds + cancel_seconds``.

        The stop flag ends the loop and each run at the end of its current step; each run
        releases its lease, so another replica (or the next start) resumes it at once. Only
        what is still running after the grace period is cancelled: cancelling in the middle
        of a database call has been seen to leave a task waiting on a future nobody completes
        (SQLAlchemy shields connection clean-up from cancellation), so what does not end even
        then is left behind, logged; the runs' state is in the database either way."""
        self._stopping.set()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace_seconds
        # The loop first: once it has ended no new run can start.
        await asyncio.wait({task}, timeout=grace_seconds)
        tasks = {task, *self.runs.values()}
        stuck = await end_tasks(tasks, max(deadline - loop.time(), 0.0), cancel_seconds)
        if stuck:
            logger.warning(
                "executor %s: still running after %.1f s, left behind: %s",
                self.owner, grace_seconds + cancel_seconds,
                ", ".join(sorted(t.get_name() for t in stuck)),
            )  # fmt: skip
        self.runs.clear()

    async def close(self) -> None:
        """Stop the event runs of an executor driven by ``tick`` (no loop task), bounded."""
        self._stopping.set()
        await end_tasks(set(self.runs.values()), STOP_GRACE_SECONDS, STOP_CANCEL_SECONDS)
        self.runs.clear()
