"""Programs for the admin API: their terms, who is enrolled, and the default program.

The rules (what a valid program is, who takes part, what may be deleted) are in
``gateway.domain.programs``; this module stores and reads them (how invitations and events
apply a program: ``services.program_checks``).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from gateway.db.models import (
    DeviceRow,
    EventRow,
    InvitationRow,
    ProgramDeviceRow,
    ProgramRow,
    ProgramVenRow,
    VenRow,
)
from gateway.domain.errors import (
    AlreadyExists,
    NotFound,
    raise_if_any,
)
from gateway.domain.programs import (
    DEFAULT_PROGRAM_ID,
    ProgramChanges,
    ProgramTerms,
    changed_terms,
    check_deletable,
    check_program_id,
    default_program_terms,
    validate_terms,
    vens_see_a_change,
)
from gateway.services.context import ServiceContext
from gateway.services.invitation_changes import bump_program_invitations
from gateway.services.program_views import ProgramView, program_of, write_terms
from gateway.services.ven_facing.changes import ChangeKind, VenChange
from gateway.settings import Settings

logger = logging.getLogger(__name__)

# What an adapter writes of a program in the transaction that changes it (session, its id).
Alongside = Callable[[AsyncSession, str], Awaitable[None]]


def initial_default_program(settings: Settings) -> ProgramTerms:
    """The default program's terms when first made: the vtn_* settings are its initial values."""
    return default_program_terms(
        settings.vtn_market_context, settings.vtn_priority, settings.vtn_test_events
    )


