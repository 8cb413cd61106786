"""No accepted change loses its dr_events message: with Redis down, messages wait in the outbox."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from redis.asyncio import Redis
from sqlalchemy import func, select

from gateway.bus.outbox import OutboxPublisher
from gateway.db.models import OutboxRow
from gateway.services.container import Services
from gateway.settings import Settings
from tests.conftest import REDIS_URL
from tests.faults.tcp_proxy import TcpProxy
from tests.support import Api, ChannelRecorder


@pytest.fixture
async def redis_proxy() -> AsyncIterator[TcpProxy]:
    """The gateway reaches Redis through this proxy; a test stops it: Redis is "down"."""
    proxy = TcpProxy(urlsplit(REDIS_URL).port or 6379)
    await proxy.start()
    yield proxy
    await proxy.stop()


@pytest.fixture
def settings_overrides(redis_proxy: TcpProxy) -> dict[str, Any]:
    return {"redis_url": f"redis://127.0.0.1:{redis_proxy.port}/0"}


async def _queued(services: Services) -> int:
    async with services.db.read() as session:
        return int(await session.scalar(select(func.count()).select_from(OutboxRow)) or 0)


async def test_changes_are_accepted_and_announced_once_redis_is_back(
    api: Api,
    services: Services,
    redis: Redis,
    settings: Settings,
    dr_events: ChannelRecorder,
    redis_proxy: TcpProxy,
) -> None:
    await redis_proxy.stop()  # the gateway started with Redis; now Redis goes away
    health = await api.get("/health", status=503)
    assert health["status"] == "degraded"
    assert health["database"]["ok"] is True
    assert health["redis"]["ok"] is False

    await api.device("dev-1")
    inv = await api.invite(["dev-1"])
    assert (await api.get(f"/api/invitations/{inv['id']}"))["status"] == "pending"
    assert await _queued(services) == 2
    assert dr_events.messages == []

    # Redis is back (here: a publisher on the same database that reaches the real Redis).
    assert await OutboxPublisher(services.db, redis).flush() == 2
    await dr_events.wait_for(lambda ms: len(ms) == 2)
    assert [m["event"] for m in dr_events.messages] == ["device_registered", "invitation_created"]
    assert await _queued(services) == 0
