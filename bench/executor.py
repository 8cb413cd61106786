"""Benchmark of the executor's per-sample path at scale, against a naive one-GET-per-device loop.

Usage (from the repository root, in the project's venv)::

    python bench/executor.py                      # 100,000 devices, 10 samples, 5 s cadence
    python bench/executor.py --devices 2000 --samples 3
    python bench/executor.py --naive-devices 10000  # naive loop on 10,000, scaled to --devices
    python bench/executor.py --profile            # also cProfile one gateway sample (stderr)

Per sample, the gateway path is what ``EventRun`` does: ``RedisPowerReader.read_kw`` (one MGET),
``store.write_sample`` (one packed row), ``EventMeter.feed``, then the live state that
``_publish_live`` writes (``meter.live_totals``, current reduction, one Redis SET, and the progress
PUBLISH every ``progress_every`` samples). The naive path GETs each device's key one by one,
parses it with ``read_power_value``, sums the reduction in a Python loop and stores the sample
with the same ``store.write_sample``.

Wall time is ``time.perf_counter()``; CPU is ``time.process_time()`` (every thread of this
process, so SQLite's worker thread is included). The CPU share of one core is CPU seconds per
sample divided by the cadence. Redis server CPU (``INFO cpu``) is another process: reported
separately, never added to the gateway's share.

Progress goes to stderr; stdout gets exactly one result line.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import json
import pstats
import random
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from redis.asyncio import Redis
from sqlalchemy import insert

from gateway.bus.power import RedisPowerReader, power_key
from gateway.db import migrate
from gateway.db.engine import Database
from gateway.db.models import Base, DeviceRow, EventDeviceRow, EventRow
from gateway.domain.lifecycle import EventStatus
from gateway.domain.power import PowerReading, read_power_value
from gateway.domain.reduction import EventMeter
from gateway.executor import store
from gateway.executor.run import ExecutorConfig, live_state, publish_live
from gateway.services.results import EVENT, live_key

FENCE = 1
BASELINE_KW = 10.0
TARGET_PERCENT = 10.0
MSET_CHUNK = 10_000
INSERT_CHUNK = 10_000
DEL_CHUNK = 10_000
GATEWAY_STEPS = ("read_kw", "write_sample", "feed", "publish_live")


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@dataclass
class Timings:
    """Per-sample measurements of one path (warm-up excluded)."""

    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    redis_cpu: list[float] = field(default_factory=list)

    @property
    def wall_s(self) -> float:
        return statistics.median(self.wall)

    @property
    def cpu_s(self) -> float:
        return statistics.median(self.cpu)

    @property
    def redis_cpu_s(self) -> float:
        return statistics.fmean(self.redis_cpu)


@dataclass(frozen=True)
class Fixture:
    """What both paths need: the Redis keys' prefix, the database and the events."""

    prefix: str
    db: Database
    device_ids: tuple[str, ...]
    event_id: str
    naive_event_id: str
    naive_device_ids: tuple[str, ...]
    started_at: datetime


# --- setup -------------------------------------------------------------------------------------


def power_json(kw: float, ts: str) -> str:
    return json.dumps({"kw": kw, "ts": ts, "source": "bench"})


async def write_readings(
    redis: Redis, prefix: str, device_ids: Sequence[str], kws: Sequence[float]
) -> None:
    """All readings, fresh (ts = now), with pipelined MSETs in chunks."""
    ts = datetime.now(UTC).isoformat()
    async with redis.pipeline(transaction=False) as pipe:
        for start in range(0, len(device_ids), MSET_CHUNK):
            chunk = range(start, min(start + MSET_CHUNK, len(device_ids)))
            pipe.mset({power_key(prefix, device_ids[i]): power_json(kws[i], ts) for i in chunk})
        await pipe.execute()


async def insert_chunks(db: Database, model: type[Base], rows: list[dict[str, object]]) -> None:
    async with db.engine.begin() as conn:
        for start in range(0, len(rows), INSERT_CHUNK):
            await conn.execute(insert(model), rows[start : start + INSERT_CHUNK])


