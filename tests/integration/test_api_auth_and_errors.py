"""Auth on the admin API, and the JSON error answers for malformed or oversized requests."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import asyncpg
import pytest
import redis.exceptions as redis_errors
import sqlalchemy.exc as sa_exc
from aiohttp import web
from aiohttp.test_utils import TestClient

from gateway.db.models import VenReportRow
from gateway.http.errors import error_middleware
from gateway.http.routes import ROUTES
from gateway.services.container import Services
from tests.support import ADMIN_TOKEN, AUTH, Api, ChannelRecorder, in_minutes
from tests.vtn.test_conformance import register

WWW_AUTHENTICATE = 'Bearer realm="oadr-gateway"'

# One valid body per write route, so that with the token each request would succeed.
# Path parameters are filled in from the ids made by the `world` fixture.
WRITE_BODIES: dict[tuple[str, str], Callable[[dict[str, str]], Any]] = {
    ("POST", "/api/devices"): lambda ids: {"id": "new-dev", "timezone": "Europe/Paris"},
    ("PUT", "/api/devices/{device_id}/instructions"): lambda ids: {
        "instructions": {"0": "participation"}
    },
    ("POST", "/api/invitations"): lambda ids: {
        "event_time": in_minutes(180),
        "duration_minutes": 30,
        "load_kwh": 2.0,
        "devices": ["dev-1"],
    },
    ("POST", "/api/vens"): lambda ids: {"name": "ven-new", "fingerprint": None},
    ("PUT", "/api/invitations/{invitation_id}"): lambda ids: {
        "event_time": in_minutes(200),
        "duration_minutes": 20,
        "load_kwh": 1.0,
        "devices": ["dev-1"],
    },
    ("POST", "/api/invitations/{invitation_id}/cancel"): lambda ids: {"reason": "no longer needed"},
    ("POST", "/api/invitations/{invitation_id}/answers"): lambda ids: {
        "device_id": "dev-1",
        "answer": "YES",
        "committed_kw": 1.0,
    },
    ("POST", "/api/events"): lambda ids: {
        "start_time": in_minutes(90),
        "duration_minutes": 15,
        "devices": ["dev-1"],
        "target_kw": 1.0,
    },
    ("PUT", "/api/events/{event_id}"): lambda ids: {"priority": 3},
    ("POST", "/api/events/{event_id}/cancel"): lambda ids: {"reason": "not needed"},
    ("PUT", "/api/auto-response"): lambda ids: {"enabled": True, "max_reduction_percentage": 50.0},
    ("POST", "/api/programs"): lambda ids: {"name": "Evening", "market_context": "urn:evening"},
    ("PATCH", "/api/programs/{program_id}"): lambda ids: {"priority": 5},
    ("DELETE", "/api/programs/{program_id}"): lambda ids: None,
    ("PUT", "/api/programs/{program_id}/vens/{ven_id}"): lambda ids: None,
    ("DELETE", "/api/programs/{program_id}/vens/{ven_id}"): lambda ids: None,
    ("PUT", "/api/programs/{program_id}/devices/{device_id}"): lambda ids: None,
    ("DELETE", "/api/programs/{program_id}/devices/{device_id}"): lambda ids: None,
    ("PATCH", "/api/devices/{device_id}"): lambda ids: {"timezone": "Asia/Tokyo"},
    ("DELETE", "/api/devices/{device_id}"): lambda ids: None,
    ("PATCH", "/api/vens/{ven_id}"): lambda ids: {"name": "renamed", "push_address_style": "bare"},
    ("DELETE", "/api/vens/{ven_id}"): lambda ids: None,
    ("POST", "/api/vens/{ven_id}/cancel-registration"): lambda ids: None,
    ("POST", "/api/vens/{ven_id}/request-reregistration"): lambda ids: None,
    ("POST", "/api/vtn/metadata/publish"): lambda ids: None,
    ("POST", "/api/meter-history"): lambda ids: {
        "csv": "device_id,interval_start,kwh\ndev-1,2020-01-01T00:00:00Z,1.0\n"
    },
    ("POST", "/api/events/{event_id}/settlement"): lambda ids: None,
    ("POST", "/api/oadr3/clients"): lambda ids: {"client_id": "bl-new", "role": "BL"},
    ("DELETE", "/api/oadr3/clients/{client_id}"): lambda ids: None,
    ("POST", "/api/vens/{ven_id}/report-requests"): lambda ids: {"report_name": "TELEMETRY_STATUS"},
    ("POST", "/api/vens/{ven_id}/report-requests/{report_request_id}/cancel"): lambda ids: {},
}
# The world's event is scheduled: settling it is refused whoever asks (tests/settlement settles
# completed ones); past the token, that refusal is the route's own.
REFUSED_WITH_THE_TOKEN = {("POST", "/api/events/{event_id}/settlement"): 409}
# Reads of what the world does not have: the scheduled event has no settlement.
NOT_THERE_YET = {"/api/events/{event_id}/settlement"}
# Removing from a program needs someone enrolled first.
ENROLMENT_OF = {
    (
        "DELETE",
        "/api/programs/{program_id}/vens/{ven_id}",
    ): "/api/programs/{program_id}/vens/{ven_id}",
    ("DELETE", "/api/programs/{program_id}/devices/{device_id}"): (
        "/api/programs/{program_id}/devices/{device_id}"
    ),
}

# A device no invitation or event names: the one a DELETE may remove.
IDS_OF = {("DELETE", "/api/devices/{device_id}"): {"device_id": "dev-free"}}

WRITE_ROUTES = [(r.method, r.path) for r in ROUTES if r.method not in ("GET", "HEAD")]
READ_ROUTES = [r.path for r in ROUTES if r.method == "GET"]

BAD_AUTHORIZATIONS: list[dict[str, str]] = [
    {},
    {"Authorization": "Bearer wrong-token-0123456789abcdef"},
    {"Authorization": f"Bearer {ADMIN_TOKEN}x"},
    {"Authorization": f"Bearer {ADMIN_TOKEN[:-1]}"},
    {"Authorization": f"Bearer {ADMIN_TOKEN.upper()}"},
    {"Authorization": f"Basic {ADMIN_TOKEN}"},
    {"Authorization": ADMIN_TOKEN},
    {"Authorization": "Bearer "},
    {"Authorization": "Bearer"},
    {"Authorization": ""},
    {"X-Admin-Token": ADMIN_TOKEN},
]
BAD_AUTH_IDS = [
    "none",
    "wrong",
    "longer",
    "shorter",
    "upper-case",
    "basic",
    "no-scheme",
    "empty-bearer",
    "bare-bearer",
    "empty-header",
    "other-header",
]


def fill(path: str, ids: dict[str, str]) -> str:
    return path.format(**ids)


@pytest.fixture
async def world(api: Api, services: Services) -> dict[str, str]:
    """One device pair, one pending invitation and one scheduled event, a registered VEN
    that offered a TELEMETRY_STATUS point, and a report request of it."""
    await api.device("dev-1")
    await api.device("dev-2")
    await api.device("dev-free")
    invitation = await api.invite(["dev-1", "dev-2"])
    event = await api.post(
        "/api/events",
        {
            "start_time": in_minutes(60),
            "duration_minutes": 30,
            "devices": ["dev-2"],
            "target_kw": 2.0,
        },
        status=201,
    )
    ven = await api.post("/api/vens", {"name": "ven-world"}, status=201)
    await register(api, ven["ven_id"])  # what is asked of a VEN needs it registered
    program = await api.post(
        "/api/programs", {"name": "Peak", "market_context": "urn:peak"}, status=201
    )
    return {
        "device_id": "dev-1",
        "invitation_id": invitation["id"],
        "event_id": event["id"],
        "ven_id": ven["ven_id"],
        "program_id": program["id"],
        "client_id": (await api.post("/api/oadr3/clients", {"role": "VEN"}, status=201))[
            "client_id"
        ],
        "report_request_id": await _report_request(api, services, ven["ven_id"]),
    }


async def _report_request(api: Api, services: Services, ven_id: str) -> str:
    """A report request of a TELEMETRY_STATUS point the VEN offered (stored as the VTN
    stores an oadrRegisterReport's points)."""
    async with services.db.write() as session:
        session.add(VenReportRow(
            ven_id=ven_id, report_specifier_id="status", r_id="status",
            report_name="TELEMETRY_STATUS", resource_id=None, item_description=None,
            unit=None, scale=None, registered_at=services.clock.now(),
        ))  # fmt: skip
    body = {"report_name": "TELEMETRY_STATUS"}
    made = await api.post(f"/api/vens/{ven_id}/report-requests", body, status=201)
    return str(made["report_request_id"])


async def state_of(api: Api, ids: dict[str, str]) -> dict[str, Any]:
    """Everything a write route could change, read over the API."""
    return {
        "devices": await api.get("/api/devices"),
        "instructions": await api.get(f"/api/devices/{ids['device_id']}/instructions"),
        "invitations": await api.get("/api/invitations"),
        "invitation": await api.get(f"/api/invitations/{ids['invitation_id']}"),
        "events": await api.get("/api/events"),
        "auto_response": await api.get("/api/auto-response"),
        "vens": await api.get("/api/vens"),
        "programs": await api.get("/api/programs"),
        "history": await api.get(
            f"/api/devices/{ids['device_id']}/history",
            start="2020-01-01T00:00:00Z", end="2020-01-02T00:00:00Z",
        ),
        "oadr3_clients": await api.get("/api/oadr3/clients"),
    }  # fmt: skip


async def settle(api: Api, dr_events: ChannelRecorder) -> int:
    """Make a marker change and wait for its message; every earlier message has arrived."""
    marker = f"marker-{uuid.uuid4().hex[:10]}"
    await api.device(marker)
    await dr_events.wait_for(lambda ms: any(m.get("device_id") == marker for m in ms))
    return len(dr_events.messages)


def test_every_write_route_has_a_body_here() -> None:
    assert sorted(WRITE_ROUTES) == sorted(WRITE_BODIES)
    assert len(WRITE_ROUTES) == 31


@pytest.mark.parametrize(("method", "path"), WRITE_ROUTES)
async def test_write_without_a_valid_token_is_401_and_changes_nothing(
    api: Api,
    dr_events: ChannelRecorder,
    world: dict[str, str],
    method: str,
    path: str,
) -> None:
    """Every bad authorization on every write route; one world per route, not per header
    (that was eleven worlds for the same answers, a fifth of the suite's time)."""
    body = WRITE_BODIES[(method, path)](world)
    url = fill(path, {**world, **IDS_OF.get((method, path), {})})
    if (method, path) in ENROLMENT_OF:
        await api.put(fill(ENROLMENT_OF[(method, path)], world), None, status=200)
    mark = await settle(api, dr_events)
    before = await state_of(api, world)

    for headers, named in zip(BAD_AUTHORIZATIONS, BAD_AUTH_IDS, strict=True):
        resp = await api.client.request(method, url, json=body, headers=headers)
        data = await resp.json()
        assert resp.status == 401, (named, data)
        assert resp.headers["WWW-Authenticate"] == WWW_AUTHENTICATE, named
        assert resp.content_type == "application/json", named
        assert data["error"] == "unauthorized", named
        assert isinstance(data["message"], str), named
        assert data["message"], named
        assert "fields" not in data, named
        assert ADMIN_TOKEN not in data["message"], named

    assert await state_of(api, world) == before
    seen = await settle(api, dr_events)
    assert [m["event"] for m in dr_events.messages[mark:seen]] == ["device_registered"]

    # The same request with the token goes through: the 401 was about the token only.
    ok = await api.client.request(method, url, json=body, headers=AUTH)
    if (method, path) in REFUSED_WITH_THE_TOKEN:
        assert ok.status == REFUSED_WITH_THE_TOKEN[(method, path)], await ok.json()
        return
    assert ok.status in (200, 201, 204), await ok.json()
    assert await state_of(api, world) != before


@pytest.mark.parametrize("path", READ_ROUTES)
async def test_reads_need_no_token_by_default(
    client: TestClient[Any, Any], world: dict[str, str], path: str
) -> None:
    resp = await client.get(fill(path, world))
    data = await resp.json()
    if path in NOT_THERE_YET:  # past the token: the route's own answer
        assert (resp.status, data["error"]) == (404, "not_found"), data
        return
    assert resp.status == 200, data
    assert "error" not in data


@pytest.mark.parametrize("settings_overrides", [{"auth_reads": True}])
@pytest.mark.parametrize("path", READ_ROUTES)
async def test_reads_need_the_token_with_auth_reads(
    client: TestClient[Any, Any], world: dict[str, str], path: str
) -> None:
    url = fill(path, world)
    if path == "/health":
        resp = await client.get(url)
        assert resp.status == 200, await resp.json()
        return
    for headers in ({}, {"Authorization": "Bearer wrong-token-0123456789abcdef"}):
        resp = await client.get(url, headers=headers)
        data = await resp.json()
        assert resp.status == 401, data
        assert resp.headers["WWW-Authenticate"] == WWW_AUTHENTICATE
        assert data["error"] == "unauthorized"
    resp = await client.get(url, headers=AUTH)
    data = await resp.json()
    if path in NOT_THERE_YET:
        assert (resp.status, data["error"]) == (404, "not_found"), data
        return
    assert resp.status == 200, data
    assert "error" not in data


@pytest.mark.parametrize("settings_overrides", [{"auth_reads": True}])
async def test_health_and_openapi_stay_open_with_auth_reads(
    client: TestClient[Any, Any],
) -> None:
    health = await client.get("/health")
    assert health.status == 200
    assert (await health.json())["status"] == "ok"
    doc = await client.get("/api/openapi.json")
    assert doc.status == 200
    assert (await doc.json())["openapi"] == "3.1.0"


@pytest.mark.parametrize("settings_overrides", [{"auth_reads": True}])
async def test_auth_reads_still_protects_writes(client: TestClient[Any, Any], api: Api) -> None:
    resp = await client.post("/api/devices", json={"id": "d"})
    assert resp.status == 401
    assert (await api.client.get("/api/devices", headers=AUTH)).status == 200
    listed = await (await api.client.get("/api/devices", headers=AUTH)).json()
    assert listed == {"count": 0, "items": []}


# --------------------------------------------------------------------------- bad bodies


BODY_ROUTES = [
    ("POST", "/api/devices"),
    ("POST", "/api/invitations"),
    ("POST", "/api/events"),
    ("PUT", "/api/events/{event_id}"),
    ("PUT", "/api/auto-response"),
    ("PUT", "/api/devices/{device_id}/instructions"),
    ("POST", "/api/invitations/{invitation_id}/answers"),
    ("POST", "/api/events/{event_id}/cancel"),
    ("POST", "/api/programs"),
    ("PATCH", "/api/programs/{program_id}"),
]


MALFORMED = {
    "unterminated": b'{"id": "dev-9"',
    "js-style": b"{id: 'dev-9'}",
    "trailing-comma": b'{"id": "dev-9",}',
    "text": b"not json at all",
    "trailing-garbage": b'{"id": "dev-9"} trailing',
    "bad-utf8": b"\xff\xfe{}",
}
NOT_OBJECTS = {
    "list": b"[]", "list-of-object": b'[{"id": "dev-9"}]', "string": b'"dev-9"',
    "number": b"42", "null": b"null", "true": b"true",
}  # fmt: skip
EMPTY = {"empty": b"", "spaces": b"   ", "whitespace": b"\n\t"}


# What the message of each kind of bad body must say (beyond being there).
SAYS = {"malformed": "", "not an object": "object", "empty": ""}


@pytest.mark.parametrize(("method", "path"), BODY_ROUTES)
async def test_a_body_that_is_not_a_json_object_is_400_invalid_json(
    api: Api, world: dict[str, str], method: str, path: str
) -> None:
    """Malformed JSON, JSON that is not an object, and an empty body (except for a cancel,
    which takes one), every variant on one world per route."""
    kinds = {"malformed": MALFORMED, "not an object": NOT_OBJECTS, "empty": EMPTY}
    if path.endswith("/cancel"):
        del kinds["empty"]
    before = await state_of(api, world)
    for kind, bodies in kinds.items():
        for named, raw in bodies.items():
            resp = await api.client.request(
                method,
                fill(path, world),
                data=raw,
                headers={**AUTH, "Content-Type": "application/json"},
            )
            data = await resp.json()
            assert resp.status == 400, (kind, named, data)
            assert data["error"] == "invalid_json", (kind, named, data)
            assert data["message"], (kind, named)
            assert SAYS[kind] in data["message"], (kind, named, data)
    assert await state_of(api, world) == before


async def test_cancel_accepts_an_empty_body(api: Api, world: dict[str, str]) -> None:
    resp = await api.client.post(f"/api/events/{world['event_id']}/cancel", headers=AUTH)
    data = await resp.json()
    assert resp.status == 200, data
    assert data["status"] == "cancelled"
    assert data["cancel_reason"] == "cancelled by operator"


@pytest.mark.parametrize("settings_overrides", [{"max_body_bytes": 2048}])
@pytest.mark.parametrize(("method", "path"), BODY_ROUTES)
async def test_body_over_max_body_bytes_is_413_json(
    api: Api, world: dict[str, str], method: str, path: str
) -> None:
    before = await state_of(api, world)
    raw = b'{"id": "' + b"a" * 4096 + b'"}'
    resp = await api.client.request(
        method,
        fill(path, world),
        data=raw,
        headers={**AUTH, "Content-Type": "application/json"},
    )
    assert resp.status == 413
    assert resp.content_type == "application/json"
    data = await resp.json()
    assert data["error"] == "request_entity_too_large"
    assert isinstance(data["message"], str)
    assert data["message"]
    assert await state_of(api, world) == before


@pytest.mark.parametrize("settings_overrides", [{"max_body_bytes": 2048}])
async def test_body_just_under_max_body_bytes_is_read(api: Api) -> None:
    compact = json.dumps({"id": "dev-big", "timezone": "UTC"})
    body = compact + " " * (2000 - len(compact))  # JSON allows trailing whitespace
    assert len(body.encode()) == 2000
    resp = await api.client.post(
        "/api/devices", data=body, headers={**AUTH, "Content-Type": "application/json"}
    )
    assert resp.status == 201, await resp.json()


# --------------------------------------------------------------------------- routing errors


@pytest.mark.parametrize(
    "path", ["/api/nothing", "/nothing", "/api/devices/dev-1/nothing", "/api", "/api/devices/"]
)
async def test_unknown_route_is_404_json(client: TestClient[Any, Any], path: str) -> None:
    resp = await client.get(path)
    assert resp.status == 404
    assert resp.content_type == "application/json"
    data = await resp.json()
    assert data["error"] == "not_found"
    assert data["message"]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/invitations/x/answers"),
        ("GET", "/api/events/x/cancel"),
        ("DELETE", "/api/devices"),
        ("PATCH", "/api/auto-response"),
        ("PUT", "/api/invitations"),
        ("POST", "/health"),
        ("DELETE", "/api/openapi.json"),
    ],
)
async def test_wrong_method_is_405_json(
    client: TestClient[Any, Any], method: str, path: str
) -> None:
    resp = await client.request(method, path, headers=AUTH)
    assert resp.status == 405
    assert resp.content_type == "application/json"
    data = await resp.json()
    assert data["error"] == "method_not_allowed"
    assert data["message"]


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("GET", "/api/invitations/x/answers", {"POST"}),
        ("DELETE", "/api/devices", {"GET", "POST"}),
        ("PATCH", "/api/auto-response", {"GET", "PUT"}),
    ],
)
async def test_405_names_the_allowed_methods(
    client: TestClient[Any, Any], method: str, path: str, allowed: set[str]
) -> None:
    # RFC 9110, 15.5.6: a 405 response MUST carry an Allow header.
    resp = await client.request(method, path, headers=AUTH)
    assert resp.status == 405
    assert "Allow" in resp.headers, dict(resp.headers)
    given = {m.strip() for m in resp.headers["Allow"].split(",")} - {"HEAD"}
    assert given == allowed


