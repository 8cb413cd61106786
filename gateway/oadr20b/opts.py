"""The VTN's EiOpt handlers: a VEN opting its resources in or out of an event (answered for
those devices, by the same rules as oadrCreatedEvent) or for the spans of a schedule (stored,
and replaced by a later oadrCreateOpt under the same optID)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from gateway.clock import Clock
from gateway.db.models import VenOptRow
from gateway.domain.invitations import Answer
from gateway.oadr20b.errors import OadrError, StatusCode
from gateway.oadr20b.payloads import Reply, ok, stored_id
from gateway.oadr20b.state import VenState, VtnState
from gateway.oadr20b.store import VtnStore
from gateway.oadr20b.ven_answers import take_answer
from gateway.services.ven_facing.opts import spans_to_json
from gateway.services.ven_facing.service import VenFacing


class OptHandlers:
    def __init__(self, store: VtnStore, vens: VenFacing, clock: Clock, state: VtnState) -> None:
        self._state = state
        self._store = store
        self._vens = vens
        self._clock = clock

    async def create_opt(self, ven: VenState, payload: dict[str, Any]) -> Reply:
        opt_id = stored_id(payload.get("opt_id"), "optID")
        request_id = payload.get("request_id")
        if not opt_id:
            raise OadrError(StatusCode.INVALID_DATA, "optID is required")
        existing = await self._store.opt(ven.record.ven_id, opt_id)
        schedule = spans_to_json(_spans(payload))
        opt_type = payload.get("opt_type")
        if existing is not None and (
            existing.event_id is not None
            or payload.get("event_id") is not None
            or (existing.opt_type, existing.schedule or []) == (opt_type, schedule)
        ):  # a retried opt is acknowledged again, and changes nothing
            return "oadrCreatedOpt", {"response": ok(request_id), "opt_id": opt_id}
        if opt_type not in ("optIn", "optOut"):
            raise OadrError(StatusCode.INVALID_DATA, f"optType {opt_type!r} is not optIn/optOut")
        owned = await self._store.devices_of(ven.record.ven_id)
        resources = _resource_ids(payload)
        unknown = [r for r in resources if r not in owned]
        if unknown:
            raise OadrError(
                StatusCode.TARGET_MISMATCH, f"resources not of this VEN: {', '.join(unknown)}"
            )
        event_id = payload.get("event_id")
        note = None
        device_ids: tuple[str, ...]
        if event_id is not None:
            event = next((e for e in ven.events if e.event_id == event_id), None)
            if event is None:
                raise OadrError(StatusCode.INVALID_ID, f"event {event_id} is not one of this VEN's")
            device_ids = (
                tuple(owned[r] for r in resources if owned[r] in event.device_ids)
                if resources
                else event.device_ids
            )
            if not device_ids:
                raise OadrError(
                    StatusCode.TARGET_MISMATCH, f"none of these resources is in event {event_id}"
                )
            answer = Answer.YES if opt_type == "optIn" else Answer.NO
            given = payload.get("modification_number")
            modification = given if isinstance(given, int) else event.modification_number
            outcome = await take_answer(self._vens, event, device_ids, answer, modification, opt_id)
            if outcome.refused:
                raise OadrError(StatusCode.NOT_ALLOWED, outcome.refused, request_id=request_id)
            if outcome.acknowledged:
                note = "the event is cancelled: this opt decides nothing"
                await self._state.changed(ven.record.ven_id)  # its cancel is not re-sent
        else:
            device_ids = tuple(owned[r] for r in resources) or tuple(owned.values())
            note = "availability schedule stored; it applies to no invitation"
        row = VenOptRow(
            ven_id=ven.record.ven_id, opt_id=opt_id, opt_type=opt_type,
            opt_reason=str(payload.get("opt_reason") or "")[:32], event_id=event_id,
            modification_number=payload.get("modification_number"),
            resource_ids=resources, device_ids=list(device_ids), note=note,
            created_at=self._clock.now(), cancelled_at=None, schedule=schedule or None,
        )  # fmt: skip
        if existing is not None:
            # 2.0b: an oadrCreateOpt under a known optID replaces that schedule.
            await self._store.replace_opt(row)
        else:
            await self._store.save_opt(row)
        return "oadrCreatedOpt", {"response": ok(request_id), "opt_id": opt_id}

    async def cancel_opt(self, ven: VenState, payload: dict[str, Any]) -> Reply:
        opt_id = str(payload.get("opt_id") or "")
        if not await self._store.cancel_opt(ven.record.ven_id, opt_id, self._clock.now()):
            raise OadrError(StatusCode.INVALID_ID, f"optID {opt_id!r} is not known")
        return "oadrCanceledOpt", {"response": ok(payload.get("request_id")), "opt_id": opt_id}


def _spans(payload: dict[str, Any]) -> list[tuple[datetime, timedelta]]:
    """The spans of a vavailability (openleadr gives one as a dict, several as a list)."""
    components = (payload.get("vavailability") or {}).get("components") or {}
    available = components.get("available") or []
    if isinstance(available, dict):
        available = [available]
    spans = []
    for item in available:
        properties = item.get("properties", item) if isinstance(item, dict) else {}
        start, length = properties.get("dtstart"), properties.get("duration")
        if isinstance(start, datetime) and isinstance(length, timedelta):
            spans.append((start, length))
    return spans


def _resource_ids(payload: dict[str, Any]) -> list[str]:
    by_type = payload.get("targets_by_type") or {}
    resources = by_type.get("resource_id") or []
    if isinstance(resources, str):
        resources = [resources]
    return [str(r) for r in resources]
