"""Fixtures: the gateway with its 3.x notification engine, callers, a webhook receiver."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from gateway.app import build_app
from gateway.http.handlers import SERVICES
from gateway.oadr3.models import Oadr3ObjectRow
from gateway.settings import Settings
from tests.oadr3.notify.receiver import WebhookReceiver
from tests.oadr3.support import BASE, bearer, provision, token_of
from tests.support import ADMIN_TOKEN

__all__ = ["BASE", "Tokens", "notify_app", "subscription"]


class Tokens:
    """Real clients of the 3.x API: provisioned in the admin API, tokens from /auth/token."""

    def __init__(self, client: TestClient[Any, Any]) -> None:
        self._client = client
        self._made: dict[str, dict[str, str]] = {}

    async def bl(self, client_id: str = "bl-1") -> dict[str, str]:
        if client_id not in self._made:
            credentials = await provision(self._client, "BL", client_id)
            self._made[client_id] = bearer(await token_of(self._client, credentials))
        return self._made[client_id]

    async def ven(self, client_id: str, ven_id: str | None = None) -> dict[str, str]:
        """A VEN client; with ``ven_id``, the 3.x VEN object it owns (stored as the 3.x API
        stores one: its row shares the core VEN's id and names the client)."""
        if client_id not in self._made:
            credentials = await provision(self._client, "VEN", client_id)
            self._made[client_id] = bearer(await token_of(self._client, credentials))
            if ven_id is not None:
                now = datetime.now(UTC)
                db = self._client.server.app[SERVICES].db
                async with db.write() as session:
                    session.add(
                        Oadr3ObjectRow(
                            kind="VEN", id=ven_id, client_id=client_id, document={},
                            created_at=now, modified_at=now,
                        )
                    )  # fmt: skip
        return self._made[client_id]


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {
        "oadr3_webhook_allow_http": True,
        "oadr3_webhook_allow_private": True,
        "oadr3_webhook_timeout_seconds": 2.0,
        "oadr3_webhook_retry_first_seconds": 0.05,
        "oadr3_webhook_retry_max_seconds": 0.2,
        "oadr3_webhook_broken_after": 4,
    }


def notify_app(settings: Settings) -> web.Application:
    return build_app(settings, admin_token=ADMIN_TOKEN, run_workers=False)


@pytest.fixture
async def client(aiohttp_client: Any, settings: Settings, redis: Any) -> TestClient[Any, Any]:
    return await aiohttp_client(notify_app(settings))  # type: ignore[no-any-return]


@pytest.fixture
def tokens(client: TestClient[Any, Any]) -> Tokens:
    return Tokens(client)


@pytest.fixture
async def receiver() -> AsyncIterator[WebhookReceiver]:
    hook = WebhookReceiver()
    await hook.start()
    yield hook
    await hook.stop()


def subscription(
    url: str, objects: list[str], operations: list[str] | None = None, **extra: Any
) -> dict[str, Any]:
    return {
        "clientName": "test-client",
        "objectOperations": [
            {
                "objects": objects,
                "operations": operations or ["CREATE", "UPDATE", "DELETE"],
                "callbackUrl": url,
                "bearerToken": "hook-secret",
            }
        ],
        **extra,
    }
