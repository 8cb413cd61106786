"""A TCP proxy on 127.0.0.1 that a test can cut and restore: a database outage on demand.

``stop()`` closes the listening socket (new connections are refused) and aborts every
connection it carries (the gateway's pooled connections die mid-stream, as when a server or
a network goes away). ``start()`` listens again on the same port. ``blackhole()`` is the
nastier outage: connections are accepted but nothing is forwarded either way, so only the
client's own timeouts end a wait.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket

_CHUNK = 64 * 1024


class TcpProxy:
    def __init__(self, target_port: int, target_host: str = "127.0.0.1") -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self.accepted = 0  # connections accepted so far, across restarts
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._forwarding = asyncio.Event()
        self._forwarding.set()

    async def start(self) -> None:
        """Listen (again) on the proxy's port: the first start picks a free one."""
        if self._server is not None:
            return
        self._forwarding.set()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        # The same port again at once, although the cut connections sit in TIME_WAIT.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        self.port = sock.getsockname()[1]
        self._server = await asyncio.start_server(self._serve, sock=sock)

    async def stop(self) -> None:
        """Refuse new connections and cut the open ones."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
        self._cut()
        if server is not None:
            await server.wait_closed()
        await self._drain_tasks()

    def blackhole(self) -> None:
        """Keep accepting and keep connections open, but forward nothing (a hung server)."""
        self._forwarding.clear()

    def _cut(self) -> None:
        for writer in list(self._writers):
            transport = writer.transport
            # abort(): no FIN handshake, the peer sees a reset as after a crash.
            transport.abort()
        self._writers.clear()

    async def _drain_tasks(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=5)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # The relay is a task of its own that stop() may cancel: asyncio (3.11) logs an error
        # when the connection callback task itself ends cancelled.
        self.accepted += 1
        self._writers.add(writer)
        relay = asyncio.create_task(self._relay(reader, writer))
        self._tasks.add(relay)
        try:
            await asyncio.wait({relay})
        finally:
            self._tasks.discard(relay)
            self._writers.discard(writer)
            writer.transport.abort()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream: asyncio.StreamWriter | None = None
        try:
            up_reader, upstream = await asyncio.open_connection(*self.target)
            self._writers.add(upstream)
            await asyncio.gather(self._pipe(reader, upstream), self._pipe(up_reader, writer))
        except OSError:
            pass  # a cut: either side reset
        finally:
            if upstream is not None:
                self._writers.discard(upstream)
                upstream.transport.abort()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(_CHUNK):
            await self._forwarding.wait()
            writer.write(data)
            await writer.drain()
        with contextlib.suppress(OSError):
            writer.write_eof()
