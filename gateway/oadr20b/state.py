"""What each VEN's poll needs, kept in memory and reloaded only when something changed.

A poll must cost about what openleadr's own costs, so the steady state does no I/O: the VEN's
registration, its events and whether messages wait for it are cached per VEN. Every change to
what VENs must know comes on the core's change feed (``{prefix}ven_changes``, a typed
``VenChange`` published through the outbox with the change), and every change of VTN state
on ``{prefix}vtn``; each gateway process reads both and marks stale exactly the VENs a change
concerns (an invitation's VENs, a device's VEN, the VENs holding a program's events); their
next poll reloads them. A message it cannot read marks everything stale, and everything is
then reloaded in one go (as at start-up), so a restart or a lost subscription costs a few
queries, not one per VEN. While the subscription is down, entries also expire after a few
seconds, so a lost message can delay a change but never hide it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections import deque
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from gateway.bus.subscription import follow
from gateway.clock import Clock
from gateway.oadr20b.mapping import OadrEvent
from gateway.oadr20b.message_log import MessageLog
from gateway.oadr20b.sightings import Sightings
from gateway.oadr20b.store import VenRecord, VenSnapshot, VtnStore
from gateway.services.ven_facing.changes import ChangeKind, VenChange, changes_channel

logger = logging.getLogger(__name__)

UNSUBSCRIBED_MAX_AGE_SECONDS = 2.0
SEEN_MESSAGE_IDS = 4096
# A change concerning this many VENs (and a quarter of those known) reloads everyone at once.
BULK_RELOAD_MIN_VENS = 50


@dataclass
class VenState:
    record: VenRecord
    events: list[OadrEvent]
    pending_messages: int
    generation: int
    loaded_at: float
    # When the VTN's METADATA report is next due to it (``vtn_metadata``); None: not owed.
    metadata_due: datetime | None = None


def _retrieved(task: asyncio.Future[Any]) -> None:
    """Its failure is its readers' to hear; none left (cancelled) is no failure to log."""
    if not task.cancelled():
        task.exception()


def announced_vens(message: object) -> list[str] | None:
    """The VENs a message on ``{prefix}vtn`` names (``ven_id``, or ``ven_ids`` for several);
    None when it names none that can be trusted: then anyone may have changed."""
    if not isinstance(message, dict):
        return None
    one, many = message.get("ven_id"), message.get("ven_ids")
    if isinstance(one, str):
        return [one]
    if isinstance(many, list) and all(isinstance(v, str) for v in many):
        return many
    return None


