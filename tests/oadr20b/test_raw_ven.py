"""The raw test VEN itself: what it sends is XSD-valid (its dialects break exactly what they
mean to), its signatures verify, and its profile rules catch what they describe."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from lxml import etree
from signxml import XMLVerifier
from signxml.exceptions import InvalidSignature

from gateway.security.certs import init_dev_pki
from tests.oadr20b import messages
from tests.oadr20b.answers import Answer
from tests.oadr20b.dialects import volttron
from tests.oadr20b.messages import EventReply, OfferedPoint, OfferedReport, Reading
from tests.oadr20b.profile import Context, violations
from tests.oadr20b.schema import schema_errors
from tests.oadr20b.signing import Signer
from tests.support import top_level_imports
from tests.vtn.test_conformance import CORPUS

NOW = datetime(2030, 1, 15, 17, 0, tzinfo=UTC)
POINT = OfferedPoint("p1", "ra1", timedelta(seconds=2), timedelta(seconds=2))
SITE = OfferedPoint("site", None, timedelta(seconds=10), timedelta(minutes=1), measurement=None)
BUILT = {
    "oadrQueryRegistration": messages.query_registration("q"),
    "oadrCreatePartyRegistration": messages.create_party_registration("c", ven_name="v"),
    "oadrCancelPartyRegistration": messages.cancel_party_registration("c", "reg", "v"),
    "oadrResponse": messages.response("v", 459, "not supported", "d"),
    "oadrPoll": messages.poll("v"),
    "oadrRequestEvent": messages.request_event("r", "v", reply_limit=2),
    "oadrCreatedEvent": messages.created_event(
        "v", "d", [EventReply("e1", 0), EventReply("e2", 3, "optOut", 409, "busy")]
    ),
    "oadrRegisterReport": messages.register_report(
        "rr", "v", [OfferedReport("telemetry", [POINT, SITE])], NOW
    ),
    "oadrCreatedReport": messages.created_report("v", "cr", ["a", "b"]),
    "oadrUpdateReport": messages.update_report(
        "u",
        "v",
        report_request_id="a",
        specifier_id="telemetry",
        readings=[Reading("p1", 1500.0, NOW)],
        created=NOW,
    ),
    "oadrCanceledReport": messages.canceled_report("v", "cr", []),
    "oadrCreateOpt": messages.create_opt(
        "o",
        "v",
        opt_id="opt-1",
        opt_type="optOut",
        created=NOW,
        event=("e1", 0),
        resource_ids=["ra1"],
    ),
    "oadrCancelOpt": messages.cancel_opt("o", "v", "opt-1"),
}


@pytest.mark.parametrize("name", sorted(BUILT))
def test_every_message_is_valid_as_built(name: str) -> None:
    root = messages.envelope(BUILT[name])
    assert schema_errors(root) == []
    assert etree.QName(messages.body_of(root)).localname == name


def test_the_volttron_dialect_breaks_the_xsd_exactly_where_the_vtn_tolerates_it() -> None:
    root = messages.envelope(BUILT["oadrRegisterReport"])
    volttron(root)
    errors = schema_errors(root)
    assert len(errors) == 2, errors
    assert "attribute 'schemaVersion'" in errors[0]
    assert "reportSpecifierID': This element is not expected" in errors[1]  # reportRequestID


def test_the_volttron_corpus_poll_has_the_same_deviation() -> None:
    root = messages.envelope(messages.poll("0"))
    volttron(root)
    corpus = etree.parse(str(CORPUS / "volttron__ven_poll.xml")).getroot()
    assert [e.split(": ", 1)[1] for e in schema_errors(root)] == [
        e.split(": ", 1)[1] for e in schema_errors(corpus)
    ]


def test_a_signature_verifies_in_place_and_breaks_when_the_message_changes(
    tmp_path: Path,
) -> None:
    pki = init_dev_pki(tmp_path, ven_names=["v"], key_type="rsa")
    cert = pki.vens[0].cert.read_bytes()
    root = messages.envelope(BUILT["oadrPoll"])
    Signer(cert, pki.vens[0].key.read_bytes()).sign(root, NOW, nonce="n-1")
    sent = etree.fromstring(etree.tostring(root))
    assert schema_errors(sent) == []
    verified = XMLVerifier().verify(sent, x509_cert=cert.decode(), expect_references=2)
    assert len(verified) == 2
    tampered = etree.fromstring(etree.tostring(root).replace(b">v<", b">w<"))
    with pytest.raises(InvalidSignature):
        XMLVerifier().verify(tampered, x509_cert=cert.decode(), expect_references=2)


def test_no_module_of_the_raw_ven_imports_openleadr_or_the_gateway() -> None:
    for path in Path(__file__).parent.glob("*.py"):
        if not path.name.startswith("test_"):
            assert not top_level_imports(path) & {"openleadr", "gateway"}, path.name


# --- the profile rules, on answers made to break them ----------------------------------------


def _distribute(status: str, current: float, *, dtstart: bool = False, uid: str = "0") -> Answer:
    """An oadrDistributeEvent holding one SIMPLE event (level 2, 10 min from NOW - 5 min)."""
    interval_start = (
        "<xcal:dtstart><xcal:date-time>2030-01-15T16:55:00Z</xcal:date-time></xcal:dtstart>"
        if dtstart
        else ""
    )
    body = f"""<oadr:oadrPayload xmlns:oadr="http://openadr.org/oadr-2.0b/2012/07">
