"""The upstream VEN built from settings and services: its store, power reader, lease, link to
the utility's VTN and the settlement values its final reports carry."""

from __future__ import annotations

import uuid
from datetime import timedelta

from gateway.bus.power import RedisPowerReader
from gateway.executor.lease import EventLease
from gateway.services.container import Services
from gateway.services.settlement_auto import AutoSettlement
from gateway.settings import UpstreamSettings
from gateway.upstream.connection import LEASE_SECONDS
from gateway.upstream.port import VtnLink
from gateway.upstream.runner import UpstreamRunner
from gateway.upstream.settlement import settlement_source
from gateway.upstream.store import UpstreamStore


def build_upstream(config: UpstreamSettings, services: Services) -> UpstreamRunner:
    settings = services.settings
    auto = AutoSettlement(
        services.settlement, services.db, services.clock, services.meter_history.grid
    )
    return UpstreamRunner(
        config,
        services,
        store=UpstreamStore(services.db),
        power=RedisPowerReader(
            services.redis,
            settings.redis_prefix,
            timedelta(seconds=settings.power_max_age_seconds),
        ),
        lease=EventLease(
            services.redis,
            settings.redis_prefix,
            uuid.uuid4().hex,
            LEASE_SECONDS,
            kind="upstream",
        ),
        link=VtnLink(config),
        settlement=settlement_source(auto),
    )
