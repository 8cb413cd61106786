"""Benchmark of 2.0b push: how long from creating an invitation to the last push-mode VEN
holding its event, against the same VENs in poll mode, in the same run.

Usage (from the repository root, in the project's venv)::

    python bench/push_latency.py                  # 1,000 VENs, 3 invitations each mode
    python bench/push_latency.py --vens 200 --rounds 1        # quick check

The gateway runs as a subprocess (``oadr-gateway run``, fresh SQLite database in a temporary
directory, or ``--database-url``), so it has a core of its own; this process is every VEN. The
VENs are one aiohttp server on 127.0.0.1, VEN n at ``http://127.0.0.1:{port}/ven/{n}``
(address convention ``openadr``): each push is answered with an oadrResponse, and the first
oadrDistributeEvent naming the invitation is the moment that VEN holds its event.

Push: the VENs register with ``oadrHttpPullModel`` false; each round creates an invitation of
one device of every VEN and waits until every VEN holds it. Poll: the same VENs register again
in pull mode and poll every ``--poll-interval`` seconds (10 s, the VTN's default), each on its
own schedule, spread evenly; each round's invitation is held by a VEN when a poll's answer
names it. Latency is counted from just before the invitation's POST; p50/p99/max are over
every VEN of every round. Progress goes to stderr; stdout gets one result line.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
from aiohttp import web
from openleadr.messaging import create_message

PREFIX = "/OpenADR2/Simple/2.0b"
ADMIN_TOKEN = "bench-admin-token-" + uuid.uuid4().hex[:8]
SETUP_CONCURRENCY = 20
P99_TARGET_SECONDS = 1.0
READY_SECONDS = 90.0
ROUND_TIMEOUT_SECONDS = 120.0


class BenchError(Exception):
    pass


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def percentile(values: Sequence[float], share: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return math.inf
    return ordered[min(len(ordered) - 1, math.ceil(share * len(ordered)) - 1)]


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


class Vens:
    """Every VEN's side: its push server, its polls, and when it first held each event."""

    def __init__(self, count: int, vtn_url: str) -> None:
        self.names = [f"bench-ven-{n:05d}" for n in range(count)]
        self.vtn_url = vtn_url
        self.port = free_port()
        self.held: dict[str, dict[str, float]] = {}  # event id -> VEN name -> when
        self.waiting: str | None = None  # the event a round waits for
        self.backlog: list[tuple[str, float, bytes]] | None = None
        self.pushes = 0
        self.every_one_pushed = asyncio.Event()  # each VEN had a push (its METADATA) at least
        self.failed_polls = 0
        self.poll_seconds: list[float] = []  # each poll's round trip
        self._runner: web.AppRunner | None = None
        self._answer = {
            name: create_message(
                "oadrResponse",
                response={"response_code": 200, "response_description": "OK", "request_id": ""},
                ven_id=name,
            ).encode()
            for name in self.names
        }

    def address(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/ven/{name}"

    async def serve(self) -> None:
        app = web.Application()
        app.router.add_post("/ven/{name}" + PREFIX + "/{service}", self._take)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port, backlog=4096).start()

    async def _take(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        body = await request.read()
        self.pushes += 1
        if self.pushes >= len(self.names):
            self.every_one_pushed.set()
        self._note(name, body)
        return web.Response(body=self._answer[name], content_type="application/xml")

    def _note(self, name: str, body: bytes) -> None:
        """A distribute naming the awaited event: the VEN holds it now (the first time).
        Before the event's id is known (the invitation's POST not answered yet), what
        arrives is kept and looked at once it is (``expect``)."""
        now = time.perf_counter()
        if self.backlog is not None:
            self.backlog.append((name, now, body))
            return
        event_id = self.waiting
        if event_id is not None and event_id.encode() in body:
            self.held[event_id].setdefault(name, now)

    def start_round(self) -> None:
        self.waiting = None
        self.backlog = []

    def expect(self, event_id: str) -> dict[str, float]:
        held: dict[str, float] = {}
        self.held[event_id] = held
        backlog, self.backlog = self.backlog or [], None
        self.waiting = event_id
        for name, when, body in backlog:
            if event_id.encode() in body:
                held.setdefault(name, when)
        return held

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    # --- registration -----------------------------------------------------------------
    async def register_all(self, session: aiohttp.ClientSession, *, push: bool) -> None:
        semaphore = asyncio.Semaphore(SETUP_CONCURRENCY)

        async def one(name: str) -> None:
            message = create_message(
                "oadrCreatePartyRegistration", request_id=uuid.uuid4().hex, ven_id=name,
                ven_name=name, profile_name="2.0b", transport_name="simpleHttp",
                transport_address=self.address(name) if push else None, report_only=False,
                xml_signature=False, http_pull_model=not push,
            )  # fmt: skip
            async with semaphore:
                for attempt in range(5):  # SQLite may be busy with the last round's writes
                    try:
                        text = await post_xml(session, f"{self.vtn_url}/EiRegisterParty", message)
                        break
                    except BenchError:
                        if attempt == 4:
                            raise
                        await asyncio.sleep(1.0)
            if "<ei:responseCode>200</ei:responseCode>" not in text:
                raise BenchError(f"{name} not registered: {text[:300]}")

        await asyncio.gather(*(one(n) for n in self.names))

    # --- polls --------------------------------------------------------------------------
    async def poll_forever(self, session: aiohttp.ClientSession, interval: float) -> None:
        """Every VEN polls every ``interval`` seconds on its own schedule, spread evenly."""
        started = time.perf_counter()

        async def one(number: int, name: str) -> None:
            body = create_message("oadrPoll", ven_id=name).encode()
            due = started + interval * number / len(self.names)
            while True:
                await asyncio.sleep(max(0.0, due - time.perf_counter()))
                due += interval
                sent = time.perf_counter()
                try:
                    text = await post_xml(session, f"{self.vtn_url}/OadrPoll", body)
                except (aiohttp.ClientError, OSError, BenchError):
                    self.failed_polls += 1  # a 503 (SQLite busy) or no answer: next time
                    continue
                self.poll_seconds.append(time.perf_counter() - sent)
                self._note(name, text.encode())

        await asyncio.gather(*(one(n, name) for n, name in enumerate(self.names)))


async def post_xml(session: aiohttp.ClientSession, url: str, body: str | bytes) -> str:
    async with session.post(url, data=body, headers={"Content-Type": "application/xml"}) as resp:
        text = await resp.text()
        if resp.status != 200:
            raise BenchError(f"HTTP {resp.status} from {url}: {text[:200]}")
        return text


class Admin:
    def __init__(self, session: aiohttp.ClientSession, base: str) -> None:
        self._session = session
        self._base = base
        self._headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}

    async def post(self, path: str, body: object, expect: int = 201) -> dict[str, object]:
        async with self._session.post(
            self._base + path, json=body, headers=self._headers
        ) as response:
            data = await response.json()
            if response.status != expect:
                raise BenchError(f"{path}: HTTP {response.status}: {str(data)[:300]}")
            return dict(data)

    async def provision(self, names: Sequence[str]) -> None:
        semaphore = asyncio.Semaphore(SETUP_CONCURRENCY)

        async def one(name: str) -> None:
            async with semaphore:
                await self.post("/api/vens", {"name": name, "ven_id": name})
                await self.post(
                    "/api/devices", {"id": f"{name}-d", "timezone": "UTC", "ven_id": name}
                )

        await asyncio.gather(*(one(n) for n in names))

    async def invite(self, names: Sequence[str], minutes_ahead: float) -> str:
        start = datetime.now(UTC) + timedelta(minutes=minutes_ahead)
        view = await self.post(
            "/api/invitations",
            {
                "devices": [f"{n}-d" for n in names], "event_time": start.isoformat(),
                "duration_minutes": 5, "load_kwh": 1.0, "load_percentage": 30.0,
            },
        )  # fmt: skip
        return str(view["id"])


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) the gateway has used, its worker processes included: its work
    per round, which other load on the machine changes less than the latencies."""
    ticks, parents = 0, {pid}
    stats = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stats.append((int(entry.name), (entry / "stat").read_text()))
            except OSError:
                continue  # gone meanwhile
    by_parent: dict[int, list[tuple[int, list[str]]]] = {}
    for number, text in stats:
        fields = text.rpartition(")")[2].split()
        by_parent.setdefault(int(fields[1]), []).append((number, fields))
        if number == pid:
            ticks += int(fields[11]) + int(fields[12])
    while parents:
        children = [c for p in parents for c in by_parent.get(p, [])]
        ticks += sum(int(f[11]) + int(f[12]) for _, f in children)
        parents = {number for number, _ in children}
    return ticks / os.sysconf("SC_CLK_TCK")


async def measure(
    vens: Vens, admin: Admin, rounds: int, label: str, offset: float, pid: int
) -> list[float]:
    """Latencies of every VEN over ``rounds`` invitations, seconds."""
    latencies: list[float] = []
    for number in range(rounds):
        cpu = cpu_seconds(pid)
        # Each round's event starts later than the last, so none overlaps another.
        vens.start_round()
        started = time.perf_counter()
        event_id = await admin.invite(vens.names, offset + 10 * number)
        answered = time.perf_counter() - started
        held = vens.expect(event_id)
        deadline = time.perf_counter() + ROUND_TIMEOUT_SECONDS
        while len(held) < len(vens.names):
            if time.perf_counter() > deadline:
                raise BenchError(f"{label}: {len(held)}/{len(vens.names)} VENs got {event_id}")
            await asyncio.sleep(0.005)
        round_latencies = [when - started for when in held.values()]
        latencies += round_latencies
        log(
            f"{label} round {number + 1}: first {min(round_latencies):.3f} s, "
            f"p50 {percentile(round_latencies, 0.5):.3f} s, "
            f"p99 {percentile(round_latencies, 0.99):.3f} s, last {max(round_latencies):.3f} s "
            f"(the invitation's POST answered in {answered:.3f} s; "
            f"gateway CPU {cpu_seconds(pid) - cpu:.2f} s)"
        )
        await asyncio.sleep(1.0)  # the answers' writes settle between rounds
    return latencies


def start_gateway(args: argparse.Namespace, workdir: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    database = args.database_url or f"sqlite+aiosqlite:///{workdir / 'gateway.db'}"
    env = {
        **os.environ,
        "GATEWAY_DATA_DIR": str(workdir / "data"),
        "GATEWAY_DATABASE_URL": database,
        "GATEWAY_REDIS_URL": args.redis_url,
        "GATEWAY_REDIS_PREFIX": f"bench:{uuid.uuid4().hex[:8]}:",
        "GATEWAY_HTTP_HOST": "127.0.0.1",
        "GATEWAY_HTTP_PORT": str(port),
        "GATEWAY_ADMIN_TOKEN": ADMIN_TOKEN,
        "GATEWAY_LOG_LEVEL": "WARNING",
        "GATEWAY_EXECUTOR_ENABLED": "false",
        "GATEWAY_VTN_POLL_INTERVAL_SECONDS": str(args.poll_interval),
    }
    executable = shutil.which("oadr-gateway", path=str(Path(sys.executable).parent))
    if executable is None:
        raise BenchError("oadr-gateway is not installed in this venv")
    # cwd: the temporary directory, so that no config/gateway.toml is picked up.
    command = [executable, "run", "--workers", str(args.workers)]
    process = subprocess.Popen(command, env=env, cwd=workdir, stdout=sys.stderr)
    return process, port


async def wait_ready(process: subprocess.Popen[bytes], port: int) -> None:
    deadline = time.monotonic() + READY_SECONDS
    async with aiohttp.ClientSession() as session:
        while True:
            if process.poll() is not None:
                raise BenchError(f"the gateway exited with {process.returncode}")
            try:
                async with session.get(f"http://127.0.0.1:{port}/health") as response:
                    if response.status == 200:
                        return
            except (aiohttp.ClientError, OSError):
                pass
            if time.monotonic() > deadline:
                raise BenchError(f"the gateway did not come up in {READY_SECONDS:.0f} s")
            await asyncio.sleep(0.2)


async def _poll_rounds(
    vens: Vens, session: aiohttp.ClientSession, admin: Admin, args: argparse.Namespace, pid: int
) -> list[float]:
    log(f"poll mode: every {args.poll_interval:.0f} s")
    await vens.register_all(session, push=False)
    polling = asyncio.create_task(vens.poll_forever(session, args.poll_interval))
    try:
        await asyncio.sleep(args.poll_interval)  # every VEN on its schedule
        return await measure(vens, admin, args.rounds, "poll", 30 + 10 * args.rounds, pid)
    finally:
        polling.cancel()
        await asyncio.gather(polling, return_exceptions=True)


async def run(args: argparse.Namespace, workdir: Path) -> str:
    process, port = start_gateway(args, workdir)
    try:
        await wait_ready(process, port)
        base = f"http://127.0.0.1:{port}"
        vens = Vens(args.vens, base + PREFIX)
        await vens.serve()
        connector = aiohttp.TCPConnector(limit=args.connections)
        async with aiohttp.ClientSession(connector=connector) as session:
            admin = Admin(session, base)
            log(f"provisioning {args.vens} VENs and their devices")
            await admin.provision(vens.names)
            pushed: list[float] = []
            if not args.poll_only:
                await vens.register_all(session, push=True)
                # The VTN's METADATA, pushed to each after registering: taken before timing.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(vens.every_one_pushed.wait(), 60)
                log(f"push mode ({vens.pushes} METADATA pushes taken after registration)")
                pushed = await measure(vens, admin, args.rounds, "push", 30, process.pid)
            polled: list[float] = []
            if not args.push_only:
                polled = await _poll_rounds(vens, session, admin, args, process.pid)
        await vens.close()
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return _line(args, pushed, polled, vens)


def _line(args: argparse.Namespace, pushed: list[float], polled: list[float], vens: Vens) -> str:
    """The result line: push, poll (the anchor, unless --push-only) and the verdict."""
    trips = vens.poll_seconds or [math.nan]
    round_trip = (
        f"poll round trip p50 {percentile(trips, 0.5) * 1000:.0f} ms "
        f"p99 {percentile(trips, 0.99) * 1000:.0f} ms"
    )
    poll = (
        f"poll every {args.poll_interval:.0f} s: p50 {percentile(polled, 0.5) * 1000:.0f} ms "
        f"p99 {percentile(polled, 0.99) * 1000:.0f} ms last {max(polled) * 1000:.0f} ms "
        f"({vens.failed_polls} polls failed, {round_trip})"
        if polled
        else "poll: not measured (--push-only)"
    )
    if not pushed:
        return f"push_latency vens={args.vens} rounds={args.rounds} poll only, {poll}"
    p99 = percentile(pushed, 0.99)
    verdict = "PASS" if p99 < P99_TARGET_SECONDS else "FAIL"
    return (
        f"push_latency vens={args.vens} rounds={args.rounds} "
        f"push: p50 {percentile(pushed, 0.5) * 1000:.0f} ms p99 {p99 * 1000:.0f} ms "
        f"last {max(pushed) * 1000:.0f} ms | {poll} | "
        f"push p99 target <{P99_TARGET_SECONDS:.0f} s: {verdict}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--vens", type=int, default=1000, help="push-mode VENs (default 1000)")
    parser.add_argument("--rounds", type=int, default=3, help="invitations per mode (default 3)")
    parser.add_argument("--poll-interval", type=float, default=10.0,
                        help="seconds between a VEN's polls in poll mode (default 10)")  # fmt: skip
    parser.add_argument("--connections", type=int, default=200,
                        help="HTTP connections of the VENs to the VTN (default 200)")  # fmt: skip
    parser.add_argument("--poll-only", action="store_true",
                        help="poll mode only (the VENs never register for push)")  # fmt: skip
    parser.add_argument("--workers", type=int, default=1,
                        help="gateway worker processes (oadr-gateway run --workers)")  # fmt: skip
    parser.add_argument("--push-only", action="store_true",
                        help="push mode only (no poll rounds to compare with)")  # fmt: skip
    parser.add_argument("--database-url", default=None, help="default: SQLite in a temp dir")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/15")
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="push-bench-"))
    try:
        line = asyncio.run(run(args, workdir))
    except BenchError as err:
        log(f"push_latency: {err}")
        return 1
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