class ProgramService:
    def __init__(self, ctx: ServiceContext, initial_default: ProgramTerms) -> None:
        self._ctx = ctx
        self._initial_default = initial_default

    async def ensure_default(self) -> None:
        """Make the default program if it is missing; if the migration made it, give it its
        initial values from the settings. Once it exists, the settings are not read again."""
        initial = self._initial_default
        validate_terms(initial)
        now = self._ctx.clock.now()
        try:
            async with self._ctx.db.write() as session:
                row = await session.get(ProgramRow, DEFAULT_PROGRAM_ID)
                if row is None:
                    row = ProgramRow(id=DEFAULT_PROGRAM_ID, created_at=now, updated_at=now)
                    write_terms(row, initial)
                    row.settings_pending = False
                    session.add(row)
                    logger.info("made the default program (%s)", initial.market_context)
                    return
                adopted = await session.execute(
                    update(ProgramRow)
                    .where(ProgramRow.id == DEFAULT_PROGRAM_ID, ProgramRow.settings_pending)
                    .values(
                        market_context=initial.market_context,
                        priority=initial.priority,
                        test_events=initial.test_events,
                        settings_pending=False,
                        updated_at=now,
                    )
                )
                if adopted.rowcount:  # type: ignore[attr-defined]
                    logger.info("default program: market context %s", initial.market_context)
                elif row.market_context != initial.market_context:
                    logger.info(
                        "default program: market context %s (set through the API); "
                        "vtn_market_context %s was only its initial value",
                        row.market_context,
                        initial.market_context,
                    )
        except IntegrityError:  # another replica made it first, or a program took the URI
            async with self._ctx.db.read() as session:
                if await session.get(ProgramRow, DEFAULT_PROGRAM_ID) is None:
                    raise

    async def all(self) -> list[ProgramView]:
        async with self._ctx.db.read() as session:
            rows = (await session.scalars(select(ProgramRow).order_by(ProgramRow.name))).all()
            vens = await _all_members(session, ProgramVenRow)
            devices = await _all_members(session, ProgramDeviceRow)
            return [ProgramView.of(r, vens.get(r.id, []), devices.get(r.id, [])) for r in rows]

    async def get(self, program_id: str) -> ProgramView:
        async with self._ctx.db.read() as session:
            return await _view(session, await _row(session, program_id))

    async def create(
        self, program_id: str | None, terms: ProgramTerms, alongside: Alongside | None = None
    ) -> ProgramView:
        """``alongside``: what an adapter stores of the program in the same transaction (a
        3.x program's own fields: never a program without them, even after a crash)."""
        errors = check_program_id(program_id) if program_id is not None else []
        raise_if_any(errors)
        validate_terms(terms)
        now = self._ctx.clock.now()
        row = ProgramRow(
            id=program_id or uuid.uuid4().hex,
            settings_pending=False,
            created_at=now,
            updated_at=now,
        )
        write_terms(row, terms)
        async with self._writing(terms) as session:
            if await session.get(ProgramRow, row.id) is not None:
                raise AlreadyExists(f"program {row.id} exists")
            await _refuse_taken(session, row.id, terms)
            session.add(row)
            if alongside is not None:
                await session.flush()
                await alongside(session, row.id)
            self._ctx.announce(session, "program_created", program_id=row.id)
        await self._ctx.publisher.flush()
        return ProgramView.of(row, [], [])

    async def update(
        self, program_id: str, changes: ProgramChanges, alongside: Alongside | None = None
    ) -> ProgramView:
        async with self._ctx.db.read() as session:
            current = program_of(await _row(session, program_id)).terms
        terms = changed_terms(current, changes)
        validate_terms(terms)
        async with self._writing(terms) as session:
            row = await _row(session, program_id)
            await _refuse_taken(session, program_id, terms)
            if vens_see_a_change(program_of(row).terms, terms):
                await bump_program_invitations(session, program_id, self._ctx.clock.now())
            write_terms(row, terms)
            row.settings_pending = False  # the operator's values win over the settings'
            row.updated_at = self._ctx.clock.now()
            if alongside is not None:
                await alongside(session, program_id)
            self._ctx.announce(
                session, "program_updated", change=_program_change(program_id),
                program_id=program_id,
            )  # fmt: skip
            view = await _view(session, row)
        await self._ctx.publisher.flush()
        return view

    async def delete(self, program_id: str, alongside: Alongside | None = None) -> ProgramView:
        async with self._ctx.db.write() as session:
            row = await _row(session, program_id)
            invitations = await _count(session, InvitationRow, program_id)
            events = await _count(session, EventRow, program_id)
            check_deletable(program_id, invitations, events)
            view = await _view(session, row)
            await session.delete(row)
            if alongside is not None:
                await alongside(session, program_id)
            self._ctx.announce(
                session, "program_deleted", change=_program_change(program_id),
                program_id=program_id,
            )  # fmt: skip
        await self._ctx.publisher.flush()
        return view

    async def enrol_ven(self, program_id: str, ven_id: str) -> ProgramView:
        return await self._enrol(program_id, ProgramVenRow, VenRow, "VEN", ven_id)

    async def remove_ven(self, program_id: str, ven_id: str) -> ProgramView:
        return await self._remove(program_id, ProgramVenRow, "VEN", ven_id)

    async def enrol_device(self, program_id: str, device_id: str) -> ProgramView:
        return await self._enrol(program_id, ProgramDeviceRow, DeviceRow, "device", device_id)

    async def remove_device(self, program_id: str, device_id: str) -> ProgramView:
        return await self._remove(program_id, ProgramDeviceRow, "device", device_id)

    async def _enrol(
        self,
        program_id: str,
        enrolment: type[ProgramVenRow] | type[ProgramDeviceRow],
        member: type[VenRow] | type[DeviceRow],
        kind: str,
        member_id: str,
    ) -> ProgramView:
        """Enrolling one already enrolled changes nothing (PUT is idempotent)."""

        async def enrol(session: AsyncSession) -> None:
            found: VenRow | DeviceRow | None = await session.get(member, member_id)
            if found is None:
                raise NotFound(f"{kind} {member_id} not found")
            if await session.get(enrolment, (program_id, member_id)) is None:
                session.add(_enrolment_row(enrolment, program_id, member_id, self._ctx))
                self._announce_member(
                    session, "program_enrolled", program_id, kind, member_id, found.ven_id
                )

        return await self._change_members(program_id, enrol)

    async def _remove(
        self,
        program_id: str,
        enrolment: type[ProgramVenRow] | type[ProgramDeviceRow],
        kind: str,
        member_id: str,
    ) -> ProgramView:
        async def remove(session: AsyncSession) -> None:
            enrolled = await session.get(enrolment, (program_id, member_id))
            if enrolled is None:
                raise NotFound(f"{kind} {member_id} is not enrolled in program {program_id}")
            await session.delete(enrolled)
            ven_id = enrolled.ven_id if isinstance(enrolled, ProgramVenRow) else None
            if isinstance(enrolled, ProgramDeviceRow):
                device = await session.get(DeviceRow, member_id)
                ven_id = device.ven_id if device is not None else None
            self._announce_member(
                session, "program_unenrolled", program_id, kind, member_id, ven_id
            )

        return await self._change_members(program_id, remove)

    async def _change_members(
        self, program_id: str, change: Callable[[AsyncSession], Awaitable[None]]
    ) -> ProgramView:
        async with self._ctx.db.write() as session:
            row = await _row(session, program_id)
            await change(session)
            await session.flush()
            view = await _view(session, row)
        await self._ctx.publisher.flush()
        return view

    def _announce_member(
        self,
        session: AsyncSession,
        event: str,
        program_id: str,
        kind: str,
        member_id: str,
        ven_id: str | None,
    ) -> None:
        """``ven_id``: the VEN enrolled, or the device's VEN (None: a device of no VEN)."""
        change = None if ven_id is None else VenChange(ChangeKind.VEN, ven_id=ven_id)
        self._ctx.announce(
            session, event, change=change, program_id=program_id, member=kind, id=member_id
        )

    @asynccontextmanager
    async def _writing(self, terms: ProgramTerms) -> AsyncIterator[AsyncSession]:
        """A write in which a name or market context taken meanwhile is a 409: under
        concurrency the unique constraint, not the check before it, decides."""
        try:
            async with self._ctx.db.write() as session:
                yield session
        except IntegrityError as err:
            raise AlreadyExists(_taken_message(terms)) from err


