"""What every service shares: the database, the clock and the dr_events outbox."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from gateway.bus.outbox import OutboxPublisher, stage_message
from gateway.clock import Clock
from gateway.db.engine import Database
from gateway.services.ven_facing.changes import VenChange


@dataclass(frozen=True)
class ServiceContext:
    db: Database
    clock: Clock
    dr_events_channel: str
    publisher: OutboxPublisher
    changes_channel: str  # the VEN change feed (``ven_facing.changes``)

    def announce(
        self,
        session: AsyncSession,
        event: str,
        *,
        change: VenChange | None = None,
        **fields: Any,
    ) -> None:
        """Stage a dr_events message in ``session``'s transaction, with the change it makes to
        what VENs must know, if any."""
        companion = None if change is None else (self.changes_channel, change.to_json())
        stage_message(
            session, self.dr_events_channel, event, self.clock.now(), companion=companion, **fields
        )
