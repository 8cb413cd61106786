"""One owner for every long-running task of a gateway, and a bounded way to end them all.

Every task watches ``stopping`` and ends by itself at the end of its current round, so it is
never cut off in the middle of a database call or a Redis read. ``stop()`` sets the flag,
gives the tasks a grace period, and only then cancels whatever is left, with a bound on that
too. Shutdown does not rely on cancellation: on Python 3.11 ``asyncio.wait_for`` can swallow a
cancel that arrives just as the awaited call finishes, cancelling SQLAlchemy mid-call on
aiosqlite has left tasks waiting on a future nothing completes, and a task cancelled in
redis-py's pub/sub read has stayed "cancelling" for good (``gateway.bus.subscription``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from collections.abc import Set as AbstractSet
from typing import Any

logger = logging.getLogger(__name__)


async def pause(
    stopping: asyncio.Event,
    seconds: float,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> bool:
    """Sleep ``seconds`` (with ``sleep``: a test's clock moves time) or until ``stopping`` is
    set; True when it is set, and the loop ends."""
    if stopping.is_set():
        return True
    sleeper = asyncio.ensure_future(sleep(max(seconds, 0.0)))
    waiter = asyncio.ensure_future(stopping.wait())
    try:
        await asyncio.wait({sleeper, waiter}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        sleeper.cancel()
        waiter.cancel()
    if sleeper.done() and not sleeper.cancelled():
        sleeper.result()  # what the sleep raised is the caller's
    return stopping.is_set()


async def woken(wake: asyncio.Event, stopping: asyncio.Event, seconds: float | None) -> bool:
    """Wait until ``wake`` or ``stopping`` is set, or ``seconds`` have passed (None: no
    bound); True when ``wake`` is set. The caller clears ``wake`` and looks at ``stopping``."""
    if not (wake.is_set() or stopping.is_set()):
        waits = {asyncio.ensure_future(wake.wait()), asyncio.ensure_future(stopping.wait())}
        try:
            await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiting in waits:
                waiting.cancel()
    return wake.is_set()


class TaskSupervisor:
    """Starts named tasks and ends every one of them within a bound."""

    def __init__(self) -> None:
        self.stopping = asyncio.Event()
        self._owned: list[asyncio.Task[Any]] = []

    def start(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        """Run ``coro`` as a task owned here; it must end once ``stopping`` is set."""
        task = asyncio.create_task(coro, name=name)
        task.add_done_callback(_log_crash)
        self._owned.append(task)
        return task

    async def stop(self, grace_seconds: float = 3.0, cancel_seconds: float = 2.0) -> list[str]:
        """End every task: the names of those still running after both bounds (logged)."""
        self.stopping.set()
        pending = await end_tasks(set(self._owned), grace_seconds, cancel_seconds)
        stuck = sorted(task.get_name() for task in pending)
        if stuck:
            logger.error("shutdown: tasks still running after %.1f s: %s",
                         grace_seconds + cancel_seconds, ", ".join(stuck))  # fmt: skip
        self._owned = [task for task in self._owned if not task.done()]
        return stuck


async def end_tasks(
    tasks: AbstractSet[asyncio.Task[Any]], grace_seconds: float, cancel_seconds: float
) -> set[asyncio.Task[Any]]:
    """Wait ``grace_seconds`` for ``tasks`` to end by themselves, then cancel those left once
    and wait at most ``cancel_seconds`` more: the tasks still running after that.

    Cancelled once, never again: a second cancel landing while SQLAlchemy closes a connection
    on a locked SQLite file leaves aiosqlite waiting forever. A cancel lost to Python 3.11's
    ``wait_for`` is covered by the stop flag the loops watch."""
    pending = {task for task in tasks if not task.done()}
    if pending and grace_seconds > 0:
        _, pending = await asyncio.wait(pending, timeout=grace_seconds)
    if pending:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=cancel_seconds)
    return pending


def _log_crash(task: asyncio.Task[Any]) -> None:
    if task.cancelled():
        return
    err = task.exception()
    if err is not None:
        logger.error("task %s ended with an error", task.get_name(), exc_info=err)
