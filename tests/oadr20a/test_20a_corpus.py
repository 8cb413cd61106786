"""The 2.0a payloads of another implementation (avob/OpenADR's model tests, in
``../shared/conformance``): its VEN messages at the gateway's 2.0a path, and its VTN messages
through the test VEN's check, which must find what avob marks invalid (so the check can fail)."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from tests.oadr20a.peer import EI, OADR_20A, Ven20a, answer_problems
from tests.oadr20b.cert.site import CertGateway
from tests.support import top_level_imports

pytestmark = pytest.mark.asyncio(loop_scope="module")

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "conformance"
if not (CORPUS / "README.md").is_file():
    pytest.fail(f"the OpenADR conformance corpus is missing: no {CORPUS / 'README.md'}",
                pytrace=False)  # fmt: skip


def corpus(name: str) -> bytes:
    return (CORPUS / name).read_bytes()


# Each VEN message, as the gateway must answer it at the 2.0a path: its venID ("ei:venID") is
# nobody's, so a well-formed request is refused 452; the VEN's own oadrResponse is not answered.
VEN_MESSAGES = {
    "avob20a__oadrRequestEvent.xml": ("oadrDistributeEvent", 452),
    "avob20a__oadrCreatedEvent.xml": ("oadrResponse", 452),
    "avob20a__unvalidatingOadrCreatedEvent.xml": ("oadrResponse", 452),
    "avob20a__oadrResponse.xml": (None, None),
    # A responseCode of two digits and no requestID: out of the 2.0a schema, refused.
    "avob20a__unvalidatingOadrResponse.xml": ("oadrResponse", 454),
}


@pytest.mark.parametrize("name", sorted(VEN_MESSAGES))
async def test_avob_20a_ven_messages_at_the_20a_path(gateway: CertGateway, name: str) -> None:
    party = await gateway.provision()
    url = party.ven.url.removesuffix("/2.0b") + "/EiEvent"
    reply = await Ven20a(party.ven.session, url, "ei:venID").post(corpus(name))
    answered_with, code = VEN_MESSAGES[name]
    assert reply.status == 200, reply.text
    if answered_with is None:
        assert reply.text == ""
        return
    assert reply.root is not None
    assert etree.QName(reply.root) == etree.QName(OADR_20A, answered_with)
    assert answer_problems(reply.root) == []
    assert reply.code == code, reply.description


async def test_the_check_takes_avob_20a_vtn_messages_and_finds_their_faults() -> None:
    valid = etree.fromstring(corpus("avob20a__oadrDistributeEvent.xml"))
    # Schema-valid; only the A profile's rule (the signal is named "simple") is broken.
    assert answer_problems(valid) == ["signalName: 'ei:signalName'"]
    faulty = answer_problems(
        etree.fromstring(corpus("avob20a__unvalidatingOadrDistributeEvent.xml"))
    )
    assert "createdDateTime: '2001-12-31'" in faulty
    assert "duration: 'PT1'" in faulty
    assert answer_problems(etree.fromstring(corpus("avob20a__oadrResponse.xml"))) == []
    response = answer_problems(etree.fromstring(corpus("avob20a__unvalidatingOadrResponse.xml")))
    assert response == ["eiResponse holds 'responseCode responseDescription'",
                        "responseCode: '12'"]  # fmt: skip
    # Without the notification period 2.0a requires.
    notification = valid.find(f".//{{{EI}}}x-eiNotification")
    assert notification is not None
    notification.getparent().remove(notification)  # type: ignore[union-attr]
    assert "properties holds 'dtstart duration tolerance x-eiRampUp x-eiRecovery'" in (
        answer_problems(valid)
    )


async def test_the_20a_test_ven_imports_neither_openleadr_nor_the_gateway() -> None:
    peer = Path(__file__).parent / "peer.py"
    assert not top_level_imports(peer) & {"openleadr", "gateway"}