class VtnState:
    def __init__(self, store: VtnStore, redis: Redis, prefix: str, clock: Clock) -> None:
        self._store = store
        self._redis = redis
        self._clock = clock
        self.channel = f"{prefix}vtn"
        self._changes = changes_channel(prefix)
        self._generation = 0
        self._ven_generation: dict[str, int] = {}
        self._entries: dict[str, VenState] = {}
        self._device_ven: dict[str, str | None] = {}
        self._invitation_vens: dict[str, set[str]] = {}
        self._program_vens: dict[str, set[str]] = {}
        self._handled: deque[str] = deque(maxlen=SEEN_MESSAGE_IDS)
        self._handled_set: set[str] = set()
        self._bulk: asyncio.Task[None] | None = None
        self._reloading: dict[str, tuple[int, asyncio.Future[VenState | None]]] = {}
        self._bulk_again = False
        self.subscribed = False
        self.reloads = 0
        self._origin = uuid.uuid4().hex
        self._told: set[str] = set()  # told of their events, not yet announced
        self._telling: asyncio.Task[None] | None = None
        self.messages = MessageLog(redis, prefix, clock)
        self.sightings = Sightings(store, self.messages, clock)
        # Told of the VENs made stale (None: anyone may be), once the entries are marked.
        self._listeners: list[Callable[[Collection[str] | None], None]] = []

    # --- reads ----------------------------------------------------------------------------
    async def get(self, ven_id: str) -> VenState | None:
        entry = self._entries.get(ven_id)
        if entry is not None and self._fresh(entry):
            return entry
        if self._bulk is not None and not self._bulk.done():
            with contextlib.suppress(Exception):
                await asyncio.shield(self._bulk)
            entry = self._entries.get(ven_id)
            if entry is not None and self._fresh(entry):
                return entry
        return await self._reload_once(ven_id)

    async def _reload_once(self, ven_id: str) -> VenState | None:
        """``reload``, once for every read of the VEN that misses meanwhile (a poll and the push
        sender reading one VEN at the same time got two entries, the later one replacing what
        the earlier had been given)."""
        generation = self._current(ven_id)
        pending = self._reloading.get(ven_id)
        if pending is None or pending[0] != generation:
            task = asyncio.ensure_future(self.reload(ven_id))
            task.add_done_callback(_retrieved)
            pending = self._reloading[ven_id] = (generation, task)
            task.add_done_callback(lambda _: self._reloaded(ven_id, task))
        return await asyncio.shield(pending[1])

    def _reloaded(self, ven_id: str, task: asyncio.Future[VenState | None]) -> None:
        if self._reloading.get(ven_id, (0, None))[1] is task:
            del self._reloading[ven_id]

    def cached(self, ven_id: str) -> VenState | None:
        """The VEN's entry as held, fresh or not (no I/O)."""
        return self._entries.get(ven_id)

    def _current(self, ven_id: str) -> int:
        return self._generation + self._ven_generation.get(ven_id, 0)

    def _fresh(self, entry: VenState) -> bool:
        if entry.generation != self._current(entry.record.ven_id):
            return False
        if not self.subscribed:
            return self._clock.monotonic() - entry.loaded_at < UNSUBSCRIBED_MAX_AGE_SECONDS
        return True

    async def reload(self, ven_id: str) -> VenState | None:
        generation = self._current(ven_id)
        snapshot = await self._store.load(ven_id, self._clock.now())
        self.reloads += 1
        if snapshot is None:
            self._entries.pop(ven_id, None)
            return None
        newer = self._newer(ven_id, generation)
        return newer or self._keep(ven_id, snapshot, generation)

    def _newer(self, ven_id: str, generation: int) -> VenState | None:
        """The VEN's entry, when it was made fresh while a read that began at ``generation``
        was under way (``delivered``): what that read found is older, and must not replace
        it."""
        if generation == self._current(ven_id):
            return None
        entry = self._entries.get(ven_id)
        return entry if entry is not None and self._fresh(entry) else None

    def _keep(self, ven_id: str, snapshot: VenSnapshot, generation: int) -> VenState:
        entry = VenState(
            snapshot.record, snapshot.events, snapshot.pending_messages, generation,
            self._clock.monotonic(), snapshot.metadata_due,
        )  # fmt: skip
        self._entries[ven_id] = entry
        for event in snapshot.events:
            self._invitation_vens.setdefault(event.event_id, set()).add(ven_id)
            self._program_vens.setdefault(event.program.id, set()).add(ven_id)
        return entry

    async def load_everything(self) -> None:
        """Every VEN at once (start-up, and after a change that could concern anyone)."""
        # Versions as they were before the read: a change announced during it leaves the
        # entry it concerns stale, never fresh with old data.
        generation = self._generation
        versions = dict(self._ven_generation)
        snapshots, devices = await self._store.load_all(self._clock.now())
        self.reloads += 1
        self._device_ven = devices
        self._invitation_vens.clear()
        self._program_vens.clear()
        for ven_id in [v for v in self._entries if v not in snapshots]:
            del self._entries[ven_id]
        for ven_id, snapshot in snapshots.items():
            read_at = generation + versions.get(ven_id, 0)
            if self._newer(ven_id, read_at) is None:
                self._keep(ven_id, snapshot, read_at)

    # --- invalidation ---------------------------------------------------------------------
    def on_change(self, listener: Callable[[Collection[str] | None], None]) -> None:
        """Call ``listener`` with the VENs each change made stale here (None: anyone may
        be), once their entries are marked (the push sender, which reads them next: it
        follows the same feed through this state, never ahead of it)."""
        self._listeners.append(listener)

    def _notify(self, ven_ids: Collection[str] | None) -> None:
        for listener in self._listeners:
            listener(ven_ids)

    def invalidate(self, ven_id: str | None = None) -> None:
        if ven_id is not None:
            self._ven_generation[ven_id] = self._ven_generation.get(ven_id, 0) + 1
            self._notify((ven_id,))
            return
        self._reload_everyone()
        self._notify(None)

    def _reload_everyone(self) -> None:
        self._generation += 1
        if self._bulk is None or self._bulk.done():
            self._bulk = asyncio.get_running_loop().create_task(self._bulk_load())
        else:
            # What the read under way finds is stale now: read again once it is done (those
            # waiting for it wait for both), not a reload per VEN on each one's next poll.
            self._bulk_again = True

    async def settled(self) -> None:
        """Until the reload of everyone under way, if any, is done (its entries replace
        those read meanwhile)."""
        if self._bulk is not None and not self._bulk.done():
            with contextlib.suppress(Exception):
                await asyncio.shield(self._bulk)

    async def _bulk_load(self) -> None:
        try:
            self._bulk_again = True
            while self._bulk_again:
                self._bulk_again = False
                await self.load_everything()
        except Exception as err:  # each VEN then reloads on its own next poll
            logger.warning("vtn: bulk reload failed (%s)", err)

    def _invalidate_many(self, ven_ids: Iterable[str]) -> None:
        many = set(ven_ids)
        if len(many) >= max(BULK_RELOAD_MIN_VENS, len(self._entries) // 4):
            # One read of everyone costs less than a reload per VEN on each one's next poll
            # (a thousand VENs of one invitation queued their polls behind each other's reads).
            self._reload_everyone()
        else:
            for ven_id in many:
                self._ven_generation[ven_id] = self._ven_generation.get(ven_id, 0) + 1
        if many:
            self._notify(many)

    async def forget(self, ven_id: str) -> None:
        """The VEN was deleted: its entry and message log go (so the answer that ended it is
        not logged again under its venID)."""
        self._entries.pop(ven_id, None)
        await self.messages.forget(ven_id)

    async def changed(self, ven_id: str) -> None:
        """This process changed a VEN's state: drop its entry here and tell the others."""
        self.invalidate(ven_id)
        await self._announce(ven_id)

    async def refreshed(self, ven_id: str) -> None:
        """Like ``changed``, but reload the entry now (after a registration, so that the
        VEN's first polls find it warm)."""
        self.invalidate(ven_id)
        await self.reload(ven_id)
        await self._announce(ven_id)

    async def delivered(self, ven_id: str, delivered: dict[str, Any]) -> None:
        """The VEN was just told of its events: note it here, tell the others (in one
        message with the other VENs told in the same turn of the loop: a push to a thousand
        VENs announced each one on its own)."""
        entry = self._entries.get(ven_id)
        fresh = entry is not None and self._fresh(entry)
        # A read of the VEN under way began before this was stored: it is older now.
        self._ven_generation[ven_id] = self._ven_generation.get(ven_id, 0) + 1
        if entry is not None:
            entry.record = replace(entry.record, delivered=delivered)
            if fresh:
                entry.generation = self._current(ven_id)
        self._told.add(ven_id)
        if self._telling is None or self._telling.done():
            self._telling = asyncio.get_running_loop().create_task(self._tell())

    async def _tell(self) -> None:
        await asyncio.sleep(0)  # the deliveries of this turn join
        told, self._told = sorted(self._told), set()
        await self._publish({"ven_ids": told, "origin": self._origin}, ", ".join(told))

    async def _announce(self, ven_id: str) -> None:
        await self._publish({"ven_id": ven_id, "origin": self._origin}, ven_id)

    async def _publish(self, message: dict[str, Any], named: str) -> None:
        try:
            await self._redis.publish(self.channel, json.dumps(message))
        except (RedisError, OSError) as err:
            logger.warning("vtn: change of %s not announced (%s)", named, err)

    def published(self, batch: list[tuple[str, str]]) -> None:
        """The outbox of this process just published these: apply them at once."""
        for channel, payload in batch:
            self._take(channel, payload)

    def _take(self, channel: str, data: Any) -> None:
        if channel == self._changes:
            self._change(data)
            return
        if channel != self.channel:
            return  # dr_events and the like: the change feed says what concerns VENs
        try:
            message = json.loads(data or b"{}")
        except (ValueError, UnicodeDecodeError):
            message = None
        if not isinstance(message, dict):
            self.invalidate()
            return
        if message.get("origin") == self._origin:
            return  # this process made the change and has applied it already
        named = announced_vens(message)
        if named is None:
            self.invalidate()
        for ven_id in named or ():
            self.invalidate(ven_id)

    def _change(self, data: bytes | str | None) -> None:
        try:
            change = VenChange.decode(data)
        except ValueError:
            self.invalidate()
            return
        if change.message_id is not None:
            if change.message_id in self._handled_set:
                return  # published here and now heard back from Redis
            if len(self._handled) == self._handled.maxlen:
                self._handled_set.discard(self._handled[0])
            self._handled.append(change.message_id)
            self._handled_set.add(change.message_id)
        self._apply(change)

    def _apply(self, change: VenChange) -> None:
        if change.kind is ChangeKind.DEVICE:
            for device in change.device_ids:
                self._device_ven[device] = change.ven_id
            if change.ven_id is not None:
                self.invalidate(change.ven_id)
            return
        if change.kind in (ChangeKind.INVITATION, ChangeKind.EVENT):
            # A VEN's OpenADR eventID is its invitation's id, or a direct event's own.
            event_id = change.invitation_id or change.event_id or ""
            vens = set(self._invitation_vens.get(event_id, ()))
            for device in change.device_ids:
                ven = self._device_ven.get(device)
                if ven is None and device not in self._device_ven:
                    self.invalidate()  # a device this process has not heard of
                    return
                if ven is not None:
                    vens.add(ven)
            self._invalidate_many(vens)
            return
        if change.kind is ChangeKind.PROGRAM:
            # Its terms reach a VEN only through the events it holds: those VENs, no others.
            self._invalidate_many(set(self._program_vens.get(change.program_id or "", ())))
            return
        if change.kind is ChangeKind.VEN and change.ven_id is not None:
            self.invalidate(change.ven_id)
            return
        self.invalidate()  # an event cancelled or missed: anyone may be concerned

    # --- last seen, and deviations tolerated: ``Sightings`` -------------------------------
    def seen(self, ven_id: str, deviations: Iterable[str] = ()) -> None:
        self.sightings.seen(ven_id, deviations)

    async def flush_seen(self) -> None:
        await self.sightings.flush()

    async def flush_seen_forever(self, stopping: asyncio.Event) -> None:
        await self.sightings.flush_forever(stopping)

    # --- subscription ---------------------------------------------------------------------
    async def listen(self, stopping: asyncio.Event) -> None:
        await follow(
            self._redis, [self._changes, self.channel], self._take, stopping,
            name="vtn change feed", on_subscribed=self._subscribed, on_lost=self._lost,
        )  # fmt: skip

    def _subscribed(self) -> None:
        self.subscribed = True
        self.invalidate()  # anything may have changed while unsubscribed

    def _lost(self) -> None:
        self.subscribed = False

    async def close(self) -> None:
        if self._telling is not None:
            with contextlib.suppress(Exception):
                await self._telling
        if self._bulk is not None:
            self._bulk.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._bulk
