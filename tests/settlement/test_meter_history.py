"""Meter history over HTTP: CSV import (all or nothing, idempotent) and recording from the
power bus (each slot once, missing stays missing), on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import FormData
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from gateway.app import build_meter_recorder
from gateway.bus.power import RedisPowerReader
from gateway.services.container import Services
from gateway.services.meter_recorder import MeterRecorder
from gateway.settings import Settings
from tests.support import AUTH, Api, FakeClock, MutableClock, power_json

NOW = datetime(2030, 7, 17, 12, 0, tzinfo=UTC)
HEADER = "device_id,interval_start,kwh\n"


@pytest.fixture
def database_url(any_database_url: str) -> str:
    return any_database_url


@pytest.fixture
def clock() -> MutableClock:
    return MutableClock(NOW)


async def _history(api: Api, device_id: str, start: datetime, end: datetime) -> list[Any]:
    found = await api.get(
        f"/api/devices/{device_id}/history", start=start.isoformat(), end=end.isoformat()
    )
    return list(found["items"])


async def test_an_import_is_stored_and_reimporting_it_changes_nothing(api: Api) -> None:
    await api.device("m1")
    await api.device("m2")
    csv = (
        HEADER
        + "m1,2030-07-16T10:00:00Z,1.25\n"
        + "m1,2030-07-16T10:15:00+00:00,0\n"
        + "m2,2030-07-16T12:15:00+02:00,2.5\n"  # 10:15 UTC
    )
    report = await api.post("/api/meter-history", {"csv": csv}, status=200)
    assert report == {"rows": 3, "inserted": 3, "replaced": 0, "unchanged": 0}
    again = await api.post("/api/meter-history", {"csv": csv}, status=200)
    assert again == {"rows": 3, "inserted": 0, "replaced": 0, "unchanged": 3}
    day = datetime(2030, 7, 16, tzinfo=UTC)
    m1 = await _history(api, "m1", day, day + timedelta(days=1))
    assert [(i["interval_start"], i["kwh"], i["share"], i["source"]) for i in m1] == [
        ("2030-07-16T10:00:00Z", 1.25, 1.0, "imported"),
        ("2030-07-16T10:15:00Z", 0.0, 1.0, "imported"),
    ]
    assert m1[0]["interval_end"] == "2030-07-16T10:15:00Z"
    m2 = await _history(api, "m2", day, day + timedelta(days=1))
    assert [(i["interval_start"], i["kwh"]) for i in m2] == [("2030-07-16T10:15:00Z", 2.5)]
    late = await api.post(
        "/api/meter-history", {"csv": HEADER + "m1,2030-07-16T10:00:00Z,1.5\n"}, status=200
    )
    assert late == {"rows": 1, "inserted": 0, "replaced": 1, "unchanged": 0}
    assert (await _history(api, "m1", day, day + timedelta(days=1)))[0]["kwh"] == 1.5


async def test_a_csv_body_and_a_multipart_file_are_taken_too(
    api: Api, client: TestClient[Any, Any]
) -> None:
    await api.device("m1")
    resp = await client.post(
        "/api/meter-history",
        data=HEADER + "m1,2030-07-16T10:00:00Z,1\n",
        headers={**AUTH, "Content-Type": "text/csv"},
    )
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["inserted"] == 1
    form = FormData()
    form.add_field("file", HEADER + "m1,2030-07-16T10:15:00Z,2\n", filename="meter.csv")
    resp = await client.post("/api/meter-history", data=form, headers=AUTH)
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["inserted"] == 1


async def test_refused_rows_are_each_named_and_nothing_is_imported(api: Api) -> None:
    await api.device("m1")
    csv = (
        HEADER
        + "m1,2030-07-16T10:00:00Z,1.0\n"  # line 2: fine, but not kept
        + "ghost,2030-07-16T10:00:00Z,1.0\n"  # 3: unknown device
        + "m1,yesterday,1.0\n"  # 4
        + "m1,2030-07-16T10:00:00,1.0\n"  # 5: no offset
        + "m1,2030-07-16T10:05:00Z,1.0\n"  # 6: not an interval start
        + "m1,2030-07-17T11:50:00Z,1.0\n"  # 7: not over at 12:00
        + "m1,2030-07-16T10:30:00Z,-1\n"  # 8
        + "m1,2030-07-16T10:45:00Z,\n"  # 9: missing is left out, never written as a value
        + "m1,2030-07-16T10:00:00Z,2.0\n"  # 10: the interval of line 2 again
        + "m1,2030-07-16T11:00:00Z,nan\n"  # 11
        + "m1,2030-07-16T11:15:00Z\n"  # 12
    )
    refused = await api.post("/api/meter-history", {"csv": csv}, status=422)
    assert refused["error"] == "validation_failed"
    fields = {f["field"] for f in refused["fields"]}
    assert fields == {
        "line 3.device_id", "line 4.interval_start", "line 5.interval_start",
        "line 6.interval_start", "line 7.interval_start", "line 8.kwh", "line 9.kwh",
        "line 10.interval_start", "line 11.kwh", "line 12",
    }  # fmt: skip
    day = datetime(2030, 7, 16, tzinfo=UTC)
    assert await _history(api, "m1", day, day + timedelta(days=2)) == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"csv": "device,start,kwh\nm1,2030-07-16T10:00:00Z,1\n"}, "line 1"),
        ({"csv": HEADER}, "line 2"),
        ({"csv": 12}, "csv"),
    ],
)
async def test_a_file_without_its_header_or_rows_is_refused(
    api: Api, body: dict[str, Any], field: str
) -> None:
    refused = await api.post("/api/meter-history", body, status=422)
    assert field in {f["field"] for f in refused["fields"]}


async def test_the_recorder_counts_each_slot_once_and_leaves_missing_readings_out(
    api: Api, services: Services, redis: Redis, settings: Settings, clock: MutableClock
) -> None:
    await api.device("r1")
    await api.device("r2")
    first = build_meter_recorder(services)
    replica = build_meter_recorder(services)  # a second gateway process on the same data
    start = datetime(2030, 7, 17, 12, 0, tzinfo=UTC)
    for k in range(15):  # the 15 one-minute slots of 12:00-12:15
        at = start + timedelta(minutes=k)
        clock.current = at
        await redis.set(f"{settings.redis_prefix}power:r1", power_json(4.0 + k % 2, at))
        if k < 5:  # r2 reports for the first 5 minutes only, then its reading goes stale
            await redis.set(f"{settings.redis_prefix}power:r2", power_json(8.0, at))
        assert await first.record(at) == (2 if k < 5 else 1)
        if k % 3 == 0:
            assert await replica.record(at) == 0  # already counted: never twice
    r1 = await _history(api, "r1", start, start + timedelta(hours=1))
    # 8 slots at 4 kW and 7 at 5 kW, a minute each: (8 x 4 + 7 x 5) / 60 = 1.1166... kWh.
    assert len(r1) == 1
    assert r1[0]["share"] == 1.0
    assert r1[0]["kwh"] == pytest.approx((8 * 4 + 7 * 5) / 60, abs=1e-9)
    assert r1[0]["source"] == "recorded"
    r2 = await _history(api, "r2", start, start + timedelta(hours=1))
    # 5 of 15 slots at 8 kW: measured 5/60 x 8 kWh, which is 8 kW held over the whole
    # interval (2 kWh), on a share of 1/3; the 10 stale minutes are missing, not 0 kW.
    assert r2[0]["share"] == pytest.approx(1 / 3, abs=1e-9)
    assert r2[0]["measured_kwh"] == pytest.approx(8 * 5 / 60, abs=1e-9)
    assert r2[0]["kwh"] == pytest.approx(2.0, abs=1e-9)


async def test_the_recorder_loop_samples_on_the_grid_until_stopped(
    api: Api, services: Services, redis: Redis, settings: Settings
) -> None:
    await api.device("r1")
    key = f"{settings.redis_prefix}power:r1"
    stopping = asyncio.Event()

    async def device(now: datetime) -> None:  # 6 kW, reported as time goes by
        await redis.set(key, power_json(6.0, now))
        if now >= datetime(2030, 7, 17, 13, 15, tzinfo=UTC):
            stopping.set()

    clock = FakeClock(datetime(2030, 7, 17, 12, 59, 30, tzinfo=UTC), on_advance=device)
    power = RedisPowerReader(redis, settings.redis_prefix, timedelta(seconds=15))
    recorder = MeterRecorder(services.db, services.meter_history, power, clock)
    await asyncio.wait_for(recorder.run(stopping), timeout=10)
    start = datetime(2030, 7, 17, 13, 0, tzinfo=UTC)
    found = await _history(api, "r1", start - timedelta(hours=1), start + timedelta(hours=1))
    # Slots 13:00, 13:01, ... 13:14 all measured (6 kW for 15 minutes: 1.5 kWh); the loop
    # stopped at 13:15 before recording the next interval.
    assert [(i["interval_start"], i["share"]) for i in found] == [("2030-07-17T13:00:00Z", 1.0)]
    assert found[0]["kwh"] == pytest.approx(1.5, abs=1e-9)


async def test_an_imported_interval_is_not_recorded_over(
    api: Api, services: Services, redis: Redis, settings: Settings, clock: MutableClock
) -> None:
    await api.device("r1")
    start = datetime(2030, 7, 17, 11, 0, tzinfo=UTC)
    await api.post("/api/meter-history", {"csv": HEADER + f"r1,{start.isoformat()},3\n"}, 200)
    recorder = build_meter_recorder(services)
    clock.current = start + timedelta(minutes=1)
    await redis.set(f"{settings.redis_prefix}power:r1", power_json(50.0, clock.current))
    assert await recorder.record(clock.current) == 0
    found = await _history(api, "r1", start, start + timedelta(minutes=15))
    assert [(i["kwh"], i["source"]) for i in found] == [(3.0, "imported")]


async def test_history_of_an_unknown_device_is_404(api: Api) -> None:
    await api.get("/api/devices/nobody/history", status=404)


def test_the_cli_imports_a_file_and_reports_refused_rows(tmp_path: Path) -> None:
    env = {"GATEWAY_DATA_DIR": str(tmp_path / "data"), "PATH": "/usr/bin:/bin"}
    gateway = [sys.executable, "-m", "gateway"]
    bad = tmp_path / "bad.csv"
    bad.write_text(HEADER + "nobody,2026-07-16T10:00:00Z,1\n", encoding="utf-8")
    result = subprocess.run(
        [*gateway, "history", "import", str(bad)], env=env, cwd=tmp_path,
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    assert "nothing imported" in result.stderr
    assert "line 2.device_id: device nobody is not registered" in result.stderr
    empty = tmp_path / "empty.csv"
    empty.write_text("", encoding="utf-8")
    result = subprocess.run(
        [*gateway, "history", "import", str(empty)], env=env, cwd=tmp_path,
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 1
    assert "line 1: the header must be device_id,interval_start,kwh" in result.stderr
    with sqlite3.connect(tmp_path / "data" / "gateway.db") as db:  # migrated by the first run
        db.execute(
            "INSERT INTO devices (id, timezone, created_at) VALUES ('cli-1', 'UTC', ?)",
            ("2030-07-16 00:00:00.000000",),
        )
    good = tmp_path / "good.csv"
    good.write_text(HEADER + "cli-1,2026-07-16T10:00:00Z,1\ncli-1,2026-07-16T10:15:00Z,2\n")
    for inserted, unchanged in ((2, 0), (0, 2)):  # the second run finds them all there
        result = subprocess.run(
            [*gateway, "history", "import", str(good)], env=env, cwd=tmp_path,
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout) == {
            "rows": 2,
            "inserted": inserted,
            "replaced": 0,
            "unchanged": unchanged,
        }
