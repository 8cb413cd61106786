"""Every way the core changes reaches 3.x subscribers: an invitation made in the admin API,
a 2.0b VEN's optIn (a raw-XML VEN, not this project's code), each within a second."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from aiohttp.test_utils import TestClient

from tests.oadr3.notify.conftest import BASE, Tokens, subscription
from tests.oadr3.notify.receiver import WebhookReceiver
from tests.oadr3.notify.schema import schema_errors
from tests.oadr20b.ven import raw_vens
from tests.support import Api
from tests.vtn.raw_ven import registered

VTN_PATH = "/OpenADR2/Simple/2.0b"


async def test_an_invitation_and_a_2_0b_opt_in_reach_the_ven_and_the_bl_subscriber(
    tokens: Tokens, client: TestClient[Any, Any], api: Api, receiver: WebhookReceiver
) -> None:
    bl_hook, ven_hook = WebhookReceiver(), receiver
    await bl_hook.start()
    try:
        async with raw_vens(str(client.make_url(VTN_PATH))) as vens:
            ven_2b = await registered(api, vens, "ven-a", {"a1": "ra1"})
            await api.device("b1")  # another device, of no VEN
            for hook, who in (
                (bl_hook, await tokens.bl()),
                (ven_hook, await tokens.ven("c-a", "ven-a")),
            ):
                resp = await client.post(
                    f"{BASE}/subscriptions",
                    json=subscription(hook.url(), ["EVENT"], ["CREATE", "UPDATE"]),
                    headers=who,
                )
                assert resp.status == 201, await resp.json()

            started = time.monotonic()
            mine = await api.invite(["a1"])
            [created] = await ven_hook.wait_for(1, seconds=1.0)
            assert time.monotonic() - started < 1.0
            assert (created["objectType"], created["operation"]) == ("EVENT", "CREATE")
            assert created["object"]["id"] == mine["id"]
            assert created["object"]["programID"] == mine["program_id"]
            assert created["object"]["intervalPeriod"]["duration"] == "PT60M"

            others = await api.invite(["b1"])  # not the VEN's: only BL hears of it
            notes = await bl_hook.wait_for(2)
            assert [n["object"]["id"] for n in notes] == [mine["id"], others["id"]]

            # The 2.0b VEN opts in: the event's answer changed, an UPDATE for both.
            started = time.monotonic()
            distribute = await ven_2b.request_event()
            await ven_2b.answer_events(distribute, opt="optIn")
            [_, updated, *_] = await ven_hook.wait_for(2, seconds=1.0)
            assert time.monotonic() - started < 1.0
            assert (updated["operation"], updated["object"]["id"]) == ("UPDATE", mine["id"])
            await asyncio.sleep(0.3)
            # never the other VEN's event; once scheduled, the 3.x API's full representation
            assert {n["object"]["id"] for n in ven_hook.notifications} == {mine["id"]}
            last = ven_hook.notifications[-1]
            assert last["object"]["intervals"], last
            assert schema_errors("notification", last) == [], last
    finally:
        await bl_hook.stop()