async def test_unknown_id_is_404_json(api: Api) -> None:
    for path in (
        "/api/devices/ghost",
        "/api/devices/ghost/instructions",
        f"/api/invitations/{uuid.uuid4()}",
        f"/api/events/{uuid.uuid4()}",
    ):
        data = await api.get(path, status=404)
        assert data["error"] == "not_found"
        assert "fields" not in data


# --------------------------------------------------------------------------- health


async def test_health_reports_database_and_redis(client: TestClient[Any, Any]) -> None:
    resp = await client.get("/health")
    assert resp.status == 200
    data = await resp.json()
    assert data["status"] == "ok"
    assert data["database"]["ok"] is True
    assert data["redis"]["ok"] is True
    assert data == {
        "status": "ok",
        "database": {"ok": True, "detail": None},
        "redis": {"ok": True, "detail": None},
    }


# --------------------------------------------------------------------------- dependencies down


class _DriverError(Exception):
    """Stands for SQLAlchemy's emulated DBAPI error that wraps an asyncpg exception."""


def _driver_error(cause: BaseException) -> _DriverError:
    err = _DriverError(str(cause))
    err.__cause__ = cause
    return err


def _chained(err: BaseException, cause: BaseException) -> BaseException:
    err.__cause__ = cause
    return err


def _raised_while_handling(context: BaseException) -> KeyError:
    try:
        raise context
    except type(context):
        try:
            raise KeyError("a bug in an except block")
        except KeyError as bug:
            return bug


