"""What each VEN reads at ``GET /events`` (no targets asked): for one VEN, and for every VEN at
once, in the same few queries as one, to fill the events cache (``event_cache``) when it is
cold, instead of a read of its own for each VEN. Both make each VEN's list with the same rules
(``ven_events_json``) and the same grants as ``access.reader_of``: a VEN sees only its own.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.db.models import ProgramRow
from gateway.domain.ven_events import VenEvent
from gateway.oadr3.event_views import stored_event_json, ven_event_json
from gateway.oadr3.models import Oadr3ObjectRow
from gateway.oadr3.objects import Kind, rows_of
from gateway.oadr3.privacy import Reader, grants_of
from gateway.services.program_checks import vens_taking_part
from gateway.services.program_views import program_of
from gateway.services.ven_facing.events import events_of_every_ven

# Above this many 3.x VEN objects the cache is filled one VEN at a time, as each reads.
BULK_MAX_VENS = 10_000


def ven_events_json(
    core: Collection[VenEvent],
    stored: Mapping[str, Oadr3ObjectRow],
    taking_part: Collection[str],
    reader: Reader,
) -> list[dict[str, Any]]:
    """A VEN's events: the core events it must know (``core``), and the 3.x ones (``stored``)
    of programs it takes part in (``taking_part``) that its targets reach."""
    by_id = dict(stored)
    shown: list[dict[str, Any]] = []
    for event in core:
        if event.cancelled:
            continue
        if event.event_id in by_id:
            body = stored_event_json(by_id.pop(event.event_id), reader)
        else:
            body = ven_event_json(event) if reader.asked is None else None
        if body is not None:
            shown.append(body)
    for row in by_id.values():
        if row.program_id in taking_part and (body := stored_event_json(row, reader)) is not None:
            shown.append(body)
    return shown


async def every_ven_events(
    session: AsyncSession, now: datetime
) -> dict[str, list[dict[str, Any]]] | None:
    """Every 3.x VEN object's events by its id, as that VEN reads them; None past
    ``BULK_MAX_VENS``."""
    count = await session.scalar(
        select(func.count()).select_from(Oadr3ObjectRow).where(Oadr3ObjectRow.kind == Kind.VEN)
    )
    if (count or 0) > BULK_MAX_VENS:
        return None
    vens = await rows_of(session, Kind.VEN)
    if not vens:
        return {}
    resource_targets: dict[str, list[list[str]]] = {}
    for resource in (await rows_of(session, Kind.RESOURCE)).values():
        if resource.ven_id is not None:
            targets = resource.document.get("targets") or []
            resource_targets.setdefault(resource.ven_id, []).append(targets)
    core = await events_of_every_ven(session, now)
    stored = await rows_of(session, Kind.EVENT)
    programs = [program_of(row) for row in await session.scalars(select(ProgramRow))]
    taking_part: dict[str, set[str]] = {}
    for program_id, ven_id in await vens_taking_part(session, programs, list(vens)):
        taking_part.setdefault(ven_id, set()).add(program_id)
    found: dict[str, list[dict[str, Any]]] = {}
    for ven_id, ven in vens.items():
        granted = grants_of(ven.document.get("targets"), resource_targets.get(ven_id, []))
        reader = Reader(granted, None)
        found[ven_id] = ven_events_json(
            core.get(ven_id, []), stored, taking_part.get(ven_id, set()), reader
        )
    return found
