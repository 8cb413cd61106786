"""SIGKILL in the middle of a burst of answers: every answer acknowledged is stored.

`oadr-gateway run` as a subprocess (own port, data dir, Redis prefix and database), an
invitation to many devices, all of them answering at once; the process is killed once a
tenth of the answers are acknowledged. After a restart every acknowledged answer is there,
whole; an answer the client saw fail is either absent or whole, never half-stored; and once
the rest answer, the invitation is decided exactly once.
"""

from __future__ import annotations

import asyncio
import signal
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from redis.asyncio import Redis

from tests.conftest import REDIS_URL
from tests.e2e.test_cli import Gateway, _clean_env
from tests.support import ChannelRecorder, free_port

pytestmark = pytest.mark.e2e

TOKEN = "faults-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
DEVICES = [f"dev-{n:03}" for n in range(100)]
# Early enough that many answers are still in the server when it dies, not only their replies.
KILL_AFTER = len(DEVICES) // 10  # acknowledged answers


def committed(device: str) -> float:
    """Each device commits its own kW, so a stored answer shows whose request it came from."""
    return 1.0 + int(device.split("-")[1]) / 100


@pytest.fixture
async def prefix() -> AsyncIterator[str]:
    value = f"faults:{uuid.uuid4().hex[:10]}:"
    yield value
    client = Redis.from_url(REDIS_URL)
    keys = [key async for key in client.scan_iter(match=f"{value}*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


@pytest.fixture
async def dr_events(prefix: str) -> AsyncIterator[ChannelRecorder]:
    client = Redis.from_url(REDIS_URL)
    recorder = ChannelRecorder(client, f"{prefix}dr_events")
    await recorder.start()
    yield recorder
    await recorder.stop()
    await client.aclose()


async def answer_all(gw: Gateway, invitation_id: str) -> tuple[dict[str, Any], set[str]]:
    """Every device answers at once; SIGKILL once KILL_AFTER are acknowledged.

    Returns (acknowledged: device -> response body, the devices whose request failed)."""
    acknowledged: dict[str, Any] = {}
    failed: set[str] = set()
    url = f"{gw.url}/api/invitations/{invitation_id}/answers"
    timeout = aiohttp.ClientTimeout(total=20)

    async def answer(session: aiohttp.ClientSession, device: str) -> None:
        body = {"device_id": device, "answer": "YES", "committed_kw": committed(device)}
        try:
            async with session.post(url, json=body, headers=AUTH) as resp:
                data = await resp.json()
                if resp.status != 201:
                    raise AssertionError((device, resp.status, data))
        except (aiohttp.ClientError, TimeoutError):
            failed.add(device)
            return
        acknowledged[device] = data
        if len(acknowledged) == KILL_AFTER:
            gw.proc.send_signal(signal.SIGKILL)

    # One connection per device, so the answers really are in flight together.
    connector = aiohttp.TCPConnector(limit=len(DEVICES), force_close=True)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        await asyncio.gather(*(answer(session, d) for d in DEVICES))
    return acknowledged, failed


@pytest.mark.parametrize("any_database_url", ["sqlite", "postgres"], indirect=True)
async def test_sigkill_during_a_burst_of_answers_loses_no_acknowledged_answer(
    tmp_path: Path, any_database_url: str, prefix: str, dr_events: ChannelRecorder
) -> None:
    port = free_port()
    env = _clean_env(
        GATEWAY_HTTP_PORT=str(port),
        GATEWAY_ADMIN_TOKEN=TOKEN,
        GATEWAY_DATA_DIR=str(tmp_path / "data"),
        GATEWAY_DATABASE_URL=any_database_url,
        GATEWAY_REDIS_URL=REDIS_URL,
        GATEWAY_REDIS_PREFIX=prefix,
        GATEWAY_WORKER_INTERVAL_SECONDS="0.2",
    )
    gw = Gateway(tmp_path, port, env)
    try:
        await asyncio.to_thread(gw.wait_healthy)
        for device in DEVICES:
            status, _ = await asyncio.to_thread(
                gw.request, "POST", "/api/devices", {"id": device}, TOKEN
            )
            assert status == 201
        start = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
        status, invitation = await asyncio.to_thread(
            gw.request,
            "POST",
            "/api/invitations",
            {"event_time": start, "duration_minutes": 60, "load_kwh": 30, "devices": DEVICES},
            TOKEN,
        )
        assert status == 201, invitation
        acknowledged, failed = await answer_all(gw, invitation["id"])
    finally:
        gw.stop(signal.SIGKILL)
    assert len(acknowledged) >= KILL_AFTER
    assert failed, "the kill came after the whole burst"
    assert set(acknowledged) | failed == set(DEVICES)

    again = Gateway(tmp_path, port, env)
    try:
        await asyncio.to_thread(again.wait_healthy)
        inv_id = invitation["id"]
        status, view = await asyncio.to_thread(again.request, "GET", f"/api/invitations/{inv_id}")
        assert status == 200
        stored = {a["device_id"]: (a["answer"], a["committed_kw"]) for a in view["answers"]}
        assert set(acknowledged) <= set(stored)  # nothing acknowledged is lost
        assert stored == {d: ("YES", committed(d)) for d in stored}  # each whole, its own
        # Killed before the last answer was stored, it is still waiting for the rest.
        if len(stored) < len(DEVICES):
            assert (view["status"], view["event_id"]) == ("pending", None)

        # The rest answer now; the invitation is decided once, with every device in it.
        for device in sorted(set(DEVICES) - set(stored)):
            body = {"device_id": device, "answer": "YES", "committed_kw": committed(device)}
            status, after = await asyncio.to_thread(
                again.request, "POST", f"/api/invitations/{inv_id}/answers", body, TOKEN
            )
            assert status == 201, after
        status, view = await asyncio.to_thread(again.request, "GET", f"/api/invitations/{inv_id}")
        assert (status, view["status"], len(view["answers"])) == (200, "scheduled", len(DEVICES))
        status, event = await asyncio.to_thread(
            again.request, "GET", f"/api/events/{view['event_id']}"
        )
        assert (status, event["status"]) == (200, "scheduled")
        assert {d["device_id"]: d["committed_kw"] for d in event["devices"]} == {
            d: committed(d) for d in DEVICES
        }

        # Every stored answer was announced, those queued at the kill once it was back.
        def answered(messages: list[dict[str, Any]]) -> set[str]:
            return {m["device_id"] for m in messages if m["event"] == "invitation_answered"}

        await dr_events.wait_for(lambda ms: answered(ms) == set(DEVICES), timeout=10)
        scheduled = {m["message_id"] for m in dr_events.named("event_scheduled")}
        assert len(scheduled) == 1
    finally:
        assert again.stop() == 0, again.log.read_text()
