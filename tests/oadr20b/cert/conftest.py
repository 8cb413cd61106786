"""One gateway per test module, on its own SQLite file, Redis prefix and moved-by-hand clock,
driven only over HTTP (its admin API and its VTN)."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer
from redis.asyncio import Redis

from gateway.app import build_app
from gateway.settings import Settings
from tests.oadr20b.cert.site import CertGateway
from tests.oadr20b.ven import raw_vens
from tests.support import ADMIN_TOKEN, Api, MutableClock

REDIS_URL = os.environ.get("GATEWAY_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
VTN_PATH = "/OpenADR2/Simple/2.0b"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def gateway(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[CertGateway]:
    root = tmp_path_factory.mktemp("cert")
    prefix = f"test:cert:{uuid.uuid4().hex[:12]}:"
    settings = Settings(
        data_dir=root / "data",
        database_url=f"sqlite+aiosqlite:///{root / 'gateway.db'}",
        redis_url=REDIS_URL,
        redis_prefix=prefix,
        admin_token=ADMIN_TOKEN,
        flexibility_snapshot_interval_seconds=0,
    )
    clock = MutableClock()
    app = build_app(settings, admin_token=ADMIN_TOKEN, clock=clock, run_workers=False)
    client: TestClient[Any, Any] = TestClient(TestServer(app))
    await client.start_server()
    try:
        async with raw_vens(str(client.make_url(VTN_PATH)), clock.now) as vens:
            yield CertGateway(Api(client), clock, vens)
    finally:
        await client.close()
        redis = Redis.from_url(REDIS_URL)
        keys = [key async for key in redis.scan_iter(match=f"{prefix}*")]
        if keys:
            await redis.delete(*keys)
        await redis.aclose()