# Each of these means the database or Redis is down or unreachable: 503.
UNAVAILABLE: dict[str, BaseException] = {
    "connect-refused": ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 5432)"),
    "connect-timeout": TimeoutError(),
    "asyncio-multiple-addresses": OSError("Multiple exceptions: [Errno 111] ..., [Errno 99] ..."),
    "pg-starting-up": asyncpg.CannotConnectNowError("the database system is starting up"),
    "pg-shutdown": asyncpg.AdminShutdownError("terminating connection due to administrator"),
    "pg-too-many-connections": asyncpg.TooManyConnectionsError("sorry, too many clients"),
    "pg-connection-closed": asyncpg.ConnectionDoesNotExistError("connection was closed"),
    "sa-wrapped-connection-closed": sa_exc.DBAPIError(
        "SELECT 1", {}, _driver_error(asyncpg.ConnectionDoesNotExistError("closed"))
    ),
    "sa-interface-invalidated": sa_exc.InterfaceError(
        "SELECT 1", {}, _DriverError("connection is closed"), connection_invalidated=True
    ),
    "sa-operational": sa_exc.OperationalError("BEGIN", {}, _DriverError("database is locked")),
    "sa-pool-timeout": sa_exc.TimeoutError("QueuePool limit of size 10 overflow 20 reached"),
    "redis-connection": redis_errors.ConnectionError("Error 111 connecting to 127.0.0.1:6379"),
    "redis-timeout": redis_errors.TimeoutError("Timeout reading from 127.0.0.1:6379"),
    "redis-loading": redis_errors.BusyLoadingError("Redis is loading the dataset in memory"),
    "explicitly-caused-by-a-reset": _chained(RuntimeError("lost"), ConnectionResetError(104, "x")),
}
# Genuine bugs, however close they look: 500.
BUGS: dict[str, BaseException] = {
    "key-error": KeyError("x"),
    "file-not-found": FileNotFoundError(2, "No such file or directory"),
    "permission": PermissionError(13, "Permission denied"),
    "sa-integrity": sa_exc.IntegrityError("INSERT", {}, _DriverError("duplicate key")),
    "sa-programming": sa_exc.ProgrammingError("SELEC 1", {}, _DriverError("syntax error")),
    "sa-wrapped-other": sa_exc.DBAPIError("SELECT 1", {}, _driver_error(ValueError("bad"))),
    "pg-misuse": asyncpg.InterfaceError("cannot perform operation: another operation is running"),
    "redis-wrongtype": redis_errors.ResponseError("WRONGTYPE Operation against a key"),
    "bug-while-handling-a-reset": _raised_while_handling(ConnectionResetError(104, "x")),
}


async def _status_for(aiohttp_client: Any, err: BaseException) -> tuple[int, dict[str, Any]]:
    async def handler(request: web.Request) -> web.Response:
        raise err

    app = web.Application(middlewares=[error_middleware])
    app.router.add_get("/boom", handler)
    client = await aiohttp_client(app)
    resp = await client.get("/boom")
    assert resp.content_type == "application/json"
    return resp.status, await resp.json()


@pytest.mark.parametrize("err", UNAVAILABLE.values(), ids=UNAVAILABLE.keys())
async def test_a_dependency_down_is_503_unavailable(
    aiohttp_client: Any, err: BaseException
) -> None:
    status, body = await _status_for(aiohttp_client, err)
    assert (status, body["error"]) == (503, "unavailable")
    assert body["message"] == "a dependency (database or Redis) is down"


@pytest.mark.parametrize("err", BUGS.values(), ids=BUGS.keys())
async def test_a_bug_stays_500_internal_error(aiohttp_client: Any, err: BaseException) -> None:
    status, body = await _status_for(aiohttp_client, err)
    assert (status, body) == (500, {"error": "internal_error", "message": "internal error"})
