"""Soak benchmark: 10,000 VENs polling every 10 s for 10 minutes while an invitation is created,
answered and run every minute.

Usage (from the repository root, in the project's venv)::

    python bench/soak.py                          # 10,000 VENs x 10 s, 10 invitations (~15 min)
    python bench/soak.py --vens 500 --minutes 1   # quick check (~2 min)

The gateway is a real ``oadr-gateway run`` subprocess (``vtn_poll.start_gateway`` through
``env``, so that its executor runs with a 2 s cadence), so the RSS is its own. The VENs are
provisioned and registered as in ``vtn_poll.py``; this process polls for each of them at a
fixed rate (open loop, raw HTTP/1.1 keep-alive) and answers optIn to each event it is sent.
Every minute an invitation is made for some VENs' devices and some devices answered through the
admin API, and must be scheduled and then completed. ``bench/README.md`` has the details.
Progress goes to stderr; stdout gets one result line; the exit code is 0 when the targets are met.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import shlex
import shutil
import signal
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
from redis.asyncio import Redis
from redis.exceptions import RedisError
from vtn_poll import (
    ADMIN_TOKEN,
    DRAIN_SECONDS,
    P99_TARGET_MS,
    BenchError,
    Connection,
    Server,
    cleanup_redis,
    connect,
    http_request,
    load,
    log,
    message_template,
    percentile,
    poll_requests,
    process_cpu,
    py_spy_window,
    setup_vens,
    start_gateway,
    ven_ids,
    wait_ready,
)

RSS_TARGET = 0.05  # growth after warm-up
LEAD_SECONDS = 35.0  # from creating an invitation to its event's start
EVENT_MINUTES = 1  # the shortest invitation the admin API takes
CADENCE_SECONDS = 2.0  # the executor's
BASELINE_SECONDS = 15.0  # the executor's baseline window
BASELINE_KW, EVENT_KW = 10.0, 6.0  # each device sheds 4 kW
MIN_COVERAGE = 0.9
OK_CODE = b"<ei:responseCode>200</ei:responseCode>"
SETUP_CONCURRENCY = 50


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise BenchError(f"process {pid} has no VmRSS")


def utcnow() -> datetime:
    return datetime.now(UTC)


async def sleep_until(at: datetime) -> None:
    await asyncio.sleep(max(0.0, (at - utcnow()).total_seconds()))


def ms(ordered: Sequence[float], q: float) -> str:
    return f"{1000 * percentile(ordered, q):.1f} ms"


@dataclass
class Errors:
    """Every failure of the run, by kind; the first three of each kind are logged."""

    kinds: Counter[str] = field(default_factory=Counter)

    def add(self, kind: str, detail: object) -> None:
        self.kinds[kind] += 1
        if self.kinds[kind] <= 3:
            log(f"error ({kind}): {str(detail)[:600]}")

    def openadr(self, kind: str, status: int, body: bytes) -> bool:
        """True when the answer is HTTP 200 with OpenADR responseCode 200."""
        if status == 200 and OK_CODE in body:
            return True
        code = re.search(rb"responseCode>(\d+)<", body)
        name = f"{kind} HTTP {status} code {code[1].decode() if code else '-'}"
        self.add(name, body.decode("utf-8", "replace"))
        return False

    @property
    def total(self) -> int:
        return sum(self.kinds.values())


class Vens:
    """The VENs' side of events: optIn, once, to each event (and modification) a VEN is sent."""

    def __init__(self, port: int) -> None:
        self._port = port
        self._answered: set[tuple[str, str, int]] = set()
        self.statuses: Counter[str] = Counter()
        self.answer_latencies: list[float] = []

    def answer(self, ven_id: str, body: bytes) -> bytes | None:
        from openleadr.messaging import parse_message

        _, payload = parse_message(body)
        ok = {"response_code": 200, "response_description": "OK"}
        responses = []
        for event in payload.get("events") or []:
            descriptor = event["event_descriptor"]
            self.statuses[descriptor["event_status"]] += 1
            key = (ven_id, descriptor["event_id"], descriptor["modification_number"])
            if key in self._answered or descriptor["event_status"] in ("completed", "cancelled"):
                continue
            self._answered.add(key)
            responses.append(
                ok | {"request_id": payload.get("request_id"), "event_id": key[1],
                      "modification_number": key[2], "opt_type": "optIn"}
            )  # fmt: skip
        if not responses:
            return None
        created = message_template(
            "oadrCreatedEvent", ven_id=ven_id, response=ok | {"request_id": None},
            event_responses=responses,
        )  # fmt: skip
        return http_request(self._port, "EiEvent", created.encode())


