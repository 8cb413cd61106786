"""N1: registration, pull mode (cert cases section 1, N1_0010-N1_0080)."""

from __future__ import annotations

import pytest

from tests.oadr20b import messages
from tests.oadr20b.cert.site import CertGateway, exchange, poll_until
from tests.oadr20b.namespaces import el, find, findall, text
from tests.oadr20b.ven import RawVen

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def _metadata_exchange(ven: RawVen) -> None:
    """After a registration the VTN's METADATA comes on the next poll (reportRequestID 0: it
    answers no request, EPRI rule 306), and the VEN acknowledges it with
    oadrRegisteredReport."""
    register = await poll_until(ven, "oadrRegisterReport", polls=1)
    reports = findall(register.message, "oadr:oadrReport")
    assert reports, "a METADATA oadrRegisterReport without reports"
    assert {text(r, "ei:reportRequestID") for r in reports} == {"0"}
    assert {text(r, "ei:reportSpecifierID") for r in reports} == {"METADATA"}
    assert all(find(r, "strm:intervals") is None for r in reports)
    assert all(find(r, "ei:eiReportID") is None and find(r, "xcal:dtstart") is None
               for r in reports)  # fmt: skip
    registered = await exchange(
        ven, "EiReport",
        messages.message(
            "oadrRegisteredReport",
            messages.ei_response(200, "OK", register.field("pyld:requestID") or ""),
            el("ei:venID", ven.id),
        ),
        "oadrResponse",
    )  # fmt: skip
    assert registered.empty or registered.code == 200


async def test_N1_0010_query_registration_of_an_unregistered_ven(gateway: CertGateway) -> None:
    """P002: an unregistered VEN's oadrQueryRegistration is answered without its IDs."""
    party = await gateway.provision()
    answer = await party.ven.query_registration()
    assert (answer.message_type, answer.code) == ("oadrCreatedPartyRegistration", 200)
    assert answer.field("ei:registrationID") is None
    assert answer.field("ei:venID") is None
    assert answer.field("ei:vtnID")
    assert answer.field("oadr:oadrRequestedOadrPollFreq/xcal:duration")


async def test_N1_0015_query_registration_of_a_registered_ven(tls_gateway: CertGateway) -> None:
    """Over TLS the VEN is known by its certificate: its stored IDs come back."""
    party = await tls_gateway.party()
    assert party.ven.registration_id
    answer = await party.ven.query_registration()
    assert (answer.message_type, answer.code) == ("oadrCreatedPartyRegistration", 200)
    assert answer.field("ei:registrationID") == party.ven.registration_id
    assert answer.field("ei:venID") == party.ven.id
    assert answer.field("oadr:oadrRequestedOadrPollFreq/xcal:duration")


async def test_N1_0020_register_without_ids_then_metadata(gateway: CertGateway) -> None:
    party = await gateway.provision()
    party.ven.ven_id = None  # the VEN registers by its name alone
    answer = await party.ven.register()
    assert answer.code == 200
    assert answer.field("ei:venID")
    assert answer.field("ei:registrationID")
    assert answer.field("oadr:oadrRequestedOadrPollFreq/xcal:duration")
    await _metadata_exchange(party.ven)


async def test_N1_0025_register_with_a_proposed_ven_id_then_metadata(
    gateway: CertGateway,
) -> None:
    party = await gateway.provision()
    proposed = party.ven.id
    answer = await party.ven.register()
    assert (answer.code, answer.field("ei:venID")) == (200, proposed)
    await _metadata_exchange(party.ven)


async def test_N1_0030_ven_cancels_its_registration(gateway: CertGateway) -> None:
    party = await gateway.party()
    ven = party.ven
    assert ven.registration_id is not None
    answer = await ven.send(
        messages.cancel_party_registration(ven.request_id(), ven.registration_id, ven.id)
    )
    assert answer.code == 200
    assert answer.field("ei:registrationID") == ven.registration_id
    view = await gateway.api.get(f"/api/vens/{ven.id}")
    assert view["registered"] is False