<oadr:oadrSignedObject xmlns:ei="http://docs.oasis-open.org/ns/energyinterop/201110"
 xmlns:pyld="http://docs.oasis-open.org/ns/energyinterop/201110/payloads"
 xmlns:xcal="urn:ietf:params:xml:ns:icalendar-2.0"
 xmlns:strm="urn:ietf:params:xml:ns:icalendar-2.0:stream"
 xmlns:emix="http://docs.oasis-open.org/ns/emix/2011/06">
<oadr:oadrDistributeEvent ei:schemaVersion="2.0b">
<ei:eiResponse><ei:responseCode>200</ei:responseCode><pyld:requestID>r1</pyld:requestID>
</ei:eiResponse><pyld:requestID>d1</pyld:requestID><ei:vtnID>vtn</ei:vtnID>
<oadr:oadrEvent><ei:eiEvent><ei:eventDescriptor><ei:eventID>e1</ei:eventID>
<ei:modificationNumber>0</ei:modificationNumber><ei:priority>1</ei:priority>
<ei:eiMarketContext><emix:marketContext>http://mc</emix:marketContext></ei:eiMarketContext>
<ei:createdDateTime>2030-01-15T16:00:00Z</ei:createdDateTime>
<ei:eventStatus>{status}</ei:eventStatus></ei:eventDescriptor>
<ei:eiActivePeriod><xcal:properties>
<xcal:dtstart><xcal:date-time>2030-01-15T16:55:00Z</xcal:date-time></xcal:dtstart>
<xcal:duration><xcal:duration>PT10M</xcal:duration></xcal:duration>
</xcal:properties><xcal:components xsi:nil="true"
 xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"/></ei:eiActivePeriod>
<ei:eiEventSignals><ei:eiEventSignal><strm:intervals><ei:interval>{interval_start}
<xcal:duration><xcal:duration>PT10M</xcal:duration></xcal:duration>
<xcal:uid><xcal:text>{uid}</xcal:text></xcal:uid>
<ei:signalPayload><ei:payloadFloat><ei:value>2.0</ei:value></ei:payloadFloat></ei:signalPayload>
</ei:interval></strm:intervals><ei:signalName>SIMPLE</ei:signalName>
<ei:signalType>level</ei:signalType><ei:signalID>s1</ei:signalID>
<ei:currentValue><ei:payloadFloat><ei:value>{current}</ei:value></ei:payloadFloat>
</ei:currentValue></ei:eiEventSignal></ei:eiEventSignals>
<ei:eiTarget><ei:venID>v</ei:venID></ei:eiTarget></ei:eiEvent>
<oadr:oadrResponseRequired>always</oadr:oadrResponseRequired></oadr:oadrEvent>
</oadr:oadrDistributeEvent></oadr:oadrSignedObject></oadr:oadrPayload>""".encode()
    tree = etree.fromstring(body)
    assert schema_errors(tree) == []
    return Answer(body, tree)


@pytest.mark.parametrize(
    ("status", "current", "broken"),
    [
        ("active", 2.0, []),
        ("active", 0.0, ["current_values"]),  # the openleadr preflight defect
        ("near", 0.0, ["status_fits_times"]),  # it started 5 minutes ago
        ("completed", 0.0, ["status_fits_times"]),
        ("cancelled", 0.0, []),
        ("cancelled", 2.0, ["current_values"]),
    ],
)
def test_the_current_value_and_the_status_must_fit_the_clock(
    status: str, current: float, broken: list[str]
) -> None:
    found = violations(_distribute(status, current), Context(NOW, None))
    assert [v.split(":")[0] for v in found] == broken, found


def test_intervals_carry_no_dtstart_and_count_from_zero() -> None:
    found = violations(_distribute("active", 2.0, dtstart=True, uid="1"), Context(NOW, None))
    assert found == [
        "intervals: e1/SIMPLE: interval uids ['1'], not 0, 1, 2, ...",
        "intervals: e1/SIMPLE: an interval carries a dtstart",
    ]


def test_an_answer_must_echo_the_request_id() -> None:
    answer = _distribute("active", 2.0)
    assert violations(answer, Context(NOW, "r1")) == []
    assert violations(answer, Context(NOW, "r2")) == [
        "echoes_request_id: eiResponse requestID 'r1', sent 'r2'"
    ]


def test_new_terms_need_a_new_modification_number() -> None:
    before = _distribute("active", 2.0).events[0]
    later = _distribute("cancelled", 0.0)
    found = violations(later, Context(NOW, None, history={"e1": before}))
    assert found == ["modification_numbers: e1: cancelled without a new modificationNumber"]
