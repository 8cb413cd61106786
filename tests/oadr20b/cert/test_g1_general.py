"""G1: general cases, pull mode (cert cases section 1, G1_4010-G1_4020)."""

from __future__ import annotations

import pytest

from tests.oadr20a.peer import EI, Ven20a
from tests.oadr20b.cert.site import CertGateway, poll_until, price

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_G1_4010_price_event_published_and_modified(gateway: CertGateway) -> None:
    """P042 (security mode as in the PICS), P010, P011: the event, then modificationNumber 1."""
    party = await gateway.party(devices=2)
    event_id = await gateway.signal_event(party.devices, 10, [price(3.14)])
    first = await poll_until(party.ven, "oadrDistributeEvent")
    assert first.event(event_id).modification_number == 0
    assert (await party.ven.answer_events(first)).code == 200
    await gateway.api.put(f"/api/events/{event_id}",
                          {"start_time": gateway.at(10).isoformat()}, status=200)  # fmt: skip
    second = await poll_until(party.ven, "oadrDistributeEvent")
    assert second.event(event_id).modification_number == 1
    assert (await party.ven.answer_events(second)).code == 200


async def test_G1_4011_poll_with_nothing_queued(gateway: CertGateway) -> None:
    party = await gateway.party()
    answer = await party.ven.poll()
    assert (answer.message_type, answer.code) == ("oadrResponse", 200)
    again = await party.ven.poll()
    assert (again.message_type, again.code) == ("oadrResponse", 200)


async def test_G1_4020_a_20a_ven_beside_a_20b_ven(gateway: CertGateway) -> None:
    """P062: a VEN registered on the B side keeps working while a 2.0a VEN (no registration
    in 2.0a, its venID provisioned) asks for its events at the 2.0a path and answers them; the
    2.0a answers are checked against the 2.0a schema's content model (``tests.oadr20a``)."""
    b_side = await gateway.party()
    a_side = await gateway.provision()
    event_id = await gateway.invite(a_side.devices, start_in=10)
    url = a_side.ven.url.removesuffix("/2.0b") + "/EiEvent"
    ven = Ven20a(a_side.ven.session, url, a_side.ven.id)
    distribute = await ven.request_event()
    assert distribute.code == 200
    assert distribute.event_ids() == [event_id]
    event = distribute.events()[0]
    assert event.findtext(f".//{{{EI}}}signalName") == "simple"
    assert event.findtext(f".//{{{EI}}}eventStatus") == "near"
    assert event.findtext(f".//{{{EI}}}resourceID") == a_side.resources[0]
    assert (await ven.created_event([(event_id, 0, "optIn")])).code == 200
    view = await gateway.api.get(f"/api/invitations/{event_id}")
    assert {a["device_id"]: a["answer"] for a in view["answers"]} == {a_side.devices[0]: "YES"}
    assert (await b_side.ven.poll()).code == 200
