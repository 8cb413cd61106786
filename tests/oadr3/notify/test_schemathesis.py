"""Schemathesis over openadr3.yaml's /subscriptions and /notifiers (the 3.x tests' runner,
``tests.oadr3.test_schemathesis.fuzz``, pointed at these paths): no 5xx, every documented
answer matches its schema, with a BL and a VEN token."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.oadr3 import test_schemathesis as runner
from tests.oadr3.conftest import MakePeer
from tests.oadr3.support import BASE

OTHERS = ("/programs", "/events", "/reports", "/vens", "/resources", "/auth")


@pytest.fixture
def settings_overrides(settings_overrides: dict[str, Any]) -> dict[str, Any]:
    # generated callback URLs are answered (or not) fast; the MQTT routes have a broker
    return {
        **settings_overrides,
        "oadr3_webhook_timeout_seconds": 0.5,
        "oadr3_mqtt_url": "mqtt://127.0.0.1:1883",
    }


async def test_no_5xx_and_answers_match_openadr3_yaml(
    client: TestClient[Any, Any], peers: MakePeer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runner, "NOT_OURS", OTHERS)
    bl = await peers("BL", "bl-fuzz")
    ven = await peers("VEN", "ven-fuzz")
    site = await ven.ok("create_ven", {"objectType": "VEN_VEN_REQUEST", "venName": "s"}, status=201)
    program = await bl.ok("create_program", {"programName": "fuzz"}, status=201)
    ids = {"programID": program["id"], "venID": site["id"]}
    base = str(client.make_url(BASE))
    found: list[str] = []
    seen: set[tuple[str, int]] = set()
    for peer in (bl, ven):
        failures, statuses = await asyncio.to_thread(runner.fuzz, base, peer.token, ids)
        found += failures
        seen |= statuses
    assert not found, "\n".join(found[:15])
    operations = {operation for operation, _ in seen}
    assert len(operations) == 18  # 5 of /subscriptions, /notifiers, 12 topic routes
    assert {status for _, status in seen} >= {200, 400, 403, 404}
