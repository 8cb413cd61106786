"""``oadr-gateway run --workers N``: N worker processes serving the same ports, supervised.

Each worker is a whole gateway (``oadr-gateway run`` in a child process) that listens on the
admin and VTN ports with ``SO_REUSEPORT``: the kernel spreads new connections across the
workers' sockets. They share their state through the database and Redis already (the VTN's
caches follow the change feed, and the executor's lease runs each event in one process).

The pool itself serves nothing. Before a worker starts it checks that each port is free and
holds it (a socket bound with ``SO_REUSEPORT`` that never listens, so it takes no connection
but keeps other programs off the port), and applies the migrations once (N workers doing it
at the same time would race on a fresh database). A worker that dies is started again a
second later; one that keeps dying within seconds of its start stops the pool (exit 1: it
cannot start, and said why). SIGTERM or SIGINT is passed to every worker, each of which ends
within its own bound; whatever is left at that bound is killed, so the pool ends in time.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import errno
import logging
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import FrameType

from gateway.server import EXIT_FAILED, EXIT_OK, EXIT_SECONDS, ListenError
from gateway.settings import Settings
from gateway.startup import StartupError

logger = logging.getLogger("gateway")

# A worker that ends this soon after its start did not start; so many times in a row and
# the pool gives up.
QUICK_EXIT_SECONDS = 10.0
QUICK_EXITS_TO_GIVE_UP = 3
RESTART_DELAY_SECONDS = 1.0
# Workers end within EXIT_SECONDS of the signal; the pool kills any left a little after.
KILL_AFTER_SECONDS = EXIT_SECONDS + 0.3
TICK_SECONDS = 0.05
PR_SET_PDEATHSIG = 1


@dataclass
class _Slot:
    index: int
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    quick_exits: int = 0
    restart_at: float | None = None


@dataclass
class _Pool:
    command: Sequence[str]
    slots: list[_Slot]
    stopping_since: float | None = None
    exit_code: int = EXIT_OK
    held: list[socket.socket] = field(default_factory=list)

    def start(self, slot: _Slot) -> None:
        slot.process = subprocess.Popen(
            [*self.command, "--worker-index", str(slot.index)],
            preexec_fn=_die_with_parent,  # safe here: the pool runs no threads
        )
        slot.started_at, slot.restart_at = time.monotonic(), None
        logger.info("worker %d started: pid %d", slot.index, slot.process.pid)

    def stop(self, why: str, exit_code: int = EXIT_OK) -> None:
        if self.stopping_since is not None:
            return
        logger.info("stopping %d workers: %s", len(self.slots), why)
        self.stopping_since = time.monotonic()
        self.exit_code = exit_code
        for slot in self.slots:
            if slot.process is not None and slot.process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    slot.process.send_signal(signal.SIGTERM)

    def tend(self, slot: _Slot, now: float) -> None:
        """Restart the slot's worker if it died (unless the pool stops)."""
        process = slot.process
        if process is None:
            if slot.restart_at is not None and now >= slot.restart_at:
                self.start(slot)
            return
        code = process.poll()
        if code is None:
            return
        slot.process = None
        if self.stopping_since is not None:
            return
        uptime = now - slot.started_at
        slot.quick_exits = slot.quick_exits + 1 if uptime < QUICK_EXIT_SECONDS else 0
        logger.error(
            "worker %d (pid %d) ended with code %d after %.1f s", slot.index, process.pid,
            code, uptime,
        )  # fmt: skip
        if slot.quick_exits >= QUICK_EXITS_TO_GIVE_UP:
            self.stop(f"worker {slot.index} cannot start", EXIT_FAILED)
            return
        slot.restart_at = now + RESTART_DELAY_SECONDS * max(1, slot.quick_exits)

    def running(self) -> list[subprocess.Popen[bytes]]:
        return [s.process for s in self.slots if s.process is not None]


def run_pool(settings: Settings, workers: int, command: Sequence[str]) -> int:
    """Serve with ``workers`` processes, each ``command --worker-index I``, until a signal."""
    if settings.redis_url is None:
        print(
            "oadr-gateway: cannot start: --workers needs redis_url (the embedded Redis "
            "belongs to one process)",
            file=sys.stderr,
        )
        return EXIT_FAILED
    pool = _Pool(command, [_Slot(i) for i in range(1, workers + 1)])
    try:
        pool.held = _hold_ports(settings)
        asyncio.run(_upgrade(settings))
    except (ListenError, StartupError) as err:
        for sock in pool.held:
            sock.close()
        print(f"oadr-gateway: cannot start: {err}", file=sys.stderr)
        return EXIT_FAILED

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        pool.stop(f"{signal.Signals(signum).name} received")

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, on_signal)
    try:
        for slot in pool.slots:
            pool.start(slot)
        _supervise(pool)
    finally:
        for sock in pool.held:
            sock.close()
    logger.info("stopped")
    return pool.exit_code


def _supervise(pool: _Pool) -> None:
    while True:
        now = time.monotonic()
        for slot in pool.slots:
            pool.tend(slot, now)
        if pool.stopping_since is not None:
            if not pool.running():
                return
            if now - pool.stopping_since > KILL_AFTER_SECONDS:
                for process in pool.running():
                    logger.error("worker pid %d did not stop in time: killed", process.pid)
                    with contextlib.suppress(ProcessLookupError):
                        process.kill()
                    process.wait()
                return
        time.sleep(TICK_SECONDS)


def _hold_ports(settings: Settings) -> list[socket.socket]:
    ports = [(settings.http_port, "http_port")]
    if settings.vtn_enabled and settings.vtn_port is not None:
        ports.append((settings.vtn_port, "vtn_port"))
    held: list[socket.socket] = []
    try:
        for port, setting in ports:
            held.append(_hold(settings.http_host, port, setting))
    except ListenError:
        for sock in held:
            sock.close()
        raise
    return held


def _hold(host: str, port: int, setting: str) -> socket.socket:
    """A socket bound to the port with SO_REUSEPORT, never listening: the workers' listening
    sockets join it, a program without SO_REUSEPORT cannot bind the port."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)
        if _answers(
            family, str(address[0]), int(address[1])
        ):  # another pool of ours (SO_REUSEPORT too) serves it
            raise OSError(errno.EADDRINUSE, "address already in use")
    except OSError as err:
        sock.close()
        why = "address already in use" if err.errno == errno.EADDRINUSE else err.strerror
        raise ListenError(f"cannot listen on {host}:{port} ({setting}): {why}") from err
    return sock


def _answers(family: int, host: str, port: int) -> bool:
    if host in ("0.0.0.0", "::"):
        host = "::1" if family == socket.AF_INET6 else "127.0.0.1"
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


async def _upgrade(settings: Settings) -> None:
    from gateway.db.engine import Database
    from gateway.startup import upgrade_database

    db = Database(settings.resolved_database_url)
    try:
        await upgrade_database(db)
    finally:
        await db.dispose()


def _die_with_parent() -> None:
    """In the child, before it runs: SIGTERM when the pool dies, however it dies."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
