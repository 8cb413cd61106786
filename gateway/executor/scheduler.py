"""Finds events to run, takes each one's lease, and starts its run; marks missed events."""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import timedelta

from redis.asyncio import Redis
from redis.exceptions import RedisError

from gateway.bus.power import RedisPowerReader
from gateway.domain.lifecycle import EventStatus
from gateway.executor import store
from gateway.executor.lease import EventLease
from gateway.executor.run import EventRun, ExecutorConfig
from gateway.executor.store import EventPlan
from gateway.services.context import ServiceContext

logger = logging.getLogger(__name__)


class Executor:
    def __init__(
        self,
        ctx: ServiceContext,
        power: RedisPowerReader,
        redis: Redis,
        prefix: str,
        config: ExecutorConfig,
        owner: str | None = None,
    ) -> None:
        self._ctx = ctx
        self._power = power
        self._redis = redis
        self._prefix = prefix
        self._config = config
        self.owner = owner or uuid.uuid4().hex[:12]
        # A dead holder's lease lapses after 1.5 cadences; the poll below finds it within 0.5.
        self._lease = EventLease(redis, prefix, self.owner, 1.5 * config.cadence_seconds)
        self._poll = min(1.0, config.cadence_seconds / 2)
        self.runs: dict[str, asyncio.Task[None]] = {}

    async def run(self) -> None:
        logger.info("executor %s running (cadence %ss)", self.owner, self._config.cadence_seconds)
        while True:
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("executor round failed; retrying")
            await self._ctx.clock.sleep(self._poll)

    async def tick(self) -> None:
        now = self._ctx.clock.now()
        horizon = now + self._config.baseline_window + timedelta(seconds=2 * self._poll)
        for plan in await store.open_events(self._ctx.db, horizon):
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
            run = EventRun(
                self._ctx, self._power, self._redis, self._lease, self._config,
                self._prefix, plan, fence,
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

    async def stop(self, task: asyncio.Task[None], grace_seconds: float = 5.0) -> None:
        """Stop ``task`` (running ``run``) and this executor's event runs.

        Cancelling it in the middle of a database call has been seen to leave it waiting on
        a future nobody completes (SQLAlchemy shields connection clean-up from cancellation),
        so shutdown waits a bounded time instead of forever; the runs' state is in the
        database either way."""
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=grace_seconds)
        if not done:
            logger.warning("executor %s did not stop within %.0f s", self.owner, grace_seconds)
        await asyncio.wait_for(self.close(), grace_seconds * 2)

    async def close(self) -> None:
        for task in self.runs.values():
            task.cancel()
        if self.runs:
            await asyncio.wait(self.runs.values(), timeout=5.0)
        self.runs.clear()
