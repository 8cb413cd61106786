"""Helpers of the OpenADR 3 tests: provisioning clients through the admin API, tokens."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from tests.support import AUTH

BASE = "/openadr3/3.1.0"


async def provision(
    client: TestClient[Any, Any], role: str, client_id: str, **extra: Any
) -> dict[str, Any]:
    resp = await client.post(
        "/api/oadr3/clients", json={"client_id": client_id, "role": role, **extra}, headers=AUTH
    )
    body: dict[str, Any] = await resp.json()
    assert resp.status == 201, body
    return body


async def token_of(client: TestClient[Any, Any], credentials: dict[str, Any]) -> str:
    resp = await client.post(
        f"{BASE}/auth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": credentials["client_id"],
            "client_secret": credentials["client_secret"],
        },
    )
    body = await resp.json()
    assert resp.status == 200, body
    return str(body["access_token"])


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
