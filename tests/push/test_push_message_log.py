"""A push goes in the VEN's message log as a message to it, and the VEN's answer in the HTTP
response as one from it, with the code that answer carries."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from gateway.app import VTN
from tests.push.conftest import PushSite


async def test_a_push_and_the_vens_answer_are_logged(push_site: PushSite) -> None:
    ven, devices = await push_site.push_ven()
    await push_site.api.invite(
        devices, event_time=(datetime.now(UTC) + timedelta(minutes=10)).isoformat(),
        duration_minutes=5, load_kwh=1.0, load_percentage=30.0,
    )  # fmt: skip
    distributed = await ven.wait_for("oadrDistributeEvent", within=2.0)
    state = push_site.client.server.app[VTN].state
    for _ in range(50):  # the answer is taken just after the push's HTTP 200
        await state.flush_seen()
        items = (await push_site.api.get(f"/api/vens/{ven.raw.id}/messages"))["items"]
        pushed = [i for i, m in enumerate(items) if m["message_type"] == "oadrDistributeEvent"]
        if pushed and pushed[0] > 0:
            break
        await asyncio.sleep(0.05)
    assert pushed, items
    sent = items[pushed[0]]
    assert (sent["direction"], sent["response_code"]) == ("to_ven", None)
    answer = items[pushed[0] - 1]
    assert (answer["direction"], answer["message_type"]) == ("from_ven", "oadrResponse")
    assert (answer["response_code"], answer["error_code"]) == (200, None)
    assert answer["request_id"] == distributed.answer.own_request_id
    assert ven.problems == []
