"""A VEN's own read of its events (a poll: only its devices loaded) and the read of every VEN's
events at once (a bulk reload: every device loaded) give each VEN the same events: the same
share of every invitation (counted over all its devices, whoever owns them), resources and
cancel acknowledgements."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from gateway.services.container import Services
from gateway.services.ven_facing.events import events_of_every_ven, events_of_ven
from tests.support import Api, in_minutes


@pytest.fixture
def database_url(any_database_url: str) -> str:
    return any_database_url


async def _ven(api: Api, ven_id: str, devices: list[str]) -> None:
    await api.post("/api/vens", {"name": ven_id, "ven_id": ven_id}, status=201)
    for device_id in devices:
        await api.device(device_id, ven_id=ven_id, resource_id=f"{device_id}-r")


async def test_a_vens_own_read_matches_the_read_of_every_ven(api: Api, services: Services) -> None:
    await _ven(api, "ven-a", ["a1", "a2"])
    await _ven(api, "ven-b", ["b1", "b2", "b3"])
    await api.device("loose-1")  # no VEN: counted in the share, shown to nobody
    shared = await api.invite(["a1", "b1", "b2", "loose-1"], load_kwh=8.0, duration_minutes=60)
    await api.invite(["b3"], load_kwh=2.0, event_time=in_minutes(240))
    cancelled = await api.invite(["a2", "b3"], load_kwh=4.0, event_time=in_minutes(300))
    await api.post(f"/api/invitations/{cancelled['id']}/cancel", {}, status=200)
    start = datetime.now(UTC) + timedelta(minutes=30)
    await api.post(
        "/api/events",
        {"start_time": start.isoformat(), "duration_minutes": 20,
         "devices": ["a1", "a2", "b2"], "target_kw": 6},
        status=201,
    )  # fmt: skip
    now = datetime.now(UTC)
    async with services.db.read() as session:
        every = await events_of_every_ven(session, now)
        own = {v: await events_of_ven(session, v, now) for v in ("ven-a", "ven-b")}
    assert set(every) == {"ven-a", "ven-b"}
    for ven_id, events in own.items():
        assert events == every[ven_id], ven_id
    by_id: dict[str, Any] = {e.event_id: e for e in own["ven-a"]}
    # 8 kWh over an hour is 8 kW over four devices: ven-a's one device is 2 kW of it.
    assert by_id[shared["id"]].dispatch_kw == pytest.approx(2.0)
    assert by_id[shared["id"]].resource_ids == ("a1-r",)
    assert [e.dispatch_kw for e in own["ven-b"] if e.event_id == shared["id"]] == [
        pytest.approx(4.0)
    ]
    assert (len(own["ven-a"]), len(own["ven-b"])) == (3, 4)
