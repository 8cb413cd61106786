"""Changes made through the 3.x API reach subscribers in its own representation, with its
privacy: stock openadr3 clients (PyPI) as BL and VENs, every answer checked against
openadr3.yaml."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp.test_utils import TestClient

from tests.oadr3.conftest import MakePeer
from tests.oadr3.notify.conftest import subscription
from tests.oadr3.notify.receiver import WebhookReceiver
from tests.oadr3.notify.schema import schema_errors


def _ven(name: str) -> dict[str, Any]:
    return {"objectType": "VEN_VEN_REQUEST", "venName": name}


async def test_3x_changes_are_notified_each_to_whom_may_see_them(
    client: TestClient[Any, Any], peers: MakePeer, receiver: WebhookReceiver
) -> None:
    bl = await peers("BL", "bl-1")
    ven_a, ven_b = await peers("VEN", "ven-a"), await peers("VEN", "ven-b")
    hooks = {"bl": receiver, "a": WebhookReceiver(), "b": WebhookReceiver()}
    await hooks["a"].start()
    await hooks["b"].start()
    try:
        a = await ven_a.ok("create_ven", _ven("site-a"), status=201)
        await ven_b.ok("create_ven", _ven("site-b"), status=201)
        for who, hook in ((bl, hooks["bl"]), (ven_a, hooks["a"]), (ven_b, hooks["b"])):
            made = await who.ok(
                "create_subscription", subscription(hook.url(), ["VEN", "PROGRAM"]), status=201
            )
            assert made["clientID"] == who.client_id
        # BL grants site-a a target: a 3.x-only change (oadr3_ven_updated)
        await bl.ok("update_ven", a["id"], {
            "objectType": "BL_VEN_REQUEST", "clientID": "ven-a", "venName": "site-a",
            "targets": ["north"],
        })  # fmt: skip
        [to_bl] = await hooks["bl"].wait_for(1)
        [to_a] = await hooks["a"].wait_for(1)
        for note in (to_bl, to_a):
            assert (note["objectType"], note["operation"]) == ("VEN", "UPDATE")
            assert note["object"]["id"] == a["id"]
            assert note["object"]["venName"] == "site-a"
            assert note["object"]["targets"] == ["north"]
            assert schema_errors("notification", note) == [], note
        # A program made by BL: its representation is the API's (as GET returns it)
        program = await bl.ok("create_program", {"programName": "Open"}, status=201)
        for key in ("bl", "a", "b"):
            notes = await hooks[key].wait_for(2 if key != "b" else 1)
            told = notes[-1]
            assert (told["operation"], told["object"]["id"]) == ("CREATE", program["id"])
            assert told["object"]["programName"] == "Open"
        await asyncio.sleep(0.3)
        assert len(hooks["b"].notifications) == 1  # never site-a's VEN object
    finally:
        await hooks["a"].stop()
        await hooks["b"].stop()
