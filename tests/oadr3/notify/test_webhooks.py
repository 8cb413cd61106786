"""Webhook notifications of core changes: within a second, encoded once, retried with
backoff, a broken callback marked and left alone, nothing lost across a restart."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from gateway.settings import Settings
from tests.oadr3.notify.conftest import BASE, Tokens, notify_app, subscription
from tests.oadr3.notify.receiver import WebhookReceiver
from tests.oadr3.notify.schema import schema_errors
from tests.oadr3.support import bearer, provision, token_of
from tests.support import Api

URL = f"{BASE}/subscriptions"


@pytest.fixture
def database_url(any_database_url: str) -> str:
    """The outbox's claims, leases and de-duplication, on SQLite and on PostgreSQL."""
    return any_database_url


async def _subscribe(
    client: TestClient[Any, Any], body: dict[str, Any], headers: dict[str, str]
) -> dict[str, Any]:
    resp = await client.post(URL, json=body, headers=headers)
    created: dict[str, Any] = await resp.json()
    assert resp.status == 201, created
    return created


def _program(program_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": program_id,
        "name": f"Program {program_id}",
        "market_context": f"urn:{program_id}",
        **extra,
    }


async def test_a_program_made_in_the_admin_api_reaches_the_webhook_within_a_second(
    tokens: Tokens, client: TestClient[Any, Any], api: Api, receiver: WebhookReceiver
) -> None:
    await _subscribe(client, subscription(receiver.url(), ["PROGRAM"]), await tokens.bl())
    receiver.notifications.clear()
    started = time.monotonic()
    await api.post("/api/programs", _program("peak"), status=201)
    [note] = await receiver.wait_for(1, seconds=1.0)
    assert time.monotonic() - started < 1.0
    assert note["objectType"] == "PROGRAM"
    assert note["operation"] == "CREATE"
    assert note["object"]["id"] == "peak"
    assert note["object"]["programName"] == "Program peak"
    assert note["object"]["objectType"] == "PROGRAM"
    assert note["object"]["createdDateTime"].endswith("Z")
    # Encoded once: the body is a JSON object, not a JSON string holding one.
    assert receiver.raw_bodies[0].startswith(b"{")
    assert isinstance(json.loads(receiver.raw_bodies[0]), dict)
    assert receiver.headers[0]["Authorization"] == "Bearer hook-secret"
    assert receiver.headers[0]["Content-Type"].startswith("application/json")


async def test_operations_and_objects_not_subscribed_are_not_sent(
    tokens: Tokens, client: TestClient[Any, Any], api: Api, receiver: WebhookReceiver
) -> None:
    await _subscribe(
        client, subscription(receiver.url(), ["PROGRAM"], ["UPDATE"]), await tokens.bl()
    )
    await api.post("/api/programs", _program("p1"), status=201)
    await api.post("/api/vens", {"name": "ven-one"}, status=201)
    await api.patch("/api/programs/p1", {"description": "changed"}, status=200)
    [note] = await receiver.wait_for(1)
    assert (note["operation"], note["object"]["id"]) == ("UPDATE", "p1")
    await asyncio.sleep(0.3)
    assert len(receiver.notifications) == 1


async def test_update_and_delete_are_told_and_a_program_filter_applies(
    tokens: Tokens, client: TestClient[Any, Any], api: Api, receiver: WebhookReceiver
) -> None:
    await api.post("/api/programs", _program("p1"), status=201)
    await api.post("/api/programs", _program("p2"), status=201)
    await _subscribe(
        client, subscription(receiver.url(), ["PROGRAM"], programID="p1"), await tokens.bl()
    )
    await api.patch("/api/programs/p2", {"description": "other"}, status=200)
    await api.patch("/api/programs/p1", {"description": "mine"}, status=200)
    # Heard before the delete: an UPDATE read after its object is gone is not told.
    await receiver.wait_for(1)
    await api.delete("/api/programs/p1", status=200)
    notes = await receiver.wait_for(2)
    assert [(n["operation"], n["object"]["id"]) for n in notes] == [
        ("UPDATE", "p1"),
        ("DELETE", "p1"),
    ]
    assert notes[1]["object"]["programName"] == "Program p1"  # the last representation known


