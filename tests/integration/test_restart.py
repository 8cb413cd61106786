"""Everything accepted survives a restart: a new gateway on the same database carries on."""

from __future__ import annotations

from typing import Any

from gateway.app import build_app
from gateway.settings import Settings
from tests.support import ADMIN_TOKEN, Api


async def test_a_restarted_gateway_continues_an_invitation(
    aiohttp_client: Any, settings: Settings
) -> None:
    first = await aiohttp_client(build_app(settings, admin_token=ADMIN_TOKEN, run_workers=False))
    api = Api(first)
    await api.device("a")
    await api.device("b")
    await api.put("/api/auto-response", {"enabled": False, "min_notice_minutes": 5}, status=200)
    await api.put("/api/devices/a/instructions", {"instructions": {"7": "shifting"}}, status=200)
    inv = await api.invite(["a", "b"])
    await api.answer(inv["id"], "a", "YES", 3.0)
    await first.close()

    second = await aiohttp_client(build_app(settings, admin_token=ADMIN_TOKEN, run_workers=False))
    api = Api(second)
    assert [d["id"] for d in (await api.get("/api/devices"))["items"]] == ["a", "b"]
    assert (await api.get("/api/auto-response"))["min_notice_minutes"] == 5
    assert (await api.get("/api/devices/a/instructions"))["instructions"]["7"] == "shifting"
    again = await api.get(f"/api/invitations/{inv['id']}")
    assert again["status"] == "pending"
    assert [a["device_id"] for a in again["answers"]] == ["a"]
    await api.answer(inv["id"], "a", "NO", 0.0, status=409)
    done = await api.answer(inv["id"], "b", "YES", 2.0)
    assert done["status"] == "scheduled"
