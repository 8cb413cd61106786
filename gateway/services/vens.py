"""VEN provisioning for the admin API: who may register with the VTN, how they are doing, and
what the operator asks of a registered one (``VenRequest``)."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.db.models import DeviceRow, ProgramVenRow, VenMessageRow, VenRow
from gateway.db.ven_models import VenPushMessageRow, VenPushTargetRow
from gateway.domain.errors import AlreadyExists, Conflict, FieldError, NotFound, raise_if_any
from gateway.domain.ven_requests import VenRequest
from gateway.services.context import ServiceContext
from gateway.services.references import open_holders, refuse_if_held
from gateway.services.ven_facing.changes import ChangeKind, VenChange
from gateway.services.ven_facing.report_requests import hold_cutoff
from gateway.services.views import VenPushView, VenView

# How a push-mode VEN's address is made into a service's URL (gateway.oadr20b_push.addresses).
PUSH_ADDRESS_STYLES = ("openadr", "bare")

# openleadr's fingerprint: the last 10 bytes of the certificate's SHA-256, as XX:XX:...
FINGERPRINT = re.compile(r"^[0-9A-F]{2}(:[0-9A-F]{2}){9}$")


class Removal(StrEnum):
    REMOVED = "removed"  # the VEN is gone
    CANCELLING = "cancelling"  # it is told its registration ends; gone once it answers


@dataclass(frozen=True, slots=True)
class RemovedVen:
    ven_id: str
    status: Removal
    devices_detached: tuple[str, ...]
    deprovisioned_at: datetime | None


@dataclass(frozen=True, slots=True)
class VenChanges:
    """What a PATCH gives; ``None`` for the fingerprint is a value (no certificate), so each
    field given is flagged in ``given``."""

    given: frozenset[str]
    name: str | None = None
    fingerprint: str | None = None
    push_address_style: str | None = None


async def _set_push_address_style(session: AsyncSession, ven_id: str, style: str) -> None:
    """How pushes to the VEN are addressed (``PUSH_ADDRESS_STYLES``); kept for a VEN not in
    push mode yet, for when it registers so."""
    raise_if_any(
        []
        if style in PUSH_ADDRESS_STYLES
        else [FieldError("push_address_style", f"must be one of {PUSH_ADDRESS_STYLES}")]
    )
    target = await session.get(VenPushTargetRow, ven_id, with_for_update=True)
    if target is None:
        session.add(VenPushTargetRow(ven_id=ven_id, address_style=style, failures=0))
    else:
        target.address_style = style


def _checked_fingerprint(fingerprint: str | None) -> str | None:
    if fingerprint is None:
        return None
    fingerprint = fingerprint.strip().upper()
    if not FINGERPRINT.match(fingerprint):
        raise_if_any(
            [FieldError("fingerprint", "must be 10 colon-separated hex bytes (AA:BB:...)")]
        )
    return fingerprint


class VenService:
    def __init__(self, ctx: ServiceContext) -> None:
        self._ctx = ctx

    async def provision(self, name: str, fingerprint: str | None, ven_id: str | None) -> VenView:
        fingerprint = _checked_fingerprint(fingerprint)
        row = VenRow(
            ven_id=ven_id or uuid.uuid4().hex,
            name=name,
            fingerprint=fingerprint,
            provisioned=True,
            created_at=self._ctx.clock.now(),
            delivered_events={},
        )
        try:
            async with self._ctx.db.write() as session:
                taken = await session.scalar(
                    select(VenRow.ven_id).where(
                        (VenRow.ven_id == row.ven_id) | (VenRow.name == name)
                    )
                )
                if taken is not None:
                    raise AlreadyExists(f"a VEN with id {row.ven_id} or name {name!r} exists")
                session.add(row)
                self._ctx.announce(session, "ven_provisioned", ven_id=row.ven_id, name=name)
        except IntegrityError as err:
            raise AlreadyExists(f"a VEN with id {row.ven_id} or name {name!r} exists") from err
        await self._ctx.publisher.flush()
        return VenView.of(row, 0)

    async def all(self) -> list[VenView]:
        async with self._ctx.db.read() as session:
            counts = dict(
                (
                    await session.execute(
                        select(DeviceRow.ven_id, func.count()).group_by(DeviceRow.ven_id)
                    )
                ).all()
            )
            waiting = await _requests_waiting(session, None, self._ctx.clock.now())
            pushes = await _push_views(session, None)
            rows = await session.scalars(select(VenRow).order_by(VenRow.name))
            return [
                VenView.of(
                    r, counts.get(r.ven_id, 0), waiting.get(r.ven_id, []), pushes.get(r.ven_id)
                )
                for r in rows
            ]

    async def get(self, ven_id: str) -> VenView:
        async with self._ctx.db.read() as session:
            row = await session.get(VenRow, ven_id)
            if row is None:
                raise NotFound(f"VEN {ven_id} not found")
            return await _view(session, row, self._ctx.clock.now())

    async def update(self, ven_id: str, changes: VenChanges) -> VenView:
        """Rename a VEN or rotate its certificate: the VTN checks the new fingerprint from the
        VEN's next message on (the change feed drops its cached record in every process)."""
        fingerprint = _checked_fingerprint(changes.fingerprint)
        try:
            async with self._ctx.db.write() as session:
                row = await session.get(VenRow, ven_id, with_for_update=True)
                if row is None or row.deprovisioned_at is not None:
                    raise NotFound(f"VEN {ven_id} not found")
                if "name" in changes.given and changes.name is not None:
                    taken = await session.scalar(
                        select(VenRow.ven_id).where(
                            VenRow.name == changes.name, VenRow.ven_id != ven_id
                        )
                    )
                    if taken is not None:
                        raise AlreadyExists(f"a VEN named {changes.name!r} exists")
                    row.name = changes.name
                if "fingerprint" in changes.given:
                    row.fingerprint = fingerprint
                if changes.push_address_style is not None:
                    await _set_push_address_style(session, ven_id, changes.push_address_style)
                await session.flush()
                self._ctx.announce(
                    session, "ven_updated", ven_id=ven_id, name=row.name,
                    fingerprint=row.fingerprint, change=VenChange(ChangeKind.VEN, ven_id=ven_id),
                )  # fmt: skip
                view = await _view(session, row, self._ctx.clock.now())
        except IntegrityError as err:
            raise AlreadyExists(f"a VEN named {changes.name!r} exists") from err
        await self._ctx.publisher.flush()
        return view

    async def remove(self, ven_id: str) -> RemovedVen:
        """Deprovision a VEN. Refused (409) while a pending invitation or an open event names
        one of its devices. Otherwise its devices are detached (kept, with no VEN), its
        program enrolments end, and then: an unregistered VEN is deleted with what it sent
        and is owed (reports, report requests, queued messages, opts, errors); a registered
        one is first told its registration is cancelled (the operator's cancel), and is
        deleted once it answers (``VtnStore.deregister``). Removing it again does not wait."""
        async with self._ctx.db.write() as session:
            row = await session.get(VenRow, ven_id, with_for_update=True)
            if row is None:
                raise NotFound(f"VEN {ven_id} not found")
            devices = list(
                await session.scalars(select(DeviceRow.id).where(DeviceRow.ven_id == ven_id))
            )
            holders = await open_holders(session, devices)
            refuse_if_held(holders, f"VEN {ven_id}'s devices cannot be detached")
            await session.execute(
                update(DeviceRow)
                .where(DeviceRow.ven_id == ven_id)
                .values(ven_id=None, resource_id=None)
            )
            await session.execute(delete(ProgramVenRow).where(ProgramVenRow.ven_id == ven_id))
            cancelling = row.registration_id is not None and row.deprovisioned_at is None
            if cancelling:
                row.deprovisioned_at = self._ctx.clock.now()
                session.add(
                    VenMessageRow(
                        ven_id=ven_id, message_type=VenRequest.CANCEL_REGISTRATION.value,
                        payload={}, created_at=row.deprovisioned_at,
                    )
                )  # fmt: skip
            else:
                await session.delete(row)
            self._ctx.announce(
                session, "ven_removed", ven_id=ven_id, devices_detached=devices,
                cancelling=cancelling, change=VenChange(ChangeKind.VEN, ven_id=ven_id),
            )  # fmt: skip
        await self._ctx.publisher.flush()
        if not cancelling:
            return RemovedVen(ven_id, Removal.REMOVED, tuple(devices), None)
        return RemovedVen(ven_id, Removal.CANCELLING, tuple(devices), row.deprovisioned_at)

    async def request(self, ven_id: str, request: VenRequest) -> VenView:
        """Queue ``request`` for the VEN (404: no such VEN; 409: it is not registered). The
        VEN's registration changes when it answers: a cancel once it acknowledges it, a
        re-registration once it registers again."""
        async with self._ctx.db.write() as session:
            row = await session.get(VenRow, ven_id, with_for_update=True)
            if row is None:
                raise NotFound(f"VEN {ven_id} not found")
            if row.registration_id is None:
                raise Conflict(f"VEN {ven_id} is not registered")
            now = self._ctx.clock.now()
            session.add(
                VenMessageRow(ven_id=ven_id, message_type=request.value, payload={}, created_at=now)
            )
            self._ctx.announce(
                session, "ven_request_queued", ven_id=ven_id, request=request.value,
                change=VenChange(ChangeKind.VEN, ven_id=ven_id),
            )  # fmt: skip
            await session.flush()
            view = await _view(session, row, self._ctx.clock.now())
        await self._ctx.publisher.flush()
        return view


