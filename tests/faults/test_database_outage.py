"""PostgreSQL cut (through a TCP proxy the test stops) and restored, and Redis likewise.

While a dependency is down every admin route that needs it answers 503 with the JSON error
body, within seconds; once it is back the same gateway works again without a restart, and
nothing it accepted is lost or half-stored.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from gateway.app import build_app
from gateway.db.models import OutboxRow
from gateway.http.handlers import SERVICES
from gateway.http.routes import ROUTES, Route
from gateway.services.container import Services
from gateway.settings import Settings
from tests.conftest import POSTGRES_URL, REDIS_URL
from tests.faults.tcp_proxy import TcpProxy
from tests.integration.test_api_auth_and_errors import WRITE_BODIES, _report_request
from tests.support import ADMIN_TOKEN, AUTH, Api, ChannelRecorder, in_minutes
from tests.vtn.test_conformance import register

pytestmark = pytest.mark.postgres

UNAVAILABLE = {"error": "unavailable", "message": "a dependency (database or Redis) is down"}
ADMIN_ROUTES = [r for r in ROUTES if r.path != "/health"]
# A cut (refused, reset) must be answered at once; a server that hangs within the engine's
# ping and connect timeouts (gateway/db/engine.py), with room for a loaded machine.
PROMPT_SECONDS = 3.0
HUNG_SECONDS = 9.0
# With everything up, what a route answers for the world's ids when that is not its success:
# the world's event is scheduled, so it has no settlement and cannot be settled yet.
UP_STATUS = {
    "GET /api/events/{event_id}/settlement": 404,
    "POST /api/events/{event_id}/settlement": 409,
}


def _port(url: str | None, default: int) -> int:
    return (make_url(url).port or default) if url else default


def _redis_db(url: str) -> str:
    return url.rsplit("/", 1)[-1] if url.count("/") > 2 else "0"


@pytest.fixture
async def pg_proxy() -> AsyncIterator[TcpProxy]:
    proxy = TcpProxy(_port(POSTGRES_URL, 5432))
    await proxy.start()
    yield proxy
    await proxy.stop()


@pytest.fixture
def database_url(postgres_url: str, pg_proxy: TcpProxy) -> str:
    """This test's fresh PostgreSQL database, reached through the proxy."""
    url = make_url(postgres_url).set(host="127.0.0.1", port=pg_proxy.port)
    return url.render_as_string(hide_password=False)


async def world(api: Api) -> dict[str, str]:
    """Ids for every path parameter; the answers get an invitation of their own, since the
    cancel route (run before them) closes the other one."""
    await api.device("dev-1")
    await api.device("dev-2")
    await api.device("dev-free")
    invitation = await api.invite(["dev-1", "dev-2"])
    answered = await api.invite(["dev-1", "dev-2"])
    event_body = {"start_time": in_minutes(60), "duration_minutes": 30, "devices": ["dev-2"]}
    event = await api.post("/api/events", {**event_body, "target_kw": 1.0}, status=201)
    ven = await api.post("/api/vens", {"name": "ven-world"}, status=201)
    await register(api, ven["ven_id"])  # what is asked of a VEN needs it registered
    program = await api.post(
        "/api/programs", {"name": "Peak", "market_context": "urn:peak"}, status=201
    )
    return {
        "program_id": program["id"],
        "device_id": "dev-1",
        "free_device_id": "dev-free",
        "invitation_id": invitation["id"],
        "answer_invitation_id": answered["id"],
        "event_id": event["id"],
        "ven_id": ven["ven_id"],
        "client_id": (await api.post("/api/oadr3/clients", {"role": "VEN"}, status=201))[
            "client_id"
        ],
        "report_request_id": await _report_request(
            api, api.client.server.app[SERVICES], ven["ven_id"]
        ),
    }


def request_of(route: Route, ids: dict[str, str]) -> tuple[str, Any]:
    """The route's URL and a valid body: with everything up, it answers ``route.status``."""
    params = dict(ids)
    if route.path.endswith("/answers"):
        params["invitation_id"] = ids["answer_invitation_id"]
    if (route.method, route.path) == ("DELETE", "/api/devices/{device_id}"):
        params["device_id"] = ids["free_device_id"]  # one that nothing names: 204
    body = WRITE_BODIES[(route.method, route.path)](ids) if route.body is not None else None
    return route.path.format(**params), body


