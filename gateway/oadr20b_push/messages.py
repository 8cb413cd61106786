"""What a pushed message says, made when it is sent (as the pull VTN makes it for a poll),
and the VEN's answer in the HTTP response to the push, taken as the VTN takes its POSTs."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from lxml import etree

from gateway.clock import Clock
from gateway.oadr20b.codec import Encoder, MalformedXml, decode
from gateway.oadr20b.errors import OadrError, StatusCode
from gateway.oadr20b.message_log import Direction
from gateway.oadr20b.payloads import Reply
from gateway.oadr20b.service import VtnService
from gateway.oadr20b.signing import ReplayGuard, verify_signature
from gateway.oadr20b.state import VenState, VtnState
from gateway.oadr20b.store import QueuedMessage
from gateway.oadr20b.told import Told
from gateway.oadr20b.ven_errors import reports_an_error
from gateway.oadr20b.ven_requests import queued_reply
from gateway.oadr20b_push.outbox import DISTRIBUTE, Outgoing

logger = logging.getLogger(__name__)

# A VEN's answers in the HTTP response to a push that the VTN handles as if POSTed (the
# 2.0b push exchanges: oadrCreateReport -> oadrCreatedReport, oadrCancelReport ->
# oadrCanceledReport, oadrCancelPartyRegistration -> oadrCanceledPartyRegistration, the
# VTN's METADATA oadrRegisterReport -> oadrRegisteredReport, which may carry requests of it).
HANDLED_ANSWERS = frozenset({
    "oadrCreatedReport", "oadrCanceledReport", "oadrCanceledPartyRegistration",
    "oadrCreatedEvent", "oadrRegisteredReport",
})  # fmt: skip


@dataclass(frozen=True)
class Rendered:
    message_type: str
    xml: str
    fingerprint: str | None  # the VEN's certificate, pinned for the TLS connection
    request_id: str | None = None  # the message's own requestID (in the VEN's message log)
    told: Told | None = None  # what a distribute tells the VEN, kept once it took it


class PushMessages:
    def __init__(
        self,
        service: VtnService,
        state: VtnState,
        encoder: Encoder,
        replay: ReplayGuard,
        clock: Clock,
        distribute: Callable[[VenState], tuple[Reply, Told]],
        *,
        signatures_required: bool,
        tolerant: bool,
    ) -> None:
        self._service = service
        self._state = state
        self._encoder = encoder
        self._replay = replay
        self._clock = clock
        self._distribute = distribute
        self._signatures_required = signatures_required
        self._tolerant = tolerant

    async def render(self, ven_id: str, outgoing: Outgoing) -> Rendered | None:
        """The message as it goes now; None when the VEN is no longer one to push to (it was
        deleted, deregistered or went back to polling): the message is then dropped."""
        ven = await self._state.get(ven_id)
        if ven is None or not ven.record.push:
            return None
        told: Told | None = None
        if outgoing.message_type == DISTRIBUTE:
            if not ven.record.registered:
                return None
            # The full current list, as for a poll.
            reply, told = self._distribute(ven)
        else:
            queued = QueuedMessage(outgoing.id, outgoing.message_type, outgoing.payload or {})
            reply = queued_reply(queued, ven.record)
        message_type, payload = reply
        response = payload.get("response")
        if isinstance(response, dict) and response.get("request_id") is None:
            payload["response"] = {**response, "request_id": ""}
        payload.setdefault("vtn_id", self._service.config.vtn_id)
        xml = self._encoder.encode(message_type, payload)
        request_id = payload.get("request_id")
        return Rendered(
            message_type, xml, ven.record.fingerprint,
            request_id if isinstance(request_id, str) and request_id else None, told,
        )  # fmt: skip

    async def take_answer(self, ven_id: str, body: bytes) -> str | None:
        """Handle the VEN's answer to a push (an empty body or an oadrResponse is the usual
        one); the answer's message type, None when there was none. A malformed or
        unauthenticated answer is logged and changes nothing: the VEN did take the message."""
        if not body.strip():
            return None
        try:
            incoming = decode(body, tolerant=self._tolerant)
        except (MalformedXml, OadrError) as err:
            logger.info("push: VEN %s answered with a payload refused: %s", ven_id, err)
            return "invalid"
        ven = await self._state.get(ven_id)
        if ven is None:
            return incoming.message_type
        self._state.messages.record_answer(
            ven_id, Direction.FROM_VEN, incoming.message_type, incoming.payload
        )
        try:
            await self._authenticate(ven, incoming.signed, incoming.tree)
            if incoming.message_type == "oadrResponse":
                if reports_an_error(incoming.payload):
                    await self._service.events.error_response(ven, incoming.payload)
            elif incoming.message_type in HANDLED_ANSWERS:
                handler = self._service.handlers[incoming.message_type]
                await handler(self._service.require(ven, ven_id, incoming.message_type),
                              incoming.payload)  # fmt: skip
            else:
                logger.info("push: VEN %s answered with %s", ven_id, incoming.message_type)
        except OadrError as err:
            logger.info(
                "push: VEN %s's %s not taken: %d %s", ven_id, incoming.message_type, err.code, err
            )
        return incoming.message_type

    async def _authenticate(self, ven: VenState, signed: bool, tree: etree._Element) -> None:
        """As the endpoint checks a VEN's POST: its signature against its certificate, and a
        signature required when the VTN requires them."""
        if signed:
            protect = verify_signature(tree, ven.record.fingerprint)
            await self._replay.check(protect, self._clock.now())
        elif self._signatures_required:
            raise OadrError(
                StatusCode.NOT_REGISTERED_OR_AUTHORIZED, "answers to this VTN must be signed"
            )