def _program_change(program_id: str) -> VenChange:
    """A program's terms reach VENs with its events: the VENs holding them are told."""
    return VenChange(ChangeKind.PROGRAM, program_id=program_id)


def _taken_message(terms: ProgramTerms) -> str:
    return f"a program named {terms.name!r} or with market context {terms.market_context!r} exists"


def _enrolment_row(
    enrolment: type[ProgramVenRow] | type[ProgramDeviceRow],
    program_id: str,
    member_id: str,
    ctx: ServiceContext,
) -> ProgramVenRow | ProgramDeviceRow:
    now = ctx.clock.now()
    if enrolment is ProgramVenRow:
        return ProgramVenRow(program_id=program_id, ven_id=member_id, enrolled_at=now)
    return ProgramDeviceRow(program_id=program_id, device_id=member_id, enrolled_at=now)


async def _row(session: AsyncSession, program_id: str) -> ProgramRow:
    row = await session.get(ProgramRow, program_id)
    if row is None:
        raise NotFound(f"program {program_id} not found")
    return row


async def _refuse_taken(session: AsyncSession, program_id: str, terms: ProgramTerms) -> None:
    taken = await session.scalar(
        select(ProgramRow.id).where(
            ProgramRow.id != program_id,
            (ProgramRow.name == terms.name) | (ProgramRow.market_context == terms.market_context),
        )
    )
    if taken is not None:
        raise AlreadyExists(f"{_taken_message(terms)} (program {taken})")


async def _count(
    session: AsyncSession, model: type[InvitationRow] | type[EventRow], program_id: str
) -> int:
    query = select(func.count()).select_from(model).where(model.program_id == program_id)
    return int(await session.scalar(query) or 0)


async def _all_members(
    session: AsyncSession, enrolment: type[ProgramVenRow] | type[ProgramDeviceRow]
) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for owner, member_id in (
        await session.execute(select(enrolment.program_id, _member(enrolment)))
    ).all():
        found.setdefault(owner, []).append(member_id)
    return found


def _member(enrolment: type[ProgramVenRow] | type[ProgramDeviceRow]) -> InstrumentedAttribute[str]:
    return ProgramVenRow.ven_id if enrolment is ProgramVenRow else ProgramDeviceRow.device_id


async def _view(session: AsyncSession, row: ProgramRow) -> ProgramView:
    vens = await _members(session, ProgramVenRow, row.id)
    devices = await _members(session, ProgramDeviceRow, row.id)
    return ProgramView.of(row, vens, devices)


async def _members(
    session: AsyncSession, enrolment: type[ProgramVenRow] | type[ProgramDeviceRow], program_id: str
) -> Sequence[str]:
    query = select(_member(enrolment)).where(enrolment.program_id == program_id)
    return (await session.scalars(query)).all()
