"""The 2.0a VTN's HTTP side: ``POST {vtn_20a_path}`` (``/OpenADR2/Simple/EiEvent`` by
default), answered from the same service as 2.0b.

A 2.0a VEN does not register (the A profile has no EiRegisterParty): it is a provisioned VEN
that names its venID, authenticated as 2.0b authenticates (its client certificate against
the provisioned fingerprint, when the VTN has TLS: 2.0a's security is TLS alone). 2.0a
messages cannot be signed, so a VTN set to require signatures (``vtn_require_signatures``
true, not merely its default over TLS) refuses them (463). As at 2.0b's endpoint, client input
never gets a 500, and a database or Redis outage is a 503."""

from __future__ import annotations

import logging
import time
from typing import Any

from aiohttp import web
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from gateway.oadr20a.codec import Incoming20a, decode, listed, render_distribute, render_response
from gateway.oadr20b.codec import MalformedXml
from gateway.oadr20b.endpoint import XML_TYPES, Outcome, VtnEndpoint, read_body
from gateway.oadr20b.errors import OadrError, StatusCode
from gateway.oadr20b.payloads import ok
from gateway.oadr20b.service import VtnService
from gateway.oadr20b.state import VenState, VtnState
from gateway.observability.logs import log_context
from gateway.observability.metrics import Component, Dependency, GatewayMetrics
from gateway.settings import Settings

logger = logging.getLogger(__name__)

SERVICE = "EiEvent (2.0a)"  # in the metrics and logs


