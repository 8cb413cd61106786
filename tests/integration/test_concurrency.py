"""Answers are atomic (DEVELOPERS: defect 7 of the reference service).

Runs on SQLite and on PostgreSQL: 50 concurrent answers by one device record exactly one and
the other 49 get 409; concurrent last answers decide the invitation exactly once.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import func, select

from gateway.db.models import DeviceAnswerRow, EventRow
from gateway.services.container import Services
from tests.support import AUTH, Api, ChannelRecorder


@pytest.fixture
def database_url(any_database_url: str) -> str:
    return any_database_url


async def _post_answer(client: TestClient[Any, Any], invitation_id: str, device: str) -> int:
    """The answer's status; a 503 (a database connection not made in time, as under a loaded
    CI) changes nothing, so it is sent again, as a client would."""
    for _ in range(5):
        resp = await client.post(
            f"/api/invitations/{invitation_id}/answers",
            json={"device_id": device, "answer": "YES", "committed_kw": 1.5},
            headers=AUTH,
        )
        await resp.read()
        if resp.status != 503:
            break
        await asyncio.sleep(0.5)
    return resp.status


async def test_fifty_concurrent_answers_for_one_device_record_exactly_one(
    api: Api, client: TestClient[Any, Any], services: Services
) -> None:
    await api.device("dev-a")
    await api.device("dev-b")
    inv = await api.invite(["dev-a", "dev-b"])
    statuses = await asyncio.gather(*(_post_answer(client, inv["id"], "dev-a") for _ in range(50)))
    assert sorted(set(statuses)) == [201, 409]
    assert statuses.count(201) == 1
    assert statuses.count(409) == 49
    async with services.db.read() as session:
        stored = await session.scalar(
            select(func.count())
            .select_from(DeviceAnswerRow)
            .where(DeviceAnswerRow.invitation_id == inv["id"])
        )
    assert stored == 1
    assert (await api.get(f"/api/invitations/{inv['id']}"))["status"] == "pending"


async def test_concurrent_last_answers_decide_the_invitation_exactly_once(
    api: Api, client: TestClient[Any, Any], services: Services, dr_events: ChannelRecorder
) -> None:
    devices = [f"dev-{i}" for i in range(20)]
    for device in devices:
        await api.device(device)
    inv = await api.invite(devices)
    statuses = await asyncio.gather(*(_post_answer(client, inv["id"], d) for d in devices))
    assert statuses == [201] * len(devices)
    final = await api.get(f"/api/invitations/{inv['id']}")
    assert final["status"] == "scheduled"
    assert len(final["answers"]) == len(devices)
    async with services.db.read() as session:
        events = (
            await session.scalars(select(EventRow).where(EventRow.invitation_id == inv["id"]))
        ).all()
    assert len(events) == 1
    assert final["event_id"] == events[0].id
    await dr_events.wait_for(lambda ms: sum(m["event"] == "invitation_answered" for m in ms) == 20)
    await asyncio.sleep(0.2)  # a second decision would have announced a second event by now
    assert len(dr_events.named("event_scheduled")) == 1
    decided = [
        m for m in dr_events.named("invitation_answered") if m["invitation_status"] != "pending"
    ]
    assert len(decided) == 1


async def test_concurrent_mixed_answers_under_policy_all_cancel_once(
    api: Api, client: TestClient[Any, Any], services: Services
) -> None:
    devices = [f"dev-{i}" for i in range(10)]
    for device in devices:
        await api.device(device)
    inv = await api.invite(devices)

    async def answer(device: str) -> int:
        no = device == "dev-7"
        resp = await client.post(
            f"/api/invitations/{inv['id']}/answers",
            json={
                "device_id": device,
                "answer": "NO" if no else "YES",
                "committed_kw": 0.0 if no else 1.0,
            },
            headers=AUTH,
        )
        await resp.read()
        return resp.status

    assert await asyncio.gather(*(answer(d) for d in devices)) == [201] * 10
    final = await api.get(f"/api/invitations/{inv['id']}")
    assert final["status"] == "cancelled"
    assert final["response"] == "NO"
    assert "dev-7" in final["decision_reason"]
    assert final["event_id"] is None
    async with services.db.read() as session:
        assert await session.scalar(select(func.count()).select_from(EventRow)) == 0
