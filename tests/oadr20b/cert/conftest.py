"""One gateway per test module, on its own SQLite file, Redis prefix and moved-by-hand clock,
driven only over HTTP (its admin API and its VTN); ``tls_gateway``: the same with its VTN on
its own port over mutual TLS, for the cases that need a VEN known by its certificate."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer
from redis.asyncio import Redis

from gateway.app import build_app
from gateway.security.certs import init_dev_pki
from gateway.settings import Settings
from tests.oadr20b.cert.site import CertGateway, TlsVens
from tests.oadr20b.ven import raw_vens
from tests.support import ADMIN_TOKEN, Api, MutableClock, free_port

REDIS_URL = os.environ.get("GATEWAY_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
VTN_PATH = "/OpenADR2/Simple/2.0b"
# The VEN certificates a TLS module can hand out, one per VEN it provisions.
TLS_VENS = 8


@contextlib.asynccontextmanager
async def cert_gateway(root: Path, tls: bool, **overrides: Any) -> AsyncIterator[CertGateway]:
    prefix = f"test:cert:{uuid.uuid4().hex[:12]}:"
    vtn: dict[str, Any] = {}
    pki = None
    if tls:
        names = [f"tls-ven-{n}" for n in range(1, TLS_VENS + 1)]
        pki = init_dev_pki(root / "pki", ven_names=names)
        vtn = {"vtn_port": free_port(), "vtn_tls_cert": pki.vtn.cert,
               "vtn_tls_key": pki.vtn.key, "vtn_tls_ca": pki.ca_cert}  # fmt: skip
    settings = Settings(
        data_dir=root / "data",
        database_url=f"sqlite+aiosqlite:///{root / 'gateway.db'}",
        redis_url=REDIS_URL,
        redis_prefix=prefix,
        admin_token=ADMIN_TOKEN,
        flexibility_snapshot_interval_seconds=0,
        **vtn,
        **overrides,
    )
    clock = MutableClock()
    app = build_app(settings, admin_token=ADMIN_TOKEN, clock=clock, run_workers=False)
    client: TestClient[Any, Any] = TestClient(TestServer(app))
    await client.start_server()
    try:
        async with (
            raw_vens(str(client.make_url(VTN_PATH)), clock.now) as vens,
            contextlib.AsyncExitStack() as sessions,
        ):
            site = CertGateway(Api(client), clock, vens)
            if pki is not None:
                url = f"https://127.0.0.1:{settings.vtn_port}{VTN_PATH}"
                site.tls = TlsVens(pki, url, sessions)
            yield site
    finally:
        await client.close()
        redis = Redis.from_url(REDIS_URL)
        keys = [key async for key in redis.scan_iter(match=f"{prefix}*")]
        if keys:
            await redis.delete(*keys)
        await redis.aclose()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def gateway(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[CertGateway]:
    async with cert_gateway(tmp_path_factory.mktemp("cert"), tls=False) as site:
        yield site


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def tls_gateway(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[CertGateway]:
    async with cert_gateway(tmp_path_factory.mktemp("cert-tls"), tls=True) as site:
        yield site
