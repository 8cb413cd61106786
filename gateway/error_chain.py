"""The errors one failure carries, walked once each: the one place that follows an exception's
chain, and the one rule of which errors mean a dependency (the database or Redis) is down (the
APIs' 503, the settlement's retry without back-off, the metrics' dependency)."""

from __future__ import annotations

from collections.abc import Iterator

import asyncpg  # type: ignore[import-untyped]
import redis.exceptions as redis_errors
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout


def error_chain(err: BaseException, *, implicit: bool) -> Iterator[BaseException]:
    """``err``, then what it was raised from (``__cause__``) and the driver error a SQLAlchemy
    or emulated DBAPI error wraps (``orig``); with ``implicit``, also the error being handled
    when it was raised (``__context__``). Each error once, so a cycle ends."""
    seen: set[int] = set()
    pending: list[BaseException] = [err]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        links = [getattr(current, "orig", None), current.__cause__]
        if implicit:
            links.append(current.__context__)
        pending.extend(linked for linked in links if isinstance(linked, BaseException))


# Errors that say a server is down, unreachable or refusing work for now, never a bug.
_DOWN: tuple[type[BaseException], ...] = (
    OSError,  # refused, reset, unreachable; TimeoutError is one too
    PoolTimeout,  # every pooled connection busy for pool_timeout: overloaded
    asyncpg.PostgresConnectionError,  # class 08, and "connection does not exist"
    asyncpg.CannotConnectNowError,  # starting up or shutting down
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.TooManyConnectionsError,
    redis_errors.ConnectionError,  # includes loading, auth and too many connections
    redis_errors.TimeoutError,
    redis_errors.OutOfMemoryError,
    redis_errors.ReadOnlyError,  # a replica after a failover
    redis_errors.TryAgainError,
    redis_errors.ClusterDownError,
)
# Local file trouble is OSError too, but it is not a dependency being down.
_NOT_DOWN: tuple[type[BaseException], ...] = (
    FileNotFoundError,
    FileExistsError,
    IsADirectoryError,
    NotADirectoryError,
    PermissionError,
)


def is_unavailable(err: BaseException) -> bool:
    """Whether ``err`` means that the database or Redis is down or unreachable (HTTP 503).

    Follows the explicit chain (``raise ... from``, and the driver error a SQLAlchemy or
    emulated DBAPI error carries as ``orig``), not the implicit ``__context__``: a bug raised
    while handling a connection error stays a bug.
    """
    return any(_means_down(current) for current in error_chain(err, implicit=False))


def _means_down(err: BaseException) -> bool:
    if isinstance(err, OperationalError):
        return True
    if isinstance(err, DBAPIError) and err.connection_invalidated:
        return True
    return isinstance(err, _DOWN) and not isinstance(err, _NOT_DOWN)
