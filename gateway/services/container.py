"""The services of one running gateway, as wired by the composition root (``gateway.app``)."""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis

from gateway.bus.outbox import OutboxPublisher
from gateway.clock import Clock
from gateway.db.engine import Database
from gateway.services.analytics import AnalyticsService
from gateway.services.auto_response import AutoResponseService
from gateway.services.devices import DeviceService
from gateway.services.events import EventService
from gateway.services.flexibility import FlexibilityService
from gateway.services.invitations import InvitationService
from gateway.services.meter_history import MeterHistoryService
from gateway.services.programs import ProgramService
from gateway.services.settlement import SettlementService
from gateway.services.ven_facing.service import VenFacing
from gateway.services.vens import VenService
from gateway.settings import Settings


@dataclass(frozen=True)
class Services:
    settings: Settings
    clock: Clock
    db: Database
    redis: Redis
    publisher: OutboxPublisher
    devices: DeviceService
    invitations: InvitationService
    events: EventService
    auto_response: AutoResponseService
    flexibility: FlexibilityService
    analytics: AnalyticsService
    vens: VenService
    programs: ProgramService
    ven_facing: VenFacing
    meter_history: MeterHistoryService
    settlement: SettlementService
