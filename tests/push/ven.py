"""``PushVen``: a 2.0b VEN in push mode. It registers with ``oadrHttpPullModel`` false and
its own address, takes the VTN's POSTs on an aiohttp server on 127.0.0.1 (each must be an
XSD-valid oadrPayload of a message a VTN pushes), answers each as 2.0b push has it, and sends
its own messages (oadrCreatedEvent, ...) to the VTN as a ``RawVen`` does."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field

from aiohttp import web
from lxml import etree

from gateway.oadr20b.signing import fingerprint_of_der
from tests.oadr20b import messages
from tests.oadr20b.answers import Answer
from tests.oadr20b.namespaces import el, qname
from tests.oadr20b.schema import schema_errors
from tests.oadr20b.ven import RawVen
from tests.support import free_port

# What the VTN may push, at which service, and the VEN's answer type in the HTTP response.
PUSHED_AT = {
    "oadrDistributeEvent": "EiEvent",
    "oadrCreateReport": "EiReport",
    "oadrCancelReport": "EiReport",
    "oadrRegisterReport": "EiReport",  # the VTN's METADATA
    "oadrCancelPartyRegistration": "EiRegisterParty",
    "oadrRequestReregistration": "EiRegisterParty",
}


@dataclass
class Pushed:
    service: str
    path: str
    answer: Answer  # the VTN's message, parsed as a VTN answer is
    peer: str | None = None  # the fingerprint of the client certificate it came with (TLS)


@dataclass
class PushVen:
    raw: RawVen
    prefix: str = "/OpenADR2/Simple/2.0b"  # where its services are, under its address
    port: int = field(default_factory=free_port)
    ssl_context: ssl.SSLContext | None = None
    received: list[Pushed] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # pushes that broke the rules
    # The HTTP status it answers with (a VEN that refuses, or errors).
    status: int = 200
    on_push: Callable[[Pushed], None] | None = None
    delay: float = 0.0  # seconds it takes to answer a push
    in_flight: int = 0
    most_in_flight: int = 0  # pushes it was handling at once, at most
    metadata: Pushed | None = None  # the METADATA pushed after its last registration
    # A reportRequestID under which its next oadrRegisteredReport asks for the METADATA again.
    ask_metadata_in_answer: str | None = None
    _runner: web.AppRunner | None = None
    _arrived: asyncio.Condition = field(default_factory=asyncio.Condition)

    @property
    def address(self) -> str:
        scheme = "https" if self.ssl_context is not None else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    # --- its server -----------------------------------------------------------------------
    async def start(self) -> None:
        app = web.Application()
        app.router.add_post(f"{self.prefix.rstrip('/')}/{{service}}", self._take)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port, ssl_context=self.ssl_context,
                          reuse_address=True).start()  # fmt: skip

    async def stop(self) -> None:
        """Taken down: its port refuses connections until ``start``."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _take(self, request: web.Request) -> web.Response:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            if self.delay:
                await asyncio.sleep(self.delay)
            return await self._answer(request)
        finally:
            self.in_flight -= 1

    async def _answer(self, request: web.Request) -> web.Response:
        service = request.match_info["service"]
        body = await request.read()
        tree = etree.fromstring(body, etree.XMLParser(resolve_entities=False, no_network=True))
        errors = schema_errors(tree)
        answer = Answer(body, tree)
        kind = answer.message_type or ""
        if errors:
            self.problems.append(f"{kind} not XSD-valid: {errors[:3]}")
        if PUSHED_AT.get(kind) != service:
            self.problems.append(f"{kind} pushed to {service}")
        if self.status != 200:
            return web.Response(status=self.status, text="refused")
        pushed = Pushed(service, request.path, answer, _peer_fingerprint(request))
        try:
            self.raw.check(answer, kind if kind in PUSHED_AT else "?", None)
        except AssertionError as err:
            self.problems.append(str(err)[:500])
        self.received.append(pushed)
        if self.on_push is not None:
            self.on_push(pushed)
        async with self._arrived:
            self._arrived.notify_all()
        reply = self._reply(answer)
        return web.Response(body=self.raw.serialize(reply), content_type="application/xml")

    def _reply(self, pushed: Answer) -> etree._Element:
        kind = pushed.message_type
        request_id = pushed.own_request_id or ""
        if kind == "oadrCreateReport":
            pending = [r.report_request_id for r in pushed.report_requests]
            return messages.created_report(self.raw.id, request_id, pending)
        if kind == "oadrCancelReport":
            # Still pending afterwards: the cancelled requests, when a report is to follow.
            follow = pushed.field("pyld:reportToFollow") == "true"
            cancelled = [e.text or "" for e in pushed.message.iter(qname("ei:reportRequestID"))]
            return messages.canceled_report(self.raw.id, request_id, cancelled if follow else [])
        if kind == "oadrRegisterReport":
            asked = []
            if self.ask_metadata_in_answer is not None:  # R0_8120: a request piggy-backed
                create = messages.create_report(
                    "", self.raw.id, report_request_id=self.ask_metadata_in_answer
                )
                asked.append(create.find(qname("oadr:oadrReportRequest")))
                self.ask_metadata_in_answer = None
            return messages.message(
                "oadrRegisteredReport",
                messages.ei_response(200, "OK", request_id),
                *asked,
                el("ei:venID", self.raw.id),
            )
        if kind == "oadrCancelPartyRegistration":
            registration = pushed.field("ei:registrationID")
            return messages.canceled_party_registration(
                self.raw.id, request_id, registration_id=registration, code=200
            )
        return messages.response(self.raw.id, 200, "OK", request_id)

    async def wait_for(
        self, kind: str, count: int = 1, within: float = 5.0, since: int = 0
    ) -> Pushed:
        """The ``count``-th push of ``kind`` after the first ``since`` received."""

        def found() -> list[Pushed]:
            return [p for p in self.received[since:] if p.answer.message_type == kind]

        async with self._arrived:
            async with asyncio.timeout(within):
                await self._arrived.wait_for(lambda: len(found()) >= count)
        return found()[count - 1]

    # --- its own messages -----------------------------------------------------------------
    async def register(self, address: str | None = None, *, metadata: bool = True) -> Answer:
        """oadrCreatePartyRegistration in push mode, with its address (default: its own).
        Registered, it takes the VTN's METADATA oadrRegisterReport, pushed after every
        registration (N0_5020), unless not ``metadata``: kept in ``metadata``, not in
        ``received``, which the tests read for what the operator's changes pushed."""
        body = messages.create_party_registration(
            self.raw.request_id(), ven_name=self.raw.ven_name, ven_id=self.raw.ven_id,
            registration_id=self.raw.registration_id, http_pull_model=False,
            xml_signature=self.raw.signer is not None,
        )  # fmt: skip
        transport = body.find(qname("oadr:oadrTransportName"))
        assert transport is not None
        transport.addnext(el("oadr:oadrTransportAddress", address or self.address))
        before = len(self.received)
        answer = await self.raw.send(body)
        if answer.code == 200:
            self.raw.ven_id = answer.field("ei:venID")
            self.raw.registration_id = answer.field("ei:registrationID")
            if metadata:
                self.metadata = await self.wait_for("oadrRegisterReport", since=before)
                self.received.remove(self.metadata)
        return answer


def _peer_fingerprint(request: web.Request) -> str | None:
    ssl_object = (
        None if request.transport is None else request.transport.get_extra_info("ssl_object")
    )
    der = None if ssl_object is None else ssl_object.getpeercert(binary_form=True)
    return fingerprint_of_der(der) if der else None
