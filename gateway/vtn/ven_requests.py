"""A message waiting for a VEN's poll, as its 2.0b message: the operator's requests
(``VenRequest``, queued by the core in no protocol's words) are said here; the VTN's own
messages (an oadrCreateReport) were queued as they are sent."""

from __future__ import annotations

import uuid

from gateway.domain.ven_requests import VenRequest
from gateway.jsonable import from_jsonable
from gateway.vtn.payloads import Reply
from gateway.vtn.store import QueuedMessage, VenRecord


def queued_reply(queued: QueuedMessage, ven: VenRecord) -> Reply:
    """The registration named is the VEN's current one (the VEN polls only while it has one:
    an unregistered VEN's poll is refused)."""
    if queued.message_type == VenRequest.CANCEL_REGISTRATION:
        # N1_0040: the VEN answers oadrCanceledPartyRegistration, which ends the registration.
        return "oadrCancelPartyRegistration", {
            "request_id": uuid.uuid4().hex,
            "registration_id": ven.registration_id or "",
            "ven_id": ven.ven_id,
        }
    if queued.message_type == VenRequest.REQUEST_REREGISTRATION:
        # N1_0050: the VEN answers oadrResponse, then registers again.
        return "oadrRequestReregistration", {"ven_id": ven.ven_id}
    return queued.message_type, from_jsonable(queued.payload)
