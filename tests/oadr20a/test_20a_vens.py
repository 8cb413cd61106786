"""OpenADR 2.0a VENs beside 2.0b ones: a provisioned VEN asks for its events at the 2.0a path
(no registration in 2.0a), answers them, and its answers are the devices' answers; bad input
gets a 2.0a error and changes nothing. Driven by ``Ven20a``, which shares no code with the
gateway and checks every answer against the 2.0a schema's content model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from lxml import etree
from pydantic import ValidationError

from gateway.app import VTN
from gateway.settings import Settings
from tests.oadr20a.peer import EI, OADR_20A, PYLD, Ven20a
from tests.oadr20b.cert.conftest import cert_gateway
from tests.oadr20b.cert.site import CertGateway, Party, price, simple

pytestmark = pytest.mark.asyncio(loop_scope="module")


def ven_20a(party: Party) -> Ven20a:
    return Ven20a(party.ven.session, party.ven.url.removesuffix("/2.0b") + "/EiEvent", party.ven.id)


def answers_of(view: dict[str, object]) -> dict[str, str]:
    return {a["device_id"]: a["answer"] for a in view["answers"]}  # type: ignore[attr-defined]


async def messages_of(gateway: CertGateway, party: Party) -> Any:
    """The VEN's message log, once what this process holds is written."""
    await gateway.api.client.server.app[VTN].state.flush_seen()
    return await gateway.api.get(f"/api/vens/{party.ven.id}/messages")


async def test_a_20a_ven_gets_its_event_and_its_opt_out_is_its_devices_answer(
    gateway: CertGateway,
) -> None:
    party = await gateway.provision(devices=2)
    ven = ven_20a(party)
    invitation = await gateway.invite(party.devices, start_in=10, load_percentage=30.0)
    distribute = await ven.request_event()
    assert distribute.code == 200
    assert distribute.event_ids() == [invitation]
    event = distribute.events()[0]
    targets = event.find(f"{{{EI}}}eiTarget")
    assert targets is not None
    assert [t.text for t in targets.iterfind(f"{{{EI}}}resourceID")] == party.resources
    assert [t.text for t in targets.iterfind(f"{{{EI}}}venID")] == [party.ven.id]
    signals = event.findall(f".//{{{EI}}}eiEventSignal")
    assert len(signals) == 1  # SIMPLE only: the invitation's LOAD_DISPATCH is not 2.0a's
    assert signals[0].findtext(f"{{{EI}}}signalType") == "level"
    assert float(signals[0].findtext(f".//{{{EI}}}signalPayload//{{{EI}}}value") or -1) == 2.0
    assert float(signals[0].findtext(f"{{{EI}}}currentValue//{{{EI}}}value") or -1) == 0.0
    assert event.findtext(f".//{{{EI}}}modificationDateTime") is None  # not in 2.0a

    answered = await ven.created_event([(invitation, 0, "optOut")])
    assert answered.code == 200
    view = await gateway.api.get(f"/api/invitations/{invitation}")
    assert answers_of(view) == dict.fromkeys(party.devices, "NO")
    log = await messages_of(gateway, party)
    logged = [(m["direction"], m["message_type"], m["response_code"]) for m in log["items"]]
    assert logged[:4] == [
        ("to_ven", "oadrResponse", 200), ("from_ven", "oadrCreatedEvent", 200),
        ("to_ven", "oadrDistributeEvent", 200), ("from_ven", "oadrRequestEvent", 200),
    ]  # fmt: skip


async def test_an_active_event_tells_a_20a_ven_its_level_now(gateway: CertGateway) -> None:
    party = await gateway.provision()
    ven = ven_20a(party)
    invitation = await gateway.invite(party.devices, start_in=2, load_percentage=60.0)
    gateway.clock.advance(minutes=3)
    try:
        event = (await ven.request_event()).events()[0]
    finally:
        gateway.clock.advance(minutes=-3)
    assert event.findtext(f".//{{{EI}}}eventID") == invitation
    assert event.findtext(f".//{{{EI}}}eventStatus") == "active"
    assert float(event.findtext(f".//{{{EI}}}currentValue//{{{EI}}}value") or -1) == 3.0


async def test_only_simple_signals_reach_a_20a_ven(gateway: CertGateway) -> None:
    party = await gateway.provision()
    ven = ven_20a(party)
    priced = await gateway.signal_event(party.devices, 10, [price(0.25)])
    both = await gateway.signal_event(party.devices, 30, [simple(1), price(0.5)])
    distribute = await ven.request_event()
    assert distribute.event_ids() == [both]  # the price-only event has nothing 2.0a can say
    names = [s.text for s in distribute.events()[0].iterfind(f".//{{{EI}}}signalName")]
    assert names == ["simple"]
    assert priced != both


