"""The stock 3.x client from PyPI (``openadr3``, not this project's code) subscribes, lists
and reads notifiers; the notifications it is sent parse as its entities."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp.test_utils import TestClient
from openadr3 import create_bl_client
from openadr3.entities import coerce_notification

from tests.oadr3.notify.conftest import BASE, Tokens, subscription
from tests.oadr3.notify.receiver import WebhookReceiver
from tests.support import Api


async def test_the_stock_client_subscribes_and_parses_what_it_is_sent(
    tokens: Tokens, client: TestClient[Any, Any], api: Api, receiver: WebhookReceiver
) -> None:
    token = (await tokens.bl("bl-stock"))["Authorization"].removeprefix("Bearer ")
    stock = create_bl_client(str(client.make_url(BASE)), token)
    try:
        created = await asyncio.to_thread(
            stock.create_subscription, subscription(receiver.url(), ["PROGRAM", "SUBSCRIPTION"])
        )
        assert created.status_code == 201, created.text
        [listed] = await asyncio.to_thread(stock.subscriptions)
        assert listed.id == created.json()["id"]
        assert listed.client_id == "bl-stock"
        assert listed.object_operations[0].callback_url == receiver.url()
        notifiers = await asyncio.to_thread(stock.get_notifiers)
        assert notifiers.json()["WEBHOOK"] is True
        topics = await asyncio.to_thread(stock.get_mqtt_topics_programs)
        assert topics.status_code == 404  # no MQTT broker configured in this test
    finally:
        await asyncio.to_thread(stock.close)

    await api.post(
        "/api/programs", {"id": "p1", "name": "One", "market_context": "urn:one"}, status=201
    )
    first, second = await receiver.wait_for(2)
    told = coerce_notification(first)
    assert (told.object_type, told.operation) == ("SUBSCRIPTION", "CREATE")
    program = coerce_notification(second)
    assert (program.object_type, program.operation) == ("PROGRAM", "CREATE")
    assert program.object.program_name == "One"  # type: ignore[attr-defined]
    assert program.object.created is not None
