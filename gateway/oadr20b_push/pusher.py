"""The push loop of one gateway process: the change feed fills the outboxes of the push-mode
VENs it concerns, and a sender per VEN (one process at a time, by lease) delivers them.

Filling reuses the pull VTN's own view of each VEN (its state cache), and hears of changes
from it (``VtnState.on_change``: the VENs each change made stale, once marked), so it never
reads a VEN ahead of the feed and never reloads what the state reloads already. A VEN is owed
a distribute exactly when its poll would get one, and the messages waiting for its poll move
to its outbox. A distribute is rendered when sent, with
the VEN's current list, so a VEN that was down gets the latest, once. Delivery is at least
once and in order: a message is marked delivered only after the VEN's HTTP 200, and the next
one is not sent before. A failed VEN waits (doubling, capped) before its next attempt, and
one failing for long is marked unreachable; its messages stay.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from gateway.clock import Clock
from gateway.oadr20b.config import VtnConfig
from gateway.oadr20b.mapping import (
    OadrEvent,
    cancel_unacknowledged,
    needs_distribute,
    snapshot,
    visible,
)
from gateway.oadr20b.message_log import Direction
from gateway.oadr20b.state import VtnState
from gateway.oadr20b_push.acks import AckBatcher
from gateway.oadr20b_push.addresses import push_url
from gateway.oadr20b_push.client import PushClient, PushRefused
from gateway.oadr20b_push.messages import PushMessages
from gateway.oadr20b_push.outbox import Outgoing, PushStore, Target
from gateway.observability.metrics import GatewayMetrics
from gateway.supervisor import woken

logger = logging.getLogger(__name__)

# Changes arriving this close together are handled in one round (an invitation to many VENs
# comes as several messages).
SETTLE_SECONDS = 0.02
# With more push-mode VENs than this, a sweep while the change feed is down reloads every VEN
# in one go, not one by one.
BULK_RELOAD_VENS = 20
# The sender looks for messages due (a retry's time come, another process's lease lapsed).
CLAIM_EVERY_SECONDS = 0.5
# Messages read from a VEN's outbox at a time.
BATCH = 20


@dataclass(frozen=True)
class PushConfig:
    retry_min_seconds: float = 1.0
    retry_max_seconds: float = 120.0
    unreachable_after_seconds: float = 600.0
    lease_seconds: float = 30.0
    concurrency: int = 200
    sweep_seconds: float = 5.0
    # A cancel the VEN has not acknowledged is pushed again this often (a poll re-tells it on
    # every poll; a push-mode VEN's answer may have been lost).
    cancel_resend_seconds: float = 60.0
    # Deliveries in their database steps at once (rendering, marking): 1 on SQLite, where
    # concurrent writers only wait on each other's lock (in sleeps of up to 100 ms).
    database_turns: int = 8

    def backoff(self, failures_before: int) -> float:
        """Seconds before the next attempt, after ``failures_before`` + 1 failures in a row."""
        return min(
            self.retry_max_seconds, self.retry_min_seconds * float(2 ** min(failures_before, 30))
        )


class Pusher:
    def __init__(
        self,
        store: PushStore,
        state: VtnState,
        messages: PushMessages,
        client: PushClient,
        vtn: VtnConfig,
        config: PushConfig,
        clock: Clock,
        metrics: GatewayMetrics | None = None,
        *,
        turns: asyncio.Semaphore | None = None,
    ) -> None:
        self._store = store
        self._state = state
        self._messages = messages
        self._client = client
        self._vtn = vtn
        self.config = config
        self._clock = clock
        self._metrics = metrics
        self.owner = uuid.uuid4().hex
        self._fill_due = asyncio.Event()
        self._everyone = True  # the next round looks at every push-mode VEN
        self._dirty: set[str] = set()  # else at these only
        self._send_due = asyncio.Event()
        self._busy: set[str] = set()
        self._deliveries: set[asyncio.Task[None]] = set()
        self._lease = timedelta(seconds=config.lease_seconds)
        # The database steps of deliveries take turns (marking them delivered, in groups).
        self._turns = turns or asyncio.Semaphore(config.database_turns)
        self._acks = AckBatcher(
            store, self.owner, self._lease, clock, self._turns,
            lambda told: state.delivered(told.ven_id, told.delivered),
        )  # fmt: skip

    # --- what wakes it --------------------------------------------------------------------
    def concerned(self, ven_ids: Collection[str] | None) -> None:
        """The VTN state marked these VENs stale (None: anyone): look at them."""
        if ven_ids is None:
            self._everyone = True
        else:
            self._dirty.update(ven_ids)
        self._fill_due.set()

    # --- filling --------------------------------------------------------------------------
    async def fill_forever(self, stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            if not await woken(self._fill_due, stopping, self.config.sweep_seconds):
                self._everyone = True  # the sweep: events turning near, anything missed
            if stopping.is_set():
                return
            await asyncio.sleep(SETTLE_SECONDS)
            self._fill_due.clear()
            everyone, self._everyone = self._everyone, False
            dirty, self._dirty = self._dirty, set()
            try:
                await self.fill(None if everyone else dirty)
            except Exception as err:  # the next change or sweep tries again
                logger.warning("push: outboxes not filled (%s)", err)
                self._everyone = True

    async def fill(self, only: set[str] | None = None) -> int:
        """Queue what every push-mode VEN (or those of ``only``) is owed now; returns how
        many messages."""
        # A VEN's own change: its state says whether it is one to push to (no query).
        vens = sorted(only) if only is not None else await self._store.push_vens()
        if only is None and not self._state.subscribed and len(vens) > BULK_RELOAD_VENS:
            # Entries expire while the feed is down: one reload of everyone, not one each.
            self._state.invalidate()
        now = self._clock.now()
        near = self._vtn.near_window
        distribute: dict[str, list[OadrEvent]] = {}
        resend: set[str] = set()  # owed one only to re-tell an unacknowledged cancel
        queued: list[str] = []
        metadata: list[str] = []
        for ven_id in vens:
            if only is not None:
                held = self._state.cached(ven_id)
                if held is None or not held.record.push:
                    # A polling VEN (or one never read here: not registered): its polls read
                    # it. One registering here for push is read again first
                    # (``VtnState.refreshed``); one registering in another process is that
                    # process's to fill, and the sweep's here.
                    continue
            ven = await self._state.get(ven_id)
            if ven is None or not ven.record.push or not ven.record.registered:
                continue
            shown = visible(ven.events, ven.record.delivered, now, near)
            if needs_distribute(snapshot(shown, now, near), ven.record.delivered):
                distribute[ven_id] = ven.events
            elif cancel_unacknowledged(shown, now, near):
                distribute[ven_id] = ven.events
                resend.add(ven_id)
            if ven.pending_messages:
                queued.append(ven_id)
            if ven.metadata_due is not None and ven.metadata_due <= now:
                metadata.append(ven_id)

        def still_owed(ven_id: str, told: dict[str, Any]) -> bool:
            # What the VEN was told as stored now: another process may have told it since.
            shown = visible(distribute[ven_id], told, now, near)
            if needs_distribute(snapshot(shown, now, near), told):
                return True
            return ven_id in resend and cancel_unacknowledged(shown, now, near)

        added = await self._store.fill(
            distribute, queued, now, still_owed, metadata,
            resend=resend, resent_before=now - timedelta(seconds=self.config.cancel_resend_seconds),
        )  # fmt: skip
        for ven_id in sorted({*queued, *metadata}):
            await self._state.changed(ven_id)  # its poll queue is empty, its METADATA sent
        if added:
            self._send_due.set()
        return added

    # --- sending --------------------------------------------------------------------------
    async def send_forever(self, stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            self._send_due.clear()
            room = self.config.concurrency - len(self._busy)
            if room > 0:
                try:
                    claimed = await self._store.claim(
                        self.owner, self._clock.now(), self._lease, sorted(self._busy), room
                    )
                except Exception as err:
                    logger.warning("push: no VENs claimed (%s)", err)
                    claimed = []
                heads: dict[str, list[Outgoing]] = {}
                if claimed:
                    try:
                        heads = await self._store.outgoing_of([t.ven_id for t in claimed], BATCH)
                    except Exception as err:  # each reads its own
                        logger.warning("push: outboxes not read (%s)", err)
                for target in claimed:
                    self._busy.add(target.ven_id)
                    first = heads.get(target.ven_id)
                    task = asyncio.get_running_loop().create_task(self._deliver(target, first))
                    self._deliveries.add(task)
                    task.add_done_callback(self._deliveries.discard)
            await woken(self._send_due, stopping, CLAIM_EVERY_SECONDS)

    async def _deliver(self, target: Target, first: list[Outgoing] | None) -> None:
        """Send the VEN's messages in order until none is left or one fails (``first``: its
        first messages, read with the others' as it was claimed)."""
        try:
            while await self._deliver_some(target, first):
                first = None
        except asyncio.CancelledError:
            raise
        except Exception as err:  # the lease lapses; the next claim tries again
            logger.warning("push: delivery to %s stopped (%s)", target.ven_id, err)
        finally:
            self._busy.discard(target.ven_id)
            self._send_due.set()  # what was queued while it sent is claimed at once

    async def _deliver_some(self, target: Target, batch: list[Outgoing] | None) -> bool:
        """One batch; True when there may be more to send."""
        if batch is None:
            batch = await self._store.outgoing(target.ven_id, BATCH)
        if not batch:
            await self._store.release(self.owner, [target.ven_id])
            return False
        for number, outgoing in enumerate(batch, 1):
            # The last of a short batch gives up the lease with its delivery (one write less);
            # what is queued meanwhile wakes the sender, which claims the VEN again.
            last = number == len(batch) < BATCH
            rendered = await self._messages.render(target.ven_id, outgoing)
            if rendered is None:
                self._count(outgoing.message_type, "dropped")
                await self._acks.delivered(target.ven_id, outgoing.id, release=last)
                continue
            url = push_url(target.address, target.style, rendered.message_type)
            try:
                answer = await self._client.post(url, rendered.xml, rendered.fingerprint)
            except PushRefused as err:
                # In the VEN's message log too: what the operator looks at first.
                self._state.messages.record(target.ven_id, (
                    Direction.TO_VEN, rendered.message_type, rendered.request_id, None,
                    f"push failed: {err}",
                ))  # fmt: skip
                async with self._turns:
                    await self._failed(target, outgoing.id, rendered.message_type, str(err))
                return False
            self._state.messages.record(target.ven_id, (
                Direction.TO_VEN, rendered.message_type, rendered.request_id, None, None,
            ))  # fmt: skip
            held = await self._acks.delivered(
                target.ven_id, outgoing.id, release=last, told=rendered.told
            )
            self._count(rendered.message_type, "delivered")
            await self._messages.take_answer(target.ven_id, answer.body)
            if not held or last:
                return False  # done, or the lease lapsed meanwhile: another may send now
        return True

    async def _failed(self, target: Target, message_id: int, message_type: str, error: str) -> None:
        now = self._clock.now()
        delay = self.config.backoff(target.failures)
        since = target.failing_since or now
        unreachable = (now - since).total_seconds() >= self.config.unreachable_after_seconds
        logger.info(
            "push: %s to %s failed (%s); next attempt in %.1f s",
            message_type, target.ven_id, error, delay,
        )  # fmt: skip
        await self._store.failed(
            self.owner, target.ven_id, message_id, now, error,
            now + timedelta(seconds=delay), unreachable,
        )  # fmt: skip
        self._count(message_type, "failed")

    def _count(self, message_type: str, outcome: str) -> None:
        if self._metrics is not None:
            self._metrics.push_message(message_type, outcome)

    # --- lifecycle ------------------------------------------------------------------------
    async def close(self) -> None:
        """Stop sending and give up this process's leases (another takes over at once)."""
        for task in list(self._deliveries):
            task.cancel()
        await asyncio.gather(*self._deliveries, return_exceptions=True)
        # Deliveries the VENs took are marked, and what they told noted, before the VTN closes.
        await self._acks.settled()
        with contextlib.suppress(Exception):
            await self._store.release(self.owner)
        await self._client.close()


async def run_pusher(pusher: Pusher, stopping: asyncio.Event) -> None:
    """Fill and send until ``stopping``."""
    await asyncio.gather(pusher.fill_forever(stopping), pusher.send_forever(stopping))
