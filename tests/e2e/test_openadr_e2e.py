"""`oadr-gateway run` as a user runs it, between a utility (stock openleadr OpenADRServer) and
a VEN (stock openleadr OpenADRClient) that knows only the gateway's URL, all on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from openleadr import OpenADRClient
from redis.asyncio import Redis

from tests.e2e.test_cli import Gateway, _clean_env
from tests.support import free_port
from tests.upstream.conftest import Utility, start_utility
from tests.vtn.conftest import eventually

pytestmark = pytest.mark.e2e
TOKEN = "e2e-openadr-token-0123456789"


async def test_utility_event_to_stock_ven_and_back(tmp_path: Path) -> None:
    workdir = tmp_path
    utility_port, port = free_port(), free_port()
    prefix = f"e2e:{uuid.uuid4().hex[:8]}:"
    (workdir / "config").mkdir()
    (workdir / "config" / "gateway.toml").write_text(
        f'redis_prefix = "{prefix}"\n'
        "vtn_report_sampling_seconds = 1.0\n"
        "[upstream]\n"
        f'vtn_url = "http://127.0.0.1:{utility_port}/OpenADR2/Simple/2.0b"\n'
        'ven_name = "gateway-1"\npoll_interval_seconds = 1.0\n'
        "reconnect_min_seconds = 0.2\nreconnect_max_seconds = 1.0\n",
        encoding="utf-8",
    )
    utility: Utility = await start_utility(utility_port)
    redis = Redis.from_url("redis://127.0.0.1:6379/0")
    gateway = Gateway(
        workdir, port,
        _clean_env(GATEWAY_HTTP_PORT=str(port), GATEWAY_ADMIN_TOKEN=TOKEN,
                   GATEWAY_REDIS_URL="redis://127.0.0.1:6379/0"),
    )  # fmt: skip
    ven = OpenADRClient(ven_name="site-7", vtn_url=f"{gateway.url}/OpenADR2/Simple/2.0b")
    try:
        await asyncio.to_thread(gateway.wait_healthy)

        async def call(method: str, path: str, body: Any = None) -> tuple[int, Any]:
            return await asyncio.to_thread(gateway.request, method, path, body, TOKEN)

        status, created = await call("POST", "/api/vens", {"name": "site-7"})
        assert status == 201
        status, _ = await call(
            "POST", "/api/devices",
            {"id": "hvac-1", "ven_id": created["ven_id"], "resource_id": "hvac"},
        )  # fmt: skip
        assert status == 201

        answered: list[str] = []

        async def on_event(event: dict[str, Any]) -> str:
            answered.append(event["event_descriptor"]["event_id"])
            return "optIn"

        ven.add_handler("on_event", on_event)
        ven.add_report(
            callback=lambda: 4200.0, resource_id="hvac", measurement="power_real",
            sampling_rate=timedelta(seconds=1), report_duration=timedelta(seconds=1),
        )  # fmt: skip
        await ven.run()
        assert ven.ven_id == created["ven_id"]

        # The utility asks; the gateway invites; the VEN hears of it on its next poll.
        start = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1)
        utility.add_event("utility-1", start, minutes=30, kw=3.0)

        async def invitation() -> Any:
            _, body = await call("GET", "/api/invitations")
            return body["items"][0] if body["items"] else None

        view = await eventually(invitation, timeout=20)
        await ven._poll()
        assert answered == [view["id"]]

        async def scheduled() -> Any:
            _, body = await call("GET", f"/api/invitations/{view['id']}")
            return body if body["status"] == "scheduled" else None

        done = await eventually(scheduled, timeout=20)
        assert [(a["device_id"], a["answer"], a["source"]) for a in done["answers"]] == [
            ("hvac-1", "YES", "ven")
        ]
        await eventually(lambda: _opts(utility), timeout=20)
        assert utility.opts == [("utility-1", "optIn")]

        # Telemetry: the VEN's report lands on the power bus, in kW.
        raw = await eventually(lambda: redis.get(f"{prefix}power:hvac-1"), timeout=20)
        assert json.loads(raw)["kw"] == pytest.approx(4.2)
        _, vens = await call("GET", "/api/vens")
        assert [(v["name"], v["registered"]) for v in vens["items"]] == [("site-7", True)]
    finally:
        await ven.stop()
        await asyncio.to_thread(gateway.stop)
        await utility.server.stop()
        keys = [k async for k in redis.scan_iter(match=f"{prefix}*")]
        if keys:
            await redis.delete(*keys)
        await redis.aclose()


async def _opts(utility: Utility) -> list[tuple[str, str]]:
    return utility.opts
