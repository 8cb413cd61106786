"""A gateway per test on the real clock, its own SQLite file and Redis prefix, with push
retries fast enough to watch; the push-mode VENs are aiohttp servers of the test's own."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from redis.asyncio import Redis

from gateway.app import build_app
from gateway.settings import Settings
from tests.oadr20b.ven import RawVens, raw_vens
from tests.push.ven import PushVen
from tests.support import ADMIN_TOKEN, Api, JumpingClock

REDIS_URL = os.environ.get("GATEWAY_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
VTN_PATH = "/OpenADR2/Simple/2.0b"
FAST_RETRIES = {
    "vtn_push_retry_min_seconds": 0.05,
    "vtn_push_retry_max_seconds": 0.2,
    "vtn_push_sweep_seconds": 0.5,
}


@dataclass
class PushSite:
    api: Api
    vens: RawVens
    client: TestClient[Any, Any]
    settings: Settings
    pushing: list[PushVen]
    clock: JumpingClock

    async def push_ven(
        self, devices: int = 1, *, register: bool = True, metadata: bool = True, **options: Any
    ) -> tuple[PushVen, list[str]]:
        """A provisioned VEN with ``devices`` devices, its server started, registered in push
        mode (unless not ``register``) having taken the VTN's METADATA (unless not
        ``metadata``: its server is not where the VTN pushes); and its device ids."""
        name = f"push-{uuid.uuid4().hex[:8]}"
        await self.api.post("/api/vens", {"name": name, "ven_id": name}, status=201)
        device_ids = [f"{name}-d{n}" for n in range(devices)]
        for device_id in device_ids:
            await self.api.device(device_id, ven_id=name, resource_id=f"{device_id}-r")
        ven = PushVen(self.vens(name, ven_id=name), **options)
        await ven.start()
        self.pushing.append(ven)
        if register:
            answer = await ven.register(metadata=metadata)
            assert answer.code == 200, answer.description
        return ven, device_ids


def push_settings(root: Path, prefix: str, database_url: str, **extra: Any) -> Settings:
    values: dict[str, Any] = {
        "data_dir": root / "data",
        "database_url": database_url,
        "redis_url": REDIS_URL,
        "redis_prefix": prefix,
        "admin_token": ADMIN_TOKEN,
        "flexibility_snapshot_interval_seconds": 0,
        **FAST_RETRIES,
        **extra,
    }
    return Settings(**values)


@asynccontextmanager
async def running_gateway(
    settings: Settings, clock: JumpingClock | None = None
) -> AsyncIterator[TestClient[Any, Any]]:
    app = build_app(settings, admin_token=ADMIN_TOKEN, clock=clock, run_workers=True)
    client: TestClient[Any, Any] = TestClient(TestServer(app))
    await client.start_server()
    try:
        yield client
    finally:
        await client.close()


async def drop_prefix(prefix: str) -> None:
    redis = Redis.from_url(REDIS_URL)
    keys = [key async for key in redis.scan_iter(match=f"{prefix}*")]
    if keys:
        await redis.delete(*keys)
    await redis.aclose()


SiteFactory = Callable[..., Awaitable[PushSite]]


@pytest.fixture
def push_overrides() -> dict[str, Any]:
    """Settings a test changes (``pytest.mark.parametrize("push_overrides", [...])``)."""
    return {}


@pytest.fixture
async def push_site(tmp_path: Path, push_overrides: dict[str, Any]) -> AsyncIterator[PushSite]:
    prefix = f"test:push:{uuid.uuid4().hex[:12]}:"
    database = f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}"
    settings = push_settings(tmp_path, prefix, database, **push_overrides)
    pushing: list[PushVen] = []
    clock = JumpingClock()
    try:
        async with (
            running_gateway(settings, clock) as client,
            raw_vens(str(client.make_url(VTN_PATH)), clock.now) as vens,
        ):
            yield PushSite(Api(client), vens, client, settings, pushing, clock)
    finally:
        for ven in pushing:
            await ven.stop()
        await drop_prefix(prefix)
