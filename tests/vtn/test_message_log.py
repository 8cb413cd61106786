"""A VEN's last 2.0b messages at ``GET /api/vens/{id}/messages``: each exchange as the VEN's
message and the VTN's answer, newest first, with response codes and the error code of refusals;
gathered in memory by each process and flushed to Redis with the last-seen times, so that
several gateways on one Redis all contribute."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from gateway.app import VTN, build_app
from gateway.oadr20b.message_log import MESSAGES_PER_VEN
from gateway.settings import Settings
from tests.oadr20b import messages
from tests.oadr20b.cert.site import exchange, poll_until
from tests.oadr20b.ven import RawVens, raw_vens
from tests.support import ADMIN_TOKEN, AUTH, Api
from tests.vtn.conftest import VTN_PATH
from tests.vtn.raw_ven import registered


@pytest.fixture
async def vens(vtn_url: str) -> AsyncIterator[RawVens]:
    async with raw_vens(vtn_url) as made:
        yield made


async def _flush(client: TestClient[Any, Any]) -> None:
    await client.server.app[VTN].state.flush_seen()


def _brief(items: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [
        (m["direction"], m["message_type"], m["request_id"], m["response_code"], m["error_code"])
        for m in items
    ]


async def test_polls_answers_and_refusals_are_listed_newest_first(
    api: Api, vens: RawVens, client: TestClient[Any, Any]
) -> None:
    ven = await registered(api, vens, "ven-log", {"d1": "r1"})
    await _flush(client)
    before = (await api.get("/api/vens/ven-log/messages"))["count"]
    assert before >= 4  # the registration and the METADATA report it was sent

    assert (await ven.poll()).message_type == "oadrResponse"
    assert (await ven.request_event()).code == 200
    # Taken only at EiEvent: refused with 459, in the answer a request of events gets.
    refused = await ven.post(
        "OadrPoll", ven.serialize(messages.request_event("asked-wrong", ven.id))
    )
    assert refused.code == 459
    # The VEN's own refusal of something the VTN sent it: its error code.
    await ven.post("EiEvent", ven.serialize(messages.response(ven.id, 469, "relay <stuck>", "x1")))
    await _flush(client)

    listed = await api.get("/api/vens/ven-log/messages")
    assert listed["count"] == before + 7
    newest = listed["items"][:7]
    # The distribute's own requestID, which the VEN's oadrCreatedEvent is to echo.
    distributed = newest[3]["request_id"]
    assert distributed
    assert distributed != "ven-log-1"
    assert _brief(newest) == [
        ("from_ven", "oadrResponse", "x1", 469, 469),
        ("to_ven", "oadrDistributeEvent", "asked-wrong", 459, 459),
        ("from_ven", "oadrRequestEvent", "asked-wrong", 459, 459),
        ("to_ven", "oadrDistributeEvent", distributed, 200, None),
        ("from_ven", "oadrRequestEvent", "ven-log-1", 200, None),
        ("to_ven", "oadrResponse", None, 200, None),
        ("from_ven", "oadrPoll", None, 200, None),
    ]
    assert newest[0]["description"] == "relay <stuck>"
    assert "not taken at OadrPoll" in newest[1]["description"]
    assert newest[3]["description"] is None
    times = [m["at"] for m in listed["items"]]
    assert times == sorted(times, reverse=True)
    assert all(t.endswith("Z") or t.endswith("+00:00") for t in times)


async def test_the_list_keeps_the_last_fifty(
    api: Api, vens: RawVens, client: TestClient[Any, Any]
) -> None:
    ven = await registered(api, vens, "ven-cap", {"d1": "r1"})
    for _ in range(MESSAGES_PER_VEN // 2 + 3):  # two messages each, over two flushes
        await ven.request_event()
        if _ == 10:
            await _flush(client)
    await _flush(client)
    listed = await api.get("/api/vens/ven-cap/messages")
    assert listed["count"] == MESSAGES_PER_VEN
    asked = [m["request_id"] for m in listed["items"] if m["direction"] == "from_ven"]
    last = MESSAGES_PER_VEN // 2 + 3
    assert asked == [f"ven-cap-{n}" for n in range(last, 3, -1)]  # the oldest went


async def test_unknown_ven_is_404_and_a_stranger_gets_no_list(
    api: Api, vens: RawVens, client: TestClient[Any, Any]
) -> None:
    await api.get("/api/vens/nobody/messages", status=404)
    stranger = vens("nobody", ven_id="nobody")
    answer = await stranger.post("OadrPoll", stranger.serialize(messages.poll("nobody")))
    assert answer.code == 452
    await _flush(client)
    await api.post("/api/vens", {"name": "nobody", "ven_id": "nobody"}, status=201)
    assert await api.get("/api/vens/nobody/messages") == {"count": 0, "items": []}


async def test_two_gateways_on_one_redis_both_contribute(
    api: Api, vens: RawVens, client: TestClient[Any, Any], aiohttp_client: Any,
    settings: Settings,
) -> None:  # fmt: skip
    ven = await registered(api, vens, "ven-two", {"d1": "r1"})
    other = await aiohttp_client(build_app(settings, admin_token=ADMIN_TOKEN, run_workers=False))
    async with raw_vens(str(other.make_url(VTN_PATH))) as elsewhere:
        same = elsewhere("ven-two", ven_id=ven.id, registration_id=ven.registration_id)
        same._ids = itertools.count(100)  # its own requestIDs
        assert (await ven.request_event()).code == 200
        assert (await same.request_event()).code == 200
    await _flush(client)
    await _flush(other)

    for gateway in (api, Api(other)):
        items = (await gateway.get("/api/vens/ven-two/messages"))["items"]
        asked = {m["request_id"] for m in items if m["message_type"] == "oadrRequestEvent"}
        assert {"ven-two-1", "ven-two-100"} <= asked


async def test_a_deleted_ven_takes_its_log_with_it(
    api: Api, vens: RawVens, client: TestClient[Any, Any], settings: Settings, redis: Redis
) -> None:
    """Removed, a registered VEN is told its registration is cancelled; once it answers it is
    gone, and so is its log (the answer that ended it included): nothing lingers for a month
    or shows under a new VEN of the same venID. An unregistered one's goes at once."""
    ven = await registered(api, vens, "ven-gone", {})
    await _flush(client)
    key = f"{settings.redis_prefix}vtn:messages:ven-gone"
    assert await redis.llen(key) >= 4
    await api.client.delete("/api/vens/ven-gone", headers=AUTH)
    cancel = await poll_until(ven, "oadrCancelPartyRegistration")
    assert ven.registration_id is not None
    answer = messages.canceled_party_registration(
        ven.id, cancel.field("pyld:requestID") or "", ven.registration_id
    )
    await exchange(ven, "EiRegisterParty", answer, "oadrResponse")
    await api.get("/api/vens/ven-gone", status=404)
    await _flush(client)
    assert await redis.exists(key) == 0

    await api.post("/api/vens", {"name": "ven-gone", "ven_id": "ven-gone"}, status=201)
    assert (await api.get("/api/vens/ven-gone/messages"))["items"] == []
    other = await registered(api, vens, "ven-other", {})
    assert (await other.poll()).code == 200
    await _flush(client)
    assert await redis.llen(f"{settings.redis_prefix}vtn:messages:ven-other") >= 4
    resp = await api.client.delete("/api/vens/ven-other", headers=AUTH)
    assert (await resp.json())["status"] == "cancelling"
    resp = await api.client.delete("/api/vens/ven-other", headers=AUTH)
    assert (await resp.json())["status"] == "removed"  # at once, not waiting for its answer
    assert await redis.exists(f"{settings.redis_prefix}vtn:messages:ven-other") == 0
