"""What the operator asks of a registered VEN through the admin API (cert N1_0040/N1_0050),
seen by a VEN that is not openleadr (``tests.oadr20b``): queued for its next poll, shown while
it waits, and the registration changing only with the VEN's answer."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.oadr20b import messages
from tests.oadr20b.cert.site import exchange
from tests.oadr20b.ven import RawVens, raw_vens
from tests.support import Api
from tests.vtn.raw_ven import registered
from tests.vtn.test_ven_flow import provision

CANCEL = "/api/vens/{}/cancel-registration"
REREGISTER = "/api/vens/{}/request-reregistration"


@pytest.fixture
async def vens(vtn_url: str) -> AsyncIterator[RawVens]:
    async with raw_vens(vtn_url) as made:
        yield made


async def test_an_unknown_ven_is_404_and_an_unregistered_one_409(api: Api) -> None:
    await provision(api, "ven-a", {})
    for path in (CANCEL, REREGISTER):
        missing = await api.post(path.format("no-such-ven"), {}, status=404)
        assert missing["error"] == "not_found"
        unregistered = await api.post(path.format("ven-a"), {}, status=409)
        assert "not registered" in unregistered["message"]
    assert (await api.get("/api/vens/ven-a"))["requests_waiting"] == []


async def test_a_cancel_waits_for_the_poll_and_ends_with_the_vens_answer(
    api: Api, vens: RawVens
) -> None:
    ven = await registered(api, vens, "ven-a", {"a1": "ra1"})
    view = await api.post(CANCEL.format("ven-a"), {}, status=200)
    assert (view["registered"], view["requests_waiting"]) == (True, ["cancel_registration"])

    cancel = await ven.poll()
    assert cancel.message_type == "oadrCancelPartyRegistration", cancel.body[:300]
    assert cancel.field("ei:registrationID") == ven.registration_id
    told = await api.get("/api/vens/ven-a")
    # Told, not yet answered: still registered, nothing waiting.
    assert (told["registered"], told["requests_waiting"]) == (True, [])
    # Asked meanwhile, about the registration that is ending: dropped when it ends.
    await api.post(REREGISTER.format("ven-a"), {}, status=200)
    assert ven.registration_id is not None
    answered = await exchange(
        ven, "EiRegisterParty",
        messages.canceled_party_registration(
            ven.id, cancel.field("pyld:requestID") or "", ven.registration_id
        ),
        "oadrResponse",
    )  # fmt: skip
    assert answered.empty or answered.code == 200
    ended = await api.get("/api/vens/ven-a")
    assert (ended["registered"], ended["requests_waiting"]) == (False, [])


async def test_a_reregistration_request_keeps_the_registration_until_the_ven_registers(
    api: Api, vens: RawVens
) -> None:
    ven = await registered(api, vens, "ven-a", {"a1": "ra1"})
    await api.post(REREGISTER.format("ven-a"), {}, status=200)
    await api.post(REREGISTER.format("ven-a"), {}, status=200)
    waiting = (await api.get("/api/vens"))["items"][0]["requests_waiting"]
    assert waiting == ["request_reregistration", "request_reregistration"]
    asked = await ven.poll()
    assert asked.message_type == "oadrRequestReregistration", asked.body[:300]
    assert asked.field("ei:venID") == "ven-a"
    assert (await api.get("/api/vens/ven-a"))["requests_waiting"] == ["request_reregistration"]
    first = ven.registration_id
    assert (await ven.register()).code == 200
    view = await api.get("/api/vens/ven-a")
    assert (view["registered"], view["registration_id"]) == (True, first)
