"""Devices and their hourly flexibility instructions."""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.db.models import DeviceInstructionRow, DeviceRow
from gateway.domain.errors import AlreadyExists, Conflict, FieldError, NotFound, raise_if_any
from gateway.domain.flexibility import HOURS, Instruction, is_valid_timezone
from gateway.services.context import ServiceContext
from gateway.services.flexibility_views import InstructionsView
from gateway.services.references import has_history, open_holders, refuse_if_held
from gateway.services.ven_facing.changes import ChangeKind, VenChange
from gateway.services.views import DeviceView

DEVICE_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:\-]{0,127}$")


def check_device_id(field: str, value: str) -> list[FieldError]:
    if not DEVICE_ID_PATTERN.fullmatch(value):
        return [
            FieldError(
                field,
                "must be 1-128 characters of letters, digits, '.', '_', ':' or '-', "
                "starting with a letter or digit",
            )
        ]
    return []


async def known_device_ids(session: AsyncSession, device_ids: Collection[str]) -> set[str]:
    if not device_ids:
        return set()
    rows = await session.scalars(select(DeviceRow.id).where(DeviceRow.id.in_(set(device_ids))))
    return set(rows)


@dataclass(frozen=True, slots=True)
class DeviceChanges:
    """What a PATCH gives; ``None`` for ven_id or resource_id is a value (detach), so each
    field given is flagged in ``given``."""

    given: frozenset[str]
    timezone: str | None = None
    ven_id: str | None = None
    resource_id: str | None = None


class DeviceService:
    def __init__(self, ctx: ServiceContext) -> None:
        self._ctx = ctx

    async def register(
        self,
        device_id: str,
        timezone: str = "UTC",
        ven_id: str | None = None,
        resource_id: str | None = None,
    ) -> DeviceView:
        errors = check_device_id("id", device_id)
        if not is_valid_timezone(timezone):
            errors.append(FieldError("timezone", f"unknown IANA time zone {timezone!r}"))
        if resource_id is not None and ven_id is None:
            errors.append(FieldError("ven_id", "is required when resource_id is given"))
        raise_if_any(errors)
        row = DeviceRow(
            id=device_id,
            ven_id=ven_id,
            resource_id=resource_id,
            timezone=timezone,
            created_at=self._ctx.clock.now(),
        )
        try:
            async with self._ctx.db.write() as session:
                if await session.get(DeviceRow, device_id) is not None:
                    raise AlreadyExists(f"device {device_id} is already registered")
                session.add(row)
                self._ctx.announce(
                    session,
                    "device_registered",
                    change=VenChange(ChangeKind.DEVICE, device_ids=(device_id,), ven_id=ven_id),
                    device_id=device_id,
                    ven_id=ven_id,
                )
        except IntegrityError as err:
            raise AlreadyExists(
                f"device {device_id} or resource {resource_id} of VEN {ven_id} exists"
            ) from err
        await self._ctx.publisher.flush()
        return DeviceView.of(row)

    async def all(self) -> list[DeviceView]:
        async with self._ctx.db.read() as session:
            rows = await session.scalars(select(DeviceRow).order_by(DeviceRow.id))
            return [DeviceView.of(r) for r in rows]

    async def get(self, device_id: str) -> DeviceView:
        async with self._ctx.db.read() as session:
            row = await session.get(DeviceRow, device_id)
            if row is None:
                raise NotFound(f"device {device_id} not found")
            return DeviceView.of(row)

    async def update(self, device_id: str, changes: DeviceChanges) -> DeviceView:
        """Change a device's time zone, VEN or resource id. Moving it to another VEN (or off
        its VEN, or to another resource) is refused while a pending invitation or an open
        event names it: they were sent to the VEN it has now."""
        errors: list[FieldError] = []
        if "timezone" in changes.given and not is_valid_timezone(changes.timezone or ""):
            errors.append(FieldError("timezone", f"unknown IANA time zone {changes.timezone!r}"))
        raise_if_any(errors)
        try:
            async with self._ctx.db.write() as session:
                row = await session.get(DeviceRow, device_id, with_for_update=True)
                if row is None:
                    raise NotFound(f"device {device_id} not found")
                old_ven = row.ven_id
                ven_id = changes.ven_id if "ven_id" in changes.given else row.ven_id
                resource_id = (
                    changes.resource_id if "resource_id" in changes.given else row.resource_id
                )
                if ven_id is None and "resource_id" not in changes.given:
                    resource_id = None  # detached from its VEN, it has no resource there
                if resource_id is not None and ven_id is None:
                    # What the device has now decides it, so a conflict, not a bad field.
                    raise Conflict(
                        f"device {device_id} has no VEN: a resource id needs one (give ven_id)"
                    )
                if (ven_id, resource_id) != (row.ven_id, row.resource_id):
                    holders = await open_holders(session, [device_id])
                    refuse_if_held(holders, f"device {device_id} cannot change VEN or resource")
                if changes.timezone is not None and "timezone" in changes.given:
                    row.timezone = changes.timezone
                row.ven_id, row.resource_id = ven_id, resource_id
                await session.flush()
                self._ctx.announce(
                    session, "device_updated", device_id=device_id, ven_id=ven_id,
                    change=VenChange(ChangeKind.DEVICE, device_ids=(device_id,), ven_id=ven_id),
                )  # fmt: skip
                if old_ven is not None and old_ven != ven_id:
                    _announce_left(self._ctx, session, device_id, old_ven)
                view = DeviceView.of(row)
        except IntegrityError as err:
            raise AlreadyExists(
                f"VEN {changes.ven_id} already has a device with resource {changes.resource_id}"
            ) from err
        await self._ctx.publisher.flush()
        return view

    async def remove(self, device_id: str) -> None:
        """Remove a device that no invitation or event names (its instructions and program
        enrolments go with it). One that any names is refused: an open one would lose a
        device it counts on, and a closed one's answers and results keep naming it (detach it
        from its VEN instead, with ``ven_id: null``)."""
        async with self._ctx.db.write() as session:
            row = await session.get(DeviceRow, device_id, with_for_update=True)
            if row is None:
                raise NotFound(f"device {device_id} not found")
            refuse_if_held(await open_holders(session, [device_id]), f"device {device_id} is held")
            if await has_history(session, device_id):
                raise Conflict(
                    f"device {device_id} took part in past invitations or events, whose "
                    "answers and results keep naming it; detach it from its VEN instead "
                    "(PATCH ven_id: null)"
                )
            old_ven = row.ven_id
            await session.delete(row)
            await session.flush()
            self._ctx.announce(
                session, "device_removed", device_id=device_id, ven_id=old_ven,
                change=VenChange(ChangeKind.DEVICE, device_ids=(device_id,), ven_id=None),
            )  # fmt: skip
            if old_ven is not None:
                _announce_left(self._ctx, session, device_id, old_ven)
        await self._ctx.publisher.flush()

    async def instructions(self, device_id: str) -> InstructionsView:
        async with self._ctx.db.read() as session:
            device = await session.get(DeviceRow, device_id)
            if device is None:
                raise NotFound(f"device {device_id} not found")
            rows = (
                await session.scalars(
                    select(DeviceInstructionRow).where(DeviceInstructionRow.device_id == device_id)
                )
            ).all()
            return _instructions_view(device, rows)

    async def set_instructions(
        self, device_id: str, instructions: Mapping[str, str]
    ) -> InstructionsView:
        parsed = parse_instructions(instructions)
        now = self._ctx.clock.now()
        async with self._ctx.db.write() as session:
            device = await session.get(DeviceRow, device_id)
            if device is None:
                raise NotFound(f"device {device_id} not found")
            await session.execute(
                delete(DeviceInstructionRow).where(DeviceInstructionRow.device_id == device_id)
            )
            rows = [
                DeviceInstructionRow(
                    device_id=device_id,
                    hour=hour,
                    instruction=str(parsed.get(hour, Instruction.OFF)),
                    updated_at=now,
                )
                for hour in HOURS
            ]
            session.add_all(rows)
            self._ctx.announce(session, "device_instructions_updated", device_id=device_id)
        await self._ctx.publisher.flush()
        return _instructions_view(device, rows)


