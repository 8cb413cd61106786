"""The changed object as 3.x clients see it, read from the core after the change.

``SubjectSource`` is the port the feed uses; ``CoreSubjects`` reads the core's services and
writes the 3.x objects' common metadata and names. The full 3.x representation (intervals,
payload descriptors, targets) is the 3.x API's serializers' job: the API adapter plugs its own
source in here. A deleted object is told with the last representation this process rendered,
else with its id and type only.
"""

from __future__ import annotations

from collections import OrderedDict
from datetime import datetime
from typing import Any, Protocol

from gateway.domain.errors import NotFound
from gateway.domain.programs import Membership
from gateway.oadr3.notify.rows import rfc3339
from gateway.oadr3.notify.rules import CoreChange, ObjectType, Operation, Subject
from gateway.services.container import Services

_REMEMBERED = 10_000  # last representations kept for DELETE notifications


class SubjectSource(Protocol):
    async def subject(self, change: CoreChange) -> Subject | None: ...

    async def all_ven_ids(self) -> list[str]: ...


def _meta(
    object_type: ObjectType, object_id: str, created: datetime, modified: datetime
) -> dict[str, Any]:
    return {
        "id": object_id,
        "createdDateTime": rfc3339(created),
        "modificationDateTime": rfc3339(modified),
        "objectType": object_type.value,
    }


class CoreSubjects:
    def __init__(self, services: Services) -> None:
        self._services = services
        self._last: OrderedDict[tuple[ObjectType, str], Subject] = OrderedDict()

    async def all_ven_ids(self) -> list[str]:
        return [ven.ven_id for ven in await self._services.vens.all()]

    async def subject(self, change: CoreChange) -> Subject | None:
        key = (change.object_type, change.object_id)
        try:
            found = await self._read(change.object_type, change.object_id)
        except NotFound:
            found = None
        if found is None:
            if change.operation is not Operation.DELETE:
                return None  # gone again before it could be told: its DELETE follows
            remembered = self._last.pop(key, None)
            if remembered is not None:
                return remembered
            return Subject(
                change.object_type, {"id": change.object_id, "objectType": change.object_type}
            )
        self._last[key] = found
        self._last.move_to_end(key)
        while len(self._last) > _REMEMBERED:
            self._last.popitem(last=False)
        return found

    async def _read(self, object_type: ObjectType, object_id: str) -> Subject | None:
        if object_type is ObjectType.PROGRAM:
            return await self._program(object_id)
        if object_type is ObjectType.EVENT:
            return await self._event(object_id)
        if object_type is ObjectType.VEN:
            ven = await self._services.vens.get(object_id)
            body = _meta(ObjectType.VEN, ven.ven_id, ven.created_at, ven.created_at)
            body["venName"] = ven.name
            return Subject(ObjectType.VEN, body, ven_ids=frozenset({ven.ven_id}))
        if object_type is ObjectType.RESOURCE:
            device = await self._services.devices.get(object_id)
            body = _meta(ObjectType.RESOURCE, device.id, device.created_at, device.created_at)
            body |= {"resourceName": device.id, "venID": device.ven_id}
            vens = frozenset() if device.ven_id is None else frozenset({device.ven_id})
            return Subject(ObjectType.RESOURCE, body, ven_ids=vens)
        return None

    async def _program(self, program_id: str) -> Subject:
        program = await self._services.programs.get(program_id)
        body = _meta(ObjectType.PROGRAM, program.id, program.created_at, program.updated_at)
        body["programName"] = program.name
        if program.description:
            body["programLongName"] = program.description
        if program.membership is Membership.ALL:
            return Subject(ObjectType.PROGRAM, body, program_id=program.id)
        vens = set(program.vens)
        for device_id in program.devices:
            vens |= await self._vens_of([device_id])
        return Subject(ObjectType.PROGRAM, body, program_id=program.id, ven_ids=frozenset(vens))

    async def _event(self, invitation_id: str) -> Subject:
        invitation = await self._services.invitations.get(invitation_id, use_cache=False)
        body = _meta(ObjectType.EVENT, invitation.id, invitation.created_at, invitation.created_at)
        body |= {
            "programID": invitation.program_id,
            "intervalPeriod": {
                "start": rfc3339(invitation.event_time),
                "duration": f"PT{invitation.duration_minutes}M",
            },
        }
        vens = await self._vens_of(invitation.devices)
        return Subject(
            ObjectType.EVENT, body, program_id=invitation.program_id, ven_ids=frozenset(vens)
        )

    async def _vens_of(self, device_ids: list[str]) -> set[str]:
        vens: set[str] = set()
        for device_id in device_ids:
            try:
                device = await self._services.devices.get(device_id)
            except NotFound:
                continue
            if device.ven_id is not None:
                vens.add(device.ven_id)
        return vens
