"""Start-up checks that fail in one line: the setting, its address (passwords masked), why."""

from __future__ import annotations

import asyncio
import logging

from redis.asyncio import Redis
from sqlalchemy.exc import SQLAlchemyError

from gateway.db import migrate
from gateway.db.engine import Database

logger = logging.getLogger(__name__)

# A dependency that does not answer within this long at start-up is reported as down.
CONNECT_SECONDS = 10.0


class StartupError(Exception):
    """The gateway cannot start: ``setting`` (at ``address``) is the reason."""

    def __init__(self, setting: str, address: str, reason: str) -> None:
        super().__init__(f"{setting} {address}: {reason}")
        self.setting = setting
        self.address = address
        self.reason = reason


def reason(err: BaseException) -> str:
    """The first line of what went wrong, without the driver's traceback or SQL."""
    cause: BaseException = err
    if isinstance(err, SQLAlchemyError) and err.__cause__ is not None:
        cause = err.__cause__
    orig = getattr(err, "orig", None)
    if isinstance(orig, BaseException):
        cause = orig
    if isinstance(cause, TimeoutError):
        return f"no answer within {CONNECT_SECONDS:.0f} s"
    text = str(cause).strip() or type(cause).__name__
    if isinstance(cause, OSError) and cause.strerror:
        text = cause.strerror.lower()
    first = text.splitlines()[0]
    return first[:300]


async def upgrade_database(db: Database) -> None:
    """Apply the migrations, or raise a ``StartupError`` naming ``database_url``."""
    try:
        async with asyncio.timeout(CONNECT_SECONDS):
            await migrate.upgrade(db)
    except Exception as err:  # whatever the driver raises: the one line says which setting
        logger.debug("database start-up failed", exc_info=True)
        raise StartupError("database_url", db.describe(), reason(err)) from err


async def check_redis(client: Redis, description: str) -> None:
    """Ping Redis, or raise a ``StartupError`` naming ``redis_url``."""
    try:
        async with asyncio.timeout(CONNECT_SECONDS):
            await client.ping()
    except Exception as err:
        logger.debug("Redis start-up failed", exc_info=True)
        raise StartupError("redis_url", description, reason(err)) from err
