"""``/subscriptions``: the echo challenge before storing, CRUD, query params, privacy, errors."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.oadr3.notify.conftest import BASE, Tokens, subscription
from tests.oadr3.notify.receiver import WebhookReceiver

URL = f"{BASE}/subscriptions"


async def test_a_subscription_is_stored_after_its_callback_echoes_the_challenge(
    tokens: Tokens, client: TestClient[Any, Any], receiver: WebhookReceiver
) -> None:
    """Definition.md, Webhooks: the VTN MUST send a GET with a query parameter 'echo' and
    verify the value comes back in the body before it allows the subscription."""
    resp = await client.post(
        URL, json=subscription(receiver.url(), ["PROGRAM"]), headers=await tokens.bl()
    )
    body = await resp.json()
    assert resp.status == 201, body
    assert len(receiver.challenges) == 1
    assert len(receiver.challenges[0]) >= 16
    assert body["objectType"] == "SUBSCRIPTION"
    assert body["clientID"] == "bl-1"
    assert body["clientName"] == "test-client"
    assert body["objectOperations"][0]["callbackUrl"] == receiver.url()
    assert body["createdDateTime"].endswith("Z")
    assert "T" in body["createdDateTime"]
    assert body["deliveryStatus"]["state"] == "OK"
    again = await client.get(f"{URL}/{body['id']}", headers=await tokens.bl())
    assert (await again.json())["id"] == body["id"]


async def test_a_callback_that_does_not_echo_is_refused_and_nothing_is_stored(
    tokens: Tokens, client: TestClient[Any, Any], receiver: WebhookReceiver
) -> None:
    receiver.echo_wrong = True
    resp = await client.post(
        URL, json=subscription(receiver.url(), ["EVENT"]), headers=await tokens.bl()
    )
    body = await resp.json()
    assert resp.status == 400
    assert resp.content_type == "application/json"  # openadr3.yaml: problem as JSON
    assert "echo" in body["detail"]
    listed = await client.get(URL, headers=await tokens.bl())
    assert await listed.json() == []


async def test_a_callback_that_redirects_is_refused(
    tokens: Tokens, client: TestClient[Any, Any], receiver: WebhookReceiver
) -> None:
    """The VTN never follows redirects (Definition.md, Webhooks: redirects to private IPs)."""
    resp = await client.post(
        URL, json=subscription(receiver.url("/redirect"), ["EVENT"]), headers=await tokens.bl()
    )
    assert resp.status == 400
    assert "302" in (await resp.json())["detail"]
    assert receiver.challenges == []  # the redirect target was never asked


async def test_an_unreachable_callback_is_refused(
    tokens: Tokens, client: TestClient[Any, Any]
) -> None:
    from tests.support import free_port

    dead = f"http://127.0.0.1:{free_port()}/hook"
    resp = await client.post(URL, json=subscription(dead, ["EVENT"]), headers=await tokens.bl())
    assert resp.status == 400
    assert "did not answer" in (await resp.json())["detail"]


async def test_invalid_bodies_get_a_problem_naming_the_property(
    tokens: Tokens, client: TestClient[Any, Any], receiver: WebhookReceiver
) -> None:
    cases: list[tuple[Any, str]] = [
        ([], "body"),
        ({"objectOperations": []}, "clientName"),
        (subscription(receiver.url(), ["THING"]), "objects"),
        (subscription(receiver.url(), ["EVENT"], ["PATCH"]), "operations"),
        (subscription(receiver.url(), ["EVENT"], programID="no such/id"), "programID"),
        (subscription(receiver.url(), ["EVENT"], programID="nope"), "programID"),
        (subscription(receiver.url(), ["EVENT"], targets=[""]), "targets"),
    ]
    for body, named in cases:
        resp = await client.post(URL, json=body, headers=await tokens.bl())
        problem = await resp.json()
        assert resp.status == 400, (body, problem)
        assert named in problem["detail"], (body, problem)
        assert problem["status"] == 400
        assert problem["title"]
    bad_json = await client.post(
        URL, data=b"{", headers={**await tokens.bl(), "Content-Type": "application/json"}
    )
    assert bad_json.status == 400
    assert receiver.challenges == []  # nothing invalid was ever checked against the callback
    assert await (await client.get(URL, headers=await tokens.bl())).json() == []


async def test_optional_properties_may_be_null(
    tokens: Tokens, client: TestClient[Any, Any], receiver: WebhookReceiver
) -> None:
    body = subscription(receiver.url(), ["EVENT"], programID=None, targets=None)
    body["objectOperations"][0]["bearerToken"] = None
    resp = await client.post(URL, json=body, headers=await tokens.bl())
    created = await resp.json()
    assert resp.status == 201, created
    assert "programID" not in created  # an objectID is not nullable
    assert created["targets"] is None


async def test_https_is_required_unless_the_setting_allows_http(
    tokens: Tokens, aiohttp_client: Any, settings: Any, redis: Any, receiver: WebhookReceiver
) -> None:
    from tests.oadr3.notify.conftest import notify_app

    strict = settings.model_copy(
        update={"oadr3_webhook_allow_http": False, "oadr3_webhook_allow_private": False}
    )
    client = await aiohttp_client(notify_app(strict))
    resp = await client.post(
        URL, json=subscription(receiver.url(), ["EVENT"]), headers=await tokens.bl()
    )
    assert resp.status == 400
    assert "https" in (await resp.json())["detail"]
    private = await client.post(
        URL, json=subscription("https://127.0.0.1:9/hook", ["EVENT"]), headers=await tokens.bl()
    )
    assert private.status == 400
    assert "private" in (await private.json())["detail"]
    assert receiver.challenges == []


async def test_a_ven_client_sees_updates_and_deletes_only_its_own(
    tokens: Tokens, client: TestClient[Any, Any], receiver: WebhookReceiver
) -> None:
    """Definition.md, VEN created object privacy: /subscriptions by a VEN returns only
    objects with its clientID; BL reads all."""
    mine = await (
        await client.post(
            URL,
            json=subscription(receiver.url(), ["EVENT"]),
            headers=await tokens.ven("c-a", "ven-a"),
        )
    ).json()
    theirs = await (
        await client.post(
            URL,
            json=subscription(receiver.url(), ["EVENT"]),
            headers=await tokens.ven("c-b", "ven-b"),
        )
    ).json()
    assert mine["clientID"] == "c-a"
    assert theirs["clientID"] == "c-b"
    listed = await (await client.get(URL, headers=await tokens.ven("c-a", "ven-a"))).json()
    assert [s["id"] for s in listed] == [mine["id"]]
    assert (
        await client.get(f"{URL}/{theirs['id']}", headers=await tokens.ven("c-a", "ven-a"))
    ).status == 404
    update = subscription(receiver.url(), ["PROGRAM"])
    assert (
        await client.put(
            f"{URL}/{theirs['id']}", json=update, headers=await tokens.ven("c-a", "ven-a")
        )
    ).status == 404
    assert (
        await client.delete(f"{URL}/{theirs['id']}", headers=await tokens.ven("c-a", "ven-a"))
    ).status == 404
    everything = await (await client.get(URL, headers=await tokens.bl())).json()
    assert {s["id"] for s in everything} == {mine["id"], theirs["id"]}


async def test_update_replaces_terms_and_delete_returns_the_subscription(
    tokens: Tokens, client: TestClient[Any, Any], receiver: WebhookReceiver
) -> None:
    created = await (
        await client.post(
            URL, json=subscription(receiver.url(), ["EVENT"]), headers=await tokens.bl()
        )
    ).json()
    new_terms = subscription(receiver.url(), ["PROGRAM", "VEN"], ["UPDATE"], clientName="renamed")
    resp = await client.put(
        f"{URL}/{created['id']}", json={**created, **new_terms}, headers=await tokens.bl()
    )
    updated = await resp.json()
    assert resp.status == 200, updated
    assert updated["clientName"] == "renamed"
    assert updated["objectOperations"][0]["objects"] == ["PROGRAM", "VEN"]
    assert updated["createdDateTime"] == created["createdDateTime"]
    assert len(receiver.challenges) == 2  # the callback is checked again on update
    gone = await client.delete(f"{URL}/{created['id']}", headers=await tokens.bl())
    assert gone.status == 200
    assert (await gone.json())["id"] == created["id"]
    assert (await client.get(f"{URL}/{created['id']}", headers=await tokens.bl())).status == 404


async def test_search_filters_are_additive_and_paginate(
    tokens: Tokens, client: TestClient[Any, Any], receiver: WebhookReceiver, api: Any
) -> None:
    await api.post(
        "/api/programs", {"id": "p1", "name": "One", "market_context": "urn:one"}, status=201
    )
    made = []
    for name, objects, program in [
        ("a", ["EVENT"], "p1"),
        ("a", ["PROGRAM"], None),
        ("b", ["EVENT", "REPORT"], "p1"),
    ]:
        body = subscription(receiver.url(), objects, clientName=name, programID=program)
        resp = await client.post(URL, json=body, headers=await tokens.bl())
        assert resp.status == 201, await resp.json()
        made.append((await resp.json())["id"])

    async def ids(**query: Any) -> list[str]:
        resp = await client.get(URL, params=query, headers=await tokens.bl())
        assert resp.status == 200, await resp.json()
        return [s["id"] for s in await resp.json()]

    assert await ids(programID="p1") == [made[0], made[2]]
    assert await ids(clientName="a") == [made[0], made[1]]
    assert await ids(programID="p1", clientName="a") == [made[0]]
    assert await ids(objects="REPORT") == [made[2]]
    assert await ids(objects="PROGRAM,REPORT") == [made[1], made[2]]
    assert await ids(skip=1, limit=1) == [made[1]]
    assert await ids(limit=0) == []
    for bad in ({"limit": 51}, {"skip": -1}, {"limit": "x"}, {"objects": "THING"}):
        resp = await client.get(URL, params=bad, headers=await tokens.bl())
        assert resp.status == 400, bad


async def test_without_a_token_it_is_401_and_without_the_scope_403(
    tokens: Tokens,
    client: TestClient[Any, Any],
) -> None:
    assert (await client.get(URL)).status == 401
    resp = await client.get(
        f"{BASE}/notifiers/mqtt/topics/events", headers=await tokens.ven("c-a", "ven-a")
    )
    assert resp.status in (403, 404)


async def test_a_name_that_resolves_to_a_private_address_is_refused_at_connect(
    receiver: WebhookReceiver,
) -> None:
    """Definition.md, Webhooks: domains that resolve to private IPs are an attack vector; the
    check is on the addresses connected to, not on the name."""
    from gateway.oadr3.notify.callbacks import CallbackClient, CallbackPolicy, CallbackRefused

    callbacks = CallbackClient(CallbackPolicy(allow_http=True))
    try:
        with pytest.raises(CallbackRefused, match="private"):
            await callbacks.challenge(f"http://localhost:{receiver.port}/hook")
        assert await callbacks.post(f"http://localhost:{receiver.port}/hook", "{}", None)
    finally:
        await callbacks.close()
    assert receiver.challenges == []
    assert receiver.posts == 0
