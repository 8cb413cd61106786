"""``oadr-gateway run``: bind, start, serve until SIGTERM or SIGINT, and stop within a bound.

Every port is bound before anything starts, so a port in use fails at once and names the
setting; "serving on" is logged only when the sockets are bound and the database and Redis
answered. A signal during start-up or while serving ends the process with exit code 0 within
``EXIT_SECONDS``: shutdown is bounded part by part, and a watchdog ends the process should
anything (a thread stuck in a driver, say) still hold it after that.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import signal
import socket
import sys
import threading

from aiohttp import web

from gateway import __version__
from gateway.heap import settle_after_start
from gateway.settings import Settings
from gateway.startup import StartupError
from gateway.supervisor import end_tasks

logger = logging.getLogger("gateway")

EXIT_OK = 0
EXIT_FAILED = 1  # also ``oadr-gateway db``'s, when the database cannot be opened
# From the signal to the process's end, whatever it was doing.
EXIT_SECONDS = 9.0
# Requests under way on the admin port get this long to finish at shutdown.
HTTP_SHUTDOWN_SECONDS = 1.0


class ListenError(Exception):
    """A port could not be bound; the message names the setting."""


def bind(host: str, port: int, setting: str, reuse_port: bool = False) -> socket.socket:
    """``reuse_port``: a worker of a pool (``gateway.worker_pool``), sharing the port."""
    try:
        return socket.create_server((host, port), backlog=1024, reuse_port=reuse_port)
    except OSError as err:
        why = "address already in use" if err.errno == errno.EADDRINUSE else err.strerror
        raise ListenError(f"cannot listen on {host}:{port} ({setting}): {why}") from err


def vtn_url(settings: Settings) -> str | None:
    if not settings.vtn_enabled:
        return None
    scheme = "https" if settings.vtn_tls else "http"
    port = settings.vtn_port or settings.http_port
    return f"{scheme}://{settings.http_host}:{port}{settings.vtn_path_prefix}"


def run(settings: Settings, admin_token: str, worker_index: int | None = None) -> int:
    """Serve until a signal; the process's exit code. ``worker_index``: this process is that
    worker of a pool, and shares its ports with the others."""
    try:
        return asyncio.run(_serve(settings, admin_token, worker_index))
    except (ListenError, StartupError) as err:
        print(f"oadr-gateway: cannot start: {err}", file=sys.stderr)
        return EXIT_FAILED


async def _serve(settings: Settings, admin_token: str, worker_index: int | None) -> int:
    from gateway.app import build_app  # the whole gateway: imported once settings are valid

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, _on_signal, stop, signum)
    shared = worker_index is not None
    sockets = [bind(settings.http_host, settings.http_port, "http_port", shared)]
    try:
        if settings.vtn_enabled and settings.vtn_port is not None:
            sockets.append(bind(settings.http_host, settings.vtn_port, "vtn_port", shared))
        app = build_app(
            settings, admin_token=admin_token, vtn_socket=sockets[1] if len(sockets) > 1 else None
        )
        runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=HTTP_SHUTDOWN_SECONDS)
        started = await _start(runner, stop)
        if started:
            await web.SockSite(runner, sockets[0]).start()
            vtn = vtn_url(settings)
            logger.info(
                "oadr-gateway %s%s serving on http://%s:%d%s",
                __version__, "" if worker_index is None else f" worker {worker_index}",
                settings.http_host, settings.http_port, f", OpenADR VTN at {vtn}" if vtn else "",
            )  # fmt: skip
            settle_after_start()
            await stop.wait()
        logger.info("stopping")
        try:
            async with asyncio.timeout(EXIT_SECONDS - 1.0):
                await runner.cleanup()
        except TimeoutError:
            logger.error("shutdown took longer than %.0f s; exiting anyway", EXIT_SECONDS - 1.0)
    finally:
        for sock in sockets:
            sock.close()
    logger.info("stopped")
    return EXIT_OK


async def _start(runner: web.AppRunner, stop: asyncio.Event) -> bool:
    """Start the application (database, Redis, background work); False if a signal came
    first. A start-up failure raises its ``StartupError``."""
    setup = asyncio.create_task(runner.setup(), name="start-up")
    signalled = asyncio.create_task(stop.wait(), name="signal")
    await asyncio.wait({setup, signalled}, return_when=asyncio.FIRST_COMPLETED)
    signalled.cancel()
    if setup.done():
        setup.result()  # raises what start-up raised
        return True
    await end_tasks({setup}, 0.0, 2.0)
    with contextlib.suppress(BaseException):
        setup.result()
    return False


def _on_signal(stop: asyncio.Event, signum: int) -> None:
    if stop.is_set():
        return
    logger.info("%s received", signal.Signals(signum).name)
    stop.set()
    watchdog = threading.Timer(EXIT_SECONDS, _exit_now)
    watchdog.daemon = True
    watchdog.start()


def _exit_now() -> None:
    logging.getLogger("gateway").error("shutdown did not end in %.0f s; exiting", EXIT_SECONDS)
    for handler in logging.getLogger().handlers:
        with contextlib.suppress(Exception):
            handler.flush()
    os._exit(EXIT_OK)
