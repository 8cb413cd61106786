"""The 3.x event JSON of what the core holds: an event made here (its stored 3.x fields), an
event a VEN must know (``VenEvent``: an invitation's, or one scheduled directly), or a core
event as business logic reads it. Pure."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from gateway.db.models import EventRow
from gateway.domain.signals import EventTerms
from gateway.domain.ven_events import VenEvent
from gateway.oadr3.models import Oadr3ObjectRow
from gateway.oadr3.objects import Kind
from gateway.oadr3.payloads import Step, currencies_of, steps_of, units_of
from gateway.oadr3.privacy import Reader, visible_targets
from gateway.oadr3.wire import duration_text, metadata, rfc3339
from gateway.oadr20b.mapping import simple_level


def stored_event_json(row: Oadr3ObjectRow, reader: Reader) -> dict[str, Any] | None:
    """An event made through the 3.x API as ``reader`` sees it (None: it may not)."""
    document = dict(row.document)
    targets = visible_targets(reader, document.pop("targets", None))
    if targets is None:
        return None
    body = metadata(Kind.EVENT, row.id, row.created_at, row.modified_at)
    body.update(document)
    if targets:
        body["targets"] = targets
    return body


def _intervals(steps: list[Step]) -> list[dict[str, Any]]:
    return [
        {
            "id": n,
            "intervalPeriod": {"duration": duration_text(step.duration)}
            if len(steps) > 1
            else None,
            "payloads": [{"type": name, "values": [value]} for name, value in step.values.items()],
        }
        for n, step in enumerate(steps)
    ]


def _descriptors(steps: list[Step], currencies: Mapping[str, str]) -> list[dict[str, Any]]:
    names = sorted({name for step in steps for name in step.values})
    described = []
    for name in names:
        descriptor = {"objectType": "EVENT_PAYLOAD_DESCRIPTOR", "payloadType": name,
                      "units": units_of(name)}  # fmt: skip
        if name in currencies:
            descriptor["currency"] = currencies[name]
        described.append(descriptor)
    return described


def _core_json(
    event_id: str,
    program_id: str,
    created: datetime,
    modified: datetime,
    start: datetime,
    duration: timedelta,
    priority: int | None,
    steps: list[Step],
    currencies: Mapping[str, str],
) -> dict[str, Any]:
    body = metadata(Kind.EVENT, event_id, created, modified)
    one = len(steps) == 1
    body.update(
        {
            "programID": program_id,
            "priority": priority,
            "payloadDescriptors": _descriptors(steps, currencies),
            "intervalPeriod": {
                "start": rfc3339(start),
                "duration": duration_text(duration if one else steps[0].duration),
            },
            "intervals": [
                {k: v for k, v in interval.items() if v is not None}
                for interval in _intervals(steps)
            ],
        }
    )
    if not one:
        body["duration"] = duration_text(duration)
    return {k: v for k, v in body.items() if v is not None}


def _shed_steps(duration: timedelta, level: int | None, shed_kw: float) -> list[Step]:
    """An event without explicit signals: its SIMPLE level and the kW to shed, as a
    reduction (DISPATCH_SETPOINT_RELATIVE is a change of load: negative sheds)."""
    values: dict[str, object] = {"DISPATCH_SETPOINT_RELATIVE": -round(shed_kw, 6) or 0.0}
    if level is not None:
        values = {"SIMPLE": level, **values}
    return [Step(duration, values)]


def _steps(terms: EventTerms, duration: timedelta, level: int | None, kw: float) -> list[Step]:
    return steps_of(terms) if terms.explicit else _shed_steps(duration, level, kw)


def ven_event_json(event: VenEvent) -> dict[str, Any]:
    """What a 3.x VEN is told of a core event it must know (the same facts 2.0b VENs get)."""
    level = simple_level(event.load_percentage, event.program.terms.simple_levels)
    steps = _steps(event.terms, event.duration, level, event.dispatch_kw)
    priority = event.terms.priority
    if priority is None:
        priority = event.program.terms.priority
    return _core_json(
        event.event_id, event.program.id, event.created_at, event.created_at, event.start,
        event.duration, priority, steps, currencies_of(event.terms),
    )  # fmt: skip


def core_event_json(row: EventRow, terms: EventTerms) -> dict[str, Any]:
    """A core event (from an invitation, or scheduled in the admin API) as business logic
    reads it."""
    duration = row.end_time - row.start_time
    steps = _steps(terms, duration, None, row.target_kw)
    return _core_json(
        row.id, row.program_id, row.created_at, row.updated_at, row.start_time, duration,
        terms.priority, steps, currencies_of(terms),
    )  # fmt: skip