async def call(client: TestClient[Any, Any], route: Route, ids: dict[str, str]) -> Any:
    url, body = request_of(route, ids)
    started = time.monotonic()
    async with asyncio.timeout(30):  # a hang fails here, not at the suite's timeout
        resp = await client.request(route.method, url, json=body, headers=AUTH)
        data = None if resp.status == 204 else await resp.json()
    return resp.status, data, time.monotonic() - started


async def test_every_admin_route_answers_503_while_the_database_is_cut(
    api: Api, pg_proxy: TcpProxy
) -> None:
    ids = await world(api)
    await pg_proxy.stop()

    health = await api.client.get("/health")
    body = await health.json()
    assert (health.status, body["status"]) == (503, "degraded")
    assert body["database"]["ok"] is False
    assert "ConnectionRefusedError" in body["database"]["detail"]
    assert body["redis"] == {"ok": True, "detail": None}
    cut: dict[str, Any] = {}
    for route in ADMIN_ROUTES:
        status, data, took = await call(api.client, route, ids)
        cut[f"{route.method} {route.path}"] = (status, data, took < PROMPT_SECONDS)
    assert cut == {name: (503, UNAVAILABLE, True) for name in cut}

    await pg_proxy.start()
    back: dict[str, Any] = {}
    for route in ADMIN_ROUTES:
        status, data, _ = await call(api.client, route, ids)
        back[f"{route.method} {route.path}"] = status
    assert back == {
        f"{r.method} {r.path}": UP_STATUS.get(f"{r.method} {r.path}", r.status)
        for r in ADMIN_ROUTES
    }
    assert (await api.client.get("/health")).status == 200


async def test_pooled_connections_cut_while_idle_are_replaced(api: Api, pg_proxy: TcpProxy) -> None:
    await api.device("dev-1")
    # Several connections into the pool at once, then every one of them cut.
    await asyncio.gather(*(api.get("/api/devices/dev-1") for _ in range(8)))
    before = pg_proxy.accepted
    await pg_proxy.stop()
    await pg_proxy.start()

    reads = await asyncio.gather(*(api.client.get("/api/devices/dev-1") for _ in range(8)))
    assert [r.status for r in reads] == [200] * 8
    written = await api.client.post("/api/devices", json={"id": "dev-2"}, headers=AUTH)
    assert written.status == 201
    assert pg_proxy.accepted > before  # new connections replaced the dead ones


async def test_a_database_that_hangs_answers_503_within_seconds(
    api: Api, pg_proxy: TcpProxy
) -> None:
    await api.device("dev-1")
    pg_proxy.blackhole()  # connections stay open and accepted, but nothing comes back

    for method, path, body in [
        ("GET", "/api/devices/dev-1", None),
        ("POST", "/api/devices", {"id": "dev-2"}),
    ]:
        started = time.monotonic()
        async with asyncio.timeout(30):
            resp = await api.client.request(method, path, json=body, headers=AUTH)
            data = await resp.json()
        assert (resp.status, data) == (503, UNAVAILABLE)
        assert time.monotonic() - started < HUNG_SECONDS
    started = time.monotonic()
    health = await api.client.get("/health")
    assert health.status == 503
    assert (await health.json())["database"]["ok"] is False
    assert time.monotonic() - started < PROMPT_SECONDS  # /health has a 2 s bound of its own

    await pg_proxy.stop()  # the hung connections are cut; the server answers again
    await pg_proxy.start()
    assert (await api.get("/api/devices"))["count"] == 1  # dev-2 was refused, not stored
    await api.device("dev-2")


# --------------------------------------------------------------------------- cut under load

SPACING = 0.05  # seconds between the burst's requests: 3.2 s in all, the cut inside it
CUT_AT, CUT_FOR = 0.8, 1.0