async def test_N1_0040_operator_cancels_a_registration(gateway: CertGateway) -> None:
    """P007: the next poll brings oadrCancelPartyRegistration; the VEN answers
    oadrCanceledPartyRegistration."""
    party = await gateway.party()
    ven = party.ven
    await gateway.expect("cancel_registration", {}, ven_id=ven.id)
    cancel = await poll_until(ven, "oadrCancelPartyRegistration", polls=1)
    assert cancel.field("ei:registrationID") == ven.registration_id
    answer = await exchange(
        ven, "EiRegisterParty",
        messages.canceled_party_registration(
            ven.id, cancel.field("pyld:requestID") or "", ven.registration_id
        ),
        "oadrResponse",
    )  # fmt: skip
    assert answer.empty or answer.code == 200
    assert (await gateway.api.get(f"/api/vens/{ven.id}"))["registered"] is False


async def test_N1_0050_operator_requests_reregistration(gateway: CertGateway) -> None:
    """P008: poll -> oadrRequestReregistration; oadrResponse; the VEN registers again."""
    party = await gateway.party()
    ven = party.ven
    await gateway.expect("request_reregistration", {}, ven_id=ven.id)
    await poll_until(ven, "oadrRequestReregistration", polls=1)
    answered = await ven.respond(await ven.poll(), 200, "OK", "EiRegisterParty")
    assert answered.empty or answered.code == 200
    assert (await ven.register()).code == 200


async def test_N1_0060_registered_ven_registers_again_without_ids(gateway: CertGateway) -> None:
    party = await gateway.party()
    ven = party.ven
    first = ven.registration_id
    ven.ven_id, ven.registration_id = None, None
    answer = await ven.register()
    assert answer.code == 200
    assert answer.field("ei:registrationID") not in (None, first)
    await _metadata_exchange(ven)


async def test_N1_0065_reregister_with_the_current_ids(gateway: CertGateway) -> None:
    party = await gateway.party()
    ven = party.ven
    ids = (ven.ven_id, ven.registration_id)
    answer = await ven.register()
    assert answer.code == 200
    assert (answer.field("ei:venID"), answer.field("ei:registrationID")) == ids


async def test_N1_0070_cancel_with_wrong_ids_then_the_right_ones(gateway: CertGateway) -> None:
    party = await gateway.party()
    ven = party.ven
    assert ven.registration_id is not None
    wrong_registration = await ven.send(
        messages.cancel_party_registration(ven.request_id(), "not-" + ven.registration_id, ven.id)
    )
    assert wrong_registration.code == 452
    wrong_ven = await ven.send(
        messages.cancel_party_registration(ven.request_id(), ven.registration_id, "not-" + ven.id)
    )
    assert wrong_ven.code == 452
    assert (await gateway.api.get(f"/api/vens/{ven.id}"))["registered"] is True
    valid = await ven.send(
        messages.cancel_party_registration(ven.request_id(), ven.registration_id, ven.id)
    )
    assert valid.code == 200


async def test_N1_0080_an_unregistered_ven_polls(gateway: CertGateway) -> None:
    """ "oadrPoll: … unregistered: nothing" (EPRI ``poll_service.rb``; TH N1_0080): nothing
    for the VEN, which 2.0b says with an oadrResponse; EPRI's VTN refuses the poll of a VEN
    without a registration 463 (``validate_ven``), as every other message of it. Provisioned
    or with its registration cancelled, the same."""
    party = await gateway.provision()
    answer = await party.ven.poll()
    assert (answer.message_type, answer.code) == ("oadrResponse", 463), answer.body[:300]
    registered = await gateway.party()
    ven = registered.ven
    assert ven.registration_id is not None
    cancel = messages.cancel_party_registration(ven.request_id(), ven.registration_id, ven.id)
    assert (await ven.send(cancel)).code == 200
    again = await ven.poll()
    assert (again.message_type, again.code) == ("oadrResponse", 463), again.body[:300]