async def test_subscription_changes_are_told_without_bearer_tokens(
    tokens: Tokens, client: TestClient[Any, Any], receiver: WebhookReceiver
) -> None:
    watcher = await _subscribe(
        client, subscription(receiver.url(), ["SUBSCRIPTION"]), await tokens.bl("bl-watch")
    )
    [first] = await receiver.wait_for(1)
    assert (first["objectType"], first["operation"]) == ("SUBSCRIPTION", "CREATE")
    assert first["object"]["id"] == watcher["id"]
    other = await _subscribe(
        client, subscription(receiver.url(), ["EVENT"]), await tokens.ven("c-a", "ven-a")
    )
    notes = await receiver.wait_for(2)
    assert notes[1]["object"]["id"] == other["id"]
    assert notes[1]["object"]["objectOperations"][0]["bearerToken"] is None


async def test_a_ven_client_hears_only_of_objects_it_may_see(
    tokens: Tokens, client: TestClient[Any, Any], api: Api, receiver: WebhookReceiver
) -> None:
    """Definition.md, Object Privacy: a VEN reads its own VEN and resources, and programs as
    GET /programs shows them (untargeted ones are every VEN's)."""
    ven_a = await api.post("/api/vens", {"name": "ven-a"}, status=201)
    ven_a_id = ven_a["ven_id"]
    await _subscribe(
        client,
        subscription(receiver.url(), ["PROGRAM", "VEN", "RESOURCE"]),
        await tokens.ven("c-a", ven_a_id),
    )
    ven_b = await api.post("/api/vens", {"name": "ven-b"}, status=201)
    await api.device("b1", ven_id=ven_b["ven_id"], resource_id="rb1")
    await api.device("a1", ven_id=ven_a_id, resource_id="ra1")
    await api.post("/api/programs", _program("open", membership="all"), status=201)
    notes = await receiver.wait_for(2)
    await asyncio.sleep(0.3)
    seen = [(n["objectType"], n["operation"], n["object"]["id"]) for n in receiver.notifications]
    assert seen == [("RESOURCE", "CREATE", "a1"), ("PROGRAM", "CREATE", "open")], notes


async def test_a_failing_callback_is_retried_with_backoff_until_it_answers(
    tokens: Tokens, client: TestClient[Any, Any], api: Api, receiver: WebhookReceiver
) -> None:
    await _subscribe(client, subscription(receiver.url(), ["PROGRAM"]), await tokens.bl())
    receiver.statuses.extend([500, 503])
    await api.post("/api/programs", _program("p1"), status=201)
    await api.post("/api/programs", _program("p2"), status=201)
    notes = await receiver.wait_for(2, seconds=5)
    # in order, each once, after two refusals of the first
    assert [n["object"]["id"] for n in notes] == ["p1", "p2"]
    assert receiver.posts == 4
    listed = await (await client.get(URL, headers=await tokens.bl())).json()
    assert listed[0]["deliveryStatus"]["state"] == "OK"


async def test_a_callback_failing_too_often_is_marked_broken_and_left_alone(
    tokens: Tokens, client: TestClient[Any, Any], api: Api, receiver: WebhookReceiver
) -> None:
    created = await _subscribe(client, subscription(receiver.url(), ["PROGRAM"]), await tokens.bl())
    receiver.always = 500
    await api.post("/api/programs", _program("p1"), status=201)
    await receiver.wait_posts(4, seconds=5)  # broken_after = 4 in these tests
    await asyncio.sleep(0.5)
    assert receiver.posts == 4
    found = await (await client.get(f"{URL}/{created['id']}", headers=await tokens.bl())).json()
    assert found["deliveryStatus"]["state"] == "BROKEN"
    assert found["deliveryStatus"]["consecutiveFailures"] == 4
    assert "500" in found["deliveryStatus"]["lastError"]
    await api.post("/api/programs", _program("p2"), status=201)
    await asyncio.sleep(0.5)
    assert receiver.posts == 4  # not hammered: nothing more is sent
    scraped = await (await client.get("/metrics")).text()
    assert 'oadr3_webhook_deliveries_total{result="failed"} 4.0' in scraped
    assert "oadr3_webhook_subscriptions_broken_total 1.0" in scraped
    # Updating it (the callback checked again) makes it healthy; new changes flow again.
    receiver.always = None
    resp = await client.put(
        f"{URL}/{created['id']}",
        json=subscription(receiver.url(), ["PROGRAM"]),
        headers=await tokens.bl(),
    )
    assert (await resp.json())["deliveryStatus"]["state"] == "OK"
    await api.post("/api/programs", _program("p3"), status=201)
    [note] = await receiver.wait_for(1)
    assert note["object"]["id"] == "p3"