async def add_event(db: Database, device_ids: Sequence[str], now: datetime) -> str:
    """An active event owned by fence 1, with one event_devices row per device."""
    event_id = str(uuid.uuid4())
    async with db.write() as session:
        session.add(
            EventRow(
                id=event_id,
                invitation_id=None,
                created_at=now,
                updated_at=now,
                start_time=now,
                end_time=now + timedelta(hours=1),
                status=EventStatus.ACTIVE.value,
                target_kw=float(len(device_ids)),
                target_kwh=float(len(device_ids)),
                started_at=now,
                late_start_seconds=0.0,
                fence=FENCE,
            )
        )
    rows: list[dict[str, object]] = [
        {"event_id": event_id, "device_id": d, "position": i, "committed_kw": 1.0}
        for i, d in enumerate(device_ids)
    ]
    await insert_chunks(db, EventDeviceRow, rows)
    return event_id


async def setup_database(
    db: Database, device_ids: Sequence[str], naive_device_ids: Sequence[str]
) -> tuple[str, str, datetime]:
    await migrate.upgrade(db)
    now = datetime.now(UTC)
    devices: list[dict[str, object]] = [
        {"id": d, "ven_id": None, "resource_id": None, "timezone": "UTC", "created_at": now}
        for d in device_ids
    ]
    await insert_chunks(db, DeviceRow, devices)
    event_id = await add_event(db, device_ids, now)
    # The naive loop gets its own event of --naive-devices devices, so every part of its
    # sample (reads, parsing, the event's rows loaded by write_sample) scales together.
    naive_event_id = await add_event(db, naive_device_ids, now)
    return event_id, naive_event_id, now


async def redis_cpu_seconds(redis: Redis) -> float:
    info = await redis.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


async def delete_prefix(redis: Redis, prefix: str) -> int:
    deleted = 0
    batch: list[bytes] = []
    async for key in redis.scan_iter(match=f"{prefix}*", count=DEL_CHUNK):
        batch.append(key)
        if len(batch) >= DEL_CHUNK:
            deleted += await redis.delete(*batch)
            batch = []
    if batch:
        deleted += await redis.delete(*batch)
    return deleted


# --- the two paths -----------------------------------------------------------------------------


class GatewayPath:
    """One sample exactly as ``EventRun`` takes it during the event phase."""

    def __init__(
        self, redis: Redis, fx: Fixture, cadence: float, max_age: timedelta, config: ExecutorConfig
    ) -> None:
        self._redis = redis
        self._fx = fx
        self._config = config
        self._reader = RedisPowerReader(redis, fx.prefix, max_age)
        self._meter = EventMeter([BASELINE_KW] * len(fx.device_ids), cadence, fx.started_at)
        self._taken = 0
        self.present = 0
        # CPU seconds of each step, per sample (for the breakdown on stderr).
        self.steps: dict[str, list[float]] = {s: [] for s in GATEWAY_STEPS}

    async def sample(self, k: int) -> None:
        fx = self._fx
        cpu = [time.process_time()]
        at = datetime.now(UTC)
        values = await self._reader.read_kw(fx.device_ids, at)
        cpu.append(time.process_time())
        status = await store.write_sample(fx.db, fx.event_id, FENCE, EVENT, k, at, values)
        cpu.append(time.process_time())
        if status is not EventStatus.ACTIVE:
            raise RuntimeError(f"event is {status}, expected active")
        self._meter.feed(k, at, values)
        self._taken += 1
        cpu.append(time.process_time())
        await self._publish_live(k, at, values)
        cpu.append(time.process_time())
        self.present = sum(v is not None for v in values)
        for i, step in enumerate(GATEWAY_STEPS):
            self.steps[step].append(cpu[i + 1] - cpu[i])

    def breakdown(self, skip: int) -> str:
        """Median CPU ms per step over the samples after the first ``skip`` ones."""
        parts = [
            f"{step} {statistics.median(times[skip:]) * 1e3:.1f}"
            for step, times in self.steps.items()
            if times[skip:]
        ]
        return ", ".join(parts)

    async def _publish_live(self, index: int, at: datetime, values: Sequence[float | None]) -> None:
        """What ``EventRun._publish_live`` does (no per-device power above the device limit)."""
        fx, meter, config = self._fx, self._meter, self._config
        live = live_state(
            fx.event_id, fx.device_ids, meter, index, at, values, config.live_device_limit
        )
        await publish_live(
            self._redis,
            live_key(fx.prefix, fx.event_id),
            f"{fx.prefix}dr_events",
            live,
            config.cadence_seconds,
            progress=self._taken % config.progress_every == 0,
        )


