"""The events cache filled for every VEN at once (``gateway.oadr3.event_fill``): each VEN's list
is what its own read finds (its grants, its programs, only its own), a cold cache is filled
by one read for all, once however many reads miss meanwhile, and a fill begun before a change
is not kept. On SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from gateway.oadr3.access import reader_of
from gateway.oadr3.auth import Principal
from gateway.oadr3.event_cache import VenEventsCache
from gateway.oadr3.event_fill import every_ven_events
from gateway.oadr3.events import EVENTS_CACHE, _ven_events
from gateway.oadr3.scopes import DEFAULT_SCOPES, Role
from gateway.services.container import Services
from tests.oadr3.support import BASE, bearer, provision, token_of
from tests.support import Api, MutableClock


@pytest.fixture
def database_url(any_database_url: str) -> str:
    return any_database_url


async def test_a_fill_runs_once_for_every_read_that_misses_meanwhile() -> None:
    cache = VenEventsCache(ttl=60.0)
    calls = 0
    release = asyncio.Event()

    async def load() -> dict[str, list[dict[str, Any]]]:
        nonlocal calls
        calls += 1
        await release.wait()
        return {"a": [{"id": "e"}], "b": []}

    assert cache.cold()
    waiting = [asyncio.ensure_future(cache.fill(load)) for _ in range(5)]
    await asyncio.sleep(0)
    release.set()
    await asyncio.gather(*waiting)
    assert calls == 1
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == ([{"id": "e"}], [], None)
    assert not cache.cold()


async def test_a_fill_begun_before_a_change_is_not_kept_and_a_ttl_later_it_is_cold() -> None:
    clock = MutableClock()
    cache = VenEventsCache(ttl=1.0, monotonic=clock.monotonic)

    async def changed_meanwhile() -> dict[str, list[dict[str, Any]]]:
        cache.clear()
        return {"a": [{"id": "stale"}]}

    await cache.fill(changed_meanwhile)
    assert cache.get("a") is None
    assert cache.cold()

    async def load() -> dict[str, list[dict[str, Any]]]:
        return {"a": []}

    await cache.fill(load)
    assert not cache.cold()
    clock.advance(seconds=1.5)
    assert cache.cold()
    assert cache.get("a") is None


def _at(minutes: float) -> str:
    return (datetime.now(UTC) + timedelta(minutes=minutes)).isoformat()


def _event(payload: str, targets: list[str] | None) -> dict[str, Any]:
    return {
        "programID": "peak", "targets": targets,
        "intervalPeriod": {"start": _at(60), "duration": "PT30M"},
        "intervals": [{"id": 0, "payloads": [{"type": payload, "values": [1]}]}],
    }  # fmt: skip


async def _ven(client: TestClient[Any, Any], name: str) -> dict[str, str]:
    auth = bearer(await token_of(client, await provision(client, "VEN", name)))
    resp = await client.post(
        f"{BASE}/vens", json={"objectType": "VEN_VEN_REQUEST", "venName": name}, headers=auth
    )
    assert resp.status == 201, await resp.text()
    ven_id = (await resp.json())["id"]
    resp = await client.post(
        f"{BASE}/resources", json={"resourceName": "meter", "venID": ven_id}, headers=auth
    )
    assert resp.status == 201, await resp.text()
    return {"auth": auth["Authorization"], "ven": ven_id, "resource": (await resp.json())["id"]}


async def _ids(client: TestClient[Any, Any], ven: dict[str, str]) -> list[str]:
    resp = await client.get(f"{BASE}/events", headers={"Authorization": ven["auth"]})
    assert resp.status == 200, await resp.text()
    return sorted(e["id"] for e in await resp.json())


async def test_every_vens_list_is_what_its_own_read_finds(
    client: TestClient[Any, Any], api: Api, services: Services
) -> None:
    program = {"id": "peak", "name": "Peak", "market_context": "urn:peak", "membership": "all"}
    await api.post("/api/programs", program, status=201)
    bl = bearer(await token_of(client, await provision(client, "BL", "bl-1")))
    north, south, plain = [await _ven(client, n) for n in ("north", "south", "plain")]
    body = {"venName": "north", "clientID": "north", "targets": ["north"]}
    resp = await client.put(f"{BASE}/vens/{north['ven']}", json=body, headers=bl)
    assert resp.status == 200, await resp.text()
    body = {"resourceName": "meter", "venID": south["ven"], "targets": ["south"]}
    resp = await client.put(f"{BASE}/resources/{south['resource']}", json=body, headers=bl)
    assert resp.status == 200, await resp.text()
    made: dict[str, str] = {}
    for name, payload, targets in (
        ("all", "SIMPLE", None), ("north", "SIMPLE", ["north"]), ("south", "PRICE", ["south"]),
    ):  # fmt: skip
        resp = await client.post(f"{BASE}/events", json=_event(payload, targets), headers=bl)
        assert resp.status == 201, await resp.text()
        made[name] = (await resp.json())["id"]
    invitation = await api.post("/api/invitations", {
        "program_id": "peak", "event_time": _at(120), "duration_minutes": 30,
        "load_kwh": 3, "devices": [plain["resource"]],
    }, status=201)  # fmt: skip

    # The cache is cold (every change emptied it): the first read fills it for every VEN.
    cache = client.server.app[EVENTS_CACHE]
    assert await _ids(client, plain) == sorted([made["all"], invitation["id"]])
    assert all(cache.get(v["ven"]) is not None for v in (north, south, plain))
    assert await _ids(client, north) == sorted([made["all"], made["north"]])
    assert await _ids(client, south) == sorted([made["all"], made["south"]])

    now = services.clock.now()
    async with services.db.read() as session:
        every = await every_ven_events(session, now)
        assert every is not None
        assert set(every) == {north["ven"], south["ven"], plain["ven"]}
        for ven in (north, south, plain):
            principal = Principal(ven["ven"], Role.VEN, ven["ven"], DEFAULT_SCOPES[Role.VEN])
            reader = await reader_of(session, principal, None)
            own = await _ven_events(session, now, principal, reader)
            assert every[ven["ven"]] == own
