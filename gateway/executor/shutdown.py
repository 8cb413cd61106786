"""Stopping the executor between rounds, within a bound.

The scheduler loop and every event run watch one ``stopping`` flag: they check it before each
round (a poll, a sample) and wake from their waits when it is set, so they end at the end of
the step they are in instead of being cancelled in the middle of a database call. Only what
has not ended within the grace period is cancelled, once, and waited for a bounded time; what
still runs then is left behind (its state is in the database).

Once, not again and again: a second cancellation that lands in SQLAlchemy's shielded close of
an aiosqlite connection (a run stuck on a locked SQLite file) turns it into a forced stop that
races the graceful close, and aiosqlite then waits forever on a thread that has already ended.
A cancellation that Python 3.11's ``asyncio.wait_for`` swallows is not lost either: the run
goes on to its next step, where it finds the flag set.
"""

from __future__ import annotations

import asyncio
from collections.abc import Set
from typing import Any

from gateway.clock import Clock


class Stopped(Exception):
    """The executor is stopping: the run ends here, between two of its steps."""


async def pause(clock: Clock, stopping: asyncio.Event, seconds: float) -> bool:
    """Sleep ``seconds`` on ``clock`` (a test's clock moves time) or until ``stopping`` is
    set; True when it is set."""
    if stopping.is_set():
        return True
    sleeper = asyncio.ensure_future(clock.sleep(seconds))
    waiter = asyncio.ensure_future(stopping.wait())
    try:
        await asyncio.wait({sleeper, waiter}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        sleeper.cancel()
        waiter.cancel()
    if sleeper.done() and not sleeper.cancelled():
        sleeper.result()  # what the clock raised is the caller's
    return stopping.is_set()


async def end_tasks(
    tasks: Set[asyncio.Task[Any]], grace_seconds: float, cancel_seconds: float
) -> set[asyncio.Task[Any]]:
    """Wait ``grace_seconds`` for ``tasks`` to end by themselves, then cancel those left once
    and wait at most ``cancel_seconds``: the tasks still running after that."""
    pending = {task for task in tasks if not task.done()}
    if pending and grace_seconds > 0:
        _, pending = await asyncio.wait(pending, timeout=grace_seconds)
    if pending:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=cancel_seconds)
    return pending
