"""MQTT notifier: /notifiers lists it with the broker, topic names follow the spec's form, and
a change is published on its topics of the local Mosquitto."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiomqtt
import pytest
from aiohttp.test_utils import TestClient

from tests.oadr3.notify.conftest import BASE, Tokens
from tests.support import Api

BROKER = "mqtt://127.0.0.1:1883"


@pytest.fixture
def settings_overrides(settings_overrides: dict[str, Any]) -> dict[str, Any]:
    return {**settings_overrides, "oadr3_mqtt_url": BROKER}


@pytest.fixture
async def broker() -> AsyncIterator[aiomqtt.Client]:
    async with aiomqtt.Client("127.0.0.1", 1883, identifier=f"test-{uuid.uuid4().hex[:8]}") as sub:
        yield sub


async def _next(sub: aiomqtt.Client, seconds: float = 3.0) -> tuple[str, dict[str, Any]]:
    async def first() -> tuple[str, dict[str, Any]]:
        async for message in sub.messages:
            payload = message.payload
            assert isinstance(payload, bytes | bytearray)
            return str(message.topic), json.loads(payload)
        raise AssertionError("the broker closed")

    return await asyncio.wait_for(first(), seconds)


async def test_notifiers_list_webhook_and_mqtt_with_the_broker(
    tokens: Tokens,
    client: TestClient[Any, Any],
) -> None:
    body = await (await client.get(f"{BASE}/notifiers", headers=await tokens.bl())).json()
    assert body == {
        "WEBHOOK": True,
        "MQTT": {
            "URIS": [BROKER],
            "serialization": "JSON",
            "authentication": {"method": "ANONYMOUS"},
        },
    }


async def test_topic_names_are_the_specs_form(tokens: Tokens, client: TestClient[Any, Any]) -> None:
    programs = await (
        await client.get(f"{BASE}/notifiers/mqtt/topics/programs", headers=await tokens.bl())
    ).json()
    assert programs == {
        "topics": {
            "CREATE": "programs/create",
            "UPDATE": "programs/update",
            "DELETE": "programs/delete",
            "ALL": "programs/+",
        }
    }
    one = await (
        await client.get(f"{BASE}/notifiers/mqtt/topics/programs/p1", headers=await tokens.bl())
    ).json()
    assert "CREATE" not in one["topics"]
    assert one["topics"]["UPDATE"] == "programs/p1/update"
    mine = await client.get(
        f"{BASE}/notifiers/mqtt/topics/vens/v1/events", headers=await tokens.ven("c", "v1")
    )
    assert (await mine.json())["topics"]["CREATE"] == "vens/v1/events/create"
    other = await client.get(
        f"{BASE}/notifiers/mqtt/topics/vens/v2/events", headers=await tokens.ven("c", "v1")
    )
    assert other.status == 403
    bl_only = await client.get(
        f"{BASE}/notifiers/mqtt/topics/reports", headers=await tokens.ven("c", "v1")
    )
    assert bl_only.status == 403


async def test_a_program_change_is_published_on_its_topics(
    client: TestClient[Any, Any], api: Api, broker: aiomqtt.Client
) -> None:
    program_id = f"p{uuid.uuid4().hex[:8]}"
    await broker.subscribe(f"programs/{program_id}/+", qos=1)
    await broker.subscribe("programs/create", qos=1)
    await api.post(
        "/api/programs",
        {
            "id": program_id,
            "name": program_id,
            "market_context": f"urn:{program_id}",
            "membership": "all",
        },
        status=201,
    )
    topic, note = await _next(broker)
    while note["object"]["id"] != program_id:  # other tests' programs on the shared broker
        topic, note = await _next(broker)
    assert topic == "programs/create"
    assert (note["objectType"], note["operation"]) == ("PROGRAM", "CREATE")
    await api.patch(f"/api/programs/{program_id}", {"description": "new"}, status=200)
    topic, note = await _next(broker)
    while topic == "programs/create":
        topic, note = await _next(broker)
    assert topic == f"programs/{program_id}/update"
    assert note["operation"] == "UPDATE"
    assert note["object"]["id"] == program_id
