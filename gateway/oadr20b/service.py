"""The VTN's answer to each VEN message: registration here, and the table of handlers for
everything else (``events``, ``opts``, ``reports``).

Each handler gets the parsed payload of an authenticated message and returns the response
type and payload; any refusal is an ``OadrError`` raised before anything was changed.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from gateway.clock import Clock
from gateway.oadr20b.config import VtnConfig
from gateway.oadr20b.errors import OadrError, StatusCode
from gateway.oadr20b.events import EventHandlers
from gateway.oadr20b.opts import OptHandlers
from gateway.oadr20b.payloads import Reply, ok, response_request_id, stored_id
from gateway.oadr20b.query_registration import registered_by_certificate
from gateway.oadr20b.reports import ReportHandlers
from gateway.oadr20b.state import VenState, VtnState
from gateway.oadr20b.store import Registration, VenRecord, VtnStore
from gateway.oadr20b.vtn_metadata import MetadataHandlers, MetadataStore

logger = logging.getLogger(__name__)

PROFILES = [{"profile_name": "2.0b", "transports": [{"transport_name": "simpleHttp"}]}]


@dataclass(frozen=True)
class Registrant:
    """The VEN an oadrCreatePartyRegistration is from (``record`` None: one to enroll)."""

    record: VenRecord | None
    name: str
    verify_with: str | None  # the certificate fingerprint its signature must match


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
        clock: Clock,
        events: EventHandlers,
        opts: OptHandlers,
        reports: ReportHandlers,
        metadata: MetadataHandlers | None = None,
    ) -> None:
        self.config = config
        self.metadata = metadata or MetadataHandlers(MetadataStore(store.db), state, clock)
        self._store = store
        self._state = state
        self._clock = clock
        self.events = events
        self.handlers: dict[str, Callable[[VenState, dict[str, Any]], Awaitable[Reply]]] = {
            "oadrPoll": self.poll,
            "oadrRequestEvent": self.events.request_event,
            "oadrCreatedEvent": self.events.created_event,
            "oadrCreateOpt": opts.create_opt,
            "oadrCancelOpt": opts.cancel_opt,
            "oadrRegisterReport": reports.register_report,
            "oadrCreatedReport": reports.created_report,
            "oadrUpdateReport": reports.update_report,
            "oadrCanceledReport": reports.canceled_report,
            # The VEN's requests of the VTN's own METADATA report, and its acknowledgement.
            "oadrCreateReport": self.metadata.create_report,
            "oadrCancelReport": self.metadata.cancel_report,
            "oadrRegisteredReport": self.metadata.registered_report,
            "oadrCancelPartyRegistration": self.cancel_party_registration,
            "oadrCanceledPartyRegistration": self.canceled_party_registration,
        }

    async def poll(self, ven: VenState, payload: dict[str, Any]) -> Reply:
        answer = await self.events.poll(ven, payload)
        if answer[0] == "oadrResponse":
            return await self.metadata.on_idle_poll(ven) or answer
        return answer

    # --- registration ---------------------------------------------------------------------
    async def query_registration(self, payload: dict[str, Any], caller: Caller) -> Reply:
        """The VTN's registration facts, with the IDs of the registered VEN whose certificate
        the caller presented (``query_registration``): none over plain HTTP."""
        reply: dict[str, Any] = {
            "response": ok(payload.get("request_id")),
            "vtn_id": self.config.vtn_id,
            "profiles": PROFILES,
            "requested_oadr_poll_freq": self.config.poll_interval,
        }
        ids = await registered_by_certificate(self._store.db, caller.fingerprint)
        if ids is not None:
            reply |= {"ven_id": ids.ven_id, "registration_id": ids.registration_id}
        return "oadrCreatedPartyRegistration", reply

    async def identify(self, payload: dict[str, Any], caller: Caller) -> Registrant:
        """Who an oadrCreatePartyRegistration is from, and the certificate its signature must
        match (the endpoint checks it before ``register`` changes anything)."""
        ven_id, name = payload.get("ven_id"), payload.get("ven_name")
        record = await self._store.find_ven(
            ven_id=ven_id, name=None if ven_id else name, fingerprint=None
        )
        if record is None and ven_id is None and caller.fingerprint is not None:
            record = await self._store.find_ven(
                ven_id=None, name=None, fingerprint=caller.fingerprint
            )
        if record is not None:
            self.check_fingerprint(record, caller)
            return Registrant(
                record, str(name or record.name), record.fingerprint or caller.fingerprint
            )
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
        return Registrant(None, name, caller.fingerprint)

    async def register(
        self, payload: dict[str, Any], caller: Caller, registrant: Registrant
    ) -> Reply:
        """Enroll the VEN if it is new, and record its registration."""
        request_id = payload.get("request_id")
        record = registrant.record
        if record is None:
            record = await self._store.enroll(
                registrant.name, caller.fingerprint, self._clock.now()
            )
        name = registrant.name
        given = payload.get("registration_id")
        if given is not None and record.registration_id not in (None, given):
            raise OadrError(
                StatusCode.INVALID_ID,
                f"registrationID {given} is not this VEN's registration",
            )
        registration = Registration(
            ven_name=name,
            profile_name=_text(payload.get("profile_name"), 16),
            transport_name=_text(payload.get("transport_name"), 32),
            http_pull_model=_flag(payload.get("http_pull_model")),
            xml_signature=_flag(payload.get("xml_signature")),
            report_only=_flag(payload.get("report_only")),
            transport_address=_text(payload.get("transport_address"), 512),
        )
        if registration.http_pull_model is False and not _http_url(registration.transport_address):
            raise OadrError(
                StatusCode.INVALID_DATA,
                "a push-mode VEN (oadrHttpPullModel false) needs an http(s) "
                "oadrTransportAddress of at most 512 characters",
            )
        registration_id = await self._store.register(
            record.ven_id,
            registration,
            self.config.poll_interval.total_seconds(),
            self._clock.now(),
            keep_registration_id=given if given == record.registration_id else None,
        )
        await self.metadata.registered(record.ven_id)
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
        await self._ended(ven.record.ven_id)
        return "oadrCanceledPartyRegistration", {
            "response": ok(payload.get("request_id")),
            "registration_id": given,
            "ven_id": ven.record.ven_id,
        }

    async def canceled_party_registration(self, ven: VenState, payload: dict[str, Any]) -> Reply:
        await self._ended(ven.record.ven_id)
        return "oadrResponse", {"response": ok(response_request_id(payload))}

    async def _ended(self, ven_id: str) -> None:
        """The VEN's registration ended; a VEN the operator removed is gone with it."""
        deleted = await self._store.deregister(ven_id)
        await self._state.changed(ven_id)
        if deleted:
            await self._state.forget(ven_id)

    def require(self, ven: VenState | None, ven_id: str, message_type: str) -> VenState:
        if ven is None:
            raise OadrError(StatusCode.INVALID_ID, f"venID {ven_id} is not known to this VTN")
        # An unregistered VEN is refused 463, its poll too (N1_0080: the poll brings it no
        # payload, and EPRI's VTN answers it so). oadrRequestReregistration is what a
        # registered VEN is told when it must register again, not an answer to one that is not.
        if not ven.record.registered and message_type != "oadrCanceledPartyRegistration":
            raise OadrError(
                StatusCode.NOT_REGISTERED_OR_AUTHORIZED, f"VEN {ven_id} is not registered"
            )
        return ven


def _text(value: object, limit: int) -> str | None:
    return None if value is None else str(value)[:limit]


def _http_url(value: str | None) -> bool:
    if value is None or len(value) >= 512:
        return False
    parts = urlsplit(value.strip())
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def _flag(value: object) -> bool | None:
    return value if isinstance(value, bool) else None