class NaivePath:
    """One GET per device, parse, sum the reduction in Python, store the same packed row."""

    def __init__(self, redis: Redis, fx: Fixture, max_age: timedelta) -> None:
        self._redis = redis
        self._fx = fx
        self._max_age = max_age
        self.present = 0
        self.reduction_kw = 0.0

    async def sample(self, k: int) -> None:
        fx, redis, max_age = self._fx, self._redis, self._max_age
        at = datetime.now(UTC)
        values: list[float | None] = []
        reduction = 0.0
        for device_id in fx.naive_device_ids:
            raw = await redis.get(power_key(fx.prefix, device_id))
            reading = read_power_value(device_id, raw, at, max_age)
            if isinstance(reading, PowerReading):
                values.append(reading.kw)
                reduction += BASELINE_KW - reading.kw
            else:
                values.append(None)
        status = await store.write_sample(fx.db, fx.naive_event_id, FENCE, EVENT, k, at, values)
        if status is not EventStatus.ACTIVE:
            raise RuntimeError(f"event is {status}, expected active")
        self.present = sum(v is not None for v in values)
        self.reduction_kw = reduction


async def measure(
    name: str,
    sample: Callable[[int], Awaitable[None]],
    refresh: Callable[[], Awaitable[None]],
    redis: Redis,
    samples: int,
) -> Timings:
    """One warm-up sample, then ``samples`` timed ones; readings are refreshed between samples
    (untimed) so they are never stale whatever the sample takes."""
    timings = Timings()
    for k in range(samples + 1):
        await refresh()
        redis_before = await redis_cpu_seconds(redis)
        wall0, cpu0 = time.perf_counter(), time.process_time()
        await sample(k)
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
        redis_cpu = await redis_cpu_seconds(redis) - redis_before
        label = "warm-up" if k == 0 else f"{k}/{samples}"
        log(f"{name} sample {label}: {wall * 1e3:.1f} ms wall, {cpu * 1e3:.1f} ms CPU")
        if k > 0:
            timings.wall.append(wall)
            timings.cpu.append(cpu)
            timings.redis_cpu.append(redis_cpu)
    return timings


async def profile_one(sample: Callable[[int], Awaitable[None]], k: int, top: int) -> None:
    profiler = cProfile.Profile()
    profiler.enable()
    await sample(k)
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(top)
    print(out.getvalue(), file=sys.stderr, flush=True)
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(top)
    print(out.getvalue(), file=sys.stderr, flush=True)


# --- main --------------------------------------------------------------------------------------


def percent(cpu_seconds: float, cadence: float) -> float:
    return cpu_seconds / cadence * 100.0


