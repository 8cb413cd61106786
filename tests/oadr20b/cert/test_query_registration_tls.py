"""Around N1_0015: whose IDs an oadrQueryRegistration brings back. Only a registered VEN
known by its TLS client certificate gets its own; every other asker gets the VTN's answer
without IDs, as an unregistered VEN does (N1_0010)."""

from __future__ import annotations

import pytest

from tests.oadr20b import messages
from tests.oadr20b.answers import Answer
from tests.oadr20b.cert.site import CertGateway

pytestmark = pytest.mark.asyncio(loop_scope="module")


def _names_no_ven(answer: Answer) -> None:
    assert (answer.message_type, answer.code) == ("oadrCreatedPartyRegistration", 200)
    assert (answer.field("ei:registrationID"), answer.field("ei:venID")) == (None, None)
    assert answer.field("ei:vtnID")


async def test_a_provisioned_ven_not_registered_gets_no_ids(tls_gateway: CertGateway) -> None:
    party = await tls_gateway.provision()
    _names_no_ven(await party.ven.query_registration())


async def test_a_ven_whose_registration_ended_gets_no_ids(tls_gateway: CertGateway) -> None:
    party = await tls_gateway.party()
    ven = party.ven
    assert ven.registration_id is not None
    cancel = messages.cancel_party_registration(ven.request_id(), ven.registration_id, ven.id)
    assert (await ven.send(cancel)).code == 200
    _names_no_ven(await ven.query_registration())


async def test_a_certificate_two_vens_hold_names_neither(tls_gateway: CertGateway) -> None:
    party = await tls_gateway.party()
    view = await tls_gateway.api.get(f"/api/vens/{party.ven.id}")
    twin = {"name": "twin", "ven_id": "twin", "fingerprint": view["fingerprint"]}
    await tls_gateway.api.post("/api/vens", twin, status=201)
    _names_no_ven(await party.ven.query_registration())


async def test_over_plain_http_a_registered_ven_gets_no_ids(gateway: CertGateway) -> None:
    party = await gateway.party()
    assert party.ven.registration_id
    _names_no_ven(await party.ven.query_registration())
