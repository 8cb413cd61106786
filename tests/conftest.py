"""Fixtures: a real Redis (own key prefix per test) and a real database (own per test).

SQLite always; PostgreSQL too, on GATEWAY_TEST_POSTGRES_URL when it is set (then it must work),
else on postgresql://postgres@127.0.0.1:5432/test when a server answers there. Each PostgreSQL
test gets a fresh copy of a migrated template database.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis
from sqlalchemy.engine import make_url

from gateway.app import build_app
from gateway.db import migrate
from gateway.db.engine import Database
from gateway.http.handlers import SERVICES
from gateway.services.container import Services
from gateway.settings import Settings
from tests.hang_guard import (  # noqa: F401  (the hooks, registered here)
    pytest_runtest_protocol,
    pytest_timeout_set_timer,
)
from tests.support import ADMIN_TOKEN, Api, ChannelRecorder, MutableClock

REDIS_URL = os.environ.get("GATEWAY_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
_TEMPLATE_DB = f"gw_template_{os.getpid()}"


def _find_postgres() -> str | None:
    configured = os.environ.get("GATEWAY_TEST_POSTGRES_URL")
    if configured:
        return configured

    async def probe() -> bool:
        try:
            conn = await asyncpg.connect(DEFAULT_POSTGRES_URL, timeout=2)
        except (OSError, asyncpg.PostgresError, TimeoutError):
            return False
        await conn.close()
        return True

    return DEFAULT_POSTGRES_URL if asyncio.run(probe()) else None


POSTGRES_URL = _find_postgres()


def _asyncpg_dsn(url: str, database: str) -> str:
    parsed = make_url(url).set(drivername="postgresql", database=database)
    return parsed.render_as_string(hide_password=False)


async def _pg_admin(sql: str) -> None:
    assert POSTGRES_URL is not None
    conn = await asyncpg.connect(
        _asyncpg_dsn(POSTGRES_URL, make_url(POSTGRES_URL).database or "test")
    )
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[str]:
    """A migrated PostgreSQL database that each test copies."""
    if POSTGRES_URL is None:
        pytest.skip("no PostgreSQL: set GATEWAY_TEST_POSTGRES_URL")

    async def create() -> None:
        await _pg_admin(f'DROP DATABASE IF EXISTS "{_TEMPLATE_DB}"')
        await _pg_admin(f'CREATE DATABASE "{_TEMPLATE_DB}"')
        db = Database(_pg_url(_TEMPLATE_DB))
        await migrate.upgrade(db)
        await db.dispose()

    asyncio.run(create())
    yield _TEMPLATE_DB
    asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{_TEMPLATE_DB}" WITH (FORCE)'))


def _pg_url(database: str) -> str:
    assert POSTGRES_URL is not None
    return (
        make_url(POSTGRES_URL)
        .set(drivername="postgresql+asyncpg", database=database)
        .render_as_string(hide_password=False)
    )


@pytest.fixture
async def postgres_url(postgres_template: str) -> AsyncIterator[str]:
    name = f"gw_test_{uuid.uuid4().hex[:12]}"
    await _pg_admin(f'CREATE DATABASE "{name}" TEMPLATE "{postgres_template}"')
    yield _pg_url(name)
    await _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file that each test copies (migrating from scratch at every app's
    start took a second or more per test; under load more than the start-up bound)."""
    path = tmp_path_factory.mktemp("sqlite-template") / "gateway.db"

    async def create() -> None:
        db = Database(f"sqlite+aiosqlite:///{path}")
        await migrate.upgrade(db)
        await db.dispose()

    asyncio.run(create())
    return path


@pytest.fixture
def sqlite_url(tmp_path: Path, sqlite_template: Path) -> str:
    target = tmp_path / "gateway.db"
    for suffix in ("", "-wal", "-shm"):  # a WAL left beside it holds part of the schema
        source = sqlite_template.with_name(sqlite_template.name + suffix)
        if source.exists():
            shutil.copyfile(source, target.with_name(target.name + suffix))
    return f"sqlite+aiosqlite:///{target}"


@pytest.fixture(params=["sqlite", "postgres"])
def any_database_url(request: pytest.FixtureRequest) -> str:
    """Runs the test once on SQLite and once on PostgreSQL (skipped without a server)."""
    return str(request.getfixturevalue(f"{request.param}_url"))


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    return sqlite_url


@pytest.fixture
def redis_prefix() -> str:
    return f"test:{uuid.uuid4().hex[:12]}:"


@pytest.fixture
async def redis(redis_prefix: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(REDIS_URL)
    yield client
    keys = [key async for key in client.scan_iter(match=f"{redis_prefix}*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


@pytest.fixture
def clock() -> MutableClock | None:
    """None: the system clock. Tests that move time override this with a MutableClock."""
    return None


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {}


@pytest.fixture
def settings(
    tmp_path: Path, database_url: str, redis_prefix: str, settings_overrides: dict[str, Any]
) -> Settings:
    values: dict[str, Any] = {
        "data_dir": tmp_path / "data",
        "database_url": database_url,
        "redis_url": REDIS_URL,
        "redis_prefix": redis_prefix,
        "admin_token": ADMIN_TOKEN,
        "flexibility_snapshot_interval_seconds": 0,
    }
    values.update(settings_overrides)
    return Settings(**values)


@pytest.fixture
async def client(
    aiohttp_client: Any, settings: Settings, clock: MutableClock | None, redis: Redis
) -> TestClient[Any, Any]:
    app = build_app(settings, admin_token=ADMIN_TOKEN, clock=clock, run_workers=False)
    return await aiohttp_client(app)  # type: ignore[no-any-return]


@pytest.fixture
def api(client: TestClient[Any, Any]) -> Api:
    return Api(client)


@pytest.fixture
def services(client: TestClient[Any, Any]) -> Services:
    return client.server.app[SERVICES]


@pytest.fixture
async def dr_events(redis: Redis, settings: Settings) -> AsyncIterator[ChannelRecorder]:
    recorder = ChannelRecorder(redis, settings.dr_events_channel)
    await recorder.start()
    yield recorder
    await recorder.stop()