async def test_reply_limit_bounds_the_events_listed(gateway: CertGateway) -> None:
    party = await gateway.provision()
    ven = ven_20a(party)
    first = await gateway.invite(party.devices, start_in=10)
    await gateway.invite(party.devices, start_in=30)
    assert len((await ven.request_event()).event_ids()) == 2
    assert (await ven.request_event(reply_limit=1)).event_ids() == [first]


async def test_bad_input_gets_a_20a_error_and_changes_nothing(gateway: CertGateway) -> None:
    party = await gateway.provision()
    ven = ven_20a(party)
    invitation = await gateway.invite(party.devices, start_in=10)
    before = answers_of(await gateway.api.get(f"/api/invitations/{invitation}"))

    assert (await ven.post(b"<oadr:oadrRequestEvent")).status == 400
    assert (await ven.post(etree.tostring(ven.request_event_xml()), "text/plain")).status == 415
    doctype = b'<!DOCTYPE x [<!ENTITY e "e">]>' + etree.tostring(ven.request_event_xml())
    refused = await ven.post(doctype)
    assert refused.status == 200, refused.text
    assert refused.code == 454, refused.text

    # A 2.0b payload at the 2.0a path.
    wrapped = etree.Element("{http://openadr.org/oadr-2.0b/2012/07}oadrPayload")
    answer = await ven.post(etree.tostring(wrapped))
    assert etree.QName(answer.root) == etree.QName(OADR_20A, "oadrResponse")
    assert answer.code == 459
    assert "2.0b path" in answer.description

    # Out of the schema: no venID.
    request = ven.request_event_xml()
    venid = request.find(f".//{{{EI}}}venID")
    assert venid is not None
    venid.getparent().remove(venid)
    answer = await ven.exchange(request, "oadrDistributeEvent")
    assert answer.code == 454
    assert "venID" in answer.description
    assert answer.event_ids() == []

    # A venID nobody provisioned, an event that is not the VEN's, an optType out of the schema.
    answer = await ven.exchange(ven.request_event_xml(ven_id="nobody"), "oadrDistributeEvent")
    assert answer.code == 452
    assert answer.event_ids() == []
    assert (await ven.created_event([("not-an-event", 0, "optIn")])).code == 452
    wrong_opt = ven.created_event_xml([(invitation, 0, "optIn")])
    opt = wrong_opt.find(f".//{{{EI}}}optType")
    assert opt is not None
    opt.text = "maybe"
    answer = await ven.exchange(wrong_opt, "oadrResponse")
    assert answer.code == 454
    assert "optType" in answer.description

    # The VEN's oadrResponse is an answer: never answered.
    response = etree.Element(f"{{{OADR_20A}}}oadrResponse", nsmap={"oadr": OADR_20A})
    inner = etree.SubElement(response, f"{{{EI}}}eiResponse")
    etree.SubElement(inner, f"{{{EI}}}responseCode").text = "200"
    etree.SubElement(inner, f"{{{PYLD}}}requestID").text = ""
    quiet = await ven.post(etree.tostring(response))
    assert (quiet.status, quiet.text) == (200, "")

    assert answers_of(await gateway.api.get(f"/api/invitations/{invitation}")) == before


async def test_a_20a_ven_over_mutual_tls_is_known_by_its_certificate(
    tls_gateway: CertGateway,
) -> None:
    party = await tls_gateway.provision()
    other = await tls_gateway.provision()
    invitation = await tls_gateway.invite(party.devices, start_in=10)
    # Signatures are required of 2.0b VENs over TLS by default; 2.0a has none to give.
    assert (await ven_20a(party).request_event()).event_ids() == [invitation]
    # Another VEN's certificate naming this VEN's venID.
    impostor = Ven20a(other.ven.session, ven_20a(party).url, party.ven.id)
    answer = await impostor.request_event()
    assert answer.code == 463
    assert answer.event_ids() == []
    assert (await impostor.created_event([(invitation, 0, "optOut")])).code == 463
    view = await tls_gateway.api.get(f"/api/invitations/{invitation}")
    assert answers_of(view) == {}


async def test_a_vtn_that_requires_signatures_refuses_20a(tmp_path: Path) -> None:
    async with cert_gateway(tmp_path, tls=False, vtn_require_signatures=True) as site:
        party = await site.provision()
        answer = await ven_20a(party).request_event()
        assert answer.code == 463
        assert "signed" in answer.description


async def test_2_0a_can_be_turned_off(tmp_path: Path) -> None:
    async with cert_gateway(tmp_path, tls=False, vtn_20a_path=None) as site:
        party = await site.provision()
        reply = await ven_20a(party).post(etree.tostring(ven_20a(party).request_event_xml()))
        assert reply.status == 404


async def test_the_20a_path_may_not_be_a_2_0b_service() -> None:
    with pytest.raises(ValidationError, match="vtn_20a_path"):
        Settings(vtn_path_prefix="/OpenADR2/Simple", vtn_20a_path="/OpenADR2/Simple/EiEvent")
    assert Settings(vtn_20a_path=None).vtn_20a_path is None
