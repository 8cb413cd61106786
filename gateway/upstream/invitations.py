"""Upstream events become invitations: the first sight of an event claims it and makes its
invitation, a modification modifies it, a cancellation (or leaving it out of the event list)
cancels it, and an event the gateway cannot take is refused with why (answered optOut).
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError

from gateway.db.models import UpstreamEventRow
from gateway.domain.errors import GatewayError, NotFound
from gateway.domain.invitations import InvitationRequest
from gateway.observability.logs import log_context
from gateway.services.container import Services
from gateway.services.views import InvitationView
from gateway.settings import UpstreamSettings
from gateway.upstream.rules import UnusableEvent, UpstreamTerms, read_event, target_devices
from gateway.upstream.store import UpstreamStore

logger = logging.getLogger(__name__)

# The note of an event claimed whose invitation is being made.
TAKING = "being taken"


class UpstreamInvitations:
    def __init__(self, config: UpstreamSettings, services: Services, store: UpstreamStore) -> None:
        self._config = config
        self._services = services
        self._clock = services.clock
        self._store = store

    async def on_events(self, events: list[dict[str, Any]]) -> None:
        now = self._clock.now()
        seen: set[str] = set()
        for event in events:
            descriptor = event.get("event_descriptor") or {}
            event_id = descriptor.get("event_id")
            named = event_id if isinstance(event_id, str) and event_id else None
            if named is not None:
                seen.add(named)
            with log_context(upstream_event_id=named):
                await self._on_event(event, descriptor, named, now)
        for row in await self._store.open_events(now):
            if row.event_id not in seen and row.start_time > now - timedelta(days=1):
                # Leaving an event out of oadrDistributeEvent cancels it (OpenADR 2.0b).
                with log_context(upstream_event_id=row.event_id, invitation_id=row.invitation_id):
                    await self._cancel(row, "omitted from the upstream event list", now)

    async def _on_event(
        self, event: dict[str, Any], descriptor: dict[str, Any], event_id: str | None, now: datetime
    ) -> None:
        try:
            terms = read_event(event)
        except Exception as err:  # anything a VTN sends: refused, answered, never fatal
            logger.warning("upstream: event %s not usable: %s", event_id, err)
            if event_id is not None:
                await self._refuse(event_id, descriptor, f"not taken: {err}", now)
            return
        try:
            await self._take(terms, now)
        except Exception:
            logger.exception("upstream: event %s not taken; it comes again", terms.event_id)

    async def _refuse(
        self, event_id: str, descriptor: dict[str, Any], why: str, now: datetime
    ) -> None:
        """An event that cannot become an invitation is still answered (optOut, with why)."""
        modification = descriptor.get("modification_number")
        modification = modification if isinstance(modification, int) else 0
        row = await self._store.get(event_id)
        if row is not None:
            if row.modification_number < modification:
                await self._store.change(
                    event_id, modification_number=modification, note=why[:500], updated_at=now
                )
            return
        await self._store.add(
            UpstreamEventRow(
                event_id=event_id[:128], modification_number=modification, invitation_id=None,
                test_event=bool(descriptor.get("test_event")), start_time=now, end_time=now,
                received_at=now, updated_at=now, response_due_at=now, cancelled=False,
                note=why[:500],
            )
        )  # fmt: skip

    async def _take(self, terms: UpstreamTerms, now: datetime) -> None:
        row = await self._store.get(terms.event_id)
        if row is None:
            await self._first_sight(terms, now)
        elif terms.modification_number > row.modification_number:
            await self._modified(row, terms, now)
        elif row.invitation_id is None and row.note == TAKING:
            await self._make_invitation(row.event_id, terms)  # a crash came in between
        # else: delivered again, nothing new

    def _due(self, terms: UpstreamTerms, now: datetime) -> datetime:
        due = now + timedelta(seconds=self._config.response_deadline_seconds)
        return min(due, max(now, terms.start))

    async def _first_sight(self, terms: UpstreamTerms, now: datetime) -> None:
        """The event is claimed (its row written) before its invitation is made, so a
        re-delivery, a crash or a second replica can never make a second invitation."""
        row = UpstreamEventRow(
            event_id=terms.event_id, modification_number=terms.modification_number,
            invitation_id=None, test_event=terms.test_event, start_time=terms.start,
            end_time=terms.start + terms.duration, received_at=now, updated_at=now,
            response_due_at=self._due(terms, now), cancelled=terms.cancelled, note=TAKING,
        )  # fmt: skip
        if terms.test_event:
            row.note = "test event: answered, never executed"
        elif terms.cancelled:
            row.note = "cancelled before it was taken"
        elif terms.asks_for_nothing:
            row.note = "the event asks for no load reduction"
        try:
            await self._store.add(row)
        except IntegrityError:
            return  # claimed already
        if row.note == TAKING:
            await self._make_invitation(row.event_id, terms)

    async def _make_invitation(self, event_id: str, terms: UpstreamTerms) -> None:
        invitation_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{self._config.vtn_url}#{event_id}"))
        try:
            # Made before a crash that came ahead of linking it: link that one.
            view = await self._services.invitations.get(invitation_id, use_cache=False)
        except NotFound:
            pass
        else:
            await self._store.change(event_id, invitation_id=view.id, note=None)
            return
        try:
            view = await self._invite(terms, invitation_id)
        except (GatewayError, UnusableEvent) as err:
            note = f"not taken: {getattr(err, 'message', err)}"[:500]
            await self._store.change(event_id, note=note)
            logger.info("upstream event %s: %s", event_id, note)
            return
        await self._store.change(event_id, invitation_id=view.id, note=None)
        with log_context(invitation_id=view.id):
            logger.info("upstream event %s: invitation %s", event_id, view.id)

    async def _invite(self, terms: UpstreamTerms, invitation_id: str) -> InvitationView:
        request = await self._request(terms)
        if not request.device_ids:
            raise UnusableEvent("no device of this gateway is targeted")
        return await self.create_and_respond(request, invitation_id)

    async def create_and_respond(
        self, request: InvitationRequest, invitation_id: str
    ) -> InvitationView:
        """Create the invitation, then auto-respond at once where that is due: the admin API's
        own step (``AutoResponseService.create_invitation``)."""
        return await self._services.auto_response.create_invitation(request, invitation_id)

    async def _request(self, terms: UpstreamTerms) -> InvitationRequest:
        return InvitationRequest(
            event_time=terms.start,
            duration_minutes=terms.duration_minutes,
            load_kwh=terms.load_kwh,
            load_percentage=terms.load_percentage,
            device_ids=tuple(await self._targets(terms)),
        )

    async def _targets(self, terms: UpstreamTerms) -> list[str]:
        devices = {d.id: d.resource_id for d in await self._services.devices.all()}
        return target_devices(self._config.devices, devices, terms.resource_ids)

    async def _modified(self, row: UpstreamEventRow, terms: UpstreamTerms, now: datetime) -> None:
        changes: dict[str, Any] = {
            "modification_number": terms.modification_number,
            "start_time": terms.start,
            "end_time": terms.start + terms.duration,
            "updated_at": now,
            "response_due_at": self._due(terms, now),
        }
        if terms.cancelled:
            await self._cancel(row, "cancelled upstream", now, **changes)
            return
        note = row.note
        if row.invitation_id is None and not row.test_event:
            # Not taken before (it asked for nothing, or nothing matched): try again now.
            await self._store.change(row.event_id, note=TAKING, **changes)
            if terms.asks_for_nothing:
                await self._store.change(row.event_id, note="the event asks for no load reduction")
            else:
                await self._make_invitation(row.event_id, terms)
            return
        if row.invitation_id is not None and not row.test_event:
            try:
                view = await self._services.invitations.modify(
                    row.invitation_id,
                    await self._request(terms),
                    await self._services.auto_response.config(),
                )
                await self._services.auto_response.respond_if_due(view)
                note = f"modification {terms.modification_number} applied"
            except GatewayError as err:
                note = f"modification {terms.modification_number} not applied: {err.message}"
        await self._store.change(row.event_id, note=note[:500] if note else None, **changes)

    async def _cancel(self, row: UpstreamEventRow, why: str, now: datetime, **changes: Any) -> None:
        if row.invitation_id is not None:
            try:
                await self._services.invitations.cancel(row.invitation_id, why)
            except GatewayError as err:
                logger.info("upstream event %s: invitation not cancelled (%s)", row.event_id, err)
        values: dict[str, Any] = {"updated_at": now, **changes}  # a modification brings its own
        await self._store.change(row.event_id, cancelled=True, note=why, **values)