@dataclass
class Load:
    """Open-loop polls: VEN i polls at t0 + i*interval/N + k*interval until ``stop`` is set, over
    keep-alive connection i mod C of a fixed set, so the gateway holds C connections all along.
    A latency runs from the scheduled time, so a stall delays every poll behind it."""

    port: int
    ids: Sequence[str]
    interval: float
    vens: Vens
    errors: Errors
    t0: float = 0.0
    conns: list[Connection] = field(default_factory=list)
    locks: list[asyncio.Lock] = field(default_factory=list)
    reconnects: int = 0  # connections the gateway had closed, opened again
    latencies: list[float] = field(default_factory=list)  # from the scheduled time
    service: list[float] = field(default_factory=list)  # from sending the poll
    slots: dict[int, list[float]] = field(default_factory=dict)  # by 10 s of the schedule
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def open(self, count: int) -> None:
        count = min(count, len(self.ids))
        while len(self.conns) < count:  # 100 at a time, within the listen backlog
            batch = min(100, count - len(self.conns))
            self.conns += await asyncio.gather(*(connect(self.port) for _ in range(batch)))
        self.locks = [asyncio.Lock() for _ in self.conns]

    async def run(self) -> None:
        requests = poll_requests(self.port, self.ids)
        period = self.interval / len(self.ids)
        tasks: set[asyncio.Task[None]] = set()
        number = 0
        while not self.stop.is_set():
            now = time.perf_counter()
            while self.t0 + number * period <= now:
                index = number % len(self.ids)
                poll = self._poll(requests[index], index, self.t0 + number * period)
                task = asyncio.create_task(poll)
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                number += 1
            await asyncio.sleep(max(0.0, self.t0 + number * period - time.perf_counter()))
        if tasks:
            _, pending = await asyncio.wait(set(tasks), timeout=DRAIN_SECONDS)
            for task in pending:
                task.cancel()
                self.errors.add("poll unanswered", f"{DRAIN_SECONDS:g} s after the end")
            await asyncio.gather(*pending, return_exceptions=True)
        for conn in self.conns:
            conn.close()
        self.latencies.sort()
        self.service.sort()

    async def _poll(self, request: bytes, index: int, scheduled: float) -> None:
        slot = index % len(self.conns)
        try:
            async with self.locks[slot]:
                if self.conns[slot].closed:
                    self.reconnects += 1
                    self.conns[slot] = await connect(self.port)
                conn = self.conns[slot]
                sent = time.perf_counter()
                status, body = await conn.request(request)
                done = time.perf_counter()
                answer, ok = None, self.errors.openadr("poll", status, body)
                if ok and b"oadrDistributeEvent" in body:
                    answer = self.vens.answer(self.ids[index], body)
                elif ok and b"oadrResponse" not in body:
                    self.errors.add("poll answer", body[:600])
        except (ConnectionError, OSError) as err:
            self.errors.add(f"poll {type(err).__name__}", repr(err))
            return
        self.latencies.append(done - scheduled)
        self.service.append(done - sent)
        self.slots.setdefault(int((scheduled - self.t0) // 10), []).append(done - scheduled)
        if answer is not None:
            await self._answer(answer)

    async def _answer(self, request: bytes) -> None:
        """On a connection of its own (the VEN's), so no other VEN's poll waits behind it."""
        began = time.perf_counter()
        try:
            conn = await connect(self.port)
            try:
                status, reply = await conn.request(request)
            finally:
                conn.close()
        except (ConnectionError, OSError) as err:
            self.errors.add(f"oadrCreatedEvent {type(err).__name__}", repr(err))
            return
        self.vens.answer_latencies.append(time.perf_counter() - began)
        self.errors.openadr("oadrCreatedEvent", status, reply)


@dataclass
class Api:
    """Admin API calls; a failed call or a non-2xx answer is an error (and gives None)."""

    session: aiohttp.ClientSession
    port: int
    errors: Errors

    async def call(self, method: str, path: str, body: object = None) -> Any:
        url, route = f"http://127.0.0.1:{self.port}{path}", path.split("/")[2]
        headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        try:
            async with self.session.request(method, url, json=body, headers=headers) as response:
                text = await response.text()
        except (aiohttp.ClientError, TimeoutError) as err:
            self.errors.add(f"admin {method} {route}", repr(err))
            return None
        if not 200 <= response.status < 300:
            self.errors.add(f"admin {method} {route} {response.status}", f"{path}: {text}")
            return None
        return json.loads(text)


@dataclass
class Power:
    """Readings on ``{prefix}power`` every second for the devices of each invitation, from its
    creation until a cadence after its end: 10 kW before the start, 6 kW during the event."""

    redis: Redis
    prefix: str
    errors: Errors
    windows: list[tuple[list[str], datetime, datetime]] = field(default_factory=list)

    async def run(self) -> None:
        while True:
            now = utcnow()
            self.windows = [w for w in self.windows if now < w[2] + timedelta(seconds=3)]
            pipe = self.redis.pipeline(transaction=False)
            for devices, start, end in self.windows:
                kw = EVENT_KW if start <= now < end else BASELINE_KW
                for device in devices:
                    message = {"device_id": device, "kw": kw, "ts": now.isoformat()}
                    pipe.publish(f"{self.prefix}power", json.dumps(message))
            try:
                await pipe.execute()
            except (RedisError, OSError) as err:
                self.errors.add("power publish", repr(err))
            await asyncio.sleep(1.0)


async def cycle(k: int, devices: list[str], admin: list[str], api: Api, power: Power) -> bool:
    """One invitation: created, answered, scheduled before its baseline, completed after it."""
    start = (utcnow() + timedelta(seconds=LEAD_SECONDS)).replace(microsecond=0)
    end = start + timedelta(minutes=EVENT_MINUTES)
    everyone = devices + admin
    target_kw = (BASELINE_KW - EVENT_KW) * len(everyone)
    terms = {"event_time": start.isoformat(), "duration_minutes": EVENT_MINUTES,
             "load_kwh": round(target_kw * EVENT_MINUTES / 60, 6), "devices": everyone}  # fmt: skip
    invitation = await api.call("POST", "/api/invitations", terms)
    if invitation is None:
        return False
    power.windows.append((everyone, start, end))
    path = f"/api/invitations/{invitation['id']}"
    for device in admin:
        answer = {"device_id": device, "answer": "YES", "committed_kw": BASELINE_KW - EVENT_KW}
        await api.call("POST", f"{path}/answers", answer)
    await sleep_until(start - timedelta(seconds=BASELINE_SECONDS + 1))
    view = await api.call("GET", path)
    if view is None or view["status"] != "scheduled":
        state = f"{view['status']}, {len(view['answers'])}/{len(everyone)} answers" if view else ""
        api.errors.add("not scheduled in time", f"invitation {k}: {state}")
        return False
    await sleep_until(end + timedelta(seconds=CADENCE_SECONDS))
    url = f"/api/events/{view['event_id']}"
    while (event := await api.call("GET", url)) is None or event["status"] != "completed":
        if utcnow() > end + timedelta(seconds=30):
            api.errors.add("event not completed", f"event {k}: {event and event['status']}")
            return False
        await asyncio.sleep(1.0)
    results = event["results"]
    log(
        f"event {k}: completed, {len(everyone)} devices, reduction "
        f"{results['average_reduction_kw']:.1f} kW of {target_kw:g}, coverage {results['coverage']}"
    )
    if results["coverage"] is None or results["coverage"] < MIN_COVERAGE:
        api.errors.add("event coverage", f"event {k}: coverage {results['coverage']}")
        return False
    return True


async def monitor(gateway: Server, polls: Load, errors: Errors, rss: dict[str, float]) -> None:
    """Each minute on stderr: polls, that minute's p99, connections, RSS, CPU. Raises
    ``BenchError`` as soon as the gateway exits."""
    pid = gateway.process.pid
    minute, cpu, own = 0, process_cpu(pid), time.process_time()
    while True:
        await asyncio.sleep(1.0)
        if gateway.process.poll() is not None:
            raise BenchError(f"the gateway exited with {gateway.process.returncode}")
        if time.perf_counter() < polls.t0 + 60 * (minute + 1):
            continue
        rss[f"minute {minute + 1}"] = mb = rss_mb(pid)
        latencies = sorted(x for n in range(6) for x in polls.slots.get(6 * minute + n, []))
        used, cpu = process_cpu(pid) - cpu, process_cpu(pid)
        client, own = time.process_time() - own, time.process_time()
        log(
            f"minute {minute + 1}: {len(latencies)} polls, p99 {ms(latencies, 0.99)}, "
            f"{polls.reconnects} reconnects, RSS {mb:.1f} MB, cpu gateway {used / 0.6:.0f}% "
            f"load generator {client / 0.6:.0f}%, errors {errors.total} (host load {load()})"
        )
        minute += 1


def launch(args: argparse.Namespace, workdir: Path) -> Server:
    """``oadr-gateway run`` with the executor on; env(1) execs it, so the PID is the gateway's."""
    executable = shutil.which("oadr-gateway", path=str(Path(sys.executable).parent))
    assert executable is not None, "oadr-gateway is not installed in this venv"
    overrides = {
        "GATEWAY_EXECUTOR_ENABLED": "true",
        "GATEWAY_CADENCE_SECONDS": str(CADENCE_SECONDS),
        "GATEWAY_BASELINE_WINDOW_MINUTES": str(BASELINE_SECONDS / 60),
        "GATEWAY_VTN_POLL_INTERVAL_SECONDS": str(args.interval),
    }
    args.gateway_command = shlex.join(["env", *(f"{k}={v}" for k, v in overrides.items())])
    args.gateway_command += " " + shlex.quote(executable)
    return start_gateway(args, workdir, None)


async def add_devices(api: Api, plans: list[tuple[list[str], list[str]]]) -> None:
    """A device for each invited VEN (its one resource), and those answered by the admin API."""
    semaphore = asyncio.Semaphore(SETUP_CONCURRENCY)

    async def add(device_id: str) -> None:
        ven = device_id.removeprefix("soak-dev-")
        body = {"id": device_id}
        if ven != device_id:
            body |= {"ven_id": f"bench-ven-{ven}", "resource_id": f"res-{ven}"}
        async with semaphore:
            await api.call("POST", "/api/devices", body)

    await asyncio.gather(*(add(d) for d in sorted({d for p in plans for d in p[0] + p[1]})))
    if api.errors.total:
        raise BenchError("device setup failed")


async def soak(args: argparse.Namespace, gateway: Server, redis: Redis) -> bool:
    ids, errors, pid = ven_ids(args.vens), Errors(), gateway.process.pid
    step = max(1, args.vens // args.event_vens)
    plans = [
        ([f"soak-dev-{(j * step + k) % args.vens:05d}" for j in range(args.event_vens)],
         [f"soak-admin-{k:03d}-{j}" for j in range(args.admin_devices)])
        for k in range(args.minutes)
    ]  # fmt: skip
    tasks: list[asyncio.Task[Any]] = []
    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=100)) as session:
            await wait_ready(gateway, session)
            await setup_vens(gateway, session, ids)
            api = Api(session, gateway.port, errors)
            await add_devices(api, plans)
            polls = Load(gateway.port, ids, args.interval, Vens(gateway.port), errors)
            await polls.open(args.connections)
            power, rss = Power(redis, args.prefix, errors), {"start": rss_mb(pid)}
            log(f"soak starts: RSS {rss['start']:.1f} MB (host load {load()})")
            polls.t0 = time.perf_counter() + 0.5

            async def at_minute(k: int) -> bool:
                await asyncio.sleep(max(0.0, polls.t0 + 60 * k - time.perf_counter()))
                return await cycle(k, *plans[k], api, power)

            async def cycles() -> int:
                ran = await asyncio.gather(*(at_minute(k) for k in range(args.minutes)))
                await asyncio.sleep(max(0.0, polls.t0 + 60 * args.minutes - time.perf_counter()))
                return sum(ran)

            jobs = [monitor(gateway, polls, errors, rss), cycles(), polls.run(), power.run()]
            if args.profile:  # the second minute, after the warm-up
                jobs.append(py_spy_window(pid, args.profile.with_suffix(".raw.txt"), 60.5, 60))
            tasks = [asyncio.create_task(job) for job in jobs]
            watch, done = tasks[:2]
            await asyncio.wait({watch, done}, return_when=asyncio.FIRST_COMPLETED)
            if watch.done():
                watch.result()  # the gateway exited: BenchError
            ran, seconds = done.result(), time.perf_counter() - polls.t0
            polls.stop.set()
            await asyncio.gather(tasks[2], *tasks[4:])  # the polls' drain, the profile
            rss["end"] = rss_mb(pid)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return report(args, polls, rss, ran, seconds)


def report(
    args: argparse.Namespace, polls: Load, rss: dict[str, float], ran: int, s: float
) -> bool:
    """The result line (stdout) and what explains it (stderr); True when the targets are met."""
    vens, errors = polls.vens, polls.errors
    warm = rss[f"minute {args.warmup}"]
    growth = (rss["end"] - warm) / warm
    p99 = 1000 * percentile(polls.latencies, 0.99)
    answers = sorted(vens.answer_latencies)
    log(
        f"polls: p50 {ms(polls.latencies, 0.5)}, max {ms(polls.latencies, 1.0)}, "
        f"p99 from sending {ms(polls.service, 0.99)}, {len(polls.conns)} connections "
        f"({polls.reconnects} reconnects); "
        f"{len(answers)} oadrCreatedEvent, p99 {ms(answers, 0.99)}; statuses sent "
        f"{dict(vens.statuses)}; RSS by minute " + ", ".join(f"{mb:.1f}" for mb in rss.values())
    )
    slow = [(n, sorted(x)) for n, x in sorted(polls.slots.items())]
    if slow := [(n, x) for n, x in slow if percentile(x, 0.99) >= P99_TARGET_MS / 1000]:
        windows = (f"{10 * n}-{10 * n + 10} s {ms(x, 0.99)}" for n, x in slow)
        log("10-s windows with p99 over the target: " + ", ".join(windows))
    if errors.total:
        log(f"errors: {dict(errors.kinds)}")
    passed = p99 < P99_TARGET_MS and growth < RSS_TARGET and not errors.total
    print(
        f"soak: {args.vens} VENs x {args.interval:g} s for {s:.0f} s: "
        f"{len(polls.latencies)} polls, p99 {p99:.1f} ms, RSS {rss['start']:.1f} at start, "
        f"{warm:.1f} after warm-up -> {rss['end']:.1f} MB at end ({100 * growth:+.1f} % after "
        f"warm-up), {ran}/{args.minutes} events run, {errors.total} errors (targets p99 < "
        f"{P99_TARGET_MS:g} ms, RSS < {100 * RSS_TARGET:g} %, 0 errors): "
        + ("PASS" if passed else "FAIL"),
        flush=True,
    )
    return passed


async def main_async(args: argparse.Namespace) -> bool:
    task = asyncio.current_task()
    assert task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    workdir = Path(tempfile.mkdtemp(prefix="soak-bench-"))
    redis = Redis.from_url(args.redis_url)
    gateway = None
    try:
        gateway = launch(args, workdir)
        return await soak(args, gateway, redis)
    finally:
        if gateway is not None:
            if gateway.process.poll() is not None:
                log(f"the gateway had exited with {gateway.process.returncode}")
            gateway.stop()
        await redis.aclose()
        await cleanup_redis(args.redis_url, args.prefix)
        shutil.rmtree(workdir, ignore_errors=True)
        log(f"cleaned up: gateway stopped, {workdir} removed, {args.prefix}* keys deleted")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--vens", type=int, default=10_000, help="simulated VENs")
    parser.add_argument("--interval", type=int, default=10, help="seconds between two polls")
    parser.add_argument("--minutes", type=int, default=10, help="invitations, one a minute")
    parser.add_argument("--warmup", type=int, default=1, help="minutes of warm-up (RSS)")
    parser.add_argument("--event-vens", type=int, default=20, help="VENs in each invitation")
    parser.add_argument("--admin-devices", type=int, default=5, help="answered by the admin API")
    parser.add_argument("--connections", type=int, default=1000, help="keep-alive connections")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/15")
    parser.add_argument("--profile", type=Path, help="py-spy the gateway's second minute")
    args = parser.parse_args(argv)
    if not 1 <= args.warmup <= args.minutes:
        parser.error("--warmup must be between 1 and --minutes")
    if args.profile and args.minutes < 2:
        parser.error("--profile samples the second minute: --minutes 2 or more")
    args.prefix = f"bench-soak:{uuid.uuid4().hex[:8]}:"
    return args


def main() -> None:
    args = parse_args()
    try:
        passed = asyncio.run(main_async(args))
    except BenchError as err:
        log(f"soak: {err}")
        sys.exit(1)
    except (KeyboardInterrupt, asyncio.CancelledError):
        log("soak: interrupted")
        sys.exit(130)
    sys.exit(0 if passed else 1)


if __name__ == "__main__":
    main()
