"""The outbox is in the database: a restart loses nothing, and two gateway processes on one
database never send to one VEN at once (each VEN's sender holds a lease in the database)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient

from tests.oadr20b.ven import raw_vens
from tests.push.conftest import VTN_PATH, drop_prefix, push_settings, running_gateway
from tests.push.ven import PushVen
from tests.support import Api


def _invitation(
    devices: list[str], minutes: float, load_percentage: float = 30.0
) -> dict[str, Any]:
    start = (datetime.now(UTC) + timedelta(minutes=minutes)).isoformat()
    return {
        "devices": devices, "event_time": start, "duration_minutes": 5, "load_kwh": 1.0,
        "load_percentage": load_percentage,
    }  # fmt: skip


async def _provision(api: Api, name: str) -> str:
    await api.post("/api/vens", {"name": name, "ven_id": name}, status=201)
    device = f"{name}-d"
    await api.device(device, ven_id=name, resource_id=f"{device}-r")
    return device


async def test_a_restart_loses_nothing(tmp_path: Path) -> None:
    prefix = f"test:push:{uuid.uuid4().hex[:12]}:"
    settings = push_settings(tmp_path, prefix, f"sqlite+aiosqlite:///{tmp_path / 'gw.db'}")
    ven: PushVen | None = None
    try:
        async with running_gateway(settings) as client:
            api = Api(client)
            device = await _provision(api, "restarted")
            async with raw_vens(str(client.make_url(VTN_PATH))) as vens:
                ven = PushVen(vens("restarted", ven_id="restarted"))
                await ven.start()
                assert (await ven.register()).code == 200
                await ven.stop()
                view = await api.post("/api/invitations", _invitation([device], 10), status=201)
                for _ in range(40):
                    push = (await api.get("/api/vens/restarted"))["push"]
                    if push["failures"]:
                        break
                    await asyncio.sleep(0.025)
                assert (push["pending"], push["failures"] > 0) == (1, True), push
        assert ven.received == []
        await ven.start()  # the VEN is back while no gateway runs; then one starts again
        async with running_gateway(settings) as client:
            pushed = await ven.wait_for("oadrDistributeEvent", within=3.0)
            assert [e.event_id for e in pushed.answer.events] == [view["id"]]
    finally:
        if ven is not None:
            await ven.stop()
        await drop_prefix(prefix)


async def test_two_processes_never_send_to_a_ven_at_once(tmp_path: Path, postgres_url: str) -> None:
    prefix = f"test:push:{uuid.uuid4().hex[:12]}:"
    settings = push_settings(tmp_path, prefix, postgres_url)
    pushing: list[PushVen] = []
    try:
        async with (
            running_gateway(settings) as first,
            running_gateway(settings) as second,
            raw_vens(str(first.make_url(VTN_PATH))) as vens,
        ):
            api = Api(first)
            devices = []
            for n in range(8):
                name = f"twice-{n}"
                devices.append(await _provision(api, name))
                ven = PushVen(vens(name, ven_id=name), delay=0.05)
                await ven.start()
                assert (await ven.register()).code == 200
                pushing.append(ven)
            # Changes made through both processes, each waking both senders.
            made = await api.post("/api/invitations", _invitation(devices, 10), status=201)
            for n, client in enumerate([second, first, second]):
                body = _invitation(devices, 20 + n, load_percentage=40.0 + n)
                await Api(client).put(f"/api/invitations/{made['id']}", body, status=200)
                await asyncio.sleep(0.03)
            for ven in pushing:
                for _ in range(100):
                    last = [
                        p for p in ven.received if p.answer.message_type == "oadrDistributeEvent"
                    ]
                    if last and last[-1].answer.event(made["id"]).modification_number == 3:
                        break
                    await asyncio.sleep(0.05)
                assert last[-1].answer.event(made["id"]).modification_number == 3
            assert [v.most_in_flight for v in pushing] == [1] * len(pushing)
            # At least once, and no more than once per change the VEN could see.
            assert all(len(v.received) <= 4 for v in pushing), [len(v.received) for v in pushing]
            assert all(v.problems == [] for v in pushing)
            await asyncio.sleep(0.2)  # the last deliveries counted once their answers are in
            sent = [await _delivered(client) for client in (first, second)]
            # Every push is one process's: none was sent by both.
            assert sum(sent) == sum(len(v.received) for v in pushing), sent
    finally:
        for ven in pushing:
            await ven.stop()
        await drop_prefix(prefix)


async def _delivered(client: TestClient[Any, Any]) -> int:
    """Distributes this process delivered, from its /metrics."""
    text = await (await client.get("/metrics")).text()
    wanted = 'oadr_push_messages_total{message_type="oadrDistributeEvent",outcome="delivered"}'
    return sum(
        int(float(line.split()[-1])) for line in text.splitlines() if line.startswith(wanted)
    )
