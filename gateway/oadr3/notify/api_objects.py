"""The changed object in the 3.x API's own representation (its serializers, as ``GET`` returns
it to business logic), and who may see it under the API's targeting rules.

Objects with targets reach only the VENs whose grants (the targets of their ven and resource
objects) share one (Definition.md, Object Privacy: "When evaluating whether to send a
notification of a change of state of an object with targets, the VTN SHALL use the clientID
of a subscription object to discover the associated ven and resource objects").
An invitation's event is named by the invitation's id, as 3.x VENs know it; its VENs are
its devices' (``CoreSubjects``), its body the API's once it is scheduled.
"""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.db.models import DeviceRow, ProgramRow, VenRow
from gateway.oadr3.event_views import stored_event_json
from gateway.oadr3.models import Oadr3ObjectRow
from gateway.oadr3.notify.objects import CoreSubjects
from gateway.oadr3.notify.rules import ObjectType, Subject
from gateway.oadr3.objects import Kind, row_of
from gateway.oadr3.privacy import Reader, grants_of
from gateway.oadr3.programs import program_json
from gateway.oadr3.reports import report_json
from gateway.oadr3.representations import representation
from gateway.oadr3.resources import resource_json
from gateway.oadr3.vens import ven_json
from gateway.services.program_checks import vens_taking_part
from gateway.services.program_views import program_of

BUSINESS = Reader(None, None)  # the whole object; each VEN's share is decided by ven_ids


class ApiSubjects(CoreSubjects):
    async def _read(self, object_type: ObjectType, object_id: str) -> Subject | None:
        async with self._services.db.read() as session:
            if object_type is ObjectType.PROGRAM:
                return await self._api_program(session, object_id)
            if object_type is ObjectType.EVENT:
                stored = await row_of(session, Kind.EVENT, object_id)
                if stored is not None:
                    return await _api_event(session, stored)
                return await self._invitation_event(object_id)
            if object_type is ObjectType.VEN:
                ven = await session.get(VenRow, object_id)
                if ven is None:
                    return None
                body = ven_json(ven, await row_of(session, Kind.VEN, object_id))
                return Subject(ObjectType.VEN, body, ven_ids=frozenset({ven.ven_id}))
            if object_type is ObjectType.RESOURCE:
                return await _api_resource(session, object_id)
            if object_type is ObjectType.REPORT:
                report = await row_of(session, Kind.REPORT, object_id)
                if report is None:
                    return None
                return Subject(
                    ObjectType.REPORT, report_json(report), program_id=report.program_id,
                    owner_client_id=report.client_id,
                )  # fmt: skip
        return await super()._read(object_type, object_id)

    async def _invitation_event(self, invitation_id: str) -> Subject | None:
        """An invitation's event: its VENs from the core; once scheduled, the API's full
        representation (intervals, payload descriptors) under the invitation's id."""
        core = await super()._read(ObjectType.EVENT, invitation_id)
        if core is None:
            return None
        full = await representation(self._services, Kind.EVENT, invitation_id)
        return core if full is None else replace(core, body=full)

    async def _api_program(self, session: AsyncSession, program_id: str) -> Subject | None:
        row = await session.get(ProgramRow, program_id)
        if row is None:
            return None
        body = program_json(row, await row_of(session, Kind.PROGRAM, program_id), BUSINESS)
        if body is None:
            return None
        # As GET /programs decides: by targets alone (an untargeted program is every VEN's).
        vens, shown = await _targeted(session, body.get("targets"), None)
        return Subject(
            ObjectType.PROGRAM, body, program_id=program_id, ven_ids=vens, shown_targets=shown
        )


async def _api_event(session: AsyncSession, stored: Oadr3ObjectRow) -> Subject | None:
    body = stored_event_json(stored, BUSINESS)
    if body is None:
        return None
    taking_part: frozenset[str] | None = None
    program = await session.get(ProgramRow, stored.program_id) if stored.program_id else None
    if program is not None:
        all_vens = (await session.scalars(select(VenRow.ven_id))).all()
        pairs = await vens_taking_part(session, [program_of(program)], all_vens)
        taking_part = frozenset(ven for _, ven in pairs)
    vens, shown = await _targeted(session, body.get("targets"), taking_part)
    return Subject(
        ObjectType.EVENT, body, program_id=stored.program_id, ven_ids=vens, shown_targets=shown
    )


async def _api_resource(session: AsyncSession, resource_id: str) -> Subject | None:
    device = await session.get(DeviceRow, resource_id)
    if device is None:
        return None
    ven = await session.get(VenRow, device.ven_id) if device.ven_id else None
    body = resource_json(device, await row_of(session, Kind.RESOURCE, resource_id), ven)
    vens = frozenset() if device.ven_id is None else frozenset({device.ven_id})
    return Subject(ObjectType.RESOURCE, body, ven_ids=vens)


async def _targeted(
    session: AsyncSession, targets: object, among: frozenset[str] | None
) -> tuple[frozenset[str] | None, dict[str, tuple[str, ...]] | None]:
    """``among`` (None: every VEN), narrowed to the VENs granted one of ``targets``, and the
    targets each of them is shown (target hiding: only those granted to it)."""
    if not isinstance(targets, list) or not targets:
        return among, None
    wanted = set(targets)
    extras = (
        await session.scalars(
            select(Oadr3ObjectRow).where(
                Oadr3ObjectRow.kind.in_([Kind.VEN.value, Kind.RESOURCE.value])
            )
        )
    ).all()
    own: dict[str, list[str]] = {}
    of_resources: dict[str, list[list[str]]] = {}
    for row in extras:
        found = row.document.get("targets") or []
        if row.kind == Kind.VEN.value:
            own[row.id] = found
        elif row.ven_id is not None:
            of_resources.setdefault(row.ven_id, []).append(found)
    shown: dict[str, tuple[str, ...]] = {}
    for ven in set(own) | set(of_resources):
        mine = grants_of(own.get(ven), of_resources.get(ven, []))
        if (among is None or ven in among) and not wanted.isdisjoint(mine):
            shown[ven] = tuple(t for t in targets if t in mine)
    return frozenset(shown), shown
