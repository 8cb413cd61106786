"""The VTN's event handlers: polls, oadrRequestEvent, the oadrDistributeEvent both get, and
the VEN's answers (oadrCreatedEvent, and the oadrResponse it may send instead)."""

from __future__ import annotations

from typing import Any

from gateway.clock import Clock
from gateway.domain.invitations import Answer
from gateway.oadr20b.config import VtnConfig
from gateway.oadr20b.distribute import EventsOut, distribute_to
from gateway.oadr20b.errors import OadrError, StatusCode
from gateway.oadr20b.mapping import (
    OadrEvent,
    cancel_unacknowledged,
    needs_distribute,
    snapshot,
    visible,
)
from gateway.oadr20b.payloads import Reply, ok, response_request_id
from gateway.oadr20b.state import VenState, VtnState
from gateway.oadr20b.store import VtnStore
from gateway.oadr20b.told import Told, ToldStore
from gateway.oadr20b.ven_answers import take_answer
from gateway.oadr20b.ven_errors import ReportedError, VenErrors, reported_error
from gateway.oadr20b.ven_requests import queued_reply
from gateway.services.ven_facing.service import VenFacing


class EventHandlers:
    def __init__(
        self,
        config: VtnConfig,
        store: VtnStore,
        state: VtnState,
        vens: VenFacing,
        errors: VenErrors,
        clock: Clock,
        told: ToldStore,
    ) -> None:
        self._config = config
        self._store = store
        self._told = told
        self._state = state
        self._vens = vens
        self._errors = errors
        self._clock = clock
        self._events_out = EventsOut(config)

    # --- polls and distributes ------------------------------------------------------------
    async def poll(self, ven: VenState, payload: dict[str, Any]) -> Reply:
        if ven.pending_messages:
            queued = await self._store.take_next(ven.record.ven_id, self._clock.now())
            await self._state.changed(ven.record.ven_id)
            if queued is not None:
                return queued_reply(queued, ven.record)
        now = self._clock.now()
        shown = visible(ven.events, ven.record.delivered, now, self._config.near_window)
        current = snapshot(shown, now, self._config.near_window)
        unacknowledged = cancel_unacknowledged(shown, now, self._config.near_window)
        if not needs_distribute(current, ven.record.delivered) and not unacknowledged:
            return "oadrResponse", {"response": ok(None)}
        return await self._distribute(ven, shown, current, None)

    async def request_event(self, ven: VenState, payload: dict[str, Any]) -> Reply:
        now = self._clock.now()
        shown = visible(ven.events, ven.record.delivered, now, self._config.near_window)
        current = snapshot(shown, now, self._config.near_window)
        limit = payload.get("reply_limit")
        # replyLimit is the most events the VEN wants back, 0 included, as the certification
        # case A_E3_0655 has it (the authority here; limits 0-4 of three events must bring
        # 0, 1, 2, 3, 3), not "no limit": a VEN that wants every event leaves it out.
        if isinstance(limit, int) and not isinstance(limit, bool) and limit >= 0:
            shown = shown[:limit]
            current = {k: v for k, v in current.items() if k in {e.event_id for e in shown}}
        return await self._distribute(ven, shown, current, payload.get("request_id"))

    async def _distribute(
        self,
        ven: VenState,
        shown: list[OadrEvent],
        current: dict[str, list[object]],
        request_id: str | None,
    ) -> Reply:
        reply, told = self._made(ven, shown, current, request_id)
        await self.note_told(told)
        return reply

    def _made(
        self,
        ven: VenState,
        shown: list[OadrEvent],
        current: dict[str, list[object]],
        request_id: str | None,
    ) -> tuple[Reply, Told]:
        made = distribute_to(ven, shown, current, request_id, self._clock.now(), self._events_out)
        return made.reply, Told(ven.record.ven_id, made.delivered, made.note)

    def distribute(self, ven: VenState) -> tuple[Reply, Told]:
        """A push's oadrDistributeEvent (it answers no request) with the VEN's full current
        list, and what the VEN knows once it has it: kept once the VEN took it, with the
        delivery (``AckBatcher``; a push that fails tells the VEN nothing: were it kept, a VEN
        back to polling would not be told again)."""
        now = self._clock.now()
        shown = visible(ven.events, ven.record.delivered, now, self._config.near_window)
        return self._made(ven, shown, snapshot(shown, now, self._config.near_window), None)

    async def note_told(self, told: Told) -> None:
        """The VEN has the distribute: kept, and told to this process's others."""
        await self._told.save(told)
        await self._state.delivered(told.ven_id, told.delivered)

    # --- the VEN's answers ----------------------------------------------------------------
    async def created_event(self, ven: VenState, payload: dict[str, Any]) -> Reply:
        """optIn/optOut per event. An eventResponse with an error code is the VEN's refusal:
        recorded, and its optOut taken; an optIn that comes with an error commits nothing. An
        answer to a cancelled event acknowledges the cancel (200; it changes no decision)."""
        responses = payload.get("event_responses") or []
        if isinstance(responses, dict):
            responses = [responses]
        events = {e.event_id: e for e in ven.events}
        plans: list[tuple[OadrEvent, Answer, int]] = []
        errors: list[ReportedError] = []
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
            error = reported_error(response, event.event_id)
            if error is not None:
                errors.append(error)
                if opt == "optIn":
                    continue
            plans.append((event, Answer.YES if opt == "optIn" else Answer.NO, modification))
        overall = reported_error(payload.get("response"), None)
        await self._errors.record(
            ven.record.ven_id, "oadrCreatedEvent", errors + ([overall] if overall else [])
        )
        notes = []
        refused = []
        outcomes = []
        for event, answer, modification in plans:
            outcome = await take_answer(self._vens, event, event.device_ids, answer, modification)
            outcomes.append(outcome)
            if outcome.refused:
                refused.append(f"{event.event_id}: {outcome.refused}")
            elif outcome.acknowledged:
                notes.append(f"{event.event_id}: cancellation acknowledged")
            elif outcome.changed:
                notes.append(f"{event.event_id}: answer changed to {answer.value}")
            if outcome.kept_by_opt:
                notes.append(f"{event.event_id}: an earlier oadrCreateOpt stands")
        if any(o.acknowledged for o in outcomes):
            await self._state.changed(ven.record.ven_id)  # its cancels stop being re-sent
        request_id = response_request_id(payload)
        if refused:
            raise OadrError(StatusCode.NOT_ALLOWED, "; ".join(refused)[:500], request_id=request_id)
        return "oadrResponse", {"response": ok(request_id, "; ".join(notes)[:500] or "OK")}

    async def error_response(self, ven: VenState, payload: dict[str, Any]) -> None:
        """An oadrResponse with an error code: about the events of the distribute whose
        requestID it echoes, else about none it names."""
        response = payload.get("response")
        error = reported_error(response, None)
        if error is None:
            return
        echoed = response.get("request_id") if isinstance(response, dict) else None
        last = await self._store.last_distribute(ven.record.ven_id)
        event_ids: list[str | None] = [None]
        if echoed and last is not None and last.get("request_id") == echoed:
            event_ids = list(last.get("event_ids") or []) or [None]
        await self._errors.record(
            ven.record.ven_id,
            "oadrResponse",
            [ReportedError(e, error.code, error.description) for e in event_ids],
        )
