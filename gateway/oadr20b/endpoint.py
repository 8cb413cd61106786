"""The VTN's HTTP side: ``POST {prefix}/{service}``, authentication, and an OpenADR answer to
everything. Client input never gets a 500: bad XML is a 400, anything that can be answered in
OpenADR gets the right response code, and a database or Redis outage is a 503."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from aiohttp import web
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from gateway.clock import Clock
from gateway.oadr20b.codec import Encoder, Incoming, MalformedXml, decode
from gateway.oadr20b.errors import OadrError, StatusCode
from gateway.oadr20b.message_log import Direction, Message, response_of
from gateway.oadr20b.payloads import Reply, ok
from gateway.oadr20b.service import PROFILES, Caller, VtnService
from gateway.oadr20b.signing import (
    ReplayGuard,
    fingerprint_from_header,
    fingerprint_of_der,
    verify_signature,
)
from gateway.oadr20b.state import VenState, VtnState
from gateway.oadr20b.ven_errors import reports_an_error
from gateway.observability.logs import log_context
from gateway.observability.metrics import Component, Dependency, GatewayMetrics

logger = logging.getLogger(__name__)

# Which messages each service endpoint takes (OpenADR 2.0b, simple HTTP).
SERVICE_MESSAGES: dict[str, frozenset[str]] = {
    "EiRegisterParty": frozenset({
        "oadrQueryRegistration", "oadrCreatePartyRegistration", "oadrCancelPartyRegistration",
        "oadrCanceledPartyRegistration", "oadrResponse",
    }),
    "EiEvent": frozenset({"oadrRequestEvent", "oadrCreatedEvent", "oadrResponse"}),
    "EiReport": frozenset({
        "oadrRegisterReport", "oadrCreatedReport", "oadrUpdateReport", "oadrCanceledReport",
        "oadrRegisteredReport", "oadrCreateReport", "oadrCancelReport", "oadrResponse",
    }),
    "EiOpt": frozenset({"oadrCreateOpt", "oadrCancelOpt", "oadrResponse"}),
    "OadrPoll": frozenset({"oadrPoll", "oadrResponse"}),
}  # fmt: skip
XML_TYPES = ("application/xml", "text/xml")


@dataclass
class Outcome:
    """What one request was and how it was answered, for the metrics and the message log."""

    message_type: str | None = None
    code: int = int(StatusCode.OK)
    ven_id: str | None = None
    request_id: str | None = None
    answer_type: str | None = None
    answer_request_id: str | None = None
    description: str | None = None
    # An oadrResponse from the VEN: the code it carries (its answer gets none).
    ven_code: int | None = None


class VtnEndpoint:
    def __init__(
        self,
        service: VtnService,
        state: VtnState,
        encoder: Encoder,
        replay: ReplayGuard,
        clock: Clock,
        *,
        tls: bool,
        client_cert_header: str | None,
        signatures_required: bool,
        max_body_bytes: int,
        tolerant: bool,
        metrics: GatewayMetrics | None = None,
    ) -> None:
        self._metrics = metrics
        self._service = service
        self._state = state
        self._encoder = encoder
        self._replay = replay
        self._clock = clock
        self._tls = tls
        self._header = client_cert_header
        self._signatures_required = signatures_required
        self._max_body = max_body_bytes
        self._tolerant = tolerant
        self.vtn_id = service.config.vtn_id

    async def handle(self, request: web.Request) -> web.Response:
        started = time.perf_counter()
        service = request.match_info.get("service", "")
        outcome = Outcome()
        response = await self._answer(request, service, outcome)
        self.note(service, outcome, response, started)
        return response

    def note(self, service: str, outcome: Outcome, response: web.Response, started: float) -> None:
        """The exchange in the metrics (from ``started``, a ``perf_counter``) and the VEN's
        message log: 2.0b's and 2.0a's alike."""
        if self._metrics is not None:
            code = outcome.code if response.status == 200 else response.status
            seconds = time.perf_counter() - started
            self._metrics.vtn_message(service, outcome.message_type, code, seconds)
        self.log_exchange(outcome, response.status)

    def log_exchange(self, outcome: Outcome, status: int) -> None:
        """Note the exchange in the VEN's message log (a VEN this process knows only: a
        stranger's venID gets no list)."""
        ven_id = outcome.ven_id
        if ven_id is None or outcome.message_type is None or self._state.cached(ven_id) is None:
            return
        code: int | None = outcome.code if outcome.ven_code is None else outcome.ven_code
        if status != 200:
            code = None  # not answered in OpenADR (the database or Redis was down: a 503)
        sent: Message = (Direction.FROM_VEN, outcome.message_type, outcome.request_id, code,
                         outcome.description)  # fmt: skip
        if outcome.answer_type is None:
            self._state.messages.record(ven_id, sent)
            return
        answer: Message = (Direction.TO_VEN, outcome.answer_type, outcome.answer_request_id,
                           outcome.code, outcome.description)  # fmt: skip
        self._state.messages.record(ven_id, sent, answer)

    async def _answer(self, request: web.Request, service: str, outcome: Outcome) -> web.Response:
        if service not in SERVICE_MESSAGES:
            return web.Response(status=404, text=f"no OpenADR service {service!r} here")
        content_type = request.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if content_type not in XML_TYPES:
            return web.Response(status=415, text="Content-Type must be application/xml")
        body = await read_body(request, self._max_body)
        if body is None:
            return web.Response(status=413, text=f"body larger than {self._max_body} bytes")
        incoming: Incoming | None = None
        try:
            incoming = decode(body, tolerant=self._tolerant)
            outcome.message_type = incoming.message_type
            outcome.ven_id = _str(incoming.payload.get("ven_id"))
            outcome.request_id = _request_id(incoming.payload)
            if incoming.message_type == "oadrResponse":
                _note_ven_response(incoming.payload, outcome)
                # An answer to the VTN is never answered; one carrying an error is recorded.
                if reports_an_error(incoming.payload):
                    await self._take_error(request, incoming)
                return web.Response(status=200, content_type="application/xml")
            if incoming.message_type not in SERVICE_MESSAGES[service]:
                raise OadrError(
                    StatusCode.COMPLIANCE_ERROR,
                    f"{incoming.message_type} is not taken at {service}",
                )
            ven_id = incoming.payload.get("ven_id")
            with log_context(ven_id=ven_id if isinstance(ven_id, str) else None):
                response_type, payload = await self._dispatch(request, incoming)
            # openleadr's templates render a None requestID as the text "None" (the
            # oadrDistributeEvent a poll gets has no request to echo): send it empty.
            response = payload.get("response")
            if isinstance(response, dict) and response.get("request_id") is None:
                payload["response"] = {**response, "request_id": ""}
        except MalformedXml as err:
            return web.Response(status=400, text=str(err))
        except OadrError as err:
            outcome.code = int(err.code)
            return self._error(err, incoming, outcome)
        except (SQLAlchemyError, RedisError, OSError) as err:
            logger.warning("VTN %s: a dependency is unavailable: %s", service, err)
            if self._metrics is not None:
                self._metrics.dependency_error(Dependency.of(err), Component.VTN)
            return web.Response(status=503, text="the VTN's database or Redis is unavailable")
        except Exception as err:  # never a 500 to a VEN: answer 469 and log for us
            logger.exception("VTN %s: unexpected failure", service)
            failure = OadrError(StatusCode.DEPLOYMENT_ERROR_OR_OTHER_ERROR, type(err).__name__)
            outcome.code = int(failure.code)
            return self._error(failure, incoming, outcome)
        if isinstance(response, dict):
            outcome.code = _response_code(response, outcome.code)
        outcome.answer_type = response_type
        outcome.answer_request_id = _request_id(payload)
        outcome.ven_id = outcome.ven_id or _str(payload.get("ven_id"))  # a registration's
        return self._xml(response_type, payload)

    async def _dispatch(self, request: web.Request, incoming: Incoming) -> Reply:
        payload = incoming.payload
        caller = self.caller(request)
        vtn_id = payload.get("vtn_id")
        if vtn_id is not None and vtn_id != self.vtn_id:
            raise OadrError(StatusCode.INVALID_ID, f"vtnID {vtn_id} is not this VTN's")
        message_type = incoming.message_type
        if message_type == "oadrQueryRegistration":
            await self._check_signature(incoming, caller.fingerprint)
            return await self._service.query_registration(payload, caller)
        if message_type == "oadrCreatePartyRegistration":
            # The signature is checked against the provisioned VEN's certificate once the
            # service knows which VEN this is (over plain HTTP there is no TLS certificate).
            registrant = await self._service.identify(payload, caller)
            await self._check_signature(incoming, registrant.verify_with)
            response_type, reply = await self._service.register(payload, caller, registrant)
            if isinstance(reply.get("ven_id"), str):
                self._state.seen(reply["ven_id"], incoming.deviations)
            return response_type, reply
        ven = await self._authenticated(incoming, caller)
        handler = self._service.handlers.get(message_type)
        if handler is None:
            raise OadrError(
                StatusCode.REPORT_NOT_SUPPORTED
                if "Report" in message_type
                else StatusCode.COMPLIANCE_ERROR,
                f"this VTN does not take {message_type}",
            )
        return await handler(ven, payload)

    async def _authenticated(self, incoming: Incoming, caller: Caller) -> VenState:
        """The registered VEN that sent ``incoming``, its certificate and signature checked."""
        message_type = incoming.message_type
        ven_id = incoming.payload.get("ven_id")
        if not isinstance(ven_id, str) or not ven_id:
            raise OadrError(StatusCode.INVALID_ID, f"{message_type} must carry a venID")
        ven = await self._state.get(ven_id)
        if ven is None:
            if self._tls or self._header:  # an authenticated channel tells strangers nothing
                raise OadrError(StatusCode.NOT_REGISTERED_OR_AUTHORIZED, "not authorized")
            raise OadrError(StatusCode.INVALID_ID, f"venID {ven_id} is not known to this VTN")
        # Authenticate before saying anything about the VEN's registration.
        self._service.check_fingerprint(ven.record, caller)
        await self._check_signature(incoming, ven.record.fingerprint or caller.fingerprint)
        ven = self._service.require(ven, ven_id, message_type)
        self._state.seen(ven_id, incoming.deviations)
        return ven

    async def _take_error(self, request: web.Request, incoming: Incoming) -> None:
        """Record the error an oadrResponse reports, once its VEN is authenticated; from
        anyone else it changes nothing (and, being an answer, is answered with nothing)."""
        try:
            ven = await self._authenticated(incoming, self.caller(request))
        except OadrError as err:
            logger.info("VTN ignored an error oadrResponse: %d %s", err.code, err)
            return
        await self._service.events.error_response(ven, incoming.payload)

    def caller(self, request: web.Request) -> Caller:
        caller = Caller(self._fingerprint(request))
        if (self._tls or self._header) and caller.fingerprint is None:
            raise OadrError(
                StatusCode.NOT_REGISTERED_OR_AUTHORIZED, "a client certificate is required"
            )
        return caller

    def _fingerprint(self, request: web.Request) -> str | None:
        if self._header:
            value = request.headers.get(self._header)
            return fingerprint_from_header(value) if value else None
        if request.transport is None:
            return None
        ssl_object = request.transport.get_extra_info("ssl_object")
        if ssl_object is None:
            return None
        der = ssl_object.getpeercert(binary_form=True)
        return fingerprint_of_der(der) if der else None

    async def _check_signature(self, incoming: Incoming, fingerprint: str | None) -> None:
        if incoming.signed:
            protect = verify_signature(incoming.tree, fingerprint)
            await self._replay.check(protect, self._clock.now())
        elif self._signatures_required:
            raise OadrError(
                StatusCode.NOT_REGISTERED_OR_AUTHORIZED, "messages to this VTN must be signed"
            )

    def _error(self, err: OadrError, incoming: Incoming | None, outcome: Outcome) -> web.Response:
        message_type = err.message_type or (incoming.message_type if incoming else None)
        payload: dict[str, Any] = incoming.payload if incoming else {}
        request_id = err.request_id or _request_id(payload)
        ven_id = err.ven_id or _str(payload.get("ven_id"))
        response = {
            "response_code": int(err.code),
            "response_description": err.description[:500],
            "request_id": request_id,
        }
        logger.info("VTN refused %s from %s: %d %s", message_type, ven_id, err.code, err)
        response_type, body = error_reply(message_type, response, ven_id, payload, self.vtn_id)
        outcome.answer_type = response_type
        outcome.answer_request_id = request_id
        outcome.description = err.description
        return self._xml(response_type, body)

    def _xml(self, message_type: str, payload: dict[str, Any]) -> web.Response:
        payload.setdefault("vtn_id", self.vtn_id)
        try:
            text = self._encoder.encode(message_type, payload)
        except Exception:  # an answer that cannot be rendered is still no 500 to the VEN
            logger.exception("VTN: could not render %s", message_type)
            text = self._encoder.encode(
                "oadrResponse",
                {"response": {"response_code": int(StatusCode.DEPLOYMENT_ERROR_OR_OTHER_ERROR),
                              "response_description": "the answer could not be rendered",
                              "request_id": ""},
                 "ven_id": "", "vtn_id": self.vtn_id},
            )  # fmt: skip
        return web.Response(text=text, content_type="application/xml")


