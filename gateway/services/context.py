"""What every service shares: the database, the clock and the dr_events outbox."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from gateway.bus.outbox import OutboxPublisher, stage_message
from gateway.clock import Clock
from gateway.db.engine import Database


@dataclass(frozen=True)
class ServiceContext:
    db: Database
    clock: Clock
    dr_events_channel: str
    publisher: OutboxPublisher

    def announce(self, session: AsyncSession, event: str, **fields: Any) -> None:
        """Stage a dr_events message in ``session``'s transaction."""
        stage_message(session, self.dr_events_channel, event, self.clock.now(), **fields)
