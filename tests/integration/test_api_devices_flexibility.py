"""Devices, their hourly instructions (local time) and the flexibility computed from them.

The clock is fixed, so every local hour below is known: at 2030-01-15 10:30 UTC it is 00:30 on
the 16th in Pacific/Kiritimati (UTC+14), 23:30 on the 14th in Pacific/Pago_Pago (UTC-11) and
11:30 in Europe/Berlin (CET, UTC+1).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from redis.asyncio import Redis

from gateway.services.container import Services
from tests.support import AUTH, Api, MutableClock, power_json

T0 = datetime(2030, 1, 15, 10, 30, tzinfo=UTC)
ALL_HOURS = [str(h) for h in range(24)]


@pytest.fixture
def clock() -> MutableClock:
    return MutableClock(T0)


def when(value: str) -> datetime:
    return datetime.fromisoformat(value)


async def set_power(
    redis: Redis, redis_prefix: str, device_id: str, kw: float, ts: datetime
) -> None:
    await redis.set(f"{redis_prefix}power:{device_id}", power_json(kw, ts))


async def set_instructions(api: Api, device_id: str, instructions: dict[str, str]) -> Any:
    return await api.put(
        f"/api/devices/{device_id}/instructions", {"instructions": instructions}, status=200
    )


def every_hour(instruction: str) -> dict[str, str]:
    return dict.fromkeys(ALL_HOURS, instruction)


def by_device(flex: Any) -> dict[str, Any]:
    return {d["device_id"]: d for d in flex["devices"]}


# --------------------------------------------------------------------------- devices


async def test_register_list_and_get_devices(api: Api, clock: MutableClock) -> None:
    heat = await api.post(
        "/api/devices",
        {
            "id": "heat-pump",
            "timezone": "Europe/Berlin",
            "ven_id": "ven-7",
            "resource_id": "res-1",
        },
        status=201,
    )
    assert heat == {
        "id": "heat-pump",
        "ven_id": "ven-7",
        "resource_id": "res-1",
        "timezone": "Europe/Berlin",
        "created_at": heat["created_at"],
    }
    assert when(heat["created_at"]) == clock.now()
    boiler = await api.post("/api/devices", {"id": "boiler"}, status=201)
    assert boiler["timezone"] == "UTC"
    assert boiler["ven_id"] is None
    assert boiler["resource_id"] is None
    only_ven = await api.post("/api/devices", {"id": "a-charger", "ven_id": "ven-7"}, status=201)
    assert only_ven["ven_id"] == "ven-7"
    assert only_ven["resource_id"] is None

    listed = await api.get("/api/devices")
    assert listed["count"] == 3
    assert [d["id"] for d in listed["items"]] == ["a-charger", "boiler", "heat-pump"]
    assert listed["items"] == [only_ven, boiler, heat]
    assert await api.get("/api/devices/heat-pump") == heat
    assert await api.get("/api/devices/boiler") == boiler


async def test_empty_device_list(api: Api) -> None:
    assert await api.get("/api/devices") == {"count": 0, "items": []}


async def test_same_resource_of_the_same_ven_twice_is_409(api: Api) -> None:
    await api.device("dev-1", ven_id="ven-1", resource_id="res-1")
    resp = await api.client.post(
        "/api/devices",
        json={"id": "dev-2", "ven_id": "ven-1", "resource_id": "res-1"},
        headers=AUTH,
    )
    data = await resp.json()
    assert resp.status == 409, data
    assert data["error"] == "already_exists"
    assert [d["id"] for d in (await api.get("/api/devices"))["items"]] == ["dev-1"]
    # The same resource name under another VEN is a different resource.
    other = await api.device("dev-3", ven_id="ven-2", resource_id="res-1")
    assert other["ven_id"] == "ven-2"


async def test_unknown_device_is_404(api: Api) -> None:
    data = await api.get("/api/devices/ghost", status=404)
    assert data["error"] == "not_found"
    assert "ghost" in data["message"]


# --------------------------------------------------------------------------- instructions


async def test_instructions_default_to_off_for_all_24_hours(api: Api) -> None:
    await api.device("dev-1", timezone="Asia/Tokyo")
    got = await api.get("/api/devices/dev-1/instructions")
    assert got == {
        "device_id": "dev-1",
        "timezone": "Asia/Tokyo",
        "instructions": every_hour("off"),
        "updated_at": None,
    }


async def test_put_then_get_instructions(api: Api, clock: MutableClock) -> None:
    await api.device("dev-1", timezone="America/New_York")
    await api.device("dev-2")
    wanted = {
        str(h): ("participation" if h < 8 else "shifting" if h < 16 else "off") for h in range(24)
    }
    clock.advance(minutes=5)
    put = await set_instructions(api, "dev-1", wanted)
    assert put["device_id"] == "dev-1"
    assert put["timezone"] == "America/New_York"
    assert put["instructions"] == wanted
    assert when(put["updated_at"]) == T0 + timedelta(minutes=5)
    got = await api.get("/api/devices/dev-1/instructions")
    assert got == put
    # Another device's instructions are untouched.
    other = await api.get("/api/devices/dev-2/instructions")
    assert other["instructions"] == every_hour("off")
    assert other["updated_at"] is None


async def test_put_replaces_all_instructions(api: Api) -> None:
    await api.device("dev-1")
    await set_instructions(api, "dev-1", every_hour("participation"))
    second = await set_instructions(api, "dev-1", {"12": "shifting"})
    expected = every_hour("off") | {"12": "shifting"}
    assert second["instructions"] == expected
    assert (await api.get("/api/devices/dev-1/instructions"))["instructions"] == expected


async def test_instructions_of_unknown_device_is_404(api: Api) -> None:
    data = await api.get("/api/devices/ghost/instructions", status=404)
    assert data["error"] == "not_found"


# --------------------------------------------------------------------------- flexibility


async def test_flexibility_share_per_instruction(
    api: Api, redis: Redis, redis_prefix: str, clock: MutableClock
) -> None:
    shares = {"full": "participation", "part": "shifting", "none": "off"}
    for device, instruction in shares.items():
        await api.device(device)
        await set_instructions(api, device, every_hour(instruction))
        await set_power(redis, redis_prefix, device, 12.5, clock.now())
    flex = await api.get("/api/flexibility")
    assert when(flex["taken_at"]) == clock.now()
    devices = by_device(flex)
    assert sorted(devices) == ["full", "none", "part"]
    assert devices["full"]["instruction"] == "participation"
    assert devices["full"]["available_kw"] == pytest.approx(12.5)
    assert devices["part"]["instruction"] == "shifting"
    assert devices["part"]["available_kw"] == pytest.approx(2.5)
    assert devices["none"]["instruction"] == "off"
    assert devices["none"]["available_kw"] == 0.0
    for d in devices.values():
        assert d["current_kw"] == pytest.approx(12.5)
        assert d["missing_reason"] is None
        assert d["local_hour"] == 10
        assert d["timezone"] == "UTC"
    assert flex["total_available_kw"] == pytest.approx(15.0)
    assert flex["devices_missing_reading"] == 0


async def test_exporting_device_offers_nothing(
    api: Api, redis: Redis, redis_prefix: str, clock: MutableClock
) -> None:
    await api.device("solar")
    await set_instructions(api, "solar", every_hour("participation"))
    await set_power(redis, redis_prefix, "solar", -4.0, clock.now())
    flex = await api.get("/api/flexibility")
    solar = by_device(flex)["solar"]
    assert solar["current_kw"] == -4.0
    assert solar["available_kw"] == 0.0
    assert flex["total_available_kw"] == 0.0


async def test_flexibility_uses_each_device_local_hour(
    api: Api, redis: Redis, redis_prefix: str, clock: MutableClock
) -> None:
    kiritimati, pago = "Pacific/Kiritimati", "Pacific/Pago_Pago"
    assert clock.now().astimezone(ZoneInfo(kiritimati)).hour == 0
    assert clock.now().astimezone(ZoneInfo(pago)).hour == 23
    await api.device("east", timezone=kiritimati)
    await api.device("west", timezone=pago)
    # Local hour 0 in the east is the only "participation"; UTC hour 10 is "off" there.
    await set_instructions(
        api, "east", every_hour("off") | {"0": "participation", "23": "off", "10": "off"}
    )
    # Local hour 23 in the west is "shifting"; the UTC hour (10) would give "participation".
    await set_instructions(
        api, "west", every_hour("off") | {"23": "shifting", "10": "participation", "0": "off"}
    )
    await set_power(redis, redis_prefix, "east", 10.0, clock.now())
    await set_power(redis, redis_prefix, "west", 10.0, clock.now())
    flex = await api.get("/api/flexibility")
    devices = by_device(flex)
    assert devices["east"]["local_hour"] == 0
    assert devices["east"]["timezone"] == kiritimati
    assert devices["east"]["instruction"] == "participation"
    assert devices["east"]["available_kw"] == pytest.approx(10.0)
    assert devices["west"]["local_hour"] == 23
    assert devices["west"]["instruction"] == "shifting"
    assert devices["west"]["available_kw"] == pytest.approx(2.0)
    assert flex["total_available_kw"] == pytest.approx(12.0)


async def test_flexibility_follows_daylight_saving_time(
    api: Api, redis: Redis, redis_prefix: str, clock: MutableClock
) -> None:
    await api.device("berlin", timezone="Europe/Berlin")
    await set_instructions(
        api,
        "berlin",
        every_hour("off") | {"10": "off", "11": "participation", "12": "shifting"},
    )
    # Winter: CET, 10:30 UTC is 11:30 local.
    await set_power(redis, redis_prefix, "berlin", 5.0, clock.now())
    winter = by_device(await api.get("/api/flexibility"))["berlin"]
    assert winter["local_hour"] == 11
    assert winter["instruction"] == "participation"
    assert winter["available_kw"] == pytest.approx(5.0)
    # Summer: CEST, 10:30 UTC is 12:30 local.
    clock.current = datetime(2030, 7, 15, 10, 30, tzinfo=UTC)
    await set_power(redis, redis_prefix, "berlin", 5.0, clock.now())
    summer = by_device(await api.get("/api/flexibility"))["berlin"]
    assert summer["local_hour"] == 12
    assert summer["instruction"] == "shifting"
    assert summer["available_kw"] == pytest.approx(1.0)


async def test_device_without_reading_is_missing_not_zero(
    api: Api, redis: Redis, redis_prefix: str, clock: MutableClock
) -> None:
    await api.device("measured")
    await api.device("silent")
    await set_instructions(api, "measured", every_hour("participation"))
    await set_instructions(api, "silent", every_hour("shifting"))
    await set_power(redis, redis_prefix, "measured", 3.0, clock.now())
    flex = await api.get("/api/flexibility")
    silent = by_device(flex)["silent"]
    assert silent["instruction"] == "shifting"
    assert silent["current_kw"] is None
    assert silent["available_kw"] is None
    assert silent["missing_reason"] == "absent"
    assert flex["devices_missing_reading"] == 1
    assert flex["total_available_kw"] == pytest.approx(3.0)
    measured = by_device(flex)["measured"]
    assert measured["missing_reason"] is None
    assert measured["available_kw"] == pytest.approx(3.0)


async def test_stale_reading_is_missing(
    api: Api, redis: Redis, redis_prefix: str, clock: MutableClock
) -> None:
    await api.device("old")
    await set_instructions(api, "old", every_hour("participation"))
    await set_power(redis, redis_prefix, "old", 8.0, clock.now() - timedelta(hours=1))
    flex = await api.get("/api/flexibility")
    old = by_device(flex)["old"]
    assert old["missing_reason"] == "stale"
    assert old["available_kw"] is None
    assert old["current_kw"] is None
    assert flex["devices_missing_reading"] == 1
    assert flex["total_available_kw"] == 0.0


async def test_reading_that_becomes_stale_as_time_passes(
    api: Api, redis: Redis, redis_prefix: str, clock: MutableClock
) -> None:
    await api.device("dev-1")
    await set_instructions(api, "dev-1", every_hour("participation"))
    await set_power(redis, redis_prefix, "dev-1", 8.0, clock.now())
    clock.advance(seconds=10)
    fresh = by_device(await api.get("/api/flexibility"))["dev-1"]
    assert fresh["available_kw"] == pytest.approx(8.0)
    clock.advance(seconds=10)  # 20 s old: over the 15 s default
    stale = by_device(await api.get("/api/flexibility"))["dev-1"]
    assert stale["missing_reason"] == "stale"
    assert stale["available_kw"] is None


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("not json", "unparsable"),
        ('{"kw": "8", "ts": "2030-01-15T10:30:00+00:00"}', "unparsable"),
        ('{"kw": 8.0, "ts": "2030-01-15T10:30:00"}', "unparsable"),
        ('{"kw": 8.0, "ts": "2030-01-15T11:30:00+00:00"}', "timestamp_in_future"),
    ],
)
async def test_unusable_reading_is_missing(
    api: Api, redis: Redis, redis_prefix: str, raw: str, reason: str
) -> None:
    await api.device("dev-1")
    await set_instructions(api, "dev-1", every_hour("participation"))
    await redis.set(f"{redis_prefix}power:dev-1", raw)
    flex = await api.get("/api/flexibility")
    dev = by_device(flex)["dev-1"]
    assert dev["missing_reason"] == reason
    assert dev["available_kw"] is None
    assert flex["devices_missing_reading"] == 1


async def test_reading_flexibility_does_not_store_a_snapshot(
    api: Api, services: Services, redis: Redis, redis_prefix: str, clock: MutableClock
) -> None:
    await api.device("dev-1")
    await api.device("dev-2")
    await set_instructions(api, "dev-1", every_hour("participation"))
    await set_instructions(api, "dev-2", every_hour("shifting"))
    await set_power(redis, redis_prefix, "dev-1", 6.0, clock.now())
    for _ in range(3):
        current = await api.get("/api/flexibility")
        assert current["total_available_kw"] == pytest.approx(6.0)
    assert await api.get("/api/flexibility/history") == {"count": 0, "items": []}

    snapshot = await services.flexibility.take_snapshot()
    assert snapshot.total_available_kw == pytest.approx(6.0)
    history = await api.get("/api/flexibility/history")
    assert history["count"] == 1
    (item,) = history["items"]
    assert item["total_available_kw"] == pytest.approx(6.0)
    assert item["devices_missing_reading"] == 1
    assert when(item["taken_at"]) == clock.now()

    await api.get("/api/flexibility")
    assert (await api.get("/api/flexibility/history"))["count"] == 1


async def test_history_window_and_order(
    api: Api, services: Services, redis: Redis, redis_prefix: str, clock: MutableClock
) -> None:
    await api.device("dev-1")
    await set_instructions(api, "dev-1", every_hour("participation"))
    taken = []
    for kw in (1.0, 2.0, 3.0):
        await set_power(redis, redis_prefix, "dev-1", kw, clock.now())
        await services.flexibility.take_snapshot()
        taken.append(clock.now())
        clock.advance(hours=2)
    recent = await api.get("/api/flexibility/history", hours=3)
    assert [i["total_available_kw"] for i in recent["items"]] == [3.0]
    everything = await api.get("/api/flexibility/history", hours=24)
    assert [i["total_available_kw"] for i in everything["items"]] == [3.0, 2.0, 1.0]
    assert [when(i["taken_at"]) for i in everything["items"]] == taken[::-1]
    limited = await api.get("/api/flexibility/history", limit=2)
    assert [i["total_available_kw"] for i in limited["items"]] == [3.0, 2.0]


async def test_flexibility_without_devices(api: Api, clock: MutableClock) -> None:
    flex = await api.get("/api/flexibility")
    assert flex == {
        "taken_at": flex["taken_at"],
        "total_available_kw": 0.0,
        "devices_missing_reading": 0,
        "devices": [],
    }
    assert when(flex["taken_at"]) == clock.now()
