"""One owner for every long-running task of a gateway, and a bounded way to end them all.

A task is started either *stoppable*: its loop watches ``stopping`` and ends by itself at the
end of its current round, so it is never cut off in the middle of a database call; or
*cancellable*: it only waits on sockets (a Redis subscription), so cancelling it is safe at any
moment. ``stop()`` sets the flag, cancels the cancellable tasks, gives the stoppable ones a
grace period, and only then cancels whatever is left, with a bound on that too. Shutdown does
not rely on cancellation: on Python 3.11 ``asyncio.wait_for`` can swallow a cancel that
arrives just as the awaited call finishes, and cancelling SQLAlchemy mid-call on aiosqlite has
left tasks waiting on a future nothing completes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
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


@dataclass(slots=True)
class _Owned:
    task: asyncio.Task[Any]
    stoppable: bool


class TaskSupervisor:
    """Starts named tasks and ends every one of them within a bound."""

    def __init__(self) -> None:
        self.stopping = asyncio.Event()
        self._owned: list[_Owned] = []

    def start(
        self, coro: Coroutine[Any, Any, Any], name: str, *, stoppable: bool = True
    ) -> asyncio.Task[Any]:
        """Run ``coro`` as a task owned here; ``stoppable`` tasks must watch ``stopping``."""
        task = asyncio.create_task(coro, name=name)
        task.add_done_callback(_log_crash)
        self._owned.append(_Owned(task, stoppable))
        return task

    async def stop(self, grace_seconds: float = 3.0, cancel_seconds: float = 2.0) -> list[str]:
        """End every task: the names of those still running after both bounds (logged)."""
        self.stopping.set()
        for owned in self._owned:
            if not owned.stoppable:
                owned.task.cancel()
        pending = await end_tasks({o.task for o in self._owned}, grace_seconds, cancel_seconds)
        stuck = sorted(task.get_name() for task in pending)
        if stuck:
            logger.error("shutdown: tasks still running after %.1f s: %s",
                         grace_seconds + cancel_seconds, ", ".join(stuck))  # fmt: skip
        self._owned = [owned for owned in self._owned if not owned.task.done()]
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
