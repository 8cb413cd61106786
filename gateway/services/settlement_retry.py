"""When an automatic settlement that failed is tried again: a capped back-off per event.

Two kinds of failure:

- **transient**: the database or Redis was down or unreachable. Nothing is wrong with the
  event: it is tried again soon (``TRANSIENT_RETRY``), never backed off further.
- **refused**: the settlement cannot be made from what is stored now (no meter data yet,
  say), which only new data changes. It is still tried again, but more slowly each time:
  ``FIRST_RETRY`` after the first refusal, doubling, at most ``MAX_RETRY`` apart.

Each failure is logged once per back-off step: a failure again with the same reason at the
same step (a transient one each minute of an outage, a refusal once at the cap) is not
logged again. The state is this process's (each replica's worker tries for itself) and is
shown by ``GET /api/events/{id}/settlement`` while the event has no settlement.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

FIRST_RETRY = timedelta(minutes=1)  # after a first refusal
MAX_RETRY = timedelta(hours=1)  # the back-off of refusals doubles up to this
TRANSIENT_RETRY = timedelta(minutes=1)  # after a database or Redis outage, every time


def refusal_delay(refusals: int) -> timedelta:
    """How long after its ``refusals``-th refusal in a row an event is tried again."""
    if refusals <= 0:
        return timedelta()
    doublings = min(refusals - 1, 32)  # 2**32 minutes is far past any cap
    return min(FIRST_RETRY * (1 << doublings), MAX_RETRY)


@dataclass(frozen=True, slots=True)
class Failure:
    """The last failure of an event's automatic settlement and when it is tried again."""

    reason: str
    transient: bool
    failed_at: datetime
    next_try_at: datetime
    failures: int  # in a row, of either kind
    refusals: int  # in a row: what the back-off of a refusal counts

    @property
    def delay(self) -> timedelta:
        return self.next_try_at - self.failed_at


class SettlementRetries:
    """The failed automatic settlements of this process, by event id."""

    def __init__(self) -> None:
        self._failed: dict[str, Failure] = {}

    def __len__(self) -> int:
        return len(self._failed)

    def of(self, event_id: str) -> Failure | None:
        return self._failed.get(event_id)

    def may_try(self, event_id: str, now: datetime) -> bool:
        failure = self._failed.get(event_id)
        return failure is None or failure.next_try_at <= now

    def failed(
        self, event_id: str, reason: str, *, transient: bool, now: datetime
    ) -> tuple[Failure, bool]:
        """Record a failure; it and whether it is news to log (a new reason or step)."""
        before = self._failed.get(event_id)
        failures = 1 if before is None else before.failures + 1
        refusals = 0 if before is None else before.refusals
        if not transient:
            refusals += 1
        delay = TRANSIENT_RETRY if transient else refusal_delay(refusals)
        failure = Failure(reason, transient, now, now + delay, failures, refusals)
        self._failed[event_id] = failure
        news = (
            before is None
            or before.reason != reason
            or before.transient != transient
            or before.delay != delay
        )
        return failure, news

    def settled(self, event_id: str) -> Failure | None:
        """Forget an event that is settled now; its last failure, if it had one."""
        return self._failed.pop(event_id, None)

    def keep_only(self, event_ids: set[str]) -> None:
        """Forget the events not among ``event_ids`` (settled elsewhere, or deleted)."""
        for event_id in [e for e in self._failed if e not in event_ids]:
            del self._failed[event_id]
