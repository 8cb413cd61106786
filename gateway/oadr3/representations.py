"""One object's 3.x JSON by kind and id, as the 3.x API answers it: for the notifications
(``gateway.oadr3.notify`` plugs it in as its source of full representations) and any other
reader outside a request. ``reader``: business logic by default; a VEN's (``access.reader_of``)
for its view, targets hidden."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from gateway.db.models import DeviceRow, EventRow, ProgramRow, VenRow
from gateway.domain.signals import terms_from_json
from gateway.oadr3.event_views import core_event_json, stored_event_json
from gateway.oadr3.objects import Kind, row_of
from gateway.oadr3.privacy import Reader
from gateway.oadr3.programs import program_json
from gateway.oadr3.reports import report_json
from gateway.oadr3.resources import resource_json
from gateway.oadr3.vens import ven_json
from gateway.services.container import Services

BUSINESS_LOGIC = Reader(None, None)


async def representation(
    services: Services, kind: Kind, object_id: str, reader: Reader = BUSINESS_LOGIC
) -> dict[str, Any] | None:
    """The object, or None when it does not exist (or ``reader`` may not see it). An event
    may be named by its invitation's id, as 3.x VENs know it."""
    async with services.db.read() as session:
        extra = await row_of(session, kind, object_id)
        if kind is Kind.PROGRAM:
            program = await session.get(ProgramRow, object_id)
            return None if program is None else program_json(program, extra, reader)
        if kind is Kind.VEN:
            ven = await session.get(VenRow, object_id)
            return None if ven is None else ven_json(ven, extra)
        if kind is Kind.RESOURCE:
            device = await session.get(DeviceRow, object_id)
            if device is None or device.ven_id is None:
                return None
            return resource_json(device, extra, None)
        if kind is Kind.REPORT:
            return None if extra is None else report_json(extra)
        if kind is Kind.EVENT:
            if extra is not None:
                return stored_event_json(extra, reader)
            event = await session.scalar(
                select(EventRow).where(
                    (EventRow.id == object_id) | (EventRow.invitation_id == object_id)
                )
            )
            if event is None or reader.asked is not None:
                return None
            body = core_event_json(event, terms_from_json(event.terms))
            body["id"] = object_id
            return body
    return None
