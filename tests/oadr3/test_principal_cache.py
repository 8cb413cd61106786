"""The per-process cache of who each token names (``gateway.oadr3.principal_cache``): bounded
by size and time, used only while the change feed is followed, emptied by every change; a
deleted client's token is refused on its next request, and a VEN sees a change to its targets
or a new event on its next read. On SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from gateway.app import build_app
from gateway.oadr3 import tokens
from gateway.oadr3.auth import PRINCIPALS
from gateway.oadr3.event_cache import VenEventsCache, listen
from gateway.oadr3.principal_cache import PrincipalCache
from gateway.oadr3.scopes import DEFAULT_SCOPES, Role
from gateway.oadr3.tokens import InvalidToken, TokenAuthority
from gateway.settings import Settings
from tests.oadr3.support import BASE, bearer, provision, token_of
from tests.support import ADMIN_TOKEN, AUTH, ChannelRecorder, MutableClock
from tests.vtn.conftest import eventually


@pytest.fixture
def database_url(any_database_url: str) -> str:
    return any_database_url


def _following(ttl: float = 60.0, max_entries: int = 100, clock: Any = None) -> PrincipalCache[str]:
    cache = PrincipalCache[str](ttl, max_entries, *([clock.monotonic] if clock else []))
    cache.follow(True)
    return cache


def test_kept_for_its_ttl_then_asked_again() -> None:
    clock = MutableClock()
    cache = _following(ttl=1.0, clock=clock)
    cache.put("t", "p", cache.generation)
    assert cache.get("t") == "p"
    clock.advance(seconds=1.5)
    assert cache.get("t") is None
    assert len(cache) == 0


def test_at_most_max_entries_the_oldest_going_first() -> None:
    cache = _following(max_entries=3)
    for n in range(5):
        cache.put(f"t{n}", f"p{n}", cache.generation)
        assert len(cache) <= 3
    assert [cache.get(f"t{n}") for n in range(5)] == [None, None, "p2", "p3", "p4"]


def test_a_change_empties_it_and_a_read_from_before_is_not_kept() -> None:
    cache = _following()
    began = cache.generation
    cache.put("t", "p", began)
    cache.clear([("dr:dr_events", "{}")])
    assert cache.get("t") is None
    cache.put("t", "stale", began)  # read before the change, finished after
    assert cache.get("t") is None


def test_unused_while_the_change_feed_is_not_followed() -> None:
    cache = _following()
    cache.put("t", "p", cache.generation)
    cache.follow(False)
    assert cache.get("t") is None
    cache.put("t", "p", cache.generation)
    assert cache.get("t") is None
    cache.follow(True)
    assert cache.get("t") is None  # resubscribed: nothing from before
    cache.put("t", "p", cache.generation)
    assert cache.get("t") == "p"


async def test_another_processs_message_empties_it_and_a_lost_feed_stops_it(
    redis: Redis, redis_prefix: str
) -> None:
    channel = f"{redis_prefix}dr_events"
    principals = PrincipalCache[str](ttl=60.0)
    stopping = asyncio.Event()
    listening = asyncio.create_task(listen(VenEventsCache(), redis, channel, stopping, principals))
    try:
        for _ in range(100):
            if principals.following:
                break
            await asyncio.sleep(0.05)
        principals.put("t", "p", principals.generation)
        assert principals.get("t") == "p"
        await redis.publish(channel, '{"event": "oadr3_client_deleted", "client_id": "c"}')
        for _ in range(100):
            if principals.get("t") is None:
                break
            await asyncio.sleep(0.05)
        assert principals.get("t") is None
    finally:
        stopping.set()
        await asyncio.wait_for(listening, 5)
    assert not principals.following  # the subscription ended: the cache is no longer used


# --- through the API -------------------------------------------------------------------------


async def _followed(client: TestClient[Any, Any]) -> PrincipalCache[Any]:
    cache = client.server.app[PRINCIPALS]
    for _ in range(100):
        if cache.following:
            return cache
        await asyncio.sleep(0.05)
    raise AssertionError("the 3.x caches never followed the change feed")


async def _ven(client: TestClient[Any, Any], client_id: str) -> tuple[dict[str, str], str]:
    """A VEN client's auth header and its ven object's id (with one resource)."""
    auth = bearer(await token_of(client, await provision(client, "VEN", client_id)))
    resp = await client.post(
        f"{BASE}/vens", json={"objectType": "VEN_VEN_REQUEST", "venName": client_id}, headers=auth
    )
    assert resp.status == 201, await resp.text()
    ven_id = str((await resp.json())["id"])
    body = {"resourceName": "meter", "venID": ven_id}
    resp = await client.post(f"{BASE}/resources", json=body, headers=auth)
    assert resp.status == 201, await resp.text()
    return auth, ven_id


async def _events(client: TestClient[Any, Any], auth: dict[str, str]) -> list[str]:
    resp = await client.get(f"{BASE}/events", headers=auth)
    assert resp.status == 200, await resp.text()
    return [e["id"] for e in await resp.json()]


def _event(program_id: str, targets: list[str] | None = None) -> dict[str, Any]:
    start = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    return {
        "programID": program_id, "targets": targets,
        "intervalPeriod": {"start": start, "duration": "PT30M"},
        "intervals": [{"id": 0, "payloads": [{"type": "PRICE", "values": [0.3]}]}],
    }  # fmt: skip


async def test_a_deleted_clients_token_is_refused_on_its_next_request(
    client: TestClient[Any, Any], dr_events: ChannelRecorder
) -> None:
    cache = await _followed(client)
    auth, _ = await _ven(client, "ven-gone")
    other, _ = await _ven(client, "ven-stays")
    assert await _events(client, auth) == []
    assert await _events(client, other) == []
    assert len(cache) == 2  # both kept
    assert await _events(client, auth) == []  # from the cache
    resp = await client.delete("/api/oadr3/clients/ven-gone", headers=AUTH)
    assert resp.status == 200
    resp = await client.get(f"{BASE}/events", headers=auth)
    assert resp.status == 401
    assert "no longer exists" in (await resp.json())["detail"]
    assert await _events(client, other) == []
    # The other processes hear of it on dr_events.
    await dr_events.wait_for(lambda _: bool(dr_events.named("oadr3_client_deleted")))
    assert dr_events.named("oadr3_client_deleted")[0]["client_id"] == "ven-gone"


async def test_new_targets_and_a_new_event_are_seen_on_the_next_read(
    client: TestClient[Any, Any],
) -> None:
    await _followed(client)
    bl = bearer(await token_of(client, await provision(client, "BL", "bl-1")))
    auth, ven_id = await _ven(client, "ven-1")
    outsider, _ = await _ven(client, "ven-2")
    program_id = "default"  # every VEN takes part
    resp = await client.post(f"{BASE}/events", json=_event(program_id, ["north"]), headers=bl)
    assert resp.status == 201, await resp.text()
    north = (await resp.json())["id"]
    assert await _events(client, auth) == []  # not granted "north" yet
    assert await _events(client, auth) == []  # cached now
    body = {"venName": "ven-1", "clientID": "ven-1", "targets": ["north"]}
    resp = await client.put(f"{BASE}/vens/{ven_id}", json=body, headers=bl)
    assert resp.status == 200, await resp.text()
    assert await _events(client, auth) == [north]
    resp = await client.post(f"{BASE}/events", json=_event(program_id), headers=bl)
    assert resp.status == 201, await resp.text()
    untargeted = (await resp.json())["id"]
    assert sorted(await _events(client, auth)) == sorted([north, untargeted])
    assert await _events(client, outsider) == [untargeted]  # every VEN sees only its own


async def test_a_ven_object_deleted_is_no_longer_its_clients(
    client: TestClient[Any, Any],
) -> None:
    await _followed(client)
    auth, ven_id = await _ven(client, "ven-1")
    assert await _events(client, auth) == []
    resp = await client.delete(f"{BASE}/vens/{ven_id}", headers=auth)
    assert resp.status == 200, await resp.text()
    resp = await client.get(f"{BASE}/vens/{ven_id}", headers=auth)
    assert resp.status in {403, 404}
    resp = await client.get(f"{BASE}/vens", headers=auth)
    assert resp.status == 200
    assert await resp.json() == []


# --- the token's own check -------------------------------------------------------------------


async def test_a_checked_token_is_still_refused_once_expired(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    wall = [time.time()]
    authority = TokenAuthority(settings, wall_clock=lambda: wall[0])
    issued = datetime.now(UTC)
    token = authority.issue("ven-1", Role.VEN, DEFAULT_SCOPES[Role.VEN], issued)
    assert (await authority.verify(token)).client_id == "ven-1"
    assert (await authority.verify(token)).client_id == "ven-1"  # its signature kept as checked
    wall[0] = (issued + authority.lifetime).timestamp()  # exp, as PyJWT: expired
    with pytest.raises(InvalidToken, match="expired"):
        await authority.verify(token)
    wall[0] = time.time()
    with pytest.raises(InvalidToken, match="expired"):  # checked in full again: PyJWT's own
        await authority.verify(
            authority.issue("v", Role.VEN, frozenset(), issued - timedelta(days=9))
        )
    monkeypatch.setattr(tokens, "VERIFIED_MAX", 2)
    for n in range(4):
        await authority.verify(authority.issue(f"v{n}", Role.VEN, frozenset(), issued))
        assert len(authority._verified) <= 2


async def test_a_client_deleted_in_another_process_is_refused_there_once_heard(
    client: TestClient[Any, Any], aiohttp_client: Any, settings: Settings, clock: Any
) -> None:
    """Two gateway processes on one database and Redis: the one that did not delete the
    client drops its cached principal when the deletion's dr_events message reaches it, and
    refuses the token from then on."""
    app = build_app(settings, admin_token=ADMIN_TOKEN, clock=clock, run_workers=False)
    other: TestClient[Any, Any] = await aiohttp_client(app)
    await _followed(client)
    kept = await _followed(other)
    auth, _ = await _ven(client, "ven-gone")
    assert await _events(other, auth) == []
    assert await _events(other, auth) == []  # from the other's cache
    assert len(kept) == 1
    resp = await client.delete("/api/oadr3/clients/ven-gone", headers=AUTH)
    assert resp.status == 200

    async def refused() -> bool:
        resp = await other.get(f"{BASE}/events", headers=auth)
        return resp.status == 401

    await eventually(refused, timeout=5.0)
    assert len(kept) == 0
