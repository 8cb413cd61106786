"""``RawVen``: a 2.0b VEN (pull mode) that checks every answer it gets.

Each answer must be an HTTP 200 with an XSD-valid oadrPayload of the type that answers the
message sent (or an empty body, for an oadrResponse), and meet the profile rules for its type
(``profile.violations``); anything else fails the test at once, naming what was wrong. The VEN
remembers what a VEN must: its venID and registrationID, the report points it offered, the
events and report requests it was told of.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
from lxml import etree

from tests.oadr20b import messages
from tests.oadr20b.answers import Answer, Event, ReportRequest
from tests.oadr20b.dialects import Dialect
from tests.oadr20b.messages import EventReply, OfferedReport, Reading
from tests.oadr20b.namespaces import el, qname
from tests.oadr20b.profile import KNOWN_GAPS, Context, violations
from tests.oadr20b.schema import schema_errors
from tests.oadr20b.signing import Signer

# The message each request is answered with (2.0b, simple HTTP pull).
ANSWERED_WITH = {
    "oadrQueryRegistration": "oadrCreatedPartyRegistration",
    "oadrCreatePartyRegistration": "oadrCreatedPartyRegistration",
    "oadrCancelPartyRegistration": "oadrCanceledPartyRegistration",
    "oadrRequestEvent": "oadrDistributeEvent",
    "oadrCreatedEvent": "oadrResponse",
    "oadrRegisterReport": "oadrRegisteredReport",
    "oadrCreatedReport": "oadrResponse",
    "oadrUpdateReport": "oadrUpdatedReport",
    "oadrCanceledReport": "oadrResponse",
    "oadrCreateOpt": "oadrCreatedOpt",
    "oadrCancelOpt": "oadrCanceledOpt",
}
# A poll is answered with whatever waits for the VEN.
POLL_ANSWERS = frozenset({
    "oadrResponse", "oadrDistributeEvent", "oadrCreateReport", "oadrCancelReport",
    "oadrRegisterReport", "oadrRequestReregistration", "oadrCancelPartyRegistration",
})  # fmt: skip
SERVICE_OF = {
    "oadrQueryRegistration": "EiRegisterParty", "oadrCreatePartyRegistration": "EiRegisterParty",
    "oadrCancelPartyRegistration": "EiRegisterParty", "oadrPoll": "OadrPoll",
    "oadrRequestEvent": "EiEvent", "oadrCreatedEvent": "EiEvent", "oadrRegisterReport": "EiReport",
    "oadrCreatedReport": "EiReport", "oadrUpdateReport": "EiReport",
    "oadrCanceledReport": "EiReport", "oadrCreateOpt": "EiOpt", "oadrCancelOpt": "EiOpt",
    "oadrCreateReport": "EiReport", "oadrCancelReport": "EiReport",  # of the VTN's reports
}  # fmt: skip


class VtnAnswerError(AssertionError):
    """The VTN's answer broke the transport, the XSD or a profile rule."""