async def test_notifications_queued_before_a_restart_are_delivered_after_it(
    tokens: Tokens, aiohttp_client: Any, settings: Settings, redis: Any, receiver: WebhookReceiver
) -> None:
    """The outbox is in the database: a gateway stopped with notifications owed delivers
    them when it starts again."""
    first = await aiohttp_client(notify_app(settings))
    await _subscribe(first, subscription(receiver.url(), ["PROGRAM"]), await tokens.bl())
    receiver.always = 503
    await Api(first).post("/api/programs", _program("before"), status=201)
    await receiver.wait_posts(1)
    await first.close()
    receiver.always = None
    second = TestClient(TestServer(notify_app(settings)))
    await second.start_server()
    try:
        [note] = await receiver.wait_for(1, seconds=5)
        assert note["object"]["id"] == "before"
    finally:
        await second.close()


async def test_notifications_and_subscriptions_match_the_specs_schemas(
    tokens: Tokens, client: TestClient[Any, Any], api: Api, receiver: WebhookReceiver
) -> None:
    created = await _subscribe(
        client,
        subscription(receiver.url(), ["PROGRAM", "SUBSCRIPTION"], targets=["group-1"]),
        await tokens.bl(),
    )
    body = {k: v for k, v in created.items() if k != "deliveryStatus"}
    assert schema_errors("subscription", body) == []
    await api.post("/api/programs", _program("p1", description="long name"), status=201)
    notes = await receiver.wait_for(2)
    for note in notes:
        assert schema_errors("notification", note) == [], note
        assert schema_errors(note["objectType"].lower(), note["object"]) == [], note


async def test_two_replicas_deliver_each_change_once(
    tokens: Tokens,
    client: TestClient[Any, Any],
    api: Api,
    settings: Settings,
    receiver: WebhookReceiver,
) -> None:
    """Both replicas hear every dr_events message; the outbox queues it once and one of
    them delivers it."""
    second = TestClient(TestServer(notify_app(settings)))
    await second.start_server()
    try:
        await _subscribe(client, subscription(receiver.url(), ["PROGRAM"]), await tokens.bl())
        for n in range(3):
            await api.post("/api/programs", _program(f"p{n}"), status=201)
        notes = await receiver.wait_for(3)
        await asyncio.sleep(0.5)
        assert sorted(n["object"]["id"] for n in receiver.notifications) == ["p0", "p1", "p2"]
        assert len(notes) == 3
    finally:
        await second.close()


async def test_a_change_made_while_no_replica_listens_is_notified_when_one_does(
    aiohttp_client: Any, settings: Settings, receiver: WebhookReceiver
) -> None:
    """dr_events is read from its log as one consumer group: a program made by a gateway that
    sends no notifications, while none that does is running, is told once one starts."""
    first = await aiohttp_client(notify_app(settings))
    bl = bearer(await token_of(first, await provision(first, "BL", "bl-away")))
    await _subscribe(first, subscription(receiver.url(), ["PROGRAM"]), bl)
    await first.close()
    quiet = TestClient(TestServer(notify_app(settings.model_copy(
        update={"oadr3_notify_enabled": False}))))  # fmt: skip
    await quiet.start_server()
    try:
        await Api(quiet).post("/api/programs", _program("while-away"), status=201)
    finally:
        await quiet.close()
    assert receiver.notifications == []
    second = TestClient(TestServer(notify_app(settings)))
    await second.start_server()
    try:
        [note] = await receiver.wait_for(1, seconds=5)
        assert (note["operation"], note["object"]["id"]) == ("CREATE", "while-away")
    finally:
        await second.close()