def _announce_left(ctx: ServiceContext, session: AsyncSession, device_id: str, ven: str) -> None:
    """The VEN the device left sees it gone from its resources at once."""
    ctx.announce(
        session, "device_left_ven", device_id=device_id, ven_id=ven,
        change=VenChange(ChangeKind.VEN, ven_id=ven),
    )  # fmt: skip


def parse_instructions(instructions: Mapping[str, str]) -> dict[int, Instruction]:
    """Hours are "0".."23" in the device's local time; hours not given are ``off``."""
    errors: list[FieldError] = []
    parsed: dict[int, Instruction] = {}
    allowed = ", ".join(i.value for i in Instruction)
    hour_keys = {str(hour): hour for hour in HOURS}
    for key, value in instructions.items():
        field = f"instructions.{key}"
        if key not in hour_keys:
            errors.append(FieldError(field, 'hour must be written "0" to "23"'))
            continue
        try:
            parsed[hour_keys[key]] = Instruction(value)
        except ValueError:
            errors.append(FieldError(field, f"must be one of {allowed}"))
    raise_if_any(errors)
    return parsed


def _instructions_view(
    device: DeviceRow, rows: Collection[DeviceInstructionRow]
) -> InstructionsView:
    by_hour = {r.hour: r.instruction for r in rows}
    return InstructionsView(
        device_id=device.id,
        timezone=device.timezone,
        instructions={str(h): by_hour.get(h, Instruction.OFF.value) for h in HOURS},
        updated_at=max((r.updated_at for r in rows), default=None),
    )