async def _cut_and_restore(proxy: TcpProxy, at: float, seconds: float) -> tuple[float, float]:
    await asyncio.sleep(at)
    cut = time.monotonic()
    await proxy.stop()
    await asyncio.sleep(seconds)
    await proxy.start()
    return cut, time.monotonic()


async def test_writes_during_a_cut_are_stored_exactly_when_acknowledged(
    api: Api, services: Services, pg_proxy: TcpProxy, dr_events: ChannelRecorder
) -> None:
    devices = [f"dev-{n}" for n in range(4)]
    for device in devices:
        await api.device(device)
    invitations = [(await api.invite(devices))["id"] for _ in range(6)]
    writes: list[tuple[str, Any]] = [("/api/devices", {"id": f"new-{n:02}"}) for n in range(40)]
    writes += [
        (f"/api/invitations/{inv}/answers", {"device_id": d, "answer": "YES", "committed_kw": 1})
        for inv in invitations
        for d in devices
    ]
    writes = writes[::2] + writes[1::2]  # creates and answers interleaved over the burst

    async def send(n: int, path: str, body: Any) -> int:
        await asyncio.sleep(n * SPACING)
        async with asyncio.timeout(30):
            resp = await api.client.post(path, json=body, headers=AUTH)
            await resp.read()
        return resp.status

    sent = [send(n, path, body) for n, (path, body) in enumerate(writes)]
    *statuses, _ = await asyncio.gather(*sent, _cut_and_restore(pg_proxy, CUT_AT, CUT_FOR))
    assert set(statuses) <= {201, 503}, statuses  # never 500
    assert statuses.count(503) >= 5, statuses  # the cut fell in the burst
    assert statuses.count(201) >= 5, statuses

    await services.publisher.flush()  # what stayed queued in the outbox goes out now
    stored = {d["id"]: d for d in (await api.get("/api/devices"))["items"]}
    answers = {}
    for inv in invitations:
        view = await api.get(f"/api/invitations/{inv}")
        got = {(inv, a["device_id"]): (a["answer"], a["committed_kw"]) for a in view["answers"]}
        answers.update(got)
        # Decided exactly when every device's answer is stored, never half way.
        if len(got) == len(devices):
            assert view["status"] == "scheduled", view
            event = await api.get(f"/api/events/{view['event_id']}")
            assert (event["status"], event["invitation_id"]) == ("scheduled", inv)
        else:
            assert (view["status"], view["event_id"]) == ("pending", None), view
    for (path, body), status in zip(writes, statuses, strict=True):
        if path == "/api/devices":
            key: Any = body["id"]
            kept = key in stored
        else:
            key = (path.split("/")[3], body["device_id"])
            kept = key in answers
            if kept:
                assert answers[key] == ("YES", 1.0)  # whole, as sent
        if status == 201:
            assert kept, (path, body)  # acknowledged, so stored
        # A 503 whose commit reached the server before the cut is stored (whole); the client
        # retrying it would get 409. Anything else the 503 left behind would be half-stored.

    # Each stored change has its dr_events message, published once the database is back (a
    # publish cut before its outbox delete committed repeats the same message_id).
    new_devices = {d for d in stored if d.startswith("new-")}

    def announced(ms: list[dict[str, Any]]) -> tuple[set[Any], set[Any]]:
        registered = {m["device_id"] for m in ms if m["event"] == "device_registered"}
        answered = {
            (m["invitation_id"], m["device_id"]) for m in ms if m["event"] == "invitation_answered"
        }
        return registered & {f"new-{n:02}" for n in range(40)}, answered

    await dr_events.wait_for(lambda ms: announced(ms) == (new_devices, set(answers)))
    async with services.db.read() as session:
        assert await session.scalar(select(func.count()).select_from(OutboxRow)) == 0


# --------------------------------------------------------------------------- Redis


@pytest.fixture
async def redis_proxy() -> AsyncIterator[TcpProxy]:
    """In front of the shared Redis: stopping the proxy takes Redis away from this gateway
    only."""
    proxy = TcpProxy(_port(REDIS_URL, 6379))
    await proxy.start()
    yield proxy
    await proxy.stop()


