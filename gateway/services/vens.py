"""VEN provisioning for the admin API: who may register with the VTN, how they are doing, and
what the operator asks of a registered one (``VenRequest``)."""

from __future__ import annotations

import re
import uuid

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.db.models import DeviceRow, VenMessageRow, VenRow
from gateway.domain.errors import AlreadyExists, Conflict, FieldError, NotFound, raise_if_any
from gateway.domain.ven_requests import VenRequest
from gateway.services.context import ServiceContext
from gateway.services.ven_facing.changes import ChangeKind, VenChange
from gateway.services.views import VenView

# openleadr's fingerprint: the last 10 bytes of the certificate's SHA-256, as XX:XX:...
FINGERPRINT = re.compile(r"^[0-9A-F]{2}(:[0-9A-F]{2}){9}$")


class VenService:
    def __init__(self, ctx: ServiceContext) -> None:
        self._ctx = ctx

    async def provision(self, name: str, fingerprint: str | None, ven_id: str | None) -> VenView:
        errors = []
        if fingerprint is not None:
            fingerprint = fingerprint.strip().upper()
            if not FINGERPRINT.match(fingerprint):
                errors.append(
                    FieldError("fingerprint", "must be 10 colon-separated hex bytes (AA:BB:...)")
                )
        raise_if_any(errors)
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
            waiting = await _requests_waiting(session, None)
            rows = await session.scalars(select(VenRow).order_by(VenRow.name))
            return [VenView.of(r, counts.get(r.ven_id, 0), waiting.get(r.ven_id, [])) for r in rows]

    async def get(self, ven_id: str) -> VenView:
        async with self._ctx.db.read() as session:
            row = await session.get(VenRow, ven_id)
            if row is None:
                raise NotFound(f"VEN {ven_id} not found")
            return await _view(session, row)

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
            view = await _view(session, row)
        await self._ctx.publisher.flush()
        return view


async def _view(session: AsyncSession, row: VenRow) -> VenView:
    count = await session.scalar(
        select(func.count()).select_from(DeviceRow).where(DeviceRow.ven_id == row.ven_id)
    )
    waiting = await _requests_waiting(session, row.ven_id)
    return VenView.of(row, int(count or 0), waiting.get(row.ven_id, []))


async def _requests_waiting(session: AsyncSession, ven_id: str | None) -> dict[str, list[str]]:
    """The operator's requests each VEN (or ``ven_id``) has not been told yet, oldest first."""
    query = select(VenMessageRow.ven_id, VenMessageRow.message_type).where(
        VenMessageRow.delivered_at.is_(None),
        VenMessageRow.message_type.in_([r.value for r in VenRequest]),
    )
    if ven_id is not None:
        query = query.where(VenMessageRow.ven_id == ven_id)
    waiting: dict[str, list[str]] = {}
    for owner, kind in (await session.execute(query.order_by(VenMessageRow.id))).all():
        waiting.setdefault(owner, []).append(kind)
    return waiting
