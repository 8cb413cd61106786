"""OAuth2 client credentials of the 3.x API (openadr3.yaml /auth/server, /auth/token; RFC 6749
§2.3.1: "The authorization server MUST support the HTTP Basic authentication scheme")."""

from __future__ import annotations

import asyncio
import base64
from typing import Any
from urllib.parse import quote_plus

import aiohttp
import httpx
import jwt
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from openadr3.auth import fetch_token

from gateway.app import build_app
from gateway.oadr3 import wiring
from gateway.oadr3.auth import principal_of
from gateway.settings import Settings
from tests.oadr3.support import BASE, bearer, provision, token_of
from tests.support import ADMIN_TOKEN, AUTH, free_port

WHOAMI = f"{BASE}/whoami"


async def _whoami(request: web.Request) -> web.Response:
    who = await principal_of(request)
    return web.json_response(
        {"client_id": who.client_id, "role": who.role.value, "ven_id": who.ven_id,
         "scopes": sorted(who.scopes)}
    )  # fmt: skip


def _add_whoami(api: web.Application) -> None:
    api.router.add_get("/whoami", _whoami)


@pytest.fixture
async def client(
    aiohttp_client: Any, settings: Settings, redis: Any, monkeypatch: pytest.MonkeyPatch
) -> TestClient[Any, Any]:
    """The gateway with one extra 3.x route that answers who the caller is, as a route of the
    notifications would (the seam under test)."""
    monkeypatch.setattr(wiring, "ROUTE_TABLES", (*wiring.ROUTE_TABLES, _add_whoami))
    app = build_app(settings, admin_token=ADMIN_TOKEN, run_workers=False)
    return await aiohttp_client(app)  # type: ignore[no-any-return]


async def test_provisioning_needs_the_admin_token_and_shows_the_secret_once(
    client: TestClient[Any, Any],
) -> None:
    resp = await client.post("/api/oadr3/clients", json={"role": "VEN"})
    assert resp.status == 401
    created = await provision(client, "VEN", "ven-1")
    assert created["role"] == "VEN"
    assert len(created["client_secret"]) >= 32
    assert created["scopes"] == [
        "read_targets", "read_ven_objects", "write_reports", "write_subscriptions", "write_vens",
    ]  # fmt: skip
    listed = await (await client.get("/api/oadr3/clients", headers=AUTH)).json()
    assert [c["client_id"] for c in listed["items"]] == ["ven-1"]
    assert "client_secret" not in listed["items"][0]
    again = await client.post("/api/oadr3/clients", json={"client_id": "ven-1", "role": "BL"},
                              headers=AUTH)  # fmt: skip
    assert again.status == 409


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"role": "VEN", "scopes": ["write_programs"]}, "scopes"),
        ({"role": "BL", "scopes": ["write_reports"]}, "scopes"),
        ({"role": "BL", "scopes": ["fly"]}, "scopes"),
        ({"role": "ADMIN"}, "role"),
        ({"role": "VEN", "client_id": "no spaces"}, "client_id"),
    ],
)
async def test_a_bad_client_is_refused_naming_the_field(
    client: TestClient[Any, Any], body: dict[str, Any], field: str
) -> None:
    resp = await client.post("/api/oadr3/clients", json=body, headers=AUTH)
    data = await resp.json()
    assert resp.status == 422, data
    assert field in {f["field"].split(".")[0] for f in data["fields"]}  # scopes.0: the item
    listed = await (await client.get("/api/oadr3/clients", headers=AUTH)).json()
    assert listed["count"] == 0


async def test_auth_server_names_the_token_url(client: TestClient[Any, Any]) -> None:
    resp = await client.get(f"{BASE}/auth/server")
    assert resp.status == 200
    url = (await resp.json())["tokenURL"]
    assert url == str(client.make_url(f"{BASE}/auth/token"))


async def test_a_stock_openadr3_client_gets_a_token_with_the_body_credentials(
    client: TestClient[Any, Any],
) -> None:
    created = await provision(client, "BL", "bl-1")
    base = str(client.make_url(BASE))
    token = await asyncio.to_thread(fetch_token, base, "bl-1", created["client_secret"])
    who = await (await client.get(WHOAMI, headers=bearer(token))).json()
    assert who == {
        "client_id": "bl-1", "role": "BL", "ven_id": None,
        "scopes": ["read_all", "write_events", "write_programs", "write_subscriptions",
                   "write_vens"],
    }  # fmt: skip


