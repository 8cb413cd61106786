"""Automatic settlement: every event that ran is settled once, as version 1, without an
operator's call, once the last meter interval it touches has closed.

The background worker asks each round for ended events that have no settlement yet, so an
event that ended while the gateway was down (or on a replica that crashed) is settled at the
next round anywhere. Replicas may all try the same event: ``SettlementService.settle_first``
stores version 1 once and otherwise returns what is there. Meter data imported later is the
operator's ``recompute`` (a new version), never this.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import exists, or_, select

from gateway.clock import Clock
from gateway.db.engine import Database
from gateway.db.models import EventRow, SettlementRow
from gateway.domain.errors import Conflict, NotFound
from gateway.domain.lifecycle import EventStatus
from gateway.domain.meter import interval_floor
from gateway.services.meter_history import MeterGrid
from gateway.services.settlement import SettlementService, settled_end
from gateway.services.settlement_views import SettlementView

logger = logging.getLogger(__name__)

# The recorder reads an interval's last slot one sample before the interval closes; this
# much more lets a slow write of it land before the settlement reads the interval.
SETTLE_GRACE = timedelta(minutes=1)
# Events settled per round at most: a first start over a long history catches up over rounds.
BATCH = 20


class AutoSettlement:
    def __init__(
        self, settlement: SettlementService, db: Database, clock: Clock, grid: MeterGrid
    ) -> None:
        self._settlement = settlement
        self._db = db
        self._clock = clock
        self._grid = grid
        # Events whose settlement failed for good in this process (logged once, not retried
        # each round; a restart tries them again).
        self._refused: set[str] = set()

    def due_at(self, event: EventRow) -> datetime | None:
        """When an event's settlement is due: the close of the meter interval holding its
        end, plus the grace; None for an event that is not settled."""
        end = settled_end(event)
        if end is None:
            return None
        last = interval_floor(end - timedelta(microseconds=1), self._grid.interval_minutes)
        return last + self._grid.interval + SETTLE_GRACE

    async def settle_due(self) -> list[str]:
        """Settle the ended events due and not settled yet; the ids of those settled."""
        now = self._clock.now()
        settled = []
        for event in await self._unsettled(now):
            due = self.due_at(event)
            if due is None or due > now or event.id in self._refused:
                continue
            try:
                _, created = await self._settlement.settle_first(event.id)
            except (Conflict, NotFound) as err:  # changed under us, or cannot be settled
                self._refused.add(event.id)
                logger.warning("event %s: not settled automatically: %s", event.id, err)
                continue
            if created:
                logger.info("event %s: settled (version 1)", event.id)
                settled.append(event.id)
        return settled

    async def when_due(self, event_id: str) -> SettlementView | None:
        """The event's settlement, made now if it is due and there is none; None before it
        is due. ``Conflict`` for an event that is not settled (it did not run)."""
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
        if due > self._clock.now():
            return None
        view, _ = await self._settlement.settle_first(event_id)
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
            .limit(BATCH + len(self._refused))
        )
        async with self._db.read() as session:
            return list(await session.scalars(query))