@dataclass
class RawVen:
    session: aiohttp.ClientSession
    url: str  # .../OpenADR2/Simple/2.0b
    ven_name: str
    now: Callable[[], datetime]
    ven_id: str | None = None
    registration_id: str | None = None
    signer: Signer | None = None
    dialect: Dialect | None = None
    skip_rules: frozenset[str] = frozenset(KNOWN_GAPS)
    offered: dict[str, tuple[timedelta, timedelta]] = field(default_factory=dict)
    events: dict[str, Event] = field(default_factory=dict)
    report_requests: dict[str, ReportRequest] = field(default_factory=dict)
    answers: list[Answer] = field(default_factory=list)
    _ids: itertools.count[int] = field(default_factory=itertools.count)

    def request_id(self) -> str:
        return f"{self.ven_name}-{next(self._ids)}"

    @property
    def id(self) -> str:
        assert self.ven_id is not None, f"{self.ven_name} has no venID yet"
        return self.ven_id

    # --- transport ----------------------------------------------------------------------
    def serialize(self, body: etree._Element) -> bytes:
        """``body`` in its oadrPayload, in the VEN's dialect, signed when it signs."""
        root = messages.envelope(body)
        if self.dialect is not None:
            self.dialect(root)
        if self.signer is not None:
            self.signer.sign(root, datetime.now(UTC))
        return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))

    async def post(self, service: str, data: bytes) -> Answer:
        """POST raw bytes; the answer must be an HTTP 200 carrying XML or nothing."""
        async with self.session.post(
            f"{self.url}/{service}", data=data, headers={"Content-Type": "application/xml"}
        ) as resp:
            body = await resp.read()
            if resp.status != 200:
                raise VtnAnswerError(f"HTTP {resp.status} from {service}: {body[:300]!r}")
            if not body:
                return Answer(body, None)
            if resp.content_type != "application/xml":
                raise VtnAnswerError(f"Content-Type {resp.content_type} from {service}")
        parser = etree.XMLParser(resolve_entities=False, no_network=True)
        tree = etree.fromstring(body, parser)
        errors = schema_errors(tree)
        if errors:
            raise VtnAnswerError(f"not XSD-valid: {errors[:3]}: {body[:500]!r}")
        answer = Answer(body, tree)
        self.answers.append(answer)
        return answer

    async def send(
        self, body: etree._Element, *, answers: str | None = None, echoes: str | None = None
    ) -> Answer:
        """Send ``body``; its answer is checked against its expected type and the profile.

        ``echoes``: the requestID the answer's eiResponse must carry (default: the body's
        own requestID, when it has one)."""
        message_type = etree.QName(body).localname
        answer = await self.post(SERVICE_OF[message_type], self.serialize(body))
        own = body.findtext(f".//{qname('pyld:requestID')}")
        self.check(answer, answers or ANSWERED_WITH.get(message_type), echoes or own)
        return answer

    def check(self, answer: Answer, expected: str | None, echoes: str | None) -> None:
        kind = answer.message_type
        allowed = POLL_ANSWERS if expected is None else {expected}
        if kind not in allowed and not (answer.empty and expected == "oadrResponse"):
            raise VtnAnswerError(f"answered with {kind}, expected {sorted(allowed)}")
        if answer.empty:
            return
        context = Context(
            now=self.now(),
            sent_request_id=echoes if expected is not None else None,
            offered=dict(self.offered),
            history=dict(self.events),
            report_request_ids=frozenset(self.report_requests),
        )
        broken = violations(answer, context, skip=self.skip_rules)
        if broken:
            raise VtnAnswerError(f"{kind} breaks the profile: {broken}: {answer.body[:800]!r}")
        for event in answer.events:
            self.events[event.event_id] = event
        for request in answer.report_requests:
            self.report_requests[request.report_request_id] = request

    # --- conversations --------------------------------------------------------------------
    async def query_registration(self) -> Answer:
        return await self.send(messages.query_registration(self.request_id()))

    async def register(self, **options: bool) -> Answer:
        answer = await self.send(
            messages.create_party_registration(
                self.request_id(), ven_name=self.ven_name, ven_id=self.ven_id,
                registration_id=self.registration_id, xml_signature=self.signer is not None,
                **options,
            )
        )  # fmt: skip
        if answer.code == 200:
            self.ven_id = answer.field("ei:venID")
            self.registration_id = answer.field("ei:registrationID")
        return answer

    async def take_vtn_metadata(self) -> Answer:
        """The VTN's METADATA oadrRegisterReport, which the poll after a registration brings,
        acknowledged with oadrRegisteredReport; the oadrRegisterReport."""
        register = await self.poll()
        if register.message_type != "oadrRegisterReport":
            raise VtnAnswerError(f"after registration: {register.message_type}, not metadata")
        body = messages.message(
            "oadrRegisteredReport",
            messages.ei_response(200, "OK", register.field("pyld:requestID") or ""),
            el("ei:venID", self.id),
        )
        answer = await self.post("EiReport", self.serialize(body))
        self.check(answer, "oadrResponse", None)
        return register

    async def poll(self) -> Answer:
        answer = await self.post("OadrPoll", self.serialize(messages.poll(self.id)))
        self.check(answer, None, None)
        return answer

    async def request_event(self, reply_limit: int | None = None) -> Answer:
        return await self.send(messages.request_event(self.request_id(), self.id, reply_limit))

    async def answer_events(
        self, distribute: Answer, replies: Sequence[EventReply] | None = None, opt: str = "optIn"
    ) -> Answer:
        """oadrCreatedEvent for ``distribute``: ``replies``, or ``opt`` for each of its events."""
        if replies is None:
            replies = [
                EventReply(e.event_id, e.modification_number, opt) for e in distribute.events
            ]
        request_id = distribute.own_request_id or ""
        return await self.send(messages.created_event(self.id, request_id, replies))

    async def respond(self, to: Answer, code: int, description: str, service: str) -> Answer:
        """oadrResponse to a message the VTN sent (answered with nothing)."""
        body = messages.response(self.id, code, description, to.own_request_id or "")
        answer = await self.post(service, self.serialize(body))
        self.check(answer, "oadrResponse", None)
        return answer

    async def register_reports(self, reports: Sequence[OfferedReport]) -> Answer:
        for report in reports:
            for point in report.points:
                self.offered[point.r_id] = (point.min_period, point.max_period)
        return await self.send(
            messages.register_report(self.request_id(), self.id, reports, self.now())
        )

    async def created_report(self, create_report: Answer) -> Answer:
        pending = [r.report_request_id for r in create_report.report_requests]
        return await self.send(
            messages.created_report(self.id, create_report.own_request_id or "", pending)
        )

    async def update_report(
        self, request: ReportRequest, readings: Sequence[Reading], name: str = "TELEMETRY_USAGE"
    ) -> Answer:
        return await self.send(
            messages.update_report(
                self.request_id(), self.id, report_request_id=request.report_request_id,
                specifier_id=request.specifier_id, readings=readings, created=self.now(),
                name=name,
            )
        )  # fmt: skip


def utc_now() -> datetime:
    return datetime.now(UTC)


class RawVens:
    """Makes RawVens for one VTN, sharing one HTTP session, closed at the end."""

    def __init__(
        self, session: aiohttp.ClientSession, url: str, now: Callable[[], datetime]
    ) -> None:
        self._session = session
        self._url = url
        self._now = now

    def __call__(self, ven_name: str, **options: Any) -> RawVen:
        return RawVen(self._session, self._url, ven_name, self._now, **options)


@asynccontextmanager
async def raw_vens(url: str, now: Callable[[], datetime] | None = None) -> AsyncIterator[RawVens]:
    """RawVens for the VTN at ``url``; ``now`` is the VTN's clock (default: the real one)."""
    async with aiohttp.ClientSession() as session:
        yield RawVens(session, url, now or utc_now)