async def test_http_basic_credentials_are_form_encoded_first(
    client: TestClient[Any, Any],
) -> None:
    created = await provision(client, "VEN", "ven.a~b")
    pair = f"{quote_plus('ven.a~b')}:{quote_plus(created['client_secret'])}"
    basic = {"Authorization": "Basic " + base64.b64encode(pair.encode()).decode()}
    resp = await client.post(
        f"{BASE}/auth/token", data={"grant_type": "client_credentials", "scope": "write_reports"},
        headers=basic,
    )  # fmt: skip
    body = await resp.json()
    assert resp.status == 200, body
    assert body["token_type"] == "Bearer"
    assert body["scope"] == "write_reports"
    assert body["expires_in"] == 3600
    who = await (await client.get(WHOAMI, headers=bearer(body["access_token"]))).json()
    assert who["role"] == "VEN"
    assert who["scopes"] == ["write_reports"]


@pytest.mark.parametrize(
    ("form", "status", "error"),
    [
        ({"grant_type": "password"}, 400, "unsupported_grant_type"),
        ({}, 400, "invalid_request"),
        ({"grant_type": "client_credentials", "client_secret": "x"}, 401, "invalid_client"),
        ({"grant_type": "client_credentials", "client_id": "ven-1", "client_secret": "wrong"},
         401, "invalid_client"),
        ({"grant_type": "client_credentials", "client_id": "nobody", "client_secret": "x"},
         401, "invalid_client"),
        ({"grant_type": "client_credentials", "client_id": "ven-1", "scope": "write_programs"},
         400, "invalid_scope"),
    ],
)  # fmt: skip
async def test_a_bad_token_request_gets_the_rfc_error_in_a_problem_body(
    client: TestClient[Any, Any], form: dict[str, str], status: int, error: str
) -> None:
    created = await provision(client, "VEN", "ven-1")
    if form.get("scope"):
        form = {**form, "client_secret": created["client_secret"]}
    resp = await client.post(f"{BASE}/auth/token", data=form)
    body = await resp.json()
    assert resp.status == status, body
    assert body["error"] == error
    assert body["status"] == status
    assert body["detail"]


async def test_a_token_is_refused_when_bad_expired_or_its_client_is_deleted(
    client: TestClient[Any, Any], settings: Settings
) -> None:
    assert (await client.get(WHOAMI)).status == 401
    assert (await client.get(WHOAMI, headers=bearer("not.a.jwt"))).status == 401
    created = await provision(client, "VEN", "ven-1")
    token = await token_of(client, created)
    claims = jwt.decode(token, options={"verify_signature": False})
    forged = jwt.encode({**claims, "role": "BL"}, "another key of at least 32 characters!")
    resp = await client.get(WHOAMI, headers=bearer(forged))
    assert resp.status == 401
    assert "signature" in (await resp.json())["detail"].lower()
    key = (settings.data_dir / "oadr3_token_key").read_text().strip()
    expired = jwt.encode({**claims, "exp": claims["iat"] - 10}, key, algorithm="HS256")
    assert (await client.get(WHOAMI, headers=bearer(expired))).status == 401
    assert (await client.get(WHOAMI, headers=bearer(token))).status == 200
    assert (await client.delete("/api/oadr3/clients/ven-1", headers=AUTH)).status == 200
    resp = await client.get(WHOAMI, headers=bearer(token))
    assert resp.status == 401
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")

    assert (await resp.json())["title"] == "Unauthorized"


async def test_the_stock_client_fails_on_a_wrong_secret(client: TestClient[Any, Any]) -> None:
    await provision(client, "VEN", "ven-1")
    base = str(client.make_url(BASE))
    with pytest.raises(httpx.HTTPStatusError) as raised:
        await asyncio.to_thread(fetch_token, base, "ven-1", "wrong")
    assert raised.value.response.status_code == 401


async def test_the_api_can_have_a_port_of_its_own(
    aiohttp_client: Any, settings: Settings, redis: Any
) -> None:
    port = free_port()
    own = settings.model_copy(update={"oadr3_port": port})
    admin = await aiohttp_client(build_app(own, admin_token=ADMIN_TOKEN, run_workers=False))
    created = await provision(admin, "BL", "bl-1")
    assert (await admin.get(f"{BASE}/auth/server")).status == 404  # not on the admin port
    base = f"http://127.0.0.1:{port}{BASE}"
    token = await asyncio.to_thread(fetch_token, base, "bl-1", created["client_secret"])
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{base}/programs", headers=bearer(token)) as resp,
    ):
        assert resp.status == 200
        assert [p["programName"] for p in await resp.json()] == ["Default program"]
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{base}/notifiers", headers=bearer(token)) as resp,
    ):
        assert resp.status == 200, await resp.text()  # notifications are served there too
        assert "WEBHOOK" in await resp.text()