class Vtn20aEndpoint:
    def __init__(
        self,
        vtn: VtnEndpoint,
        service: VtnService,
        state: VtnState,
        *,
        signatures_required: bool,
        max_body_bytes: int,
        metrics: GatewayMetrics | None = None,
    ) -> None:
        self._vtn = vtn
        self._service = service
        self._state = state
        self._signatures_required = signatures_required
        self._max_body = max_body_bytes
        self._metrics = metrics

    @classmethod
    def configured(
        cls, settings: Settings, vtn: VtnEndpoint, service: VtnService, state: VtnState,
        metrics: GatewayMetrics | None,
    ) -> Vtn20aEndpoint | None:  # fmt: skip
        """The endpoint ``settings`` ask for; None when 2.0a is off (``vtn_20a_path`` null)."""
        if settings.vtn_20a_path is None:
            return None
        return cls(
            vtn, service, state,
            # 2.0a has no signatures (its security is TLS): refused only where asked for.
            signatures_required=settings.vtn_require_signatures is True,
            max_body_bytes=settings.max_body_bytes, metrics=metrics,
        )  # fmt: skip

    async def handle(self, request: web.Request) -> web.Response:
        started = time.perf_counter()
        outcome = Outcome()
        response = await self._answer(request, outcome)
        self._vtn.note(SERVICE, outcome, response, started)
        return response

    async def _answer(self, request: web.Request, outcome: Outcome) -> web.Response:
        content_type = request.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if content_type not in XML_TYPES:
            return web.Response(status=415, text="Content-Type must be application/xml")
        body = await read_body(request, self._max_body)
        if body is None:
            return web.Response(status=413, text=f"body larger than {self._max_body} bytes")
        incoming: Incoming20a | None = None
        try:
            incoming = decode(body)
            payload = incoming.payload
            outcome.message_type = incoming.message_type
            outcome.ven_id = _str(payload.get("ven_id"))
            outcome.request_id = _str(payload.get("request_id")) or _str(
                (payload.get("response") or {}).get("request_id")
            )
            if incoming.message_type == "oadrResponse":
                # An answer is never answered; 2.0a's names no VEN to note it under.
                return web.Response(status=200, content_type="application/xml")
            with log_context(ven_id=outcome.ven_id):
                text = await self._dispatch(request, incoming, outcome)
        except MalformedXml as err:
            return web.Response(status=400, text=str(err))
        except OadrError as err:
            return self._refused(err, incoming, outcome)
        except (SQLAlchemyError, RedisError, OSError) as err:
            logger.warning("VTN 2.0a: a dependency is unavailable: %s", err)
            if self._metrics is not None:
                self._metrics.dependency_error(Dependency.of(err), Component.VTN)
            return web.Response(status=503, text="the VTN's database or Redis is unavailable")
        except Exception as err:  # never a 500 to a VEN: answer 469 and log for us
            logger.exception("VTN 2.0a: unexpected failure")
            failure = OadrError(StatusCode.DEPLOYMENT_ERROR_OR_OTHER_ERROR, type(err).__name__)
            return self._refused(failure, incoming, outcome)
        return _xml(text)

    async def _dispatch(self, request: web.Request, incoming: Incoming20a, outcome: Outcome) -> str:
        ven = await self._authenticated(request, incoming)
        payload = incoming.payload
        if incoming.message_type == "oadrRequestEvent":
            _, reply = await self._service.events.request_event(ven, payload)
            events = [e.event for e in reply.get("events") or []]
            outcome.answer_type = "oadrDistributeEvent"
            outcome.answer_request_id = _str(reply.get("request_id"))
            if len(listed(events)) < len(events):
                logger.info("VTN 2.0a: %d of VEN %s's events have no SIMPLE signal, not sent",
                            len(events) - len(listed(events)), ven.record.ven_id)  # fmt: skip
            return render_distribute(
                reply.get("response"), str(reply.get("request_id") or ""),
                self._vtn.vtn_id, events,
            )  # fmt: skip
        _, reply = await self._service.events.created_event(ven, payload)
        outcome.answer_type = "oadrResponse"
        outcome.answer_request_id = outcome.request_id
        return render_response(reply.get("response") or ok(outcome.request_id))

    async def _authenticated(self, request: web.Request, incoming: Incoming20a) -> VenState:
        """The provisioned VEN that sent ``incoming``, its certificate checked (2.0a has no
        registration to require)."""
        caller = self._vtn.caller(request)
        if self._signatures_required:
            raise OadrError(
                StatusCode.NOT_REGISTERED_OR_AUTHORIZED,
                "this VTN requires signed messages, and 2.0a messages are not signed",
            )
        ven_id = incoming.payload.get("ven_id")
        if not isinstance(ven_id, str) or not ven_id:
            raise OadrError(StatusCode.INVALID_ID, f"{incoming.message_type} must carry a venID")
        ven = await self._state.get(ven_id)
        if ven is None:
            if caller.fingerprint is not None:  # an authenticated channel tells strangers nothing
                raise OadrError(StatusCode.NOT_REGISTERED_OR_AUTHORIZED, "not authorized")
            raise OadrError(StatusCode.INVALID_ID, f"venID {ven_id} is not known to this VTN")
        self._service.check_fingerprint(ven.record, caller)
        self._state.seen(ven_id, frozenset())
        return ven

    def _refused(
        self, err: OadrError, incoming: Incoming20a | None, outcome: Outcome
    ) -> web.Response:
        """The refusal, in what the VEN waits for: a distribute with no events for an
        oadrRequestEvent, an oadrResponse for anything else."""
        outcome.code = int(err.code)
        outcome.description = err.description
        message_type = err.message_type or (incoming.message_type if incoming else None)
        outcome.message_type = outcome.message_type or message_type
        request_id = err.request_id or outcome.request_id or ""
        response: dict[str, Any] = {
            "response_code": int(err.code),
            "response_description": err.description[:500],
            "request_id": request_id,
        }
        logger.info("VTN 2.0a refused %s from %s: %d %s",
                    message_type, outcome.ven_id, err.code, err)  # fmt: skip
        outcome.answer_request_id = request_id or None
        if message_type == "oadrRequestEvent":
            outcome.answer_type = "oadrDistributeEvent"
            return _xml(render_distribute(response, request_id, self._vtn.vtn_id, []))
        outcome.answer_type = "oadrResponse"
        return _xml(render_response(response))


def _xml(text: str) -> web.Response:
    return web.Response(text=text, content_type="application/xml")


def _str(value: object) -> str | None:
    return value[:128] if isinstance(value, str) and value else None
