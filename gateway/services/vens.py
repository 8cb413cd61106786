"""VEN provisioning for the admin API: who may register with the VTN, and how they are doing."""

from __future__ import annotations

import re
import uuid

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from gateway.db.models import DeviceRow, VenRow
from gateway.domain.errors import AlreadyExists, FieldError, NotFound, raise_if_any
from gateway.services.context import ServiceContext
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
            rows = await session.scalars(select(VenRow).order_by(VenRow.name))
            return [VenView.of(r, counts.get(r.ven_id, 0)) for r in rows]

    async def get(self, ven_id: str) -> VenView:
        async with self._ctx.db.read() as session:
            row = await session.get(VenRow, ven_id)
            if row is None:
                raise NotFound(f"VEN {ven_id} not found")
            count = await session.scalar(
                select(func.count()).select_from(DeviceRow).where(DeviceRow.ven_id == ven_id)
            )
            return VenView.of(row, int(count or 0))
