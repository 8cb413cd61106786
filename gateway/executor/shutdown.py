"""Stopping the executor between rounds, within a bound (``gateway.supervisor`` has the
``pause`` and ``end_tasks`` it uses).

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


class Stopped(Exception):
    """The executor is stopping: the run ends here, between two of its steps."""