@pytest.fixture
async def redis_down_api(
    aiohttp_client: Any,
    tmp_path: Path,
    sqlite_url: str,
    redis_prefix: str,
    redis: Redis,  # removes this test's keys afterwards
    redis_proxy: TcpProxy,
) -> Api:
    """A gateway on SQLite whose Redis (the proxy) can be cut. It needs Redis to start."""
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=sqlite_url,
        redis_url=f"redis://127.0.0.1:{redis_proxy.port}/{_redis_db(REDIS_URL)}",
        redis_prefix=redis_prefix,
        admin_token=ADMIN_TOKEN,
        flexibility_snapshot_interval_seconds=0,
    )
    app = build_app(settings, admin_token=ADMIN_TOKEN, run_workers=False)
    return Api(await aiohttp_client(app))


# Flexibility is computed from the power readings in Redis, and a VEN's last messages are kept
# there. Everything else keeps working without it: writes queue their dr_events messages in the
# outbox, reads skip the cache.
NEEDS_REDIS = {"GET /api/flexibility", "GET /api/vens/{ven_id}/messages"}


async def test_with_redis_down_only_what_needs_redis_answers_503(
    redis_down_api: Api, redis_proxy: TcpProxy
) -> None:
    api = redis_down_api
    ids = await world(api)
    await redis_proxy.stop()

    health = await api.client.get("/health")
    body = await health.json()
    assert (health.status, body["status"]) == (503, "degraded")
    assert body["database"] == {"ok": True, "detail": None}
    assert body["redis"]["ok"] is False
    assert body["redis"]["detail"].startswith("ConnectionError")
    seen: dict[str, Any] = {}
    expected: dict[str, Any] = {}
    for route in ADMIN_ROUTES:
        name = f"{route.method} {route.path}"
        status, data, took = await call(api.client, route, ids)
        seen[name] = (status, data if status >= 400 else "ok", took < PROMPT_SECONDS)
        needs = name in NEEDS_REDIS
        up = UP_STATUS.get(name, route.status)
        answer = "ok" if up < 400 else data
        expected[name] = (503, UNAVAILABLE, True) if needs else (up, answer, True)
    assert seen == expected

    await redis_proxy.start()
    assert (await api.client.get("/health")).status == 200
    assert (await api.client.get("/api/flexibility")).status == 200


async def test_a_redis_that_hangs_answers_503_within_seconds(
    redis_down_api: Api, redis_proxy: TcpProxy
) -> None:
    api = redis_down_api
    await api.device("dev-1")
    redis_proxy.blackhole()
    started = time.monotonic()
    async with asyncio.timeout(30):
        resp = await api.client.get("/api/flexibility")
        data = None if resp.status == 204 else await resp.json()
    assert (resp.status, data) == (503, UNAVAILABLE)
    assert time.monotonic() - started < HUNG_SECONDS  # redis-py's 5 s socket timeout
    started = time.monotonic()
    assert (await api.client.get("/health")).status == 503
    assert time.monotonic() - started < PROMPT_SECONDS
    await redis_proxy.stop()
    await redis_proxy.start()
    assert (await api.client.get("/api/flexibility")).status == 200


async def test_an_invitation_with_auto_response_due_at_once_and_redis_down(
    redis_down_api: Api, redis_proxy: TcpProxy
) -> None:
    api = redis_down_api
    await api.device("dev-1")
    auto = {"enabled": True, "response_delay_seconds": 0, "min_notice_minutes": 0}
    await api.put("/api/auto-response", auto, status=200)
    await redis_proxy.stop()

    resp = await api.client.post(
        "/api/invitations",
        json={"event_time": in_minutes(120), "load_kwh": 2.0, "devices": ["dev-1"]},
        headers=AUTH,
    )
    listed = await api.get("/api/invitations")
    # A 503 must have changed nothing; anything stored must have been answered 201.
    assert (resp.status, listed["count"]) in {(503, 0), (201, 1)}
    assert resp.status == 201
    (stored,) = listed["items"]
    assert stored["status"] == "pending"  # answered by the worker once Redis is back
    assert stored["auto_response"]["due_at"] is not None
