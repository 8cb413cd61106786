"""Benchmark of ``GET /api/events/{id}/samples`` on one event of 100,000 devices x 720 samples.

Usage (from the repository root, in the project's venv; needs Redis at 127.0.0.1:6379)::

    python bench/event_samples.py                    # SQLite file in a temporary directory
    python bench/event_samples.py --devices 2000 --samples 60        # quick check
    python bench/event_samples.py --database-url postgresql+asyncpg://postgres@127.0.0.1/bench

The event is written straight into a fresh database (the executor's packed rows: one row per
sample instant, 8 bytes per device; a 15-minute baseline window of 180 rows too), then the
gateway serves it on a free port and this process asks over HTTP for: the first and the last
JSON page of 100 devices (every sample), a live poll (the newest sample only), and a CSV page of
1,000 devices. Each is timed as the best of ``--repeat`` runs, wall clock, response fully read.
Progress goes to stderr; stdout gets one result line.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import random
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
from aiohttp import web
from sqlalchemy import insert

from gateway.app import build_app
from gateway.db import migrate
from gateway.db.engine import Database
from gateway.db.models import DeviceRow, EventDeviceRow, EventRow, EventSampleRow
from gateway.domain.samples import pack
from gateway.settings import Settings

TOKEN = "bench-admin-token-" + uuid.uuid4().hex[:8]
BASELINE_SAMPLES = 180  # 15 minutes at 5 s


async def _fill(db: Database, devices: int, samples: int) -> str:
    event_id = str(uuid.uuid4())
    now = datetime.now(UTC)
    start = now - timedelta(seconds=5 * samples)
    ids = [f"dev-{i:06d}" for i in range(devices)]
    async with db.write() as session:
        await session.execute(
            insert(DeviceRow),
            [{"id": d, "timezone": "UTC", "created_at": now} for d in ids],
        )
        await session.execute(
            insert(EventRow).values(
                id=event_id, created_at=now, updated_at=now, start_time=start,
                end_time=start + timedelta(seconds=5 * samples), status="active",
                target_kw=devices, target_kwh=devices, started_at=start,
            )
        )  # fmt: skip
        await session.execute(
            insert(EventDeviceRow),
            [{"event_id": event_id, "device_id": d, "position": i} for i, d in enumerate(ids)],
        )
    rng = random.Random(7)
    base = [rng.uniform(1, 10) for _ in range(devices)]
    # One device in 50 misses each sample: the benchmark reads real gaps too.
    for phase, count, offset in (("baseline", BASELINE_SAMPLES, -BASELINE_SAMPLES), ("event",
                                 samples, 0)):  # fmt: skip
        for first in range(0, count, 20):
            rows = []
            for index in range(first, min(first + 20, count)):
                values = [None if rng.random() < 0.02 else b * 0.7 for b in base]
                rows.append({
                    "event_id": event_id, "phase": phase, "sample_index": index,
                    "sampled_at": start + timedelta(seconds=5 * (offset + index)),
                    "present": sum(v is not None for v in values), "power_kw": pack(values),
                })  # fmt: skip
            async with db.write() as session:
                await session.execute(insert(EventSampleRow), rows)
            print(f"  {phase} {first + len(rows)}/{count}", file=sys.stderr, end="\r")
    print(file=sys.stderr)
    return event_id


async def _best(http: aiohttp.ClientSession, url: str, repeat: int) -> tuple[float, int]:
    best, size = math.inf, 0
    for _ in range(repeat):
        began = time.perf_counter()
        async with http.get(url) as response:
            assert response.status == 200, (response.status, await response.text())
            size = len(await response.read())
        best = min(best, time.perf_counter() - began)
    return best, size


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=100_000)
    parser.add_argument("--samples", type=int, default=720)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/15")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-samples-") as tmp:
        url = args.database_url or f"sqlite+aiosqlite:///{Path(tmp) / 'gateway.db'}"
        db = Database(url)
        await migrate.upgrade(db)
        began = time.perf_counter()
        event_id = await _fill(db, args.devices, args.samples)
        await db.dispose()
        print(f"  filled in {time.perf_counter() - began:.1f} s", file=sys.stderr)
        settings = Settings(
            data_dir=Path(tmp) / "data", database_url=url, redis_url=args.redis_url,
            redis_prefix=f"bench:{uuid.uuid4().hex[:8]}:", admin_token=TOKEN,
            executor_enabled=False, vtn_enabled=False, flexibility_snapshot_interval_seconds=0,
        )  # fmt: skip
        runner = web.AppRunner(build_app(settings, admin_token=TOKEN, run_workers=False))
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        base = f"http://127.0.0.1:{port}/api/events/{event_id}/samples"
        last_page = max(0, args.devices - 100)
        try:
            async with aiohttp.ClientSession() as http:
                first, first_size = await _best(http, f"{base}?limit=100", args.repeat)
                last, _ = await _best(http, f"{base}?limit=100&cursor={last_page}", args.repeat)
                live, _ = await _best(
                    http, f"{base}?limit=100&after_index={args.samples - 2}", args.repeat
                )
                csv, csv_size = await _best(http, f"{base}?format=csv&limit=1000", args.repeat)
        finally:
            await runner.cleanup()
    csv_lines = min(1000, args.devices) * args.samples
    print(
        f"samples {args.devices} devices x {args.samples} samples ({db.describe()}): "
        f"JSON page of 100 devices first {first * 1000:.0f} ms / last {last * 1000:.0f} ms "
        f"({first_size / 1e6:.1f} MB), live poll {live * 1000:.0f} ms, "
        f"CSV 1000 devices {csv * 1000:.0f} ms ({csv_size / 1e6:.1f} MB, "
        f"{csv_lines / csv / 1e6:.2f} M lines/s)"
    )


if __name__ == "__main__":
    asyncio.run(main())
