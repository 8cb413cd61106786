"""The push outbox in the database: what each push-mode VEN is owed, who sends to it now
(a lease on its target row, so one process at a time sends to one VEN, in order), and how
its deliveries went (failures in a row, next attempt, unreachable since)."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, func, insert, or_, select, update

from gateway.db.engine import Database
from gateway.db.models import VenMessageRow, VenRow
from gateway.db.ven_models import VenPushMessageRow, VenPushTargetRow
from gateway.oadr20b.store import ON_VTNS_TURN
from gateway.oadr20b.told import Told, save_told
from gateway.oadr20b.vtn_metadata import MAX_LIVE_REQUESTS, REGISTER_REPORT, register_report
from gateway.oadr20b.vtn_metadata import take_due as take_metadata_due
from gateway.oadr20b_push.addresses import AddressStyle

DISTRIBUTE = "oadrDistributeEvent"
_VENS = cast(Table, VenRow.__table__)


@dataclass(frozen=True)
class Target:
    """A push-mode VEN this process holds the lease of."""

    ven_id: str
    address: str
    style: AddressStyle
    failures: int
    failing_since: datetime | None  # the first failure in the current run of failures


@dataclass(frozen=True)
class Ack:
    """A message a VEN took; ``release``: its sender is done with the VEN; ``told``: what the
    VEN knows of its events now (a distribute's), kept in the same transaction."""

    ven_id: str
    message_id: int
    release: bool
    told: Told | None = None


@dataclass(frozen=True)
class Outgoing:
    id: int
    message_type: str
    payload: dict[str, Any] | None  # None: a distribute, rendered when sent


class PushStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def push_vens(self) -> list[str]:
        """The registered push-mode VENs that have an address."""
        async with self._db.read() as session:
            rows = await session.scalars(
                select(VenPushTargetRow.ven_id)
                .join(VenRow, VenRow.ven_id == VenPushTargetRow.ven_id)
                .where(
                    VenRow.http_pull_model.is_(False),
                    VenRow.registration_id.is_not(None),
                    VenPushTargetRow.transport_address.is_not(None),
                )
            )
            return list(rows)

    async def fill(
        self,
        distribute_to: Iterable[str],
        queued_for: Iterable[str],
        now: datetime,
        still_owed: Callable[[str, dict[str, Any]], bool] = lambda _ven, _told: True,
        metadata_for: Iterable[str] = (),
        *,
        resend: Collection[str] = (),
        resent_before: datetime | None = None,
    ) -> int:
        """Queue a distribute for each of ``distribute_to`` that has none waiting and is
        ``still_owed`` one given what it was told (read here, under the lock), move the
        messages waiting for a poll of ``queued_for`` into their outboxes (in order, after
        what is there), and queue the VTN's METADATA reports due to ``metadata_for`` after
        them (as a poll gets them last). Those of ``resend`` (owed a distribute only to re-tell
        an unacknowledged cancel) get one unless one was delivered after ``resent_before``.
        One transaction; the target rows are locked so that
        two processes filling at once queue one distribute, not two, and a distribute another
        process sent meanwhile is not queued again. Returns how many rows were queued."""
        distribute, queued = sorted(set(distribute_to)), sorted(set(queued_for))
        metadata = sorted(set(metadata_for))
        if not distribute and not queued and not metadata:
            return 0
        rows: list[dict[str, Any]] = []
        async with self._db.write() as session:
            # Still in push mode as seen under the lock (it may have registered for polls
            # since its state was read).
            pushing = set(
                await session.scalars(
                    select(VenPushTargetRow.ven_id)
                    .where(
                        VenPushTargetRow.ven_id.in_(sorted({*distribute, *queued, *metadata})),
                        VenPushTargetRow.transport_address.is_not(None),
                    )
                    .order_by(VenPushTargetRow.ven_id)
                    .with_for_update()
                )
            )
            distribute = [v for v in distribute if v in pushing]
            queued = [v for v in queued if v in pushing]
            metadata = [v for v in metadata if v in pushing]
            if queued:
                moved = (
                    await session.scalars(
                        select(VenMessageRow)
                        .where(
                            VenMessageRow.ven_id.in_(queued),
                            VenMessageRow.delivered_at.is_(None),
                            # Not those told in the answer to the VEN's next report or
                            # oadrRegisterReport (a piggy-backed cancel was pushed on its own).
                            ON_VTNS_TURN,
                        )
                        .order_by(VenMessageRow.id)
                    )
                ).all()
                for message in moved:
                    message.delivered_at = now  # handed to the push outbox
                    rows.append(
                        _row(message.ven_id, message.message_type, dict(message.payload), now)
                    )
            if distribute:
                waiting = set(
                    await session.scalars(
                        select(VenPushMessageRow.ven_id).where(
                            VenPushMessageRow.ven_id.in_(distribute),
                            VenPushMessageRow.message_type == DISTRIBUTE,
                            VenPushMessageRow.delivered_at.is_(None),
                        )
                    )
                )
                told: dict[str, Any] = dict(
                    (
                        await session.execute(
                            select(VenRow.ven_id, VenRow.delivered_events).where(
                                VenRow.ven_id.in_(distribute)
                            )
                        )
                    ).all()
                )
                recent = await self._resent_recently(session, resend, distribute, resent_before)
                rows += [
                    _row(ven_id, DISTRIBUTE, None, now)
                    for ven_id in distribute
                    if ven_id not in waiting and ven_id not in recent
                    and still_owed(ven_id, dict(told.get(ven_id) or {}))
                ]  # fmt: skip
            for ven_id in metadata:
                # Every request due now, each once (a periodic one moves past now).
                for _ in range(MAX_LIVE_REQUESTS + 1):
                    request_id = await take_metadata_due(session, ven_id, now)
                    if request_id is None:
                        break
                    payload = register_report(ven_id, request_id, now)
                    rows.append(_row(ven_id, REGISTER_REPORT, payload, now))
            if rows:
                # One statement for them all (a thousand VENs of one invitation): the ORM's
                # unit of work was most of the fill's time.
                await session.execute(insert(VenPushMessageRow), rows)
        return len(rows)

    @staticmethod
    async def _resent_recently(
        session: Any, resend: Collection[str], distribute: Sequence[str],
        resent_before: datetime | None,
    ) -> set[str]:  # fmt: skip
        """Those of ``resend`` that were delivered a distribute after ``resent_before``."""
        asked = sorted(set(resend) & set(distribute))
        if not asked or resent_before is None:
            return set()
        return set(
            await session.scalars(
                select(VenPushMessageRow.ven_id).where(
                    VenPushMessageRow.ven_id.in_(asked),
                    VenPushMessageRow.message_type == DISTRIBUTE,
                    VenPushMessageRow.delivered_at > resent_before,
                )
            )
        )

    async def claim(
        self, owner: str, now: datetime, lease: timedelta, busy: Sequence[str], limit: int
    ) -> list[Target]:
        """Take the lease of up to ``limit`` VENs with messages due and no other sender
        (``busy``: those this process sends to already). One UPDATE: on PostgreSQL two
        processes claiming at once each see the other's lease and never share a VEN."""
        pending = (
            select(VenPushMessageRow.ven_id)
            .where(VenPushMessageRow.delivered_at.is_(None))
            .distinct()
            .scalar_subquery()
        )
        # Looked for in a read first: an idle gateway writes nothing.
        async with self._db.read() as session:
            candidates = (
                await session.scalars(
                    select(VenPushTargetRow.ven_id)
                    .where(
                        VenPushTargetRow.ven_id.in_(pending),
                        VenPushTargetRow.transport_address.is_not(None),
                        VenPushTargetRow.ven_id.not_in(list(busy)),
                        or_(
                            VenPushTargetRow.lease_until.is_(None),
                            VenPushTargetRow.lease_until < now,
                        ),
                        or_(
                            VenPushTargetRow.next_attempt_at.is_(None),
                            VenPushTargetRow.next_attempt_at <= now,
                        ),
                    )
                    .order_by(VenPushTargetRow.ven_id)
                    .limit(limit)
                )
            ).all()
        if not candidates:
            return []
        async with self._db.write() as session:
            rows = (
                await session.execute(
                    update(VenPushTargetRow)
                    .where(
                        VenPushTargetRow.ven_id.in_(list(candidates)),
                        or_(
                            VenPushTargetRow.lease_until.is_(None),
                            VenPushTargetRow.lease_until < now,
                        ),
                    )
                    .values(lease_owner=owner, lease_until=now + lease)
                    .returning(
                        VenPushTargetRow.ven_id, VenPushTargetRow.transport_address,
                        VenPushTargetRow.address_style, VenPushTargetRow.failures,
                        VenPushTargetRow.failing_since,
                    )
                )
            ).all()  # fmt: skip
        return [
            Target(r[0], str(r[1]), AddressStyle(r[2]), int(r[3] or 0), r[4])
            for r in rows
            if r[1] is not None
        ]

    async def outgoing(self, ven_id: str, limit: int = 20) -> list[Outgoing]:
        async with self._db.read() as session:
            rows = await session.scalars(
                select(VenPushMessageRow)
                .where(VenPushMessageRow.ven_id == ven_id, VenPushMessageRow.delivered_at.is_(None))
                .order_by(VenPushMessageRow.id)
                .limit(limit)
            )
            return [
                Outgoing(r.id, r.message_type, None if r.payload is None else dict(r.payload))
                for r in rows
            ]

    async def outgoing_of(self, ven_ids: Sequence[str], limit: int) -> dict[str, list[Outgoing]]:
        """The first ``limit`` messages of each of ``ven_ids``, in one query."""
        found: dict[str, list[Outgoing]] = {v: [] for v in ven_ids}
        if not ven_ids:
            return found
        async with self._db.read() as session:
            rows = await session.scalars(
                select(VenPushMessageRow)
                .where(
                    VenPushMessageRow.ven_id.in_(list(ven_ids)),
                    VenPushMessageRow.delivered_at.is_(None),
                )
                .order_by(VenPushMessageRow.id)
            )
            for r in rows:
                kept = found[r.ven_id]
                if len(kept) < limit:
                    payload = None if r.payload is None else dict(r.payload)
                    kept.append(Outgoing(r.id, r.message_type, payload))
        return found

    async def delivered_many(
        self, owner: str, acks: Sequence[Ack], now: datetime, lease: timedelta
    ) -> set[str]:
        """``delivered`` for many VENs in one transaction (the sender's deliveries of one
        moment); the VENs whose lease was still held."""
        held: set[str] = set()
        values: dict[str, Any] = {
            "failures": 0, "next_attempt_at": None, "last_error": None, "failing_since": None,
            "unreachable_since": None, "last_attempt_at": now, "last_delivered_at": now,
        }  # fmt: skip
        async with self._db.write() as session:
            for release in (True, False):
                ven_ids = sorted({a.ven_id for a in acks if a.release is release})
                if not ven_ids:
                    continue
                lease_values = (
                    {"lease_owner": None, "lease_until": None}
                    if release
                    else {"lease_until": now + lease}
                )
                result = await session.execute(
                    update(VenPushTargetRow)
                    .where(
                        VenPushTargetRow.ven_id.in_(ven_ids), VenPushTargetRow.lease_owner == owner
                    )
                    .values(**values, **lease_values)
                    .returning(VenPushTargetRow.ven_id)
                )
                held.update(result.scalars())
            await session.execute(
                update(VenPushMessageRow)
                .where(VenPushMessageRow.id.in_([a.message_id for a in acks]))
                .values(delivered_at=now, attempts=VenPushMessageRow.attempts + 1)
            )
            await save_told(session, [a.told for a in acks if a.told is not None])
        return held

    async def delivered(
        self, owner: str, ven_id: str, message_id: int, now: datetime, lease: timedelta,
        *, release: bool = False,
    ) -> bool:  # fmt: skip
        """The VEN took the message: marked delivered, its failures reset, the lease renewed
        (or given up: ``release``). False when the lease was lost meanwhile (another process
        may send now)."""
        async with self._db.write() as session:
            held = await session.execute(
                update(VenPushTargetRow)
                .where(VenPushTargetRow.ven_id == ven_id, VenPushTargetRow.lease_owner == owner)
                .values(
                    lease_owner=None if release else owner,
                    lease_until=None if release else now + lease, failures=0,
                    next_attempt_at=None, last_error=None, failing_since=None,
                    unreachable_since=None, last_attempt_at=now, last_delivered_at=now,
                )
            )  # fmt: skip
            await session.execute(
                update(VenPushMessageRow)
                .where(VenPushMessageRow.id == message_id)
                .values(delivered_at=now, attempts=VenPushMessageRow.attempts + 1)
            )
            return bool(getattr(held, "rowcount", 0))

    async def failed(
        self, owner: str, ven_id: str, message_id: int, now: datetime, error: str,
        retry_at: datetime, unreachable: bool,
    ) -> None:  # fmt: skip
        """A delivery failed: the message stays pending, the VEN's next attempt waits."""
        async with self._db.write() as session:
            values: dict[str, Any] = {
                "failures": VenPushTargetRow.failures + 1, "next_attempt_at": retry_at,
                "last_attempt_at": now, "last_error": error[:500], "lease_owner": None,
                "lease_until": None,
                "failing_since": func.coalesce(VenPushTargetRow.failing_since, now),
            }  # fmt: skip
            if unreachable:
                values["unreachable_since"] = func.coalesce(VenPushTargetRow.unreachable_since, now)
            await session.execute(
                update(VenPushTargetRow)
                .where(VenPushTargetRow.ven_id == ven_id, VenPushTargetRow.lease_owner == owner)
                .values(**values)
            )
            await session.execute(
                update(VenPushMessageRow)
                .where(VenPushMessageRow.id == message_id)
                .values(attempts=VenPushMessageRow.attempts + 1)
            )

    async def release(self, owner: str, ven_ids: Iterable[str] | None = None) -> None:
        """Give up the leases of ``ven_ids`` (None: every lease ``owner`` holds)."""
        async with self._db.write() as session:
            query = update(VenPushTargetRow).where(VenPushTargetRow.lease_owner == owner)
            if ven_ids is not None:
                query = query.where(VenPushTargetRow.ven_id.in_(list(ven_ids)))
            await session.execute(query.values(lease_owner=None, lease_until=None))


def _row(
    ven_id: str, message_type: str, payload: dict[str, Any] | None, now: datetime
) -> dict[str, Any]:
    return {
        "ven_id": ven_id, "message_type": message_type, "payload": payload,
        "created_at": now, "attempts": 0,
    }  # fmt: skip