async def _view(session: AsyncSession, row: VenRow, now: datetime) -> VenView:
    count = await session.scalar(
        select(func.count()).select_from(DeviceRow).where(DeviceRow.ven_id == row.ven_id)
    )
    waiting = await _requests_waiting(session, row.ven_id, now)
    pushes = await _push_views(session, row.ven_id)
    return VenView.of(row, int(count or 0), waiting.get(row.ven_id, []), pushes.get(row.ven_id))


async def _push_views(session: AsyncSession, ven_id: str | None) -> dict[str, VenPushView]:
    """Each push-mode VEN's (or ``ven_id``'s) delivery state and count of pending pushes."""
    targets = select(VenPushTargetRow)
    pending = (
        select(VenPushMessageRow.ven_id, func.count())
        .where(VenPushMessageRow.delivered_at.is_(None))
        .group_by(VenPushMessageRow.ven_id)
    )
    if ven_id is not None:
        targets = targets.where(VenPushTargetRow.ven_id == ven_id)
        pending = pending.where(VenPushMessageRow.ven_id == ven_id)
    counts: dict[str, int] = {v: int(n) for v, n in (await session.execute(pending)).all()}
    return {
        t.ven_id: VenPushView.of(t, counts.get(t.ven_id, 0))
        for t in await session.scalars(targets)
        if t.transport_address is not None or counts.get(t.ven_id)
    }