def error_reply(
    message_type: str | None,
    response: dict[str, Any],
    ven_id: str | None,
    payload: dict[str, Any],
    vtn_id: str,
) -> tuple[str, dict[str, Any]]:
    """The response type a refusal of ``message_type`` travels in, and its payload."""
    # Several openleadr templates write requestID, venID and registrationID unconditionally
    # and Jinja renders None as the text "None": what the refused message did not carry is
    # sent empty instead (the schema takes an empty string for each).
    response = {**response, "request_id": response.get("request_id") or ""}
    if message_type in ("oadrCreatePartyRegistration", "oadrQueryRegistration"):
        return "oadrCreatedPartyRegistration", {
            "response": response, "vtn_id": vtn_id, "profiles": PROFILES,
            "requested_oadr_poll_freq": timedelta(seconds=10),
        }  # fmt: skip
    if message_type == "oadrRequestEvent":
        return "oadrDistributeEvent", {
            "response": response, "request_id": response["request_id"], "vtn_id": vtn_id,
            "events": [],
        }  # fmt: skip
    if message_type in ("oadrCreateOpt", "oadrCancelOpt"):
        kind = "oadrCreatedOpt" if message_type == "oadrCreateOpt" else "oadrCanceledOpt"
        return kind, {"response": response, "opt_id": _str(payload.get("opt_id")) or ""}
    if message_type == "oadrCancelPartyRegistration":
        return "oadrCanceledPartyRegistration", {
            "response": response, "ven_id": ven_id or "",
            "registration_id": _str(payload.get("registration_id")) or "",
        }  # fmt: skip
    if message_type == "oadrRegisterReport":
        return "oadrRegisteredReport", {
            "response": response, "ven_id": ven_id, "report_requests": [],
        }  # fmt: skip
    if message_type == "oadrUpdateReport":
        return "oadrUpdatedReport", {"response": response, "ven_id": ven_id}
    if message_type in ("oadrCreateReport", "oadrCancelReport"):
        # 2.0b answers these with oadrCreatedReport / oadrCanceledReport, refusals included
        # (an oadrResponse here is not what the VEN waits for).
        kind = "oadrCreatedReport" if message_type == "oadrCreateReport" else "oadrCanceledReport"
        return kind, {"response": response, "pending_reports": [], "ven_id": ven_id}
    return "oadrResponse", {"response": response, "ven_id": ven_id or ""}


