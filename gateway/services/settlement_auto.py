"""Automatic settlement: every event that ran is settled once, as version 1, without an
operator's call, once the last meter interval it touches has closed.

The background worker asks each round for ended events that have no settlement yet, so an
event that ended while the gateway was down (or on a replica that crashed) is settled at the
next round anywhere. Replicas may all try the same event: ``SettlementService.settle_first``
stores version 1 once and otherwise returns what is there. Meter data imported after version
1 is the operator's ``recompute`` (a new version), never this.

A try that fails is tried again without a restart (``services.settlement_retry``): after a
database or Redis outage within a minute, after a refusal (no meter data in the event yet,
say) after 1 minute, then 2, 4, ... at most an hour apart. The worker holds version 1 back
while no device of the event has a measured interval in it, for at most ``DATA_WAIT`` after
it is due; after that it settles on what there is.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

from sqlalchemy import exists, or_, select

from gateway.clock import Clock
from gateway.db.engine import Database
from gateway.db.models import EventRow, SettlementRow
from gateway.domain.errors import Conflict, GatewayError, NotFound
from gateway.domain.lifecycle import EventStatus
from gateway.domain.meter import interval_floor
from gateway.error_chain import is_unavailable
from gateway.services.meter_history import MeterGrid
from gateway.services.settlement import SettlementService, settled_end
from gateway.services.settlement_retry import Failure
from gateway.services.settlement_views import SettlementView

logger = logging.getLogger(__name__)

# The recorder reads an interval's last slot one sample before the interval closes; this
# much more lets a slow write of it land before the settlement reads the interval.
SETTLE_GRACE = timedelta(minutes=1)
# Events settled per round at most: a first start over a long history catches up over rounds.
BATCH = 20
# How long after it is due the worker waits for meter data in an event before it settles
# version 1 on none (every interval missing).
DATA_WAIT = timedelta(days=1)


def waits_for_data(due: datetime, now: datetime) -> bool:
    """Whether version 1, due at ``due``, is still held back while no device has a measured
    interval in the event (after ``DATA_WAIT`` it is made on what there is)."""
    return now < due + DATA_WAIT


class AutoSettlement:
    def __init__(
        self, settlement: SettlementService, db: Database, clock: Clock, grid: MeterGrid
    ) -> None:
        self._settlement = settlement
        self._db = db
        self._clock = clock
        self._grid = grid
        self._retries = settlement.retries  # shared with the API, which shows them
        self._down = False  # the last round could not list the events (an outage)

    def due_at(self, event: EventRow) -> datetime | None:
        """When an event's settlement is due: the close of the meter interval holding its
        end, plus the grace; None for an event that is not settled."""
        end = settled_end(event)
        if end is None:
            return None
        last = interval_floor(end - timedelta(microseconds=1), self._grid.interval_minutes)
        return last + self._grid.interval + SETTLE_GRACE

    async def settle_due(self) -> list[str]:
        """Settle the ended events due and not settled yet; the ids of those settled. An
        event whose last try failed waits for its next try; one failing never stops the
        others."""
        now = self._clock.now()
        try:
            events = await self._unsettled(now)
        except Exception as err:
            if not is_unavailable(err):
                raise
            if not self._down:  # once per outage, not each round
                logger.warning("settlement: the database is unavailable (%s); retrying", err)
            self._down = True
            return []
        if self._down:
            logger.info("settlement: the database is back")
            self._down = False
        if len(events) < BATCH + len(self._retries):
            self._retries.keep_only({e.id for e in events})  # the others need no retry
        settled = []
        for event in events:
            due = self.due_at(event)
            if due is None or due > now or not self._retries.may_try(event.id, now):
                continue
            if await self._try(event.id, now, measured_only=waits_for_data(due, now)):
                settled.append(event.id)
        return settled

    async def _try(self, event_id: str, now: datetime, *, measured_only: bool) -> bool:
        try:
            _, created = await self._settlement.settle_first(event_id, measured_only=measured_only)
        except asyncio.CancelledError:
            raise
        except Exception as err:
            self._failed(event_id, err, now)
            return False
        before = self._retries.settled(event_id)
        if created:
            after = "" if before is None else f" after {before.failures} failed tries"
            logger.info("event %s: settled (version 1)%s", event_id, after)
        return created

    def _failed(self, event_id: str, err: Exception, now: datetime) -> Failure:
        transient = is_unavailable(err)
        if isinstance(err, GatewayError):
            reason = err.message
        elif transient:
            reason = f"database or Redis unavailable: {type(err).__name__}: {err}"
        else:
            reason = f"{type(err).__name__}: {err}"
        failure, news = self._retries.failed(event_id, reason, transient=transient, now=now)
        if news:
            logger.warning(
                "event %s: not settled automatically (%s, try %d): %s; next try at %s",
                event_id, "transient" if transient else "refused", failure.failures, reason,
                failure.next_try_at.isoformat(),
                exc_info=not transient and not isinstance(err, GatewayError),
            )  # fmt: skip
        return failure

    async def when_due(self, event_id: str) -> SettlementView | None:
        """The event's settlement, made now if it is due and there is none; None before it
        is due. ``Conflict`` for an event that is not settled (it did not run), and
        ``AwaitingMeterData`` (one) while version 1 is held back for meter data, as the worker
        holds it: a caller never makes a version 1 without data that the worker would wait
        for (later data would then need the operator's recompute)."""
        try:
            return await self._settlement.get(event_id)
        except NotFound:
            pass
        async with self._db.read() as session:
            event = await session.get(EventRow, event_id)
        if event is None:
            raise NotFound(f"event {event_id} not found")
        due = self.due_at(event)
        if due is None:
            raise Conflict(f"event {event_id} is {event.status}: it is not settled")
        now = self._clock.now()
        if due > now:
            return None
        view, _ = await self._settlement.settle_first(
            event_id, measured_only=waits_for_data(due, now)
        )
        return view

    async def _unsettled(self, now: datetime) -> list[EventRow]:
        """Ended events without a settlement, the longest ended first: those not due yet
        (ended within the last interval) come last, so they never hold the others back."""
        settled = exists().where(SettlementRow.event_id == EventRow.id)
        query = (
            select(EventRow)
            .where(
                or_(
                    EventRow.status == EventStatus.COMPLETED.value,
                    (EventRow.status == EventStatus.CANCELLED.value)
                    & EventRow.started_at.is_not(None),
                ),
                EventRow.ended_at.is_not(None),
                EventRow.ended_at <= now,
                ~settled,
            )
            .order_by(EventRow.ended_at, EventRow.id)
            .limit(BATCH + len(self._retries))
        )
        async with self._db.read() as session:
            return list(await session.scalars(query))
