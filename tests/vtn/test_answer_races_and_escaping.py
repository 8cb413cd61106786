"""Answers are checked against the invitation as it is under its lock; every cancel is a new
modificationNumber; text from a VEN is escaped in every answer, signed or not."""

from __future__ import annotations

from pathlib import Path

from lxml import etree
from openleadr.messaging import XML_SCHEMA, create_message, parse_message

from gateway.oadr20b.codec import Encoder
from gateway.oadr20b.signing import SigningKey
from gateway.security.certs import init_dev_pki
from tests.support import Api, in_minutes
from tests.vtn.conftest import VenFactory
from tests.vtn.test_ven_flow import Inbox, _created, provision, raw, register


async def test_an_answer_to_terms_changed_since_is_refused_even_from_a_warm_cache(
    api: Api, make_ven: VenFactory
) -> None:
    await provision(api, "ven-a", {"a1": "ra1"})
    ven = make_ven("ven-a", ven_id="ven-a")
    await register(ven)
    invitation = await api.invite(["a1"], load_kwh=10.0, duration_minutes=60)
    await raw(api, "OadrPoll", "oadrPoll", ven_id="ven-a")  # cached now: modification 0
    await api.put(
        f"/api/invitations/{invitation['id']}",
        {"event_time": in_minutes(300), "duration_minutes": 30, "load_kwh": 50.0,
         "devices": ["a1"]},
        status=200,
    )  # fmt: skip
    _, payload = await raw(
        api, "EiEvent", "oadrCreatedEvent", **_created(invitation["id"], "optIn", 0)
    )
    assert payload["response"]["response_code"] == 450
    after = await api.get(f"/api/invitations/{invitation['id']}")
    assert (after["status"], after["answers"]) == ("pending", [])

    _, payload = await raw(
        api, "EiEvent", "oadrCreatedEvent", **_created(invitation["id"], "optIn", 1)
    )
    assert payload["response"]["response_code"] == 200
    done = await api.get(f"/api/invitations/{invitation['id']}")
    # Committed from the terms under the lock: 50 kWh over 30 min is 100 kW.
    assert [(a["answer"], a["committed_kw"]) for a in done["answers"]] == [("YES", 100.0)]


async def test_an_operator_cancel_of_the_event_reaches_the_ven_as_a_modification(
    api: Api, make_ven: VenFactory
) -> None:
    await provision(api, "ven-a", {"a1": "ra1"})
    ven = make_ven("ven-a", ven_id="ven-a")
    inbox = Inbox(ven)
    await register(ven)
    invitation = await api.invite(["a1"])
    scheduled = await api.post(
        f"/api/invitations/{invitation['id']}/answers",
        {"device_id": "a1", "answer": "YES", "committed_kw": 1.0},
        status=201,
    )
    await ven._poll()
    await api.post(f"/api/events/{scheduled['event_id']}/cancel", {"reason": "x"}, status=200)
    await ven._poll()
    descriptor = inbox.of("oadrDistributeEvent")[-1]["events"][0]["event_descriptor"]
    assert (descriptor["event_status"], descriptor["modification_number"]) == ("cancelled", 1)


async def test_text_from_a_ven_is_escaped_in_the_answer(api: Api) -> None:
    body = create_message("oadrPoll", ven_id="PLACEHOLDER").replace(
        "PLACEHOLDER", "a&amp;b&lt;c&gt;"
    )
    resp = await api.client.post(
        "/OpenADR2/Simple/2.0b/OadrPoll", data=body, headers={"Content-Type": "application/xml"}
    )
    assert resp.status == 200
    answer = await resp.read()
    assert XML_SCHEMA.validate(etree.fromstring(answer))
    kind, payload = parse_message(answer)
    assert kind == "oadrResponse"
    assert payload["response"]["response_code"] == 452
    assert "a&b<c>" in payload["response"]["response_description"]


def test_escaped_text_in_a_signed_answer(tmp_path: Path) -> None:
    pki = init_dev_pki(tmp_path, ven_names=["v"], key_type="ec")
    encoder = Encoder(SigningKey.load(pki.vtn.cert, pki.vtn.key))
    body = encoder.encode(
        "oadrResponse",
        {"response": {"response_code": 452, "response_description": "venID a&b<c> unknown",
                      "request_id": "r&1"}, "ven_id": "a&b<c>", "vtn_id": "vtn"},
    )  # fmt: skip
    assert XML_SCHEMA.validate(etree.fromstring(body.encode()))
    _, payload = parse_message(body)
    assert payload["ven_id"] == "a&b<c>"
