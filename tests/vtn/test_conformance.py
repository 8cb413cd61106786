"""OpenADR 2.0b conformance: 147 payloads written by other implementations, posted to the VTN.

The corpus sits beside the repository (``../shared/conformance``); its README.md gives each
file's direction, message type, XSD verdict and envelope, and is read here as the source of
those columns. Every file goes to all five services. Whatever it is, the VTN never answers 5xx;
HTTP 400 is kept for XML that is not well-formed, and every other answer is an HTTP 200 with a
schema-valid OpenADR payload (or an empty body, for an oadrResponse). The responseCode each
VEN→VTN file must get is written out per file in ``VEN_TO_VTN_CODES`` so that a change shows.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from lxml import etree
from openleadr import objects
from openleadr.messaging import XML_SCHEMA, create_message, parse_message
from redis.asyncio import Redis

from gateway.services.container import Services
from gateway.settings import Settings
from tests.fuzz.state import changed_tables, database_rows
from tests.support import Api
from tests.vtn.conftest import VTN_PATH

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "conformance"
if not (CORPUS / "README.md").is_file():
    pytest.fail(
        f"the OpenADR conformance corpus is missing: no {CORPUS / 'README.md'} "
        "(it is the 'shared' checkout beside the repository, ../shared/conformance)",
        pytrace=False,
    )

SERVICES = ("EiRegisterParty", "EiEvent", "EiReport", "EiOpt", "OadrPoll")
VEN_TO_VTN = "VEN→VTN"
EI = "http://docs.oasis-open.org/ns/energyinterop/201110"
PYLD = f"{EI}/payloads"
# What a POST can come back as besides a responseCode.
BAD_XML = "HTTP 400"
EMPTY = "empty 200"
Outcome = int | str

# What a VTN takes at each service (OpenADR 2.0b profile, simple HTTP): the VEN's requests and
# its answers to what the VTN sent it on a poll.
TAKES: dict[str, frozenset[str]] = {
    "EiRegisterParty": frozenset({
        "oadrQueryRegistration", "oadrCreatePartyRegistration", "oadrCancelPartyRegistration",
        "oadrCanceledPartyRegistration", "oadrResponse",
    }),
    "EiEvent": frozenset({"oadrRequestEvent", "oadrCreatedEvent", "oadrResponse"}),
    "EiReport": frozenset({
        "oadrRegisterReport", "oadrRegisteredReport", "oadrCreateReport", "oadrCreatedReport",
        "oadrUpdateReport", "oadrCancelReport", "oadrCanceledReport", "oadrResponse",
    }),
    "EiOpt": frozenset({"oadrCreateOpt", "oadrCancelOpt", "oadrResponse"}),
    "OadrPoll": frozenset({"oadrPoll", "oadrResponse"}),
}  # fmt: skip
# The payload each request is answered with (2.0b request/response pairs); anything else
# (answers, VTN→VEN types, fragments) is answered with an oadrResponse.
ANSWERED_WITH = {
    "oadrQueryRegistration": "oadrCreatedPartyRegistration",
    "oadrCreatePartyRegistration": "oadrCreatedPartyRegistration",
    "oadrCancelPartyRegistration": "oadrCanceledPartyRegistration",
    "oadrRequestEvent": "oadrDistributeEvent",
    "oadrCreateOpt": "oadrCreatedOpt",
    "oadrCancelOpt": "oadrCanceledOpt",
    "oadrRegisterReport": "oadrRegisteredReport",
    "oadrCreateReport": "oadrCreatedReport",
    "oadrUpdateReport": "oadrUpdatedReport",
    "oadrCancelReport": "oadrCanceledReport",
}

# The responseCode each VEN→VTN file (README "direction") gets at the service its type belongs
# to. No VEN is provisioned and open enrollment is off. Derived from the README columns by
# ``expected_at`` (checked in test_the_expected_codes_follow_the_readme):
#   459 Compliance error: no oadrPayload/oadrSignedObject envelope ("No oadrPayload wrapper"),
#       including the OpenADR 2.0a payloads. The envelope is checked before the schema: 2.0b
#       carries every message in oadrPayload/oadrSignedObject, so without one there is no 2.0b
#       message to validate (the spec does not order the checks; a bare AND schema-invalid
#       file gets 459, not 454).
#   454 Invalid data: enveloped but not valid against oadr_20b.xsd, unless its only error is a
#       deviation the VTN tolerates by default (vtn_schema = "tolerant", gateway.oadr20b.tolerance:
#       here, an unqualified schemaVersion); it then goes on as if valid.
#   452 Invalid ID: valid, but its venID is not known to this VTN (or it carries none).
#   200: oadrQueryRegistration, which any party may send before it has a venID.
VEN_TO_VTN_CODES: dict[str, int] = {
    "avob20a__oadrCreatedEvent.xml": 459,
    "avob20a__oadrRequestEvent.xml": 459,
    "avob20a__unvalidatingOadrCreatedEvent.xml": 459,
    "avob__docker-realEnergy.registerReport.xml": 459,
    "avob__docker-smartEnergyModule.registerReport.xml": 459,
    "avob__docker-thermostat.full.registerReport.xml": 459,
    "avob__docker-thermostat.registerReport.xml": 459,
    "avob__genOadr.xml": 459,
    "avob__oadrCancelOpt.xml": 459,
    "avob__oadrCreateOpt.xml": 459,
    "avob__oadrCreatePartyRegistration.xml": 459,
    "avob__oadrCreatedEvent.xml": 459,
    "avob__oadrPoll.xml": 459,
    "avob__oadrQueryRegistration.xml": 459,
    "avob__oadrRequestEvent.xml": 459,
    "avob__unvalidatingOadrCreatedEvent.xml": 459,
    "avob__unvalidationOadrCancelOpt.xml": 459,
    # The README says a VTN "should ACCEPT" this registration: its content, yes (see
    # test_the_bare_avob_registration_is_accepted_once_enveloped), but not without the envelope.
    "avob__unvalidationOadrCreatePartyRegistration.xml": 459,
    "avob__unvalidationOadrPoll.xml": 459,
    "avob__unvalidationOadrQueryRegistration.xml": 459,
    "avob__unvalidationOadrRequestEvent.xml": 459,
    "eprivtn__registerparty1.xml": 459,
    "volttron__crypto_experiment.xml": 459,
    "epriven__expected-RegisterReport_XMLOutput1.xml": 454,
    "epriven__expected-register_report1.xml": 454,
    "epriven__expected-update_report2.xml": 454,
    "eprivtn__poll_w_tls.xml": 454,
    # Signed, but the schema check comes first (and its digest does not match either).
    "volttron__sample_ven_poll_signed.xml": 454,
    "volttron__ven_created_event.xml": 454,
    "volttron__ven_register_report.xml": 454,
    "volttron__ven_update_report.xml": 454,
    # Their one XSD error, an unqualified schemaVersion, is tolerated; venID "0" is unknown.
    "volttron__ven_created_report.xml": 452,
    "volttron__ven_poll.xml": 452,
    "epriven__expected-UpdateReport_XMLOutput1.xml": 452,
    "epriven__expected-create_opt_schedule1.xml": 452,
    "epriven__expected-request_event1.xml": 452,
    "epriven__expected-update_report1.xml": 452,
    "eprivtn__poll1.xml": 452,
    "eprivtn__register_report1.xml": 452,
    "eprivtn__register_report_auto.xml": 452,
    "eprivtn__register_report_currency.xml": 452,
    "eprivtn__register_report_currency_per_kw.xml": 452,
    "eprivtn__register_report_custom_unit.xml": 452,
    "eprivtn__register_report_energy_real.xml": 452,
    "eprivtn__register_report_frequency.xml": 452,
    "eprivtn__register_report_power_real.xml": 452,
    "eprivtn__register_report_pulse_count.xml": 452,
    "eprivtn__update_report1.xml": 452,
    "openleadr-docs__oadrCancelOpt.xml": 452,
    # An unknown venID in a registration: 452 Invalid ID (463 is for a VEN that is known but
    # not allowed, and oadrRequestReregistration only answers a poll).
    "openleadr-docs__oadrCreatePartyRegistration.xml": 452,
    "openleadr-docs__oadrCreateOpt.xml": 452,
    "openleadr-docs__oadrCreatedEvent-2.xml": 452,
    "openleadr-docs__oadrCreatedEvent.xml": 452,
    "openleadr-docs__oadrPoll.xml": 452,
    "openleadr-docs__oadrRequestEvent.xml": 452,
    "openleadr-docs__oadrQueryRegistration.xml": 200,
}


@dataclass(frozen=True)
class Sample:
    """One corpus file, as the README describes it."""

    name: str
    direction: str  # VEN→VTN, VTN→VEN, either, n/a (fragment)
    message_type: str
    xsd_valid: bool
    well_formed: bool
    enveloped: bool  # an oadrPayload holding an oadrSignedObject
    tolerated: bool = False  # its only XSD error is a deviation the VTN tolerates by default

    @property
    def service(self) -> str | None:
        """The service its message type belongs to (None: answers, fragments, no type)."""
        homes = [s for s, types in TAKES.items() if self.message_type in types]
        return homes[0] if len(homes) == 1 else None


def read_readme() -> dict[str, Sample]:
    samples: dict[str, Sample] = {}
    for line in (CORPUS / "README.md").read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
        if not (line.startswith("| `") and cells[0].endswith(".xml`")):
            continue
        assert len(cells) == 8, line
        name, _source, _licence, direction, message_type, _signed, xsd, notes = cells
        well_formed = not xsd.startswith("no: not well-formed")
        samples[name.strip("`")] = Sample(
            name=name.strip("`"),
            direction=direction,
            message_type=message_type,
            xsd_valid=xsd.startswith("yes"),
            well_formed=well_formed,
            enveloped=well_formed
            and "No oadrPayload wrapper" not in notes
            and "oadrPayload without oadrSignedObject" not in notes,
            tolerated=xsd.startswith("no (1 error)") and "attribute 'schemaVersion'" in xsd,
        )
    return samples


SAMPLES = read_readme()


def expected_at(sample: Sample, service: str) -> Outcome:
    """What the VTN must answer ``sample`` with at ``service``, none of its VENs known."""
    if not sample.well_formed:
        return BAD_XML
    if not sample.enveloped:
        return 459
    if not sample.xsd_valid and not sample.tolerated:
        return 454
    if sample.message_type == "oadrResponse":
        return EMPTY  # an answer to the VTN: acknowledged with an empty HTTP 200
    if sample.message_type not in TAKES[service]:
        return 459
    if sample.message_type == "oadrQueryRegistration":
        return 200
    return 452


@dataclass(frozen=True)
class Reply:
    status: int
    message_type: str | None = None
    payload: dict[str, Any] | None = None
    body: bytes = b""

    @property
    def outcome(self) -> Outcome:
        if self.status == 400:
            return BAD_XML
        if self.payload is None:
            return EMPTY if self.status == 200 else f"HTTP {self.status}"
        if "response" not in self.payload:  # a VTN request (oadrCreateReport, ...) on a poll
            return f"{self.message_type} (no eiResponse)"
        return int(self.payload["response"]["response_code"])

    @property
    def data(self) -> dict[str, Any]:
        assert self.payload is not None, self
        return self.payload

    @property
    def request_id(self) -> str | None:
        """The eiResponse's requestID as sent (openleadr's parser turns "3" into 3)."""
        found = etree.fromstring(self.body).find(f".//{{{EI}}}eiResponse/{{{PYLD}}}requestID")
        assert found is not None, self.body[:300]
        return found.text or None


async def post(
    client: TestClient[Any, Any],
    service: str,
    body: bytes,
    content_type: str = "application/xml",
) -> Reply:
    """POST to the VTN; any 200 with a body must be a schema-valid OpenADR payload."""
    resp = await client.post(
        f"{VTN_PATH}/{service}", data=body, headers={"Content-Type": content_type}
    )
    data = await resp.read()
    assert resp.status < 500, (resp.status, data[:300])
    if resp.status != 200 or not data:
        return Reply(resp.status, body=data)
    assert resp.content_type == "application/xml"
    tree = etree.fromstring(data)
    assert XML_SCHEMA.validate(tree), (XML_SCHEMA.error_log.last_error, data[:500])
    none = data.find(b">None<")  # a missing value rendered as the text "None"
    assert none < 0, data[max(none - 300, 0) : none + 20].decode("utf-8", "replace")
    message_type, payload = parse_message(data)
    return Reply(200, message_type, payload, data)


def corpus(name: str) -> bytes:
    return (CORPUS / name).read_bytes()


def request_ids(body: bytes) -> set[str]:
    tree = etree.fromstring(body, etree.XMLParser(resolve_entities=False, no_network=True))
    return {str(e.text).strip() for e in tree.iter(f"{{{PYLD}}}requestID") if e.text}


# --- the corpus, file by file -------------------------------------------------------------


def test_the_readme_describes_every_file_in_the_corpus() -> None:
    on_disk = {p.name for p in CORPUS.glob("*.xml")}
    assert len(on_disk) == 147
    assert set(SAMPLES) == on_disk
    directions = [s.direction for s in SAMPLES.values()]
    assert directions.count(VEN_TO_VTN) == 56


def test_the_expected_codes_follow_the_readme() -> None:
    ven_to_vtn = {n for n, s in SAMPLES.items() if s.direction == VEN_TO_VTN}
    assert set(VEN_TO_VTN_CODES) == ven_to_vtn
    for name, code in VEN_TO_VTN_CODES.items():
        sample = SAMPLES[name]
        assert sample.service is not None, name
        assert expected_at(sample, sample.service) == code, name


@pytest.mark.parametrize("name", sorted(SAMPLES))
async def test_corpus_file(client: TestClient[Any, Any], name: str) -> None:
    sample = SAMPLES[name]
    body = corpus(name)
    for service in SERVICES:
        reply = await post(client, service, body)
        if sample.direction == VEN_TO_VTN and service == sample.service:
            expected: Outcome = VEN_TO_VTN_CODES[name]
        else:
            expected = expected_at(sample, service)
        assert reply.outcome == expected, (service, reply)
        if reply.payload is None:
            continue
        # The answer, refusal or not, is the payload that answers the message sent ...
        kind = sample.message_type if sample.enveloped else _root_name(body)
        assert reply.message_type == ANSWERED_WITH.get(kind, "oadrResponse"), (service, reply)
        # ... and echoes the requestID the sender gave, when it gave one.
        sent = request_ids(body)
        if sent:
            assert reply.request_id in sent, (service, reply.request_id, sent)
        else:
            assert reply.request_id is None, (service, reply.request_id)


def _root_name(body: bytes) -> str:
    tree = etree.fromstring(body, etree.XMLParser(resolve_entities=False, no_network=True))
    return str(etree.QName(tree).localname)


# --- a provisioned, registered VEN sends corpus messages ----------------------------------


async def provision(api: Api, ven_id: str, devices: dict[str, str] | None = None) -> None:
    await api.post("/api/vens", {"name": f"ven {ven_id}", "ven_id": ven_id}, status=201)
    for device_id, resource_id in (devices or {}).items():
        await api.device(device_id, ven_id=ven_id, resource_id=resource_id)


async def register(api: Api, ven_id: str, *, take_metadata: bool = False) -> str:
    """Register ``ven_id``; with ``take_metadata``, poll once for the VTN's METADATA report
    it is owed from then (nothing else may be waiting for it yet)."""
    message = create_message(
        "oadrCreatePartyRegistration",
        request_id="reg-1",
        ven_id=ven_id,
        ven_name=f"ven {ven_id}",
        profile_name="2.0b",
        transport_name="simpleHttp",
        transport_address=None,
        report_only=False,
        xml_signature=False,
        http_pull_model=True,
    )
    reply = await post(api.client, "EiRegisterParty", message.encode("utf-8"))
    assert reply.message_type == "oadrCreatedPartyRegistration"
    assert reply.outcome == 200, reply
    assert str(reply.data["ven_id"]) == ven_id
    registration_id = reply.data["registration_id"]
    assert isinstance(registration_id, str)
    assert registration_id
    if take_metadata:
        reply = await poll(api, ven_id)
        assert reply.message_type == "oadrRegisterReport"
    return registration_id


async def poll(api: Api, ven_id: str) -> Reply:
    return await post(api.client, "OadrPoll", create_message("oadrPoll", ven_id=ven_id).encode())


async def test_openleadr_samples_from_a_registered_ven(
    api: Api, redis: Redis, settings: Settings
) -> None:
    await provision(api, "123ABC", {"d1": "r1"})
    invitation = await api.invite(["d1"])
    await register(api, "123ABC")

    reply = await post(api.client, "OadrPoll", corpus("openleadr-docs__oadrPoll.xml"))
    assert (reply.message_type, reply.outcome) == ("oadrDistributeEvent", 200)
    [event] = reply.data["events"]
    assert event["event_descriptor"]["event_id"] == invitation["id"]
    reply = await post(api.client, "OadrPoll", corpus("openleadr-docs__oadrPoll.xml"))
    assert reply.message_type == "oadrRegisterReport"  # the VTN's METADATA, after the events
    reply = await post(api.client, "OadrPoll", corpus("openleadr-docs__oadrPoll.xml"))
    assert (reply.message_type, reply.outcome) == ("oadrResponse", 200)  # nothing new

    reply = await post(api.client, "EiEvent", corpus("openleadr-docs__oadrRequestEvent.xml"))
    assert (reply.message_type, reply.outcome) == ("oadrDistributeEvent", 200)
    assert reply.request_id == "58b56698-20e3-43f1-bae2-aa95e2cea367"
    assert [e["event_descriptor"]["event_id"] for e in reply.data["events"]] == [invitation["id"]]

    reply = await post(api.client, "EiReport", corpus("openleadr-docs__oadrRegisterReport.xml"))
    assert (reply.message_type, reply.outcome) == ("oadrRegisteredReport", 200)
    assert reply.request_id == "d37a5398-50f0-45bd-9b19-6b5b6bb61c02"

    # An update under a reportRequestID this VTN never made: 452, and nothing written.
    reply = await post(api.client, "EiReport", corpus("openleadr-docs__oadrUpdateReport.xml"))
    assert (reply.message_type, reply.outcome) == ("oadrUpdatedReport", 452)
    assert reply.request_id == "4875efec-522c-4990-9455-0d829a9032d8"
    assert await redis.get(f"{settings.redis_prefix}power:d1") is None


async def test_answers_to_unknown_events_are_refused_and_change_nothing(api: Api) -> None:
    await provision(api, "123ABC", {"d1": "r1"})
    await api.invite(["d1"])
    await register(api, "123ABC")
    assert (await poll(api, "123ABC")).message_type == "oadrDistributeEvent"
    before = await api.get("/api/invitations")
    ven_before = await api.get("/api/vens/123ABC")
    for name in ("openleadr-docs__oadrCreatedEvent.xml", "openleadr-docs__oadrCreatedEvent-2.xml"):
        reply = await post(api.client, "EiEvent", corpus(name))
        # 452: the eventIDs in the samples are not this VEN's events.
        assert (reply.message_type, reply.outcome) == ("oadrResponse", 452), name
        assert "is not one of this VEN's" in reply.data["response"]["response_description"]
    reply = await post(api.client, "EiOpt", corpus("openleadr-docs__oadrCancelOpt.xml"))
    assert (reply.message_type, reply.outcome) == ("oadrCanceledOpt", 452)  # unknown optID
    assert await api.get("/api/invitations") == before
    after = await api.get("/api/vens/123ABC")
    assert {**after, "last_seen_at": None} == {**ven_before, "last_seen_at": None}


async def test_a_numeric_ven_id_is_kept_as_text(api: Api) -> None:
    # eprivtn__poll1.xml polls as venID "1234": openleadr's parser made that the int 1234 and
    # the VTN answered 452 "oadrPoll must carry a venID" even to a provisioned VEN.
    await provision(api, "1234", {"d1": "r1"})
    invitation = await api.invite(["d1"])
    await register(api, "1234")
    reply = await post(api.client, "OadrPoll", corpus("eprivtn__poll1.xml"))
    assert (reply.message_type, reply.outcome) == ("oadrDistributeEvent", 200)
    [event] = reply.data["events"]
    assert event["event_descriptor"]["event_id"] == invitation["id"]


async def test_a_known_but_unregistered_ven_is_refused_463(api: Api) -> None:
    # Its poll too: an unregistered VEN's poll brings no payload (cert N1_0080).
    await provision(api, "123ABC")
    reply = await post(api.client, "OadrPoll", corpus("openleadr-docs__oadrPoll.xml"))
    assert (reply.message_type, reply.outcome) == ("oadrResponse", 463)
    reply = await post(api.client, "EiEvent", corpus("openleadr-docs__oadrRequestEvent.xml"))
    assert (reply.message_type, reply.outcome) == ("oadrDistributeEvent", 463)
    assert (await api.get("/api/vens/123ABC"))["registered"] is False


async def test_epri_report_registrations_are_taken(api: Api) -> None:
    ven_id = "2429dcc1f1bf975ca04a"
    await provision(api, ven_id)
    await register(api, ven_id, take_metadata=True)
    names = sorted(p.name for p in CORPUS.glob("eprivtn__register_report*.xml"))
    assert len(names) == 9
    for name in names:
        reply = await post(api.client, "EiReport", corpus(name))
        assert (reply.message_type, reply.outcome) == ("oadrRegisteredReport", 200), name
        assert reply.request_id in request_ids(corpus(name)), name
        assert reply.data["ven_id"] == ven_id
    # register_report1 offers TELEMETRY_STATUS and a RealPower TELEMETRY_USAGE point: the VTN
    # asks for both on the next poll, once. The others offer nothing it asks for.
    reply = await poll(api, ven_id)
    assert reply.message_type == "oadrCreateReport"
    assert reply.data["ven_id"] == ven_id
    asked = [
        (
            r["report_specifier"]["report_specifier_id"],
            [p["r_id"] for p in r["report_specifier"]["specifier_payloads"]],
        )
        for r in reply.data["report_requests"]
    ]
    assert asked == [
        ("DEFAULT_TELEMETRY_STATUS_SPEC_ID", ["BASIC_STATUS"]),
        ("DEFAULT_TELEMETRY_SPEC_ID", ["POWER_REAL"]),
    ]
    reply = await poll(api, ven_id)
    assert (reply.message_type, reply.outcome) == ("oadrResponse", 200)


async def test_an_epri_history_registration_asks_for_nothing(api: Api) -> None:
    ven_id = "2429dcc1f1bf975ca04a"
    await provision(api, ven_id)
    await register(api, ven_id, take_metadata=True)
    reply = await post(api.client, "EiReport", corpus("eprivtn__register_report_power_real.xml"))
    assert (reply.message_type, reply.outcome) == ("oadrRegisteredReport", 200)
    reply = await poll(api, ven_id)  # METADATA_HISTORY_USAGE only: no oadrCreateReport
    assert (reply.message_type, reply.outcome) == ("oadrResponse", 200)


async def test_an_epri_update_with_several_payloads_per_interval(
    api: Api, redis: Redis, settings: Settings
) -> None:
    # eprivtn__update_report1.xml carries three oadrReportPayload in one interval; the VTN
    # answered 469 (an AttributeError) before the codec split them.
    ven_id = "89adbb0282743cd18520"
    update = corpus("eprivtn__update_report1.xml")
    power_key = f"{settings.redis_prefix}power:wh"
    await provision(api, ven_id, {"wh": "water-heater"})
    await register(api, ven_id, take_metadata=True)

    reply = await post(api.client, "EiReport", update)
    # Nothing registered nor requested yet: 452 Invalid ID, and nothing written.
    assert (reply.message_type, reply.outcome) == ("oadrUpdatedReport", 452)
    assert "RR_64de589275235fe8636f" in reply.data["response"]["response_description"]
    assert await redis.get(power_key) is None

    reply = await post(api.client, "EiReport", water_heater_registration(ven_id))
    assert (reply.message_type, reply.outcome) == ("oadrRegisteredReport", 200)
    reply = await poll(api, ven_id)
    assert reply.message_type == "oadrCreateReport"
    [request] = reply.data["report_requests"]
    # The sample answers EPRI's request; here it answers the one this VTN made.
    update = update.replace(b"RR_64de589275235fe8636f", request["report_request_id"].encode())
    reply = await post(api.client, "EiReport", update)
    assert (reply.message_type, reply.outcome) == ("oadrUpdatedReport", 200)
    assert reply.request_id == "D0472F5DDB"
    reading = json.loads(await redis.get(power_key) or "null")
    # 2 W (scale none) at the interval's start; the two capacity points are not power.
    assert (reading["kw"], reading["source"]) == (0.002, "ven")
    assert datetime.fromisoformat(reading["ts"]) == datetime(2015, 10, 14, 7, 16, tzinfo=UTC)


def water_heater_registration(ven_id: str) -> bytes:
    """The METADATA_TELEMETRY_USAGE registration eprivtn__update_report1.xml presupposes."""

    def point(r_id: str, measurement: objects.Measurement) -> objects.ReportDescription:
        return objects.ReportDescription(
            r_id=r_id,
            market_context="http://MarketContext1",
            reading_type="Direct Read",
            report_subject=objects.Target(resource_id="water-heater"),
            report_data_source=objects.Target(resource_id="water-heater"),
            report_type="usage",
            sampling_rate=objects.SamplingRate(
                timedelta(minutes=1), timedelta(minutes=1), on_change=False
            ),
            measurement=measurement,
        )

    # Own Measurement objects: openleadr's enums.MEASUREMENTS are shared, and other tests
    # change their scale.
    power = objects.Measurement(
        name="powerReal", description="RealPower", unit="W", scale="none",
        power_attributes=objects.PowerAttributes(hertz=50, voltage=230, ac=True),
    )  # fmt: skip
    energy = objects.Measurement(
        name="energyReal", description="RealEnergy", unit="Wh", scale="none"
    )
    report = objects.Report(
        report_specifier_id="WATER_HEATER_TELEMETRY_USAGE",
        report_name="METADATA_TELEMETRY_USAGE",
        report_descriptions=[
            point("water heater inst power", power),
            point("water heater present capacity", energy),
            point("water heater total capacity", energy),
        ],
        created_date_time=datetime.now(UTC),
        duration=timedelta(hours=1),
    )
    message: str = create_message(
        "oadrRegisterReport", request_id="wh-reg", ven_id=ven_id, reports=[report]
    )
    return message.encode("utf-8")


@pytest.mark.usefixtures("open_enrollment")
async def test_the_bare_avob_registration_is_accepted_once_enveloped(api: Api) -> None:
    # The README: avob treats this as invalid (no venID), yet it is a normal first-time
    # registration. Bare it is a 459 (see VEN_TO_VTN_CODES); in an oadrPayload it enrolls.
    bare = etree.fromstring(corpus("avob__unvalidationOadrCreatePartyRegistration.xml"))
    oadr = "http://openadr.org/oadr-2.0b/2012/07"
    envelope = etree.Element(f"{{{oadr}}}oadrPayload", nsmap={"oadr": oadr})
    etree.SubElement(envelope, f"{{{oadr}}}oadrSignedObject").append(bare)
    reply = await post(api.client, "EiRegisterParty", etree.tostring(envelope))
    assert (reply.message_type, reply.outcome) == ("oadrCreatedPartyRegistration", 200), reply
    [ven] = (await api.get("/api/vens"))["items"]
    assert (ven["provisioned"], ven["registered"]) == (False, True)
    assert reply.data["ven_id"] == ven["ven_id"]


@pytest.fixture
def open_enrollment(settings_overrides: dict[str, Any]) -> None:
    settings_overrides["open_enrollment"] = True


# --- HTTP-level refusals ------------------------------------------------------------------


@pytest.fixture
def small_bodies(settings_overrides: dict[str, Any]) -> None:
    settings_overrides["max_body_bytes"] = 2048


@pytest.mark.usefixtures("small_bodies")
async def test_a_body_over_the_limit_is_413(client: TestClient[Any, Any]) -> None:
    big = corpus("avob__docker-thermostat.full.registerReport.xml")
    assert len(big) > 2048
    reply = await post(client, "EiReport", big)
    assert reply.status == 413
    small = corpus("openleadr-docs__oadrQueryRegistration.xml")
    assert len(small) <= 2048
    assert (await post(client, "EiRegisterParty", small)).outcome == 200


async def test_a_wrong_content_type_is_415(client: TestClient[Any, Any]) -> None:
    body = corpus("openleadr-docs__oadrQueryRegistration.xml")
    for content_type in ("application/json", "text/plain", "application/x-www-form-urlencoded"):
        reply = await post(client, "EiRegisterParty", body, content_type=content_type)
        assert reply.status == 415, content_type
    reply = await post(client, "EiRegisterParty", body, content_type="text/xml; charset=utf-8")
    assert reply.outcome == 200


async def test_an_unknown_service_is_404(client: TestClient[Any, Any]) -> None:
    body = corpus("openleadr-docs__oadrPoll.xml")
    for service in ("EiFoo", "oadrpoll", "EiEvent.xml"):
        assert (await post(client, service, body)).status == 404, service


def _entity_bomb(levels: int) -> bytes:
    entities = "".join(f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, levels + 1))
    return (
        f'<?xml version="1.0"?><!DOCTYPE oadrPayload [<!ENTITY lol0 "lol">{entities}]>'
        '<oadr:oadrPayload xmlns:oadr="http://openadr.org/oadr-2.0b/2012/07">'
        "<oadr:oadrSignedObject><oadr:oadrPoll "
        'xmlns:ei="http://docs.oasis-open.org/ns/energyinterop/201110" ei:schemaVersion="2.0b">'
        f"<ei:venID>&lol{levels};</ei:venID></oadr:oadrPoll></oadr:oadrSignedObject>"
        "</oadr:oadrPayload>"
    ).encode()


@pytest.mark.parametrize("levels", [9, 2])
async def test_entity_expansion_is_refused_quickly(
    client: TestClient[Any, Any], levels: int
) -> None:
    # 9 levels: a billion laughs (10^9 "lol"s), which libxml2 stops as not well-formed.
    # 2 levels stays under libxml2's amplification limit; unexpanded entities used to make the
    # schema validator raise (a 469); any DOCTYPE is now invalid data.
    started = time.monotonic()
    reply = await post(client, "OadrPoll", _entity_bomb(levels))
    assert time.monotonic() - started < 2.0
    assert reply.outcome in (BAD_XML, 454)
    if reply.payload is not None:
        assert reply.message_type == "oadrResponse"
        assert "lol" not in json.dumps(reply.payload, default=str)


async def test_an_external_entity_is_not_read(client: TestClient[Any, Any]) -> None:
    body = (
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
        b'<oadr:oadrPayload xmlns:oadr="http://openadr.org/oadr-2.0b/2012/07">'
        b"<oadr:oadrSignedObject><oadr:oadrPoll "
        b'xmlns:ei="http://docs.oasis-open.org/ns/energyinterop/201110" ei:schemaVersion="2.0b">'
        b"<ei:venID>&xxe;</ei:venID></oadr:oadrPoll></oadr:oadrSignedObject></oadr:oadrPayload>"
    )
    reply = await post(client, "OadrPoll", body)
    assert reply.outcome == 454
    assert "root:" not in json.dumps(reply.payload, default=str)


# --- VEN text the VTN cannot store ----------------------------------------------------------


def edited(name: str, edit: Any) -> bytes:
    """A corpus file sent by VEN 123ABC, changed by ``edit(root)``."""
    root = etree.fromstring(corpus(name), etree.XMLParser(resolve_entities=False))
    for element in root.iter(f"{{{EI}}}venID"):
        element.text = "123ABC"
    edit(root)
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))


def duplicate_first_point(root: etree._Element) -> None:
    description = next(root.iter("{http://openadr.org/oadr-2.0b/2012/07}oadrReportDescription"))
    description.addnext(etree.fromstring(etree.tostring(description)))


def long_rid(root: etree._Element) -> None:
    next(root.iter(f"{{{EI}}}rID")).text = "r" * 129


def availability_opt_with_long_id(root: etree._Element) -> None:
    next(root.iter(f"{{{EI}}}optID")).text = "o" * 129
    qualified = next(root.iter(f"{{{EI}}}qualifiedEventID"))
    qualified.getparent().remove(qualified)  # an availability opt: stored, no event answered


class TestVenTextThatCannotBeStored:
    """Refused with 454 Invalid data naming the element, nothing stored, on both databases.

    OpenADR 2.0b (OpenADR Alliance spec, 8.6): a message the VTN cannot act on is answered
    with an error responseCode, never with a transport failure the VEN would retry as is.
    """

    @pytest.fixture
    def database_url(self, any_database_url: str) -> str:
        return any_database_url

    @pytest.fixture
    async def registered(self, api: Api) -> None:
        await provision(api, "123ABC", {"d1": "resource1"})
        await register(api, "123ABC")

    @pytest.mark.usefixtures("registered")
    @pytest.mark.parametrize(
        ("name", "edit", "service", "says"),
        [
            # Found by tests/fuzz: a report's points are stored one per rID, and the second
            # was a UniqueViolation, answered 503 as if the database were down.
            ("openleadr-docs__oadrRegisterReport.xml", duplicate_first_point, "EiReport",
             "is offered twice"),
            # Cut to the column's 128 characters, two ids could become one: refused instead.
            ("openleadr-docs__oadrRegisterReport.xml", long_rid, "EiReport",
             "rID is longer than 128 characters"),
            ("openleadr-docs__oadrCreateOpt.xml", availability_opt_with_long_id, "EiOpt",
             "optID is longer than 128 characters"),
        ],
        ids=["rID twice", "rID too long", "optID too long"],
    )  # fmt: skip
    async def test_refused_with_invalid_data_and_nothing_stored(
        self, api: Api, services: Services, name: str, edit: Any, service: str, says: str
    ) -> None:
        body = edited(name, edit)
        assert XML_SCHEMA.validate(etree.fromstring(body))  # valid: only the VTN can refuse it
        before = await database_rows(services.db)
        reply = await post(api.client, service, body)
        assert reply.outcome == 454, reply
        assert says in reply.data["response"]["response_description"]
        assert changed_tables(before, await database_rows(services.db)) == {}

    @pytest.mark.usefixtures("open_enrollment")
    async def test_an_enrolling_ven_name_longer_than_its_column_is_refused(
        self, api: Api, services: Services
    ) -> None:
        # Enrolled under its first 128 characters, the VEN was not found by its name when it
        # registered again, and enrolling it a second time broke the unique name (a 503).
        message = create_message(
            "oadrCreatePartyRegistration", request_id="reg-long", ven_id=None, ven_name="v" * 129,
            profile_name="2.0b", transport_name="simpleHttp", transport_address=None,
            report_only=False, xml_signature=False, http_pull_model=True,
        ).encode()  # fmt: skip
        before = await database_rows(services.db)
        for _ in range(2):
            reply = await post(api.client, "EiRegisterParty", message)
            assert reply.outcome == 454, reply
            description = reply.data["response"]["response_description"]
            assert "oadrVenName is longer than 128 characters" in description
        assert changed_tables(before, await database_rows(services.db)) == {}

    @pytest.mark.usefixtures("registered")
    @pytest.mark.parametrize("reference", ["&#0;", "&#xD800;", "&#xFFFE;"])
    async def test_xml_cannot_carry_what_the_database_refuses(
        self, api: Api, reference: str
    ) -> None:
        # XML 1.0 (2.2 Characters) has no NUL and no surrogates: such text is not well-formed,
        # so it is a 400 before anything is parsed, let alone stored.
        body = corpus("openleadr-docs__oadrCreateOpt.xml").replace(
            b"745e589d", reference.encode() + b"745e589d"
        )
        reply = await post(api.client, "EiOpt", body)
        assert reply.outcome == BAD_XML
