"""Engines and sessions. SQLite is tuned so concurrent writers queue instead of failing;
PostgreSQL is tuned so an outage fails requests within seconds and the pool recovers after it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

logger = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_SECONDS = 30
# A connection attempt that gets no answer fails after this long (asyncpg waits 60 s).
PG_CONNECT_TIMEOUT_SECONDS = 4.0
# A pooled connection must answer a ping this fast before it is handed out, else it is
# dropped and a new one is made: a server that stopped answering costs a request at most
# ping + connect timeouts. A healthy server answers in well under a millisecond; a ping slow
# for any other reason costs a reconnect, not an error.
PG_PING_TIMEOUT_SECONDS = 1.0
_FRESH = "gateway_fresh"  # connection_record.info key: connected, not yet handed out


def _sqlite_engine(url: URL, *, immediate: bool) -> AsyncEngine:
    engine = create_async_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS})

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event issue BEGIN itself (pysqlite would defer it).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        # A write transaction takes the write lock up front, so the read-then-write in it sees
        # every committed answer: two "last" answers can never both miss each other.
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def _postgres_engine(url: URL) -> AsyncEngine:
    # Values in the URL's query (``?timeout=…``) win over these defaults.
    defaults = {"timeout": PG_CONNECT_TIMEOUT_SECONDS}
    connect_args = {k: v for k, v in defaults.items() if k not in url.query}
    engine = create_async_engine(url, pool_size=10, max_overflow=20, connect_args=connect_args)

    @event.listens_for(engine.sync_engine, "do_connect")
    def _connect(dialect: Any, _record: Any, cargs: Any, cparams: Any) -> Any:
        # asyncpg raises a refused, reset or timed-out connect as a bare OSError, which
        # SQLAlchemy lets through unwrapped: code that handles database errors (the executor,
        # the outbox) would not see it as one. Made a DBAPI OperationalError, it arrives as
        # sqlalchemy.exc.OperationalError like every other outage.
        try:
            return dialect.loaded_dbapi.connect(*cargs, **cparams)
        except OSError as err:
            message = f"cannot connect to PostgreSQL: {type(err).__name__}: {err}"
            raise dialect.loaded_dbapi.OperationalError(message, err) from err

    @event.listens_for(engine.sync_engine, "connect")
    def _connected(_dbapi_connection: Any, record: Any) -> None:
        record.info[_FRESH] = True  # cleared with the record's info when it is invalidated

    @event.listens_for(engine.sync_engine, "checkout")
    def _ping(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        # Instead of pool_pre_ping, whose ping has no timeout of its own: a pooled connection
        # to a server that hangs would hold the request until TCP gives up. One round trip,
        # no prepared statement (so it suits pgbouncer too). A connection just made has
        # proved itself; pinging it too could, should the ping fail again, exhaust the
        # pool's retry and surface as "This connection is closed" instead of the outage.
        if record.info.pop(_FRESH, False):
            return
        try:
            dbapi_connection.run_async(
                lambda conn: asyncio.wait_for(conn.execute("SELECT 1"), PG_PING_TIMEOUT_SECONDS)
            )
        except Exception as err:
            # Dead to us: abort it now rather than let the pool close it politely, which
            # would wait on the same silent server.
            dbapi_connection.driver_connection.terminate()
            # The pool drops this connection and hands out a new one (or the connect error).
            raise DisconnectionError(f"a pooled connection failed its ping: {err!r}") from err

    return engine


class Database:
    """The database: ``write()`` for transactions that change data, ``read()`` for queries."""

    def __init__(self, url: str) -> None:
        self.url = make_url(url)
        if self.is_sqlite:
            if self.url.database and self.url.database != ":memory:":
                Path(self.url.database).parent.mkdir(parents=True, exist_ok=True)
            self.engine = _sqlite_engine(self.url, immediate=True)
            self.read_engine = _sqlite_engine(self.url, immediate=False)
        else:
            self.engine = _postgres_engine(self.url)
            self.read_engine = self.engine
        self._write = async_sessionmaker(self.engine, expire_on_commit=False)
        self._read = async_sessionmaker(self.read_engine, expire_on_commit=False)

    @property
    def is_sqlite(self) -> bool:
        return self.url.get_backend_name() == "sqlite"

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """A transaction: committed when the block ends, rolled back if it raises."""
        async with self._write() as session, session.begin():
            yield session

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        async with self._read() as session, session.begin():
            yield session

    async def ping(self) -> None:
        async with self.read_engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()
        if self.read_engine is not self.engine:
            await self.read_engine.dispose()

    def describe(self) -> str:
        return self.url.render_as_string(hide_password=True)
