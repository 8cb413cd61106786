"""Stock OpenADR 3 clients (``openadr3`` from PyPI) as VEN and business logic, each with a
token from ``/auth/token``; every answer they get is checked against openadr3.yaml."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from aiohttp.test_utils import TestClient
from openadr3 import OpenADRClient, create_bl_client, create_ven_client
from openadr3.auth import fetch_token

from tests.oadr3.spec import check
from tests.oadr3.support import BASE, provision


class Peer:
    """One client; ``call`` runs a method of the stock client off the event loop (it is
    synchronous) and checks the answer against the spec."""

    def __init__(self, client: OpenADRClient, base: str, client_id: str, token: str) -> None:
        self.client = client
        self.token = token
        self.base = base
        self.client_id = client_id

    async def raw(self, method: str, *args: Any, **params: Any) -> httpx.Response:
        """The call, its answer not checked (a 503 is not among the spec's answers)."""
        response: httpx.Response = await asyncio.to_thread(
            getattr(self.client, method), *args, **params
        )
        return response

    async def call(self, method: str, *args: Any, **params: Any) -> httpx.Response:
        response = await self.raw(method, *args, **params)
        request = response.request
        check(
            request.method, str(request.url), self.base, response.status_code,
            response.headers.get("content-type", "").split(";")[0], response.content,
        )  # fmt: skip
        return response

    async def ok(self, method: str, *args: Any, status: int = 200, **params: Any) -> Any:
        response = await self.call(method, *args, **params)
        assert response.status_code == status, (method, response.status_code, response.text)
        return response.json()

    def close(self) -> None:
        self.client.close()


async def peer(web: TestClient[Any, Any], role: str, client_id: str) -> Peer:
    credentials = await provision(web, role, client_id)
    base = str(web.make_url(BASE))
    token = await asyncio.to_thread(fetch_token, base, client_id, credentials["client_secret"])
    make = create_ven_client if role == "VEN" else create_bl_client
    return Peer(make(base, token), base, client_id, token)
