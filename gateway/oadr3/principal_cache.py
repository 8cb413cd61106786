"""Who each bearer token names, kept per process: ``auth.principal_of`` runs on every 3.x
request, and its query (the client still exists, and its VEN object) has the same answer
until a client or a VEN object changes.

- The token itself is still checked on every request (signature, expiry): only what the
  database said of its client is kept, under the token's exact text.
- Every change this process publishes (the outbox's ``on_published``) and every dr_events
  message of any process (``event_cache.listen``, the same feed as the events cache) empties
  it, but those that change no 3.x reader's view (``event_cache.UNSEEN``), and so does a
  client's deletion here, once it is committed (``ClientStore.on_deleted``; its dr_events
  message tells the other processes).
- It is used only while that feed is followed (``following``): a client deleted in another
  process is heard of through it alone.
- A read that began before a change is not kept (its generation is past).
- A VEN client without its VEN object yet is not kept: making one announces nothing here.
- Bounded: ``max_entries`` (the oldest goes first) and ``ttl`` seconds each.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Generic, TypeVar

DEFAULT_TTL_SECONDS = 30.0
DEFAULT_MAX_ENTRIES = 20_000

P = TypeVar("P")


class PrincipalCache(Generic[P]):
    def __init__(
        self,
        ttl: float = DEFAULT_TTL_SECONDS,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ttl = ttl
        self._max = max_entries
        self._monotonic = monotonic
        self._kept: dict[str, tuple[float, P]] = {}
        self.generation = 0
        self.following = False

    def __len__(self) -> int:
        return len(self._kept)

    def get(self, token: str) -> P | None:
        if not self.following:
            return None
        kept = self._kept.get(token)
        if kept is None:
            return None
        if self._monotonic() - kept[0] > self._ttl:
            del self._kept[token]
            return None
        return kept[1]

    def put(self, token: str, principal: P, generation: int) -> None:
        """Keep what a read that began at ``generation`` found, unless a change came since."""
        if generation != self.generation or not self.following:
            return
        self._kept.pop(token, None)
        while len(self._kept) >= self._max:
            del self._kept[next(iter(self._kept))]  # the oldest kept (insertion order)
        self._kept[token] = (self._monotonic(), principal)

    def clear(self, _batch: object = None) -> None:
        self.generation += 1
        self._kept.clear()

    def follow(self, following: bool) -> None:
        """The change feed was (re)subscribed, or lost: either way, start afresh."""
        self.following = following
        self.clear()
