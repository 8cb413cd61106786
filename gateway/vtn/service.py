"""The VTN's answer to each VEN message: registration, polls, events, opts and reports.

Each handler gets the parsed payload of an authenticated message and returns the response
type and payload; any refusal is an ``OadrError`` raised before anything was changed.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from openleadr import objects
from redis.asyncio import Redis

from gateway.clock import Clock
from gateway.db.models import VenOptRow
from gateway.domain.errors import GatewayError, NotFound
from gateway.domain.invitations import Answer
from gateway.domain.openadr import (
    VenEvent,
    after_delivery,
    needs_distribute,
    snapshot,
    visible,
)
from gateway.jsonable import from_jsonable
from gateway.services.invitations import InvitationService, StaleModification
from gateway.vtn.errors import OadrError, ReregistrationRequired, StatusCode
from gateway.vtn.payloads import Reply, ok, response_request_id, stored_id
from gateway.vtn.reports import ReportHandlers
from gateway.vtn.state import VenState, VtnState
from gateway.vtn.store import Registration, VenRecord, VtnStore

logger = logging.getLogger(__name__)

PROFILES = [{"profile_name": "2.0b", "transports": [{"transport_name": "simpleHttp"}]}]


@dataclass(frozen=True)
class VtnConfig:
    vtn_id: str
    poll_interval: timedelta
    near_window: timedelta
    market_context: str
    priority: int
    test_events: bool
    report_sampling: timedelta
    open_enrollment: bool


@dataclass(frozen=True)
class Caller:
    """Who sent the message, as far as the transport tells: the TLS client certificate."""

    fingerprint: str | None


class VtnService:
    def __init__(
        self,
        config: VtnConfig,
        store: VtnStore,
        state: VtnState,
        invitations: InvitationService,
        redis: Redis,
        prefix: str,
        clock: Clock,
    ) -> None:
        self.config = config
        self._store = store
        self._state = state
        self._invitations = invitations
        self._clock = clock
        reports = ReportHandlers(store, state, redis, prefix, clock, config.report_sampling)
        self.handlers: dict[str, Callable[[VenState, dict[str, Any]], Awaitable[Reply]]] = {
            "oadrPoll": self.poll,
            "oadrRequestEvent": self.request_event,
            "oadrCreatedEvent": self.created_event,
            "oadrCreateOpt": self.create_opt,
            "oadrCancelOpt": self.cancel_opt,
            "oadrRegisterReport": reports.register_report,
            "oadrCreatedReport": reports.created_report,
            "oadrUpdateReport": reports.update_report,
            "oadrCanceledReport": reports.canceled_report,
            "oadrCancelPartyRegistration": self.cancel_party_registration,
            "oadrCanceledPartyRegistration": self.canceled_party_registration,
        }

    # --- registration ---------------------------------------------------------------------
    def query_registration(self, payload: dict[str, Any]) -> Reply:
        return "oadrCreatedPartyRegistration", {
            "response": ok(payload.get("request_id")),
            "vtn_id": self.config.vtn_id,
            "profiles": PROFILES,
            "requested_oadr_poll_freq": self.config.poll_interval,
        }

    async def create_party_registration(
        self,
        payload: dict[str, Any],
        caller: Caller,
        verify: Callable[[str | None], Awaitable[None]],
    ) -> Reply:
        """``verify`` checks the message's signature against the given fingerprint."""
        request_id = payload.get("request_id")
        ven_id, name = payload.get("ven_id"), payload.get("ven_name")
        record = await self._store.find_ven(
            ven_id=ven_id, name=None if ven_id else name, fingerprint=None
        )
        if record is None and ven_id is None and caller.fingerprint is not None:
            record = await self._store.find_ven(
                ven_id=None, name=None, fingerprint=caller.fingerprint
            )
        if record is None:
            if ven_id is not None:
                raise OadrError(StatusCode.INVALID_ID, f"venID {ven_id} is not known to this VTN")
            if not self.config.open_enrollment:
                raise OadrError(
                    StatusCode.NOT_REGISTERED_OR_AUTHORIZED,
                    f"VEN {name!r} is not provisioned at this VTN",
                )
            if not isinstance(name, str) or not name.strip():
                raise OadrError(StatusCode.INVALID_DATA, "oadrVenName is required to enroll")
            # The name is how the VEN is found when it registers again: stored whole or not at
            # all (cut short, it was not found, and enrolling it twice broke the unique name).
            name = stored_id(name, "oadrVenName")
            if await self._store.find_ven(ven_id=None, name=name, fingerprint=None) is not None:
                raise OadrError(StatusCode.INVALID_ID, f"VEN name {name!r} is taken")
            await verify(caller.fingerprint)
            record = await self._store.enroll(name, caller.fingerprint, self._clock.now())
        else:
            self.check_fingerprint(record, caller)
            await verify(record.fingerprint or caller.fingerprint)
        given = payload.get("registration_id")
        if given is not None and record.registration_id not in (None, given):
            raise OadrError(
                StatusCode.INVALID_ID,
                f"registrationID {given} is not this VEN's registration",
            )
        registration = Registration(
            ven_name=str(name or record.name),
            profile_name=_text(payload.get("profile_name"), 16),
            transport_name=_text(payload.get("transport_name"), 32),
            http_pull_model=_flag(payload.get("http_pull_model")),
            xml_signature=_flag(payload.get("xml_signature")),
            report_only=_flag(payload.get("report_only")),
        )
        if registration.http_pull_model is False:
            raise OadrError(StatusCode.NOT_ALLOWED, "this VTN serves the HTTP pull model only")
        registration_id = await self._store.register(
            record.ven_id,
            registration,
            self.config.poll_interval.total_seconds(),
            self._clock.now(),
            keep_registration_id=given if given == record.registration_id else None,
        )
        await self._state.refreshed(record.ven_id)
        logger.info("VEN %s (%s) registered: %s", record.ven_id, record.name, registration_id)
        return "oadrCreatedPartyRegistration", {
            "response": ok(request_id),
            "ven_id": record.ven_id,
            "registration_id": registration_id,
            "vtn_id": self.config.vtn_id,
            "profiles": PROFILES,
            "requested_oadr_poll_freq": self.config.poll_interval,
        }

    def check_fingerprint(self, record: VenRecord, caller: Caller) -> None:
        if caller.fingerprint is None:
            return
        if record.fingerprint is None:
            raise OadrError(
                StatusCode.NOT_REGISTERED_OR_AUTHORIZED,
                f"no certificate fingerprint is provisioned for VEN {record.ven_id}",
            )
        if caller.fingerprint != record.fingerprint:
            raise OadrError(
                StatusCode.NOT_REGISTERED_OR_AUTHORIZED,
                f"certificate {caller.fingerprint} is not the one provisioned for this VEN",
            )

    async def cancel_party_registration(self, ven: VenState, payload: dict[str, Any]) -> Reply:
        given = payload.get("registration_id")
        if given != ven.record.registration_id:
            raise OadrError(StatusCode.INVALID_ID, f"registrationID {given} is not registered")
        await self._store.deregister(ven.record.ven_id)
        await self._state.changed(ven.record.ven_id)
        return "oadrCanceledPartyRegistration", {
            "response": ok(payload.get("request_id")),
            "registration_id": given,
            "ven_id": ven.record.ven_id,
        }

    async def canceled_party_registration(self, ven: VenState, payload: dict[str, Any]) -> Reply:
        await self._store.deregister(ven.record.ven_id)
        await self._state.changed(ven.record.ven_id)
        return "oadrResponse", {"response": ok(response_request_id(payload))}

    # --- polls and events -----------------------------------------------------------------
    async def poll(self, ven: VenState, payload: dict[str, Any]) -> Reply:
        if ven.pending_messages:
            queued = await self._store.take_next(ven.record.ven_id, self._clock.now())
            await self._state.changed(ven.record.ven_id)
            if queued is not None:
                return queued.message_type, from_jsonable(queued.payload)
        now = self._clock.now()
        shown = visible(ven.events, ven.record.delivered, now, self.config.near_window)
        current = snapshot(shown, now, self.config.near_window)
        if not needs_distribute(current, ven.record.delivered):
            return "oadrResponse", {"response": ok(None)}
        return await self._distribute(ven, shown, current, None)

    async def request_event(self, ven: VenState, payload: dict[str, Any]) -> Reply:
        now = self._clock.now()
        shown = visible(ven.events, ven.record.delivered, now, self.config.near_window)
        current = snapshot(shown, now, self.config.near_window)
        limit = payload.get("reply_limit")
        if isinstance(limit, int) and limit > 0:
            shown = shown[:limit]
            current = {k: v for k, v in current.items() if k in {e.event_id for e in shown}}
        return await self._distribute(ven, shown, current, payload.get("request_id"))

    async def _distribute(
        self,
        ven: VenState,
        shown: list[VenEvent],
        current: dict[str, list[object]],
        request_id: str | None,
    ) -> Reply:
        now = self._clock.now()
        delivered = after_delivery(current, ven.record.delivered, {e.event_id for e in ven.events})
        await self._store.save_delivered(ven.record.ven_id, delivered)
        await self._state.delivered(ven.record.ven_id, delivered)
        return "oadrDistributeEvent", {
            "response": ok(request_id),
            "request_id": uuid.uuid4().hex,
            "vtn_id": self.config.vtn_id,
            "events": [self._event(e, now) for e in shown],
        }

    def _event(self, event: VenEvent, now: datetime) -> objects.Event:
        status = event.status(now, self.config.near_window).value

        def interval(value: float) -> list[objects.Interval]:
            return [objects.Interval(event.start, event.duration, signal_payload=value, uid=0)]

        built = objects.Event(
            event_descriptor=objects.EventDescriptor(
                event_id=event.event_id,
                modification_number=event.modification_number,
                market_context=self.config.market_context,
                event_status=status,
                created_date_time=event.created_at,
                modification_date_time=now,
                priority=self.config.priority,
                test_event=self.config.test_events,
            ),
            active_period=objects.ActivePeriod(dtstart=event.start, duration=event.duration),
            event_signals=[
                objects.EventSignal(
                    intervals=interval(float(event.simple_level)),
                    signal_name="SIMPLE",
                    signal_type="level",
                    signal_id=f"{event.event_id}-simple",
                    current_value=float(event.simple_level) if status == "active" else 0.0,
                ),
                objects.EventSignal(
                    intervals=interval(round(event.dispatch_kw, 6)),
                    signal_name="LOAD_DISPATCH",
                    signal_type="delta",
                    signal_id=f"{event.event_id}-dispatch",
                    measurement=objects.Measurement(
                        name="powerReal",
                        description="RealPower",
                        unit="W",
                        scale="k",
                        power_attributes=objects.PowerAttributes(hertz=50, voltage=230, ac=True),
                    ),
                    current_value=round(event.dispatch_kw, 6) if status == "active" else 0.0,
                ),
            ],
            targets=[objects.Target(ven_id=event.ven_id)]
            + [objects.Target(resource_id=r) for r in event.resource_ids],
            response_required="always",
        )
        # openleadr's Event recomputes the status from the wall clock and knows nothing of
        # cancellation or the configured near window; ours is the one that counts.
        built.event_descriptor.event_status = status
        return built

    async def created_event(self, ven: VenState, payload: dict[str, Any]) -> Reply:
        responses = payload.get("event_responses") or []
        if isinstance(responses, dict):
            responses = [responses]
        events = {e.event_id: e for e in ven.events}
        plans: list[tuple[VenEvent, Answer, int]] = []
        for response in responses:
            event_id = response.get("event_id")
            event = events.get(event_id) if isinstance(event_id, str) else None
            if event is None:
                raise OadrError(StatusCode.INVALID_ID, f"event {event_id} is not one of this VEN's")
            modification = response.get("modification_number")
            if not isinstance(modification, int) or isinstance(modification, bool):
                raise OadrError(StatusCode.INVALID_DATA, f"event {event_id}: no modificationNumber")
            opt = response.get("opt_type")
            if opt not in ("optIn", "optOut"):
                raise OadrError(StatusCode.INVALID_DATA, f"optType {opt!r} is not optIn/optOut")
            plans.append((event, Answer.YES if opt == "optIn" else Answer.NO, modification))
        notes = []
        refused = []
        for event, answer, modification in plans:
            # The modification is checked against the invitation under its lock (450 if the
            # terms changed since), never against this process's cached copy.
            outcome = await self._answer(event, event.device_ids, answer, modification)
            if outcome.refused:
                refused.append(f"{event.event_id}: {outcome.refused}")
            elif outcome.changed:
                notes.append(f"{event.event_id}: answer changed to {answer.value}")
        request_id = response_request_id(payload)
        if refused:
            raise OadrError(StatusCode.NOT_ALLOWED, "; ".join(refused)[:500], request_id=request_id)
        return "oadrResponse", {"response": ok(request_id, "; ".join(notes)[:500] or "OK")}

    async def _answer(
        self, event: VenEvent, device_ids: tuple[str, ...], answer: Answer, modification: int
    ) -> Any:
        try:
            return await self._invitations.answer_from_ven(
                event.event_id, device_ids, answer, modification
            )
        except NotFound as err:
            raise OadrError(StatusCode.INVALID_ID, err.message) from err
        except StaleModification as err:
            raise OadrError(StatusCode.OUT_OF_SEQUENCE, err.message) from err
        except GatewayError as err:
            raise OadrError(StatusCode.NOT_ALLOWED, err.message) from err

    # --- opts -----------------------------------------------------------------------------
    async def create_opt(self, ven: VenState, payload: dict[str, Any]) -> Reply:
        opt_id = stored_id(payload.get("opt_id"), "optID")
        request_id = payload.get("request_id")
        if not opt_id:
            raise OadrError(StatusCode.INVALID_DATA, "optID is required")
        existing = await self._store.opt(ven.record.ven_id, opt_id)
        if existing is not None:  # a retried opt is acknowledged again, and changes nothing
            return "oadrCreatedOpt", {"response": ok(request_id), "opt_id": opt_id}
        opt_type = payload.get("opt_type")
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
            outcome = await self._answer(event, device_ids, answer, modification)
            if outcome.refused:
                raise OadrError(StatusCode.NOT_ALLOWED, outcome.refused, request_id=request_id)
        else:
            device_ids = tuple(owned[r] for r in resources) or tuple(owned.values())
            note = "availability schedule stored; it applies to no invitation"
        await self._store.save_opt(
            VenOptRow(
                ven_id=ven.record.ven_id, opt_id=opt_id, opt_type=opt_type,
                opt_reason=str(payload.get("opt_reason") or "")[:32], event_id=event_id,
                modification_number=payload.get("modification_number"),
                resource_ids=resources, device_ids=list(device_ids), note=note,
                created_at=self._clock.now(), cancelled_at=None,
            )
        )  # fmt: skip
        return "oadrCreatedOpt", {"response": ok(request_id), "opt_id": opt_id}

    async def cancel_opt(self, ven: VenState, payload: dict[str, Any]) -> Reply:
        opt_id = str(payload.get("opt_id") or "")
        if not await self._store.cancel_opt(ven.record.ven_id, opt_id, self._clock.now()):
            raise OadrError(StatusCode.INVALID_ID, f"optID {opt_id!r} is not known")
        return "oadrCanceledOpt", {"response": ok(payload.get("request_id")), "opt_id": opt_id}

    def require(self, ven: VenState | None, ven_id: str, message_type: str) -> VenState:
        if ven is None:
            raise OadrError(StatusCode.INVALID_ID, f"venID {ven_id} is not known to this VTN")
        if not ven.record.registered and message_type != "oadrCanceledPartyRegistration":
            if message_type == "oadrPoll":
                raise ReregistrationRequired(ven_id)
            raise OadrError(
                StatusCode.NOT_REGISTERED_OR_AUTHORIZED, f"VEN {ven_id} is not registered"
            )
        return ven


def _text(value: object, limit: int) -> str | None:
    return None if value is None else str(value)[:limit]


def _flag(value: object) -> bool | None:
    return value if isinstance(value, bool) else None


def _resource_ids(payload: dict[str, Any]) -> list[str]:
    by_type = payload.get("targets_by_type") or {}
    resources = by_type.get("resource_id") or []
    if isinstance(resources, str):
        resources = [resources]
    return [str(r) for r in resources]