async def read_body(request: web.Request, limit: int) -> bytes | None:
    """The whole body, or None once it grows past ``limit`` (a read returns what has
    arrived so far, so a body that came in several TCP segments takes several reads)."""
    if request.content_length is not None and request.content_length > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    while chunk := await request.content.read(65536):
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _str(value: object) -> str | None:
    return value[:128] if isinstance(value, str) and value else None


def _request_id(payload: dict[str, Any]) -> str | None:
    value = payload.get("request_id")
    if not value and isinstance(payload.get("response"), dict):
        value = payload["response"].get("request_id")
    return _str(value)


__all__ = [
    "SERVICE_MESSAGES", "XML_TYPES", "Outcome", "VtnEndpoint", "error_reply", "ok", "read_body",
]  # fmt: skip


def _note_ven_response(payload: dict[str, Any], outcome: Outcome) -> None:
    """The code and description an oadrResponse from the VEN carries, for its message log."""
    code, description = response_of(payload)
    outcome.ven_code = int(StatusCode.OK) if code is None else code
    outcome.description = description


def _response_code(response: dict[str, Any], default: int) -> int:
    """The responseCode an answer carries (openleadr's payload key), else ``default``."""
    try:
        return int(response.get("response_code", default))
    except (TypeError, ValueError):
        return default