async def run(args: argparse.Namespace, workdir: Path) -> str:
    devices: int = args.devices
    naive_devices: int = args.naive_devices or devices
    cadence: float = args.cadence
    # The executor's staleness limit (build_executor): 3 cadences unless configured.
    max_age = timedelta(seconds=3 * cadence)
    config = ExecutorConfig(cadence_seconds=cadence)

    prefix = f"bench:{uuid.uuid4()}:"
    device_ids = tuple(f"dev-{i:07d}" for i in range(devices))
    naive_device_ids = device_ids[:naive_devices]
    rng = random.Random(42)
    kws = [round(rng.uniform(2.0, 12.0), 3) for _ in device_ids]

    redis = Redis.from_url(args.redis_url)
    db = Database(f"sqlite+aiosqlite:///{workdir / 'bench.db'}")
    try:
        await redis.ping()
        log(f"redis {args.redis_url}, key prefix {prefix}, database {workdir / 'bench.db'}")
        t0 = time.perf_counter()
        await write_readings(redis, prefix, device_ids, kws)
        log(f"wrote {devices} readings in {time.perf_counter() - t0:.1f} s")
        t0 = time.perf_counter()
        event_id, naive_event_id, started_at = await setup_database(
            db, device_ids, naive_device_ids
        )
        log(f"database ready in {time.perf_counter() - t0:.1f} s")
        fx = Fixture(prefix, db, device_ids, event_id, naive_event_id, naive_device_ids, started_at)

        async def refresh() -> None:
            await write_readings(redis, prefix, device_ids, kws)

        gateway = GatewayPath(redis, fx, cadence, max_age, config)
        naive = NaivePath(redis, fx, max_age)

        if args.profile:
            # Indices past the timed ones, so the profiled samples do not collide with them.
            await refresh()
            await gateway.sample(10_000_000)  # warm-up (connections, statement cache)
            await refresh()
            log("cProfile of one gateway sample:")
            await profile_one(gateway.sample, 10_000_001, args.profile_top)

        skip = len(gateway.steps["read_kw"]) + 1  # profiled samples and the warm-up
        g = await measure("gateway", gateway.sample, refresh, redis, args.samples)
        log(f"gateway CPU ms per step (median): {gateway.breakdown(skip)}")
        if gateway.present != devices:
            log(f"WARNING: gateway saw {gateway.present} of {devices} readings")
        n = await measure("naive", naive.sample, refresh, redis, args.samples)
        if naive.present != naive_devices:
            log(f"WARNING: naive saw {naive.present} of {naive_devices} readings")
    finally:
        if not args.keep:
            deleted = await delete_prefix(redis, prefix)
            log(f"deleted {deleted} keys under {prefix}")
        else:
            log(f"kept the keys under {prefix}")
        await redis.aclose()
        await db.dispose()

    scale = devices / naive_devices
    naive_wall, naive_cpu = n.wall_s * scale, n.cpu_s * scale
    if scale != 1:
        log(
            f"naive loop ran on {naive_devices} devices: its times are scaled linearly "
            f"x{scale:g} to {devices} devices (measured {n.wall_s * 1e3:.1f} ms wall, "
            f"{n.cpu_s * 1e3:.1f} ms CPU per sample)"
        )
    log(
        f"redis-server CPU per sample: gateway {g.redis_cpu_s * 1e3:.1f} ms, "
        f"naive {n.redis_cpu_s * scale * 1e3:.1f} ms" + (" (scaled)" if scale != 1 else "")
    )
    share = percent(g.cpu_s, cadence)
    scaled_note = f" (scaled from {naive_devices} devices)" if scale != 1 else ""
    return (
        f"executor devices={devices} cadence={cadence}s "
        f"gateway: {g.wall_s * 1e3:.1f} ms/sample wall, {g.cpu_s * 1e3:.1f} ms CPU "
        f"= {share:.1f}% of one core | "
        f"naive{scaled_note}: {naive_wall * 1e3:.1f} ms/sample wall, {naive_cpu * 1e3:.1f} ms CPU "
        f"= {percent(naive_cpu, cadence):.1f}% | "
        f"ratio wall {naive_wall / g.wall_s:.1f}x cpu {naive_cpu / g.cpu_s:.1f}x | "
        f"redis-server {g.redis_cpu_s * 1e3:.1f} ms/sample | "
        f"target <{TARGET_PERCENT:g}%: {'PASS' if share < TARGET_PERCENT else 'FAIL'}"
    )


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Executor per-sample cost at scale: gateway path vs a naive GET loop."
    )
    parser.add_argument("--devices", type=positive_int, default=100_000)
    parser.add_argument("--samples", type=positive_int, default=10, help="timed samples per path")
    parser.add_argument("--cadence", type=float, default=5.0, help="seconds between samples")
    parser.add_argument(
        "--naive-devices",
        type=positive_int,
        default=None,
        help="devices for the naive loop (default: --devices); when smaller, its times are "
        "scaled linearly to --devices",
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/15")
    parser.add_argument("--keep", action="store_true", help="leave the Redis keys in place")
    parser.add_argument(
        "--profile", action="store_true", help="cProfile one gateway sample first (stderr)"
    )
    parser.add_argument("--profile-top", type=positive_int, default=25)
    args = parser.parse_args(argv)
    if args.cadence <= 0:
        parser.error("--cadence must be positive")
    if args.naive_devices is not None and args.naive_devices > args.devices:
        parser.error("--naive-devices cannot exceed --devices")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="bench-executor-"))
    try:
        line = asyncio.run(run(args, workdir))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
