"""The VTN's per-VEN cache: a poll does no I/O unless something the VEN sees has changed."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from gateway.app import SERVICES, VTN
from tests.support import Api
from tests.vtn.conftest import VenFactory
from tests.vtn.test_ven_flow import Inbox, provision, register


async def test_only_the_vens_a_change_concerns_reload(
    client: TestClient[Any, Any], api: Api, make_ven: VenFactory
) -> None:
    state = client.app[VTN].state
    await provision(api, "ven-a", {"a1": "ra1"})
    await provision(api, "ven-b", {"b1": "rb1"})
    ven_a, ven_b = make_ven("ven-a", ven_id="ven-a"), make_ven("ven-b", ven_id="ven-b")
    inbox_a, inbox_b = Inbox(ven_a), Inbox(ven_b)
    for ven in (ven_a, ven_b):
        await register(ven)
        await ven._poll()
        await ven._poll()

    before = state.reloads
    for _ in range(5):
        await ven_a._poll()
        await ven_b._poll()
    await client.app[SERVICES].publisher.flush()  # the background loop's idle flush
    await ven_a._poll()
    assert state.reloads == before  # steady state: no database read per poll

    entry_a, entry_b = await state.get("ven-a"), await state.get("ven-b")
    await api.invite(["a1"])
    await ven_a._poll()
    await ven_b._poll()
    assert await state.get("ven-b") is entry_b  # ven-b's cache was left alone
    assert await state.get("ven-a") is not entry_a
    assert len(inbox_a.of("oadrDistributeEvent")) == 1
    assert inbox_b.of("oadrDistributeEvent") == []