async def _requests_waiting(
    session: AsyncSession, ven_id: str | None, now: datetime
) -> dict[str, list[str]]:
    """The operator's requests each VEN (or ``ven_id``) has not been told yet, oldest first
    (not a report request held too long for its next registration: it is dropped)."""
    query = select(VenMessageRow.ven_id, VenMessageRow.message_type).where(
        VenMessageRow.delivered_at.is_(None),
        VenMessageRow.message_type.in_([r.value for r in VenRequest]),
        or_(
            VenMessageRow.message_type != VenRequest.REPORT_REQUEST_ON_REGISTRATION.value,
            VenMessageRow.created_at >= hold_cutoff(now),
        ),
    )
    if ven_id is not None:
        query = query.where(VenMessageRow.ven_id == ven_id)
    waiting: dict[str, list[str]] = {}
    for owner, kind in (await session.execute(query.order_by(VenMessageRow.id))).all():
        waiting.setdefault(owner, []).append(kind)
    # A push-mode VEN's requests move to its push outbox: not told until pushed.
    pushed = select(VenPushMessageRow.ven_id, VenPushMessageRow.message_type).where(
        VenPushMessageRow.delivered_at.is_(None),
        VenPushMessageRow.message_type.in_([r.value for r in VenRequest]),
    )
    if ven_id is not None:
        pushed = pushed.where(VenPushMessageRow.ven_id == ven_id)
    for owner, kind in (await session.execute(pushed.order_by(VenPushMessageRow.id))).all():
        waiting.setdefault(owner, []).append(kind)
    return waiting
